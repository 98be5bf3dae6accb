//! Stemming with rust-stemmers, behind a cache.
//!
//! A Snowball stemmer costs a few hundred nanoseconds a word and returns a fresh
//! string whenever it changes the word; at a quarter of a million posts a second that
//! is most of the budget. Posts repeat their words, so a bounded cache per language
//! turns stemming into one hash lookup that allocates nothing once warm.

use rust_stemmers::Stemmer;
use rustc_hash::FxBuildHasher;

use crate::lang::Lang;

/// Entries per language before the cache is emptied and refilled: about 10 MiB. Most
/// of a day's words are a few thousand common ones, so a refill is quickly warm.
pub const STEM_CACHE_CAPACITY: usize = 100_000;

/// Word → stem, for one language. hashbrown's map, for `entry_ref`: one lookup that
/// allocates only when the word is new.
type Stems = hashbrown::HashMap<Box<str>, Box<str>, FxBuildHasher>;

/// A stemmer for every language rust-stemmers supports, with a cache per language.
#[derive(Default)]
pub struct StemCache {
    languages: Vec<(Lang, Stemmer, Stems)>,
}

impl std::fmt::Debug for StemCache {
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

impl StemCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The stem of `word` in `lang`; the word itself for a language without a stemmer.
    pub fn stem<'a>(&'a mut self, lang: Lang, word: &'a str) -> &'a str {
        let Some(algorithm) = lang.stemmer() else {
            return word;
        };
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
        cache
            .entry_ref(word)
            .or_insert_with(|| stemmer.stem(word).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_dutch_and_english() {
        let mut cache = StemCache::new();
        assert_eq!(cache.stem(Lang::NL, "rellen"), "rell");
        assert_eq!(cache.stem(Lang::NL, "relschoppers"), "relschopper");
        assert_eq!(cache.stem(Lang::EN, "riots"), "riot");
        assert_eq!(cache.stem(Lang::EN, "burning"), "burn");
    }

    #[test]
    fn cached_result_equals_fresh_result() {
        let mut cache = StemCache::new();
        let first = cache.stem(Lang::DE, "Polizisten").to_string();
        assert_eq!(cache.stem(Lang::DE, "Polizisten"), first);
    }

    #[test]
    fn languages_without_stemmer_keep_the_word() {
        let mut cache = StemCache::new();
        assert_eq!(cache.stem(Lang::UNDETERMINED, "rellen"), "rellen");
        assert_eq!(
            cache.stem(Lang::from_code("pl").expect("code"), "policja"),
            "policja"
        );
    }
}
