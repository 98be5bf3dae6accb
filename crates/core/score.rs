//! `onrust score`: standard input to standard output, one line each.

use std::io::{self, BufRead, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use onrust_model::Score;
use onrust_text::Lang;
use serde::{Deserialize, Serialize};

use crate::models;

/// Score posts for sentiment and tension, one per line.
///
/// Reads standard input: one post's text per line (or, with --jsonl, one JSON post per
/// line, as in the Kafka topic). Writes standard output: one JSON line per input line,
/// `{"lang","sentiment","label","tension"}` (plus `id` with --jsonl), or
/// `{"line","error"}` for a line that cannot be scored. Streams: memory does not grow
/// with the input.
#[derive(Args)]
pub struct ScoreArgs {
    /// Read JSON posts (`{"id","text","lang"?,...}`) instead of plain text lines.
    #[arg(long)]
    jsonl: bool,
    /// Use the models in DIR instead of the built-in ones.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
}

#[derive(Deserialize)]
struct JsonPost {
    #[serde(default)]
    id: Option<serde_json::Value>,
    text: String,
    #[serde(default)]
    lang: Option<String>,
}

#[derive(Serialize)]
struct ErrorLine<'a> {
    line: u64,
    error: &'a str,
}

/// Writes `x` with four decimals, trailing zeros dropped (`0.5`, `-0.9822`, `1`):
/// more digits are noise, fewer hide differences. Written by hand because this line
/// is the whole output of `score` and a general float formatter costs more than
/// scoring the post.
fn write_decimal(out: &mut impl Write, x: f32) -> io::Result<()> {
    let scaled = (f64::from(x) * 10_000.0).round() as i64;
    let sign = if scaled < 0 { "-" } else { "" };
    let (whole, mut fraction) = (scaled.abs() / 10_000, scaled.abs() % 10_000);
    if fraction == 0 {
        return write!(out, "{sign}{whole}");
    }
    let mut digits = 4;
    while fraction % 10 == 0 {
        fraction /= 10;
        digits -= 1;
    }
    write!(out, "{sign}{whole}.{fraction:0digits$}")
}

pub fn run(args: &ScoreArgs) -> Result<()> {
    let mut scorer = models::scorer(args.model.as_deref())?;
    let stdin = io::stdin().lock();
    let mut input = io::BufReader::with_capacity(1 << 16, stdin);
    let mut output = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut raw = Vec::new();
    let mut number = 0u64;
    loop {
        raw.clear();
        if input
            .read_until(b'\n', &mut raw)
            .context("reading standard input")?
            == 0
        {
            break;
        }
        number += 1;
        let outcome = std::str::from_utf8(&raw)
            .map_err(|_| "line is not valid UTF-8".to_string())
            .map(|line| line.trim_end_matches(['\n', '\r']));
        let written = match outcome {
            Ok(line) if args.jsonl => match serde_json::from_str::<JsonPost>(line) {
                Ok(post) if post.text.trim().is_empty() => {
                    write_error(&mut output, number, "`text` is empty")
                }
                Ok(post) => {
                    let hint = post.lang.as_deref().and_then(Lang::from_code);
                    let score = scorer.score(&post.text, hint);
                    write_score(&mut output, post.id.as_ref(), &score)
                }
                Err(error) => write_error(&mut output, number, &format!("not a post: {error}")),
            },
            Ok(line) if line.trim().is_empty() => write_error(&mut output, number, "empty line"),
            Ok(line) => {
                let score = scorer.score(line, None);
                write_score(&mut output, None, &score)
            }
            Err(error) => write_error(&mut output, number, &error),
        };
        if let Err(error) = written {
            // A closed pipe (`onrust score | head`) is a normal end, not a failure.
            if error.kind() == io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(error).context("writing standard output");
        }
    }
    match output.flush() {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => {
            Err(error).context("writing standard output")
        }
        _ => Ok(()),
    }
}

fn write_score(
    out: &mut impl Write,
    id: Option<&serde_json::Value>,
    score: &Score,
) -> io::Result<()> {
    out.write_all(b"{")?;
    if let Some(id) = id {
        out.write_all(b"\"id\":")?;
        serde_json::to_writer(&mut *out, id)?;
        out.write_all(b",")?;
    }
    // Language codes and labels are plain ASCII letters: no escaping needed.
    write!(out, "\"lang\":\"{}\",\"sentiment\":", score.lang)?;
    write_decimal(out, score.sentiment)?;
    write!(out, ",\"label\":\"{}\",\"tension\":", score.label.as_str())?;
    write_decimal(out, score.tension)?;
    out.write_all(b"}\n")
}

fn write_error(out: &mut impl Write, line: u64, error: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &ErrorLine { line, error })?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(x: f32) -> String {
        let mut out = Vec::new();
        write_decimal(&mut out, x).expect("write to a vector");
        String::from_utf8(out).expect("ASCII")
    }

    #[test]
    fn decimals_are_rounded_to_four_places_without_trailing_zeros() {
        assert_eq!(decimal(0.5), "0.5");
        assert_eq!(decimal(-0.98217), "-0.9822");
        assert_eq!(decimal(1.0), "1");
        assert_eq!(decimal(0.0), "0");
        assert_eq!(decimal(0.00004), "0");
        assert_eq!(decimal(-0.00006), "-0.0001");
        assert_eq!(decimal(0.0101), "0.0101");
        assert_eq!(decimal(-1.0), "-1");
    }

    #[test]
    fn score_line_is_valid_json_with_the_contract_fields() {
        let score = Score {
            lang: onrust_text::Lang::NL,
            lang_method: onrust_text::lang::Method::Hint,
            model_lang: Some(onrust_text::Lang::NL),
            sentiment: -0.25,
            label: onrust_model::Sentiment::Neg,
            tension: 0.75,
        };
        let mut out = Vec::new();
        write_score(&mut out, Some(&serde_json::json!("a\"b")), &score).expect("write");
        let value: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(
            value,
            serde_json::json!({"id": "a\"b", "lang": "nl", "sentiment": -0.25, "label": "neg", "tension": 0.75})
        );
    }
}
