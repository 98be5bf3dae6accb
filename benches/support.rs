//! Shared by the benchmarks: the shipped models, loaded from `models/`.

use std::fs;
use std::path::Path;

use onrust_model::format::decode_for;
use onrust_model::Scorer;
use onrust_text::Lang;

/// A scorer over the shipped Dutch and English models.
pub fn shipped_scorer() -> Scorer {
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
