//! `onrust replay`: the pipeline of `run`, driven by a file in event time.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use onrust_signal::engine::AlertEvent;
use onrust_signal::{Post, Rejection, TimeSource};
use serde::Serialize;

use crate::lines::Lines;
use crate::pipeline::{Fate, Pipeline};
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

/// Posts read ahead of the one being judged: its event time is checked against
/// theirs (a file has no clock but its own posts).
const LOOKAHEAD: usize = 16;

/// A line read and decoded, waiting for the posts after it.
struct Pending {
    line: u64,
    bytes: Vec<u8>,
    decoded: Result<Post, Rejection>,
}

/// `onrust replay`: the pipeline over a file, alert events to standard output.
pub fn run(args: &ReplayArgs) -> Result<()> {
    let settings = Settings::load(&args.config)?;
    let mut pipeline = Pipeline::new(&settings, settings.pseudonymiser_or_random()?)?;
    let input = File::open(&args.input)
        .map_err(|e| UsageError(format!("{}: {e}", args.input.display())))?;
    let dead: Box<dyn Write> = match &args.dead_letters {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(io::stderr().lock()),
    };
    let mut replay = Replay {
        pipeline: &mut pipeline,
        out: BufWriter::new(io::stdout().lock()),
        dead,
        events: Vec::new(),
        newest_ms: None,
        last_time_ms: 0,
        rejected: 0,
        duplicates: 0,
    };
    let mut lines = Lines::new(BufReader::new(input));
    let mut pending: VecDeque<Pending> = VecDeque::with_capacity(LOOKAHEAD + 1);
    let mut number = 0u64;
    while let Some((line_number, line)) = lines.next_line().context("reading input")? {
        number = line_number;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        pending.push_back(Pending {
            line: line_number,
            bytes: line.to_vec(),
            decoded: replay.pipeline.decode(line, None, 0),
        });
        if pending.len() > LOOKAHEAD {
            replay.settle(&mut pending)?;
        }
    }
    while !pending.is_empty() {
        replay.settle(&mut pending)?;
    }
    replay.pipeline.finish(&mut replay.events);
    replay.write_events()?;
    replay.out.flush()?;
    replay.dead.flush()?;
    let (rejected, duplicates) = (replay.rejected, replay.duplicates);
    let counters = pipeline.engine().counters();
    eprintln!(
        "replayed {number} lines: {} posts in areas, {} unresolved, {} late, {rejected} rejected, \
         {duplicates} duplicates",
        counters.aggregated, counters.unresolved, counters.late
    );
    Ok(())
}

/// A replay under way: the pipeline and where its output goes.
struct Replay<'a> {
    pipeline: &'a mut Pipeline,
    out: BufWriter<io::StdoutLock<'static>>,
    dead: Box<dyn Write>,
    events: Vec<AlertEvent>,
    /// The event time of the newest post accepted.
    newest_ms: Option<i64>,
    /// The event time of the post accepted last: a post without `created_at`
    /// takes it (replay has no arrival clock, and this keeps the output
    /// deterministic).
    last_time_ms: i64,
    rejected: u64,
    /// Posts whose id was seen before.
    duplicates: u64,
}

impl Replay<'_> {
    /// Judges the first pending line against the posts after it, then feeds it to
    /// the pipeline or to the dead letters.
    fn settle(&mut self, pending: &mut VecDeque<Pending>) -> Result<()> {
        let Some(first) = pending.pop_front() else {
            return Ok(());
        };
        let following: Vec<i64> = pending
            .iter()
            .filter_map(|p| p.decoded.as_ref().ok())
            .filter(|post| post.time_source == TimeSource::CreatedAt)
            .map(|post| post.event_time_ms)
            .collect();
        let judged = first.decoded.and_then(|mut post| {
            if post.time_source != TimeSource::CreatedAt {
                post.event_time_ms = self.last_time_ms;
                Ok(post)
            } else if self
                .pipeline
                .is_ahead_of_file(post.event_time_ms, &following, self.newest_ms)
            {
                Err(Rejection::FutureCreatedAt)
            } else {
                Ok(post)
            }
        });
        match judged {
            Ok(post) => {
                let Fate::Accepted(accepted) =
                    self.pipeline
                        .accept(0, &post, self.last_time_ms, &mut self.events)
                else {
                    self.duplicates += 1;
                    return Ok(());
                };
                self.last_time_ms = accepted.event_time_ms;
                self.newest_ms = Some(self.newest_ms.map_or(accepted.event_time_ms, |newest| {
                    newest.max(accepted.event_time_ms)
                }));
                self.write_events()
            }
            Err(reason) => {
                self.rejected += 1;
                let message = String::from_utf8_lossy(&first.bytes);
                serde_json::to_writer(
                    &mut self.dead,
                    &DeadLetter {
                        line: first.line,
                        reason: reason.as_str(),
                        message: &message,
                    },
                )?;
                self.dead.write_all(b"\n")?;
                Ok(())
            }
        }
    }

    fn write_events(&mut self) -> Result<()> {
        write_events(&mut self.out, &mut self.events)
    }
}

fn write_events(out: &mut impl Write, events: &mut Vec<AlertEvent>) -> Result<()> {
    for event in events.drain(..) {
        serde_json::to_writer(&mut *out, &event)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
