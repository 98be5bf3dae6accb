//! What the end-to-end benches (`kafka`, `soak`) share: their options, the
//! scenarios' post texts, and quantiles read from a Prometheus text exposition.

use crate::support::root;

/// The number after `name` on the bench's command line, if given.
pub fn option(name: &str) -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number, not {v:?}"))
        })
}

/// Every post text of the scenarios in `tests/scenarios`, sorted.
pub fn scenario_texts() -> Vec<String> {
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(root().join("tests/scenarios")).expect("scenarios") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".jsonl") && !name.ends_with(".expected.jsonl") {
            for line in std::fs::read_to_string(&path).expect("scenario").lines() {
                let value: serde_json::Value = serde_json::from_str(line).expect("JSON");
                texts.push(value["text"].as_str().expect("text").to_string());
            }
        }
    }
    texts.sort();
    texts
}

/// The upper bound of the histogram bucket where the cumulative count reaches `q`
/// (a histogram with one series: other labels are ignored).
pub fn quantile(text: &str, name: &str, q: f64) -> Option<f64> {
    bucket_quantile(&buckets(text, name), q)
}

/// As [`quantile`], over the observations between two scrapes only: that
/// interval's quantile, not the whole run's.
pub fn delta_quantile(before: &str, after: &str, name: &str, q: f64) -> Option<f64> {
    let old = buckets(before, name);
    let deltas: Vec<(f64, f64)> = buckets(after, name)
        .into_iter()
        .map(|(bound, count)| {
            let earlier = old
                .iter()
                .find(|(b, _)| *b == bound)
                .map_or(0.0, |(_, c)| *c);
            (bound, count - earlier)
        })
        .collect();
    bucket_quantile(&deltas, q)
}

/// A histogram's cumulative buckets: (upper bound, count).
fn buckets(text: &str, name: &str) -> Vec<(f64, f64)> {
    let prefix = format!("{name}_bucket{{");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (labels, count) = rest.split_once("} ")?;
            let bound = labels.split_once("le=\"")?.1.split_once('"')?.0;
            Some((bound.parse().ok()?, count.parse().ok()?))
        })
        .collect()
}

fn bucket_quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    buckets
        .iter()
        .find(|(_, count)| *count >= q * total)
        .map(|(bound, _)| *bound)
}
