//! Stemming with rust-stemmers, behind a cache.
//!
//! A Snowball stemmer costs a few hundred nanoseconds a word and returns a fresh
//! string whenever it changes the word; at a quarter of a million posts a second that
//! is most of the budget. Posts repeat their words, so a bounded cache per language
//! turns stemming into one hash lookup that allocates nothing once warm.

use rust_stemmers::Stemmer;
use rustc_hash::FxBuildHasher;
use smol_str::SmolStr;

use crate::lang::Lang;

/// Entries per language before the cache is emptied and refilled: some 8 MiB with
/// the featurizer's word memos. Most of a day's words are a few thousand common
/// ones, so a refill is quickly warm.
pub const STEM_CACHE_CAPACITY: usize = 50_000;

/// Word → stem and what the caller derived from it, for one language. hashbrown's
/// map, for `entry_ref`: one lookup that allocates only when the word is new. Words
/// and stems are `SmolStr`s, kept inside the table up to 23 bytes: a boxed key
/// would cost a second cache miss on every lookup, to compare it.
type Stems<T> = hashbrown::HashMap<SmolStr, (SmolStr, T), FxBuildHasher>;

/// Words of at most this many bytes are their own stems: the stemmers leave them as
/// they are ("de", "is", "was", "ben"), and calling one costs more than the word.
pub const UNSTEMMED_LEN: usize = 3;

/// A stemmer for every language rust-stemmers supports, with a cache per language.
/// Each stem is kept with a value the caller derives from it once and may change
/// in place (the featurizer keeps the stem's feature hashes, so a known word is not
/// hashed again, and the word memos of [`crate::features::WordMemos`]).
pub struct StemCache<T> {
    languages: Vec<(Lang, Stemmer, Stems<T>)>,
}

impl<T> Default for StemCache<T> {
    fn default() -> Self {
        Self {
            languages: Vec::new(),
        }
    }
}

impl<T> std::fmt::Debug for StemCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sizes: Vec<_> = self
            .languages
            .iter()
            .map(|(lang, _, cache)| (lang.as_str().to_string(), cache.len()))
            .collect();
        f.debug_struct("StemCache")
            .field("entries", &sizes)
            .finish()
    }
}

impl<T> StemCache<T> {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The stem of `word` in `lang`, with `derive` of it; `None` for a language
    /// without a stemmer, whose words are their own stems, as are words of at most
    /// [`UNSTEMMED_LEN`] bytes. `derive` runs once per word while the word stays in
    /// the cache; what it made may be changed in place.
    pub fn stem(
        &mut self,
        lang: Lang,
        word: &str,
        derive: impl FnOnce(&str) -> T,
    ) -> Option<(&str, &mut T)> {
        let algorithm = lang.stemmer()?;
        let slot = match self.languages.iter().position(|(l, _, _)| *l == lang) {
            Some(slot) => slot,
            None => {
                self.languages
                    .push((lang, Stemmer::create(algorithm), Stems::default()));
                self.languages.len() - 1
            }
        };
        let (_, stemmer, cache) = &mut self.languages[slot];
        if cache.len() >= STEM_CACHE_CAPACITY && !cache.contains_key(word) {
            cache.clear();
        }
        let (stem, derived) = cache.entry_ref(word).or_insert_with(|| {
            let stem = if word.len() <= UNSTEMMED_LEN {
                SmolStr::from(word)
            } else {
                SmolStr::from(stemmer.stem(word))
            };
            let derived = derive(&stem);
            (stem, derived)
        });
        Some((stem, derived))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stem(cache: &mut StemCache<usize>, lang: Lang, word: &str) -> Option<String> {
        cache.stem(lang, word, str::len).map(|(stem, len)| {
            assert_eq!(*len, stem.len(), "derived from the stem");
            stem.to_string()
        })
    }

    #[test]
    fn stems_dutch_and_english() {
        let mut cache = StemCache::new();
        assert_eq!(
            stem(&mut cache, Lang::NL, "rellen").as_deref(),
            Some("rell")
        );
        assert_eq!(
            stem(&mut cache, Lang::NL, "relschoppers").as_deref(),
            Some("relschopper")
        );
        assert_eq!(stem(&mut cache, Lang::EN, "riots").as_deref(), Some("riot"));
        assert_eq!(
            stem(&mut cache, Lang::EN, "burning").as_deref(),
            Some("burn")
        );
    }

    #[test]
    fn cached_result_equals_fresh_result() {
        let mut cache = StemCache::new();
        let first = stem(&mut cache, Lang::DE, "Polizisten");
        assert!(first.is_some());
        assert_eq!(stem(&mut cache, Lang::DE, "Polizisten"), first);
    }

    #[test]
    fn short_words_are_their_own_stems() {
        let mut cache = StemCache::new();
        for word in ["was", "is", "ies", "ded"] {
            assert_eq!(stem(&mut cache, Lang::EN, word).as_deref(), Some(word));
        }
        assert_ne!(
            stem(&mut cache, Lang::EN, "riots").as_deref(),
            Some("riots"),
            "longer words are stemmed"
        );
    }

    #[test]
    fn languages_without_stemmer_have_no_stem() {
        let mut cache = StemCache::new();
        assert_eq!(stem(&mut cache, Lang::UNDETERMINED, "rellen"), None);
        assert_eq!(
            stem(&mut cache, Lang::from_code("pl").expect("code"), "policja"),
            None
        );
    }
}
