//! Kafka in: a consumer-group member on its own thread drives the pipeline.
//!
//! At least once, and no post counted twice: offsets are committed to Kafka only
//! after a checkpoint (engine state + the offsets it covers + the deliveries of the
//! alerts it raised, one transaction) is in the store. After a crash, messages the
//! broker hands out again below the checkpoint's offsets are skipped: the restored
//! state already counts them. Rejected messages go to the dead-letter topic, which
//! is flushed before the checkpoint that moves past them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};

use super::applier::{Applied, Applier, Position};
use super::live::Live;
use crate::settings::KafkaSettings;

/// The header that carries a dead letter's rejection reason.
pub const REASON_HEADER: &str = "onrust-reject-reason";

/// How long an assignment waits for the group's committed offsets.
const COMMITTED_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a checkpoint waits for the dead-letter topic to acknowledge.
const DEAD_LETTER_FLUSH: Duration = Duration::from_secs(10);

/// The applier and the dead-letter producer, shared with the rebalance callback.
pub struct Ingest {
    applier: Applier,
    /// Dead letters sent since the last checkpoint (payload, reason), resent if the
    /// topic did not acknowledge them.
    dead_letters: Vec<(Vec<u8>, &'static str)>,
    producer: ThreadedProducer<DeadLetterContext>,
    dead_letter_topic: String,
    /// A partition was assigned whose group commit is behind the restored
    /// checkpoint (a crash between the two): commit at the next checkpoint, as
    /// nothing new may come to move it.
    commit_behind: bool,
}

/// Counts dead letters the broker refused.
pub struct DeadLetterContext {
    failures: AtomicU64,
}

impl ClientContext for DeadLetterContext {}

impl ProducerContext for DeadLetterContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            eprintln!("onrust: dead letter not written: {error}");
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The consumer's context: commits before partitions are taken away, exports the
/// consumer lag from librdkafka's statistics, and tells readiness whether any broker
/// is reachable.
pub struct GroupContext {
    ingest: Arc<Mutex<Ingest>>,
    live: Arc<Live>,
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
}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
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
            let mut ingest = self.ingest.lock().unwrap_or_else(PoisonError::into_inner);
            for element in partitions.elements() {
                let commit = committed
                    .as_ref()
                    .and_then(|c| c.find_partition(element.topic(), element.partition()))
                    .and_then(|p| p.offset().to_raw())
                    .filter(|&offset| offset >= 0);
                let applied = ingest
                    .applier
                    .assigned(element.topic(), element.partition(), commit);
                // Only when the group's commits are known: committing on a failed
                // lookup could move back a commit another member made.
                if committed.is_some() && applied.is_some_and(|a| commit.is_none_or(|c| c < a)) {
                    ingest.commit_behind = true;
                }
            }
        }
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(_) = rebalance {
            // Everything read from the partitions leaving is applied: checkpoint it
            // and commit, so their next owner starts where we stopped.
            let mut ingest = self.ingest.lock().unwrap_or_else(PoisonError::into_inner);
            if let Err(error) = ingest.checkpoint(consumer, CommitMode::Sync, true) {
                eprintln!("onrust: checkpoint before rebalance failed: {error:#}");
            }
        }
    }
}

type GroupConsumer = BaseConsumer<GroupContext>;

impl Ingest {
    /// Kafka around `applier`: dead letters go to `kafka.dead_letter_topic`.
    pub fn new(applier: Applier, kafka: &KafkaSettings) -> Result<Ingest> {
        Ok(Ingest {
            applier,
            dead_letters: Vec::new(),
            producer: dead_letter_producer(kafka)?,
            dead_letter_topic: kafka.dead_letter_topic.clone(),
            commit_behind: false,
        })
    }

    /// Applies one message; a rejected one goes to the dead-letter topic.
    fn handle(&mut self, message: &BorrowedMessage<'_>, arrived: Instant) {
        let payload = message.payload().unwrap_or_default();
        let position = Position {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
        };
        let timestamp = message.timestamp().to_millis();
        if let Applied::Rejected(reason) = self.applier.apply(position, payload, timestamp, arrived)
        {
            self.send_dead_letter(payload.to_vec(), reason.as_str());
        }
    }

    fn send_dead_letter(&mut self, payload: Vec<u8>, reason: &'static str) {
        let record = BaseRecord::<(), [u8]>::to(&self.dead_letter_topic)
            .payload(&payload)
            .headers(OwnedHeaders::new().insert(Header {
                key: REASON_HEADER,
                value: Some(reason),
            }));
        if let Err((error, _)) = self.producer.send(record) {
            // The queue is full or the topic unknown: the checkpoint resends it.
            eprintln!("onrust: dead letter queued for retry: {error}");
            self.producer
                .context()
                .failures
                .fetch_add(1, Ordering::Relaxed);
        }
        self.dead_letters.push((payload, reason));
    }

    /// Makes sure every dead letter since the last checkpoint is on the broker.
    fn flush_dead_letters(&mut self) -> Result<()> {
        for _ in 0..2 {
            self.producer.flush(DEAD_LETTER_FLUSH)?;
            if self.producer.context().failures.swap(0, Ordering::Relaxed) == 0 {
                self.applier
                    .live()
                    .metrics
                    .dead_letters
                    .inc_by(self.dead_letters.len() as u64);
                self.dead_letters.clear();
                return Ok(());
            }
            for (payload, reason) in std::mem::take(&mut self.dead_letters) {
                self.send_dead_letter(payload, reason);
            }
        }
        bail!(
            "the dead-letter topic {:?} did not take {} messages",
            self.dead_letter_topic,
            self.dead_letters.len()
        )
    }

    /// Writes a checkpoint and commits its offsets to Kafka; then the live view and
    /// the delivery workers learn of the new alerts.
    ///
    /// `always_commit`: commit even when nothing changed since the last checkpoint
    /// (before a rebalance or at shutdown, in case an earlier asynchronous commit was
    /// refused). A group commit found behind the checkpoint at assignment also
    /// calls for one, made synchronously so that it is known to have landed:
    /// without it, a group whose every message was counted before a crash would
    /// keep its old commit (and its lag) until new posts came.
    fn checkpoint(
        &mut self,
        consumer: &GroupConsumer,
        mode: CommitMode,
        always_commit: bool,
    ) -> Result<()> {
        if self.applier.dirty() {
            self.flush_dead_letters()?;
        }
        if self.commit_behind {
            self.applier.checkpoint()?;
            self.commit(consumer, CommitMode::Sync)?;
            self.commit_behind = false;
        } else if self.applier.checkpoint()? || always_commit {
            self.commit(consumer, mode)?;
        }
        Ok(())
    }

    /// Commits the applied offsets of the assigned partitions to Kafka.
    fn commit(&self, consumer: &GroupConsumer, mode: CommitMode) -> Result<()> {
        let assigned = consumer.assignment()?;
        let mut commit = TopicPartitionList::new();
        for element in assigned.elements() {
            if let Some(&next) = self
                .applier
                .offsets()
                .get(element.topic())
                .and_then(|p| p.get(&element.partition()))
            {
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
}

fn dead_letter_producer(kafka: &KafkaSettings) -> Result<ThreadedProducer<DeadLetterContext>> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &kafka.brokers);
    config.set("enable.idempotence", "false");
    for (key, value) in &kafka.options {
        // Consumer-only settings would make the producer refuse to start.
        if !is_consumer_only(key) {
            config.set(key, value);
        }
    }
    config
        .create_with_context(DeadLetterContext {
            failures: AtomicU64::new(0),
        })
        .context("creating the dead-letter producer")
}

fn is_consumer_only(key: &str) -> bool {
    key.starts_with("session.")
        || key.starts_with("heartbeat.")
        || key.starts_with("max.poll.")
        || key.starts_with("auto.offset.")
        || key.starts_with("fetch.")
        || key.starts_with("group.")
        || key.starts_with("partition.assignment")
        || key == "isolation.level"
}

/// Runs the consumer until `live` says stop: waits for the broker and the topics,
/// joins the group, applies messages, checkpoints every `interval`, and on the way
/// out checkpoints and commits once more.
pub fn run(
    ingest: Ingest,
    kafka: &KafkaSettings,
    interval: Duration,
    live: Arc<Live>,
) -> Result<()> {
    let ingest = Arc::new(Mutex::new(ingest));
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
            ingest: Arc::clone(&ingest),
            live: Arc::clone(&live),
            errors_logged: Mutex::new(HashMap::new()),
        })
        .context("creating the Kafka consumer")?;
    if !wait_for_topics(&consumer, kafka, &live) {
        return Ok(());
    }
    consumer
        .subscribe(&[kafka.topic.as_str()])
        .with_context(|| format!("subscribing to {:?}", kafka.topic))?;
    live.set_source_connected(true);
    eprintln!(
        "onrust: consuming {:?} as group {:?} from {}",
        kafka.topic, kafka.group, kafka.brokers
    );
    let mut last_checkpoint = Instant::now();
    let mut failing_since: Option<Instant> = None;
    while !live.stopping() {
        if let Some(result) = consumer.poll(Duration::from_millis(100)) {
            let arrived = Instant::now();
            match result {
                Ok(message) => lock(&ingest).handle(&message, arrived),
                Err(error) => consumer.context().log_error(error.to_string()),
            }
        }
        if last_checkpoint.elapsed() >= interval {
            match lock(&ingest).checkpoint(&consumer, CommitMode::Async, false) {
                Ok(()) => failing_since = None,
                Err(error) => {
                    eprintln!("onrust: checkpoint failed, retrying: {error:#}");
                    failing_since.get_or_insert_with(Instant::now);
                }
            }
            live.set_source_connected(failing_since.is_none_or(|t| t.elapsed() < interval * 30));
            last_checkpoint = Instant::now();
        }
    }
    let result = lock(&ingest).checkpoint(&consumer, CommitMode::Sync, true);
    consumer.unsubscribe();
    result.context("the final checkpoint")
}

fn lock(ingest: &Mutex<Ingest>) -> std::sync::MutexGuard<'_, Ingest> {
    ingest.lock().unwrap_or_else(PoisonError::into_inner)
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
