//! Scoring speed: one post through language identification, tokenization, features
//! and both heads of the shipped model, on one core.
//!
//! Run: `cargo bench --bench scoring`. The posts are a realistic mix of Dutch and
//! English: the seed sets in `models/seed/` and, when `../shared/data` is there, as
//! many TweetEval tweets (with and without a `lang` hint).

use std::fs;
use std::hint::black_box;
use std::path::Path;

mod support;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use onrust_text::{Featurizer, Lang, LanguageIdentifier};

fn posts() -> Vec<(String, Lang)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut posts = Vec::new();
    let mut add = |path: &Path, lang: Lang, limit: usize| {
        let Ok(text) = fs::read_to_string(path) else {
            eprintln!("{} not found: left out of the mix", path.display());
            return;
        };
        for line in text.lines().take(limit) {
            let value: serde_json::Value = serde_json::from_str(line).expect("line is JSON");
            let post = value["text"].as_str().expect("line has text").to_string();
            posts.push((post, lang));
        }
    };
    add(
        &root.join("models/seed/nl/writer-a.jsonl"),
        Lang::NL,
        usize::MAX,
    );
    add(
        &root.join("models/seed/en/writer-c.jsonl"),
        Lang::EN,
        usize::MAX,
    );
    let tweets = root.join("../shared/data/en/tweeteval-sentiment-test.jsonl");
    add(&tweets, Lang::EN, 2_000);
    posts
}

fn scoring(c: &mut Criterion) {
    let posts = posts();
    let mut scorer = support::shipped_scorer();
    let mut group = c.benchmark_group("score");
    group.throughput(Throughput::Elements(posts.len() as u64));
    group.bench_function("detect_language", |b| {
        b.iter(|| {
            for (text, _) in &posts {
                black_box(scorer.score(black_box(text), None));
            }
        })
    });
    group.bench_function("lang_given", |b| {
        b.iter(|| {
            for (text, lang) in &posts {
                black_box(scorer.score(black_box(text), Some(*lang)));
            }
        })
    });
    let model = &scorer.models()[0];
    let (config, lexicon) = (model.features, model.lexicon.clone());
    let mut featurizer = Featurizer::new();
    group.bench_function("tokenize_only", |b| {
        b.iter(|| {
            for (text, _) in &posts {
                featurizer.tokenize(black_box(text));
            }
        })
    });
    let identifier = LanguageIdentifier::new();
    group.bench_function("tokenize_and_identify", |b| {
        b.iter(|| {
            for (text, _) in &posts {
                featurizer.tokenize(black_box(text));
                black_box(identifier.identify(featurizer.tokens()));
            }
        })
    });
    group.bench_function("tokenize_and_features", |b| {
        b.iter(|| {
            for (text, lang) in &posts {
                featurizer.tokenize(black_box(text));
                black_box(featurizer.extract(*lang, &config, lexicon.as_ref()).len());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, scoring);
criterion_main!(benches);
