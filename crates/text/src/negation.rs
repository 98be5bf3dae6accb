//! Negation scope for Dutch, English, German and French.
//!
//! A negator ("niet", "geen", "nooit", "not", "n't", "kein", "pas", ...) negates the
//! words that follow it, up to [`NEGATION_SCOPE`] words, a clause boundary
//! (punctuation) or a contrasting conjunction ("maar", "but"). Negated words get
//! their own features, so "niet leuk" does not look like "leuk".

use crate::tokenize::{TokenKind, Tokens};

/// How many words a negator reaches. Three covers "niet zo heel leuk" and "not at all
/// good" while stopping before the next clause in posts without punctuation.
pub const NEGATION_SCOPE: usize = 3;

/// Whether the matching form `word` negates what follows. Negators of every language
/// we model are in one list: a post is short, so one list serves all. (A `match`
/// compiles to a switch on length and a few comparisons: this runs for every word.)
pub fn is_negator(word: &str) -> bool {
    matches!(
        word,
        "aucun"
            | "cannot"
            | "geen"
            | "jamais"
            | "kein"
            | "keine"
            | "keinen"
            | "keiner"
            | "nada"
            | "nadie"
            | "ne"
            | "neither"
            | "nergens"
            | "never"
            | "nicht"
            | "nie"
            | "niemals"
            | "niemand"
            | "niet"
            | "niets"
            | "niks"
            | "nirgends"
            | "no"
            | "nobody"
            | "none"
            | "noone"
            | "nooit"
            | "nor"
            | "not"
            | "nothing"
            | "nowhere"
            | "nunca"
            | "pas"
            | "personne"
            | "rien"
            | "without"
            | "zonder"
    ) || word.ends_with("n't")
}

/// Whether `word` ends a negation's scope: the clause turns ("niet goed maar wel leuk").
fn is_scope_breaker(word: &str) -> bool {
    matches!(
        word,
        "aber" | "but" | "mais" | "maar" | "pero" | "toch" | "though" | "wel"
    )
}

/// Marks every word in the scope of a negator as negated.
pub fn mark_negation(tokens: &mut Tokens) {
    let mut remaining = 0usize;
    for index in 0..tokens.tokens().len() {
        let token = &tokens.tokens()[index];
        let kind = token.kind;
        let (negator, breaker) = {
            let form = tokens.form(token);
            (is_negator(form), is_scope_breaker(form))
        };
        match kind {
            TokenKind::Punct => remaining = 0,
            TokenKind::Word if negator => remaining = NEGATION_SCOPE,
            TokenKind::Word if breaker => remaining = 0,
            TokenKind::Word if remaining > 0 => {
                tokens.tokens_mut()[index].negated = true;
                remaining -= 1;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negated(text: &str) -> Vec<String> {
        let mut tokens = Tokens::new();
        tokens.tokenize(text);
        mark_negation(&mut tokens);
        tokens
            .iter()
            .filter(|(t, _)| t.negated)
            .map(|(_, f)| f.to_string())
            .collect()
    }

    #[test]
    fn dutch_negators_negate_the_following_words() {
        assert_eq!(negated("dit is niet leuk"), ["leuk"]);
        assert_eq!(negated("geen geweld vanavond"), ["geweld", "vanavond"]);
        assert_eq!(
            negated("nooit meer naar dat plein"),
            ["meer", "naar", "dat"]
        );
        assert_eq!(negated("niemand gaat"), ["gaat"]);
        assert_eq!(negated("nergens veilig"), ["veilig"]);
    }

    #[test]
    fn english_negators_including_contractions() {
        assert_eq!(negated("this isn't good"), ["good"]);
        assert_eq!(negated("not a riot"), ["a", "riot"]);
        assert_eq!(negated("never again"), ["again"]);
        assert_eq!(negated("I don’t hate them"), ["hate", "them"]);
    }

    #[test]
    fn scope_ends_at_punctuation_and_contrast() {
        assert_eq!(negated("niet leuk, wel gezellig"), ["leuk"]);
        assert_eq!(negated("not bad but awful"), ["bad"]);
        assert_eq!(negated("niet goed maar slecht"), ["goed"]);
    }

    #[test]
    fn scope_is_bounded() {
        assert_eq!(
            negated("niet een twee drie vier vijf"),
            ["een", "twee", "drie"]
        );
    }

    #[test]
    fn no_negator_no_negation() {
        assert!(negated("wat een mooie dag").is_empty());
    }
}
