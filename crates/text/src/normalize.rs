//! Unicode normalisation for matching.
//!
//! Matching works on NFKC text, lower-cased; the original text is kept untouched for
//! display. Accents are kept in the matching form because they carry meaning for the
//! stemmers ("één" is "one", "een" is "a"); [`fold_for_lookup`] drops them for lookups
//! that must ignore them, such as place names.

use unicode_normalization::{
    char::is_combining_mark, is_nfkc_quick, IsNormalized, UnicodeNormalization,
};

/// Writes the NFKC form of `text` into `out` (cleared first), reusing its capacity.
///
/// ASCII and already-normalised text is copied as is, which is the common case.
pub fn nfkc_into(text: &str, out: &mut String) {
    out.clear();
    if text.is_ascii() || is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        out.push_str(text);
    } else {
        out.extend(text.nfkc());
    }
}

/// Appends the lower-case form of `c` to `out`.
pub fn push_lowercase(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
    } else {
        out.extend(c.to_lowercase());
    }
}

/// A key for case- and accent-insensitive lookups (place names, aliases):
/// NFKC, lower case, combining marks removed, runs of white space folded to one space.
pub fn fold_for_lookup(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.nfkd().filter(|c| !is_combining_mark(*c)).nfkc() {
        if c.is_whitespace() {
            pending_space = !folded.is_empty();
            continue;
        }
        if pending_space {
            folded.push(' ');
            pending_space = false;
        }
        push_lowercase(c, &mut folded);
    }
    folded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfkc_folds_compatibility_characters() {
        let mut out = String::new();
        nfkc_into("ﬁets ① Ｈaren", &mut out);
        assert_eq!(out, "fiets 1 Haren");
    }

    #[test]
    fn nfkc_composes_decomposed_accents() {
        let mut out = String::new();
        nfkc_into("e\u{301}e\u{301}n", &mut out);
        assert_eq!(out, "één");
    }

    #[test]
    fn lookup_key_ignores_case_accents_and_spacing() {
        assert_eq!(fold_for_lookup("  Den   Bosch "), "den bosch");
        assert_eq!(fold_for_lookup("Zoë  Café"), "zoe cafe");
        assert_eq!(fold_for_lookup("'s-Hertogenbosch"), "'s-hertogenbosch");
    }
}
