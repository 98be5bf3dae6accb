//! Cross-check of the hand-written sparse trainer against linfa's logistic regression
//! (dense L-BFGS) on the same hashed features of the Dutch seed set: both must reach
//! similar held-out accuracy and mostly agree post by post. A trainer bug (a wrong
//! gradient sign, a broken update) shows up here as a large gap.

use std::fs;
use std::path::Path;

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use onrust_model::{train, Example, TrainingConfig};
use onrust_text::{FeatureConfig, Featurizer, Lang};

fn seed(file: &str) -> Vec<Example> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/seed/nl")
        .join(file);
    fs::read_to_string(path)
        .expect("seed set")
        .lines()
        .map(|line| Example::from_json_line(line).expect("valid seed line"))
        .map(|e| Example {
            sentiment: None,
            ..e
        })
        .collect()
}

fn dense(examples: &[Example], config: &FeatureConfig) -> Array2<f64> {
    let mut featurizer = Featurizer::new();
    let mut records = Array2::zeros((examples.len(), config.buckets()));
    for (row, example) in examples.iter().enumerate() {
        featurizer.tokenize(&example.text);
        for feature in featurizer.extract(Lang::NL, config, None) {
            records[(row, feature.index as usize)] += f64::from(feature.value);
        }
    }
    records
}

#[test]
fn sparse_trainer_agrees_with_linfa() {
    let (train_set, test_set) = (seed("writer-a.jsonl"), seed("writer-b.jsonl"));
    let features = FeatureConfig {
        bits: 10,
        char_ngram_min: 0,
        char_ngram_max: 0,
        word_bigrams: false,
    };
    let truth: Vec<bool> = test_set.iter().map(|e| e.tension == Some(true)).collect();

    let targets = Array1::from_iter(train_set.iter().map(|e| e.tension == Some(true)));
    let linfa_model = LogisticRegression::default()
        .alpha(1e-3)
        .max_iterations(300)
        .fit(&Dataset::new(dense(&train_set, &features), targets))
        .expect("linfa fits");
    let linfa_predictions: Vec<bool> = linfa_model.predict(&dense(&test_set, &features)).to_vec();

    let config = TrainingConfig {
        features,
        holdout_percent: 0,
        epochs: 20,
        ..TrainingConfig::default()
    };
    let ours = train(
        Lang::NL,
        &train_set,
        None,
        &config,
        "test",
        "seed nl",
        &mut |_| {},
    )
    .expect("trains");
    let mut featurizer = Featurizer::new();
    let our_predictions: Vec<bool> = test_set
        .iter()
        .map(|e| {
            featurizer.tokenize(&e.text);
            ours.predict(featurizer.extract(Lang::NL, &features, None))
                .tension
                >= 0.5
        })
        .collect();

    let accuracy = |p: &[bool]| {
        p.iter().zip(&truth).filter(|(a, b)| a == b).count() as f64 / truth.len() as f64
    };
    let agreement = our_predictions
        .iter()
        .zip(&linfa_predictions)
        .filter(|(a, b)| a == b)
        .count() as f64
        / truth.len() as f64;
    let (ours_accuracy, linfa_accuracy) =
        (accuracy(&our_predictions), accuracy(&linfa_predictions));
    assert!(
        linfa_accuracy > 0.75,
        "linfa itself learnt little: {linfa_accuracy:.3}"
    );
    assert!(
        (ours_accuracy - linfa_accuracy).abs() < 0.05,
        "held-out accuracy: ours {ours_accuracy:.3}, linfa {linfa_accuracy:.3}"
    );
    assert!(
        agreement > 0.85,
        "the two agree on only {agreement:.3} of the posts"
    );
}
