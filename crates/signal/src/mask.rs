//! Data minimisation for evidence: mentions, URLs, e-mail addresses and phone
//! numbers are masked before a post's text is kept, shown or sent.

use std::sync::LazyLock;

use regex::Regex;

static URL: LazyLock<Regex> = LazyLock::new(|| compile(r"(?i)\b(?:https?://|www\.)\S+"));
static EMAIL: LazyLock<Regex> = LazyLock::new(|| compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"));
static MENTION: LazyLock<Regex> = LazyLock::new(|| compile(r"(^|[^\w@])@\w+"));
static PHONE: LazyLock<Regex> = LazyLock::new(|| compile(r"\+?\(?\d[\d\s().-]{7,}\d"));

/// The patterns are literals checked by the tests: compiling cannot fail.
fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|error| unreachable!("bad built-in pattern: {error}"))
}

/// `text` with URLs as `[url]`, e-mail addresses as `[email]`, mentions as
/// `@user` and phone numbers (nine digits or more) as `[phone]`.
pub fn mask_personal(text: &str) -> String {
    if !may_hold_personal(text) {
        return text.to_string();
    }
    mask_with_patterns(text)
}

/// The masking itself: the four patterns, one pass each.
fn mask_with_patterns(text: &str) -> String {
    let text = URL.replace_all(text, "[url]");
    let text = EMAIL.replace_all(&text, "[email]");
    let text = MENTION.replace_all(&text, "${1}@user");
    PHONE
        .replace_all(&text, |found: &regex::Captures<'_>| {
            let digits = found[0].chars().filter(char::is_ascii_digit).count();
            if digits >= 9 {
                "[phone]".to_string()
            } else {
                found[0].to_string()
            }
        })
        .into_owned()
}

/// Whether `text` has what every pattern needs: an `@` (e-mail, mention), "://"
/// or "www." (URL), or nine ASCII digits (phone). Most posts have none, and these
/// looks (each a fast scan of the bytes) cost far less than four regex passes.
fn may_hold_personal(text: &str) -> bool {
    let bytes = text.as_bytes();
    let www_before = |dot: usize| {
        dot >= 3
            && bytes
                .get(dot - 3..dot)
                .is_some_and(|w| w.eq_ignore_ascii_case(b"www"))
    };
    bytes.contains(&b'@')
        || text.contains("://")
        || text.match_indices('.').any(|(dot, _)| www_before(dot))
        || bytes.iter().filter(|b| b.is_ascii_digit()).count() >= 9
}

#[cfg(test)]
mod tests {
    use super::{mask_personal, mask_with_patterns};
    use proptest::prelude::*;

    proptest! {
        /// The shortcut never skips a text the patterns would change.
        #[test]
        fn the_prefilter_never_skips_what_the_patterns_mask(
            text in prop::collection::vec(
                prop::sample::select(vec![
                    "http", "HTTPS", "://", ":/", "www", "WwW", ".", "@", "jan", "x",
                    "1234", "56789", "+31", "(0)", "-", " ", "/", ":",
                ]),
                0..12,
            )
            .prop_map(|parts| parts.concat())
        ) {
            prop_assert_eq!(mask_personal(&text), mask_with_patterns(&text));
        }
    }

    #[test]
    fn personal_details_are_masked_and_the_rest_kept() {
        assert_eq!(
            mask_personal("@jan kijk https://t.co/abc en www.voorbeeld.nl, mail piet@example.org of bel 06-12345678"),
            "@user kijk [url] en [url] mail [email] of bel [phone]"
        );
        assert_eq!(mask_personal("Bel +31 (0)20 123 4567 nu"), "Bel [phone] nu");
        // Times, dates, counts and hashtags stay.
        let plain = "Om 21:00 op 2026-11-29 met 300 man naar #Haren";
        assert_eq!(mask_personal(plain), plain);
        assert_eq!(
            mask_personal("rellen!! @politie_nl waar zijn jullie"),
            "rellen!! @user waar zijn jullie"
        );
        assert_eq!(mask_personal("zie HTTPS://T.CO/x"), "zie [url]");
        assert_eq!(mask_personal("WWW.Example.nl"), "[url]");
        assert_eq!(mask_personal("bel 0612345678"), "bel [phone]");
        assert_eq!(mask_personal("12345678 is te kort"), "12345678 is te kort");
    }
}
