//! `onrust train` and `onrust eval` round trip, and their errors.

use std::path::Path;
use std::process::Output;

use crate::support::{root, run, stderr, TempDir};

/// Runs `onrust train` on `data` into `out` for `epochs` epochs.
fn train(data: &Path, out: &Path, epochs: &str) -> Output {
    let (data, out) = (data.display().to_string(), out.display().to_string());
    run(
        &["train", "--data", &data, "--out", &out, "--epochs", epochs],
        b"",
    )
}

#[test]
fn trains_a_model_that_eval_and_score_can_use() {
    let dir = TempDir::new("train-eval");
    let out = dir.path().join("model");
    let data = root().join("models/seed/nl/writer-a.jsonl");
    let output = train(&data, &out, "5");
    assert!(output.status.success(), "{}", stderr(&output));
    let summary = String::from_utf8_lossy(&output.stdout);
    assert_eq!(summary.lines().count(), 1, "one-line summary: {summary}");
    assert!(summary.contains("trained nl model"), "{summary}");
    assert!(out.join("onrust.model").is_file());
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("training.json")).expect("training.json"))
            .expect("JSON");
    assert_eq!(record["lang"], "nl");
    assert_eq!(
        record["holdout_loss_by_epoch"].as_array().map(Vec::len),
        Some(5)
    );

    let test = root().join("models/seed/nl/writer-b.jsonl");
    let output = run(
        &[
            "eval",
            "--model",
            &out.display().to_string(),
            "--data",
            &test.display().to_string(),
        ],
        b"",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("eval JSON");
    let summary = stderr(&output);
    assert!(
        summary.starts_with("evaluated 582 posts: sentiment macro-F1 0."),
        "{summary}"
    );
    for task in ["sentiment", "tension"] {
        let accuracy = report[task]["accuracy"].as_f64().expect("accuracy");
        let macro_f1 = report[task]["macro_f1"].as_f64().expect("macro_f1");
        assert!(accuracy > 0.5 && macro_f1 > 0.4, "{task}: {}", report[task]);
        let classes = report[task]["classes"].as_object().expect("classes");
        assert!(classes
            .values()
            .all(|c| c["precision"].is_number() && c["recall"].is_number()));
    }

    let output = run(
        &["score", "--model", &out.display().to_string()],
        "stenen naar de ME\n".as_bytes(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn training_twice_gives_the_same_model() {
    let dir = TempDir::new("train-twice");
    let data = root().join("models/seed/en/writer-c.jsonl");
    let mut models = Vec::new();
    for name in ["a", "b"] {
        let out = dir.path().join(name);
        let output = train(&data, &out, "3");
        assert!(output.status.success(), "{}", stderr(&output));
        models.push(std::fs::read(out.join("onrust.model")).expect("model"));
    }
    assert_eq!(models[0], models[1]);
}

#[test]
fn a_bad_training_line_names_file_and_line() {
    let dir = TempDir::new("bad-data");
    let data = dir.path().join("data.jsonl");
    std::fs::write(
        &data,
        "{\"text\":\"ok\",\"lang\":\"nl\",\"tension\":1}\n{\"text\":\"x\",\"tension\":7}\n",
    )
    .expect("write data");
    let out = dir.path().join("model");
    let output = run(
        &[
            "train",
            "--data",
            &data.display().to_string(),
            "--out",
            &out.display().to_string(),
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("data.jsonl:2") && message.contains("0 or 1"),
        "{message}"
    );
    assert!(!out.join("onrust.model").exists());
}

#[test]
fn missing_data_file_is_a_usage_error() {
    let output = run(&["eval", "--data", "/nonexistent/file.jsonl"], b"");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("/nonexistent/file.jsonl"));
}
