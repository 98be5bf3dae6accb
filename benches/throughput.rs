//! End-to-end scoring throughput, in process: every post of a JSONL file through
//! language identification (or its `lang`), tokenization, features and both heads
//! of the shipped models, on the calling thread.
//!
//! Run: `cargo bench --bench throughput -- FILE.jsonl` (lines `{"text", "lang"?}`);
//! pin it to one core with `taskset -c 0`. Prints one JSON line with posts per
//! second, best of three passes, with the language detected and with it given.
//! `benches/accuracy.py` runs it on the same posts it gives fastText.

mod support;

use std::fs;
use std::hint::black_box;
use std::time::Instant;

use onrust_text::Lang;

fn main() {
    // cargo passes `--bench` to benchmark binaries; the file is the other argument.
    let Some(file) = std::env::args().skip(1).find(|a| !a.starts_with("--")) else {
        eprintln!("usage: cargo bench --bench throughput -- FILE.jsonl");
        std::process::exit(2);
    };
    let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {file}: {e}"));
    let posts: Vec<(String, Option<Lang>)> = text
        .lines()
        .map(|line| {
            let value: serde_json::Value =
                serde_json::from_str(line).expect("a JSON post per line");
            let text = value["text"].as_str().expect("post has text").to_string();
            (text, value["lang"].as_str().and_then(Lang::from_code))
        })
        .collect();
    let mut scorer = support::shipped_scorer();
    let mut best_per_second = |given: bool| {
        (0..3)
            .map(|_| {
                let start = Instant::now();
                for (text, lang) in &posts {
                    black_box(scorer.score(black_box(text), if given { *lang } else { None }));
                }
                posts.len() as f64 / start.elapsed().as_secs_f64()
            })
            .fold(0f64, f64::max)
    };
    let detect = best_per_second(false);
    let given = best_per_second(true);
    println!(
        "{}",
        serde_json::json!({"posts": posts.len(), "detect_per_second": detect.round(), "given_per_second": given.round()})
    );
}
