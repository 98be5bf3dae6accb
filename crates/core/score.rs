//! `onrust score`: standard input to standard output, one line each.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use onrust_model::Score;
use onrust_text::Lang;
use serde::{Deserialize, Serialize};

use crate::lines::Lines;
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

/// Appends `x` with four decimals, trailing zeros dropped (`0.5`, `-0.9822`, `1`):
/// more digits are noise, fewer hide differences. Written by hand because this line
/// is the whole output of `score`, and a general float formatter costs more than a
/// good part of scoring the post.
fn push_decimal(line: &mut Vec<u8>, x: f32) {
    let scaled = (f64::from(x) * 10_000.0).round() as i64;
    if scaled < 0 {
        line.push(b'-');
    }
    let (whole, fraction) = (
        scaled.unsigned_abs() / 10_000,
        scaled.unsigned_abs() % 10_000,
    );
    push_digits(line, whole);
    if fraction != 0 {
        line.push(b'.');
        let mut digits = [b'0'; 4];
        let mut rest = fraction;
        for digit in digits.iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        let significant = 4 - digits.iter().rev().take_while(|d| **d == b'0').count();
        line.extend_from_slice(&digits[..significant]);
    }
}

/// Appends the decimal digits of `n`.
fn push_digits(line: &mut Vec<u8>, n: u64) {
    if n >= 10 {
        push_digits(line, n / 10);
    }
    line.push(b'0' + (n % 10) as u8);
}

/// `onrust score`: one score line per input line, streaming.
pub fn run(args: &ScoreArgs) -> Result<()> {
    let mut scorer = models::scorer(args.model.as_deref(), "--model")?;
    let mut input = Lines::new(io::BufReader::with_capacity(1 << 16, io::stdin().lock()));
    let mut output = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut result_line = Vec::with_capacity(128);
    while let Some((number, raw)) = input.next_line().context("reading standard input")? {
        let outcome = std::str::from_utf8(raw).map_err(|_| "line is not valid UTF-8".to_string());
        let written = match outcome {
            Ok(line) if args.jsonl => match serde_json::from_str::<JsonPost>(line) {
                Ok(post) if post.text.trim().is_empty() => {
                    write_error(&mut output, number, "`text` is empty")
                }
                Ok(post) => {
                    let hint = post.lang.as_deref().and_then(Lang::from_code);
                    let score = scorer.score(&post.text, hint);
                    write_score(&mut output, &mut result_line, post.id.as_ref(), &score)
                }
                Err(error) => write_error(&mut output, number, &format!("not a post: {error}")),
            },
            Ok(line) if line.trim().is_empty() => write_error(&mut output, number, "empty line"),
            Ok(line) => {
                let score = scorer.score(line, None);
                write_score(&mut output, &mut result_line, None, &score)
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
    line: &mut Vec<u8>,
    id: Option<&serde_json::Value>,
    score: &Score,
) -> io::Result<()> {
    line.clear();
    line.push(b'{');
    if let Some(id) = id {
        line.extend_from_slice(b"\"id\":");
        serde_json::to_writer(&mut *line, id)?;
        line.push(b',');
    }
    // Language codes and labels are plain ASCII letters: no escaping needed.
    line.extend_from_slice(b"\"lang\":\"");
    line.extend_from_slice(score.lang.as_str().as_bytes());
    line.extend_from_slice(b"\",\"sentiment\":");
    push_decimal(line, score.sentiment);
    line.extend_from_slice(b",\"label\":\"");
    line.extend_from_slice(score.label.as_str().as_bytes());
    line.extend_from_slice(b"\",\"tension\":");
    push_decimal(line, score.tension);
    line.extend_from_slice(b"}\n");
    out.write_all(line)
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
        push_decimal(&mut out, x);
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
        assert_eq!(decimal(12.5), "12.5");
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
        write_score(
            &mut out,
            &mut Vec::new(),
            Some(&serde_json::json!("a\"b")),
            &score,
        )
        .expect("write");
        let value: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(
            value,
            serde_json::json!({"id": "a\"b", "lang": "nl", "sentiment": -0.25, "label": "neg", "tension": 0.75})
        );
    }
}
