//! The source-neutral half of ingest: a [`Source`] (Kafka, or the demo's
//! firehose) hands messages to one driver loop ([`drive`]), which applies them to
//! the pipeline with their position, counts metrics, keeps the partitions'
//! watermarks and their alignment, and owns the checkpoint cadence: every
//! interval, one checkpoint written (with the dead letters of the messages it
//! moves past), then the source commits its positions and the live view
//! publishes.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use onrust_signal::engine::AlertEvent;
use onrust_signal::watermark::{Alignment, PartitionId};
use onrust_signal::Rejection;

use super::dead_letters::{self, DeadLetter};
use super::live::{Live, HISTORY_STEP_MINUTES};
use super::store::{delivery_key, CheckpointWrite, Offsets, Store};
use crate::pipeline::{Fate, Pipeline};
use crate::settings::Settings;

/// Where a message sits in its source.
#[derive(Debug, Clone, Copy)]
pub struct Position<'a> {
    /// Its topic.
    pub topic: &'a str,
    /// Its partition.
    pub partition: PartitionId,
    /// Its offset.
    pub offset: i64,
}

/// One message as a source hands it over.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// Where it sits.
    pub position: Position<'a>,
    /// Its bytes.
    pub payload: &'a [u8],
    /// Its source's timestamp (epoch ms), the fallback event time.
    pub message_time_ms: Option<i64>,
    /// When it arrived.
    pub arrived: Instant,
}

/// What became of one message.
#[derive(Debug, PartialEq)]
pub enum Applied {
    /// Below the applied offset of its partition: already counted.
    Skipped,
    /// Scored and aggregated.
    Accepted,
    /// A post whose id (per source) was seen before: counted once already.
    Duplicate,
    /// Rejected, for this reason.
    Rejected(Rejection),
}

/// Where messages come from. The driver polls, applies, aligns and checkpoints;
/// a source only moves bytes and positions.
pub trait Source {
    /// Waits up to `timeout` for messages and hands each to `apply`.
    fn poll(
        &mut self,
        timeout: Duration,
        apply: &mut dyn FnMut(Incoming<'_>) -> Applied,
    ) -> Result<()>;

    /// Makes the positions of the checkpoint just written durable at the source;
    /// `wrote`: that checkpoint held something new, `last`: the final one.
    fn commit(&mut self, applier: &Applier, wrote: bool, last: bool) -> Result<()>;

    /// Pauses and resumes partitions, as alignment asks.
    fn align(&mut self, alignment: &Alignment) -> Result<()>;
}

/// The pipeline with its applied offsets and the alerts raised since the last
/// checkpoint.
pub struct Applier {
    pipeline: Pipeline,
    offsets: Offsets,
    raised: Vec<AlertEvent>,
    /// Dead letters of the messages rejected since the last checkpoint.
    dead_letters: Vec<DeadLetter>,
    /// Dead letters waiting in the store at the last checkpoint.
    dead_letters_stored: u64,
    /// The largest message a post may be (`input.max_message_bytes`).
    max_message_bytes: usize,
    dirty: bool,
    /// The five-minute step of event time last written to the areas' history.
    history_step: Option<i64>,
    /// When resolved alerts and old evidence were last expired (epoch ms).
    expired_at_ms: i64,
    /// How long evidence texts are kept (ms).
    evidence_retention_ms: i64,
    store: Arc<Store>,
    live: Arc<Live>,
    /// The outbox ids of the receivers every alert event goes to.
    receivers: Vec<u32>,
    /// Messages applied (accepted or rejected) and skipped since this process
    /// started, for the shutdown log.
    this_run: (u64, u64),
}

impl Applier {
    /// Ties the pipeline to the store, restoring the last checkpoint if there is one.
    pub fn new(
        mut pipeline: Pipeline,
        settings: &Settings,
        store: Arc<Store>,
        live: Arc<Live>,
        receivers: Vec<u32>,
    ) -> Result<Applier> {
        let mut offsets = Offsets::new();
        if let Some(checkpoint) = store.checkpoint()? {
            pipeline
                .restore(
                    settings,
                    &checkpoint.engine,
                    checkpoint.inputs,
                    store.seen_ids()?,
                )
                .context("restoring the checkpoint (delete the state directory to start afresh)")?;
            offsets = checkpoint.offsets;
            eprintln!("onrust: restored the checkpoint of {}", describe(&offsets));
        }
        live.published(&pipeline, &[]);
        let dead_letters_stored = store.dead_letter_count()?;
        Ok(Applier {
            pipeline,
            offsets,
            raised: Vec::new(),
            dead_letters: Vec::new(),
            dead_letters_stored,
            max_message_bytes: settings.input.max_message_bytes,
            dirty: false,
            history_step: None,
            expired_at_ms: 0,
            evidence_retention_ms: i64::try_from(
                settings
                    .privacy
                    .evidence_retention_seconds
                    .saturating_mul(1000),
            )
            .unwrap_or(i64::MAX),
            store,
            live,
            receivers,
            this_run: (0, 0),
        })
    }

    /// The next offset to apply on `partition` of `topic`, if any was applied.
    pub fn applied(&self, topic: &str, partition: PartitionId) -> Option<i64> {
        self.offsets
            .get(topic)
            .and_then(|partitions| partitions.get(&partition))
            .copied()
    }

    /// A partition is assigned to this process, its group's commit `committed`;
    /// returns the next offset to apply on it, if any. When another member read on
    /// past what this process applied, the group's commit is where this process
    /// goes on: the posts between are that member's, and the jump is a handover,
    /// not a gap. The partition holds the watermark from now on.
    pub fn assigned(
        &mut self,
        topic: &str,
        partition: PartitionId,
        committed: Option<i64>,
    ) -> Option<i64> {
        self.pipeline.assign(partition, now_ms());
        let applied = self.applied(topic, partition);
        match committed.filter(|&c| applied.is_none_or(|a| c > a)) {
            Some(commit) => {
                self.move_to(topic, partition, commit);
                Some(commit)
            }
            None => applied,
        }
    }

    /// A partition is taken away: it no longer holds the watermark.
    pub fn revoked(&mut self, partition: PartitionId) {
        let raised_before = self.raised.len();
        self.pipeline.revoke(partition, &mut self.raised);
        self.note_raised(raised_before, Instant::now());
        self.dirty = true;
    }

    /// Goes on at `next` on a partition whose applied offset no longer exists on
    /// the broker (the topic was recreated, the broker wiped): the policy of
    /// `kafka.on_offset_reset` chose it.
    pub fn move_to(&mut self, topic: &str, partition: PartitionId, next: i64) {
        let at = Position {
            topic,
            partition,
            offset: next,
        };
        set_offset(&mut self.offsets, at, next);
        self.dirty = true;
    }

    /// Applies one message.
    pub fn apply(&mut self, incoming: Incoming<'_>) -> Applied {
        let at = incoming.position;
        let now_ms = now_ms();
        let applied = self.applied(at.topic, at.partition);
        // Below what is applied: counted by the restored checkpoint, or read again
        // after a rebalance reset the position to a commit that had not landed.
        if applied.is_some_and(|applied| at.offset < applied) {
            self.live.metrics.skipped.inc();
            self.this_run.1 += 1;
            self.pipeline.heard(at.partition, now_ms);
            return Applied::Skipped;
        }
        if let Some(expected) = applied.filter(|&expected| at.offset > expected) {
            // Transaction markers take one offset each and compaction removes some;
            // anything else is posts we will never see (retention ran out, or a
            // broker that answers a fetch from inside a batch with the next batch).
            let missed = at.offset - expected;
            self.live.metrics.offsets_missed.inc_by(missed as u64);
            if missed > 1 {
                eprintln!(
                    "onrust: {}/{}: the broker went on at offset {} where {expected} was due: \
                     {missed} offsets never received",
                    at.topic, at.partition, at.offset
                );
            }
        }
        set_offset(&mut self.offsets, at, at.offset + 1);
        self.dirty = true;
        self.this_run.0 += 1;
        let metrics = &self.live.metrics;
        let raised_before = self.raised.len();
        let processed = self.pipeline.process(
            at.partition,
            incoming.payload,
            incoming.message_time_ms,
            now_ms,
            &mut self.raised,
        );
        self.note_raised(raised_before, incoming.arrived);
        match processed {
            Ok(Fate::Duplicate) => {
                metrics.duplicates.inc();
                Applied::Duplicate
            }
            Ok(Fate::Accepted(accepted)) => {
                metrics
                    .posts
                    .with_label_values(&[accepted.lang.as_str()])
                    .inc();
                match accepted.located.slot() {
                    Some(_) => metrics
                        .located
                        .with_label_values(&[accepted.located.as_str()])
                        .inc(),
                    None => metrics.unresolved.inc(),
                }
                metrics
                    .processing
                    .observe(incoming.arrived.elapsed().as_secs_f64());
                if let Some(stamp) = incoming.message_time_ms {
                    let delay_ms = now_ms - stamp;
                    metrics
                        .ingest_delay
                        .observe(delay_ms.max(0) as f64 / 1000.0);
                }
                self.record_history();
                Applied::Accepted
            }
            Err(reason) => {
                metrics.rejected.with_label_values(&[reason.as_str()]).inc();
                self.dead_letter(at, incoming.payload, reason);
                Applied::Rejected(reason)
            }
        }
    }

    /// Keeps the dead letter of a rejected message for the next checkpoint: whole
    /// while few wait, as a record of its position once many do, not at all (but
    /// counted) beyond the most the store keeps.
    fn dead_letter(&mut self, at: Position<'_>, payload: &[u8], reason: Rejection) {
        let waiting = self.dead_letters_stored + self.dead_letters.len() as u64;
        if waiting >= dead_letters::MOST_KEPT {
            self.live.metrics.dead_letters_dropped.inc();
            return;
        }
        self.dead_letters.push(DeadLetter::new(
            (at.topic, at.partition, at.offset),
            payload,
            reason.as_str(),
            self.max_message_bytes,
            waiting < dead_letters::WHOLE_KEPT,
        ));
    }

    /// Lets the live view time the alert events raised since `before` from `arrived`.
    fn note_raised(&self, before: usize, arrived: Instant) {
        for event in &self.raised[before..] {
            self.live
                .note_raised(delivery_key(event), arrived, self.receivers.len() as u32);
        }
    }

    /// Marks partitions silent for the idle time idle, closing the minutes that
    /// frees.
    pub fn tick(&mut self) {
        let raised_before = self.raised.len();
        let closed_before = self.pipeline.engine().closed_minute();
        self.pipeline.tick(now_ms(), &mut self.raised);
        self.note_raised(raised_before, Instant::now());
        if self.pipeline.engine().closed_minute() != closed_before {
            self.dirty = true;
            self.record_history();
        }
    }

    /// Which partitions to pause or resume now.
    pub fn align(&mut self) -> Alignment {
        self.pipeline.align(now_ms())
    }

    /// Adds the areas' figures to their history each time event time closes a
    /// five-minute step, however fast the posts come (a backlog, the demo).
    fn record_history(&mut self) {
        let Some(minute) = self.pipeline.engine().closed_minute() else {
            return;
        };
        let step = minute.div_euclid(HISTORY_STEP_MINUTES);
        if self.history_step != Some(step) {
            self.history_step = Some(step);
            self.live
                .record_history(minute, &self.pipeline.engine().figures());
        }
    }

    /// Writes a checkpoint when anything was applied since the last one, then
    /// publishes it; `Ok(false)` when there was nothing to write. Expires old
    /// alerts and evidence texts either way, so a quiet stream forgets on time too.
    pub fn checkpoint(&mut self) -> Result<bool> {
        let now_ms = now_ms();
        self.expire(now_ms)?;
        if !self.dirty {
            return Ok(false);
        }
        let engine = self.pipeline.engine().save();
        let inputs = self.pipeline.saved_inputs();
        let checkpoint = CheckpointWrite {
            engine: &engine,
            offsets: &self.offsets,
            inputs: &inputs,
            events: &self.raised,
            receivers: &self.receivers,
            dead_letters: &self.dead_letters,
            seen: self.pipeline.seen_changes(),
        };
        if let Err(error) = self.store.commit(&checkpoint, now_ms) {
            // After a failed write redb refuses every later one until reopened:
            // reopen now, so that the next attempt can succeed once the disk has
            // room again (a reopen that fails is tried again after the next).
            match self.store.reopen() {
                Ok(()) => eprintln!("onrust: reopened the store after a failed checkpoint"),
                Err(reopen) => eprintln!("onrust: reopening the store: {reopen:#}"),
            }
            return Err(error);
        }
        let written = self.dead_letters.len() as u64;
        self.dead_letters.clear();
        self.pipeline.seen_saved();
        // Exported here too: the forwarder may sit in a minute's backoff while the
        // topic refuses, and the gauge must show what waits meanwhile.
        // The checkpoint is in: a failed read here must not make it look failed
        // (its events would be written to the outbox twice). Estimate instead.
        self.dead_letters_stored = self
            .store
            .dead_letter_count()
            .unwrap_or(self.dead_letters_stored + written);
        self.live
            .metrics
            .dead_letters_waiting
            .set(self.dead_letters_stored as i64);
        // A crash here leaves a checkpoint ahead of the committed offsets: the
        // restart must skip what the checkpoint counted. Tests crash it on purpose.
        fail::fail_point!("checkpoint-before-commit", |_| std::process::abort());
        self.dirty = false;
        self.live.metrics.checkpoints.inc();
        let raised = std::mem::take(&mut self.raised);
        self.live.published(&self.pipeline, &raised);
        Ok(true)
    }

    /// Removes resolved alerts and given-up deliveries after their time, and
    /// evidence texts after theirs.
    /// Expiry reads every alert record: once a minute is plenty for a 24-hour
    /// retention (a short one is kept to within a quarter of itself), and keeps that
    /// work off most checkpoints.
    fn expire(&mut self, now_ms: i64) -> Result<()> {
        let every_ms = (self.evidence_retention_ms / 4).clamp(1, 60_000);
        if now_ms - self.expired_at_ms >= every_ms {
            self.store
                .expire(now_ms, now_ms.saturating_sub(self.evidence_retention_ms))?;
            self.expired_at_ms = now_ms;
        }
        Ok(())
    }
}

/// The applier as the driver and a source's callbacks (Kafka's rebalances) share it.
pub type SharedApplier = Arc<Mutex<Applier>>;

/// Locks the shared applier; a panic elsewhere while holding it leaves a state
/// that is still whole (every change is one assignment or a checkpoint).
pub fn lock(applier: &Mutex<Applier>) -> MutexGuard<'_, Applier> {
    applier.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long one poll of the source waits for a message.
const POLL: Duration = Duration::from_millis(100);

/// The one driver loop of every source: polls, applies, ticks the watermarks and
/// aligns the partitions, checkpoints every `interval` and commits; until `live`
/// says stop, then checkpoints and commits once more. A failing checkpoint is
/// retried each interval; the live view tells readiness how long they fail.
pub fn drive(source: &mut dyn Source, applier: &Mutex<Applier>, interval: Duration) -> Result<()> {
    let live = Arc::clone(&lock(applier).live);
    let mut last_checkpoint = Instant::now();
    let mut last_tick = Instant::now();
    while !live.stopping() {
        source.poll(POLL, &mut |incoming| lock(applier).apply(incoming))?;
        // Idleness is a matter of seconds: a tick per poll interval, not per
        // message. Alignment follows every message, or a partition would run on.
        if last_tick.elapsed() >= POLL {
            lock(applier).tick();
            last_tick = Instant::now();
        }
        let alignment = lock(applier).align();
        if !alignment.is_empty() {
            source.align(&alignment)?;
        }
        if last_checkpoint.elapsed() >= interval {
            match checkpoint(source, applier, false) {
                Ok(()) => live.checkpoint_failed(None),
                Err(error) => {
                    eprintln!("onrust: checkpoint failed, retrying: {error:#}");
                    live.checkpoint_failed(Some(format!("{error:#}")));
                }
            }
            last_checkpoint = Instant::now();
        }
    }
    checkpoint(source, applier, true).context("the final checkpoint")?;
    let (applied, skipped) = lock(applier).this_run;
    eprintln!("onrust: this run applied {applied} messages and skipped {skipped} already counted");
    Ok(())
}

/// A checkpoint written (dead letters with it), the source's positions committed.
fn checkpoint(source: &mut dyn Source, applier: &Mutex<Applier>, last: bool) -> Result<()> {
    let mut applier = lock(applier);
    let wrote = applier.checkpoint()?;
    source.commit(&applier, wrote, last)
}

/// The wall clock, epoch ms.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Sets `offsets` of `at`'s partition to `next`; a topic's name is allocated once,
/// not per message.
fn set_offset(offsets: &mut Offsets, at: Position<'_>, next: i64) {
    match offsets.get_mut(at.topic) {
        Some(partitions) => {
            partitions.insert(at.partition, next);
        }
        None => {
            let partitions = [(at.partition, next)].into_iter().collect();
            offsets.insert(at.topic.to_string(), partitions);
        }
    }
}

fn describe(offsets: &Offsets) -> String {
    let parts: Vec<String> = offsets
        .iter()
        .flat_map(|(topic, partitions)| {
            partitions
                .iter()
                .map(move |(partition, next)| format!("{topic}/{partition}@{next}"))
        })
        .collect();
    if parts.is_empty() {
        "no offsets".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::metrics::Metrics;

    fn applier(dir: &std::path::Path) -> Applier {
        let settings = Settings::default();
        let pipeline = Pipeline::new(
            &settings,
            onrust_signal::Pseudonymiser::new(b"a test key, long enough").expect("key"),
        )
        .expect("pipeline");
        let store = Arc::new(Store::open(dir, false).expect("store"));
        let live = Arc::new(Live::new(
            Metrics::new(10).expect("metrics"),
            Arc::clone(&store),
            None,
            None,
        ));
        Applier::new(pipeline, &settings, store, live, Vec::new()).expect("applier")
    }

    fn incoming<'a>(position: Position<'a>, payload: &'a [u8], arrived: Instant) -> Incoming<'a> {
        Incoming {
            position,
            payload,
            message_time_ms: None,
            arrived,
        }
    }

    fn post(offset: i64) -> Vec<u8> {
        format!(r#"{{"id":"{offset}","text":"rustig op straat","area":"GM0017","created_at":0}}"#)
            .into_bytes()
    }

    #[test]
    fn offsets_already_applied_are_skipped_and_gaps_counted() {
        let dir = std::env::temp_dir().join(format!("onrust-applier-{}", fastrand::u64(..)));
        let mut applier = applier(&dir);
        let at = |offset| Position {
            topic: "posts",
            partition: 0,
            offset,
        };
        let now = Instant::now();
        assert_eq!(
            applier.assigned("posts", 0, None),
            None,
            "nothing applied yet"
        );
        for offset in 0..3 {
            assert_eq!(
                applier.apply(incoming(at(offset), &post(offset), now)),
                Applied::Accepted
            );
        }
        assert_eq!(
            applier.apply(incoming(at(1), &post(1), now)),
            Applied::Skipped
        );
        assert_eq!(
            applier.apply(incoming(at(10), &post(10), now)),
            Applied::Accepted
        );
        let metrics = &applier.live.metrics;
        assert_eq!(metrics.skipped.get(), 1);
        assert_eq!(metrics.offsets_missed.get(), 7, "offsets 3 to 9 never came");
        assert_eq!(applier.applied("posts", 0), Some(11));
        // Handed back after another member read on to 50: no gap, a handover.
        assert_eq!(applier.assigned("posts", 0, Some(50)), Some(50));
        assert_eq!(
            applier.apply(incoming(at(50), &post(50), now)),
            Applied::Accepted
        );
        assert_eq!(applier.live.metrics.offsets_missed.get(), 7);
        // Handed back at a commit behind what this process applied (51): that stands.
        assert_eq!(applier.assigned("posts", 0, Some(40)), Some(51));
        assert_eq!(
            applier.apply(incoming(at(40), &post(40), now)),
            Applied::Skipped
        );
        assert_eq!(
            applier.apply(incoming(at(51), &post(51), now)),
            Applied::Accepted
        );
        assert_eq!(applier.live.metrics.offsets_missed.get(), 7);
        let _ = std::fs::remove_dir_all(dir);
    }
}
