//! Reading labelled JSONL files for `train` and `eval`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{Context, Result};
use onrust_model::Example;

use crate::UsageError;

/// Reads every example of `path`; a bad line is an error naming the file and line.
pub fn read_examples(path: &Path) -> Result<Vec<Example>> {
    let file =
        File::open(path).map_err(|e| UsageError(format!("--data {}: {e}", path.display())))?;
    let mut examples = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}: reading", path.display(), index + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let example = Example::from_json_line(&line)
            .map_err(|e| UsageError(format!("{}:{}: {e}", path.display(), index + 1)))?;
        examples.push(example);
    }
    Ok(examples)
}
