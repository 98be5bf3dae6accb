//! Labelled posts: `{"text", "lang"?, "sentiment"?: "neg"/"neu"/"pos", "tension"?: 0/1}`.
//!
//! Either label may be absent: an example then teaches only the task it is labelled
//! for. Other fields (the source's own labels, `category`, `made`) are ignored.

use onrust_text::Lang;
use serde::{Deserialize, Serialize};

/// A sentiment class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sentiment {
    /// Negative.
    Neg,
    /// Neutral.
    Neu,
    /// Positive.
    Pos,
}

impl Sentiment {
    /// All classes, in model output order.
    pub const ALL: [Sentiment; 3] = [Sentiment::Neg, Sentiment::Neu, Sentiment::Pos];

    /// The class's position in model outputs.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The class's name, as in the contract (`neg`, `neu`, `pos`).
    pub fn as_str(self) -> &'static str {
        match self {
            Sentiment::Neg => "neg",
            Sentiment::Neu => "neu",
            Sentiment::Pos => "pos",
        }
    }
}

/// One labelled post.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The post's text.
    pub text: String,
    /// The language, when the data says.
    pub lang: Option<Lang>,
    /// The sentiment label, if labelled.
    pub sentiment: Option<Sentiment>,
    /// The tension label, if labelled.
    pub tension: Option<bool>,
}

/// Why a line is not a usable example.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExampleError {
    /// Not JSON of the expected shape.
    #[error("not a labelled post: {0}")]
    Json(#[from] serde_json::Error),
    /// `text` is empty.
    #[error("`text` is empty")]
    EmptyText,
    /// `lang` is not an ISO 639-1 code.
    #[error("`lang` {0:?} is not an ISO 639-1 code")]
    BadLang(String),
    /// `tension` is not 0 or 1.
    #[error("`tension` must be 0 or 1, found {0}")]
    BadTension(i64),
}

#[derive(Deserialize)]
struct RawExample {
    text: String,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    sentiment: Option<Sentiment>,
    #[serde(default)]
    tension: Option<TensionLabel>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TensionLabel {
    Number(i64),
    Bool(bool),
}

impl Example {
    /// Parses one JSONL line.
    pub fn from_json_line(line: &str) -> Result<Example, ExampleError> {
        let raw: RawExample = serde_json::from_str(line)?;
        if raw.text.trim().is_empty() {
            return Err(ExampleError::EmptyText);
        }
        let lang = match raw.lang.as_deref() {
            None | Some("") => None,
            Some(code) => {
                Some(Lang::from_code(code).ok_or_else(|| ExampleError::BadLang(code.into()))?)
            }
        };
        let tension = match raw.tension {
            None => None,
            Some(TensionLabel::Bool(b)) => Some(b),
            Some(TensionLabel::Number(0)) => Some(false),
            Some(TensionLabel::Number(1)) => Some(true),
            Some(TensionLabel::Number(other)) => return Err(ExampleError::BadTension(other)),
        };
        Ok(Example {
            text: raw.text,
            lang,
            sentiment: raw.sentiment,
            tension,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_and_partial_labels() {
        let full = Example::from_json_line(
            r#"{"text":"rellen!","lang":"nl","sentiment":"neg","tension":1,"made":"x"}"#,
        )
        .expect("valid");
        assert_eq!(full.lang, Some(Lang::NL));
        assert_eq!(full.sentiment, Some(Sentiment::Neg));
        assert_eq!(full.tension, Some(true));
        let partial = Example::from_json_line(r#"{"text":"hi","tension":false}"#).expect("valid");
        assert_eq!((partial.sentiment, partial.tension), (None, Some(false)));
    }

    #[test]
    fn rejects_bad_lines_with_a_reason() {
        let error = |line: &str| Example::from_json_line(line).expect_err(line).to_string();
        assert!(error(r#"{"text":""}"#).contains("empty"));
        assert!(error(r#"{"text":"x","tension":2}"#).contains("0 or 1"));
        assert!(error(r#"{"text":"x","lang":"dutch"}"#).contains("ISO 639-1"));
        assert!(error(r#"{"text":"x","sentiment":"angry"}"#).contains("not a labelled post"));
        assert!(error("not json").contains("not a labelled post"));
    }
}
