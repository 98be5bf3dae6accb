//! A trained model: hashed-feature weights for sentiment and tension, with their
//! calibration, for one language.

use onrust_text::{FeatureConfig, HashedFeature, Lang, Lexicon};
use serde::{Deserialize, Serialize};

use crate::example::Sentiment;

/// Outputs per bucket: the three sentiment logits, then the tension logit.
pub const OUTPUTS: usize = 4;
/// Where the tension logit sits among the outputs.
pub const TENSION: usize = 3;

/// Maps raw model scores to calibrated probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Sentiment logits are divided by this before the softmax (temperature scaling).
    pub sentiment_temperature: f32,
    /// Tension probability is `sigmoid(slope * logit + intercept)` (Platt scaling).
    pub tension_slope: f32,
    /// See `tension_slope`.
    pub tension_intercept: f32,
}

impl Default for Calibration {
    fn default() -> Self {
        Self {
            sentiment_temperature: 1.0,
            tension_slope: 1.0,
            tension_intercept: 0.0,
        }
    }
}

/// Facts about how a model was made, for its card and for `eval`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// When it was trained (RFC 3339 date, given by the caller).
    pub trained_at: String,
    /// Examples with a sentiment label.
    pub sentiment_examples: usize,
    /// Examples with a tension label.
    pub tension_examples: usize,
    /// Of those, how many are tension.
    pub tension_positives: usize,
    /// Training epochs actually used (the best on the calibration split).
    pub epochs: u32,
    /// Free text: where the data came from.
    pub data: String,
}

/// A model's raw prediction for one post.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// P(neg), P(neu), P(pos).
    pub sentiment: [f32; 3],
    /// P(tension).
    pub tension: f32,
}

impl Prediction {
    /// P(positive) − P(negative), in [-1, 1].
    pub fn sentiment_score(&self) -> f32 {
        self.sentiment[Sentiment::Pos.index()] - self.sentiment[Sentiment::Neg.index()]
    }

    /// The most probable sentiment class.
    pub fn label(&self) -> Sentiment {
        let mut best = Sentiment::Neu;
        for class in Sentiment::ALL {
            if self.sentiment[class.index()] > self.sentiment[best.index()] {
                best = class;
            }
        }
        best
    }
}

/// A trained model for one language.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The language it was trained for.
    pub lang: Lang,
    /// How its features are made.
    pub features: FeatureConfig,
    /// The sentiment lexicon its features use, if any.
    pub lexicon: Option<Lexicon>,
    /// Calibration of its raw scores.
    pub calibration: Calibration,
    /// How it was made.
    pub info: ModelInfo,
    pub(crate) weights: Vec<[f32; OUTPUTS]>,
    pub(crate) bias: [f32; OUTPUTS],
}

impl Model {
    /// A model with all weights zero (predicts the calibration's prior).
    pub fn zeroed(lang: Lang, features: FeatureConfig, lexicon: Option<Lexicon>) -> Model {
        Model {
            lang,
            weights: vec![[0.0; OUTPUTS]; features.buckets()],
            features,
            lexicon,
            calibration: Calibration::default(),
            info: ModelInfo::default(),
            bias: [0.0; OUTPUTS],
        }
    }

    /// Raw logits: three sentiment, one tension.
    #[inline]
    pub fn logits(&self, features: &[HashedFeature]) -> [f32; OUTPUTS] {
        let mut z = self.bias;
        self.add_weighted(&mut z, features);
        z
    }

    /// Raw logits of a post whose words' own features were added up apart
    /// ([`onrust_text::Featurizer::extract_memoized`]): `features` are the rest,
    /// scaled, and `words` the words' weights summed, which `scale` scales. The same
    /// sum as [`Model::logits`] of every feature, grouped by word, so equal up to
    /// float rounding.
    #[inline]
    pub fn logits_with_words(
        &self,
        features: &[HashedFeature],
        words: &[f32; OUTPUTS],
        scale: f32,
    ) -> [f32; OUTPUTS] {
        let mut z = self.logits(features);
        for (zk, wk) in z.iter_mut().zip(words) {
            *zk += scale * wk;
        }
        z
    }

    /// Adds each feature's weights times its value to `z`, in order.
    #[inline]
    pub(crate) fn add_weighted(&self, z: &mut [f32; OUTPUTS], features: &[HashedFeature]) {
        for feature in features {
            // Indices come from a featurizer with this model's `bits`, so they are in
            // range; `get` keeps a mismatched caller from panicking.
            if let Some(w) = self.weights.get(feature.index as usize) {
                for (zk, wk) in z.iter_mut().zip(w) {
                    *zk += wk * feature.value;
                }
            }
        }
    }

    /// Asks the processor to bring the weights of `features` into cache, so that
    /// [`Model::predict`] finds them there. Scoring is bound by these lookups (2^20
    /// rows of 16 bytes, a random row per feature): prefetching each word's rows as
    /// soon as its features exist lets the loads overlap the rest of the
    /// featurizing. A hint only; a no-op off x86-64.
    #[inline]
    pub fn prefetch(&self, features: &[HashedFeature]) {
        #[cfg(target_arch = "x86_64")]
        for feature in features {
            if let Some(row) = self.weights.get(feature.index as usize) {
                // SAFETY: a prefetch reads nothing into the program and cannot
                // fault; the pointer comes from a live reference besides.
                unsafe {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                        row.as_ptr().cast(),
                    );
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = features;
    }

    /// Calibrated probabilities for a post's features.
    pub fn predict(&self, features: &[HashedFeature]) -> Prediction {
        let z = self.logits(features);
        self.calibrated(&z)
    }

    /// Applies the calibration to raw logits.
    pub fn calibrated(&self, z: &[f32; OUTPUTS]) -> Prediction {
        let t = self.calibration.sentiment_temperature;
        Prediction {
            sentiment: softmax([z[0] / t, z[1] / t, z[2] / t]),
            tension: sigmoid(
                self.calibration.tension_slope * z[TENSION] + self.calibration.tension_intercept,
            ),
        }
    }

    /// How many buckets have a non-zero weight (what the model file stores).
    pub fn non_zero_buckets(&self) -> usize {
        self.weights
            .iter()
            .filter(|w| w.iter().any(|x| *x != 0.0))
            .count()
    }
}

/// The logistic function.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Softmax of three logits, stable for large values.
#[inline]
pub fn softmax(z: [f32; 3]) -> [f32; 3] {
    let max = z[0].max(z[1]).max(z[2]);
    let e = z.map(|x| (x - max).exp());
    let sum = e[0] + e[1] + e[2];
    e.map(|x| x / sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_model_predicts_uniform_sentiment_and_even_tension() {
        let model = Model::zeroed(Lang::NL, FeatureConfig::default(), None);
        let p = model.predict(&[HashedFeature {
            index: 5,
            value: 1.0,
        }]);
        assert!(p.sentiment.iter().all(|x| (x - 1.0 / 3.0).abs() < 1e-6));
        assert_eq!(p.tension, 0.5);
        assert_eq!(p.sentiment_score(), 0.0);
    }

    #[test]
    fn out_of_range_feature_is_ignored_not_a_panic() {
        let model = Model::zeroed(
            Lang::NL,
            FeatureConfig {
                bits: 8,
                ..Default::default()
            },
            None,
        );
        let p = model.predict(&[HashedFeature {
            index: u32::MAX,
            value: 1.0,
        }]);
        assert_eq!(p.tension, 0.5);
    }

    #[test]
    fn softmax_is_stable_and_sums_to_one() {
        let p = softmax([1000.0, 0.0, -1000.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[0] > 0.999);
    }

    #[test]
    fn label_is_the_most_probable_class() {
        let p = Prediction {
            sentiment: [0.1, 0.2, 0.7],
            tension: 0.0,
        };
        assert_eq!(p.label(), Sentiment::Pos);
        assert!((p.sentiment_score() - 0.6).abs() < 1e-6);
    }
}
