//! A tokenizer that knows social media.
//!
//! It recognises URLs, @mentions, #hashtags (and splits `#ProjectXHaren` into the
//! words `project`, `x`, `haren`), emoji (as tokens of their own, skin tones and
//! presentation selectors dropped), elongated words (`heeeel` → `heel`, flagged),
//! repeated punctuation (`!!!`), ALL-CAPS emphasis, numbers, clock times (`21:00`,
//! `9pm`, `21u`) and words that refer to a time (`vanavond`, `tonight`).
//!
//! Each token has a matching form: lower case, NFKC, elongations shortened. The
//! forms live in one string owned by [`Tokens`], so tokenizing reuses memory.

use std::ops::Range;

use unicode_properties::emoji::{
    is_emoji_presentation_selector, is_regional_indicator, is_tag_character, is_zwj, UnicodeEmoji,
};

use crate::normalize::{nfkc_into, push_lowercase};

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A word (letters, digits inside, internal apostrophes and hyphens).
    Word,
    /// A web address; its matching form is `url`.
    Url,
    /// An @mention; its matching form includes the `@`.
    Mention,
    /// A whole #hashtag; its words follow it as [`TokenKind::Word`] tokens.
    Hashtag,
    /// One emoji, including flags and ZWJ sequences, without skin tone.
    Emoji,
    /// A number that is not a clock time.
    Number,
    /// A clock time such as `21:00`, `9pm` or `21u`.
    Time,
    /// Sentence punctuation; `!!` and `??` stand for repeated `!` and `?`.
    Punct,
}

/// One token of a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// What kind of token this is.
    pub kind: TokenKind,
    /// Where its matching form lies in [`Tokens::forms`].
    form: Range<u32>,
    /// Two or more letters, all upper case ("NU", "POLITIE").
    pub all_caps: bool,
    /// A letter was repeated three times or more ("heeeel").
    pub elongated: bool,
    /// The word came out of a hashtag.
    pub in_hashtag: bool,
    /// The word refers to a time ("vanavond", "tonight").
    pub time_ref: bool,
    /// The word lies in the scope of a negation (set by [`crate::negation`]).
    pub negated: bool,
}

/// The tokens of one post, with the buffers they are built in.
///
/// Keep one `Tokens` and call [`Tokens::tokenize`] for every post: its buffers are
/// reused, so a warm tokenizer allocates nothing.
#[derive(Debug, Default)]
pub struct Tokens {
    nfkc: String,
    forms: String,
    tokens: Vec<Token>,
}

/// Runs of one letter at least this long are elongations and are cut to two letters:
/// Dutch and English spell many words with double letters ("heel", "cool"), but
/// none with three.
const ELONGATION_RUN: usize = 3;

/// Whether a word (matching form) refers to a (near) time, in the languages we model.
fn is_time_word(form: &str) -> bool {
    matches!(
        form,
        "afternoon"
            | "avond"
            | "demain"
            | "evening"
            | "heute"
            | "morgen"
            | "morgenavond"
            | "morgenochtend"
            | "morgenvroeg"
            | "nacht"
            | "now"
            | "nu"
            | "soir"
            | "straks"
            | "tomorrow"
            | "tonight"
            | "tonite"
            | "vanavond"
            | "vandaag"
            | "vanmiddag"
            | "vannacht"
            | "vanochtend"
            | "weekend"
            | "zometeen"
    )
}

impl Tokens {
    /// An empty token list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tokenizes `text`, replacing the previous post's tokens.
    pub fn tokenize(&mut self, text: &str) {
        let mut nfkc = std::mem::take(&mut self.nfkc);
        nfkc_into(text, &mut nfkc);
        self.forms.clear();
        self.tokens.clear();
        let mut scanner = Scanner {
            text: &nfkc,
            pos: 0,
            out: self,
        };
        scanner.run();
        self.nfkc = nfkc;
    }

    /// The tokens, in text order.
    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// Mutable access for later stages (negation marking).
    pub fn tokens_mut(&mut self) -> &mut [Token] {
        &mut self.tokens
    }

    /// The matching form of `token` (lower case, normalised).
    pub fn form(&self, token: &Token) -> &str {
        &self.forms[token.form.start as usize..token.form.end as usize]
    }

    /// Iterates over tokens with their matching forms.
    pub fn iter(&self) -> impl Iterator<Item = (&Token, &str)> {
        self.tokens.iter().map(|t| (t, self.form(t)))
    }

    fn push(&mut self, kind: TokenKind, form_start: usize) -> &mut Token {
        let form = form_start as u32..self.forms.len() as u32;
        self.tokens.push(Token {
            kind,
            form,
            all_caps: false,
            elongated: false,
            in_hashtag: false,
            time_ref: false,
            negated: false,
        });
        let last = self.tokens.len() - 1;
        &mut self.tokens[last]
    }
}

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    out: &'a mut Tokens,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '’'
}

/// Characters that extend an emoji: skin tones, presentation selectors, tags, keycap.
fn is_emoji_modifier(c: char) -> bool {
    matches!(c, '\u{1F3FB}'..='\u{1F3FF}' | '\u{20E3}')
        || is_emoji_presentation_selector(c)
        || c == '\u{FE0E}'
        || is_tag_character(c)
}

/// A character that starts an emoji. Digits, `#` and `*` are emoji only as keycaps,
/// so they are left to the other rules.
fn starts_emoji(c: char) -> bool {
    !c.is_ascii() && (c.is_emoji_char() || is_regional_indicator(c))
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek_at(&self, byte_offset: usize) -> Option<char> {
        self.text.get(self.pos + byte_offset..)?.chars().next()
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn run(&mut self) {
        let bytes = self.text.as_bytes();
        while let Some(&byte) = bytes.get(self.pos) {
            // ASCII letters and spaces are most of every post: settle them on the byte.
            if byte.is_ascii_whitespace() {
                self.pos += 1;
                continue;
            }
            if byte.is_ascii_alphabetic() && !matches!(byte, b'h' | b'H' | b'w' | b'W') {
                self.word();
                continue;
            }
            let Some(c) = self.peek() else { break };
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else if matches!(c, 'h' | 'H' | 'w' | 'W') && self.starts_url() {
                self.url();
            } else if c == '@' && self.peek_at(1).is_some_and(is_word_char) {
                self.mention();
            } else if c == '#' && self.peek_at(1).is_some_and(char::is_alphanumeric) {
                self.hashtag();
            } else if c.is_numeric() {
                self.number();
            } else if c.is_alphabetic() || self.starts_dutch_clitic() {
                self.word();
            } else if starts_emoji(c) {
                self.emoji();
            } else {
                self.punct(c);
            }
        }
    }

    fn starts_url(&self) -> bool {
        let rest = self.rest().as_bytes();
        let starts = |prefix: &[u8]| {
            rest.len() > prefix.len() && rest[..prefix.len()].eq_ignore_ascii_case(prefix)
        };
        starts(b"http://") || starts(b"https://") || starts(b"www.")
    }

    /// `'s` and `'t` ("'s avonds", "'s-Hertogenbosch", "'t is") are Dutch words.
    fn starts_dutch_clitic(&self) -> bool {
        let mut chars = self.rest().chars();
        matches!(
            (chars.next(), chars.next(), chars.next()),
            (Some(a), Some('s' | 't' | 'S' | 'T'), next) if is_apostrophe(a)
                && next.is_none_or(|n| !n.is_alphanumeric())
        )
    }

    fn url(&mut self) {
        let len = self
            .rest()
            .find(char::is_whitespace)
            .unwrap_or(self.rest().len());
        self.pos += len;
        let start = self.out.forms.len();
        self.out.forms.push_str("url");
        self.out.push(TokenKind::Url, start);
    }

    fn mention(&mut self) {
        let start = self.out.forms.len();
        self.out.forms.push('@');
        self.pos += 1;
        while let Some(c) = self.peek().filter(|c| is_word_char(*c)) {
            push_lowercase(c, &mut self.out.forms);
            self.pos += c.len_utf8();
        }
        self.out.push(TokenKind::Mention, start);
    }

    fn hashtag(&mut self) {
        self.pos += 1;
        let body_start = self.pos;
        while let Some(c) = self.peek().filter(|c| is_word_char(*c)) {
            self.pos += c.len_utf8();
        }
        let text = self.text;
        let body = &text[body_start..self.pos];
        let start = self.out.forms.len();
        self.out.forms.push('#');
        body.chars()
            .for_each(|c| push_lowercase(c, &mut self.out.forms));
        self.out.push(TokenKind::Hashtag, start);
        for_each_hashtag_word(body, |part| {
            self.word_from(part).in_hashtag = true;
        });
    }

    fn number(&mut self) {
        let start_pos = self.pos;
        let mut end = self.pos;
        let bytes = self.text.as_bytes();
        while end < bytes.len()
            && (bytes[end].is_ascii_digit()
                || (matches!(bytes[end], b'.' | b',' | b':')
                    && bytes.get(end + 1).is_some_and(u8::is_ascii_digit)))
        {
            end += 1;
        }
        if end == start_pos {
            // A non-ASCII numeric character (², ½ after NFKC is rare): treat as a word.
            self.word();
            return;
        }
        let digits = &self.text[start_pos..end];
        self.pos = end;
        let suffix_len = self
            .rest()
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(self.rest().len());
        let suffix = &self.rest()[..suffix_len];
        let time = is_clock_time(digits)
            || (is_hour(digits)
                && ["u", "uur", "am", "pm", "h"]
                    .iter()
                    .any(|s| suffix.eq_ignore_ascii_case(s)));
        let start = self.out.forms.len();
        if time {
            self.pos += suffix_len;
            self.out.forms.push_str(digits);
            self.out.push(TokenKind::Time, start);
        } else if suffix_len > 0 {
            // "2e", "10x", "covid19"-like mixtures are words.
            self.pos = start_pos;
            self.word();
        } else {
            self.out.forms.push_str(digits);
            self.out.push(TokenKind::Number, start);
        }
    }

    fn word(&mut self) {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        // The ASCII part of the word, byte by byte; the rest, if any, by characters.
        let mut ascii_end = start;
        while let Some(&b) = bytes.get(ascii_end) {
            // Letters and digits first: the joiner and clitic rules look ahead.
            let inside = b.is_ascii_alphanumeric()
                || b == b'_'
                || ((b == b'\'' || b == b'-')
                    && bytes
                        .get(ascii_end + 1)
                        .is_some_and(u8::is_ascii_alphanumeric))
                || (ascii_end == start && b == b'\'');
            if !inside {
                break;
            }
            ascii_end += 1;
        }
        // A joiner before a non-ASCII letter ("l'été") needs the character rules too.
        let stopped_at_joiner = bytes
            .get(ascii_end)
            .is_some_and(|b| *b == b'\'' || *b == b'-')
            && bytes.get(ascii_end + 1).is_some_and(|b| !b.is_ascii());
        if bytes.get(ascii_end).is_none_or(u8::is_ascii) && !stopped_at_joiner {
            self.pos = ascii_end;
            let text = self.text;
            self.word_from(&text[start..ascii_end]);
            return;
        }
        let mut end = self.pos;
        let mut chars = self.text[start..].char_indices().peekable();
        while let Some((offset, c)) = chars.next() {
            let inner_joiner = (is_apostrophe(c) || c == '-')
                && chars.peek().is_some_and(|(_, n)| n.is_alphanumeric());
            let leading_clitic = offset == 0 && is_apostrophe(c);
            if is_word_char(c) || inner_joiner || leading_clitic {
                end = start + offset + c.len_utf8();
            } else {
                break;
            }
        }
        self.pos = end;
        let text = self.text;
        self.word_from(&text[start..end]);
    }

    /// Pushes a word token for `raw`, computing its form and flags.
    fn word_from(&mut self, raw: &str) -> &mut Token {
        let start = self.out.forms.len();
        let mut letters = 0usize;
        let mut upper = 0usize;
        let mut elongated = false;
        let mut run_char = '\0';
        let mut run_len = 0usize;
        if raw.is_ascii() {
            // The common case, byte by byte; the same rules as the loop below.
            let forms = &mut self.out.forms;
            forms.reserve(raw.len());
            let mut run_byte = 0u8;
            for &b in raw.as_bytes() {
                let alphabetic = b.is_ascii_alphabetic();
                letters += usize::from(alphabetic);
                upper += usize::from(b.is_ascii_uppercase());
                if b == run_byte && alphabetic {
                    run_len += 1;
                } else {
                    run_byte = b;
                    run_len = 1;
                }
                if run_len >= ELONGATION_RUN {
                    elongated = true;
                    continue;
                }
                forms.push(char::from(b.to_ascii_lowercase()));
            }
        } else {
            for c in raw.chars() {
                if c.is_alphabetic() {
                    letters += 1;
                    upper += usize::from(c.is_uppercase());
                }
                let folded = if c == '’' { '\'' } else { c };
                if folded == run_char && folded.is_alphabetic() {
                    run_len += 1;
                } else {
                    run_char = folded;
                    run_len = 1;
                }
                if run_len >= ELONGATION_RUN {
                    elongated = true;
                    continue;
                }
                push_lowercase(folded, &mut self.out.forms);
            }
        }
        let form = &self.out.forms[start..];
        let time_ref = is_time_word(form);
        let token = self.out.push(TokenKind::Word, start);
        token.all_caps = letters >= 2 && upper == letters;
        token.elongated = elongated;
        token.time_ref = time_ref;
        token
    }

    fn emoji(&mut self) {
        let start = self.out.forms.len();
        let mut first = true;
        let mut after_zwj = false;
        let mut regional = 0;
        while let Some(c) = self.peek() {
            let take = if first {
                true
            } else if is_emoji_modifier(c) {
                self.pos += c.len_utf8();
                continue;
            } else if is_zwj(c) {
                after_zwj = true;
                true
            } else if after_zwj && c.is_emoji_char() {
                after_zwj = false;
                true
            } else {
                is_regional_indicator(c) && regional == 1
            };
            if !take {
                break;
            }
            regional += usize::from(is_regional_indicator(c));
            first = false;
            self.out.forms.push(c);
            self.pos += c.len_utf8();
        }
        self.out.push(TokenKind::Emoji, start);
    }

    fn punct(&mut self, c: char) {
        let run_len = self
            .rest()
            .find(|n: char| n != c && !(matches!(c, '!' | '?') && matches!(n, '!' | '?')))
            .unwrap_or(self.rest().len());
        let text = self.text;
        let run = &text[self.pos..self.pos + run_len];
        self.pos += run_len;
        let start = self.out.forms.len();
        match c {
            '!' | '?' => {
                let form = match (run.contains('!'), run.contains('?'), run.chars().count()) {
                    (true, true, _) => "?!",
                    (true, false, 1) => "!",
                    (true, false, _) => "!!",
                    (false, _, 1) => "?",
                    _ => "??",
                };
                self.out.forms.push_str(form);
            }
            '.' if run_len > 1 => self.out.forms.push('…'),
            '.' | ',' | ';' | ':' | '(' | ')' | '…' => self.out.forms.push(c),
            _ => return,
        }
        self.out.push(TokenKind::Punct, start);
    }
}

/// `HH:MM` or `HH.MM` with a valid hour and minute.
fn is_clock_time(digits: &str) -> bool {
    let Some((hour, minute)) = digits.split_once([':', '.']) else {
        return false;
    };
    minute.len() == 2 && is_hour(hour) && minute.parse::<u8>().is_ok_and(|m| m < 60)
}

fn is_hour(digits: &str) -> bool {
    (1..=2).contains(&digits.len()) && digits.parse::<u8>().is_ok_and(|h| h <= 24)
}

/// Splits a hashtag body into words at case changes and letter/digit boundaries,
/// calling `word` for each: `ProjectXHaren` → `Project`, `X`, `Haren`;
/// `rellen2024` → `rellen`, `2024`. An all-lower or all-upper hashtag stays one word.
fn for_each_hashtag_word(body: &str, mut word: impl FnMut(&str)) {
    let mut start = 0;
    let mut prev: Option<char> = None;
    let mut chars = body.char_indices().peekable();
    while let Some((offset, c)) = chars.next() {
        if let Some(prev) = prev {
            let next = chars.peek().map(|(_, n)| *n);
            let lower_to_upper = prev.is_lowercase() && c.is_uppercase();
            let acronym_end =
                prev.is_uppercase() && c.is_uppercase() && next.is_some_and(char::is_lowercase);
            let digit_edge = prev.is_numeric() != c.is_numeric() || c == '_' || prev == '_';
            if lower_to_upper || acronym_end || digit_edge {
                emit_part(&body[start..offset], &mut word);
                start = offset;
            }
        }
        prev = Some(c);
    }
    emit_part(&body[start..], &mut word);
}

fn emit_part(part: &str, word: &mut impl FnMut(&str)) {
    let part = part.trim_matches('_');
    if !part.is_empty() {
        word(part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms(text: &str) -> Vec<String> {
        let mut tokens = Tokens::new();
        tokens.tokenize(text);
        tokens.iter().map(|(_, f)| f.to_string()).collect()
    }

    fn kinds(text: &str) -> Vec<TokenKind> {
        let mut tokens = Tokens::new();
        tokens.tokenize(text);
        tokens.tokens().iter().map(|t| t.kind).collect()
    }

    fn token_of(text: &str, form: &str) -> Token {
        let mut tokens = Tokens::new();
        tokens.tokenize(text);
        let found = tokens
            .iter()
            .find(|(_, f)| *f == form)
            .map(|(t, _)| t.clone());
        found.unwrap_or_else(|| panic!("no token {form:?} in {:?}", forms(text)))
    }

    #[test]
    fn splits_camel_case_hashtags_into_words() {
        assert_eq!(
            forms("#ProjectXHaren"),
            ["#projectxharen", "project", "x", "haren"]
        );
        assert!(token_of("#ProjectXHaren", "haren").in_hashtag);
        assert_eq!(forms("#rellen2024"), ["#rellen2024", "rellen", "2024"]);
        assert_eq!(forms("#ajaxfeyenoord"), ["#ajaxfeyenoord", "ajaxfeyenoord"]);
    }

    #[test]
    fn keeps_urls_and_mentions_whole() {
        assert_eq!(
            forms("@Politie_Haren kijk https://t.co/abc?x=1 nu"),
            ["@politie_haren", "kijk", "url", "nu"]
        );
        assert_eq!(kinds("www.nu.nl"), [TokenKind::Url]);
    }

    #[test]
    fn shortens_and_flags_elongations() {
        let token = token_of("heeeeel erg", "heel");
        assert!(token.elongated);
        assert!(!token_of("heel erg", "heel").elongated);
        assert_eq!(forms("coooool"), ["cool"]);
    }

    #[test]
    fn flags_all_caps_but_not_single_capitals() {
        assert!(token_of("NU naar het PLEIN", "plein").all_caps);
        assert!(!token_of("Ik ga", "ik").all_caps);
        assert!(!token_of("I go", "i").all_caps);
    }

    #[test]
    fn emoji_are_tokens_without_skin_tone() {
        assert_eq!(forms("top👍🏽👍"), ["top", "👍", "👍"]);
        assert_eq!(kinds("🔥🔥"), [TokenKind::Emoji, TokenKind::Emoji]);
        assert_eq!(forms("🇳🇱"), ["🇳🇱"]);
        assert_eq!(forms("👨‍👩‍👧"), ["👨‍👩‍👧"]);
        assert_eq!(forms("❤️ ja"), ["❤", "ja"]);
    }

    #[test]
    fn collapses_repeated_punctuation() {
        assert_eq!(
            forms("nu!!! echt?!? ja."),
            ["nu", "!!", "echt", "?!", "ja", "."]
        );
        assert_eq!(forms("wacht..."), ["wacht", "…"]);
    }

    #[test]
    fn recognises_clock_times_and_time_words() {
        assert_eq!(
            kinds("om 21:00 of 9pm of 21u, 250 man"),
            [
                TokenKind::Word,
                TokenKind::Time,
                TokenKind::Word,
                TokenKind::Time,
                TokenKind::Word,
                TokenKind::Time,
                TokenKind::Punct,
                TokenKind::Number,
                TokenKind::Word
            ]
        );
        assert_eq!(kinds("25:99"), [TokenKind::Number]);
        assert!(token_of("Vanavond allemaal", "vanavond").time_ref);
        assert!(token_of("see you TONIGHT", "tonight").time_ref);
    }

    #[test]
    fn keeps_internal_apostrophes_hyphens_and_dutch_clitics() {
        assert_eq!(forms("don't go"), ["don't", "go"]);
        assert_eq!(forms("Amsterdam-Oost"), ["amsterdam-oost"]);
        assert_eq!(
            forms("'s avonds in 's-Hertogenbosch"),
            ["'s", "avonds", "in", "'s-hertogenbosch"]
        );
        assert_eq!(forms("don’t"), ["don't"]);
    }

    #[test]
    fn joiners_before_non_ascii_letters_stay_inside_the_word() {
        assert_eq!(forms("l'été à Paris"), ["l'été", "à", "paris"]);
        assert_eq!(
            forms("Noord-Ĳsselmonde"),
            ["noord-ijsselmonde"],
            "NFKC splits the ĳ ligature"
        );
        assert_eq!(forms("café's"), ["café's"]);
    }

    #[test]
    fn mixed_digits_and_letters_are_words() {
        assert_eq!(
            kinds("2e keer covid19"),
            [TokenKind::Word, TokenKind::Word, TokenKind::Word]
        );
    }

    #[test]
    fn normalises_compatibility_forms() {
        assert_eq!(forms("ＲＥＬＬＥＮ"), ["rellen"]);
    }

    #[test]
    fn empty_and_symbol_only_text_gives_no_words() {
        assert!(forms("").is_empty());
        assert!(forms("   \t\n").is_empty());
        assert_eq!(forms("\"' - ~"), Vec::<String>::new());
    }
}
