//! The source-neutral half of ingest: messages applied to the pipeline with their
//! position, metrics counted, checkpoints written and published. Kafka (`ingest`)
//! and the demo's firehose (`demo`) both drive one.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use onrust_signal::engine::AlertEvent;
use onrust_signal::Rejection;

use super::live::{Live, HISTORY_STEP_MINUTES};
use super::store::{delivery_key, Offsets, Store};
use crate::pipeline::Pipeline;
use crate::settings::Settings;

/// Where a message sits in its source.
#[derive(Debug, Clone, Copy)]
pub struct Position<'a> {
    /// Its topic.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
}

/// What became of one message.
#[derive(Debug, PartialEq)]
pub enum Applied {
    /// Below the applied offset of its partition: already counted.
    Skipped,
    /// Scored and aggregated.
    Accepted,
    /// Rejected, for this reason.
    Rejected(Rejection),
}

/// The pipeline with its applied offsets and the alerts raised since the last
/// checkpoint.
pub struct Applier {
    pipeline: Pipeline,
    offsets: Offsets,
    raised: Vec<AlertEvent>,
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
                .restore(settings, &checkpoint.engine)
                .context("restoring the checkpoint (delete the state directory to start afresh)")?;
            offsets = checkpoint.offsets;
            eprintln!("onrust: restored the checkpoint of {}", describe(&offsets));
        }
        live.published(&pipeline, &[]);
        Ok(Applier {
            pipeline,
            offsets,
            raised: Vec::new(),
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
        })
    }

    /// The daemon's shared state.
    pub fn live(&self) -> &Live {
        &self.live
    }

    /// The next offset to apply per partition.
    pub fn offsets(&self) -> &Offsets {
        &self.offsets
    }

    /// A partition is assigned to this process, its group's commit `committed`;
    /// returns the next offset to apply on it, if any. When another member read on
    /// past what this process applied, the group's commit is where this process
    /// goes on: the posts between are that member's, and the jump is a handover,
    /// not a gap.
    pub fn assigned(&mut self, topic: &str, partition: i32, committed: Option<i64>) -> Option<i64> {
        let applied = self
            .offsets
            .get(topic)
            .and_then(|partitions| partitions.get(&partition))
            .copied();
        match committed.filter(|&c| applied.is_none_or(|a| c > a)) {
            Some(commit) => {
                let at = Position {
                    topic,
                    partition,
                    offset: commit,
                };
                set_offset(&mut self.offsets, at, commit);
                Some(commit)
            }
            None => applied,
        }
    }

    /// Whether anything was applied since the last checkpoint.
    pub fn dirty(&self) -> bool {
        self.dirty
    }

    /// Applies one message that arrived at `arrived`; `message_time_ms` is its
    /// source's timestamp, the fallback event time.
    pub fn apply(
        &mut self,
        at: Position<'_>,
        payload: &[u8],
        message_time_ms: Option<i64>,
        arrived: Instant,
    ) -> Applied {
        let applied = self
            .offsets
            .get(at.topic)
            .and_then(|partitions| partitions.get(&at.partition).copied());
        // Below what is applied: counted by the restored checkpoint, or read again
        // after a rebalance reset the position to a commit that had not landed.
        if applied.is_some_and(|applied| at.offset < applied) {
            self.live.metrics.skipped.inc();
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
        let now_ms = chrono::Utc::now().timestamp_millis();
        let metrics = &self.live.metrics;
        let raised_before = self.raised.len();
        let processed = self
            .pipeline
            .process(payload, message_time_ms, now_ms, &mut self.raised);
        for event in &self.raised[raised_before..] {
            self.live
                .note_raised(delivery_key(event), arrived, self.receivers.len() as u32);
        }
        match processed {
            Ok(accepted) => {
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
                metrics.processing.observe(arrived.elapsed().as_secs_f64());
                if let Some(stamp) = message_time_ms {
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
                Applied::Rejected(reason)
            }
        }
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
        let now_ms = chrono::Utc::now().timestamp_millis();
        self.expire(now_ms)?;
        if !self.dirty {
            return Ok(false);
        }
        self.store.commit(
            &self.pipeline.engine().save(),
            &self.offsets,
            &self.raised,
            &self.receivers,
            now_ms,
        )?;
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
        let store = Arc::new(Store::open(dir).expect("store"));
        let live = Arc::new(Live::new(
            Metrics::new(10).expect("metrics"),
            Arc::clone(&store),
            None,
            None,
        ));
        Applier::new(pipeline, &settings, store, live, Vec::new()).expect("applier")
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
                applier.apply(at(offset), &post(offset), None, now),
                Applied::Accepted
            );
        }
        assert_eq!(applier.apply(at(1), &post(1), None, now), Applied::Skipped);
        assert_eq!(
            applier.apply(at(10), &post(10), None, now),
            Applied::Accepted
        );
        let metrics = &applier.live().metrics;
        assert_eq!(metrics.skipped.get(), 1);
        assert_eq!(metrics.offsets_missed.get(), 7, "offsets 3 to 9 never came");
        assert_eq!(applier.offsets()["posts"][&0], 11);
        // Handed back after another member read on to 50: no gap, a handover.
        assert_eq!(applier.assigned("posts", 0, Some(50)), Some(50));
        assert_eq!(
            applier.apply(at(50), &post(50), None, now),
            Applied::Accepted
        );
        assert_eq!(applier.live().metrics.offsets_missed.get(), 7);
        // Handed back at a commit behind what this process applied (51): that stands.
        assert_eq!(applier.assigned("posts", 0, Some(40)), Some(51));
        assert_eq!(
            applier.apply(at(40), &post(40), None, now),
            Applied::Skipped
        );
        assert_eq!(
            applier.apply(at(51), &post(51), None, now),
            Applied::Accepted
        );
        assert_eq!(applier.live().metrics.offsets_missed.get(), 7);
        let _ = std::fs::remove_dir_all(dir);
    }
}
