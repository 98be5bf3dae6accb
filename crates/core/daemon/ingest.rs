//! Kafka in: a consumer-group member, a [`Source`] for the driver loop of
//! `applier`.
//!
//! At least once, and no post counted twice: offsets are committed to Kafka only
//! after a checkpoint (engine state + the offsets and watermarks it covers + the
//! deliveries of the alerts it raised, one transaction) is in the store. After a
//! crash, messages the broker hands out again below the checkpoint's offsets are
//! skipped: the restored state already counts them. Rejected messages become dead
//! letters in that same checkpoint; a thread of their own (`dead_letters`) sends
//! them to the dead-letter topic, never holding up a checkpoint.
//!
//! A checkpointed position that no longer exists on the broker (beyond the
//! partition's end, or before its log start: the topic was recreated, the broker
//! wiped) is an offset reset: logged with both offsets, counted, shown by
//! `/readyz`, and the partition goes on where `kafka.on_offset_reset` says. It is
//! looked for when a partition is assigned and when its messages start being
//! skipped.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use onrust_signal::watermark::{Alignment, PartitionId};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};

use super::applier::{self, Applied, Applier, Incoming, Position, SharedApplier, Source};
use super::dead_letters;
use super::live::Live;
use super::store::Store;
use crate::settings::{KafkaSettings, OffsetReset};

/// How long an assignment waits for the group's committed offsets.
const COMMITTED_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a look at a partition's low and high offsets may take.
const WATERMARKS_TIMEOUT: Duration = Duration::from_secs(5);

/// The consumer's context: checkpoints and commits before partitions are taken
/// away, hands assigned partitions to the applier (and looks for offset resets
/// there), exports the consumer lag from librdkafka's statistics, and tells
/// readiness whether any broker is reachable.
pub struct GroupContext {
    applier: SharedApplier,
    live: Arc<Live>,
    /// Where a partition goes on after an offset reset.
    on_offset_reset: OffsetReset,
    /// A partition was assigned whose group commit is behind the restored
    /// checkpoint (a crash between the two): commit at the next checkpoint, as
    /// nothing new may come to move it.
    commit_behind: AtomicBool,
    /// When each of librdkafka's error messages was last logged.
    errors_logged: Mutex<HashMap<String, Instant>>,
}

/// The same librdkafka error (a broker refusing connections, a wrong SASL
/// password) is logged at most once in this long.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(30);

impl ClientContext for GroupContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown)
            && self.live.set_brokers_reachable(false)
        {
            eprintln!(
                "onrust: kafka: every broker is down ({reason}); not ready until one answers"
            );
            return;
        }
        self.log_error(format!("{error}: {reason}"));
    }

    fn stats(&self, statistics: Statistics) {
        // Bootstrap and learned brokers count; librdkafka's internal and logical
        // (coordinator) handles do not stand for a connection of their own.
        let up = statistics
            .brokers
            .values()
            .any(|b| matches!(b.source.as_str(), "configured" | "learned") && b.state == "UP");
        let was = self.live.set_brokers_reachable(up);
        if up && !was {
            eprintln!("onrust: kafka: a broker answers again");
        } else if was && !up {
            eprintln!("onrust: kafka: no broker answers; not ready until one does");
        }
        let lag: i64 = statistics
            .topics
            .values()
            .flat_map(|topic| topic.partitions.values())
            .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
            .map(|p| p.consumer_lag)
            .sum();
        self.live.metrics.consumer_lag.set(lag);
    }
}

impl GroupContext {
    /// Logs a Kafka error, but the same one at most once per `ERROR_LOG_INTERVAL`:
    /// a broker that is down is reported every few seconds by each of several
    /// connections, and the log must stay readable.
    fn log_error(&self, message: String) {
        let mut logged = self
            .errors_logged
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if logged
            .get(&message)
            .is_none_or(|at| at.elapsed() >= ERROR_LOG_INTERVAL)
        {
            eprintln!("onrust: kafka: {message}");
            // Messages carry timings ("after 5002ms"): forget them now and then.
            if logged.len() >= 256 {
                logged.clear();
            }
            logged.insert(message, Instant::now());
        }
    }

    /// A checkpoint written, its offsets committed.
    ///
    /// `always_commit`: commit even when nothing changed since the last checkpoint
    /// (before a rebalance or at shutdown, in case an earlier asynchronous commit was
    /// refused). A group commit found behind the checkpoint at assignment also
    /// calls for one, made synchronously so that it is known to have landed:
    /// without it, a group whose every message was counted before a crash would
    /// keep its old commit (and its lag) until new posts came.
    fn checkpoint(
        &self,
        consumer: &GroupConsumer,
        applier: &mut Applier,
        mode: CommitMode,
        always_commit: bool,
    ) -> Result<()> {
        let wrote = applier.checkpoint()?;
        self.commit(consumer, applier, wrote, mode, always_commit)
    }

    /// Commits the applied offsets when a checkpoint was written, when asked to
    /// anyway, or when a group commit behind the checkpoint waits (synchronously).
    fn commit(
        &self,
        consumer: &GroupConsumer,
        applier: &Applier,
        wrote: bool,
        mode: CommitMode,
        always_commit: bool,
    ) -> Result<()> {
        if self.commit_behind.swap(false, Ordering::Relaxed) {
            return commit_offsets(consumer, applier, CommitMode::Sync);
        }
        if wrote || always_commit {
            commit_offsets(consumer, applier, mode)?;
        }
        Ok(())
    }

    /// Looks for an offset reset on `partition`, whose next offset to apply is
    /// `applied`: when it lies beyond the partition's end or before its log start,
    /// reports it and moves the applier where `kafka.on_offset_reset` says.
    /// Returns whether it found one.
    fn check_offset_reset(
        &self,
        consumer: &GroupConsumer,
        applier: &mut Applier,
        topic: &str,
        partition: PartitionId,
    ) -> bool {
        let Some(applied) = applier.applied(topic, partition) else {
            return false;
        };
        let (low, high) = match consumer.fetch_watermarks(topic, partition, WATERMARKS_TIMEOUT) {
            Ok(bounds) => bounds,
            Err(error) => {
                self.log_error(format!(
                    "{topic}/{partition}: cannot read the partition's offsets: {error}"
                ));
                return false;
            }
        };
        let Some(next) = reset_position(applied, low, high, self.on_offset_reset) else {
            return false;
        };
        let why = if applied > high {
            format!("beyond its end at {high}")
        } else {
            format!("before its log start at {low}")
        };
        let notice = format!(
            "{topic}/{partition}: offset reset: the checkpoint's offset {applied} is {why} \
             (topic recreated or broker wiped?); going on at {next} \
             (kafka.on_offset_reset = {})",
            self.on_offset_reset.as_str()
        );
        eprintln!("onrust: {notice}");
        self.live.note_offset_reset(partition, notice);
        applier.move_to(topic, partition, next);
        true
    }
}

/// Where a partition goes on when its next offset to apply, `applied`, lies
/// outside the broker's `low..=high` (`high` is the offset the next message will
/// get); `None` when it lies inside.
fn reset_position(applied: i64, low: i64, high: i64, policy: OffsetReset) -> Option<i64> {
    if (low..=high).contains(&applied) {
        return None;
    }
    Some(match policy {
        OffsetReset::Earliest => low,
        OffsetReset::Latest => high,
    })
}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        // The consumer's own assignment, not a count kept beside it: an
        // incremental (cooperative) rebalance assigns or revokes only some.
        self.live.set_assigned(
            consumer
                .assignment()
                .map_or(0, |assignment| assignment.count()),
        );
        if let Rebalance::Assign(partitions) = rebalance {
            let names: Vec<String> = partitions
                .elements()
                .iter()
                .map(|p| format!("{}/{}", p.topic(), p.partition()))
                .collect();
            eprintln!("onrust: assigned partitions: {}", names.join(", "));
            // Where each partition goes on: the group's commit, when another member
            // read on past what this process applied, tells a gap from a handover.
            let committed = consumer
                .committed_offsets((*partitions).clone(), COMMITTED_TIMEOUT)
                .ok();
            let mut applier = applier::lock(&self.applier);
            for element in partitions.elements() {
                let (topic, partition) = (element.topic(), element.partition());
                let commit = committed
                    .as_ref()
                    .and_then(|c| c.find_partition(topic, partition))
                    .and_then(|p| p.offset().to_raw())
                    .filter(|&offset| offset >= 0);
                let applied = applier.assigned(topic, partition, commit);
                if self.check_offset_reset(consumer, &mut applier, topic, partition) {
                    self.commit_behind.store(true, Ordering::Relaxed);
                } else if committed.is_some()
                    && applied.is_some_and(|a| commit.is_none_or(|c| c < a))
                {
                    // Only when the group's commits are known: committing on a
                    // failed lookup could move back a commit another member made.
                    self.commit_behind.store(true, Ordering::Relaxed);
                }
            }
            // A partition paused before it was taken away stays paused in
            // librdkafka: everything assigned starts out reading.
            if let Err(error) = consumer.resume(partitions) {
                self.log_error(format!("resuming the assigned partitions: {error}"));
            }
        }
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            // Everything read from the partitions leaving is applied: checkpoint it
            // and commit, so their next owner starts where we stopped; then they
            // stop holding the watermark.
            let mut applier = applier::lock(&self.applier);
            if let Err(error) = self.checkpoint(consumer, &mut applier, CommitMode::Sync, true) {
                eprintln!("onrust: checkpoint before rebalance failed: {error:#}");
            }
            for element in partitions.elements() {
                applier.revoked(element.partition());
            }
        }
    }
}

type GroupConsumer = BaseConsumer<GroupContext>;

/// Kafka as a source: the group member, polled by the driver.
struct KafkaSource {
    consumer: GroupConsumer,
    /// The topic read (`kafka.topic`).
    topic: String,
    /// Partitions whose skipping of already-counted messages has been checked
    /// for an offset reset, until a message of theirs is applied again.
    skip_checked: BTreeSet<PartitionId>,
}

impl Source for KafkaSource {
    fn poll(
        &mut self,
        timeout: Duration,
        apply: &mut dyn FnMut(Incoming<'_>) -> Applied,
    ) -> Result<()> {
        let Some(result) = self.consumer.poll(timeout) else {
            return Ok(());
        };
        let arrived = Instant::now();
        let message = match result {
            Ok(message) => message,
            Err(error) => {
                self.consumer.context().log_error(error.to_string());
                return Ok(());
            }
        };
        let position = Position {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
        };
        look_for_reset(&self.consumer, &mut self.skip_checked, position);
        let payload = message.payload().unwrap_or_default();
        let applied = apply(Incoming {
            position,
            payload,
            message_time_ms: message.timestamp().to_millis(),
            arrived,
        });
        if applied != Applied::Skipped {
            self.skip_checked.remove(&position.partition);
        }
        Ok(())
    }

    fn commit(&mut self, applier: &Applier, wrote: bool, last: bool) -> Result<()> {
        let mode = if last {
            CommitMode::Sync
        } else {
            CommitMode::Async
        };
        self.consumer
            .context()
            .commit(&self.consumer, applier, wrote, mode, last)
    }

    fn align(&mut self, alignment: &Alignment) -> Result<()> {
        let list = |partitions: &[PartitionId]| {
            let mut list = TopicPartitionList::new();
            for &partition in partitions {
                list.add_partition(&self.topic, partition);
            }
            list
        };
        // librdkafka drops what it fetched ahead for a paused partition and, on
        // resume, fetches again from the message after the last one handed out.
        if !alignment.pause.is_empty() {
            self.consumer
                .pause(&list(&alignment.pause))
                .context("pausing partitions ahead of the others")?;
        }
        if !alignment.resume.is_empty() {
            self.consumer
                .resume(&list(&alignment.resume))
                .context("resuming partitions")?;
        }
        Ok(())
    }
}

/// A message below the applied offset of its partition is skipped: after a
/// restart or a rebalance that is normal, but after the topic was recreated it
/// would skip new posts. The first skip of a run (`checked` holds the partitions
/// whose run was checked) is checked against the partition's offsets on the broker.
fn look_for_reset(consumer: &GroupConsumer, checked: &mut BTreeSet<PartitionId>, at: Position<'_>) {
    let context = consumer.context();
    let mut applier = applier::lock(&context.applier);
    let skipping = applier
        .applied(at.topic, at.partition)
        .is_some_and(|applied| at.offset < applied);
    if skipping && checked.insert(at.partition) {
        context.check_offset_reset(consumer, &mut applier, at.topic, at.partition);
    }
}

/// Commits the applied offsets of the assigned partitions to Kafka.
fn commit_offsets(consumer: &GroupConsumer, applier: &Applier, mode: CommitMode) -> Result<()> {
    let assigned = consumer.assignment()?;
    let mut commit = TopicPartitionList::new();
    for element in assigned.elements() {
        if let Some(next) = applier.applied(element.topic(), element.partition()) {
            commit.add_partition_offset(
                element.topic(),
                element.partition(),
                Offset::Offset(next),
            )?;
        }
    }
    if commit.count() > 0 {
        consumer.commit(&commit, mode)?;
    }
    Ok(())
}

/// Runs the consumer until `live` says stop: waits for the broker and the topics,
/// joins the group, and lets the driver apply, align and checkpoint. The dead
/// letters the checkpoints write to `store` are forwarded by a thread of their own,
/// so that a dead-letter topic that refuses never holds up a checkpoint.
pub fn run(
    applier: Applier,
    store: Arc<Store>,
    kafka: &KafkaSettings,
    interval: Duration,
    live: Arc<Live>,
) -> Result<()> {
    let ingest_done = Arc::new(AtomicBool::new(false));
    let forwarder = {
        let producer = dead_letters::producer(kafka)?;
        let topic = kafka.dead_letter_topic.clone();
        let (live, done) = (Arc::clone(&live), Arc::clone(&ingest_done));
        std::thread::Builder::new()
            .name("dead-letters".into())
            .spawn(move || dead_letters::forward(store, producer, topic, live, done))
            .context("starting the dead-letter forwarder")?
    };
    let consumed = consume(applier, kafka, interval, &live);
    // A failed consumer stops the daemon: the forwarder too, after one last round.
    live.stop();
    ingest_done.store(true, Ordering::Release);
    match forwarder.join() {
        Ok(Ok(())) => {}
        Ok(Err(error)) => eprintln!("onrust: the dead-letter forwarder failed: {error:#}"),
        Err(_) => eprintln!("onrust: the dead-letter forwarder panicked"),
    }
    consumed
}

/// The consumer-group member's life: topics awaited, group joined, the driver run.
fn consume(
    applier: Applier,
    kafka: &KafkaSettings,
    interval: Duration,
    live: &Arc<Live>,
) -> Result<()> {
    let applier: SharedApplier = Arc::new(Mutex::new(applier));
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", &kafka.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("statistics.interval.ms", "5000");
    // Pass-through options (TLS, SASL, timeouts) win over these defaults, except
    // that offsets are never committed or stored automatically.
    for (key, value) in &kafka.options {
        if !key.starts_with("enable.auto.") {
            config.set(key, value);
        }
    }
    let consumer: GroupConsumer = config
        .create_with_context(GroupContext {
            applier: Arc::clone(&applier),
            live: Arc::clone(live),
            on_offset_reset: kafka.on_offset_reset,
            commit_behind: AtomicBool::new(false),
            errors_logged: Mutex::new(HashMap::new()),
        })
        .context("creating the Kafka consumer")?;
    if !wait_for_topics(&consumer, kafka, live) {
        return Ok(());
    }
    consumer
        .subscribe(&[kafka.topic.as_str()])
        .with_context(|| format!("subscribing to {:?}", kafka.topic))?;
    live.set_source_connected(true);
    live.watch_assignment(Duration::from_secs(kafka.unassigned_grace_seconds));
    eprintln!(
        "onrust: consuming {:?} as group {:?} from {}",
        kafka.topic, kafka.group, kafka.brokers
    );
    let mut source = KafkaSource {
        consumer,
        topic: kafka.topic.clone(),
        skip_checked: BTreeSet::new(),
    };
    let result = applier::drive(&mut source, &applier, interval);
    source.consumer.unsubscribe();
    result
}

/// Waits until the broker answers and both topics exist, saying what is missing;
/// `false` when asked to stop first.
fn wait_for_topics(consumer: &GroupConsumer, kafka: &KafkaSettings, live: &Live) -> bool {
    let mut last_complaint: HashMap<String, Instant> = HashMap::new();
    let mut complain = |what: String| {
        let due = last_complaint
            .get(&what)
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(30));
        if due {
            eprintln!("onrust: {what}");
            last_complaint.insert(what, Instant::now());
        }
    };
    while !live.stopping() {
        match missing_topics(consumer, kafka) {
            Ok(missing) if missing.is_empty() => return true,
            Ok(missing) => complain(format!(
                "waiting for topics on {}: {} missing (this broker may not create topics by itself: create them)",
                kafka.brokers,
                missing.join(", ")
            )),
            Err(error) => complain(format!(
                "waiting for the Kafka brokers {} (kafka.brokers): {error}",
                kafka.brokers
            )),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    false
}

/// The configured topics the broker does not have, as `kafka.key "name"`.
fn missing_topics(consumer: &GroupConsumer, kafka: &KafkaSettings) -> KafkaResult<Vec<String>> {
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(5))?;
    let exists = |name: &str| {
        metadata
            .topics()
            .iter()
            .any(|t| t.name() == name && t.error().is_none() && !t.partitions().is_empty())
    };
    Ok([
        ("kafka.topic", &kafka.topic),
        ("kafka.dead_letter_topic", &kafka.dead_letter_topic),
    ]
    .into_iter()
    .filter(|(_, name)| !exists(name))
    .map(|(key, name)| format!("{key} {name:?}"))
    .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_outside_the_partition_is_a_reset_and_goes_where_the_policy_says() {
        use OffsetReset::{Earliest, Latest};
        // Inside the log, its end included (nothing new yet): no reset.
        for applied in [100, 150, 200] {
            assert_eq!(reset_position(applied, 100, 200, Earliest), None);
        }
        // Beyond the end: the topic was recreated with fewer messages.
        assert_eq!(reset_position(3386, 0, 25, Earliest), Some(0));
        assert_eq!(reset_position(3386, 0, 25, Latest), Some(25));
        // Before the log start: retention or a wiped broker removed it.
        assert_eq!(reset_position(10, 500, 900, Earliest), Some(500));
        assert_eq!(reset_position(10, 500, 900, Latest), Some(900));
    }
}
