//! Hashed features of a post, for a linear model.
//!
//! Features: stemmed words (negated words in a namespace of their own), stemmed word
//! bigrams, character n-grams of each word's matching form, emoji, mentions,
//! hashtags, markers (URL, mention, clock time, time word, number, capitals,
//! elongation, each punctuation run) and, when the model has a lexicon, the sum of
//! the positive and of the negative polarities (a negated word's polarity flips).
//!
//! Every feature is hashed into `2^bits` buckets with a sign bit (which halves the bias
//! that collisions add). Indicator features are scaled by `1/sqrt(n)` so long and short
//! posts give vectors of similar length.

use crate::hash::{gram, packed_gram, FeatureHash, MAX_PACKED_GRAM};
use crate::lang::Lang;
use crate::lexicon::Lexicon;
use crate::negation::mark_negation;
use crate::stem::{StemCache, UNSTEMMED_LEN};
use crate::tokenize::{TokenKind, Tokens};

/// How features are made; stored in every model, since a model is only valid for the
/// features it was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureConfig {
    /// log2 of the number of hash buckets.
    pub bits: u8,
    /// Shortest character n-gram (0: no character n-grams).
    pub char_ngram_min: u8,
    /// Longest character n-gram.
    pub char_ngram_max: u8,
    /// Whether stemmed word bigrams are features.
    pub word_bigrams: bool,
}

impl Default for FeatureConfig {
    /// 2^20 buckets keep collisions rare for a few hundred thousand distinct features;
    /// character 3- and 4-grams carry misspellings, slang and compounds
    /// ("kankerpolitie") that whole words miss. 5-grams added a third more features
    /// (and time) for no gain on held-out data (see BENCHMARKS.md).
    fn default() -> Self {
        Self {
            bits: 20,
            char_ngram_min: 3,
            char_ngram_max: 4,
            word_bigrams: true,
        }
    }
}

impl FeatureConfig {
    /// The number of buckets.
    pub fn buckets(&self) -> usize {
        1usize << self.bits
    }

    /// Checks that the numbers make sense; returns what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(8..=24).contains(&self.bits) {
            return Err(format!("bits {} is outside 8..=24", self.bits));
        }
        if self.char_ngram_min > self.char_ngram_max || self.char_ngram_max > 8 {
            return Err(format!(
                "character n-grams {}..={} are not a range within 0..=8",
                self.char_ngram_min, self.char_ngram_max
            ));
        }
        Ok(())
    }
}

/// One hashed feature: a bucket and a value (its sign included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HashedFeature {
    /// The bucket, below `2^bits`.
    pub index: u32,
    /// The value.
    pub value: f32,
}

/// Feature namespaces; see the module documentation.
mod namespace {
    pub const WORD: u8 = 1;
    pub const NEGATED_WORD: u8 = 2;
    pub const BIGRAM: u8 = 3;
    pub const CHAR_NGRAM: u8 = 4;
    pub const EMOJI: u8 = 5;
    pub const MENTION: u8 = 6;
    pub const HASHTAG: u8 = 7;
    pub const MARKER: u8 = 8;
    pub const LEXICON: u8 = 9;
}

/// The hashes a stem starts features with, kept with it in the stem cache so that a
/// known word is not hashed again.
#[derive(Debug, Clone, Copy)]
struct StemHashes {
    /// The stem as a word feature.
    word: FeatureHash,
    /// The stem as a negated word feature.
    negated_word: FeatureHash,
    /// The stem as the first word of a bigram.
    bigram_first_half: FeatureHash,
}

impl StemHashes {
    fn of(stem: &str) -> Self {
        Self {
            word: FeatureHash::new(namespace::WORD).str(stem),
            negated_word: FeatureHash::new(namespace::NEGATED_WORD).str(stem),
            bigram_first_half: FeatureHash::new(namespace::BIGRAM).str(stem),
        }
    }
}

/// A word's own features, unscaled: what a [`WordMemos`] derives its memo from.
#[derive(Debug)]
pub struct WordFeatures<'a> {
    /// The word feature when the word is not negated.
    pub word: HashedFeature,
    /// The word feature when the word is negated.
    pub negated_word: HashedFeature,
    /// The character n-grams of the word's form.
    pub ngrams: &'a [HashedFeature],
}

/// What a caller derives once from a word form's own features and adds up for every
/// post the word is in, through [`Featurizer::extract_memoized`]. A model sums the
/// weights of a word's features once, not once per post: some fifteen features a
/// word, each a random row of a large table, so each a cache miss, are most of
/// scoring otherwise; posts repeat their words.
pub trait WordMemos {
    /// What is kept with each word form.
    type Memo;
    /// Who derives the memos: one kept for another owner (another model) is derived
    /// anew.
    fn owner(&self) -> u32;
    /// The memo of a word, from its own features.
    fn derive(&mut self, word: &WordFeatures<'_>) -> Self::Memo;
    /// Adds one occurrence of a word to the post, negated or not.
    fn add(&mut self, memo: &Self::Memo, negated: bool);
}

/// A stem's hashes, and the memo a [`WordMemos`] derived for its word form.
#[derive(Debug)]
struct WordEntry<M> {
    hashes: StemHashes,
    memo: Option<KeptMemo<M>>,
}

/// A memo, with what the featurizer itself needs of the word again.
#[derive(Debug)]
struct KeptMemo<M> {
    owner: u32,
    /// The config the word's features were made with.
    config: FeatureConfig,
    /// How many features the memo stands for: the word feature and the n-grams.
    feature_count: usize,
    /// The word's polarity in the lexicon it was derived with.
    polarity: Option<f32>,
    memo: M,
}

/// Turns posts into hashed features. Owns every buffer it needs, so a warm
/// featurizer allocates nothing per post. `M` is the memo a caller of
/// [`Featurizer::extract_memoized`] keeps with each word form.
#[derive(Debug)]
pub struct Featurizer<M = ()> {
    tokens: Tokens,
    words: StemCache<WordEntry<M>>,
    padded: String,
    char_offsets: Vec<u32>,
    features: Vec<HashedFeature>,
    /// A word's n-grams, while its memo is derived.
    ngrams: Vec<HashedFeature>,
    /// The language and config the features before the lexicon's were made for,
    /// and how many there are; `None` after a new post is tokenized.
    base: Option<(Lang, FeatureConfig, usize)>,
}

impl Default for Featurizer {
    fn default() -> Self {
        Self::with_memos()
    }
}

impl Featurizer {
    /// A featurizer with empty buffers.
    pub fn new() -> Self {
        Self::with_memos()
    }
}

impl<M> Featurizer<M> {
    /// A featurizer with empty buffers, keeping memos of type `M`.
    pub fn with_memos() -> Self {
        Self {
            tokens: Tokens::default(),
            words: StemCache::new(),
            padded: String::new(),
            char_offsets: Vec::new(),
            features: Vec::new(),
            ngrams: Vec::new(),
            base: None,
        }
    }

    /// Tokenizes a post and marks negation scope; [`Featurizer::tokens`] then holds it.
    pub fn tokenize(&mut self, text: &str) {
        self.base = None;
        self.tokens.tokenize(text);
        mark_negation(&mut self.tokens);
    }

    /// The tokens of the last post given to [`Featurizer::tokenize`].
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// The features of the last tokenized post, stemmed as `lang`.
    ///
    /// Asked again for the same post, language and config (another model's lexicon,
    /// as when every model scores a post of unknown language), only the lexicon
    /// features are redone.
    pub fn extract(
        &mut self,
        lang: Lang,
        config: &FeatureConfig,
        lexicon: Option<&Lexicon>,
    ) -> &[HashedFeature] {
        self.extract_seeing(lang, config, lexicon, |_| {})
    }

    /// As [`Featurizer::extract`], showing `seen` each word's features as soon as
    /// they are made (unscaled: only their buckets are final), so that a model can
    /// start fetching its weights while the rest of the post is featurized. Asked
    /// again for the same post, language and config, it shows nothing.
    pub fn extract_seeing(
        &mut self,
        lang: Lang,
        config: &FeatureConfig,
        lexicon: Option<&Lexicon>,
        seen: impl FnMut(&[HashedFeature]),
    ) -> &[HashedFeature] {
        let mask = (1u64 << config.bits) - 1;
        match self.base {
            Some((base_lang, base_config, len)) if base_lang == lang && base_config == *config => {
                self.features.truncate(len);
            }
            _ => {
                self.extract_base::<NoMemos<M>>(lang, config, seen, None);
                self.base = Some((lang, *config, self.features.len()));
            }
        }
        self.push_lexicon(lexicon, mask);
        &self.features
    }

    /// The features of the last tokenized post as [`Featurizer::extract_seeing`]
    /// makes them, but each word's own features (its word feature and character
    /// n-grams) go to `memos` instead, through the memo derived from them the first
    /// time the word form was seen. Returns the rest of the features and the scale
    /// every feature but the lexicon's got, the words' counted, for the caller to
    /// apply to what it added up.
    ///
    /// A word's own features depend on its form alone (in `lang`, with `config`),
    /// and a memo is derived anew for another owner or config. Within one owner,
    /// `memos` must derive the same memo from the same features, and every call
    /// must pass the same `lexicon`: the word's polarity is kept with its memo.
    pub fn extract_memoized<W: WordMemos<Memo = M>>(
        &mut self,
        lang: Lang,
        config: &FeatureConfig,
        lexicon: Option<&Lexicon>,
        seen: impl FnMut(&[HashedFeature]),
        memos: &mut W,
    ) -> (&[HashedFeature], f32) {
        let scale = self.extract_base(lang, config, seen, Some((memos, lexicon)));
        // These features lack the words': the next extraction starts afresh.
        self.base = None;
        (&self.features, scale)
    }

    /// Pushes the lexicon's two features, when the model has a lexicon: the sums of
    /// the positive and of the negative polarities (unscaled).
    fn push_lexicon(&mut self, lexicon: Option<&Lexicon>, mask: u64) {
        if let Some(lexicon) = lexicon {
            let mut sums = PolaritySums::default();
            for (token, form) in self.tokens.iter() {
                if token.kind == TokenKind::Word {
                    sums.add(lexicon.polarity(form), token.negated);
                }
            }
            sums.push(&mut self.features, mask);
        }
    }

    /// Every feature but the lexicon's, scaled, into `self.features`; returns the
    /// scale. With `memos`, each word's own features go to its memo instead (and
    /// the lexicon's features follow, from the polarities kept with the memos).
    fn extract_base<W: WordMemos<Memo = M>>(
        &mut self,
        lang: Lang,
        config: &FeatureConfig,
        mut seen: impl FnMut(&[HashedFeature]),
        mut memos: Option<(&mut W, Option<&Lexicon>)>,
    ) -> f32 {
        self.features.clear();
        let mask = (1u64 << config.bits) - 1;
        let Self {
            tokens,
            words,
            padded,
            char_offsets,
            features,
            ngrams,
            ..
        } = self;
        let marker = |name: &str| FeatureHash::new(namespace::MARKER).str(name);
        let mut bigram_first_half: Option<FeatureHash> = None;
        let mut memoized_features = 0usize;
        let mut polarities = PolaritySums::default();
        for (token, form) in tokens.iter() {
            match token.kind {
                TokenKind::Word => {
                    let first = features.len();
                    let cached = if form.len() <= UNSTEMMED_LEN && memos.is_none() {
                        // Not worth a cache lookup without memos.
                        None
                    } else {
                        words.stem(lang, form, |stem| WordEntry {
                            hashes: StemHashes::of(stem),
                            memo: None,
                        })
                    };
                    let (stem, hashes, entry) = match cached {
                        Some((stem, entry)) => (stem, entry.hashes, Some(entry)),
                        None => (form, StemHashes::of(form), None),
                    };
                    match memos.as_mut() {
                        None => {
                            let word_hash = if token.negated {
                                hashes.negated_word
                            } else {
                                hashes.word
                            };
                            push_hashed(features, mask, word_hash, 1.0);
                        }
                        Some((memos, lexicon)) => {
                            let owner = memos.owner();
                            let mut derive = || {
                                ngrams.clear();
                                if config.char_ngram_min > 0 {
                                    char_ngrams(form, config, mask, padded, char_offsets, ngrams);
                                }
                                let own = WordFeatures {
                                    word: hashed(hashes.word, 1.0, mask),
                                    negated_word: hashed(hashes.negated_word, 1.0, mask),
                                    ngrams,
                                };
                                KeptMemo {
                                    owner,
                                    config: *config,
                                    feature_count: 1 + ngrams.len(),
                                    polarity: lexicon.and_then(|lexicon| lexicon.polarity(form)),
                                    memo: memos.derive(&own),
                                }
                            };
                            let fresh;
                            let kept = match entry {
                                Some(entry) => match &mut entry.memo {
                                    Some(kept) if kept.owner == owner && kept.config == *config => {
                                        &*kept
                                    }
                                    slot => &*slot.insert(derive()),
                                },
                                None => {
                                    fresh = derive();
                                    &fresh
                                }
                            };
                            memos.add(&kept.memo, token.negated);
                            memoized_features += kept.feature_count;
                            polarities.add(kept.polarity, token.negated);
                        }
                    }
                    if config.word_bigrams {
                        // FNV runs left to right, so the previous word's half of the
                        // bigram hash is kept rather than the word itself.
                        if let Some(first_half) = bigram_first_half {
                            push_hashed(features, mask, first_half.str(stem), 1.0);
                        }
                        bigram_first_half = Some(hashes.bigram_first_half);
                    }
                    if memos.is_none() && config.char_ngram_min > 0 {
                        char_ngrams(form, config, mask, padded, char_offsets, features);
                    }
                    if token.all_caps {
                        push_hashed(features, mask, marker("caps"), 1.0);
                    }
                    if token.elongated {
                        push_hashed(features, mask, marker("elongated"), 1.0);
                    }
                    if token.time_ref {
                        push_hashed(features, mask, marker("time_word"), 1.0);
                    }
                    seen(&features[first..]);
                }
                TokenKind::Emoji => push_hashed(
                    features,
                    mask,
                    FeatureHash::new(namespace::EMOJI).str(form),
                    1.0,
                ),
                TokenKind::Mention => {
                    push_hashed(
                        features,
                        mask,
                        FeatureHash::new(namespace::MENTION).str(form),
                        1.0,
                    );
                    push_hashed(features, mask, marker("mention"), 1.0);
                }
                TokenKind::Hashtag => push_hashed(
                    features,
                    mask,
                    FeatureHash::new(namespace::HASHTAG).str(form),
                    1.0,
                ),
                TokenKind::Url => push_hashed(features, mask, marker("url"), 1.0),
                TokenKind::Time => push_hashed(features, mask, marker("clock_time"), 1.0),
                TokenKind::Number => push_hashed(features, mask, marker("number"), 1.0),
                TokenKind::Punct => {
                    bigram_first_half = None;
                    push_hashed(features, mask, marker(form), 1.0);
                }
            }
        }
        let scale = 1.0 / ((features.len() + memoized_features).max(1) as f32).sqrt();
        features.iter_mut().for_each(|f| f.value *= scale);
        if let Some((_, Some(_))) = memos {
            polarities.push(features, mask);
        }
        scale
    }
}

/// The type of no memos, for extractions without them: it has no values.
struct NoMemos<M>(std::convert::Infallible, std::marker::PhantomData<M>);

impl<M> WordMemos for NoMemos<M> {
    type Memo = M;
    fn owner(&self) -> u32 {
        match self.0 {}
    }
    fn derive(&mut self, _: &WordFeatures<'_>) -> M {
        match self.0 {}
    }
    fn add(&mut self, _: &M, _: bool) {
        match self.0 {}
    }
}

/// The lexicon's two features in the making: the sums of the positive and of the
/// negative polarities of a post's words (a negated word's polarity flips).
#[derive(Debug, Default)]
struct PolaritySums {
    positive: f32,
    negative: f32,
}

impl PolaritySums {
    fn add(&mut self, polarity: Option<f32>, negated: bool) {
        if let Some(polarity) = polarity {
            let polarity = if negated { -polarity } else { polarity };
            if polarity > 0.0 {
                self.positive += polarity;
            } else {
                self.negative -= polarity;
            }
        }
    }

    fn push(&self, features: &mut Vec<HashedFeature>, mask: u64) {
        let lexicon_feature = |name| FeatureHash::new(namespace::LEXICON).str(name);
        features.push(hashed(lexicon_feature("positive"), self.positive, mask));
        features.push(hashed(lexicon_feature("negative"), self.negative, mask));
    }
}

/// Pushes a hashed feature.
#[inline]
fn push_hashed(features: &mut Vec<HashedFeature>, mask: u64, hash: FeatureHash, value: f32) {
    features.push(hashed(hash, value, mask));
}

/// A feature in its bucket, with the hash's sign bit applied to its value.
#[inline]
fn hashed(hash: FeatureHash, value: f32, mask: u64) -> HashedFeature {
    from_hash(hash.finish(), value, mask)
}

#[inline]
fn from_hash(h: u64, value: f32, mask: u64) -> HashedFeature {
    // Bit 40 of the hash becomes the sign bit of the value: no branch.
    let sign_bit = ((h >> 40) & 1) as u32;
    HashedFeature {
        index: (h & mask) as u32,
        value: f32::from_bits(value.to_bits() ^ (sign_bit << 31)),
    }
}

/// Pushes the character n-grams of `<form>` (with word boundary marks).
fn char_ngrams(
    form: &str,
    config: &FeatureConfig,
    mask: u64,
    padded: &mut String,
    offsets: &mut Vec<u32>,
    features: &mut Vec<HashedFeature>,
) {
    let (min, max) = (
        config.char_ngram_min as usize,
        config.char_ngram_max as usize,
    );
    if form.is_ascii() && max <= MAX_PACKED_GRAM {
        // The default 3- and 4-grams get a copy of the loop with the lengths fixed,
        // which the compiler unrolls: this loop makes most of a post's features.
        if (min, max) == (3, 4) {
            ascii_char_ngrams(form, 3, 4, mask, features);
        } else {
            ascii_char_ngrams(form, min, max, mask, features);
        }
        return;
    }
    padded.clear();
    padded.push('<');
    padded.push_str(form);
    padded.push('>');
    let bytes = padded.as_bytes();
    offsets.clear();
    offsets.extend(padded.char_indices().map(|(i, _)| i as u32));
    offsets.push(padded.len() as u32);
    let chars = offsets.len() - 1;
    for start in 0..chars {
        for n in min..=max.min(chars - start) {
            let slice = &bytes[offsets[start] as usize..offsets[start + n] as usize];
            features.push(from_hash(gram(namespace::CHAR_NGRAM, slice), 1.0, mask));
        }
    }
}

/// Pushes the `min..=max`-grams of `<form>` for an ASCII `form`, `max` at most
/// [`MAX_PACKED_GRAM`].
///
/// One byte a character: a rolling window over `<form>` holds the last `max` bytes,
/// and each gram ending at a byte is the window's low bytes. The marks go straight
/// into the window, so the word is not copied.
#[inline(always)]
fn ascii_char_ngrams(
    form: &str,
    min: usize,
    max: usize,
    mask: u64,
    features: &mut Vec<HashedFeature>,
) {
    features.reserve((form.len() + 2) * (max + 1 - min));
    let mut window = 0u64;
    let mut seen = 0usize;
    let mut push = |byte: u8| {
        window = (window << 8) | u64::from(byte);
        seen += 1;
        for n in min..max.min(seen) + 1 {
            let gram = window & (u64::MAX >> (64 - 8 * n));
            features.push(from_hash(
                packed_gram(namespace::CHAR_NGRAM, gram, n),
                1.0,
                mask,
            ));
        }
    };
    push(b'<');
    form.bytes().for_each(&mut push);
    push(b'>');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indices(text: &str, lang: Lang, config: &FeatureConfig) -> Vec<u32> {
        let mut featurizer = Featurizer::new();
        featurizer.tokenize(text);
        let mut indices: Vec<u32> = featurizer
            .extract(lang, config, None)
            .iter()
            .map(|f| f.index)
            .collect();
        indices.sort_unstable();
        indices
    }

    #[test]
    fn features_are_deterministic_and_within_buckets() {
        let config = FeatureConfig {
            bits: 12,
            ..FeatureConfig::default()
        };
        let first = indices(
            "Iedereen NU naar het plein!!! #ProjectX 🔥",
            Lang::NL,
            &config,
        );
        assert_eq!(
            first,
            indices(
                "Iedereen NU naar het plein!!! #ProjectX 🔥",
                Lang::NL,
                &config
            )
        );
        assert!(first.iter().all(|&i| (i as usize) < config.buckets()));
        assert!(!first.is_empty());
    }

    #[test]
    fn the_words_features_are_shown_as_they_are_made() {
        let shown_and_made = |featurizer: &mut Featurizer| {
            let mut shown = Vec::new();
            let made: Vec<u32> = featurizer
                .extract_seeing(Lang::NL, &FeatureConfig::default(), None, |words| {
                    shown.extend(words.iter().map(|f| f.index));
                })
                .iter()
                .map(|f| f.index)
                .collect();
            (shown, made)
        };
        let mut featurizer = Featurizer::new();
        featurizer.tokenize("Iedereen NIET naar het plein stenen mee");
        let (shown, made) = shown_and_made(&mut featurizer);
        assert!(!made.is_empty());
        assert_eq!(shown, made, "words only: every feature, in order");
        featurizer.tokenize("naar het plein, stenen mee");
        let (shown, made) = shown_and_made(&mut featurizer);
        assert_eq!(shown.len(), made.len() - 1, "all but the comma's marker");
        let (shown, _) = shown_and_made(&mut featurizer);
        assert!(
            shown.is_empty(),
            "the same post again is not featurized again"
        );
    }

    /// Memos that keep a word's own features, to hand them back per occurrence.
    struct Recorder {
        owner: u32,
        derived: usize,
        added: Vec<HashedFeature>,
    }

    impl WordMemos for Recorder {
        type Memo = (HashedFeature, HashedFeature, Vec<HashedFeature>);
        fn owner(&self) -> u32 {
            self.owner
        }
        fn derive(&mut self, word: &WordFeatures<'_>) -> Self::Memo {
            self.derived += 1;
            (word.word, word.negated_word, word.ngrams.to_vec())
        }
        fn add(&mut self, memo: &Self::Memo, negated: bool) {
            self.added.push(if negated { memo.1 } else { memo.0 });
            self.added.extend_from_slice(&memo.2);
        }
    }

    fn recorder(owner: u32) -> Recorder {
        Recorder {
            owner,
            derived: 0,
            added: Vec::new(),
        }
    }

    #[test]
    fn memoized_words_are_the_same_features_grouped_by_word() {
        let default = FeatureConfig::default();
        // One featurizer and one owner through every config: a memo made with
        // another config must not be reused.
        let configs = [
            default,
            FeatureConfig {
                char_ngram_min: 0,
                char_ngram_max: 0,
                ..default
            },
            FeatureConfig {
                word_bigrams: false,
                ..default
            },
            FeatureConfig {
                bits: 12,
                char_ngram_min: 2,
                char_ngram_max: 5,
                ..default
            },
        ];
        let lexicon = Lexicon::from_entries([("leuk", 0.8), ("rellen", -0.6)]);
        let as_bits = |features: &[HashedFeature]| {
            let mut bits: Vec<(u32, u32)> = features
                .iter()
                .map(|f| (f.index, f.value.to_bits()))
                .collect();
            bits.sort_unstable();
            bits
        };
        let mut featurizer = Featurizer::with_memos();
        for (config, lang) in configs
            .iter()
            .flat_map(|config| [Lang::NL, Lang::EN, Lang::UNDETERMINED].map(|lang| (config, lang)))
        {
            for text in [
                "Iedereen NU naar het plein!!! #ProjectX 🔥 niet leuk",
                "één café, straße en rellen @burgemeester https://x.nl",
                "niet leuk, niet leuk, rellen rellen",
                "ok",
                "",
            ] {
                featurizer.tokenize(text);
                let whole = featurizer.extract(lang, config, Some(&lexicon)).to_vec();
                let mut memos = recorder(7);
                let (rest, scale) =
                    featurizer.extract_memoized(lang, config, Some(&lexicon), |_| {}, &mut memos);
                let mut regrouped = rest.to_vec();
                regrouped.extend(memos.added.iter().map(|f| HashedFeature {
                    index: f.index,
                    value: f.value * scale,
                }));
                assert_eq!(
                    as_bits(&regrouped),
                    as_bits(&whole),
                    "{config:?} {lang} {text}"
                );
                let lexicon_features = 2;
                let scaled = (whole.len() - lexicon_features).max(1) as f32;
                assert_eq!(scale, 1.0 / scaled.sqrt(), "{config:?} {lang} {text}");
                assert_eq!(
                    featurizer.extract(lang, config, Some(&lexicon)),
                    &whole[..],
                    "asked again whole, the post is featurized whole"
                );
            }
        }
    }

    #[test]
    fn a_word_form_is_derived_once_per_owner() {
        let config = FeatureConfig::default();
        let mut featurizer = Featurizer::with_memos();
        featurizer.tokenize("rellen rellen bij het station, rellen");
        let mut first = recorder(1);
        featurizer.extract_memoized(Lang::NL, &config, None, |_| {}, &mut first);
        assert_eq!(first.derived, 4, "rellen, bij, het, station");
        featurizer.extract_memoized(Lang::NL, &config, None, |_| {}, &mut first);
        assert_eq!(first.derived, 4, "all kept");
        let mut second = recorder(2);
        featurizer.extract_memoized(Lang::NL, &config, None, |_| {}, &mut second);
        assert_eq!(second.derived, 4, "another owner derives its own");
        assert_eq!(second.added, first.added[..second.added.len()]);
    }

    #[test]
    fn inflections_share_the_stem_feature() {
        let config = FeatureConfig {
            char_ngram_min: 0,
            char_ngram_max: 0,
            word_bigrams: false,
            ..FeatureConfig::default()
        };
        assert_eq!(
            indices("rellen", Lang::NL, &config),
            indices("rellen", Lang::NL, &config)
        );
        assert_eq!(
            indices("riots", Lang::EN, &config),
            indices("riot", Lang::EN, &config)
        );
    }

    #[test]
    fn negation_changes_the_word_feature() {
        let config = FeatureConfig {
            char_ngram_min: 0,
            char_ngram_max: 0,
            word_bigrams: false,
            ..FeatureConfig::default()
        };
        let plain = indices("leuk", Lang::NL, &config);
        let negated = indices("niet leuk", Lang::NL, &config);
        assert!(!negated.contains(&plain[0]));
    }

    #[test]
    fn lexicon_polarity_flips_under_negation() {
        let lexicon = Lexicon::from_entries([("leuk", 0.8)]);
        let config = FeatureConfig::default();
        let mut featurizer = Featurizer::new();
        let lexicon_value = |featurizer: &mut Featurizer, text: &str, name: &str| {
            featurizer.tokenize(text);
            let target = FeatureHash::new(namespace::LEXICON).str(name).finish();
            let index = (target & ((1 << config.bits) - 1)) as u32;
            featurizer
                .extract(Lang::NL, &config, Some(&lexicon))
                .iter()
                .rev()
                .find(|f| f.index == index)
                .map(|f| f.value.abs())
        };
        assert_eq!(
            lexicon_value(&mut featurizer, "leuk", "positive"),
            Some(0.8)
        );
        assert_eq!(
            lexicon_value(&mut featurizer, "niet leuk", "negative"),
            Some(0.8)
        );
        assert_eq!(
            lexicon_value(&mut featurizer, "niet leuk", "positive"),
            Some(0.0)
        );
    }

    #[test]
    fn asking_again_with_another_lexicon_redoes_only_the_lexicon() {
        let config = FeatureConfig::default();
        let (positive, negative) = (
            Lexicon::from_entries([("leuk", 0.8)]),
            Lexicon::from_entries([("leuk", -0.5)]),
        );
        let mut featurizer = Featurizer::new();
        featurizer.tokenize("dit is leuk");
        let first = featurizer
            .extract(Lang::NL, &config, Some(&positive))
            .to_vec();
        let second = featurizer
            .extract(Lang::NL, &config, Some(&negative))
            .to_vec();
        let without = featurizer.extract(Lang::NL, &config, None).to_vec();
        assert_eq!(first.len(), second.len());
        assert_eq!(first[..without.len()], without[..]);
        assert_ne!(first, second);
        let mut fresh = Featurizer::new();
        fresh.tokenize("dit is leuk");
        assert_eq!(
            fresh.extract(Lang::NL, &config, Some(&negative)),
            &second[..]
        );
        featurizer.tokenize("iets anders");
        assert_ne!(featurizer.extract(Lang::NL, &config, None), &without[..]);
    }

    #[test]
    fn character_ngrams_follow_characters_not_bytes() {
        let config = FeatureConfig {
            bits: 20,
            char_ngram_min: 3,
            char_ngram_max: 3,
            word_bigrams: false,
        };
        // "<één>" has 5 characters: 3 trigrams, plus the word feature.
        assert_eq!(indices("één", Lang::NL, &config).len(), 4);
    }

    #[test]
    fn rejects_impossible_configs() {
        let too_big = FeatureConfig {
            bits: 30,
            ..FeatureConfig::default()
        };
        assert!(too_big.validate().is_err());
        let reversed = FeatureConfig {
            char_ngram_min: 5,
            char_ngram_max: 3,
            ..FeatureConfig::default()
        };
        assert!(reversed.validate().is_err());
        assert!(FeatureConfig::default().validate().is_ok());
    }
}
