//! Scoring speed: one post through language identification, tokenization, features
//! and both heads of the shipped model, on one core.
//!
//! Run: `cargo bench --bench scoring`. The posts are a realistic mix of Dutch and
//! English from the seed sets in `models/seed/` (with and without a `lang` hint).

use std::fs;
use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use onrust_model::format::decode_for;
use onrust_model::Scorer;
use onrust_text::{Featurizer, Lang};

fn posts() -> Vec<(String, Lang)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/seed");
    let mut posts = Vec::new();
    for (lang, file) in [
        (Lang::NL, "nl/writer-a.jsonl"),
        (Lang::EN, "en/writer-c.jsonl"),
    ] {
        let text = fs::read_to_string(root.join(file)).expect("seed set present");
        for line in text.lines() {
            let value: serde_json::Value = serde_json::from_str(line).expect("seed line is JSON");
            let post = value["text"]
                .as_str()
                .expect("seed line has text")
                .to_string();
            posts.push((post, lang));
        }
    }
    posts
}

fn scorer() -> Scorer {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let models = [Lang::NL, Lang::EN]
        .into_iter()
        .map(|lang| {
            let bytes =
                fs::read(root.join(lang.as_str()).join("onrust.model")).expect("shipped model");
            decode_for(&bytes, lang).expect("valid model")
        })
        .collect();
    Scorer::new(models).expect("models")
}

fn scoring(c: &mut Criterion) {
    let posts = posts();
    let mut scorer = scorer();
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
