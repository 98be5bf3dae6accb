//! The pure text pipeline of onrust.
//!
//! A post's text goes through [`normalize`] (NFKC, case folding), the social-media
//! [`tokenize`]r (URLs, mentions, hashtags split into words, emoji, elongations,
//! repeated punctuation, capitals, numbers and times), [`negation`] scope marking,
//! [`lang`]uage identification, [`stem`]ming and finally [`features`]: hashed word and
//! character n-grams ready for a linear model.
//!
//! Invariants: this crate does no I/O, never reads the clock and holds no global
//! state. Everything that is reused between posts (buffers, the stem cache and the
//! word memos kept with it) lives in a [`features::Featurizer`] that the caller owns,
//! so scoring a post allocates nothing once the featurizer is warm.

pub mod features;
pub mod hash;
pub mod lang;
pub mod lexicon;
pub mod negation;
pub mod normalize;
pub mod stem;
pub mod tokenize;
mod trigram_profiles;

pub use features::{FeatureConfig, Featurizer, HashedFeature, WordFeatures, WordMemos};
pub use lang::{Lang, LanguageIdentifier};
pub use lexicon::Lexicon;
pub use tokenize::{Token, TokenKind, Tokens};
