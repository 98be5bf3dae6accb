//! The event-time engine: scored posts in, alert events out.
//!
//! Posts are added to their area's one-minute bucket. A watermark trails the
//! newest event time by the allowed lateness; every minute it passes is closed and
//! evaluated for the areas that need it (see [`Engine`]), its events in area-id
//! order, so the same posts always give the same alerts in the same order. A post
//! for a minute already closed is late: it is counted, never silently dropped, and
//! not added.
//!
//! A tension that rises everywhere at once (riots abroad on the national news) is a
//! national topic, not a local incident: an area's expected share is the higher of
//! its own baseline and the share a quarter of the other areas reach right now, so
//! a national wave raises no local alert, and it raises at most one national `info`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};

use crate::accumulate::{Accumulator, Budget, Crossing, TenseBy};
use crate::areas::Located;
use crate::baseline::{Baseline, SHARE_PRIOR_WEIGHT};
use crate::pseudonym::Pseudonym;
use crate::rules::{Metric, Rule, RuleState, Severity, Transition};
use crate::stats::{count_excess_z, shrunk_share, Ewma};
use crate::window::{AreaWindows, Tally};

const MINUTE_MS: i64 = 60_000;

/// The last minutes over which the other areas' share is pooled, for what
/// accumulated evidence expects of an area while a wave rises everywhere.
const NOW_MINUTES: usize = 5;

/// The prior, in posts, that each other area's share of the last minutes is
/// shrunk with (toward the country's) before accumulated evidence takes their
/// upper quartile: a wave that lifts many areas shows at once, one area's few
/// posts do not. Chosen on the detection harness's AMOC (see BENCHMARKS.md).
const EVIDENCE_QUARTILE_PRIOR_POSTS: f64 = 5.0;

/// Fewest posts in the last minutes for an area's share to count in that quartile.
const EVIDENCE_QUARTILE_MIN_POSTS: u32 = 3;

/// Settings of the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Window lengths in minutes; the longest bounds each area's memory.
    pub windows: Vec<u32>,
    /// How late (in event time) a post may arrive and still count.
    pub allowed_lateness_ms: i64,
    /// How far (event time) one input partition may run ahead of the watermark
    /// the others hold (0 for one ordered input): posts up to this plus the allowed
    /// lateness ahead of the closed minute are kept; one further ahead closes the
    /// minutes it would push out of the windows first.
    pub partition_skew_ms: i64,
    /// A post with at least this tension is a tense post.
    pub tension_threshold: f32,
    /// The rules.
    pub rules: Vec<Rule>,
    /// The national rule fires when at least this share of the areas with posts ...
    pub national_area_share: f64,
    /// ... and at least this many areas have a tension share of `min_lift` × their
    /// baseline or more.
    pub national_min_areas: usize,
    /// Most tense posts kept per area as evidence.
    pub evidence_posts: usize,
    /// Most areas with state besides the pinned ones: beyond it the
    /// longest-quiet areas without an alert are forgotten, so a flood of made-up
    /// area ids cannot exhaust memory.
    pub max_areas: usize,
    /// Areas never forgotten, however many others come and go: those of the
    /// areas file. A flood of made-up ids shares the `max_areas` others.
    pub pinned_areas: Arc<BTreeSet<String>>,
    /// What the thresholds of accumulated evidence follow from.
    pub budget: Budget,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            windows: vec![15, 60],
            allowed_lateness_ms: 5 * MINUTE_MS,
            partition_skew_ms: 0,
            tension_threshold: 0.5,
            rules: Rule::defaults(),
            national_area_share: 0.3,
            national_min_areas: 5,
            evidence_posts: 5,
            max_areas: 50_000,
            pinned_areas: Arc::default(),
            budget: Budget::default(),
        }
    }
}

/// What became of a post added to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Counted in its minute.
    Counted,
    /// Its minute was already closed: counted as late, not added.
    Late,
}

/// A post after scoring and locating: what the engine needs of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredPost<'a> {
    /// The post's id.
    pub id: &'a str,
    /// Its text (kept only as evidence of tension).
    pub text: &'a str,
    /// Its author's pseudonym: an author's posts fill at most one evidence place.
    pub author: Option<Pseudonym>,
    /// Event time, epoch ms.
    pub event_time_ms: i64,
    /// Its area's id and display name, when located.
    pub area: Option<(&'a str, &'a str)>,
    /// How it was located.
    pub located: Located,
    /// Tension probability.
    pub tension: f32,
    /// Sentiment score.
    pub sentiment: f32,
    /// Labelled negative.
    pub negative: bool,
}

/// A scored post kept whole, for a caller that holds it back before adding it
/// (a post too far ahead of the watermark, see [`Engine::is_too_far_ahead`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnedPost {
    /// The post's id.
    pub id: String,
    /// Its text.
    pub text: String,
    /// Its author's pseudonym.
    pub author: Option<Pseudonym>,
    /// Event time, epoch ms.
    pub event_time_ms: i64,
    /// Its area's id and display name, when located.
    pub area: Option<(String, String)>,
    /// How it was located.
    pub located: Located,
    /// Tension probability.
    pub tension: f32,
    /// Sentiment score.
    pub sentiment: f32,
    /// Labelled negative.
    pub negative: bool,
}

impl OwnedPost {
    /// A copy of `post`.
    pub fn of(post: &ScoredPost<'_>) -> OwnedPost {
        OwnedPost {
            id: post.id.to_string(),
            text: post.text.to_string(),
            author: post.author,
            event_time_ms: post.event_time_ms,
            area: post
                .area
                .map(|(id, name)| (id.to_string(), name.to_string())),
            located: post.located,
            tension: post.tension,
            sentiment: post.sentiment,
            negative: post.negative,
        }
    }

    /// The post, borrowed, as [`Engine::add_at`] takes it.
    pub fn scored(&self) -> ScoredPost<'_> {
        ScoredPost {
            id: &self.id,
            text: &self.text,
            author: self.author,
            event_time_ms: self.event_time_ms,
            area: self
                .area
                .as_ref()
                .map(|(id, name)| (id.as_str(), name.as_str())),
            located: self.located,
            tension: self.tension,
            sentiment: self.sentiment,
            negative: self.negative,
        }
    }
}

/// An area in an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AreaRef {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// The figures behind an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// The rule's window, as `15m` or `1h`.
    pub window: String,
    /// Posts in the window.
    pub posts: u32,
    /// Share of tense posts in the window (the contract's `tension`).
    pub tension: f64,
    /// Mean sentiment in the window.
    pub sentiment: f64,
    /// Mean tension probability in the window.
    pub mean_tension: f64,
    /// Share of negative posts in the window.
    pub negative_share: f64,
    /// Posts the area normally has in such a window at this hour (0 when unknown).
    pub baseline_posts: f64,
    /// The tension share expected.
    pub baseline_tension: f64,
    /// The rule's metric.
    pub zscore: f64,
    /// For a rule on accumulated evidence: the statistic that crossed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accumulated: Option<Accumulated>,
}

/// The accumulated evidence an alert rests on, in figures and in a sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accumulated {
    /// The statistic: `cusum` (see `accumulate`).
    pub statistic: String,
    /// The rise in the tense share it looks for, as a factor over the expected.
    pub rise_factor: f64,
    /// Its value (log-likelihood ratio).
    pub value: f64,
    /// The threshold the false-warning budget sets.
    pub threshold: f64,
    /// When the evidence began to accumulate (RFC 3339): the change point.
    pub since: String,
    /// Minutes from then to the alert.
    pub horizon_minutes: i64,
    /// Posts since then.
    pub posts: u32,
    /// Tense posts since then (each author counted at most the configured times).
    pub tense_posts: u32,
    /// Tense posts the area's expected share predicts for those posts.
    pub expected_tense_posts: f64,
    /// Distinct authors of the tense posts.
    pub authors: u32,
    /// The same, said for an officer.
    pub summary: String,
}

impl Accumulated {
    /// The figures of `crossing`, found at `minute`.
    fn of(crossing: &Crossing, minute: i64) -> Accumulated {
        let horizon_minutes = minute - crossing.since + 1;
        Accumulated {
            statistic: "cusum".into(),
            rise_factor: crossing.rise_factor,
            value: round4(crossing.value),
            threshold: round4(crossing.threshold),
            since: rfc3339(crossing.since * MINUTE_MS),
            horizon_minutes,
            posts: crossing.posts,
            tense_posts: crossing.tense_posts,
            expected_tense_posts: round4(crossing.expected_tense),
            authors: crossing.authors,
            summary: format!(
                "{} tense posts from {} {} in {}; normally {:.1}",
                crossing.tense_posts,
                crossing.authors,
                if crossing.authors == 1 {
                    "person"
                } else {
                    "people"
                },
                duration_words(horizon_minutes),
                crossing.expected_tense,
            ),
        }
    }
}

/// `minutes` as an officer says it: "40 min", "3 h 5 min", "2 days 4 h".
fn duration_words(minutes: i64) -> String {
    let (days, hours, rest) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{rest} min"),
        (0, _) if rest == 0 => format!("{hours} h"),
        (0, _) => format!("{hours} h {rest} min"),
        (1, _) => format!("1 day {hours} h"),
        _ => format!("{days} days {hours} h"),
    }
}

impl Observed {
    /// The figures of a `window_minutes` window summed in `tally`, against the
    /// expected posts and tension share, with the rule's metric; rounded for display.
    fn of(
        window_minutes: u32,
        tally: &Tally,
        baseline_posts: f64,
        baseline_tension: f64,
        zscore: f64,
    ) -> Observed {
        Observed {
            window: window_name(window_minutes),
            posts: tally.posts,
            tension: round4(tally.tension_share()),
            sentiment: round4(tally.mean_sentiment()),
            mean_tension: round4(tally.mean_tension()),
            negative_share: round4(tally.negative_share()),
            baseline_posts: round4(baseline_posts),
            baseline_tension: round4(baseline_tension),
            zscore: round4(zscore),
            accumulated: None,
        }
    }
}

/// A post shown as evidence (its author never).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidencePost {
    /// Its id.
    pub id: String,
    /// Its text.
    pub text: String,
    /// Its tension.
    pub tension: f64,
}

/// Why the alert was raised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Words that set the window's tense posts apart (by lift over the area's others).
    pub terms: Vec<String>,
    /// The most tense posts.
    pub posts: Vec<EvidencePost>,
    /// How the window's posts were located: `area`, `geo`, `place` → count.
    pub located: BTreeMap<String, u32>,
}

/// An alert event (contract section 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Stable per episode: the same for firing and resolved.
    pub id: String,
    /// `firing` or `resolved`.
    pub status: AlertStatus,
    /// The rule's name.
    pub rule: String,
    /// The rule's severity.
    pub severity: Severity,
    /// The area.
    pub area: AreaRef,
    /// When the condition began to hold (RFC 3339, event time).
    pub starts_at: String,
    /// When it stopped (resolved events only).
    pub ends_at: Option<String>,
    /// The figures when it fired.
    pub observed: Observed,
    /// Why.
    pub evidence: Evidence,
}

/// Whether an alert episode is under way or over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// The condition holds.
    Firing,
    /// The condition has cleared.
    Resolved,
}

impl AlertStatus {
    /// The contract's name: `firing` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// One window of an area as it stands, for the live view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowFigures {
    /// The window, as `15m` or `1h`.
    pub window: String,
    /// Posts in the window.
    pub posts: u32,
    /// Share of tense posts.
    pub tension: f64,
    /// Mean tension probability.
    pub mean_tension: f64,
    /// Mean sentiment.
    pub sentiment: f64,
    /// Share of negative posts.
    pub negative_share: f64,
    /// Posts the area normally has in such a window at this hour (`None` until the
    /// baseline has seen enough days). Learnt when the area is visited: for an area
    /// without posts for hours, the quiet hours are learnt at its next post.
    pub baseline_posts: Option<f64>,
    /// The area's own tension share, shrunk toward the country's (learnt as
    /// `baseline_posts` is).
    pub baseline_tension: f64,
}

/// An area's figures at the last closed minute, for the live view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AreaFigures {
    /// The area's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// One entry per configured window, shortest first.
    pub windows: Vec<WindowFigures>,
    /// Ids of its alerts now firing.
    pub firing: Vec<String>,
}

/// Counters of what the engine saw, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Posts added to an area.
    pub aggregated: u64,
    /// Posts without an area.
    pub unresolved: u64,
    /// Posts whose minute had already been closed.
    pub late: u64,
    /// Areas forgotten to stay within `max_areas`.
    pub evicted: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ActiveAlert {
    event: AlertEvent,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AreaState {
    id: String,
    name: String,
    /// The minute of its newest post.
    last_post_minute: i64,
    /// The next hour (index since the epoch) its baseline has to learn.
    next_hour: i64,
    /// The last hour-end minute it is due to be visited at.
    hour_visit: i64,
    /// The last minute it was visited.
    visited: Option<i64>,
    /// Whether its shortest window had posts at its last visit (it counts among the
    /// areas with posts then).
    has_recent_posts: bool,
    windows: AreaWindows,
    baseline: Baseline,
    rules: Vec<RuleState>,
    active: Vec<Option<ActiveAlert>>,
    evidence: Vec<KeptPost>,
    /// No kept post is older than this minute (a bound, made exact when posts are
    /// forgotten), so that most minutes need not look at the evidence at all.
    evidence_since: i64,
    /// Masked texts of posts without tension, oldest minute first.
    other_words: VecDeque<(i64, String)>,
    /// Evidence of a rise in the tense share, accumulated minute by minute.
    accumulator: Accumulator,
    /// The last minute the accumulator has taken in.
    accumulated_through: Option<i64>,
    /// The authors of tense posts in minutes not taken in yet.
    pending_tense: Vec<(i64, Option<Pseudonym>)>,
    /// The last minute of a national wave its evidence was voided for.
    voided_through: i64,
}

/// A tense post kept as possible evidence, its text masked.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeptPost {
    minute: i64,
    tension: f32,
    id: String,
    text: String,
    author: Option<Pseudonym>,
}

/// Where an area sits in the engine's table of areas.
type AreaIndex = u32;

/// What follows from the configuration: the window lengths, and how far back an
/// area keeps its buckets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Layout {
    /// Configured window lengths, shortest first, without repeats.
    lengths: Vec<usize>,
    /// How many buckets an area keeps: its longest window or an hour (the baseline
    /// learns whole hours), plus how far posts may run ahead of the closed minute.
    capacity: usize,
    /// How many minutes posts may run ahead of the closed minute.
    lead: usize,
    /// An area with fewer posts than this in its longest window can neither fire a
    /// rule nor count toward the country's spread of shares: it is only visited when
    /// its windows change.
    quiet_below: u32,
}

impl Layout {
    fn of(config: &EngineConfig) -> Layout {
        let mut lengths: Vec<usize> = config.windows.iter().map(|&w| w.max(1) as usize).collect();
        if lengths.is_empty() {
            lengths.push(60);
        }
        lengths.sort_unstable();
        lengths.dedup();
        let longest = lengths.last().copied().unwrap_or(60);
        let lead = config
            .allowed_lateness_ms
            .max(0)
            .saturating_add(config.partition_skew_ms.max(0))
            .div_euclid(MINUTE_MS) as usize
            + 2;
        // A rule that could hold on an empty window (threshold 0 or below; the
        // settings refuse it, but the engine may be built directly) leaves no area
        // quiet: every area with posts stays watched.
        let quiet_below = if config.rules.iter().any(|rule| rule.threshold <= 0.0) {
            0
        } else {
            config
                .rules
                .iter()
                .map(|rule| rule.min_posts.max(1))
                .chain([MIN_POSTS_FOR_TYPICAL, ELEVATED_MIN_TENSION_POSTS])
                .min()
                .unwrap_or(1)
        };
        Layout {
            capacity: longest.max(60) + lead + 1,
            lead,
            lengths,
            quiet_below,
        }
    }

    fn shortest(&self) -> usize {
        self.lengths.first().copied().unwrap_or(60)
    }

    fn longest(&self) -> usize {
        self.lengths.last().copied().unwrap_or(60)
    }
}

/// The engine. Its state (not its configuration) can be saved as bytes and
/// restored, so that a restart continues exactly where the last checkpoint was.
///
/// Each minute only the areas that need it are visited: those whose windows change
/// this minute (a bucket enters or leaves one; visits scheduled when a bucket gets
/// its first post), those that close an hour with posts, and those that need
/// watching every minute (enough posts to fire, or a rule under way). A quiet
/// area costs nothing in the minutes nothing happens to it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Engine {
    #[serde(skip)]
    config: EngineConfig,
    layout: Layout,
    areas: AreaTable,
    /// Visits due, by minute.
    due: BTreeMap<i64, Vec<AreaIndex>>,
    /// Areas visited every minute.
    watched: BTreeSet<AreaIndex>,
    /// Every post of every area, for the country's figures.
    country: Option<AreaWindows>,
    /// Areas whose shortest window has posts.
    areas_with_posts: usize,
    closed_minute: Option<i64>,
    newest_ms: Option<i64>,
    global_share: Ewma,
    national: RuleState,
    national_alert: Option<ActiveAlert>,
    /// The national condition held at the last minute closed (or its alert is
    /// up): local evidence fires nothing while a wave runs everywhere ...
    national_wave: bool,
    /// ... and what it gathered up to the last minute of a wave is void.
    last_wave_minute: Option<i64>,
    counters: Counters,
    /// Tests only: visit every area every minute, the reference the scheduled
    /// visits must agree with.
    #[cfg(test)]
    #[serde(skip)]
    visit_all: bool,
    /// Tests only: minutes evaluated, to hold the skipping of idle minutes.
    #[cfg(test)]
    #[serde(skip)]
    evaluated_minutes: u64,
}

/// The areas with state, in slots that are reused once an area is forgotten, so
/// that forgetting a batch of areas moves nothing and renumbers nothing.
#[derive(Debug, Default, Serialize, Deserialize)]
struct AreaTable {
    slots: Vec<Option<AreaState>>,
    /// Slots free for the next new areas, the last freed first.
    free: Vec<AreaIndex>,
    /// Where each area is, by id (rebuilt on restore).
    #[serde(skip)]
    index: HashMap<String, AreaIndex>,
}

impl AreaTable {
    /// Areas held.
    fn len(&self) -> usize {
        self.index.len()
    }

    /// Where the area `id` is, if it is held.
    fn find(&self, id: &str) -> Option<AreaIndex> {
        self.index.get(id).copied()
    }

    /// Holds a new area; returns where.
    fn insert(&mut self, state: AreaState) -> AreaIndex {
        let id = state.id.clone();
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index as usize] = Some(state);
                index
            }
            None => {
                self.slots.push(Some(state));
                (self.slots.len() - 1) as AreaIndex
            }
        };
        self.index.insert(id, index);
        index
    }

    /// Forgets the area at `index`.
    fn remove(&mut self, index: AreaIndex) -> Option<AreaState> {
        let state = self.slots.get_mut(index as usize)?.take()?;
        self.index.remove(&state.id);
        self.free.push(index);
        Some(state)
    }

    fn get(&self, index: AreaIndex) -> Option<&AreaState> {
        self.slots.get(index as usize)?.as_ref()
    }

    fn get_mut(&mut self, index: AreaIndex) -> Option<&mut AreaState> {
        self.slots.get_mut(index as usize)?.as_mut()
    }

    /// Every area held, with where it is.
    fn iter(&self) -> impl Iterator<Item = (AreaIndex, &AreaState)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| slot.as_ref().map(|state| (i as AreaIndex, state)))
    }

    /// Rebuilds the index by id, after a restore.
    fn reindex(&mut self) {
        self.index = self
            .iter()
            .map(|(i, state)| (state.id.clone(), i))
            .collect();
    }
}

/// Saved engine state that cannot be read back (corrupt, or from another version).
#[derive(Debug, thiserror::Error)]
#[error("saved engine state is unreadable: {0}")]
pub struct StateError(postcard::Error);

/// The national rule's name.
pub const NATIONAL_RULE: &str = "national_tension";

impl Engine {
    /// An engine with no state.
    pub fn new(config: EngineConfig) -> Engine {
        Engine {
            layout: Layout::of(&config),
            config,
            areas: AreaTable::default(),
            due: BTreeMap::new(),
            watched: BTreeSet::new(),
            country: None,
            areas_with_posts: 0,
            closed_minute: None,
            newest_ms: None,
            global_share: Ewma::with_half_life(7.0 * 24.0),
            national: RuleState::default(),
            national_alert: None,
            national_wave: false,
            last_wave_minute: None,
            counters: Counters::default(),
            #[cfg(test)]
            visit_all: false,
            #[cfg(test)]
            evaluated_minutes: 0,
        }
    }

    /// The engine's state as bytes, for a checkpoint.
    pub fn save(&self) -> Vec<u8> {
        // Every field is plain data: serialising to a vector cannot fail.
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// An engine with `config` and the state `saved` by [`Engine::save`]. When the
    /// windows or the lateness changed since, every area's windows are laid out
    /// anew and its visits scheduled again.
    pub fn restore(config: EngineConfig, saved: &[u8]) -> Result<Engine, StateError> {
        let mut engine: Engine = postcard::from_bytes(saved).map_err(StateError)?;
        engine.areas.reindex();
        let layout = Layout::of(&config);
        engine.config = config;
        if layout != engine.layout {
            engine.layout = layout;
            engine.relayout();
        }
        Ok(engine)
    }

    /// After a change of windows: new capacities, fresh sums, and every visit the
    /// buckets held call for.
    fn relayout(&mut self) {
        let capacity = self.layout.capacity;
        if let Some(country) = &mut self.country {
            country.set_capacity(capacity);
        }
        self.due.clear();
        let held: Vec<AreaIndex> = self.areas.iter().map(|(i, _)| i).collect();
        for index in held {
            let Some(state) = self.areas.get_mut(index) else {
                continue;
            };
            state.windows.set_capacity(capacity);
            self.watched.insert(index);
            self.schedule_held(index, self.closed_minute.unwrap_or(i64::MIN));
        }
    }

    /// Schedules what every bucket the area at `index` holds still calls for after
    /// minute `after`, its hours' ends included: for an area that had no visits
    /// scheduled (it was watched, or its windows were laid out anew).
    fn schedule_held(&mut self, index: AreaIndex, after: i64) {
        let Some(state) = self.areas.get_mut(index) else {
            return;
        };
        state.hour_visit = i64::MIN;
        let buckets: Vec<i64> = state.windows.buckets().map(|(b, _)| b).collect();
        for bucket in buckets {
            self.schedule_after(index, bucket, after);
        }
    }

    /// The last minute closed and evaluated (epoch minutes), if any.
    pub fn closed_minute(&self) -> Option<i64> {
        self.closed_minute
    }

    /// The areas in id order.
    fn areas_by_id(&self) -> Vec<&AreaState> {
        let mut areas: Vec<&AreaState> = self.areas.iter().map(|(_, state)| state).collect();
        areas.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        areas
    }

    /// Every area seen, in id order, with its windows at the last closed minute.
    pub fn figures(&self) -> Vec<AreaFigures> {
        let Some(minute) = self.closed_minute else {
            return Vec::new();
        };
        let global_share = self.global_share_or(0.02);
        let lengths: Vec<u32> = self.layout.lengths.iter().map(|&l| l as u32).collect();
        self.areas_by_id()
            .into_iter()
            .map(|state| AreaFigures {
                id: state.id.clone(),
                name: state.name.clone(),
                windows: lengths
                    .iter()
                    .map(|&length| {
                        let tally = state.windows.window(minute, length as usize);
                        WindowFigures {
                            window: window_name(length),
                            posts: tally.posts,
                            tension: round4(tally.tension_share()),
                            mean_tension: round4(tally.mean_tension()),
                            sentiment: round4(tally.mean_sentiment()),
                            negative_share: round4(tally.negative_share()),
                            baseline_posts: state
                                .baseline
                                .expected_posts_in(minute, length)
                                .map(round4),
                            baseline_tension: round4(state.baseline.tension_share(global_share)),
                        }
                    })
                    .collect(),
                firing: state
                    .active
                    .iter()
                    .flatten()
                    .map(|active| active.event.id.clone())
                    .collect(),
            })
            .collect()
    }

    /// The alerts firing now, areas in id order, then the national one.
    pub fn firing(&self) -> impl Iterator<Item = &AlertEvent> {
        let mut under_alert: Vec<&AreaState> = self
            .areas
            .iter()
            .map(|(_, state)| state)
            .filter(|state| state.active.iter().any(Option::is_some))
            .collect();
        under_alert.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        under_alert
            .into_iter()
            .flat_map(|state| state.active.iter().flatten())
            .chain(self.national_alert.iter())
            .map(|active| &active.event)
    }

    /// The country's learnt tension share, or `fallback` before it has learnt one.
    fn global_share_or(&self, fallback: f64) -> f64 {
        if self.global_share.updates() == 0 {
            fallback.max(0.005)
        } else {
            self.global_share.mean().max(0.005)
        }
    }

    /// What the engine has counted so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Adds a post read from one ordered input (a file, one partition): the
    /// watermark is the newest event time seen. Alert events of the minutes it
    /// closes are appended to `out`.
    pub fn add(&mut self, post: &ScoredPost<'_>, out: &mut Vec<AlertEvent>) -> Added {
        let newest = self
            .newest_ms
            .map_or(post.event_time_ms, |n| n.max(post.event_time_ms));
        self.add_at(post, Some(newest), out)
    }

    /// Adds a post when the inputs' watermark (the event time every input with
    /// something to read has reached, see [`crate::watermark`]) is `watermark_ms`
    /// (`None`: not known yet). Minutes up to the allowed lateness before the
    /// watermark are closed first, and so are those a post far ahead would push
    /// out of the windows.
    pub fn add_at(
        &mut self,
        post: &ScoredPost<'_>,
        watermark_ms: Option<i64>,
        out: &mut Vec<AlertEvent>,
    ) -> Added {
        let minute = post.event_time_ms.div_euclid(MINUTE_MS);
        if self.closed_minute.is_some_and(|closed| minute <= closed) {
            self.counters.late += 1;
            return Added::Late;
        }
        self.newest_ms = Some(
            self.newest_ms
                .map_or(post.event_time_ms, |n| n.max(post.event_time_ms)),
        );
        let pushed_out = minute.saturating_sub(self.layout.lead as i64);
        // The minutes this post closes come first (its own minute is never among
        // them): after a gap in the stream, its bucket would otherwise push out of
        // the windows the buckets those minutes are judged on.
        let allowed = watermark_ms.map_or(pushed_out, |w| self.watermark_minute(w).max(pushed_out));
        self.close_until(allowed, out);
        match post.area {
            None => self.counters.unresolved += 1,
            Some((id, name)) => self.aggregate(post, id, name, minute),
        }
        Added::Counted
    }

    /// Whether a post of `event_time_ms` lies further ahead than the windows hold,
    /// with the inputs' watermark at `watermark_ms` (`None`: not known yet, some
    /// input has shown nothing). [`Engine::add_at`] would close minutes the
    /// watermark has not reached to make room for it, and posts of slower inputs
    /// would be late: such a post is better held back until the watermark has come
    /// nearer. Before any watermark and any closed minute every post is: the first
    /// post of an input not heard yet may be older than all seen so far. Never so
    /// for one ordered input.
    pub fn is_too_far_ahead(&self, event_time_ms: i64, watermark_ms: Option<i64>) -> bool {
        let minute = event_time_ms.div_euclid(MINUTE_MS);
        let reached = match (watermark_ms, self.closed_minute) {
            (Some(watermark), closed) => self
                .watermark_minute(watermark)
                .max(closed.unwrap_or(i64::MIN)),
            (None, Some(closed)) => closed,
            (None, None) => return true,
        };
        minute.saturating_sub(self.layout.lead as i64) > reached
    }

    /// The inputs' watermark moved to `watermark_ms` without a post (an input went
    /// idle): closes the minutes it allows.
    pub fn advance_to(&mut self, watermark_ms: i64, out: &mut Vec<AlertEvent>) {
        self.close_until(self.watermark_minute(watermark_ms), out);
    }

    /// The last minute a watermark of `watermark_ms` closes: the allowed lateness
    /// before it, whole minutes only.
    fn watermark_minute(&self, watermark_ms: i64) -> i64 {
        watermark_ms
            .saturating_sub(self.config.allowed_lateness_ms)
            .div_euclid(MINUTE_MS)
            - 1
    }

    /// Adds a located post to its area's bucket and the country's.
    fn aggregate(&mut self, post: &ScoredPost<'_>, id: &str, name: &str, minute: i64) {
        let index = match self.areas.find(id) {
            Some(index) => index,
            None => {
                let pinned = self.config.pinned_areas.len();
                if self.areas.len() >= self.config.max_areas.saturating_add(pinned) {
                    self.evict();
                }
                self.new_area(id, name, minute)
            }
        };
        self.counters.aggregated += 1;
        let threshold = self.config.tension_threshold;
        let capacity = self.layout.capacity;
        let country = self
            .country
            .get_or_insert_with(|| AreaWindows::new(capacity, minute));
        if let Some((bucket, _)) = country.bucket_mut(minute) {
            count_post(bucket, post, threshold);
        }
        let keep = self.config.evidence_posts.max(1) * 4;
        let oldest_kept = self
            .closed_minute
            .map(|closed| closed - self.layout.longest() as i64);
        let Some(state) = self.areas.get_mut(index) else {
            return;
        };
        state.last_post_minute = state.last_post_minute.max(minute);
        // The area may have been made by a later post (posts run ahead of the
        // closed minute): an hour of a post not late is never learnt yet.
        state.next_hour = state.next_hour.min(minute.div_euclid(60));
        let mut first_in_bucket = false;
        if let Some((bucket, is_new)) = state.windows.bucket_mut(minute) {
            count_post(bucket, post, threshold);
            first_in_bucket = is_new;
        }
        if post.tension >= threshold {
            state.pending_tense.push((minute, post.author));
            keep_evidence(&mut state.evidence, post, minute, keep);
            state.evidence_since = state.evidence_since.min(minute);
        } else {
            if let Some(oldest) = oldest_kept {
                forget_other_words(&mut state.other_words, oldest);
            }
            if state.other_words.len() < OTHER_POSTS_KEPT {
                let at = state.other_words.partition_point(|(m, _)| *m <= minute);
                state
                    .other_words
                    .insert(at, (minute, crate::mask::mask_personal(post.text)));
            }
        }
        if first_in_bucket && !self.watched.contains(&index) {
            self.schedule(index, minute);
        }
    }

    /// A new area, with nothing learnt.
    fn new_area(&mut self, id: &str, name: &str, minute: i64) -> AreaIndex {
        self.areas.insert(AreaState {
            id: id.to_string(),
            name: name.to_string(),
            last_post_minute: minute,
            next_hour: minute.div_euclid(60),
            hour_visit: i64::MIN,
            visited: None,
            has_recent_posts: false,
            windows: AreaWindows::new(self.layout.capacity, minute),
            baseline: Baseline::default(),
            rules: Vec::new(),
            active: Vec::new(),
            evidence: Vec::new(),
            evidence_since: i64::MAX,
            other_words: VecDeque::new(),
            accumulator: Accumulator::default(),
            accumulated_through: None,
            pending_tense: Vec::new(),
            voided_through: i64::MIN,
        })
    }

    /// Schedules the visits a bucket with posts calls for: when it enters the
    /// windows, when it leaves each of them, and at the end of its hour.
    fn schedule(&mut self, index: AreaIndex, bucket: i64) {
        self.schedule_after(index, bucket, self.closed_minute.unwrap_or(i64::MIN));
    }

    /// As [`Engine::schedule`], for the minutes after `after` only.
    fn schedule_after(&mut self, index: AreaIndex, bucket: i64, after: i64) {
        let hour_end = bucket.div_euclid(60) * 60 + 59;
        let mut minutes: Vec<i64> = std::iter::once(bucket)
            .chain(self.layout.lengths.iter().map(|&l| bucket + l as i64))
            .filter(|&m| m > after)
            .collect();
        if let Some(state) = self.areas.get_mut(index) {
            if state.hour_visit != hour_end && hour_end > after {
                state.hour_visit = hour_end;
                minutes.push(hour_end);
            }
        }
        for minute in minutes {
            self.due.entry(minute).or_default().push(index);
        }
    }

    /// Forgets the tenth of the areas that have been quiet longest, have no alert
    /// under way and are not pinned (at least one area): a batch, so that a flood
    /// of new ids costs one sort per many insertions, not a scan per post.
    fn evict(&mut self) {
        let pinned = &self.config.pinned_areas;
        let mut quiet: Vec<(i64, &str, AreaIndex)> = self
            .areas
            .iter()
            .filter(|(_, state)| {
                state.rules.iter().all(RuleState::is_idle) && !pinned.contains(&state.id)
            })
            .map(|(i, state)| (state.last_post_minute, state.id.as_str(), i))
            .collect();
        quiet.sort_unstable();
        let batch = (self.config.max_areas / 10).max(1);
        let forget: BTreeSet<AreaIndex> =
            quiet.into_iter().take(batch).map(|(_, _, i)| i).collect();
        for &index in &forget {
            if let Some(state) = self.areas.remove(index) {
                self.counters.evicted += 1;
                self.areas_with_posts -= usize::from(state.has_recent_posts);
            }
        }
        for visits in self.due.values_mut() {
            visits.retain(|index| !forget.contains(index));
        }
        self.watched.retain(|index| !forget.contains(index));
    }

    /// Closes every minute up to the newest post's (end of input): the remaining
    /// alert events go to `out`.
    pub fn finish(&mut self, out: &mut Vec<AlertEvent>) {
        if let Some(newest) = self.newest_ms {
            self.close_until(newest.div_euclid(MINUTE_MS), out);
        }
    }

    fn close_until(&mut self, last: i64, out: &mut Vec<AlertEvent>) {
        let first = match self.closed_minute {
            Some(closed) => closed + 1,
            // The oldest bucket of any area: how far the posts before the first
            // close ran ahead of one another must not decide which minutes are
            // evaluated (it differs between one input and several).
            None => match self
                .areas
                .iter()
                .filter_map(|(_, a)| a.windows.buckets().next().map(|(bucket, _)| bucket))
                .min()
            {
                Some(oldest) => oldest.min(last),
                None => return,
            },
        };
        let mut minute = first;
        while minute <= last {
            self.evaluate(minute, out);
            self.closed_minute = Some(minute);
            minute = self.next_minute_to_evaluate(minute, last);
        }
    }

    /// The minute after `minute` that has anything to do, at most `last`: when no
    /// area is watched, no rule of the country's is under way and the country has
    /// no posts in its windows, nothing happens until the next visit due. A post
    /// far ahead of the rest (a clock set wrong) then costs the visits it causes,
    /// not a loop over every minute in between.
    fn next_minute_to_evaluate(&self, minute: i64, last: i64) -> i64 {
        let next = minute.saturating_add(1);
        #[cfg(test)]
        if self.visit_all {
            return next;
        }
        let country_quiet = self.country.as_ref().is_none_or(|country| {
            country
                .buckets()
                .next_back()
                .is_none_or(|(bucket, _)| bucket <= minute - self.layout.longest() as i64)
        });
        if !self.watched.is_empty() || !self.national.is_idle() || !country_quiet {
            return next;
        }
        let due = self.due.range(next..).next().map_or(last, |(m, _)| *m);
        due.clamp(next, last.max(next))
    }

    fn evaluate(&mut self, minute: i64, out: &mut Vec<AlertEvent>) {
        #[cfg(test)]
        {
            self.evaluated_minutes += 1;
        }
        let lengths = std::mem::take(&mut self.layout.lengths);
        let short_slot = 0;
        let long_slot = lengths.len() - 1;
        // Who is visited: the visits due now and the watched areas, each once.
        let mut visits = self.due.remove(&minute).unwrap_or_default();
        visits.extend(self.watched.iter().copied());
        #[cfg(test)]
        if self.visit_all {
            visits = self.areas.iter().map(|(i, _)| i).collect();
        }
        visits.retain(|&i| {
            self.areas.get_mut(i).is_some_and(|state| {
                let first = state.visited != Some(minute);
                state.visited = Some(minute);
                first
            })
        });
        // The country right now, per window: every area's tension share (sorted),
        // to compare each area with the others.
        let mut shares: Vec<Vec<f64>> = vec![Vec::new(); lengths.len()];
        // The last minutes' tense and all posts of each area, for the shrunk
        // shares accumulated evidence compares with.
        let mut short_counts: Vec<(u32, u32)> = Vec::new();
        for &i in &visits {
            let Some(state) = self.areas.get_mut(i) else {
                continue;
            };
            state.windows.slide_to(minute, &lengths);
            let has_posts = state.windows.sum(short_slot).posts > 0;
            if has_posts != state.has_recent_posts {
                state.has_recent_posts = has_posts;
                if has_posts {
                    self.areas_with_posts += 1;
                } else {
                    self.areas_with_posts -= 1;
                }
            }
            for (slot, values) in shares.iter_mut().enumerate() {
                let tally = state.windows.sum(slot);
                if tally.posts >= MIN_POSTS_FOR_TYPICAL {
                    values.push(tally.tension_share());
                }
            }
            let now = state.windows.window(minute, NOW_MINUTES);
            if now.posts >= EVIDENCE_QUARTILE_MIN_POSTS {
                short_counts.push((now.tension_posts, now.posts));
            }
        }
        for values in &mut shares {
            values.sort_by(f64::total_cmp);
        }
        let country = self.country.as_mut().map(|country| {
            country.slide_to(minute, &lengths);
            (
                country.sum(short_slot),
                country.sum(long_slot),
                country.window(minute, NOW_MINUTES),
            )
        });
        let (country_short, country_long, country_now) = country.unwrap_or_default();
        let global_share = self.global_share_or(if country_long.posts > 0 {
            country_long.tension_share()
        } else {
            0.02
        });
        let shrunk_short_share = |tally: &Tally| {
            shrunk_share(
                f64::from(tally.tension_posts),
                f64::from(tally.posts),
                global_share,
                EVIDENCE_QUARTILE_PRIOR_POSTS,
            )
        };
        let mut evidence_shares: Vec<f64> = short_counts
            .iter()
            .map(|&(tension_posts, posts)| {
                shrunk_short_share(&Tally {
                    tension_posts,
                    posts,
                    ..Tally::default()
                })
            })
            .collect();
        evidence_shares.sort_by(f64::total_cmp);
        let mut elevated_areas = 0usize;
        let national_wave = self.national_wave;
        let mut events: Vec<(AreaIndex, AlertEvent)> = Vec::new();
        let mut unwatched: Vec<AreaIndex> = Vec::new();
        let rules = std::mem::take(&mut self.config.rules);
        let longest = lengths[long_slot] as i64;
        for &i in &visits {
            let Some(state) = self.areas.get_mut(i) else {
                continue;
            };
            state.rules.resize(rules.len(), RuleState::default());
            state.active.resize(rules.len(), None);
            learn_silent_hours(state, minute);
            let short_tally = state.windows.sum(short_slot);
            let baseline_share = state.baseline.tension_share(global_share);
            if short_tally.tension_posts >= ELEVATED_MIN_TENSION_POSTS
                && short_tally.tension_share() >= 2.0 * baseline_share.max(0.01)
            {
                elevated_areas += 1;
            }
            let longest_tally = state.windows.sum(long_slot);
            let longest_share = longest_tally.tension_share();
            // Accumulated evidence: against the higher of the area's own share and
            // what other areas reach now, as the windowed rules are.
            let own_now = state.windows.window(minute, NOW_MINUTES);
            let own_short = (own_now.posts >= EVIDENCE_QUARTILE_MIN_POSTS)
                .then(|| shrunk_short_share(&own_now));
            // The other areas' share of the last minutes, pooled: a wave that
            // rises everywhere at once is in it from its first minutes, when the
            // windows' quartile still holds the calm before.
            let mut others_now = country_now;
            others_now.unmerge(&state.windows.window(minute, NOW_MINUTES));
            // Shrunk toward the country's learnt share: a few minutes of a few
            // areas are a small sample, and its noise would only slow evidence.
            let others_share_now = shrunk_share(
                f64::from(others_now.tension_posts),
                f64::from(others_now.posts),
                global_share,
                SHARE_PRIOR_WEIGHT,
            );
            let evidence_share = baseline_share
                .max(others_share_now)
                .max(upper_quartile_without(&evidence_shares, own_short));
            let posts_per_hour = state
                .baseline
                .posts_per_hour()
                .unwrap_or(f64::from(longest_tally.posts) * 60.0 / lengths[long_slot] as f64);
            accumulate(
                state,
                (minute, self.last_wave_minute),
                (evidence_share, posts_per_hour),
                &self.config.budget,
            );
            let crossing = state.accumulator.strongest();
            let mut evidence_spent = false;
            for (rule_slot, rule) in rules.iter().enumerate() {
                let length = rule.window_minutes as usize;
                let window_slot = lengths.iter().position(|&l| l == length);
                let tally = window_slot.map_or_else(Tally::default, |s| state.windows.sum(s));
                let own = (tally.posts >= MIN_POSTS_FOR_TYPICAL).then(|| tally.tension_share());
                let others = window_slot
                    .and_then(|s| shares.get(s))
                    .map_or(0.0, |v| upper_quartile_without(v, own));
                let expected_share = baseline_share.max(others);
                let expected_posts = state
                    .baseline
                    .expected_posts_in(minute, rule.window_minutes);
                let tension_z = count_excess_z(
                    f64::from(tally.tension_posts),
                    f64::from(tally.posts) * expected_share,
                );
                let lift = tally.tension_share() / expected_share.max(0.005);
                let (metric, holds, cleared) = match rule.metric {
                    Metric::TensionEvidence => {
                        // While its alert is up the evidence is spent each minute:
                        // it clears on the window alone, and fires again only on
                        // evidence gathered after it resolved.
                        evidence_spent |= state.rules[rule_slot].active;
                        let ratio = if national_wave {
                            0.0
                        } else {
                            crossing.map_or(0.0, |c| c.ratio)
                        };
                        let authors = crossing.map_or(0, |c| c.authors);
                        let holds = ratio >= rule.threshold
                            && authors >= rule.min_tension_posts
                            && tally.posts >= rule.min_posts;
                        (ratio, holds, tension_z < rule.clear_below)
                    }
                    Metric::TensionZ | Metric::VolumeZ => {
                        let metric = if rule.metric == Metric::TensionZ {
                            tension_z
                        } else {
                            expected_posts
                                .map_or(0.0, |e| count_excess_z(f64::from(tally.posts), e))
                        };
                        let holds = metric >= rule.threshold
                            && tally.posts >= rule.min_posts
                            && tally.tension_posts >= rule.min_tension_posts
                            && lift >= rule.min_lift
                            && (!rule.rising || tally.tension_share() > longest_share);
                        (metric, holds, metric < rule.clear_below)
                    }
                };
                match state.rules[rule_slot].step(rule, minute, holds, cleared) {
                    Transition::None => {}
                    Transition::Fire { since } => {
                        let accumulated = crossing
                            .filter(|_| rule.metric == Metric::TensionEvidence)
                            .map(|c| Accumulated::of(&c, minute));
                        // Evidence fires from the change point it estimates.
                        let since = crossing
                            .filter(|_| rule.metric == Metric::TensionEvidence)
                            .map_or(since, |c| c.since);
                        evidence_spent |= accumulated.is_some();
                        // Accumulated evidence shows the posts of its whole run, as
                        // far back as posts are kept.
                        let evidence_length = accumulated.as_ref().map_or(length, |a| {
                            usize::try_from(a.horizon_minutes)
                                .unwrap_or(length)
                                .clamp(length, longest as usize)
                        });
                        let event = AlertEvent {
                            id: alert_id(&state.id, &rule.name, since),
                            status: AlertStatus::Firing,
                            rule: rule.name.clone(),
                            severity: rule.severity,
                            area: AreaRef {
                                id: state.id.clone(),
                                name: state.name.clone(),
                            },
                            starts_at: rfc3339(since * MINUTE_MS),
                            ends_at: None,
                            observed: Observed {
                                accumulated,
                                ..Observed::of(
                                    rule.window_minutes,
                                    &tally,
                                    expected_posts.unwrap_or(0.0),
                                    expected_share,
                                    metric,
                                )
                            },
                            evidence: evidence(
                                state,
                                minute,
                                evidence_length,
                                longest,
                                &tally,
                                self.config.evidence_posts,
                            ),
                        };
                        events.push((i, event.clone()));
                        state.active[rule_slot] = Some(ActiveAlert { event });
                    }
                    Transition::Resolve { since } => {
                        if let Some(event) = resolved(&mut state.active[rule_slot], since) {
                            events.push((i, event));
                        }
                    }
                }
            }
            if evidence_spent {
                state.accumulator.reset();
            }
            let building = state.accumulator.is_building();
            learn_closed_hour(state, minute, building);
            let window_start = minute - longest;
            if state.evidence_since <= window_start {
                state.evidence.retain(|kept| kept.minute > window_start);
                state.evidence_since = state
                    .evidence
                    .iter()
                    .map(|k| k.minute)
                    .min()
                    .unwrap_or(i64::MAX);
            }
            forget_other_words(&mut state.other_words, window_start);
            let quiet = state.windows.sum(long_slot).posts < self.layout.quiet_below;
            if quiet && !building && state.rules.iter().all(RuleState::is_idle) {
                if self.watched.remove(&i) {
                    unwatched.push(i);
                }
            } else {
                self.watched.insert(i);
            }
        }
        self.config.rules = rules;
        self.layout.lengths = lengths;
        // A watched area's buckets schedule nothing (it is visited every minute
        // anyway); once it is no longer watched, they schedule what is still ahead.
        for index in unwatched {
            self.schedule_held(index, minute);
        }
        // Areas in id order, each area's rules in their order.
        let id_of = |index: &AreaIndex| self.areas.get(*index).map(|state| state.id.as_str());
        events.sort_by(|(a, _), (b, _)| id_of(a).cmp(&id_of(b)));
        out.extend(events.into_iter().map(|(_, event)| event));
        if (minute + 1).rem_euclid(60) == 0 && country_long.posts > 0 {
            self.global_share.update(country_long.tension_share());
        }
        let with_posts = self.areas_with_posts;
        self.evaluate_national(minute, elevated_areas, with_posts, &country_short, out);
    }

    fn evaluate_national(
        &mut self,
        minute: i64,
        elevated: usize,
        with_posts: usize,
        tally: &Tally,
        out: &mut Vec<AlertEvent>,
    ) {
        let rule = Rule {
            name: NATIONAL_RULE.into(),
            severity: Severity::Info,
            metric: Metric::TensionZ,
            window_minutes: self.layout.shortest() as u32,
            threshold: 1.0,
            clear_below: 1.0,
            min_posts: 0,
            min_tension_posts: 0,
            min_lift: 0.0,
            rising: false,
            hold_minutes: 3,
            clear_minutes: 30,
            cooldown_minutes: 180,
        };
        let share = if with_posts == 0 {
            0.0
        } else {
            elevated as f64 / with_posts as f64
        };
        let holds =
            elevated >= self.config.national_min_areas && share >= self.config.national_area_share;
        self.national_wave = holds || self.national.active;
        if self.national_wave {
            self.last_wave_minute = Some(minute);
        }
        match self.national.step(&rule, minute, holds, !holds) {
            Transition::None => {}
            Transition::Fire { since } => {
                let event = AlertEvent {
                    id: alert_id("national", NATIONAL_RULE, since),
                    status: AlertStatus::Firing,
                    rule: NATIONAL_RULE.into(),
                    severity: Severity::Info,
                    area: AreaRef {
                        id: "national".into(),
                        name: "National".into(),
                    },
                    starts_at: rfc3339(since * MINUTE_MS),
                    ends_at: None,
                    observed: Observed::of(
                        rule.window_minutes,
                        tally,
                        0.0,
                        self.global_share.mean(),
                        share,
                    ),
                    evidence: Evidence {
                        terms: Vec::new(),
                        posts: Vec::new(),
                        located: BTreeMap::new(),
                    },
                };
                out.push(event.clone());
                self.national_alert = Some(ActiveAlert { event });
            }
            Transition::Resolve { since } => {
                out.extend(resolved(&mut self.national_alert, since));
            }
        }
    }
}

/// An area needs this many posts in a window for its share to count towards the
/// country's spread of shares.
const MIN_POSTS_FOR_TYPICAL: u32 = 3;

/// The upper quartile of `sorted` with one occurrence of `own` left out (0 when
/// nothing is left): the share a quarter of the other areas reach right now. An area
/// has to stand out from that to be local news.
fn upper_quartile_without(sorted: &[f64], own: Option<f64>) -> f64 {
    let skip = own.and_then(|own| {
        let first = sorted.partition_point(|v| v.total_cmp(&own).is_lt());
        (sorted.get(first) == Some(&own)).then_some(first)
    });
    let others = sorted.len() - usize::from(skip.is_some());
    if others == 0 {
        return 0.0;
    }
    let rank = (others * 3) / 4;
    let index = match skip {
        Some(skipped) if rank >= skipped => rank + 1,
        _ => rank,
    };
    sorted[index.min(sorted.len() - 1)]
}

/// An area with this many tense posts in its shortest window, and twice its
/// expected share, counts as elevated for the national rule.
const ELEVATED_MIN_TENSION_POSTS: u32 = 3;

/// Posts without tension kept per area for the terms' comparison.
const OTHER_POSTS_KEPT: usize = 200;

/// Ends an active alert: its firing event again, `resolved`, ending at `since`.
fn resolved(active: &mut Option<ActiveAlert>, since: i64) -> Option<AlertEvent> {
    active.take().map(|active| {
        let mut event = active.event;
        event.status = AlertStatus::Resolved;
        event.ends_at = Some(rfc3339(since * MINUTE_MS));
        event
    })
}

/// Adds a post's scores to a bucket (an area's, or the country's).
fn count_post(bucket: &mut Tally, post: &ScoredPost<'_>, tension_threshold: f32) {
    bucket.add(
        post.tension,
        post.sentiment,
        post.negative,
        tension_threshold,
        post.located,
    );
}

/// Drops the texts of posts without tension from minute `oldest` and before.
fn forget_other_words(other_words: &mut VecDeque<(i64, String)>, oldest: i64) {
    while other_words.front().is_some_and(|(m, _)| *m <= oldest) {
        other_words.pop_front();
    }
}

/// Hours of silence learnt at most when an idle area wakes: a bound on the work a
/// waking area costs. Two weeks of silence leave a quarter of an hour of the day's
/// weight, so an area silent longer than that wakes to a baseline a little above
/// the one it would have had if visited every minute.
const MAX_SILENT_HOURS: i64 = 14 * 24;

/// Learns, as hours without posts, the hours before `minute`'s own that the area
/// has not learnt: they passed while it was not visited, and an hour with posts is
/// always visited at its end, so they had none. Runs before the rules, so that a
/// waking area is judged against the baseline it would have had if visited every
/// minute.
fn learn_silent_hours(state: &mut AreaState, minute: i64) {
    let current = minute.div_euclid(60);
    if state.next_hour >= current {
        return;
    }
    let frozen = state.active.iter().any(Option::is_some);
    for silent in state.next_hour.max(current - MAX_SILENT_HOURS)..current {
        state.baseline.learn_hour(silent, 0, 0, frozen);
    }
    state.next_hour = current;
}

/// Learns the hour that ends at `minute` into the area's baseline.
/// Learns the hour that `minute` closes into the area's baseline; an area under
/// alert, or whose evidence is `building` toward one, learns nothing of it.
fn learn_closed_hour(state: &mut AreaState, minute: i64, building: bool) {
    if (minute + 1).rem_euclid(60) != 0 {
        return;
    }
    let hour_index = minute.div_euclid(60);
    if hour_index < state.next_hour {
        // Before the area's first post (posts run ahead of the closed minute).
        return;
    }
    let frozen = building || state.active.iter().any(Option::is_some);
    let hour = state.windows.window(minute, 60);
    state
        .baseline
        .learn_hour(hour_index, hour.posts, hour.tension_posts, frozen);
    state.next_hour = hour_index + 1;
}

/// Feeds the area's accumulator the minutes closed since it last took one in, up
/// to `minute`: each bucket's posts, and its tense posts by author, against the
/// expected share and volume of `expected`. Evidence of minutes up to the last
/// minute of a national wave (`void_through`) is void: the accumulator starts
/// afresh after it.
fn accumulate(
    state: &mut AreaState,
    (minute, void_through): (i64, Option<i64>),
    expected: (f64, f64),
    budget: &Budget,
) {
    let mut after = state.accumulated_through.unwrap_or(i64::MIN);
    if let Some(wave) = void_through.filter(|&wave| wave > state.voided_through) {
        state.accumulator.reset();
        state.voided_through = wave;
        after = after.max(wave);
    }
    state.accumulated_through = Some(minute);
    let closed: Vec<(i64, u32)> = state
        .windows
        .buckets()
        .filter(|&(bucket, _)| bucket > after && bucket <= minute)
        .map(|(bucket, tally)| (bucket, tally.posts))
        .collect();
    let mut pending = std::mem::take(&mut state.pending_tense);
    pending.sort_unstable();
    let taken = pending.partition_point(|&(at, _)| at <= minute);
    let mut tense = pending.drain(..taken).peekable();
    for (bucket, posts) in closed {
        let mut by_author: Vec<TenseBy> = Vec::new();
        while let Some((at, author)) = tense.next_if(|&(at, _)| at <= bucket) {
            if at < bucket {
                // A minute the accumulator has taken in already.
                continue;
            }
            match by_author.last_mut() {
                Some(last) if author.is_some() && last.author == author => last.posts += 1,
                _ => by_author.push(TenseBy { author, posts: 1 }),
            }
        }
        state
            .accumulator
            .add_minute(bucket, posts, &by_author, expected, budget);
    }
    drop(tense);
    state.pending_tense = pending;
}

/// Keeps a tense post as possible evidence: the most tense first, newest first among
/// equals, at most `bound` posts, and one post per author (the more tense, then the
/// newer), so that one account posting over and over cannot fill the evidence. The
/// text is masked only once the post is known to be kept.
fn keep_evidence(kept: &mut Vec<KeptPost>, post: &ScoredPost<'_>, minute: i64, bound: usize) {
    let more_evident = |a: (f32, i64), b: (f32, i64)| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1));
    let rank = |k: &KeptPost| (k.tension, k.minute);
    let candidate = (post.tension, minute);
    let same_author = post
        .author
        .and_then(|author| kept.iter().position(|k| k.author == Some(author)));
    let replaces = match same_author {
        Some(index) => {
            if more_evident(candidate, rank(&kept[index])).is_ge() {
                return;
            }
            Some(index)
        }
        None => None,
    };
    if replaces.is_none()
        && kept.len() >= bound
        && kept
            .last()
            .is_some_and(|last| more_evident(candidate, rank(last)).is_ge())
    {
        return;
    }
    let keeping = KeptPost {
        minute,
        tension: post.tension,
        id: post.id.to_string(),
        text: crate::mask::mask_personal(post.text),
        author: post.author,
    };
    match replaces {
        Some(index) => kept[index] = keeping,
        None => kept.push(keeping),
    }
    kept.sort_by(|a, b| more_evident(rank(a), rank(b)));
    kept.truncate(bound);
}

/// The evidence of an alert: the most tense posts of the window, the words that set
/// them apart from the area's other posts of its longest window (both up to the
/// closed `minute`, whatever arrived ahead of it), and how the window's posts
/// (`tally`) were located.
fn evidence(
    state: &AreaState,
    minute: i64,
    length: usize,
    longest: i64,
    tally: &Tally,
    keep: usize,
) -> Evidence {
    // The window's posts only: posts ahead of the closed minute (arrived early
    // within the lateness) are not evidence of this minute.
    let start = minute - length as i64;
    let tense: Vec<&KeptPost> = state
        .evidence
        .iter()
        .filter(|kept| kept.minute > start && kept.minute <= minute)
        .collect();
    let located = Located::IN_AREA
        .iter()
        .zip(tally.located)
        .filter(|(_, n)| *n > 0)
        .map(|(how, n)| (how.as_str().to_string(), n))
        .collect();
    let posts = tense
        .iter()
        .take(keep)
        .map(|kept| EvidencePost {
            id: kept.id.clone(),
            text: kept.text.clone(),
            tension: round4(f64::from(kept.tension)),
        })
        .collect();
    let terms = distinguishing_terms(
        tense.iter().map(|kept| kept.text.as_str()),
        state
            .other_words
            .iter()
            .filter(|(m, _)| *m >= minute - longest && *m <= minute)
            .map(|(_, text)| text.as_str()),
    );
    Evidence {
        terms,
        posts,
        located,
    }
}

/// Words of at least four letters, function words left out, that are more frequent
/// in `tense` than in `others`, by lift with add-one smoothing, most distinguishing
/// first (ties by word, so the order is deterministic).
fn distinguishing_terms<'a>(
    tense: impl Iterator<Item = &'a str>,
    others: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let mut tokens = onrust_text::Tokens::new();
    let identifier = onrust_text::LanguageIdentifier::new();
    let mut count = |texts: &mut dyn Iterator<Item = &'a str>| {
        let mut counts: HashMap<String, u32> = HashMap::new();
        let mut total = 0u32;
        for text in texts {
            tokens.tokenize(text);
            for (token, form) in tokens.iter() {
                if token.kind == onrust_text::TokenKind::Word
                    && form.chars().count() >= 4
                    && !identifier.is_function_word(form)
                {
                    *counts.entry(form.to_string()).or_insert(0) += 1;
                    total += 1;
                }
            }
        }
        (counts, total)
    };
    let (tense_counts, tense_total) = count(&mut { tense });
    let (other_counts, other_total) = count(&mut { others });
    let vocabulary = (tense_counts.len() + other_counts.len()).max(1) as f64;
    let mut scored: Vec<(f64, String)> = tense_counts
        .into_iter()
        .filter(|(_, n)| *n >= 2)
        .map(|(word, n)| {
            let p_tense = (f64::from(n) + 1.0) / (f64::from(tense_total) + vocabulary);
            let p_other = (f64::from(other_counts.get(&word).copied().unwrap_or(0)) + 1.0)
                / (f64::from(other_total) + vocabulary);
            (p_tense / p_other, word)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    scored
        .into_iter()
        .take(TERMS_SHOWN)
        .map(|(_, word)| word)
        .collect()
}

/// Terms shown in an alert.
const TERMS_SHOWN: usize = 5;

fn window_name(minutes: u32) -> String {
    if minutes % 60 == 0 {
        format!("{}h", minutes / 60)
    } else {
        format!("{minutes}m")
    }
}

fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

fn round4(x: f64) -> f64 {
    if x.is_finite() {
        (x * 10_000.0).round() / 10_000.0
    } else {
        0.0
    }
}

/// A stable id for an alert episode: the same area, rule and start give the same id.
fn alert_id(area: &str, rule: &str, since_minute: i64) -> String {
    let hash = onrust_text::hash::FeatureHash::new(0xA1)
        .str(area)
        .str(rule)
        .bytes(&since_minute.to_le_bytes())
        .finish();
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic stream: `rate` posts a minute per area, of which `tense` share tense.
    struct Stream {
        rng: fastrand::Rng,
        posts: Vec<(i64, String, f32)>,
    }

    const DAY_MINUTES: i64 = 24 * 60;

    /// Every scenario runs with these seeds: a behaviour that holds for one random
    /// stream only is luck, not a property.
    const SEEDS: std::ops::RangeInclusive<u64> = 1..=8;

    impl Stream {
        fn new(seed: u64) -> Stream {
            Stream {
                rng: fastrand::Rng::with_seed(seed),
                posts: Vec::new(),
            }
        }

        /// Posts for `area` in minutes `from..to`: `per_hour` posts an hour on average,
        /// each tense with probability `tense`.
        fn area(
            &mut self,
            area: &str,
            from: i64,
            to: i64,
            per_hour: f64,
            tense: f64,
        ) -> &mut Stream {
            for minute in from..to {
                let mut expected = per_hour / 60.0;
                while expected > 0.0 {
                    if self.rng.f64() < expected.min(1.0) {
                        let tension = if self.rng.f64() < tense { 0.9 } else { 0.05 };
                        let at = minute * MINUTE_MS + i64::from(self.rng.u32(0..60_000));
                        self.posts.push((at, area.to_string(), tension));
                    }
                    expected -= 1.0;
                }
            }
            self
        }

        fn run(&mut self) -> Vec<AlertEvent> {
            self.posts.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
            self.run_restarting(&[])
        }

        /// As [`Stream::run`], but the engine is saved and restored from its bytes
        /// before each post whose index is in `restarts`.
        fn run_restarting(&self, restarts: &[usize]) -> Vec<AlertEvent> {
            self.run_with(Engine::new(EngineConfig::default()), restarts)
        }

        /// As [`Stream::run_restarting`], with `engine`, the posts in their order.
        fn run_with(&self, engine: Engine, restarts: &[usize]) -> Vec<AlertEvent> {
            self.run_to_the_end(engine, restarts).0
        }

        /// As [`Stream::run_with`], with every area's figures at the end.
        fn run_to_the_end(
            &self,
            mut engine: Engine,
            restarts: &[usize],
        ) -> (Vec<AlertEvent>, Vec<AreaFigures>) {
            let mut out = Vec::new();
            for (i, (at, area, tension)) in self.posts.iter().enumerate() {
                if restarts.contains(&i) {
                    let visit_all = engine.visit_all;
                    engine = Engine::restore(EngineConfig::default(), &engine.save())
                        .expect("saved state reads back");
                    engine.visit_all = visit_all;
                }
                let id = i.to_string();
                let text = if *tension > 0.5 {
                    "iedereen naar het plein, stenen mee"
                } else {
                    "mooie dag in het park"
                };
                let post = ScoredPost {
                    id: &id,
                    text,
                    author: None,
                    event_time_ms: *at,
                    area: Some((area, area)),
                    located: Located::AreaField,
                    tension: *tension,
                    sentiment: if *tension > 0.5 { -0.8 } else { 0.3 },
                    negative: *tension > 0.5,
                };
                engine.add(&post, &mut out);
            }
            engine.finish(&mut out);
            (out, engine.figures())
        }
    }

    #[test]
    fn a_restored_engine_continues_exactly_where_it_was_saved() {
        let (mut stream, start) = three_quiet_days_then(3, 240);
        stream.area("town", start + 60, start + 80, 60.0, 0.3);
        stream.area("town", start + 80, start + 110, 150.0, 0.7);
        let straight = stream.run();
        assert!(!fired(&straight).is_empty(), "the scenario raises alerts");
        let n = stream.posts.len();
        let restarts = [1, n / 3, n / 2, n - n / 10, n - 1];
        assert_eq!(stream.run_restarting(&restarts), straight);
    }

    #[test]
    fn restored_with_other_windows_it_sums_them_from_the_buckets_kept() {
        let (engine, mut out) = a_post_a_minute("town", 50, 0.9);
        let config = EngineConfig {
            windows: vec![15, 30, 60],
            ..EngineConfig::default()
        };
        let mut engine = Engine::restore(config, &engine.save()).expect("restores");
        engine.add(&bare_post("50", 50 * MINUTE_MS, "town", 0.9), &mut out);
        let closed = engine.closed_minute().expect("minutes closed");
        let town = engine.figures().into_iter().next().expect("town");
        let posts: Vec<(String, u32)> = town
            .windows
            .iter()
            .map(|w| (w.window.clone(), w.posts))
            .collect();
        let expected = |length: i64| (closed + 1).min(length) as u32;
        assert_eq!(
            posts,
            [
                ("15m".to_string(), expected(15)),
                ("30m".to_string(), expected(30)),
                ("1h".to_string(), expected(60)),
            ]
        );
        let area = engine.areas.get(0).expect("town");
        assert_eq!(
            area.windows.sum(1).posts,
            expected(30),
            "running sum made afresh"
        );
    }

    #[test]
    fn corrupt_saved_state_is_an_error_not_a_panic() {
        let mut engine = Engine::new(EngineConfig::default());
        let mut out = Vec::new();
        engine.add(
            &ScoredPost {
                id: "1",
                text: "rellen",
                author: None,
                event_time_ms: 0,
                area: Some(("a", "A")),
                located: Located::AreaField,
                tension: 0.9,
                sentiment: -0.5,
                negative: true,
            },
            &mut out,
        );
        let saved = engine.save();
        assert!(Engine::restore(EngineConfig::default(), &saved).is_ok());
        assert!(Engine::restore(EngineConfig::default(), &saved[..saved.len() / 2]).is_err());
        assert!(Engine::restore(EngineConfig::default(), b"").is_err());
    }

    #[test]
    fn figures_show_every_area_with_its_windows_and_firing_alerts() {
        let (mut stream, start) = three_quiet_days_then(5, 240);
        stream.area("town", start + 60, start + 80, 60.0, 0.3);
        stream.area("town", start + 80, start + 110, 150.0, 0.7);
        stream
            .posts
            .sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut engine = Engine::new(EngineConfig::default());
        let mut out = Vec::new();
        let cut = stream
            .posts
            .iter()
            .position(|(at, ..)| *at >= (start + 105) * MINUTE_MS)
            .expect("posts after the build-up");
        for (i, (at, area, tension)) in stream.posts[..cut].iter().enumerate() {
            let id = i.to_string();
            engine.add(&bare_post(&id, *at, area, *tension), &mut out);
        }
        let figures = engine.figures();
        let town = figures.iter().find(|a| a.id == "town").expect("town");
        assert_eq!(town.windows.len(), 2);
        assert_eq!(town.windows[0].window, "15m");
        assert!(town.windows[0].posts > 0);
        assert!(town.windows[0].tension > town.windows[0].baseline_tension);
        let firing: Vec<&str> = engine.firing().map(|e| e.id.as_str()).collect();
        assert!(!town.firing.is_empty());
        assert!(town.firing.iter().all(|id| firing.contains(&id.as_str())));
        assert!(figures.windows(2).all(|w| w[0].id < w[1].id), "id order");
    }

    #[test]
    fn a_flood_of_area_ids_is_capped_and_areas_under_alert_are_kept() {
        let (mut stream, start) = three_quiet_days_then(4, 120);
        stream.area("town", start + 20, start + 50, 150.0, 0.7);
        stream
            .posts
            .sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let config = EngineConfig {
            max_areas: 100,
            ..EngineConfig::default()
        };
        let mut engine = Engine::new(config);
        let mut out = Vec::new();
        let flood_at = (start + 45) * MINUTE_MS;
        let mut flooded = false;
        for (i, (at, area, tension)) in stream.posts.iter().enumerate() {
            if *at >= flood_at && !flooded {
                flooded = true;
                assert!(
                    engine.firing().any(|e| e.area.id == "town"),
                    "town is under alert"
                );
                for n in 0..5_000 {
                    let id = format!("made-up-{n}");
                    engine.add(&bare_post("x", *at, &id, 0.1), &mut out);
                    assert!(engine.areas.len() <= 100);
                }
            }
            let id = i.to_string();
            engine.add(&bare_post(&id, *at, area, *tension), &mut out);
        }
        assert!(flooded);
        assert!(engine.counters().evicted >= 4_900);
        assert!(
            engine.areas.find("town").is_some(),
            "an area under alert is never forgotten"
        );
    }

    #[test]
    fn a_flood_of_made_up_area_ids_never_flushes_out_an_area_of_the_file() {
        let pinned: BTreeSet<String> = ["haren", "assen"].map(String::from).into();
        let config = EngineConfig {
            max_areas: 100,
            pinned_areas: Arc::new(pinned),
            ..EngineConfig::default()
        };
        let mut engine = Engine::new(config);
        let mut out = Vec::new();
        // The areas of the file had their posts first: the longest quiet of all.
        engine.add(&bare_post("h", 0, "haren", 0.1), &mut out);
        engine.add(&bare_post("a", 0, "assen", 0.1), &mut out);
        for n in 0..5_000 {
            let id = format!("made-up-{n}");
            engine.add(&bare_post(&id, MINUTE_MS, &id, 0.1), &mut out);
            assert!(engine.areas.len() <= 102, "{}", engine.areas.len());
        }
        assert!(engine.counters().evicted >= 4_800);
        assert!(engine.areas.find("haren").is_some());
        assert!(engine.areas.find("assen").is_some());
    }

    /// An engine given one post of `area` a minute, from minute 0 to `minutes`, and
    /// the events they raised.
    fn a_post_a_minute(area: &str, minutes: i64, tension: f32) -> (Engine, Vec<AlertEvent>) {
        let mut engine = Engine::new(EngineConfig::default());
        let mut out = Vec::new();
        for minute in 0..minutes {
            let id = minute.to_string();
            engine.add(&bare_post(&id, minute * MINUTE_MS, area, tension), &mut out);
        }
        (engine, out)
    }

    /// A post of `area` with only a tension: no text, no sentiment.
    fn bare_post<'a>(id: &'a str, at: i64, area: &'a str, tension: f32) -> ScoredPost<'a> {
        ScoredPost {
            id,
            text: "x",
            author: None,
            event_time_ms: at,
            area: Some((area, area)),
            located: Located::AreaField,
            tension,
            sentiment: 0.0,
            negative: false,
        }
    }

    fn fired(events: &[AlertEvent]) -> Vec<(String, String)> {
        events
            .iter()
            .filter(|e| e.status == AlertStatus::Firing)
            .map(|e| (e.area.id.clone(), e.rule.clone()))
            .collect()
    }

    /// `days` days of ordinary traffic from the start.
    fn quiet_days(stream: &mut Stream, days: i64) {
        quiet_days_after(stream, 0, days * DAY_MINUTES);
    }

    /// A stream of three ordinary days and `minutes` more of the fourth, and the
    /// fourth day's first minute, where each scenario puts its event.
    fn three_quiet_days_then(seed: u64, minutes: i64) -> (Stream, i64) {
        let mut stream = Stream::new(seed);
        quiet_days(&mut stream, 3);
        let start = 3 * DAY_MINUTES;
        quiet_days_after(&mut stream, start, start + minutes);
        (stream, start)
    }

    #[test]
    fn a_build_up_in_a_town_fires_warning_then_critical_and_resolves() {
        for seed in SEEDS {
            let (mut stream, start) = three_quiet_days_then(seed, 240);
            // Tension builds over an hour, then dies down.
            stream.area("town", start + 60, start + 80, 60.0, 0.3);
            stream.area("town", start + 80, start + 110, 150.0, 0.7);
            let events = stream.run();
            let town: Vec<&AlertEvent> = events.iter().filter(|e| e.area.id == "town").collect();
            let rules: Vec<(&str, &str)> = town
                .iter()
                .map(|e| (e.rule.as_str(), e.status.as_str()))
                .collect();
            assert!(rules.contains(&("tension_elevated", "firing")), "{rules:?}");
            assert!(rules.contains(&("tension_critical", "firing")), "{rules:?}");
            assert!(
                rules.contains(&("tension_elevated", "resolved")),
                "{rules:?}"
            );
            let warning = town
                .iter()
                .find(|e| e.rule == "tension_elevated")
                .expect("warning");
            let critical = town
                .iter()
                .find(|e| e.rule == "tension_critical")
                .expect("critical");
            assert!(warning.starts_at <= critical.starts_at);
            assert!(!warning.evidence.posts.is_empty());
            assert_eq!(
                warning.evidence.located.get("area").copied().map(|n| n > 0),
                Some(true)
            );
            let resolved = town
                .iter()
                .find(|e| e.rule == "tension_elevated" && e.status == AlertStatus::Resolved)
                .expect("resolved");
            assert_eq!(resolved.id, warning.id, "same id for the episode");
            assert!(resolved.ends_at.is_some());
            assert!(
                fired(&events).iter().all(|(area, _)| area == "town"),
                "{:?}",
                fired(&events)
            );
        }
    }

    /// Ordinary traffic in minutes `from..to` for a city, a town and a village.
    fn quiet_days_after(stream: &mut Stream, from: i64, to: i64) {
        stream
            .area("city", from, to, 300.0, 0.02)
            .area("town", from, to, 40.0, 0.02)
            .area("village", from, to, 3.0, 0.02);
    }

    #[test]
    fn a_handful_of_angry_posts_in_a_village_is_not_an_alert() {
        for seed in SEEDS {
            let (mut stream, start) = three_quiet_days_then(seed, 120);
            stream.area("village", start + 30, start + 40, 12.0, 1.0);
            let events = stream.run();
            assert!(fired(&events).is_empty(), "{:?}", fired(&events));
        }
    }

    /// The stream's posts with `extra` (event time, area, tension, author) among
    /// them in time order, through a fresh engine: one author's posts.
    fn run_with_authors(stream: &Stream, extra: &[(i64, &str, f32, &str)]) -> Vec<AlertEvent> {
        let pseudonymiser = crate::Pseudonymiser::new(&[3; 32]).expect("a long key");
        let mut posts: Vec<(i64, &str, f32, Option<Pseudonym>)> = stream
            .posts
            .iter()
            .map(|(at, area, tension)| (*at, area.as_str(), *tension, None))
            .chain(extra.iter().map(|&(at, area, tension, author)| {
                (at, area, tension, Some(pseudonymiser.pseudonym(author)))
            }))
            .collect();
        posts.sort_by_key(|post| post.0);
        let mut engine = Engine::new(EngineConfig::default());
        let mut out = Vec::new();
        for (i, (at, area, tension, author)) in posts.into_iter().enumerate() {
            let id = i.to_string();
            let post = ScoredPost {
                id: &id,
                text: "ik maak jullie allemaal af",
                author,
                event_time_ms: at,
                area: Some((area, area)),
                located: Located::AreaField,
                tension,
                sentiment: -0.5,
                negative: tension > 0.5,
            };
            engine.add(&post, &mut out);
        }
        engine.finish(&mut out);
        out
    }

    #[test]
    fn one_account_posting_over_and_over_cannot_warn_a_town() {
        for seed in SEEDS {
            let (stream, start) = three_quiet_days_then(seed, 240);
            // Forty furious posts in an hour, all from one account.
            let account: Vec<(i64, &str, f32, &str)> = (0..40)
                .map(|n| ((start + 60) * MINUTE_MS + n * 90_000, "town", 0.95, "angry"))
                .collect();
            let events = run_with_authors(&stream, &account);
            assert!(
                events.iter().all(|e| e.severity == Severity::Info),
                "{:?}",
                fired(&events)
            );
            // The same posts from forty people are an incident.
            let people: Vec<String> = (0..40).map(|n| format!("person-{n}")).collect();
            let crowd: Vec<(i64, &str, f32, &str)> = account
                .iter()
                .zip(&people)
                .map(|(&(at, area, tension, _), person)| (at, area, tension, person.as_str()))
                .collect();
            let events = run_with_authors(&stream, &crowd);
            assert!(
                fired(&events).contains(&("town".to_string(), "tension_elevated".to_string())),
                "{:?}",
                fired(&events)
            );
        }
    }

    #[test]
    fn a_slow_burn_over_a_day_warns_within_the_day() {
        for seed in SEEDS {
            let (mut stream, start) = three_quiet_days_then(seed, 0);
            // The town's tense share rises from 2% to 20% over a day, an hour at a
            // time; no fifteen minutes of it stand out.
            for hour in 0..24 {
                let share = 0.02 + 0.18 * f64::from(hour) / 23.0;
                let from = start + i64::from(hour) * 60;
                stream.area("town", from, from + 60, 40.0, share);
                stream.area("city", from, from + 60, 300.0, 0.02);
                stream.area("village", from, from + 60, 3.0, 0.02);
            }
            let events = stream.run();
            let warning = events
                .iter()
                .find(|e| e.area.id == "town" && e.severity >= Severity::Warning)
                .unwrap_or_else(|| panic!("seed {seed}: no warning in {:?}", fired(&events)));
            let accumulated = warning
                .observed
                .accumulated
                .as_ref()
                .expect("accumulated evidence");
            let fired_at =
                start + accumulated.horizon_minutes + (parse_minute(&accumulated.since) - start);
            // Within the day (12.5 to 17 hours over these seeds); the issue's goal,
            // 12 hours from the rise, is measured on the harness's slow burns.
            assert!(
                fired_at - start < 18 * 60,
                "seed {seed}: after {} min",
                fired_at - start
            );
            assert!(
                events
                    .iter()
                    .filter(|e| e.area.id != "town")
                    .all(|e| e.severity == Severity::Info),
                "{:?}",
                fired(&events)
            );
        }
    }

    /// The epoch minute of an RFC 3339 time.
    fn parse_minute(time: &str) -> i64 {
        DateTime::parse_from_rfc3339(time)
            .expect("an RFC 3339 time")
            .timestamp()
            .div_euclid(60)
    }

    #[test]
    fn volume_without_tension_is_at_most_info() {
        for seed in SEEDS {
            let (mut stream, start) = three_quiet_days_then(seed, 240);
            stream.area("city", start + 60, start + 150, 2_000.0, 0.02);
            let events = stream.run();
            let fired = fired(&events);
            assert!(
                fired.contains(&("city".to_string(), "volume_surge".to_string())),
                "{fired:?}"
            );
            assert!(
                events.iter().all(|e| e.severity == Severity::Info),
                "{fired:?}"
            );
        }
    }

    #[test]
    fn tension_everywhere_at_once_is_one_national_info() {
        for seed in SEEDS {
            let (mut stream, start) = three_quiet_days_then(seed, 240);
            for area in ["city", "town", "village", "a", "b", "c"] {
                stream.area(area, start + 60, start + 120, 60.0, 0.4);
            }
            stream
                .area("a", 0, start, 20.0, 0.02)
                .area("b", 0, start, 20.0, 0.02)
                .area("c", 0, start, 20.0, 0.02);
            let events = stream.run();
            let fired = fired(&events);
            assert!(
                events.iter().all(|e| e.severity == Severity::Info),
                "{fired:?}"
            );
            assert_eq!(
                fired
                    .iter()
                    .filter(|(_, rule)| rule == NATIONAL_RULE)
                    .count(),
                1,
                "{fired:?}"
            );
        }
    }

    #[test]
    fn visiting_only_the_areas_that_need_it_changes_nothing() {
        for seed in SEEDS {
            let (mut stream, start) = three_quiet_days_then(seed, 240);
            stream.area("town", start + 60, start + 80, 60.0, 0.3).area(
                "town",
                start + 80,
                start + 110,
                150.0,
                0.7,
            );
            for area in ["a", "b", "c", "d", "e", "f"] {
                stream.area(area, start + 100, start + 160, 60.0, 0.4);
            }
            for n in 0..40 {
                stream.area(&format!("hamlet-{n}"), 0, start + 240, 0.5, 0.3);
            }
            // Small towns, in and out of the watched set, some a little tense.
            for n in 0..12 {
                let tense = if n % 3 == 0 { 0.3 } else { 0.05 };
                stream.area(&format!("small-{n}"), 0, start + 240, 4.0, tense);
            }
            // Out of order within the allowed lateness, as posts arrive.
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut keyed: Vec<_> = std::mem::take(&mut stream.posts)
                .into_iter()
                .map(|post| (post.0 + rng.i64(0..180_000), post))
                .collect();
            keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1 .1.cmp(&b.1 .1)));
            stream.posts = keyed.into_iter().map(|(_, post)| post).collect();
            let mut everything = Engine::new(EngineConfig::default());
            everything.visit_all = true;
            // At the end every area wakes, so that both engines learn the hours
            // it slept through before their figures are compared.
            let end = stream.posts.iter().map(|p| p.0).max().unwrap_or(0) + 2 * 60 * MINUTE_MS;
            let areas: BTreeSet<String> = stream.posts.iter().map(|p| p.1.clone()).collect();
            stream
                .posts
                .extend(areas.into_iter().map(|area| (end, area, 0.1)));
            let reference = stream.run_to_the_end(everything, &[]);
            assert!(fired(&reference.0).len() >= 2, "{:?}", fired(&reference.0));
            assert!(reference.1.len() > 40, "every area's figures");
            let n = stream.posts.len();
            let restarts = [n / 4, n / 2, n - n / 20];
            let scheduled = stream.run_to_the_end(Engine::new(EngineConfig::default()), &restarts);
            assert_eq!(scheduled.0, reference.0, "the same alerts");
            assert_eq!(scheduled.1, reference.1, "the same windows and baselines");
        }
    }

    #[test]
    fn a_gap_in_the_stream_loses_no_post_of_the_hour_before_it() {
        let (mut engine, mut out) = a_post_a_minute("a", 10, 0.1);
        // Ten hours later: the minutes in between close before this post lands.
        engine.add(&bare_post("late", 600 * MINUTE_MS, "a", 0.1), &mut out);
        engine.finish(&mut out);
        let mut expected = Baseline::default();
        expected.learn_hour(0, 10, 0, false);
        for silent in 1..10 {
            expected.learn_hour(silent, 0, 0, false);
        }
        let area = engine.areas.get(0).expect("area a");
        assert_eq!(area.baseline, expected, "hour 0 learnt with its ten posts");
    }

    #[test]
    fn a_post_from_the_far_future_is_no_loop_over_the_minutes_between() {
        let (stream, _) = three_quiet_days_then(1, 60);
        let mut engine = Engine::new(EngineConfig::default());
        let mut out = Vec::new();
        for (i, (at, area, tension)) in stream.posts.iter().enumerate().take(2_000) {
            let id = i.to_string();
            engine.add(&bare_post(&id, *at, area, *tension), &mut out);
        }
        // A clock set 7,000 years ahead: 3.7 billion minutes, each closed, but
        // only the few with something to do evaluated.
        let far = 7_000 * 365 * 24 * 60 * MINUTE_MS;
        let before = engine.evaluated_minutes;
        engine.add(&bare_post("far", far, "town", 0.1), &mut out);
        engine.finish(&mut out);
        assert_eq!(engine.closed_minute(), Some(far / MINUTE_MS));
        let evaluated = engine.evaluated_minutes - before;
        assert!(
            evaluated < 500,
            "{evaluated} minutes evaluated: the idle ones must be skipped"
        );
        assert_eq!(engine.counters().aggregated, 2_001);
    }

    #[test]
    fn a_weekly_market_day_is_learnt_not_alerted() {
        // 40 posts an hour, 300 on Saturdays (the epoch was a Thursday: day 2).
        let saturday = |day: i64| (day + 3).rem_euclid(7) == 5;
        let mut stream = Stream::new(2);
        for day in 0..33 {
            let rate = if saturday(day) { 300.0 } else { 40.0 };
            stream.area(
                "market",
                day * DAY_MINUTES,
                (day + 1) * DAY_MINUTES,
                rate,
                0.01,
            );
        }
        let surge_days: Vec<i64> = stream
            .run()
            .iter()
            .filter(|e| e.status == AlertStatus::Firing && e.rule == "volume_surge")
            .filter_map(|e| DateTime::parse_from_rfc3339(&e.starts_at).ok())
            .map(|t| t.timestamp().div_euclid(86_400))
            .collect();
        assert!(
            surge_days.iter().any(|&day| day < 14 && saturday(day)),
            "before the weekday is known a Saturday is a surge: {surge_days:?}"
        );
        assert!(
            surge_days.iter().all(|&day| day < 21),
            "once seen on three weeks it is normal: {surge_days:?}"
        );
    }

    #[test]
    fn late_posts_are_counted_not_added() {
        let mut engine = Engine::new(EngineConfig::default());
        let mut out = Vec::new();
        let post = |at: i64| ScoredPost {
            id: "1",
            text: "x",
            author: None,
            event_time_ms: at,
            area: Some(("a", "A")),
            located: Located::AreaField,
            tension: 0.1,
            sentiment: 0.0,
            negative: false,
        };
        engine.add(&post(60 * MINUTE_MS), &mut out);
        engine.add(&post(58 * MINUTE_MS), &mut out);
        assert_eq!(engine.counters().late, 0, "within the allowed lateness");
        engine.add(&post(120 * MINUTE_MS), &mut out);
        engine.add(&post(61 * MINUTE_MS), &mut out);
        assert_eq!(engine.counters().late, 1);
        assert_eq!(engine.counters().aggregated, 3);
    }

    #[test]
    fn the_same_stream_gives_the_same_events() {
        let run = || {
            let mut stream = Stream::new(1);
            quiet_days(&mut stream, 2);
            stream.area("town", 2 * DAY_MINUTES, 2 * DAY_MINUTES + 60, 200.0, 0.7);
            serde_json::to_string(&stream.run()).expect("serialise")
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn one_author_fills_at_most_one_evidence_place() {
        let spammer = crate::Pseudonymiser::new(b"a test key, long enough")
            .expect("key long enough")
            .pseudonym("spammer");
        let mut kept = Vec::new();
        for i in 0..50u8 {
            let id = format!("spam-{i}");
            let post = ScoredPost {
                author: Some(spammer),
                tension: 0.9 + f32::from(i % 5) / 100.0,
                ..bare_post(&id, 0, "town", 0.0)
            };
            keep_evidence(&mut kept, &post, 10, 20);
        }
        let other = bare_post("other", 0, "town", 0.8);
        keep_evidence(&mut kept, &other, 11, 20);
        let ids: Vec<&str> = kept.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(
            ids,
            ["spam-4", "other"],
            "the spammer's most tense post, then the rest"
        );
    }

    #[test]
    fn terms_are_ranked_by_lift_not_frequency() {
        let tense = [
            "rellen bij het station vanavond",
            "rellen bij het plein vanavond",
            "vanavond weer rellen",
        ];
        let others = [
            "vanavond lekker eten",
            "vanavond naar de film",
            "mooie avond vanavond",
            "vanavond thuis",
        ];
        let terms = distinguishing_terms(tense.into_iter(), others.into_iter());
        assert_eq!(
            terms.first().map(String::as_str),
            Some("rellen"),
            "{terms:?}"
        );
        let vanavond = terms.iter().position(|t| t == "vanavond");
        assert!(vanavond.is_none_or(|p| p > 0), "{terms:?}");
    }

    #[test]
    fn upper_quartile_leaves_the_area_itself_out() {
        let sorted = [0.01, 0.02, 0.03, 0.04, 0.5];
        assert_eq!(upper_quartile_without(&sorted, Some(0.5)), 0.04);
        assert_eq!(upper_quartile_without(&sorted, None), 0.04);
        assert_eq!(upper_quartile_without(&[0.3], Some(0.3)), 0.0);
        assert_eq!(upper_quartile_without(&[], None), 0.0);
    }

    #[test]
    fn alert_ids_are_stable_and_distinct() {
        assert_eq!(alert_id("a", "r", 5), alert_id("a", "r", 5));
        assert_ne!(alert_id("a", "r", 5), alert_id("a", "r", 6));
        assert_ne!(alert_id("a", "r", 5), alert_id("b", "r", 5));
        assert_eq!(window_name(15), "15m");
        assert_eq!(window_name(60), "1h");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
