//! `onrust replay`: the pipeline of `run`, driven by a file in event time.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use onrust_signal::engine::AlertEvent;
use serde::Serialize;

use crate::lines::Lines;
use crate::pipeline::Pipeline;
use crate::settings::Settings;
use crate::UsageError;

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

/// `onrust replay`: the pipeline over a file, alert events to standard output.
pub fn run(args: &ReplayArgs) -> Result<()> {
    let settings = Settings::load(&args.config)?;
    let mut pipeline = Pipeline::new(&settings, settings.pseudonymiser_or_random()?)?;
    let input = File::open(&args.input)
        .map_err(|e| UsageError(format!("{}: {e}", args.input.display())))?;
    let mut dead: Box<dyn Write> = match &args.dead_letters {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(io::stderr().lock()),
    };
    let mut out = BufWriter::new(io::stdout().lock());
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
        match pipeline.process(0, line, None, last_time_ms, &mut events) {
            Ok(accepted) => last_time_ms = accepted.event_time_ms,
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
            }
        }
        write_events(&mut out, &mut events)?;
    }
    pipeline.finish(&mut events);
    write_events(&mut out, &mut events)?;
    out.flush()?;
    dead.flush()?;
    let counters = pipeline.engine().counters();
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
