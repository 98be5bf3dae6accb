//! The daemon's embedded store (redb, one file): the engine's checkpoint with the
//! Kafka offsets it covers, the outbox of alert deliveries, the alerts shown by the
//! API with their acknowledgements, the dead letters not yet sent and the post ids
//! seen lately. A checkpoint, its offsets, the deliveries of the alerts it raised,
//! its dead letters and the ids it saw are written in one transaction: after a
//! crash the daemon resumes from a state, offsets and outbox that agree. A store
//! that cannot be read is refused by name; one whose writes failed is reopened.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use anyhow::{Context, Result};
use onrust_signal::dedup::SeenChanges;
use onrust_signal::engine::{AlertEvent, AlertStatus};
use onrust_signal::inputs::SavedInputs;

use super::dead_letters::DeadLetter;
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// (receiver id, sequence number) → [`Delivery`] as JSON.
const OUTBOX: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("outbox");
/// (receiver id, sequence number) → [`Delivery`] as JSON, given up on.
const FAILED: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("failed");
/// Alert id → [`AlertRecord`] as JSON.
const ALERTS: TableDefinition<&str, &[u8]> = TableDefinition::new("alerts");
/// (event minute, fingerprint) of the posts seen lately, to de-duplicate.
const SEEN: TableDefinition<(i64, u64), ()> = TableDefinition::new("seen");
/// Sequence number → [`DeadLetter`] (its own encoding), waiting for the topic.
const DEAD_LETTERS: TableDefinition<u64, &[u8]> = TableDefinition::new("dead_letters");

/// A key of the outbox and failed tables: (receiver id, sequence number).
type OutboxKey = (u32, u64);

/// What expiry does to the failed table.
#[derive(Debug, Default)]
struct FailedExpiry {
    /// Deliveries rewritten without their evidence texts.
    stripped: Vec<(OutboxKey, Delivery)>,
    /// Deliveries removed.
    removed: Vec<OutboxKey>,
}

/// Resolved alerts are kept (and shown by the API) this long after they resolve.
pub const RESOLVED_KEPT_MS: i64 = 24 * 3_600_000;

/// Deliveries given up are kept this long, for a look at what a receiver refused
/// (their evidence texts go sooner, with the evidence retention).
pub const FAILED_KEPT_MS: i64 = 7 * 24 * 3_600_000;

const ENGINE_KEY: &str = "engine";
const OFFSETS_KEY: &str = "offsets";
const INPUTS_KEY: &str = "inputs";
const SEQUENCE_KEY: &str = "sequence";
const RECEIVERS_KEY: &str = "receivers";

/// How a receiver is known in the store: `<kind> <URL without credentials,
/// query or fragment> sha256:<first 16 hex digits of the whole URL's hash>`.
/// Two URLs that differ only in a secret stay apart, and no secret is stored.
pub fn receiver_key(kind: &str, url: &str) -> String {
    use sha2::Digest as _;
    let shown = match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => "(unparsable URL)".to_string(),
    };
    let digest = sha2::Sha256::digest(url.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{kind} {shown} sha256:{hex}")
}

/// A registry key of a store from before [`receiver_key`] (`<kind> <URL>`, a
/// `#N` after it for a receiver configured twice), as it is known now.
fn migrated_key(key: &str) -> Option<String> {
    if key.contains(" sha256:") {
        return None;
    }
    let (kind, rest) = key.split_once(' ')?;
    let (url, repeat) = match rest.split_once(' ') {
        Some((url, repeat)) if repeat.starts_with('#') => (url, format!(" {repeat}")),
        Some(_) => return None,
        None => (rest, String::new()),
    };
    url.contains("://")
        .then(|| format!("{}{repeat}", receiver_key(kind, url)))
}

/// Which outbox id each receiver has. A receiver keeps its id across restarts
/// whatever its place in the configuration, so reordering `[[webhooks]]` never
/// sends one receiver's waiting deliveries to another.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Receivers {
    /// Receiver (`<kind> <url>`) → its outbox id.
    ids: BTreeMap<String, u32>,
    /// The id the next new receiver gets; ids are never reused.
    next: u32,
}

/// Next offset to read, by topic and partition.
pub type Offsets = BTreeMap<String, BTreeMap<i32, i64>>;

/// One alert event to deliver to one sink.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// The event, exactly as it is sent (the webhook body is these bytes).
    pub body: String,
    /// `<alert id>:<status>`: the idempotency key.
    pub key: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// Not to be tried before this time (epoch ms).
    pub not_before_ms: i64,
    /// Why it was last refused, or given up.
    #[serde(default)]
    pub error: Option<String>,
    /// When it was given up (epoch ms; failed deliveries only).
    #[serde(default)]
    pub given_up_ms: Option<i64>,
}

/// An alert as the API shows it: its latest event and who acknowledged it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertRecord {
    /// The latest event of the episode.
    #[serde(flatten)]
    pub event: AlertEvent,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// When (RFC 3339).
    pub acked_at: Option<String>,
    /// When the daemon last changed it (epoch ms), to expire resolved alerts.
    pub updated_ms: i64,
}

/// `<alert id>:<status>`: the idempotency key of an alert event's deliveries.
pub fn delivery_key(event: &AlertEvent) -> String {
    format!("{}:{}", event.id, event.status.as_str())
}

/// What a checkpoint restores.
pub struct Checkpoint {
    /// The engine's saved state.
    pub engine: Vec<u8>,
    /// The offsets it covers.
    pub offsets: Offsets,
    /// The event time and late posts of each partition it covers, and the posts
    /// held back.
    pub inputs: SavedInputs,
}

/// What a checkpoint writes.
#[derive(Clone, Copy)]
pub struct CheckpointWrite<'a> {
    /// The engine's saved state.
    pub engine: &'a [u8],
    /// The offsets it covers.
    pub offsets: &'a Offsets,
    /// The inputs' state: watermarks, late counts, held posts.
    pub inputs: &'a SavedInputs,
    /// The alert events raised since the last checkpoint.
    pub events: &'a [AlertEvent],
    /// The outbox ids of the receivers each event goes to.
    pub receivers: &'a [u32],
    /// The dead letters of the messages rejected since the last checkpoint.
    pub dead_letters: &'a [DeadLetter],
    /// The posts remembered and forgotten since the last checkpoint.
    pub seen: &'a SeenChanges,
}

/// The store's file in `state.dir`.
pub const STORE_FILE: &str = "onrust.redb";

/// The store.
pub struct Store {
    /// `None` only between closing and reopening (see [`Store::reopen`]).
    db: RwLock<Option<Arc<Database>>>,
    path: PathBuf,
}

/// Opens the database at `path`, reading every table once: a corrupt file is
/// an error naming it (redb panics on some damage: caught here, not a crash).
fn open_database(path: &Path) -> Result<Database> {
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let opened = std::panic::catch_unwind(|| -> Result<Database, String> {
        let db = Database::create(path).map_err(|error| match error {
            redb::DatabaseError::DatabaseAlreadyOpen => format!(
                "{} is in use by another onrust: each daemon needs its own state.dir",
                path.display()
            ),
            other => format!("corrupt: {other}"),
        })?;
        read_everything(&db).map_err(|error| format!("corrupt: {error}"))?;
        Ok(db)
    });
    std::panic::set_hook(quiet);
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(why)) if why.starts_with("corrupt: ") => Err(broken(path, &why)),
        Ok(Err(why)) => Err(anyhow::anyhow!(why)),
        Err(_) => Err(broken(path, "corrupt: reading it failed")),
    }
}

/// Reads every entry of every table of the store (those not there yet, in a
/// new file, are skipped).
fn read_everything(db: &Database) -> Result<()> {
    fn read_all<K: redb::Key + 'static, V: redb::Value + 'static>(
        txn: &redb::ReadTransaction,
        table: TableDefinition<'_, K, V>,
    ) -> Result<()> {
        match txn.open_table(table) {
            Ok(table) => {
                for entry in table.iter()? {
                    entry?;
                }
                Ok(())
            }
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
    let txn = db.begin_read()?;
    read_all(&txn, META)?;
    read_all(&txn, OUTBOX)?;
    read_all(&txn, FAILED)?;
    read_all(&txn, ALERTS)?;
    read_all(&txn, DEAD_LETTERS)?;
    read_all(&txn, SEEN)?;
    Ok(())
}

/// The error of a store that cannot be used: where, why, what it holds, and
/// how to start afresh.
fn broken(path: &Path, why: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the store {} cannot be used: {why}. It holds the checkpoint (the Kafka offsets \
         and every area's state and baseline), the alert deliveries not yet sent, the \
         alerts with their acknowledgements, and the dead letters not yet sent. Restore \
         it from a backup, or start afresh without them with `onrust run --reset-state` \
         (it moves the file aside)",
        path.display()
    )
}

impl Store {
    /// Opens (or creates) the store in `dir`. A store that is empty (0 bytes),
    /// unreadable or corrupt is refused with an error that says what it holds,
    /// never opened as new nor a panic; `reset` (`--reset-state`) first moves
    /// whatever store there is aside (`onrust.redb.reset-<epoch seconds>`), so the
    /// daemon starts afresh.
    pub fn open(dir: &Path, reset: bool) -> Result<Store> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(STORE_FILE);
        if reset && path.exists() {
            let aside = dir.join(format!(
                "{STORE_FILE}.reset-{}",
                chrono::Utc::now().timestamp()
            ));
            std::fs::rename(&path, &aside)
                .with_context(|| format!("--reset-state: moving {} aside", path.display()))?;
            eprintln!(
                "onrust: --reset-state: moved {} to {}; starting with an empty store",
                path.display(),
                aside.display()
            );
        }
        match std::fs::metadata(&path) {
            Ok(metadata) if metadata.len() == 0 => {
                return Err(broken(&path, "it is empty (0 bytes)"));
            }
            Ok(_) => {
                if let Err(error) = std::fs::File::open(&path) {
                    return Err(broken(&path, &format!("it cannot be read: {error}")));
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(broken(&path, &format!("it cannot be read: {error}"))),
        }
        let db = open_database(&path)?;
        let store = Store {
            db: RwLock::new(Some(Arc::new(db))),
            path,
        };
        store.create_tables()?;
        Ok(store)
    }

    /// The database, or an error while it is closed (a reopen failed).
    fn db(&self) -> Result<Arc<Database>> {
        self.db
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| anyhow::anyhow!("{} is closed: reopening failed", self.path.display()))
    }

    /// Closes and opens the store again: after a failed write (a full disk) redb
    /// refuses every later one, even once space is free, until it is reopened.
    /// Fails (and is tried again later) while another thread still uses the
    /// old handle.
    pub fn reopen(&self) -> Result<()> {
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        // The old handle must be gone before the file can be opened again.
        *db = None;
        *db = Some(Arc::new(open_database(&self.path)?));
        Ok(())
    }

    fn create_tables(&self) -> Result<()> {
        let txn = self.db()?.begin_write()?;
        txn.open_table(META)?;
        txn.open_table(OUTBOX)?;
        txn.open_table(FAILED)?;
        txn.open_table(ALERTS)?;
        txn.open_table(DEAD_LETTERS)?;
        txn.open_table(SEEN)?;
        txn.commit()?;
        Ok(())
    }

    /// The last checkpoint, if there is one.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>> {
        let txn = self.db()?.begin_read()?;
        let meta = txn.open_table(META)?;
        let Some(engine) = meta.get(ENGINE_KEY)? else {
            return Ok(None);
        };
        let offsets = match meta.get(OFFSETS_KEY)? {
            Some(bytes) => serde_json::from_slice(bytes.value()).context("stored offsets")?,
            None => Offsets::new(),
        };
        let inputs = match meta.get(INPUTS_KEY)? {
            Some(bytes) => serde_json::from_slice(bytes.value()).context("stored input state")?,
            None => SavedInputs::default(),
        };
        Ok(Some(Checkpoint {
            engine: engine.value().to_vec(),
            offsets,
            inputs,
        }))
    }

    /// The outbox ids of `receivers` (each `<kind> <url>`, in configuration order),
    /// the same as at the last start for a receiver configured then and new ones
    /// for the others. Deliveries still waiting for a receiver that is no longer
    /// configured are given up (moved to the failed table with the reason), never
    /// sent elsewhere; the second number says how many. A store from before this
    /// registry had the receivers' positions as ids: it keeps them.
    pub fn receiver_ids(&self, receivers: &[String], now_ms: i64) -> Result<(Vec<u32>, u64)> {
        let txn = self.db()?.begin_write()?;
        let mut given_up = 0;
        let ids = {
            let mut meta = txn.open_table(META)?;
            let mut registry: Receivers = match meta.get(RECEIVERS_KEY)? {
                Some(bytes) => {
                    let mut stored: Receivers =
                        serde_json::from_slice(bytes.value()).context("stored receivers")?;
                    // Receivers stored with their URLs in clear (credentials, tokens
                    // in the query): known by their key from now on, the URLs gone.
                    stored.ids = std::mem::take(&mut stored.ids)
                        .into_iter()
                        .map(|(key, id)| (migrated_key(&key).unwrap_or(key), id))
                        .collect();
                    stored
                }
                None => Receivers {
                    ids: receivers
                        .iter()
                        .enumerate()
                        .map(|(position, receiver)| (receiver.clone(), position as u32))
                        .collect(),
                    next: receivers.len() as u32,
                },
            };
            let mut outbox = txn.open_table(OUTBOX)?;
            // Deliveries under an id the registry does not know (a receiver at a
            // position beyond today's list, before the registry existed) are given
            // up below like any other receiver's that is gone.
            let mut known: Vec<u32> = registry.ids.values().copied().collect();
            known.sort_unstable();
            let mut strays = Vec::new();
            for entry in outbox.iter()? {
                let (key, _) = entry?;
                let id = key.value().0;
                if known.binary_search(&id).is_err() && !strays.contains(&id) {
                    strays.push(id);
                }
            }
            for id in strays {
                registry
                    .ids
                    .insert(format!("the receiver at position {id}"), id);
                registry.next = registry.next.max(id + 1);
            }
            let mut failed = txn.open_table(FAILED)?;
            let gone: Vec<(String, u32)> = registry
                .ids
                .iter()
                .filter(|(receiver, _)| !receivers.contains(receiver))
                .map(|(receiver, id)| (receiver.clone(), *id))
                .collect();
            for (receiver, id) in gone {
                let mut waiting = Vec::new();
                for entry in outbox.range((id, 0)..=(id, u64::MAX))? {
                    let (key, value) = entry?;
                    let delivery: Delivery =
                        serde_json::from_slice(value.value()).context("stored delivery")?;
                    waiting.push((key.value(), delivery));
                }
                for (key, mut delivery) in waiting {
                    outbox.remove(key)?;
                    delivery.error = Some(format!("{receiver} is no longer configured"));
                    delivery.given_up_ms = Some(now_ms);
                    failed.insert(key, serde_json::to_vec(&delivery)?.as_slice())?;
                    given_up += 1;
                }
                registry.ids.remove(&receiver);
            }
            let ids: Vec<u32> = receivers
                .iter()
                .map(|receiver| {
                    *registry.ids.entry(receiver.clone()).or_insert_with(|| {
                        registry.next += 1;
                        registry.next - 1
                    })
                })
                .collect();
            meta.insert(RECEIVERS_KEY, serde_json::to_vec(&registry)?.as_slice())?;
            ids
        };
        txn.commit()?;
        Ok((ids, given_up))
    }

    /// Writes a checkpoint in one transaction: the engine's state, the offsets it
    /// covers and the inputs' state (watermarks, held posts), one delivery per
    /// receiver (by outbox id) for each of `events`, the alerts' records, and the
    /// dead letters of the messages it moves past.
    pub fn commit(&self, checkpoint: &CheckpointWrite<'_>, now_ms: i64) -> Result<()> {
        // Fault injection for the tests: every checkpoint fails as on a full disk.
        if super::fault_while_file("store-full") {
            return Err(std::io::Error::from(std::io::ErrorKind::StorageFull))
                .with_context(|| format!("writing {}", self.path.display()));
        }
        let CheckpointWrite {
            engine,
            offsets,
            inputs,
            events,
            receivers,
            dead_letters,
            seen,
        } = *checkpoint;
        let txn = self.db()?.begin_write()?;
        {
            let mut table = txn.open_table(SEEN)?;
            for &key in &seen.added {
                table.insert(key, ())?;
            }
            if let Some(before) = seen.forgotten_before {
                table.retain_in(..(before, 0), |_, ()| false)?;
            }
        }
        {
            let mut waiting = txn.open_table(DEAD_LETTERS)?;
            let next = match waiting.last()? {
                Some((key, _)) => key.value() + 1,
                None => 0,
            };
            for (sequence, letter) in (next..).zip(dead_letters) {
                waiting.insert(sequence, letter.encode().as_slice())?;
            }
        }
        {
            let mut meta = txn.open_table(META)?;
            meta.insert(ENGINE_KEY, engine)?;
            meta.insert(OFFSETS_KEY, serde_json::to_vec(offsets)?.as_slice())?;
            meta.insert(INPUTS_KEY, serde_json::to_vec(inputs)?.as_slice())?;
            let mut sequence = meta
                .get(SEQUENCE_KEY)?
                .and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes))
                .unwrap_or(0);
            let mut outbox = txn.open_table(OUTBOX)?;
            let mut alerts = txn.open_table(ALERTS)?;
            for event in events {
                let body = serde_json::to_string(event)?;
                let delivery = serde_json::to_vec(&Delivery {
                    body,
                    key: delivery_key(event),
                    attempts: 0,
                    not_before_ms: 0,
                    error: None,
                    given_up_ms: None,
                })?;
                for &receiver in receivers {
                    outbox.insert((receiver, sequence), delivery.as_slice())?;
                }
                sequence += 1;
                let previous: Option<AlertRecord> = alerts
                    .get(event.id.as_str())?
                    .and_then(|v| serde_json::from_slice(v.value()).ok());
                let record = AlertRecord {
                    event: event.clone(),
                    acked_by: previous.as_ref().and_then(|p| p.acked_by.clone()),
                    acked_at: previous.and_then(|p| p.acked_at),
                    updated_ms: now_ms,
                };
                alerts.insert(event.id.as_str(), serde_json::to_vec(&record)?.as_slice())?;
            }
            meta.insert(SEQUENCE_KEY, sequence.to_le_bytes().as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// The posts seen lately, as the checkpoints wrote them: (event minute,
    /// fingerprint).
    pub fn seen_ids(&self) -> Result<Vec<(i64, u64)>> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(SEEN)?;
        let mut out = Vec::with_capacity(table.len()? as usize);
        for entry in table.iter()? {
            out.push(entry?.0.value());
        }
        Ok(out)
    }

    /// Up to `limit` dead letters waiting, oldest first, with their sequence numbers.
    pub fn dead_letters(&self, limit: usize) -> Result<Vec<(u64, DeadLetter)>> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(DEAD_LETTERS)?;
        let mut out = Vec::new();
        for entry in table.iter()?.take(limit) {
            let (key, value) = entry?;
            let letter = DeadLetter::decode(value.value())
                .with_context(|| format!("stored dead letter {} is unreadable", key.value()))?;
            out.push((key.value(), letter));
        }
        Ok(out)
    }

    /// Dead letters waiting.
    pub fn dead_letter_count(&self) -> Result<u64> {
        let txn = self.db()?.begin_read()?;
        Ok(txn.open_table(DEAD_LETTERS)?.len()?)
    }

    /// Removes the dead letters the topic acknowledged.
    pub fn dead_letters_sent(&self, sequences: &[u64]) -> Result<()> {
        if sequences.is_empty() {
            return Ok(());
        }
        let txn = self.db()?.begin_write()?;
        {
            let mut table = txn.open_table(DEAD_LETTERS)?;
            for &sequence in sequences {
                table.remove(sequence)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Replaces a waiting dead letter (by one reduced to its record).
    pub fn replace_dead_letter(&self, sequence: u64, letter: &DeadLetter) -> Result<()> {
        let txn = self.db()?.begin_write()?;
        txn.open_table(DEAD_LETTERS)?
            .insert(sequence, letter.encode().as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// Up to `limit` deliveries waiting for `sink`, oldest first.
    pub fn pending(&self, sink: u32, limit: usize) -> Result<Vec<(u64, Delivery)>> {
        let txn = self.db()?.begin_read()?;
        let outbox = txn.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for entry in outbox.range((sink, 0)..=(sink, u64::MAX))?.take(limit) {
            let (key, value) = entry?;
            let delivery = serde_json::from_slice(value.value()).context("stored delivery")?;
            out.push((key.value().1, delivery));
        }
        Ok(out)
    }

    /// Deliveries waiting, over all sinks.
    pub fn pending_count(&self) -> Result<u64> {
        let txn = self.db()?.begin_read()?;
        Ok(txn.open_table(OUTBOX)?.len()?)
    }

    /// Removes a delivered entry.
    pub fn delivered(&self, sink: u32, sequence: u64) -> Result<()> {
        let txn = self.db()?.begin_write()?;
        txn.open_table(OUTBOX)?.remove((sink, sequence))?;
        txn.commit()?;
        Ok(())
    }

    /// Records a failed attempt of an entry that will be tried again.
    pub fn retry_later(&self, sink: u32, sequence: u64, delivery: &Delivery) -> Result<()> {
        let txn = self.db()?.begin_write()?;
        txn.open_table(OUTBOX)?
            .insert((sink, sequence), serde_json::to_vec(delivery)?.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// Moves an entry that will never be delivered to the failed table.
    pub fn give_up(&self, sink: u32, sequence: u64, delivery: &Delivery) -> Result<()> {
        let txn = self.db()?.begin_write()?;
        txn.open_table(OUTBOX)?.remove((sink, sequence))?;
        txn.open_table(FAILED)?
            .insert((sink, sequence), serde_json::to_vec(delivery)?.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// Every firing alert, and the resolved ones changed since `resolved_since_ms`.
    pub fn alerts(&self, resolved_since_ms: i64) -> Result<Vec<AlertRecord>> {
        let mut records = self.records()?;
        records
            .retain(|r| r.event.status == AlertStatus::Firing || r.updated_ms >= resolved_since_ms);
        Ok(records)
    }

    /// Every alert record, in id order.
    fn records(&self) -> Result<Vec<AlertRecord>> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(ALERTS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (_, value) = entry?;
            out.push(serde_json::from_slice(value.value()).context("stored alert")?);
        }
        Ok(out)
    }

    /// At `now_ms`: removes resolved alerts [`RESOLVED_KEPT_MS`] after they last
    /// changed and deliveries given up [`FAILED_KEPT_MS`] after they were, and drops
    /// the evidence posts (their texts) of alerts and given-up deliveries older than
    /// `evidence_before_ms`. Deliveries still waiting keep theirs: they are sent as
    /// raised.
    pub fn expire(&self, now_ms: i64, evidence_before_ms: i64) -> Result<()> {
        let resolved_before_ms = now_ms.saturating_sub(RESOLVED_KEPT_MS);
        let mut removed = Vec::new();
        let mut stripped = Vec::new();
        for mut record in self.records()? {
            if record.event.status == AlertStatus::Resolved
                && record.updated_ms < resolved_before_ms
            {
                removed.push(record.event.id);
            } else if record.updated_ms < evidence_before_ms
                && !record.event.evidence.posts.is_empty()
            {
                record.event.evidence.posts.clear();
                stripped.push(record);
            }
        }
        let failed =
            self.failed_to_expire(evidence_before_ms, now_ms.saturating_sub(FAILED_KEPT_MS))?;
        if removed.is_empty()
            && stripped.is_empty()
            && failed.stripped.is_empty()
            && failed.removed.is_empty()
        {
            return Ok(());
        }
        let txn = self.db()?.begin_write()?;
        {
            let mut table = txn.open_table(ALERTS)?;
            for id in &removed {
                table.remove(id.as_str())?;
            }
            for record in &stripped {
                table.insert(
                    record.event.id.as_str(),
                    serde_json::to_vec(record)?.as_slice(),
                )?;
            }
            let mut table = txn.open_table(FAILED)?;
            for (key, delivery) in &failed.stripped {
                table.insert(*key, serde_json::to_vec(delivery)?.as_slice())?;
            }
            for key in &failed.removed {
                table.remove(*key)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Given-up deliveries to expire: those given up before `evidence_before_ms`
    /// whose bodies still carry evidence posts, with those posts dropped; and the
    /// keys of those given up before `removed_before_ms`. A delivery of a store
    /// older than `given_up_ms` has no date to go by and is kept.
    fn failed_to_expire(
        &self,
        evidence_before_ms: i64,
        removed_before_ms: i64,
    ) -> Result<FailedExpiry> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(FAILED)?;
        let mut expiry = FailedExpiry::default();
        for entry in table.iter()? {
            let (key, value) = entry?;
            let mut delivery: Delivery =
                serde_json::from_slice(value.value()).context("stored delivery")?;
            let Some(given_up_ms) = delivery.given_up_ms else {
                continue;
            };
            if given_up_ms < removed_before_ms {
                expiry.removed.push(key.value());
                continue;
            }
            if given_up_ms >= evidence_before_ms {
                continue;
            }
            let mut event: AlertEvent =
                serde_json::from_str(&delivery.body).context("stored delivery body")?;
            if event.evidence.posts.is_empty() {
                continue;
            }
            event.evidence.posts.clear();
            delivery.body = serde_json::to_string(&event)?;
            expiry.stripped.push((key.value(), delivery));
        }
        Ok(expiry)
    }

    /// Records who acknowledged an alert and when; `None` when there is no such alert.
    pub fn ack(&self, id: &str, by: &str, at: &str) -> Result<Option<AlertRecord>> {
        let txn = self.db()?.begin_write()?;
        let record = {
            let mut table = txn.open_table(ALERTS)?;
            let current: Option<AlertRecord> = match table.get(id)? {
                Some(value) => Some(serde_json::from_slice(value.value()).context("stored alert")?),
                None => None,
            };
            let Some(mut record) = current else {
                return Ok(None);
            };
            record.acked_by = Some(by.to_string());
            record.acked_at = Some(at.to_string());
            table.insert(id, serde_json::to_vec(&record)?.as_slice())?;
            record
        };
        txn.commit()?;
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    fn event(id: &str, status: &str) -> AlertEvent {
        serde_json::from_value(serde_json::json!({
            "id": id, "status": status, "rule": "tension_elevated", "severity": "warning",
            "area": {"id": "GM0017", "name": "Haren"},
            "starts_at": "2026-11-28T20:00:00Z", "ends_at": null,
            "observed": {"window": "15m", "posts": 40, "tension": 0.4, "sentiment": -0.3,
                "mean_tension": 0.4, "negative_share": 0.5, "baseline_posts": 10.0,
                "baseline_tension": 0.05, "zscore": 6.0},
            "evidence": {"terms": ["rellen"], "located": {"area": 40},
                "posts": [{"id": "1", "text": "iedereen naar het plein", "tension": 0.9}]}
        }))
        .expect("an alert event")
    }

    fn open() -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "onrust-store-test-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        (Store::open(&dir, false).expect("store opens"), dir)
    }

    /// Stores `events` raised at `at_ms` for `receivers`, with no engine state of
    /// note and no offsets.
    fn raise(store: &Store, events: &[AlertEvent], receivers: &[u32], at_ms: i64) {
        write(store, events, receivers, &[], at_ms);
    }

    fn write(
        store: &Store,
        events: &[AlertEvent],
        receivers: &[u32],
        dead_letters: &[DeadLetter],
        at_ms: i64,
    ) {
        let checkpoint = CheckpointWrite {
            engine: b"engine",
            offsets: &Offsets::new(),
            inputs: &SavedInputs::default(),
            events,
            receivers,
            dead_letters,
            seen: &SeenChanges::default(),
        };
        store.commit(&checkpoint, at_ms).expect("commit");
    }

    #[test]
    fn receivers_stored_with_secrets_in_their_urls_keep_their_ids_and_lose_the_secrets() {
        let (store, dir) = open();
        let url = "https://user:pw@hooks.example/x?token=s3cret";
        let old = Receivers {
            ids: [
                (format!("webhook {url}"), 4),
                (format!("webhook {url} #2"), 6),
            ]
            .into(),
            next: 7,
        };
        {
            let txn = store.db().expect("open").begin_write().expect("write");
            txn.open_table(META)
                .expect("meta")
                .insert(
                    RECEIVERS_KEY,
                    serde_json::to_vec(&old).expect("JSON").as_slice(),
                )
                .expect("insert");
            txn.commit().expect("commit");
        }
        let key = receiver_key("webhook", url);
        assert!(
            key.starts_with("webhook https://hooks.example/x sha256:"),
            "{key}"
        );
        let (ids, given_up) = store
            .receiver_ids(&[key.clone(), format!("{key} #2")], 0)
            .expect("ids");
        assert_eq!((ids, given_up), (vec![4, 6], 0));
        let txn = store.db().expect("open").begin_read().expect("read");
        let meta = txn.open_table(META).expect("meta");
        let stored = meta.get(RECEIVERS_KEY).expect("get").expect("registry");
        let text = String::from_utf8_lossy(stored.value()).into_owned();
        assert!(!text.contains("s3cret") && !text.contains("pw@"), "{text}");
        // Another secret is another receiver.
        assert_ne!(
            receiver_key("webhook", "https://hooks.example/x?token=other"),
            key
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_empty_or_corrupt_store_is_refused_by_name_and_reset_moves_it_aside() {
        let dir = std::env::temp_dir().join(format!("onrust-store-broken-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(STORE_FILE);
        std::fs::write(&path, b"").expect("empty file");
        let error = Store::open(&dir, false).err().expect("refused").to_string();
        assert!(
            error.contains("empty (0 bytes)") && error.contains("--reset-state"),
            "{error}"
        );
        // A store with data, then its pages overwritten in the middle.
        std::fs::remove_file(&path).expect("remove");
        let store = Store::open(&dir, false).expect("new store");
        raise(&store, &[event("a", "firing")], &[0], 0);
        drop(store);
        let mut bytes = std::fs::read(&path).expect("read");
        let middle = bytes.len() / 2;
        for byte in &mut bytes[middle.saturating_sub(4096)..middle + 4096] {
            *byte = 0xA5;
        }
        std::fs::write(&path, &bytes).expect("corrupt it");
        let truncated = &bytes[..bytes.len() / 3];
        for damaged in [bytes.as_slice(), truncated] {
            std::fs::write(&path, damaged).expect("damage");
            match Store::open(&dir, false) {
                Err(error) => {
                    let error = format!("{error:#}");
                    assert!(error.contains("cannot be used"), "{error}");
                }
                // redb may repair some damage from its second commit slot: then
                // the store must read as a whole.
                Ok(store) => {
                    store.alerts(0).expect("a repaired store reads");
                }
            }
        }
        let store = Store::open(&dir, true).expect("reset");
        assert!(store.alerts(0).expect("alerts").is_empty());
        let aside = std::fs::read_dir(&dir)
            .expect("list")
            .filter_map(Result::ok)
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("onrust.redb.reset-")
            });
        assert!(aside, "the old store is kept aside");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn dead_letters_wait_in_order_until_sent_and_survive_a_reopen() {
        let (store, dir) = open();
        let letter = |offset: i64, payload: &[u8]| {
            DeadLetter::new(("posts", 1, offset), payload, "malformed_json", 1024, true)
        };
        write(
            &store,
            &[],
            &[],
            &[letter(5, b"not json"), letter(6, b"\xff")],
            0,
        );
        write(&store, &[], &[], &[letter(9, b"[1]")], 0);
        drop(store);
        let store = Store::open(&dir, false).expect("reopens");
        let waiting = store.dead_letters(10).expect("waiting");
        let offsets: Vec<i64> = waiting.iter().map(|(_, l)| l.offset).collect();
        assert_eq!(offsets, [5, 6, 9]);
        assert_eq!(waiting[1].1.payload, b"\xff");
        store
            .dead_letters_sent(&[waiting[0].0, waiting[2].0])
            .expect("sent");
        store
            .replace_dead_letter(waiting[1].0, &waiting[1].1.clone().reduced())
            .expect("replace");
        let left = store.dead_letters(10).expect("waiting");
        assert_eq!(store.dead_letter_count().expect("count"), 1);
        assert!(left[0].1.truncated && left[0].1.offset == 6);
        // New letters go after the ones still waiting, never over them.
        write(&store, &[], &[], &[letter(12, b"{")], 0);
        let offsets: Vec<i64> = store
            .dead_letters(10)
            .expect("waiting")
            .iter()
            .map(|(_, l)| l.offset)
            .collect();
        assert_eq!(offsets, [6, 12]);
        let _ = std::fs::remove_dir_all(dir);
    }

    fn failed_bodies(store: &Store) -> Vec<AlertEvent> {
        let txn = store.db().expect("open").begin_read().expect("read");
        let table = txn.open_table(FAILED).expect("failed table");
        let mut out = Vec::new();
        for entry in table.iter().expect("iterate") {
            let (_, value) = entry.expect("entry");
            let delivery: Delivery = serde_json::from_slice(value.value()).expect("delivery");
            out.push(serde_json::from_str(&delivery.body).expect("event"));
        }
        out
    }

    #[test]
    fn evidence_texts_expire_but_the_alerts_and_pending_deliveries_stay() {
        let (store, dir) = open();
        let now = 100 * HOUR_MS;
        let events = [event("old", "firing"), event("given-up", "firing")];
        raise(&store, &events, &[0], now - 30 * HOUR_MS);
        let (sequence, mut refused) = store.pending(0, 10).expect("pending").remove(1);
        refused.given_up_ms = Some(now - 25 * HOUR_MS);
        store.give_up(0, sequence, &refused).expect("give up");
        raise(&store, &[event("new", "firing")], &[0], now);

        store.expire(now, now - 24 * HOUR_MS).expect("expire");

        let alerts = store.alerts(0).expect("alerts");
        let posts = |id: &str| {
            alerts
                .iter()
                .find(|r| r.event.id == id)
                .map(|r| r.event.evidence.posts.len())
        };
        assert_eq!(
            posts("old"),
            Some(0),
            "an old firing alert stays, without its texts"
        );
        assert_eq!(posts("new"), Some(1), "a recent alert keeps its evidence");
        let failed = failed_bodies(&store);
        assert_eq!(failed.len(), 1);
        assert!(failed[0].evidence.posts.is_empty(), "{failed:?}");
        assert_eq!(failed[0].evidence.terms, ["rellen"], "terms are not texts");
        let pending: Vec<AlertEvent> = store
            .pending(0, 10)
            .expect("pending")
            .iter()
            .map(|(_, d)| serde_json::from_str(&d.body).expect("event"))
            .collect();
        assert_eq!(pending.len(), 2, "waiting deliveries are sent as raised");
        assert!(pending.iter().all(|e| e.evidence.posts.len() == 1));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn given_up_deliveries_are_removed_a_week_after() {
        let (store, dir) = open();
        let now = 1_000 * HOUR_MS;
        let events = [event("long-ago", "firing"), event("recent", "firing")];
        raise(&store, &events, &[0], now - 200 * HOUR_MS);
        for (sequence, mut delivery) in store.pending(0, 10).expect("pending") {
            let given_up_hours_ago = if delivery.body.contains("long-ago") {
                7 * 24 + 1
            } else {
                7 * 24 - 1
            };
            delivery.given_up_ms = Some(now - given_up_hours_ago * HOUR_MS);
            store.give_up(0, sequence, &delivery).expect("give up");
        }
        assert_eq!(failed_bodies(&store).len(), 2);

        store.expire(now, now - 24 * HOUR_MS).expect("expire");

        let failed = failed_bodies(&store);
        let ids: Vec<&str> = failed.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["recent"], "the one given up over a week ago is gone");
        assert!(failed[0].evidence.posts.is_empty(), "and the other's texts");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The keys of the deliveries waiting for `receiver`.
    fn waiting(store: &Store, receiver: u32) -> Vec<String> {
        let pending = store.pending(receiver, 100).expect("pending");
        pending.into_iter().map(|(_, d)| d.key).collect()
    }

    #[test]
    fn a_receiver_keeps_its_deliveries_whatever_its_place_in_the_configuration() {
        let (store, dir) = open();
        let (a, b, c) = (
            receiver_key("webhook", "http://a"),
            receiver_key("webhook", "http://b"),
            receiver_key("alertmanager", "http://c"),
        );
        let (ids, _) = store.receiver_ids(&[a.clone(), b.clone()], 0).expect("ids");
        assert_eq!(ids, [0, 1], "a first start numbers them in order");
        raise(&store, &[event("x", "firing")], &ids, 0);
        store.delivered(ids[0], 0).expect("a took it");

        // Restarted with the receivers swapped and one added: b's waiting delivery
        // stays b's.
        let (ids, given_up) = store
            .receiver_ids(&[b.clone(), a.clone(), c.clone()], 1)
            .expect("ids");
        assert_eq!((ids.clone(), given_up), (vec![1, 0, 2], 0));
        assert_eq!(waiting(&store, ids[0]), ["x:firing"], "b's delivery, for b");
        assert!(waiting(&store, ids[1]).is_empty(), "a had its own already");
        assert!(waiting(&store, ids[2]).is_empty(), "c came after the alert");

        // b removed: its waiting delivery is given up with the reason, not sent on.
        let (ids, given_up) = store.receiver_ids(&[a.clone(), c.clone()], 2).expect("ids");
        assert_eq!((ids.clone(), given_up), (vec![0, 2], 1));
        assert_eq!(store.pending_count().expect("count"), 0);
        let txn = store.db().expect("open").begin_read().expect("read");
        let errors: Vec<Option<String>> = txn
            .open_table(FAILED)
            .expect("failed table")
            .iter()
            .expect("iterate")
            .map(|entry| {
                let (_, value) = entry.expect("entry");
                let delivery: Delivery = serde_json::from_slice(value.value()).expect("delivery");
                delivery.error
            })
            .collect();
        assert_eq!(errors, [Some(format!("{b} is no longer configured"))]);
        // And a receiver added again later gets a new id, not b's old one.
        let (ids, _) = store.receiver_ids(&[a, b, c], 3).expect("ids");
        assert_eq!(ids, [0, 3, 2]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_store_from_before_the_registry_gives_up_what_no_receiver_will_take() {
        let (store, dir) = open();
        // Written by the old daemon with three receivers, ids by position.
        raise(&store, &[event("x", "firing")], &[0, 1, 2], 0);
        let (ids, given_up) = store
            .receiver_ids(&["webhook http://a".into(), "webhook http://b".into()], 1)
            .expect("ids");
        assert_eq!(
            (ids, given_up),
            (vec![0, 1], 1),
            "the third one's is given up"
        );
        assert_eq!(store.pending_count().expect("count"), 2);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn resolved_alerts_are_removed_after_their_time() {
        let (store, dir) = open();
        let now = 100 * HOUR_MS;
        raise(
            &store,
            &[event("done", "resolved"), event("on", "firing")],
            &[],
            now - 30 * HOUR_MS,
        );
        store.expire(now, now - 48 * HOUR_MS).expect("expire");
        let ids: Vec<String> = store
            .alerts(0)
            .expect("alerts")
            .into_iter()
            .map(|r| r.event.id)
            .collect();
        assert_eq!(ids, ["on"]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
