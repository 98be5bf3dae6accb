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
    /// Language whose model scores posts in languages without a model.
    #[arg(long, value_name = "CODE", default_value = "en", value_parser = parse_lang)]
    fallback_lang: Lang,
}

/// Parses an ISO 639-1 code for the command line.
pub fn parse_lang(code: &str) -> Result<Lang, String> {
    Lang::from_code(code).ok_or_else(|| format!("{code:?} is not an ISO 639-1 language code"))
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
struct ScoreLine<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a serde_json::Value>,
    lang: &'a str,
    sentiment: f64,
    label: &'a str,
    tension: f64,
}

#[derive(Serialize)]
struct ErrorLine<'a> {
    line: u64,
    error: &'a str,
}

/// Rounds a score to four decimals: more digits are noise, fewer hide differences.
fn rounded(x: f32) -> f64 {
    (f64::from(x) * 10_000.0).round() / 10_000.0
}

pub fn run(args: &ScoreArgs) -> Result<()> {
    let mut scorer = models::scorer(args.model.as_deref(), args.fallback_lang)?;
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
    let line = ScoreLine {
        id,
        lang: score.lang.as_str(),
        sentiment: rounded(score.sentiment),
        label: score.label.as_str(),
        tension: rounded(score.tension),
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")
}

fn write_error(out: &mut impl Write, line: u64, error: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &ErrorLine { line, error })?;
    out.write_all(b"\n")
}
