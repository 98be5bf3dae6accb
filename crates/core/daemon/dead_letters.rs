//! Dead letters that cannot stall the daemon.
//!
//! A rejected message becomes a [`DeadLetter`], written to the store in the same
//! transaction as the checkpoint that moves past it: a crash loses none, and a
//! checkpoint never waits for the dead-letter topic. A forwarder of its own
//! ([`forward`]) sends what waits to `kafka.dead_letter_topic` and removes what the
//! broker acknowledged; a broker that refuses is counted, logged and retried with
//! backoff while alerts go on.
//!
//! What waits is bounded: a message over `input.max_message_bytes` (the one that
//! is too large to be a post) is kept as a record of its position, size, reason
//! and its first [`PREFIX_BYTES`]; so is every dead letter once
//! [`WHOLE_KEPT`] wait; beyond [`MOST_KEPT`] new ones are only counted. A dead
//! letter the topic refuses as too large is reduced to its record and sent again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use serde::{Deserialize, Serialize};

use super::live::Live;
use super::store::Store;
use crate::settings::KafkaSettings;

/// The header that carries a dead letter's rejection reason.
pub const REASON_HEADER: &str = "onrust-reject-reason";
/// The header that says where the message was: `<topic>/<partition>@<offset>`.
pub const SOURCE_HEADER: &str = "onrust-source";
/// The header present (`record`) when the payload is a [`DeadLetterRecord`] in
/// JSON rather than the message itself.
pub const FORMAT_HEADER: &str = "onrust-dead-letter";

/// The bytes of a message a record keeps.
pub const PREFIX_BYTES: usize = 1024;
/// Dead letters waiting with their whole message, at most; later ones wait as
/// records until the topic takes the backlog.
pub const WHOLE_KEPT: u64 = 10_000;
/// Dead letters waiting, at most (about 1.5 KiB each beyond [`WHOLE_KEPT`]).
pub const MOST_KEPT: u64 = 1_000_000;

/// Dead letters in flight (sent, not yet answered), at most.
const BATCH: usize = 500;
/// The longest wait between attempts when the topic refuses.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The same refusal is logged at most once in this long.
const LOG_INTERVAL: Duration = Duration::from_secs(30);

/// One rejected message, as it waits in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The message's topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Why it was rejected (a `reason` of `onrust_posts_rejected_total`).
    pub reason: String,
    /// Its size in bytes.
    pub bytes: usize,
    /// The message, or only its first bytes when `truncated`.
    #[serde(skip)]
    pub payload: Vec<u8>,
    /// Whether `payload` is a prefix: the letter is sent as a record.
    pub truncated: bool,
}

/// What the dead-letter topic receives for a message not sent whole.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeadLetterRecord {
    /// The message's topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset: the message itself is there while the topic retains it.
    pub offset: i64,
    /// Why it was rejected.
    pub reason: String,
    /// Its size in bytes.
    pub bytes: usize,
    /// Its first bytes, as text (invalid UTF-8 replaced).
    pub prefix: String,
}

impl DeadLetter {
    /// The dead letter of `payload`, rejected for `reason`: whole when `whole`
    /// and the message is a size a post may have (`max_message_bytes`), else
    /// its record.
    pub fn new(
        (topic, partition, offset): (&str, i32, i64),
        payload: &[u8],
        reason: &str,
        max_message_bytes: usize,
        whole: bool,
    ) -> DeadLetter {
        let truncated = !whole || payload.len() > max_message_bytes;
        DeadLetter {
            topic: topic.to_string(),
            partition,
            offset,
            reason: reason.to_string(),
            bytes: payload.len(),
            payload: if truncated {
                prefix(payload).to_vec()
            } else {
                payload.to_vec()
            },
            truncated,
        }
    }

    /// This letter as a record: its position, size, reason and first bytes.
    pub fn reduced(mut self) -> DeadLetter {
        if !self.truncated {
            self.payload.truncate(prefix(&self.payload).len());
            self.truncated = true;
        }
        self
    }

    /// What the topic receives: the message, or its record in JSON.
    pub fn body(&self) -> Vec<u8> {
        if !self.truncated {
            return self.payload.clone();
        }
        let record = DeadLetterRecord {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
            reason: self.reason.clone(),
            bytes: self.bytes,
            prefix: String::from_utf8_lossy(&self.payload).into_owned(),
        };
        serde_json::to_vec(&record).unwrap_or_default()
    }

    /// The store's bytes: the length of the JSON head (u32, little endian), the
    /// head, then the payload as it is (JSON would quadruple binary bytes).
    pub fn encode(&self) -> Vec<u8> {
        let head = serde_json::to_vec(self).unwrap_or_default();
        let mut out = Vec::with_capacity(4 + head.len() + self.payload.len());
        out.extend_from_slice(&(head.len() as u32).to_le_bytes());
        out.extend_from_slice(&head);
        out.extend_from_slice(&self.payload);
        out
    }

    /// The letter [`DeadLetter::encode`] wrote; `None` when the bytes are not one.
    pub fn decode(bytes: &[u8]) -> Option<DeadLetter> {
        let length = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        let head = bytes.get(4..4usize.checked_add(length)?)?;
        let mut letter: DeadLetter = serde_json::from_slice(head).ok()?;
        letter.payload = bytes.get(4 + length..)?.to_vec();
        Some(letter)
    }
}

/// The first [`PREFIX_BYTES`] of `payload`, cut at a character boundary when it
/// is UTF-8.
fn prefix(payload: &[u8]) -> &[u8] {
    if payload.len() <= PREFIX_BYTES {
        return payload;
    }
    let mut end = PREFIX_BYTES;
    // Back up over UTF-8 continuation bytes (at most three).
    while end > PREFIX_BYTES - 3 && payload[end] & 0b1100_0000 == 0b1000_0000 {
        end -= 1;
    }
    &payload[..end]
}

/// The broker's answers, by the store's sequence number of the letter.
pub struct Acknowledgements {
    answers: Mutex<HashMap<u64, Option<KafkaError>>>,
}

impl ClientContext for Acknowledgements {}

impl ProducerContext for Acknowledgements {
    type DeliveryOpaque = Box<u64>;

    fn delivery(&self, result: &DeliveryResult<'_>, sequence: Box<u64>) {
        let error = result.as_ref().err().map(|(error, _)| error.clone());
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(*sequence, error);
    }
}

/// Sends the dead letters that wait in `store` to `kafka.dead_letter_topic` until
/// `live` says stop; then, once `ingest_done` (the final checkpoint is written),
/// rounds for what it wrote until the topic has taken everything, refuses, or
/// [`FINAL_ROUNDS`] have passed.
pub fn forward(
    store: Arc<Store>,
    producer: DeadLetterProducer,
    topic: String,
    live: Arc<Live>,
    ingest_done: Arc<AtomicBool>,
) -> Result<()> {
    let mut forwarder = Forwarder {
        producer,
        topic,
        in_flight: HashMap::new(),
        logged: HashMap::new(),
    };
    let mut backoff = Duration::from_secs(1);
    let mut final_rounds = None;
    loop {
        let stopping = live.stopping();
        match forwarder.round(&store, &live) {
            Ok(None) => backoff = Duration::from_secs(1),
            Ok(Some(error)) => {
                live.metrics.dead_letter_failures.inc();
                forwarder.log(&error, backoff);
                sleep_unless_stopping(&live, backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(error) => {
                live.metrics.dead_letter_failures.inc();
                forwarder.log(&format!("{error:#}"), backoff);
                sleep_unless_stopping(&live, backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        if stopping {
            // The final checkpoint may write more: wait for it, then a few rounds.
            while !ingest_done.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let left = final_rounds.get_or_insert(FINAL_ROUNDS);
            let waiting = store.dead_letter_count()?;
            if waiting == 0 || *left == 0 || backoff > Duration::from_secs(1) {
                if waiting > 0 {
                    eprintln!(
                        "onrust: {waiting} dead letters wait in the store for the next start"
                    );
                }
                return Ok(());
            }
            *left -= 1;
            std::thread::sleep(ROUND);
        } else {
            sleep_unless_stopping(&live, ROUND);
        }
    }
}

/// Rounds of sending at shutdown, at most.
const FINAL_ROUNDS: u32 = 20;
/// The pause between rounds.
const ROUND: Duration = Duration::from_millis(200);

/// The producer of dead letters and the letters it has sent without an answer yet.
struct Forwarder {
    producer: DeadLetterProducer,
    topic: String,
    /// Sequence numbers sent and not yet answered, with the letter sent.
    in_flight: HashMap<u64, DeadLetter>,
    /// When each refusal was last logged.
    logged: HashMap<String, Instant>,
}

impl Forwarder {
    /// Takes the broker's answers (removing from the store what it acknowledged,
    /// reducing to records what it refused as too large), then sends the oldest
    /// waiting letters not in flight. `Some(error)` when the broker refused any.
    fn round(&mut self, store: &Store, live: &Live) -> Result<Option<String>> {
        self.producer.poll(Duration::ZERO);
        let answers: HashMap<u64, Option<KafkaError>> = std::mem::take(
            &mut *self
                .producer
                .context()
                .answers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let mut refused = None;
        let mut acknowledged = Vec::new();
        for (sequence, answer) in answers {
            let Some(letter) = self.in_flight.remove(&sequence) else {
                continue;
            };
            match answer {
                None => acknowledged.push(sequence),
                Some(error) => {
                    let too_large =
                        error.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageSizeTooLarge);
                    if too_large && !letter.truncated {
                        store.replace_dead_letter(sequence, &letter.reduced())?;
                    }
                    refused.get_or_insert_with(|| error.to_string());
                }
            }
        }
        store.dead_letters_sent(&acknowledged)?;
        live.metrics.dead_letters.inc_by(acknowledged.len() as u64);
        // After a refusal, wait for the backoff before sending again.
        if refused.is_none() && self.in_flight.len() < BATCH {
            let waiting = store.dead_letters(BATCH + self.in_flight.len())?;
            for (sequence, letter) in waiting {
                if self.in_flight.len() >= BATCH {
                    break;
                }
                if self.in_flight.contains_key(&sequence) {
                    continue;
                }
                if let Err(error) = self.send(sequence, &letter) {
                    refused.get_or_insert(error);
                    break;
                }
                self.in_flight.insert(sequence, letter);
            }
        }
        live.metrics
            .dead_letters_waiting
            .set(store.dead_letter_count()? as i64);
        Ok(refused)
    }

    /// Hands one letter to the producer.
    fn send(&self, sequence: u64, letter: &DeadLetter) -> Result<(), String> {
        // Fault injection for the tests: the topic refuses every letter.
        if super::fault_while_file("dead-letter-refused") {
            return Err("refused by the failpoint dead-letter-refused".into());
        }
        let body = letter.body();
        let source = format!("{}/{}@{}", letter.topic, letter.partition, letter.offset);
        let mut headers = OwnedHeaders::new()
            .insert(Header {
                key: REASON_HEADER,
                value: Some(letter.reason.as_str()),
            })
            .insert(Header {
                key: SOURCE_HEADER,
                value: Some(source.as_str()),
            });
        if letter.truncated {
            headers = headers.insert(Header {
                key: FORMAT_HEADER,
                value: Some("record"),
            });
        }
        let record = BaseRecord::with_opaque_to(&self.topic, Box::new(sequence))
            .payload(body.as_slice())
            .key(source.as_bytes())
            .headers(headers);
        self.producer
            .send(record)
            .map_err(|(error, _)| error.to_string())
    }

    /// Logs a refusal, the same one at most once per [`LOG_INTERVAL`].
    fn log(&mut self, error: &str, backoff: Duration) {
        if self
            .logged
            .get(error)
            .is_none_or(|at| at.elapsed() >= LOG_INTERVAL)
        {
            eprintln!(
                "onrust: the dead-letter topic {:?} refused ({error}); retrying in {}s, \
                 alerts go on",
                self.topic,
                backoff.as_secs()
            );
            self.logged.insert(error.to_string(), Instant::now());
        }
    }
}

/// Sleeps `duration`, waking early when the daemon stops.
fn sleep_unless_stopping(live: &Live, duration: Duration) {
    let until = Instant::now() + duration;
    while !live.stopping() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50).min(duration));
    }
}

/// The dead-letter producer: made before the forwarder's thread starts, so
/// that a bad `kafka.options` entry fails the start, not the thread unseen.
pub type DeadLetterProducer = ThreadedProducer<Acknowledgements>;

/// A producer for `kafka.dead_letter_topic`.
pub fn producer(kafka: &KafkaSettings) -> Result<DeadLetterProducer> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &kafka.brokers);
    config.set("enable.idempotence", "false");
    // A topic that is gone or refuses answers with an error within this, and the
    // letter is sent again: it waits in the store meanwhile.
    config.set("message.timeout.ms", "30000");
    for (key, value) in &kafka.options {
        // Consumer-only settings would make the producer refuse to start.
        if !is_consumer_only(key) {
            config.set(key, value);
        }
    }
    config
        .create_with_context(Acknowledgements {
            answers: Mutex::new(HashMap::new()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(payload: &[u8], whole: bool) -> DeadLetter {
        DeadLetter::new(
            ("posts", 3, 41),
            payload,
            "malformed_json",
            64 * 1024,
            whole,
        )
    }

    #[test]
    fn a_letter_survives_the_store_encoding_whatever_its_bytes() {
        for payload in [&b""[..], b"not json", b"\xff\xfe\x00binary", &[b'{'; 5000]] {
            let original = letter(payload, true);
            assert_eq!(
                DeadLetter::decode(&original.encode()),
                Some(original.clone())
            );
        }
        assert_eq!(DeadLetter::decode(b"\xff\xff\xff\xff{}"), None);
        assert_eq!(DeadLetter::decode(b"ab"), None);
    }

    #[test]
    fn a_message_too_large_for_a_post_becomes_a_record_with_a_bounded_prefix() {
        let huge = "é".repeat(800_000).into_bytes();
        let dead = DeadLetter::new(("posts", 0, 7), &huge, "message_too_large", 64 * 1024, true);
        assert!(dead.truncated);
        assert_eq!(dead.bytes, 1_600_000);
        let record: DeadLetterRecord = serde_json::from_slice(&dead.body()).expect("a record");
        assert_eq!((record.partition, record.offset), (0, 7));
        assert_eq!(record.reason, "message_too_large");
        assert_eq!(record.bytes, 1_600_000);
        // Cut at a character boundary: no replacement character at the end.
        assert!(record.prefix.len() <= PREFIX_BYTES && record.prefix.len() >= PREFIX_BYTES - 3);
        assert!(record.prefix.chars().all(|c| c == 'é'), "{}", record.prefix);
    }

    #[test]
    fn a_small_letter_goes_whole_unless_too_many_wait_and_can_be_reduced() {
        let body = br#"{"id":1,"text":""}"#;
        assert_eq!(letter(body, true).body(), body.to_vec());
        let reduced = letter(body, false);
        assert!(reduced.truncated);
        let record: DeadLetterRecord = serde_json::from_slice(&reduced.body()).expect("record");
        assert_eq!(record.prefix.as_bytes(), body);
        let long = vec![b'x'; 5000];
        let later = letter(&long, true).reduced();
        assert!(later.truncated && later.payload.len() == PREFIX_BYTES);
        assert_eq!(later.bytes, 5000);
    }
}
