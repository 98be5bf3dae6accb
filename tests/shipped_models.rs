//! The models compiled into `onrust`, measured on the seed sets' held-out test splits
//! (written by other authors than the training splits: see models/seed/README.md).

use std::path::Path;

use crate::support::{root, run, stderr};

fn eval(data: &Path) -> serde_json::Value {
    let output = run(&["eval", "--data", &data.display().to_string()], b"");
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("eval prints JSON")
}

#[test]
fn dutch_tension_meets_its_target_on_the_held_out_seed_split() {
    let report = eval(&root().join("models/seed/nl/writer-b.jsonl"));
    let tension = &report["tension"];
    let f1 = tension["classes"]["1"]["f1"].as_f64().expect("tension F1");
    assert!(
        f1 >= 0.85,
        "Dutch tension F1 {f1} below the 0.85 target: {tension}"
    );
    assert_eq!(
        report["languages"]["nl"], report["examples"],
        "every post identified as Dutch (lang given)"
    );
}

/// A tension of p should be right about p of the time: in every reliability bin with
/// enough posts to say, observed and predicted are close, and the expected
/// calibration error is small.
fn assert_calibrated(report: &serde_json::Value, max_ece: f64) {
    let calibration = &report["tension"]["calibration"];
    let ece = calibration["ece"].as_f64().expect("ece");
    assert!(
        ece <= max_ece,
        "expected calibration error {ece} above {max_ece}: {calibration}"
    );
    for bin in calibration["bins"].as_array().expect("bins") {
        let count = bin["count"].as_u64().expect("count");
        let gap = (bin["observed"].as_f64().expect("observed")
            - bin["mean_predicted"].as_f64().expect("predicted"))
        .abs();
        // Two standard errors of a share at 0.5 with `count` posts, plus slack for the
        // bin's width.
        let allowed = 2.0 * (0.25 / count as f64).sqrt() + 0.1;
        assert!(
            count < 30 || gap <= allowed,
            "bin {bin} is off by {gap:.3} (allowed {allowed:.3})"
        );
    }
}

#[test]
fn dutch_tension_is_calibrated_on_held_out_posts() {
    assert_calibrated(&eval(&root().join("models/seed/nl/writer-b.jsonl")), 0.08);
}

#[test]
fn english_tension_is_calibrated_on_held_out_posts() {
    assert_calibrated(&eval(&root().join("models/seed/en/writer-d.jsonl")), 0.12);
}

#[test]
fn hard_negatives_stay_below_tension_and_real_calls_above() {
    let posts = "\
deze pizza is echt bom 😍
Die show gisteren was kapot goed
We maken ze kapot zondag, Ajax kampioen!
Gelukkig nieuwjaar allemaal! Wat een vuurwerk 🎆
Rust zacht lieve opa, we zullen je missen
Iedereen om 21:00 naar het plein, neem stenen mee en bedek je gezicht
ME charge bij het station, ze gooien stenen naar de politie
Als ik die agent tegenkom steek ik hem neer
";
    let output = run(&["score"], posts.as_bytes());
    assert!(output.status.success(), "{}", stderr(&output));
    let tensions: Vec<f64> = crate::support::json_lines(&output)
        .iter()
        .map(|l| l["tension"].as_f64().expect("tension"))
        .collect();
    let (calm, tense) = tensions.split_at(5);
    assert!(
        calm.iter().all(|t| *t < 0.5),
        "hard negatives scored as tension: {calm:?}"
    );
    assert!(
        tense.iter().all(|t| *t > 0.5),
        "calls and threats missed: {tense:?}"
    );
}
