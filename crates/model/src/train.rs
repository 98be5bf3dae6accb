//! The trainer: logistic regression on hashed sparse features, by AdaGrad.
//!
//! Written here rather than with linfa on purpose: linfa's logistic regression takes
//! dense `ndarray` records, and a dense matrix of 2^20 hashed features per post is out
//! of the question. Sparse AdaGrad (as in Vowpal Wabbit and fastText) trains both
//! heads, softmax sentiment and logistic tension, in one pass over the features, and
//! an example teaches only the heads it has labels for. linfa fits the calibration
//! (see [`crate::calibrate`]) and cross-checks this trainer in the tests.
//!
//! Training is deterministic: the hold-out split is by a hash of the text and the
//! shuffle is seeded, so the same data and settings give the same model, bit for bit.

use onrust_text::hash::FeatureHash;
use onrust_text::{FeatureConfig, Featurizer, HashedFeature, Lang, Lexicon};

use crate::calibrate;
use crate::example::Example;
use crate::model::{sigmoid, softmax, Calibration, Model, ModelInfo, OUTPUTS, TENSION};

/// Settings of a training run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingConfig {
    /// How features are made.
    pub features: FeatureConfig,
    /// Passes over the data at most; the best epoch on the hold-out set is kept.
    pub epochs: u32,
    /// AdaGrad's base step.
    pub learning_rate: f32,
    /// L2 penalty per update.
    pub l2: f32,
    /// Seed of the shuffle.
    pub seed: u64,
    /// Percent of the examples held out for early stopping and calibration.
    pub holdout_percent: u8,
}

impl Default for TrainingConfig {
    /// Settings chosen on the TweetEval validation splits and the seed training split
    /// (see the model cards); they are not tuned on any test split.
    fn default() -> Self {
        Self {
            features: FeatureConfig::default(),
            epochs: 30,
            learning_rate: 0.1,
            l2: 1e-4,
            seed: 20_261_128,
            holdout_percent: 12,
        }
    }
}

/// Reported after every epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingProgress {
    /// The epoch just finished, from 1.
    pub epoch: u32,
    /// Epochs at most.
    pub epochs: u32,
    /// Mean log loss on the hold-out set (both heads), or NaN without one.
    pub holdout_loss: f64,
}

/// Why training could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// Nothing to learn from.
    #[error("no example has a sentiment or tension label")]
    NoLabels,
    /// The settings are impossible.
    #[error("invalid training settings: {0}")]
    Config(String),
}

/// The weights of the epoch with the lowest hold-out loss so far.
struct BestEpoch {
    loss: f64,
    weights: Vec<[f32; OUTPUTS]>,
    bias: [f32; OUTPUTS],
    epoch: u32,
}

struct Featurized {
    features: Vec<HashedFeature>,
    ranges: Vec<(usize, usize)>,
}

/// Trains a model for `lang`. `trained_at` and `data` are recorded in the model;
/// `progress` is called after every epoch.
pub fn train(
    lang: Lang,
    examples: &[Example],
    lexicon: Option<Lexicon>,
    config: &TrainingConfig,
    trained_at: &str,
    data: &str,
    progress: &mut dyn FnMut(TrainingProgress),
) -> Result<Model, TrainError> {
    config.features.validate().map_err(TrainError::Config)?;
    if !(config.learning_rate > 0.0 && config.l2 >= 0.0 && config.holdout_percent < 100) {
        return Err(TrainError::Config(
            "learning rate must be positive, l2 not negative, hold-out below 100%".into(),
        ));
    }
    let labelled: Vec<&Example> = examples
        .iter()
        .filter(|e| e.sentiment.is_some() || e.tension.is_some())
        .collect();
    if labelled.is_empty() {
        return Err(TrainError::NoLabels);
    }
    let featurized = featurize(lang, &labelled, &config.features, lexicon.as_ref());
    let (mut train_set, holdout): (Vec<usize>, Vec<usize>) = (0..labelled.len()).partition(|&i| {
        FeatureHash::new(0).str(&labelled[i].text).finish() % 100
            >= u64::from(config.holdout_percent)
    });
    let mut model = Model::zeroed(lang, config.features, lexicon);
    let mut squared_gradients = vec![[0f32; OUTPUTS]; config.features.buckets()];
    let mut bias_squared_gradients = [0f32; OUTPUTS];
    let mut rng = fastrand::Rng::with_seed(config.seed);
    let mut best: Option<BestEpoch> = None;
    for epoch in 1..=config.epochs {
        rng.shuffle(&mut train_set);
        for &i in &train_set {
            let (start, end) = featurized.ranges[i];
            let features = &featurized.features[start..end];
            let gradient = gradient(&model, features, labelled[i]);
            update(
                &mut model,
                &mut squared_gradients,
                &mut bias_squared_gradients,
                features,
                &gradient,
                config,
            );
        }
        let holdout_loss = mean_loss(&model, &featurized, &labelled, &holdout);
        progress(TrainingProgress {
            epoch,
            epochs: config.epochs,
            holdout_loss,
        });
        // Without a hold-out set (or its labels) the last epoch is kept.
        let improved = best.as_ref().is_none_or(|b| holdout_loss < b.loss);
        if improved && holdout_loss.is_finite() {
            best = Some(BestEpoch {
                loss: holdout_loss,
                weights: model.weights.clone(),
                bias: model.bias,
                epoch,
            });
        }
    }
    model.info.epochs = config.epochs;
    if let Some(best) = best {
        model.weights = best.weights;
        model.bias = best.bias;
        model.info.epochs = best.epoch;
    }
    model.calibration = calibration(&model, &featurized, &labelled, &holdout);
    model.info = ModelInfo {
        trained_at: trained_at.to_string(),
        sentiment_examples: labelled.iter().filter(|e| e.sentiment.is_some()).count(),
        tension_examples: labelled.iter().filter(|e| e.tension.is_some()).count(),
        tension_positives: labelled.iter().filter(|e| e.tension == Some(true)).count(),
        epochs: model.info.epochs,
        data: data.to_string(),
    };
    Ok(model)
}

fn featurize(
    lang: Lang,
    examples: &[&Example],
    config: &FeatureConfig,
    lexicon: Option<&Lexicon>,
) -> Featurized {
    let mut featurizer = Featurizer::new();
    let mut out = Featurized {
        features: Vec::new(),
        ranges: Vec::with_capacity(examples.len()),
    };
    for example in examples {
        featurizer.tokenize(&example.text);
        let start = out.features.len();
        out.features.extend_from_slice(featurizer.extract(
            example.lang.unwrap_or(lang),
            config,
            lexicon,
        ));
        out.ranges.push((start, out.features.len()));
    }
    out
}

/// d(loss)/d(logit) for each head; zero for heads the example has no label for.
fn gradient(model: &Model, features: &[HashedFeature], example: &Example) -> [f32; OUTPUTS] {
    let z = model.logits(features);
    let mut g = [0f32; OUTPUTS];
    if let Some(sentiment) = example.sentiment {
        let p = softmax([z[0], z[1], z[2]]);
        for k in 0..3 {
            g[k] = p[k] - if k == sentiment.index() { 1.0 } else { 0.0 };
        }
    }
    if let Some(tension) = example.tension {
        g[TENSION] = sigmoid(z[TENSION]) - if tension { 1.0 } else { 0.0 };
    }
    g
}

fn update(
    model: &mut Model,
    squared: &mut [[f32; OUTPUTS]],
    bias_squared: &mut [f32; OUTPUTS],
    features: &[HashedFeature],
    gradient: &[f32; OUTPUTS],
    config: &TrainingConfig,
) {
    const EPSILON: f32 = 1e-8;
    for feature in features {
        let index = feature.index as usize;
        let (w, g2) = (&mut model.weights[index], &mut squared[index]);
        for k in 0..OUTPUTS {
            if gradient[k] == 0.0 {
                continue;
            }
            let g = gradient[k] * feature.value + config.l2 * w[k];
            g2[k] += g * g;
            w[k] -= config.learning_rate * g / (g2[k].sqrt() + EPSILON);
        }
    }
    for k in 0..OUTPUTS {
        if gradient[k] != 0.0 {
            bias_squared[k] += gradient[k] * gradient[k];
            model.bias[k] -=
                config.learning_rate * gradient[k] / (bias_squared[k].sqrt() + EPSILON);
        }
    }
}

fn mean_loss(model: &Model, data: &Featurized, examples: &[&Example], subset: &[usize]) -> f64 {
    let mut total = 0f64;
    let mut count = 0usize;
    for &i in subset {
        let (start, end) = data.ranges[i];
        let z = model.logits(&data.features[start..end]);
        if let Some(sentiment) = examples[i].sentiment {
            let p = softmax([z[0], z[1], z[2]]);
            total -= f64::from(p[sentiment.index()].max(1e-7)).ln();
            count += 1;
        }
        if let Some(tension) = examples[i].tension {
            let p = sigmoid(z[TENSION]);
            total -= f64::from(if tension { p } else { 1.0 - p }.max(1e-7)).ln();
            count += 1;
        }
    }
    if count == 0 {
        f64::NAN
    } else {
        total / count as f64
    }
}

fn calibration(
    model: &Model,
    data: &Featurized,
    examples: &[&Example],
    holdout: &[usize],
) -> Calibration {
    let mut sentiment_logits = Vec::new();
    let mut sentiment_classes = Vec::new();
    let mut tension_logits = Vec::new();
    let mut tension_outcomes = Vec::new();
    for &i in holdout {
        let (start, end) = data.ranges[i];
        let z = model.logits(&data.features[start..end]);
        if let Some(sentiment) = examples[i].sentiment {
            sentiment_logits.push([z[0], z[1], z[2]]);
            sentiment_classes.push(sentiment.index());
        }
        if let Some(tension) = examples[i].tension {
            tension_logits.push(z[TENSION]);
            tension_outcomes.push(tension);
        }
    }
    let (tension_slope, tension_intercept) =
        calibrate::platt(&tension_logits, &tension_outcomes).unwrap_or((1.0, 0.0));
    Calibration {
        sentiment_temperature: calibrate::temperature(&sentiment_logits, &sentiment_classes),
        tension_slope,
        tension_intercept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::example::Sentiment;

    pub(crate) fn toy_examples() -> Vec<Example> {
        let tense = [
            "iedereen vanavond naar het plein, neem stenen mee",
            "we pakken die politie vanavond",
            "auto's in de fik bij het station, ME is er",
            "kom allemaal om 21:00, we slopen alles",
            "stenen naar de politie gegooid hier",
            "vanavond rellen in de wijk, iedereen komen",
        ];
        let calm = [
            "wat een mooie dag in het park",
            "lekker gegeten vanavond, top restaurant",
            "de trein is weer te laat, balen",
            "gefeliciteerd met je verjaardag!",
            "mooi concert gisteren, heerlijk",
            "de markt is gezellig vandaag",
        ];
        let mut examples = Vec::new();
        for round in 0..20 {
            for text in tense {
                examples.push(Example {
                    text: format!("{text} {round}"),
                    lang: Some(Lang::NL),
                    sentiment: Some(Sentiment::Neg),
                    tension: Some(true),
                });
            }
            for (i, text) in calm.iter().enumerate() {
                examples.push(Example {
                    text: format!("{text} {round}"),
                    lang: Some(Lang::NL),
                    sentiment: Some(if i == 2 {
                        Sentiment::Neg
                    } else {
                        Sentiment::Pos
                    }),
                    tension: Some(false),
                });
            }
        }
        examples
    }

    fn small_config() -> TrainingConfig {
        TrainingConfig {
            features: FeatureConfig {
                bits: 16,
                ..FeatureConfig::default()
            },
            epochs: 5,
            ..TrainingConfig::default()
        }
    }

    #[test]
    fn learns_a_separable_toy_problem() {
        let model = train(
            Lang::NL,
            &toy_examples(),
            None,
            &small_config(),
            "2026-11-28",
            "toy",
            &mut |_| {},
        )
        .expect("trains");
        let mut featurizer = Featurizer::new();
        let mut predict = |text: &str| {
            featurizer.tokenize(text);
            model.predict(featurizer.extract(Lang::NL, &model.features, None))
        };
        assert!(predict("vanavond iedereen stenen naar de politie").tension > 0.7);
        assert!(predict("mooie dag, lekker gegeten").tension < 0.3);
        assert_eq!(predict("mooie dag, lekker gegeten").label(), Sentiment::Pos);
    }

    #[test]
    fn training_is_deterministic() {
        let examples = toy_examples();
        let config = small_config();
        let a = train(Lang::NL, &examples, None, &config, "d", "toy", &mut |_| {}).expect("trains");
        let b = train(Lang::NL, &examples, None, &config, "d", "toy", &mut |_| {}).expect("trains");
        assert_eq!(a, b);
    }

    #[test]
    fn reports_progress_every_epoch() {
        let mut epochs = Vec::new();
        train(
            Lang::NL,
            &toy_examples(),
            None,
            &small_config(),
            "d",
            "toy",
            &mut |p| epochs.push(p.epoch),
        )
        .expect("trains");
        assert_eq!(epochs, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn an_unlabelled_head_stays_untrained() {
        let examples: Vec<Example> = toy_examples()
            .into_iter()
            .map(|e| Example {
                sentiment: None,
                ..e
            })
            .collect();
        let model = train(
            Lang::NL,
            &examples,
            None,
            &small_config(),
            "d",
            "toy",
            &mut |_| {},
        )
        .expect("trains");
        assert!(model
            .weights
            .iter()
            .all(|w| w[..3].iter().all(|x| *x == 0.0)));
        assert_eq!(model.info.sentiment_examples, 0);
    }

    #[test]
    fn refuses_unlabelled_data_and_bad_settings() {
        let unlabelled = vec![Example {
            text: "x".into(),
            lang: None,
            sentiment: None,
            tension: None,
        }];
        assert!(matches!(
            train(
                Lang::NL,
                &unlabelled,
                None,
                &small_config(),
                "d",
                "",
                &mut |_| {}
            ),
            Err(TrainError::NoLabels)
        ));
        let bad = TrainingConfig {
            learning_rate: 0.0,
            ..small_config()
        };
        assert!(matches!(
            train(Lang::NL, &toy_examples(), None, &bad, "d", "", &mut |_| {}),
            Err(TrainError::Config(_))
        ));
    }
}
