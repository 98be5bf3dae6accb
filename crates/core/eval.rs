//! `onrust eval`: a model against labelled JSONL, metrics as JSON.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use onrust_model::metrics::{
    calibration_report, classification_report, CalibrationReport, TaskReport,
};
use onrust_model::Sentiment;
use serde::Serialize;

use crate::data::read_examples;
use crate::models;

/// Evaluate models on labelled JSONL and print the metrics as JSON.
///
/// Reads the same lines as `train`. Shows progress on a terminal and a one-line
/// summary on standard error. Prints one JSON object on standard output: for each task the data
/// labels (`sentiment`, `tension`), accuracy, macro-F1, macro-recall and per-class
/// precision, recall, F1 and support; for tension also its calibration (expected
/// calibration error, Brier score, reliability bins). A post is tension when its
/// probability is at least 0.5.
#[derive(Args)]
pub struct EvalArgs {
    /// The model directory (default: the built-in models).
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Labelled JSONL.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Bins of the tension reliability diagram.
    #[arg(long, default_value_t = 10)]
    bins: usize,
}

#[derive(Serialize)]
struct TensionReport {
    #[serde(flatten)]
    classification: TaskReport,
    calibration: CalibrationReport,
}

#[derive(Serialize)]
struct EvalReport {
    examples: usize,
    models: Vec<String>,
    languages: BTreeMap<String, usize>,
    sentiment: Option<TaskReport>,
    tension: Option<TensionReport>,
}

/// How often (in posts) progress is shown on a terminal.
const PROGRESS_EVERY: usize = 5_000;

/// Posts with a tension probability at least this high count as tension.
const TENSION_THRESHOLD: f32 = 0.5;

/// `onrust eval`: scores a labelled file and prints the metrics as JSON.
pub fn run(args: &EvalArgs) -> Result<()> {
    let examples = read_examples(&args.data)?;
    let mut scorer = models::scorer(args.model.as_deref(), "--model")?;
    let mut sentiment = (Vec::new(), Vec::new());
    let mut tension = (Vec::new(), Vec::new(), Vec::new());
    let mut languages = BTreeMap::new();
    let terminal = std::io::stderr().is_terminal();
    for (done, example) in examples.iter().enumerate() {
        if terminal && done % PROGRESS_EVERY == 0 {
            eprint!("\revaluating: {done}/{} posts", examples.len());
        }
        let score = scorer.score(&example.text, example.lang);
        *languages
            .entry(score.lang.as_str().to_string())
            .or_insert(0) += 1;
        if let Some(truth) = example.sentiment {
            sentiment.0.push(truth.index());
            sentiment.1.push(score.label.index());
        }
        if let Some(truth) = example.tension {
            tension.0.push(usize::from(truth));
            tension
                .1
                .push(usize::from(score.tension >= TENSION_THRESHOLD));
            tension.2.push(score.tension);
        }
    }
    let sentiment_names = Sentiment::ALL.map(Sentiment::as_str);
    let outcomes: Vec<bool> = tension.0.iter().map(|&t| t == 1).collect();
    let report = EvalReport {
        examples: examples.len(),
        models: scorer
            .models()
            .iter()
            .map(|m| m.lang.as_str().to_string())
            .collect(),
        languages,
        sentiment: (!sentiment.0.is_empty())
            .then(|| classification_report(&sentiment.0, &sentiment.1, &sentiment_names)),
        tension: (!tension.0.is_empty()).then(|| TensionReport {
            classification: classification_report(&tension.0, &tension.1, &["0", "1"]),
            calibration: calibration_report(&tension.2, &outcomes, args.bins),
        }),
    };
    if terminal {
        eprint!("\r");
    }
    let macro_f1 =
        |task: Option<&TaskReport>| task.map_or("-".to_string(), |t| format!("{:.3}", t.macro_f1));
    eprintln!(
        "evaluated {} posts: sentiment macro-F1 {}, tension macro-F1 {}",
        report.examples,
        macro_f1(report.sentiment.as_ref()),
        macro_f1(report.tension.as_ref().map(|t| &t.classification)),
    );
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
