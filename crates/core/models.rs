//! Finding models: the ones compiled into the binary, or a `--model DIR`.
//!
//! A model directory is either one model (`DIR/onrust.model`, as `onrust train`
//! writes it) or a set of them, one per language (`DIR/<lang>/onrust.model`, like the
//! repository's `models/`).

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};
use onrust_model::format::{decode, decode_for};
use onrust_model::{Model, Scorer};
use onrust_text::Lang;

use crate::UsageError;

include!(concat!(env!("OUT_DIR"), "/embedded_models.rs"));

/// The file name of a model inside its directory.
pub const MODEL_FILE: &str = "onrust.model";

/// The models in `dir`, or the embedded ones when `dir` is `None`; `key` is how
/// the directory was given (`--model`, `model.dir`), for errors.
pub fn load(dir: Option<&Path>, key: &str) -> Result<Vec<Model>> {
    match dir {
        Some(dir) => load_dir(dir, key),
        None => load_embedded(),
    }
}

/// A scorer over the models in `dir` (or the embedded ones), given as `key`.
pub fn scorer(dir: Option<&Path>, key: &str) -> Result<Scorer> {
    Ok(Scorer::new(load(dir, key)?)?)
}

fn load_embedded() -> Result<Vec<Model>> {
    if EMBEDDED_MODELS.is_empty() {
        return Err(
            UsageError("this onrust was built without models: pass --model DIR".into()).into(),
        );
    }
    EMBEDDED_MODELS
        .iter()
        .map(|(code, bytes)| {
            let lang =
                Lang::from_code(code).with_context(|| format!("embedded model folder {code:?}"))?;
            decode_for(bytes, lang).with_context(|| format!("embedded {code} model"))
        })
        .collect()
}

fn load_dir(dir: &Path, key: &str) -> Result<Vec<Model>> {
    let single = dir.join(MODEL_FILE);
    if single.is_file() {
        let bytes = fs::read(&single).with_context(|| format!("reading {}", single.display()))?;
        return Ok(vec![
            decode(&bytes).with_context(|| format!("loading {}", single.display()))?
        ]);
    }
    let entries =
        fs::read_dir(dir).map_err(|e| UsageError(format!("{key} {}: {e}", dir.display())))?;
    let mut models = Vec::new();
    for entry in entries {
        let path = entry?.path().join(MODEL_FILE);
        if !path.is_file() {
            continue;
        }
        let folder = path
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let Some(lang) = Lang::from_code(&folder) else {
            bail!(
                "{}: a model folder must be named by its language code",
                path.display()
            );
        };
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        models
            .push(decode_for(&bytes, lang).with_context(|| format!("loading {}", path.display()))?);
    }
    if models.is_empty() {
        return Err(UsageError(format!(
            "{key} {}: no {MODEL_FILE} there nor in its language folders",
            dir.display()
        ))
        .into());
    }
    models.sort_by_key(|m| m.lang);
    Ok(models)
}
