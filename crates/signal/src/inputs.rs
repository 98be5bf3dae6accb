//! The engine fed from several ordered inputs (the partitions of a Kafka topic):
//! the [`Watermarks`] over them decide which minutes the engine may close, and a
//! post too far ahead of the others for the engine's windows is held back until
//! the watermark comes nearer (alignment pauses its partition meanwhile, so few
//! are). Until every input has shown a post (or gone idle) there is no watermark
//! and every post is held: the first post of an input not heard yet may be older
//! than all seen so far. With one input this is exactly [`Engine::add`].

use serde::{Deserialize, Serialize};

use crate::engine::{Added, AlertEvent, Engine, OwnedPost, ScoredPost};
use crate::watermark::{Alignment, PartitionId, SavedWatermarks, Watermarks};

/// What a checkpoint keeps of the inputs, beside the engine's own state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedInputs {
    /// The event time and late posts of each partition.
    pub partitions: SavedWatermarks,
    /// Posts held back, with their partition, in the order they came.
    #[serde(default)]
    pub held: Vec<(PartitionId, OwnedPost)>,
}

/// The inputs of one engine: their watermarks and the posts held back.
#[derive(Debug, Clone)]
pub struct Inputs {
    watermarks: Watermarks,
    held: Vec<(PartitionId, OwnedPost)>,
}

impl Inputs {
    /// Inputs tracked by `watermarks`, nothing held.
    pub fn new(watermarks: Watermarks) -> Inputs {
        Inputs {
            watermarks,
            held: Vec::new(),
        }
    }

    /// These inputs with the state of a checkpoint.
    pub fn restored(watermarks: Watermarks, saved: SavedInputs) -> Inputs {
        Inputs {
            watermarks: watermarks.restored(saved.partitions),
            held: saved.held,
        }
    }

    /// The state to checkpoint.
    pub fn saved(&self) -> SavedInputs {
        SavedInputs {
            partitions: self.watermarks.saved(),
            held: self.held.clone(),
        }
    }

    /// The watermarks.
    pub fn watermarks(&self) -> &Watermarks {
        &self.watermarks
    }

    /// Posts held back now.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// `partition` is read from now on (`now_ms`, wall clock).
    pub fn assign(&mut self, partition: PartitionId, now_ms: i64) {
        self.watermarks.assign(partition, now_ms);
    }

    /// `partition` is no longer read here: the watermark may move on.
    pub fn revoke(
        &mut self,
        engine: &mut Engine,
        partition: PartitionId,
        out: &mut Vec<AlertEvent>,
    ) {
        self.watermarks.revoke(partition);
        self.release(engine, out);
    }

    /// A message of `partition` came at `now_ms` without a post to add (rejected,
    /// or already counted): the partition is not idle.
    pub fn heard(&mut self, partition: PartitionId, now_ms: i64) {
        self.watermarks.heard(partition, now_ms);
    }

    /// Adds a post of `partition` that came at `now_ms` (wall clock), or holds it
    /// back when it lies too far ahead; alert events go to `out`.
    pub fn add(
        &mut self,
        engine: &mut Engine,
        partition: PartitionId,
        post: &ScoredPost<'_>,
        now_ms: i64,
        out: &mut Vec<AlertEvent>,
    ) -> Added {
        let watermark = self
            .watermarks
            .observe(partition, post.event_time_ms, now_ms);
        // The posts held back go first: the watermark this post moved may close
        // minutes that some of them belong to.
        self.release(engine, out);
        if engine.is_too_far_ahead(post.event_time_ms, watermark) {
            self.held.push((partition, OwnedPost::of(post)));
            Added::Counted
        } else {
            self.add_now(engine, partition, post, watermark, out)
        }
    }

    /// Marks partitions silent since the idle time idle; alert events of the
    /// minutes that closes go to `out`.
    pub fn tick(&mut self, engine: &mut Engine, now_ms: i64, out: &mut Vec<AlertEvent>) {
        if self.watermarks.tick(now_ms).is_some() {
            self.release(engine, out);
        }
    }

    /// The partitions to pause and resume (see [`Watermarks::align`]).
    pub fn align(&mut self, now_ms: i64) -> Alignment {
        self.watermarks.align(now_ms)
    }

    /// The end of the input (a replay's): every held post added, in order.
    pub fn finish(&mut self, engine: &mut Engine, out: &mut Vec<AlertEvent>) {
        for (partition, post) in std::mem::take(&mut self.held) {
            if engine.add(&post.scored(), out) == Added::Late {
                self.watermarks.count_late(partition);
            }
        }
    }

    fn add_now(
        &mut self,
        engine: &mut Engine,
        partition: PartitionId,
        post: &ScoredPost<'_>,
        watermark: Option<i64>,
        out: &mut Vec<AlertEvent>,
    ) -> Added {
        let added = engine.add_at(post, watermark, out);
        if added == Added::Late {
            self.watermarks.count_late(partition);
        }
        added
    }

    /// Adds the held posts the watermark has come near enough to, oldest first,
    /// then closes the minutes the watermark allows. Held posts may lie behind the
    /// watermark (they were held while an input had shown nothing): each is added
    /// before anything it belongs to closes, and in event-time order each closes no
    /// more than it would in a stream read in order.
    fn release(&mut self, engine: &mut Engine, out: &mut Vec<AlertEvent>) {
        let watermark = self.watermarks.watermark_ms();
        if !self.held.is_empty() {
            let (mut ready, still_held): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
                .into_iter()
                .partition(|(_, post)| !engine.is_too_far_ahead(post.event_time_ms, watermark));
            self.held = still_held;
            ready.sort_by_key(|(_, post)| post.event_time_ms);
            for (partition, post) in ready {
                self.add_now(engine, partition, &post.scored(), None, out);
            }
        }
        if let Some(watermark) = watermark {
            engine.advance_to(watermark, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use crate::Located;

    const MINUTE_MS: i64 = 60_000;

    fn post(id: &str, at_ms: i64) -> ScoredPost<'_> {
        ScoredPost {
            id,
            text: "mooi weer",
            author: None,
            event_time_ms: at_ms,
            area: Some(("GM0014", "Groningen")),
            located: Located::AreaField,
            tension: 0.1,
            sentiment: 0.3,
            negative: false,
        }
    }

    /// An engine with five minutes' lateness and ten of skew, fed by partitions 0
    /// and 1.
    fn two_partitions() -> (Engine, Inputs) {
        let skew = 10 * MINUTE_MS;
        let engine = Engine::new(EngineConfig {
            allowed_lateness_ms: 5 * MINUTE_MS,
            partition_skew_ms: skew,
            ..EngineConfig::default()
        });
        let mut inputs = Inputs::new(Watermarks::new(30_000, skew));
        inputs.assign(0, 0);
        inputs.assign(1, 0);
        (engine, inputs)
    }

    #[test]
    fn a_post_far_ahead_waits_for_the_slow_partition_and_nothing_is_late() {
        let (mut engine, mut inputs) = two_partitions();
        let mut out = Vec::new();
        inputs.add(&mut engine, 0, &post("a", 0), 0, &mut out);
        inputs.add(&mut engine, 1, &post("b", MINUTE_MS), 0, &mut out);
        // A sparse partition's next post, two hours on.
        inputs.add(&mut engine, 1, &post("c", 120 * MINUTE_MS), 0, &mut out);
        assert_eq!(inputs.held(), 1);
        assert_eq!(inputs.align(0).pause, vec![1]);
        // The slow partition goes on through the hours between.
        for minute in 2..130 {
            let id = format!("s{minute}");
            let added = inputs.add(&mut engine, 0, &post(&id, minute * MINUTE_MS), 0, &mut out);
            assert_eq!(added, Added::Counted, "minute {minute}");
        }
        assert_eq!(inputs.held(), 0, "added once the watermark came near");
        assert_eq!(engine.counters().late, 0);
        assert_eq!(engine.counters().aggregated, 131);
        // Saved and restored, nothing is lost.
        let saved = inputs.saved();
        assert_eq!(saved.partitions.newest_ms[&1], 120 * MINUTE_MS);
    }

    #[test]
    fn a_partition_first_heard_late_with_older_posts_loses_none() {
        // A backlog's first fetches: partition 0 runs twenty minutes on before
        // partition 1 shows its first post, which is older than all of them.
        let (mut engine, mut inputs) = two_partitions();
        let mut out = Vec::new();
        for minute in 10..30 {
            let id = format!("a{minute}");
            inputs.add(&mut engine, 0, &post(&id, minute * MINUTE_MS), 0, &mut out);
        }
        assert_eq!(
            engine.closed_minute(),
            None,
            "nothing closes before a watermark"
        );
        assert_eq!(inputs.held(), 20);
        for minute in 0..12 {
            let id = format!("b{minute}");
            inputs.add(&mut engine, 1, &post(&id, minute * MINUTE_MS), 0, &mut out);
        }
        assert_eq!(engine.counters().late, 0);
        assert!(
            engine.closed_minute().is_some(),
            "the watermark closes minutes"
        );
        inputs.finish(&mut engine, &mut out);
        assert_eq!(engine.counters().aggregated, 32);
        assert_eq!(engine.counters().late, 0);
    }

    #[test]
    fn held_posts_survive_a_checkpoint() {
        let skew = 10 * MINUTE_MS;
        let config = EngineConfig {
            partition_skew_ms: skew,
            ..EngineConfig::default()
        };
        let mut engine = Engine::new(config.clone());
        let mut inputs = Inputs::new(Watermarks::new(30_000, skew));
        let mut out = Vec::new();
        inputs.add(&mut engine, 0, &post("a", 0), 0, &mut out);
        inputs.add(&mut engine, 1, &post("b", 0), 0, &mut out);
        inputs.add(&mut engine, 1, &post("far", 90 * MINUTE_MS), 0, &mut out);
        let mut engine = Engine::restore(config, &engine.save()).expect("restore");
        let mut inputs = Inputs::restored(Watermarks::new(30_000, skew), inputs.saved());
        assert_eq!(inputs.held(), 1);
        inputs.finish(&mut engine, &mut out);
        assert_eq!(engine.counters().aggregated, 3);
    }
}
