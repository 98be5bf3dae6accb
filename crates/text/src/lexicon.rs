//! Sentiment lexicons: a word's prior polarity in [-1, 1].
//!
//! Parsers for the two lexicons onrust ships with its models: VADER (English, valence
//! in [-4, 4]) and Pattern's Dutch adjective lexicon (polarity in [-1, 1], several
//! senses per word, averaged). Both are keyed by the lower-case word form.

use rustc_hash::FxHashMap;
use smol_str::SmolStr;

/// Why a lexicon could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LexiconError {
    /// A line or entry did not have the expected shape.
    #[error("lexicon line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// Nothing usable was found.
    #[error("the lexicon has no entries")]
    Empty,
}

/// Words with a prior polarity in [-1, 1].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lexicon {
    /// `SmolStr` keys sit inside the table: a lookup reads no second allocation.
    entries: FxHashMap<SmolStr, f32>,
}

/// VADER valences run from -4 to 4.
const VADER_SCALE: f32 = 4.0;

impl Lexicon {
    /// Builds a lexicon from (word, polarity) pairs; polarities are clamped to [-1, 1]
    /// and words lower-cased.
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = (&'a str, f32)>) -> Self {
        let entries = entries
            .into_iter()
            .filter(|(_, p)| p.is_finite())
            .map(|(w, p)| (SmolStr::from(w.to_lowercase()), p.clamp(-1.0, 1.0)))
            .collect();
        Self { entries }
    }

    /// Parses VADER's `vader_lexicon.txt`: `token<TAB>mean<TAB>sd<TAB>ratings`.
    pub fn parse_vader(text: &str) -> Result<Self, LexiconError> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut fields = line.split('\t');
            let (Some(word), Some(valence)) = (fields.next(), fields.next()) else {
                return Err(LexiconError::Malformed {
                    line: index + 1,
                    reason: "expected a word and a valence separated by a tab".into(),
                });
            };
            let valence: f32 = valence
                .trim()
                .parse()
                .map_err(|_| LexiconError::Malformed {
                    line: index + 1,
                    reason: format!("valence {valence:?} is not a number"),
                })?;
            entries.push((word, valence / VADER_SCALE));
        }
        Self::non_empty(Self::from_entries(entries))
    }

    /// Parses Pattern's `pattern-nl-sentiment.xml`: `<word form=".." polarity=".." />`
    /// elements; the senses of one form are averaged.
    pub fn parse_pattern_xml(text: &str) -> Result<Self, LexiconError> {
        let mut sums: FxHashMap<String, (f32, u32)> = FxHashMap::default();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if !line.starts_with("<word ") {
                continue;
            }
            let malformed = |reason: &str| LexiconError::Malformed {
                line: index + 1,
                reason: reason.into(),
            };
            let form = xml_attribute(line, "form").ok_or_else(|| malformed("no form"))?;
            let polarity: f32 = xml_attribute(line, "polarity")
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| malformed("no numeric polarity"))?;
            let entry = sums.entry(form.to_lowercase()).or_default();
            entry.0 += polarity;
            entry.1 += 1;
        }
        let averaged = sums
            .iter()
            .map(|(w, (sum, n))| (w.as_str(), sum / *n as f32));
        Self::non_empty(Self::from_entries(averaged))
    }

    fn non_empty(self) -> Result<Self, LexiconError> {
        if self.entries.is_empty() {
            Err(LexiconError::Empty)
        } else {
            Ok(self)
        }
    }

    /// The polarity of a lower-case word form, if listed.
    #[inline]
    pub fn polarity(&self, word: &str) -> Option<f32> {
        self.entries.get(word).copied()
    }

    /// How many words are listed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no word is listed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, sorted by word, for stable serialisation.
    pub fn sorted_entries(&self) -> Vec<(&str, f32)> {
        let mut entries: Vec<_> = self.entries.iter().map(|(w, p)| (&**w, *p)).collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        entries
    }
}

/// The value of `name="..."` in one XML element line (the lexicon uses no escapes
/// other than `&amp;` in forms we do not look up).
fn xml_attribute<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = element.find(&key)? + key.len();
    let length = element[start..].find('"')?;
    Some(&element[start..start + length])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vader_lines_and_scales_to_unit_range() {
        let lexicon =
            Lexicon::parse_vader("good\t1.9\t0.9\t[2, 2]\nHATE\t-2.7\t1.0\t[-3]\n").expect("valid");
        assert_eq!(lexicon.polarity("good"), Some(1.9 / 4.0));
        assert_eq!(lexicon.polarity("hate"), Some(-2.7 / 4.0));
        assert_eq!(lexicon.polarity("bad"), None);
    }

    #[test]
    fn rejects_vader_lines_without_a_number() {
        let error = Lexicon::parse_vader("good\tvery\n").expect_err("malformed");
        assert!(error.to_string().contains("line 1"), "{error}");
    }

    #[test]
    fn averages_pattern_senses() {
        let xml = r#"<sentiment>
<word form="scherp" polarity="-0.4" subjectivity="0.5" />
<word form="scherp" polarity="0.6" subjectivity="0.5" />
<word form="Mooi" polarity="0.8" />
</sentiment>"#;
        let lexicon = Lexicon::parse_pattern_xml(xml).expect("valid");
        assert!((lexicon.polarity("scherp").expect("listed") - 0.1).abs() < 1e-6);
        assert_eq!(lexicon.polarity("mooi"), Some(0.8));
    }

    #[test]
    fn empty_lexicon_is_an_error() {
        assert!(matches!(
            Lexicon::parse_pattern_xml("<x/>"),
            Err(LexiconError::Empty)
        ));
    }
}
