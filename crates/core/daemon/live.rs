//! What the running daemon shows: readiness, metrics, the areas' latest figures,
//! and the stream of changes behind `/api/v1/events`. The ingest thread publishes
//! into it after every checkpoint; the HTTP server and the delivery workers read it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use onrust_signal::engine::{AlertEvent, AreaFigures};
use tokio::sync::{broadcast, watch, Notify};

use super::metrics::Metrics;
use super::store::Store;
use crate::pipeline::Pipeline;

/// One server-sent event: its `event:` name and JSON `data:`.
#[derive(Debug, Clone)]
pub struct Change {
    /// `alert` or `areas`.
    pub kind: &'static str,
    /// The JSON payload.
    pub data: String,
}

/// One point of an area's history: its shortest window at one moment of event time.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct HistoryPoint {
    /// Event time, epoch ms (the end of the minute).
    pub t: i64,
    /// Posts in the window.
    pub posts: u32,
    /// Share of tense posts.
    pub tension: f64,
    /// Mean sentiment.
    pub sentiment: f64,
    /// The posts expected in the window (`None` before the baseline knows).
    pub baseline_posts: Option<f64>,
    /// The expected tension share.
    pub baseline_tension: f64,
}

/// Points kept per area: 24 hours at one every five minutes of event time.
const HISTORY_POINTS: usize = 24 * 12;
/// Event time between two history points, in minutes.
pub const HISTORY_STEP_MINUTES: i64 = 5;
const HISTORY_STEP_MS: i64 = HISTORY_STEP_MINUTES * 60_000;

/// Checkpoints may fail this long (a store busy, a moment of disk trouble)
/// before the daemon says it is not ready.
pub const CHECKPOINT_FAILURE_GRACE: Duration = Duration::from_secs(10);

/// A consumer-group member's partitions, for readiness.
#[derive(Debug, Clone, Copy)]
struct Assignment {
    partitions: usize,
    /// Since when it has had none (or since it joined).
    since: Instant,
    grace: Duration,
}

/// The daemon's shared state.
pub struct Live {
    /// Every metric.
    pub metrics: Metrics,
    /// The embedded store.
    pub store: Arc<Store>,
    /// Counts outbox writes; the delivery workers wait for it to change.
    pub outbox: watch::Sender<u64>,
    /// Changes for `/api/v1/events`.
    pub changes: broadcast::Sender<Change>,
    /// The bearer token for mutating calls, when one is configured.
    pub token: Option<String>,
    /// The areas' outlines (GeoJSON text) for the dashboard's map.
    /// Encoded once: every request shares these bytes (a copy per request let
    /// forty slow readers of a large file take gigabytes).
    pub geometry: axum::body::Bytes,
    areas: RwLock<Vec<AreaFigures>>,
    history: RwLock<HashMap<String, VecDeque<HistoryPoint>>>,
    /// Alert events raised by this process and not yet through every sink: when
    /// the post that raised each arrived, and how many sinks have still to finish.
    raised: Mutex<HashMap<String, (Instant, u32)>>,
    /// The closed minute of the area figures published last (`None` inside: no
    /// minute closed yet); `None`: nothing published yet.
    published_minute: Mutex<Option<Option<i64>>>,
    source_connected: AtomicBool,
    brokers_reachable: AtomicBool,
    /// The latest offset reset of each partition, as logged: `/readyz` shows them.
    offset_resets: Mutex<BTreeMap<i32, String>>,
    /// A consumer-group member's partitions: how many, since when it has had
    /// none, and how long that may last before it is not ready (`None`: no group,
    /// as in the demo).
    assignment: Mutex<Option<Assignment>>,
    /// Since when checkpoints fail, and the last error.
    checkpoint_failure: Mutex<Option<(Instant, String)>>,
    stopping: AtomicBool,
    stop: Notify,
}

impl Live {
    /// A live view with no areas yet, not connected; `geometry` is the areas
    /// file's text, if there is one.
    pub fn new(
        metrics: Metrics,
        store: Arc<Store>,
        token: Option<String>,
        geometry: Option<&str>,
    ) -> Live {
        Live {
            geometry: axum::body::Bytes::from(
                geometry
                    .unwrap_or(r#"{"type":"FeatureCollection","features":[]}"#)
                    .to_string(),
            ),
            metrics,
            store,
            outbox: watch::channel(0).0,
            changes: broadcast::channel(1024).0,
            token,
            areas: RwLock::new(Vec::new()),
            history: RwLock::new(HashMap::new()),
            raised: Mutex::new(HashMap::new()),
            published_minute: Mutex::new(None),
            source_connected: AtomicBool::new(false),
            brokers_reachable: AtomicBool::new(true),
            offset_resets: Mutex::new(BTreeMap::new()),
            assignment: Mutex::new(None),
            checkpoint_failure: Mutex::new(None),
            stopping: AtomicBool::new(false),
            stop: Notify::new(),
        }
    }

    /// Why `/readyz` says not ready, if it does: the model is loaded (it is
    /// before `Live` exists), so the source not connected, no broker answering, a
    /// group member left without partitions beyond its grace, or checkpoints
    /// failing for longer than [`CHECKPOINT_FAILURE_GRACE`].
    pub fn not_ready(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if !self.source_connected.load(Ordering::Relaxed) {
            reasons.push("the Kafka source is not connected".to_string());
        }
        if !self.brokers_reachable.load(Ordering::Relaxed) {
            reasons.push("no Kafka broker answers".to_string());
        }
        if let Some(assignment) = *self
            .assignment
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        {
            let unassigned = assignment.since.elapsed();
            if assignment.partitions == 0 && unassigned >= assignment.grace {
                reasons.push(format!(
                    "no partition assigned for {}s (kafka.unassigned_grace_seconds {}): the \
                     group may be rebalancing, or have more members than partitions",
                    unassigned.as_secs(),
                    assignment.grace.as_secs()
                ));
            }
        }
        if let Some((since, error)) = &*self
            .checkpoint_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        {
            if since.elapsed() >= CHECKPOINT_FAILURE_GRACE {
                reasons.push(format!(
                    "checkpoints have failed for {}s: {error}",
                    since.elapsed().as_secs()
                ));
            }
        }
        reasons
    }

    /// Why `/healthz` says unhealthy, if it does: checkpoints have failed for
    /// `unhealthy_after` or longer (a liveness probe then restarts the daemon).
    pub fn unhealthy(&self, unhealthy_after: Duration) -> Option<String> {
        let failure = self
            .checkpoint_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (since, error) = failure.as_ref()?;
        (since.elapsed() >= unhealthy_after).then(|| {
            format!(
                "checkpoints have failed for {}s: {error}",
                since.elapsed().as_secs()
            )
        })
    }

    /// From now on the source is a consumer-group member, not ready once it has
    /// had no partition for `grace` (a grace of zero: never for that).
    pub fn watch_assignment(&self, grace: Duration) {
        *self
            .assignment
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Assignment {
            partitions: 0,
            since: Instant::now(),
            grace: if grace.is_zero() {
                Duration::MAX
            } else {
                grace
            },
        });
    }

    /// The group member now has `partitions` partitions.
    pub fn set_assigned(&self, partitions: usize) {
        if let Some(assignment) = &mut *self
            .assignment
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        {
            if partitions == 0 && assignment.partitions > 0 {
                assignment.since = Instant::now();
            }
            assignment.partitions = partitions;
        }
    }

    /// A checkpoint failed with `error` (`None`: one succeeded).
    pub fn checkpoint_failed(&self, error: Option<String>) {
        let mut failure = self
            .checkpoint_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match error {
            None => *failure = None,
            Some(error) => {
                let since = failure
                    .as_ref()
                    .map_or_else(Instant::now, |(since, _)| *since);
                *failure = Some((since, error));
            }
        }
    }

    /// Notes that the post that arrived at `arrived` raised the alert event with
    /// idempotency key `key`, which `sinks` sinks will deliver.
    pub fn note_raised(&self, key: String, arrived: Instant, sinks: u32) {
        if sinks > 0 {
            let mut raised = self.raised.lock().unwrap_or_else(PoisonError::into_inner);
            raised.insert(key, (arrived, sinks));
        }
    }

    /// One sink is done with the event `key` (delivered or given up): how long ago
    /// its post arrived, when this process raised it.
    pub fn sink_done(&self, key: &str) -> Option<Duration> {
        let mut raised = self.raised.lock().unwrap_or_else(PoisonError::into_inner);
        let (arrived, left) = raised.get_mut(key)?;
        let took = arrived.elapsed();
        *left -= 1;
        if *left == 0 {
            raised.remove(key);
        }
        Some(took)
    }

    /// Records whether any of the source's brokers answers; `true` until told
    /// otherwise. Returns the previous value.
    pub fn set_brokers_reachable(&self, reachable: bool) -> bool {
        self.brokers_reachable.swap(reachable, Ordering::Relaxed)
    }

    /// Records an offset reset of `partition`, described by `notice`: counted, and
    /// shown by `/readyz` from now on.
    pub fn note_offset_reset(&self, partition: i32, notice: String) {
        self.metrics
            .offset_resets
            .with_label_values(&[&partition.to_string()])
            .inc();
        self.offset_resets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(partition, notice);
    }

    /// The latest offset reset of each partition that had one, as logged.
    pub fn offset_resets(&self) -> Vec<String> {
        self.offset_resets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Records whether the source (Kafka) is connected.
    pub fn set_source_connected(&self, connected: bool) {
        self.source_connected.store(connected, Ordering::Relaxed);
    }

    /// Asks every part of the daemon to finish.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.stop.notify_waiters();
    }

    /// Whether the daemon is shutting down.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Resolves once [`Live::stop`] has been called.
    pub async fn stopped(&self) {
        let notified = self.stop.notified();
        if self.stopping() {
            return;
        }
        notified.await;
    }

    /// The areas' latest figures (areas of the file without posts have no windows).
    pub fn areas(&self) -> Vec<AreaFigures> {
        self.areas
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The last 24 hours (event time) of an area's shortest window, oldest first.
    pub fn history(&self, area: &str) -> Vec<HistoryPoint> {
        self.history
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(area)
            .map(|points| points.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Adds the figures at `minute` to the history, one point per five minutes of
    /// event time (the newest point of a step is replaced until the step ends).
    pub fn record_history(&self, minute: i64, figures: &[AreaFigures]) {
        let t = (minute + 1) * 60_000;
        let mut history = self
            .history
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for area in figures {
            let Some(window) = area.windows.first() else {
                continue;
            };
            let point = HistoryPoint {
                t,
                posts: window.posts,
                tension: window.tension,
                sentiment: window.sentiment,
                baseline_posts: window.baseline_posts,
                baseline_tension: window.baseline_tension,
            };
            let points = history.entry(area.id.clone()).or_default();
            match points.back_mut() {
                Some(last)
                    if last.t.div_euclid(HISTORY_STEP_MS)
                        == (t - 1).div_euclid(HISTORY_STEP_MS) =>
                {
                    *last = point;
                }
                Some(last) if last.t >= t => {}
                _ => points.push_back(point),
            }
            while points.len() > HISTORY_POINTS {
                points.pop_front();
            }
        }
    }

    /// Publishes the pipeline's state after a checkpoint that stored `raised`:
    /// figures, metrics, and one change per event; wakes the delivery workers.
    pub fn published(&self, pipeline: &Pipeline, raised: &[AlertEvent]) {
        let engine = pipeline.engine();
        self.publish_counts(pipeline);
        // The figures change only when a minute closes (alerts are raised then
        // too): the checkpoints in between would send every area again unchanged,
        // which with tens of thousands of areas is most of the daemon's work.
        let minute = engine.closed_minute();
        {
            let mut last = self
                .published_minute
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *last == Some(minute) && raised.is_empty() {
                return;
            }
            *last = Some(minute);
        }
        let mut figures = engine.figures();
        let seen: std::collections::HashSet<String> =
            figures.iter().map(|f| f.id.clone()).collect();
        for area in pipeline.areas().iter() {
            if !seen.contains(&area.id) {
                figures.push(AreaFigures {
                    id: area.id.clone(),
                    name: area.name.clone(),
                    windows: Vec::new(),
                    firing: Vec::new(),
                });
            }
        }
        figures.sort_by(|a, b| a.id.cmp(&b.id));
        self.metrics.publish_areas(&figures);
        if let Some(minute) = engine.closed_minute() {
            self.record_history(minute, &figures);
        }
        for event in raised {
            self.metrics
                .alert_events
                .with_label_values(&[event.rule.as_str(), event.status.as_str()])
                .inc();
            if let Ok(data) = serde_json::to_string(event) {
                // No subscriber is fine: nobody is watching.
                let _ = self.changes.send(Change {
                    kind: "alert",
                    data,
                });
            }
        }
        if let Ok(data) = serde_json::to_string(&figures) {
            let _ = self.changes.send(Change {
                kind: "areas",
                data,
            });
        }
        *self
            .areas
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = figures;
        if !raised.is_empty() {
            self.outbox.send_modify(|writes| *writes += 1);
        }
    }

    /// The metrics every checkpoint updates: alerts firing, late and forgotten
    /// counts.
    fn publish_counts(&self, pipeline: &Pipeline) {
        let engine = pipeline.engine();
        for severity in ["info", "warning", "critical"] {
            let firing = engine
                .firing()
                .filter(|e| e.severity.as_str() == severity)
                .count();
            self.metrics
                .alerts_firing
                .with_label_values(&[severity])
                .set(firing as i64);
        }
        let counters = engine.counters();
        let watermarks = pipeline.watermarks();
        // Every partition read has its series, 0 until it has a late post or
        // an offset reset.
        for partition in watermarks.partitions() {
            let label = [partition.to_string()];
            self.metrics.late.with_label_values(&label);
            self.metrics.offset_resets.with_label_values(&label);
        }
        for (partition, &late) in watermarks.late() {
            let counter = self
                .metrics
                .late
                .with_label_values(&[&partition.to_string()]);
            counter.inc_by(late.saturating_sub(counter.get()));
        }
        for partition in watermarks.partitions() {
            if let Some(newest) = watermarks.newest_ms(partition) {
                self.metrics
                    .partition_watermark
                    .with_label_values(&[&partition.to_string()])
                    .set(newest as f64 / 1000.0);
            }
        }
        if let Some(watermark) = watermarks.watermark_ms() {
            self.metrics.watermark.set(watermark as f64 / 1000.0);
        }
        self.metrics
            .partitions_paused
            .set(watermarks.paused() as i64);
        self.metrics.posts_held.set(pipeline.held_posts() as i64);
        let evicted = counters.evicted.saturating_sub(self.metrics.evicted.get());
        self.metrics.evicted.inc_by(evicted);
    }
}
