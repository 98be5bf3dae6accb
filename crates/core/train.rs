//! `onrust train`: labelled JSONL in, a model directory out.

use std::collections::BTreeMap;
use std::fs;
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use onrust_model::format::encode;
use onrust_model::{train, TrainingConfig};
use onrust_text::{FeatureConfig, Lang, Lexicon};
use serde::Serialize;

use crate::data::read_examples;
use crate::models::MODEL_FILE;
use crate::{parse_lang, UsageError};

/// Train a sentiment and tension model from labelled JSONL.
///
/// Reads lines `{"text", "lang"?, "sentiment"?: "neg"|"neu"|"pos", "tension"?: 0|1}`
/// (other fields are ignored; a line may carry either label or both). Writes
/// OUT/onrust.model (the model) and OUT/training.json (settings, data counts and the
/// hold-out loss of every epoch). Shows progress on a terminal and prints a one-line
/// summary. Same data and settings give the same model, bit for bit.
#[derive(Args)]
pub struct TrainArgs {
    /// Labelled JSONL; repeat to train on several files.
    #[arg(long, value_name = "FILE", required = true)]
    data: Vec<PathBuf>,
    /// Directory to write the model to (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The model's language; by default the most common `lang` of the data.
    #[arg(long, value_name = "CODE", value_parser = parse_lang)]
    lang: Option<Lang>,
    /// A sentiment lexicon to feed features: VADER's `.txt` or Pattern's `.xml`.
    #[arg(long, value_name = "FILE")]
    lexicon: Option<PathBuf>,
    /// Passes over the data at most (the best on the hold-out set is kept).
    #[arg(long, default_value_t = TrainingConfig::default().epochs)]
    epochs: u32,
    /// AdaGrad learning rate.
    #[arg(long, default_value_t = TrainingConfig::default().learning_rate)]
    learning_rate: f32,
    /// L2 penalty.
    #[arg(long, default_value_t = TrainingConfig::default().l2)]
    l2: f32,
    /// log2 of the number of feature buckets.
    #[arg(long, default_value_t = FeatureConfig::default().bits)]
    bits: u8,
    /// Shortest character n-gram (0: none).
    #[arg(long, default_value_t = FeatureConfig::default().char_ngram_min)]
    char_ngram_min: u8,
    /// Longest character n-gram.
    #[arg(long, default_value_t = FeatureConfig::default().char_ngram_max)]
    char_ngram_max: u8,
    /// Percent of the data held out for early stopping and calibration.
    #[arg(long, default_value_t = TrainingConfig::default().holdout_percent)]
    holdout_percent: u8,
    /// Shuffle seed.
    #[arg(long, default_value_t = TrainingConfig::default().seed)]
    seed: u64,
    /// A line on where the data came from, recorded in the model.
    #[arg(long, default_value = "")]
    description: String,
}

#[derive(Serialize)]
struct TrainingRecord<'a> {
    lang: &'a str,
    trained_at: &'a str,
    data_files: Vec<String>,
    examples: usize,
    sentiment_examples: usize,
    tension_examples: usize,
    tension_positives: usize,
    best_epoch: u32,
    holdout_loss_by_epoch: Vec<f64>,
    epochs: u32,
    learning_rate: f32,
    l2: f32,
    bits: u8,
    char_ngrams: [u8; 2],
    word_bigrams: bool,
    holdout_percent: u8,
    seed: u64,
    lexicon_entries: usize,
    calibration: onrust_model::Calibration,
    model_bytes: usize,
}

/// `onrust train`: trains the classifiers and writes the model directory.
pub fn run(args: &TrainArgs) -> Result<()> {
    let mut examples = Vec::new();
    for path in &args.data {
        examples.extend(read_examples(path)?);
    }
    let lang = match args.lang {
        Some(lang) => lang,
        None => majority_lang(&examples).ok_or_else(|| {
            UsageError("the data has no `lang` field: say the model's language with --lang".into())
        })?,
    };
    let lexicon = match &args.lexicon {
        None => None,
        Some(path) => {
            let text = fs::read_to_string(path)
                .map_err(|e| UsageError(format!("--lexicon {}: {e}", path.display())))?;
            let parsed = if path.extension().is_some_and(|e| e == "xml") {
                Lexicon::parse_pattern_xml(&text)
            } else {
                Lexicon::parse_vader(&text)
            };
            Some(parsed.with_context(|| format!("--lexicon {}", path.display()))?)
        }
    };
    let config = TrainingConfig {
        features: FeatureConfig {
            bits: args.bits,
            char_ngram_min: args.char_ngram_min,
            char_ngram_max: args.char_ngram_max,
            ..FeatureConfig::default()
        },
        epochs: args.epochs,
        learning_rate: args.learning_rate,
        l2: args.l2,
        seed: args.seed,
        holdout_percent: args.holdout_percent,
    };
    let trained_at = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let terminal = std::io::stderr().is_terminal();
    let mut losses = Vec::new();
    let model = train(
        lang,
        &examples,
        lexicon,
        &config,
        &trained_at,
        &args.description,
        &mut |progress| {
            losses.push(progress.holdout_loss);
            if terminal {
                eprint!(
                    "\rtraining {lang}: epoch {}/{}, hold-out loss {:.4}   ",
                    progress.epoch, progress.epochs, progress.holdout_loss
                );
            }
        },
    )
    .map_err(|e| UsageError(e.to_string()))?;
    if terminal {
        eprintln!();
    }
    let bytes = encode(&model);
    fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let model_path = args.out.join(MODEL_FILE);
    fs::write(&model_path, &bytes).with_context(|| format!("writing {}", model_path.display()))?;
    let record = TrainingRecord {
        lang: lang.as_str(),
        trained_at: &trained_at,
        data_files: args.data.iter().map(|p| p.display().to_string()).collect(),
        examples: examples.len(),
        sentiment_examples: model.info.sentiment_examples,
        tension_examples: model.info.tension_examples,
        tension_positives: model.info.tension_positives,
        best_epoch: model.info.epochs,
        holdout_loss_by_epoch: losses,
        epochs: config.epochs,
        learning_rate: config.learning_rate,
        l2: config.l2,
        bits: config.features.bits,
        char_ngrams: [
            config.features.char_ngram_min,
            config.features.char_ngram_max,
        ],
        word_bigrams: config.features.word_bigrams,
        holdout_percent: config.holdout_percent,
        seed: config.seed,
        lexicon_entries: model.lexicon.as_ref().map_or(0, |l| l.len()),
        calibration: model.calibration,
        model_bytes: bytes.len(),
    };
    let record_path = args.out.join("training.json");
    fs::write(&record_path, serde_json::to_string_pretty(&record)? + "\n")
        .with_context(|| format!("writing {}", record_path.display()))?;
    println!(
        "trained {lang} model on {} examples ({} sentiment, {} tension of which {} positive), best epoch {}: {} ({:.1} MiB)",
        examples.len(),
        model.info.sentiment_examples,
        model.info.tension_examples,
        model.info.tension_positives,
        model.info.epochs,
        model_path.display(),
        bytes.len() as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

fn majority_lang(examples: &[onrust_model::Example]) -> Option<Lang> {
    let mut counts: BTreeMap<Lang, usize> = BTreeMap::new();
    for lang in examples.iter().filter_map(|e| e.lang) {
        *counts.entry(lang).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(lang, _)| lang)
}
