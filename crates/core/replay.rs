//! `onrust replay`: the pipeline of `run`, driven by a file in event time.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use onrust_signal::engine::{AlertEvent, Engine, ScoredPost};
use onrust_signal::{decode, Areas};
use serde::Serialize;

use crate::lines::Lines;
use crate::settings::Settings;
use crate::{models, UsageError};

/// Replay a file of posts through the alerting pipeline, in event time.
///
/// Reads the configuration (`--config`, as for `run`) and INPUT: one JSON post per
/// line (contract section 1). Writes every alert event (contract section 5) as one
/// JSON line to standard output, in event-time order; the same input gives the same
/// output, byte for byte. Rejected lines go to the dead-letter file (or standard
/// error) with their reason; a one-line summary goes to standard error.
#[derive(Args)]
pub struct ReplayArgs {
    /// The configuration file.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Posts, one JSON object per line.
    #[arg(value_name = "INPUT.jsonl")]
    input: PathBuf,
    /// Where rejected lines go (JSONL with `line`, `reason`, `message`); default:
    /// standard error.
    #[arg(long, value_name = "FILE")]
    dead_letters: Option<PathBuf>,
}

#[derive(Serialize)]
struct DeadLetter<'a> {
    line: u64,
    reason: &'a str,
    message: &'a str,
}

pub fn run(args: &ReplayArgs) -> Result<()> {
    let settings = Settings::load(&args.config)?;
    let mut scorer = models::scorer(settings.model.dir.as_deref())?;
    let areas = match &settings.areas.file {
        None => Areas::empty(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| UsageError(format!("areas.file {}: {e}", path.display())))?;
            Areas::from_geojson(&text)
                .map_err(|e| UsageError(format!("areas.file {}: {e}", path.display())))?
        }
    };
    let input = File::open(&args.input)
        .map_err(|e| UsageError(format!("{}: {e}", args.input.display())))?;
    let mut dead: Box<dyn Write> = match &args.dead_letters {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(io::stderr().lock()),
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let mut engine = Engine::new(settings.engine());
    let limits = settings.limits();
    let mut events: Vec<AlertEvent> = Vec::new();
    let mut lines = Lines::new(BufReader::new(input));
    let (mut number, mut rejected) = (0u64, 0u64);
    // A post without `created_at` takes the time of the post before it: replay has
    // no arrival clock, and this keeps the output deterministic.
    let mut last_time_ms = 0i64;
    while let Some((line_number, line)) = lines.next_line().context("reading input")? {
        number = line_number;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let post = match decode(line, &limits, None, last_time_ms) {
            Ok(post) => post,
            Err(reason) => {
                rejected += 1;
                let message = String::from_utf8_lossy(line);
                serde_json::to_writer(
                    &mut dead,
                    &DeadLetter {
                        line: number,
                        reason: reason.as_str(),
                        message: &message,
                    },
                )?;
                dead.write_all(b"\n")?;
                continue;
            }
        };
        last_time_ms = post.event_time_ms;
        let score = scorer.score(&post.text, post.lang);
        let (area, located) = areas.locate(&post);
        engine.add(
            &ScoredPost {
                id: &post.id,
                text: &post.text,
                event_time_ms: post.event_time_ms,
                area,
                located,
                tension: score.tension,
                sentiment: score.sentiment,
                negative: score.label == onrust_model::Sentiment::Neg,
            },
            &mut events,
        );
        write_events(&mut out, &mut events)?;
    }
    engine.finish(&mut events);
    write_events(&mut out, &mut events)?;
    out.flush()?;
    dead.flush()?;
    let counters = engine.counters();
    eprintln!(
        "replayed {number} lines: {} posts in areas, {} unresolved, {} late, {rejected} rejected",
        counters.aggregated, counters.unresolved, counters.late
    );
    Ok(())
}

fn write_events(out: &mut impl Write, events: &mut Vec<AlertEvent>) -> Result<()> {
    for event in events.drain(..) {
        serde_json::to_writer(&mut *out, &event)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
