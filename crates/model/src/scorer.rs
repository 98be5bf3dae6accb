//! Text in, scores out: identify the language, featurize, pick the model, predict.

use std::sync::Arc;

use onrust_text::lang::Method;
use onrust_text::{Featurizer, Lang, LanguageIdentifier, WordFeatures, WordMemos};

use crate::example::Sentiment;
use crate::model::{Model, Prediction, OUTPUTS};

/// A model's side of the featurizer's word memos: each word form's own features
/// (its word feature, plain or negated, and its character n-grams) weighted and
/// summed once, then added up for each post the word is in.
struct WordWeights<'m> {
    model: &'m Model,
    /// The model's position among the scorer's models.
    owner: u32,
    /// The post's words, summed so far.
    total: [f32; OUTPUTS],
}

/// One word form's weights summed, as a plain and as a negated word.
#[derive(Debug, Clone, Copy)]
struct WordSum {
    plain: [f32; OUTPUTS],
    negated: [f32; OUTPUTS],
}

impl WordMemos for WordWeights<'_> {
    type Memo = WordSum;

    fn owner(&self) -> u32 {
        self.owner
    }

    fn derive(&mut self, word: &WordFeatures<'_>) -> WordSum {
        let mut ngrams = [0.0; OUTPUTS];
        self.model.add_weighted(&mut ngrams, word.ngrams);
        let (mut plain, mut negated) = (ngrams, ngrams);
        self.model.add_weighted(&mut plain, &[word.word]);
        self.model.add_weighted(&mut negated, &[word.negated_word]);
        WordSum { plain, negated }
    }

    #[inline]
    fn add(&mut self, memo: &WordSum, negated: bool) {
        let weights = if negated { &memo.negated } else { &memo.plain };
        for (total, weight) in self.total.iter_mut().zip(weights) {
            *total += weight;
        }
    }
}

/// The scores of one post (contract section 3), with how they were made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// The post's language: its hint, else the detected one, else `und`.
    pub lang: Lang,
    /// How the language was found.
    pub lang_method: Method,
    /// The language of the model that scored it; `None` when there is no model for
    /// the post's language and every model's prediction was averaged.
    pub model_lang: Option<Lang>,
    /// P(positive) − P(negative), in [-1, 1].
    pub sentiment: f32,
    /// The most probable sentiment class.
    pub label: Sentiment,
    /// P(public-safety tension), in [0, 1].
    pub tension: f32,
}

/// Why a scorer cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScorerError {
    /// No model at all.
    #[error("no model to score with")]
    NoModels,
    /// Two models for one language.
    #[error("two models for language {0}")]
    DuplicateLanguage(Lang),
}

/// Scores posts. Each thread keeps its own (see [`Scorer::fork`]); models are shared.
#[derive(Debug)]
pub struct Scorer {
    models: Arc<[Model]>,
    identifier: Arc<LanguageIdentifier>,
    /// Keeps each word form's [`WordSum`] under each model, with its stem.
    featurizer: Featurizer<WordSum>,
}

impl Scorer {
    /// A scorer over `models`. A post in a language without a model (German, say, or
    /// one whose language cannot be told) gets the mean of every model's prediction:
    /// no single model is a better guess, and a Dutch operations room sees slang it
    /// cannot place scored by both its Dutch and its English model.
    pub fn new(models: Vec<Model>) -> Result<Scorer, ScorerError> {
        if models.is_empty() {
            return Err(ScorerError::NoModels);
        }
        for (i, model) in models.iter().enumerate() {
            if models[..i].iter().any(|m| m.lang == model.lang) {
                return Err(ScorerError::DuplicateLanguage(model.lang));
            }
        }
        Ok(Scorer {
            models: models.into(),
            identifier: Arc::new(LanguageIdentifier::new()),
            featurizer: Featurizer::with_memos(),
        })
    }

    /// A scorer sharing this one's models, with buffers and caches of its own.
    pub fn fork(&self) -> Scorer {
        Scorer {
            models: Arc::clone(&self.models),
            identifier: Arc::clone(&self.identifier),
            featurizer: Featurizer::with_memos(),
        }
    }

    /// The models, in the order given.
    pub fn models(&self) -> &[Model] {
        &self.models
    }

    /// Scores one post; `hint` is the post's own `lang`, if any.
    pub fn score(&mut self, text: &str, hint: Option<Lang>) -> Score {
        self.featurizer.tokenize(text);
        let (lang, lang_method) = match hint {
            Some(lang) if lang != Lang::UNDETERMINED => (lang, Method::Hint),
            _ => self.identifier.identify(self.featurizer.tokens()),
        };
        let (model_lang, prediction) = match self.models.iter().position(|m| m.lang == lang) {
            Some(index) => {
                let model = &self.models[index];
                let mut words = WordWeights {
                    model,
                    owner: index as u32,
                    total: [0.0; OUTPUTS],
                };
                let (features, scale) = self.featurizer.extract_memoized(
                    lang,
                    &model.features,
                    model.lexicon.as_ref(),
                    |made| model.prefetch(made),
                    &mut words,
                );
                let z = model.logits_with_words(features, &words.total, scale);
                (Some(model.lang), model.calibrated(&z))
            }
            None => (None, self.mean_prediction(lang)),
        };
        Score {
            lang,
            lang_method,
            model_lang,
            sentiment: prediction.sentiment_score(),
            label: prediction.label(),
            tension: prediction.tension,
        }
    }

    /// The mean of every model's prediction for the tokenized post, for a post in
    /// a language without a model (German, French, undetermined). It sums every
    /// feature as it comes rather than through the word memos: a word form keeps
    /// one model's memo, and here every model scores the same words in turn.
    fn mean_prediction(&mut self, lang: Lang) -> Prediction {
        let mut mean = Prediction {
            sentiment: [0.0; 3],
            tension: 0.0,
        };
        let share = 1.0 / self.models.len() as f32;
        let models = &self.models;
        for model in models.iter() {
            // The first extraction makes the features every model with the same
            // configuration shares; their rows are fetched for all of them at once.
            let features = self.featurizer.extract_seeing(
                lang,
                &model.features,
                model.lexicon.as_ref(),
                |made| {
                    for other in models.iter().filter(|m| m.features == model.features) {
                        other.prefetch(made);
                    }
                },
            );
            let prediction = model.predict(features);
            for (m, p) in mean.sentiment.iter_mut().zip(prediction.sentiment) {
                *m += share * p;
            }
            mean.tension += share * prediction.tension;
        }
        mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onrust_text::FeatureConfig;

    fn model(lang: Lang, tension_bias: f32) -> Model {
        let mut model = Model::zeroed(
            lang,
            FeatureConfig {
                bits: 8,
                ..FeatureConfig::default()
            },
            None,
        );
        model.bias[crate::model::TENSION] = tension_bias;
        model
    }

    #[test]
    fn picks_the_model_of_the_post_language() {
        let mut scorer =
            Scorer::new(vec![model(Lang::NL, 2.0), model(Lang::EN, -2.0)]).expect("models");
        let dutch = scorer.score("iedereen naar het plein vanavond", None);
        assert_eq!(
            (dutch.lang, dutch.model_lang, dutch.lang_method),
            (Lang::NL, Some(Lang::NL), Method::FunctionWords)
        );
        assert!(dutch.tension > 0.5);
        let english = scorer.score("everyone to the square tonight", None);
        assert_eq!(english.model_lang, Some(Lang::EN));
        assert!(english.tension < 0.5);
    }

    #[test]
    fn hint_wins_over_detection() {
        let mut scorer =
            Scorer::new(vec![model(Lang::NL, 2.0), model(Lang::EN, -2.0)]).expect("models");
        let score = scorer.score("everyone to the square tonight", Some(Lang::NL));
        assert_eq!(
            (score.lang, score.lang_method, score.model_lang),
            (Lang::NL, Method::Hint, Some(Lang::NL))
        );
    }

    #[test]
    fn other_and_unknown_languages_get_the_mean_of_all_models() {
        let mut scorer =
            Scorer::new(vec![model(Lang::NL, 2.0), model(Lang::EN, -2.0)]).expect("models");
        let german = scorer.score("das ist nicht gut, wir sind hier", None);
        assert_eq!((german.lang, german.model_lang), (Lang::DE, None));
        // sigmoid(2) and sigmoid(-2) average to exactly one half.
        assert!((german.tension - 0.5).abs() < 1e-6, "{german:?}");
        let unknown = scorer.score("🔥🔥🔥", None);
        assert_eq!(
            (unknown.lang, unknown.model_lang),
            (Lang::UNDETERMINED, None)
        );
        let single = Scorer::new(vec![model(Lang::NL, 2.0)])
            .expect("model")
            .score("🔥", None);
        assert!(
            single.tension > 0.85,
            "one model: its own prediction {single:?}"
        );
    }

    /// A model whose every bucket has weights drawn from a seeded generator, so
    /// that every feature counts.
    fn random_model(lang: Lang, seed: u64) -> Model {
        let mut model = Model::zeroed(
            lang,
            FeatureConfig {
                bits: 12,
                ..FeatureConfig::default()
            },
            Some(onrust_text::Lexicon::from_entries([
                ("leuk", 0.8),
                ("rellen", -0.7),
                ("great", 0.9),
                ("riot", -0.8),
            ])),
        );
        let mut rng = fastrand::Rng::with_seed(seed);
        for row in model.weights.iter_mut() {
            *row = std::array::from_fn(|_| rng.f32() * 2.0 - 1.0);
        }
        model.bias = [0.1, -0.2, 0.05, -0.3];
        model
    }

    #[test]
    fn words_summed_apart_score_as_every_feature_summed() {
        let models = vec![random_model(Lang::NL, 1), random_model(Lang::EN, 2)];
        let mut scorer = Scorer::new(models.clone()).expect("models");
        let mut featurizer = Featurizer::new();
        let posts = [
            (
                "Iedereen NU naar het plein!!! #ProjectX 🔥 niet leuk",
                Lang::NL,
            ),
            (
                "één café, straße en rellen @burgemeester https://x.nl om 21:00",
                Lang::NL,
            ),
            (
                "rellen rellen rellen, niet leuk, helemaal niet leuk",
                Lang::NL,
            ),
            (
                "Everyone to the square tonight, this riot is NOT great!!!",
                Lang::EN,
            ),
            ("soooo great 😂😂 #riot", Lang::EN),
            ("ok", Lang::EN),
            ("", Lang::NL),
        ];
        // Twice: the second round finds every word in the caches.
        for round in 0..2 {
            for (text, lang) in posts {
                let model = models.iter().find(|m| m.lang == lang).expect("model");
                featurizer.tokenize(text);
                let whole = model.predict(featurizer.extract(
                    lang,
                    &model.features,
                    model.lexicon.as_ref(),
                ));
                let apart = scorer.score(text, Some(lang));
                let close = |a: f32, b: f32| (a - b).abs() < 1e-5;
                assert!(
                    close(apart.tension, whole.tension)
                        && close(apart.sentiment, whole.sentiment_score()),
                    "round {round}, {text:?}: {apart:?} vs {whole:?}"
                );
                assert_eq!(apart.label, whole.label(), "round {round}, {text:?}");
            }
        }
    }

    #[test]
    fn a_known_word_scores_as_it_did_when_new() {
        let mut scorer = Scorer::new(vec![random_model(Lang::NL, 3)]).expect("model");
        let text = "de politie is er al, rellen bij het station";
        let first = scorer.score(text, Some(Lang::NL));
        let again = scorer.score(text, Some(Lang::NL));
        assert_eq!(first, again);
        let mut fresh = scorer.fork();
        assert_eq!(fresh.score(text, Some(Lang::NL)), first);
    }

    #[test]
    fn refuses_no_models_and_duplicates() {
        assert!(matches!(
            Scorer::new(Vec::new()),
            Err(ScorerError::NoModels)
        ));
        assert!(matches!(
            Scorer::new(vec![model(Lang::NL, 0.0), model(Lang::NL, 0.0)]),
            Err(ScorerError::DuplicateLanguage(_))
        ));
    }
}
