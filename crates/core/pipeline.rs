//! The one pipeline of `replay` and `run`: a message's bytes in, decoded, scored,
//! located, aggregated; alert events out. `replay` feeds it lines of a file, `run`
//! feeds it Kafka messages; nothing else differs.

use anyhow::Result;
use onrust_model::{Scorer, Sentiment};
use onrust_signal::areas::Located;
use onrust_signal::dedup::{fingerprint, SeenChanges, SeenIds};
use onrust_signal::engine::{AlertEvent, Engine, EngineConfig, ScoredPost};
use onrust_signal::inputs::{Inputs, SavedInputs};
use onrust_signal::post::is_future;
use onrust_signal::watermark::{Alignment, PartitionId, Watermarks};
use onrust_signal::{decode, Areas, Limits, Post, Pseudonymiser, Rejection};
use onrust_text::Lang;

use crate::settings::{Settings, UnknownAreas};
use crate::{models, UsageError};

/// What became of an accepted post, for metrics.
#[derive(Debug, Clone, Copy)]
pub struct Accepted {
    /// Its language (the hint, else the detected one, else undetermined).
    pub lang: Lang,
    /// How it was located.
    pub located: Located,
    /// Its event time, epoch ms.
    pub event_time_ms: i64,
}

/// What became of a post that was not rejected.
#[derive(Debug, Clone, Copy)]
pub enum Fate {
    /// Scored and aggregated.
    Accepted(Accepted),
    /// Its id (per source) was seen before: counted once already.
    Duplicate,
}

/// Models, areas, the engine, the watermarks of its input partitions and the
/// input limits, wired together.
pub struct Pipeline {
    scorer: Scorer,
    areas: Areas,
    geometry: Option<String>,
    engine_config: EngineConfig,
    engine: Engine,
    /// Event time per input partition (the engine's watermark is their minimum)
    /// and the posts held back for lying too far ahead. A file is one partition,
    /// whose watermark is its newest post.
    inputs: Inputs,
    /// The posts seen lately, by (source, id): a post sent again counts once.
    seen: SeenIds,
    limits: Limits,
    pseudonymiser: Pseudonymiser,
    /// What a post's `area` not in the areas file comes to.
    unknown_areas: UnknownAreas,
}

impl Pipeline {
    /// The pipeline the configuration describes, with an engine that has no state;
    /// authors are pseudonymised with `pseudonymiser` before anything keeps them.
    pub fn new(settings: &Settings, pseudonymiser: Pseudonymiser) -> Result<Pipeline> {
        let geometry = match &settings.areas.file {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| UsageError(format!("areas.file {}: {e}", path.display())))?;
                Some((format!("areas.file {}", path.display()), text))
            }
        };
        Pipeline::with_areas(settings, geometry, pseudonymiser)
    }

    /// As [`Pipeline::new`], with the areas given as (a name for errors, GeoJSON
    /// text); `None`: no areas.
    pub fn with_areas(
        settings: &Settings,
        areas: Option<(String, String)>,
        pseudonymiser: Pseudonymiser,
    ) -> Result<Pipeline> {
        let scorer = models::scorer(settings.model.dir.as_deref(), "model.dir")?;
        let (areas, geometry) = match areas {
            None => (Areas::empty(), None),
            Some((name, text)) => (
                Areas::from_geojson(&text).map_err(|e| UsageError(format!("{name}: {e}")))?,
                Some(text),
            ),
        };
        let mut engine_config = settings.engine();
        // The areas of the file keep their state (their baselines) whatever
        // made-up ids come: only those share `signal.max_areas`.
        engine_config.pinned_areas =
            std::sync::Arc::new(areas.iter().map(|area| area.id.clone()).collect());
        Ok(Pipeline {
            unknown_areas: settings.signal.unknown_areas,
            scorer,
            areas,
            geometry,
            engine: Engine::new(engine_config.clone()),
            seen: seen_ids(settings, &engine_config, std::iter::empty()),
            engine_config,
            inputs: Inputs::new(watermarks(settings)),
            limits: settings.limits(),
            pseudonymiser,
        })
    }

    /// This pipeline, for inputs of several partitions (Kafka): a partition may run
    /// `kafka.max_partition_skew_minutes` ahead of the slowest, and the engine keeps
    /// that much more of each area's buckets. Before any post or restore.
    pub fn across_partitions(mut self, settings: &Settings) -> Pipeline {
        self.engine_config.partition_skew_ms = settings.kafka.max_partition_skew_ms();
        self.engine = Engine::new(self.engine_config.clone());
        self.seen = seen_ids(settings, &self.engine_config, std::iter::empty());
        self
    }

    /// The areas file's text (GeoJSON), for maps; `None` without an areas file.
    pub fn geometry(&self) -> Option<&str> {
        self.geometry.as_deref()
    }

    /// Replaces the engine with one restored from a checkpoint, and the inputs'
    /// state and the posts seen with the checkpoint's.
    pub fn restore(
        &mut self,
        settings: &Settings,
        saved: &[u8],
        inputs: SavedInputs,
        seen: impl IntoIterator<Item = (i64, u64)>,
    ) -> Result<()> {
        self.engine = Engine::restore(self.engine_config.clone(), saved)?;
        self.inputs = Inputs::restored(watermarks(settings), inputs);
        self.seen = seen_ids(settings, &self.engine_config, seen);
        Ok(())
    }

    /// The posts remembered or forgotten since [`Pipeline::seen_saved`], for a
    /// checkpoint.
    pub fn seen_changes(&self) -> &SeenChanges {
        self.seen.changes()
    }

    /// The changes of the posts seen are in a checkpoint.
    pub fn seen_saved(&mut self) {
        self.seen.saved();
    }

    /// The engine, to read its figures or save it.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The inputs' state, for a checkpoint.
    pub fn saved_inputs(&self) -> SavedInputs {
        self.inputs.saved()
    }

    /// The event time of each input partition, and the watermark over them.
    pub fn watermarks(&self) -> &Watermarks {
        self.inputs.watermarks()
    }

    /// Posts held back for lying too far ahead of the watermark.
    pub fn held_posts(&self) -> usize {
        self.inputs.held()
    }

    /// The areas file's areas.
    pub fn areas(&self) -> &Areas {
        &self.areas
    }

    /// `partition` is read from now on (`now_ms`, wall clock).
    pub fn assign(&mut self, partition: PartitionId, now_ms: i64) {
        self.inputs.assign(partition, now_ms);
    }

    /// `partition` is no longer read here; alert events of the minutes that
    /// closes go to `events`.
    pub fn revoke(&mut self, partition: PartitionId, events: &mut Vec<AlertEvent>) {
        self.inputs.revoke(&mut self.engine, partition, events);
    }

    /// A message of `partition` was read but not processed (already counted):
    /// the partition is not idle.
    pub fn heard(&mut self, partition: PartitionId, now_ms: i64) {
        self.inputs.heard(partition, now_ms);
    }

    /// Marks partitions silent for `kafka.idle_partition_seconds` idle; alert
    /// events of the minutes that closes go to `events`.
    pub fn tick(&mut self, now_ms: i64, events: &mut Vec<AlertEvent>) {
        self.inputs.tick(&mut self.engine, now_ms, events);
    }

    /// The partitions to pause and resume, so that none runs further ahead of the
    /// slowest than the allowed skew.
    pub fn align(&mut self, now_ms: i64) -> Alignment {
        self.inputs.align(now_ms)
    }

    /// Decodes, scores, locates and aggregates one message of input `partition`
    /// as the daemon reads it, at `arrival_ms` (wall clock, which also tells idle
    /// partitions). A post without `created_at` takes `message_time_ms`, else
    /// `arrival_ms`; a post dated more than `signal.max_future_minutes` after
    /// either is rejected. Alert events of the minutes it closes are appended to
    /// `events`.
    pub fn process(
        &mut self,
        partition: PartitionId,
        message: &[u8],
        message_time_ms: Option<i64>,
        arrival_ms: i64,
        events: &mut Vec<AlertEvent>,
    ) -> Result<Fate, Rejection> {
        let decoded = self
            .decode(message, message_time_ms, arrival_ms)
            .and_then(|post| {
                if is_future(
                    post.event_time_ms,
                    message_time_ms,
                    arrival_ms,
                    self.limits.max_future_ms,
                ) {
                    Err(Rejection::FutureCreatedAt)
                } else {
                    Ok(post)
                }
            });
        match decoded {
            Ok(post) => Ok(self.accept(partition, &post, arrival_ms, events)),
            Err(rejection) => {
                self.inputs.heard(partition, arrival_ms);
                Err(rejection)
            }
        }
    }

    /// Decodes one message under the input limits; a post without `created_at`
    /// takes `message_time_ms`, else `fallback_ms`.
    pub fn decode(
        &self,
        message: &[u8],
        message_time_ms: Option<i64>,
        fallback_ms: i64,
    ) -> Result<Post, Rejection> {
        decode(message, &self.limits, message_time_ms, fallback_ms)
    }

    /// Whether a post of a file, dated `event_time_ms`, lies in the future of the
    /// posts after it (their event times, `following`) or, at the end, of the
    /// newest post before it, beyond `signal.max_future_minutes`.
    pub fn is_ahead_of_file(
        &self,
        event_time_ms: i64,
        following: &[i64],
        newest_ms: Option<i64>,
    ) -> bool {
        onrust_signal::post::is_ahead_of_file(
            event_time_ms,
            following,
            newest_ms,
            self.limits.max_future_ms,
        )
    }

    /// Scores, locates and aggregates a decoded post of input `partition`, read at
    /// `arrival_ms`, unless its id was seen before; alert events of the minutes it
    /// closes go to `events`.
    pub fn accept(
        &mut self,
        partition: PartitionId,
        post: &Post,
        arrival_ms: i64,
        events: &mut Vec<AlertEvent>,
    ) -> Fate {
        let id = fingerprint(post.source.as_deref(), &post.id);
        if self.seen.seen_before(
            id,
            post.event_time_ms,
            self.inputs.watermarks().watermark_ms(),
        ) {
            self.inputs.heard(partition, arrival_ms);
            return Fate::Duplicate;
        }
        let score = self.scorer.score(&post.text, post.lang);
        let (mut area, mut located) = self.areas.locate(post);
        if self.unknown_areas == UnknownAreas::Unresolved
            && located == Located::AreaField
            && area.is_some_and(|(id, _)| self.areas.get(id).is_none())
        {
            (area, located) = (None, Located::Unresolved);
        }
        let scored = ScoredPost {
            id: &post.id,
            text: &post.text,
            author: post
                .author
                .as_deref()
                .map(|a| self.pseudonymiser.pseudonym(a)),
            event_time_ms: post.event_time_ms,
            area,
            located,
            tension: score.tension,
            sentiment: score.sentiment,
            negative: score.label == Sentiment::Neg,
        };
        self.inputs
            .add(&mut self.engine, partition, &scored, arrival_ms, events);
        Fate::Accepted(Accepted {
            lang: score.lang,
            located,
            event_time_ms: post.event_time_ms,
        })
    }

    /// Closes every minute up to the newest post (end of a replay).
    pub fn finish(&mut self, events: &mut Vec<AlertEvent>) {
        self.inputs.finish(&mut self.engine, events);
        self.engine.finish(events);
    }
}

/// The posts seen, remembered for the allowed lateness, the skew between
/// partitions and the longest window behind the watermark.
fn seen_ids(
    settings: &Settings,
    engine: &EngineConfig,
    saved: impl IntoIterator<Item = (i64, u64)>,
) -> SeenIds {
    let longest_window = engine.windows.iter().copied().max().unwrap_or(60);
    let horizon_ms =
        engine.allowed_lateness_ms + engine.partition_skew_ms + i64::from(longest_window) * 60_000;
    SeenIds::restored(
        horizon_ms.div_euclid(60_000) + 1,
        settings.signal.max_seen_ids,
        saved,
    )
}

/// Watermarks with the configured idle time and skew.
fn watermarks(settings: &Settings) -> Watermarks {
    Watermarks::new(
        settings.kafka.idle_partition_ms(),
        settings.kafka.max_partition_skew_ms(),
    )
}
