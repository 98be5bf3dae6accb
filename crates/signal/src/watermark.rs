//! Event time over several ordered inputs (the partitions of a Kafka topic).
//!
//! Posts are in order within a partition only. The engine may close a minute once
//! every partition that still has something to say has passed it: the watermark is
//! the lowest newest event time over the partitions, not the newest over all of
//! them. Otherwise whichever partition the consumer happens to serve later would
//! have its posts judged late.
//!
//! - A partition that was just assigned and has shown no post yet holds the
//!   watermark where it is (a backlog's first fetch may come from any partition).
//! - A partition with nothing to read for the idle time (wall clock, passed in)
//!   stops holding the others back, and rejoins with its next post.
//! - When every partition is idle, the watermark is the newest event time of any:
//!   with one partition, exactly the engine's own newest post, as in `replay`.
//! - The watermark never goes back.
//!
//! Alignment: a partition more than the allowed skew ahead of the slowest active
//! one should be paused by the caller until the others catch up, so that a backlog
//! on any number of partitions is read nearly in event-time order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A partition's number.
pub type PartitionId = i32;

/// What is known of one partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Partition {
    /// The newest event time of its posts (epoch ms), `None` before its first.
    newest_ms: Option<i64>,
    /// When a message last came from it, or it was assigned (wall clock, epoch ms).
    heard_ms: i64,
    /// Nothing came from it for the idle time: it does not hold the others back.
    idle: bool,
    /// Paused by alignment: it is not idle, whatever the clock says.
    paused: bool,
}

/// Event time per partition, and the watermark over them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Watermarks {
    partitions: BTreeMap<PartitionId, Partition>,
    /// The watermark reached (epoch ms), if any.
    reached_ms: Option<i64>,
    /// A partition silent this long (wall clock) is idle.
    idle_after_ms: i64,
    /// A partition this far (event time) ahead of the slowest active one is paused.
    max_skew_ms: i64,
    /// Event times of partitions not read now, from a checkpoint or from before a
    /// rebalance took them away: where they start if they are assigned again.
    known: BTreeMap<PartitionId, i64>,
    /// Posts of each partition that came after their minute closed, ever (kept
    /// across restarts by the checkpoint).
    late: BTreeMap<PartitionId, u64>,
    /// The oldest event time seen since this process started: while a partition
    /// has shown nothing, the others may not run further ahead of it than the skew.
    oldest_seen_ms: Option<i64>,
}

/// What alignment asks of the source.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Alignment {
    /// Partitions to pause: too far ahead of the slowest.
    pub pause: Vec<PartitionId>,
    /// Partitions to resume: the others have caught up.
    pub resume: Vec<PartitionId>,
}

impl Alignment {
    /// Nothing to pause or resume.
    pub fn is_empty(&self) -> bool {
        self.pause.is_empty() && self.resume.is_empty()
    }
}

/// What a checkpoint keeps of the partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedWatermarks {
    /// Partition → its newest event time (epoch ms).
    pub newest_ms: BTreeMap<PartitionId, i64>,
    /// Partition → its late posts so far.
    #[serde(default)]
    pub late: BTreeMap<PartitionId, u64>,
}

impl Watermarks {
    /// No partitions yet; `idle_after_ms` of silence makes a partition idle, and a
    /// partition `max_skew_ms` ahead of the slowest active one is to be paused.
    pub fn new(idle_after_ms: i64, max_skew_ms: i64) -> Watermarks {
        Watermarks {
            partitions: BTreeMap::new(),
            reached_ms: None,
            idle_after_ms: idle_after_ms.max(0),
            max_skew_ms: max_skew_ms.max(0),
            known: BTreeMap::new(),
            late: BTreeMap::new(),
            oldest_seen_ms: None,
        }
    }

    /// These watermarks with the partitions' event times of a checkpoint: a
    /// partition assigned later starts from its saved time.
    pub fn restored(mut self, saved: SavedWatermarks) -> Watermarks {
        self.known = saved.newest_ms;
        self.late = saved.late;
        self
    }

    /// A post of `partition` came after its minute closed.
    pub fn count_late(&mut self, partition: PartitionId) {
        *self.late.entry(partition).or_default() += 1;
    }

    /// Late posts per partition so far.
    pub fn late(&self) -> &BTreeMap<PartitionId, u64> {
        &self.late
    }

    /// The watermark: the event time every partition with something to read has
    /// reached (epoch ms), `None` before there is one.
    pub fn watermark_ms(&self) -> Option<i64> {
        self.reached_ms
    }

    /// Each partition's newest event time, for checkpoints: those read now and
    /// those known from before.
    pub fn saved(&self) -> SavedWatermarks {
        let mut newest_ms = self.known.clone();
        newest_ms.extend(
            self.partitions
                .iter()
                .filter_map(|(&id, p)| p.newest_ms.map(|newest| (id, newest))),
        );
        SavedWatermarks {
            newest_ms,
            late: self.late.clone(),
        }
    }

    /// Partitions held (assigned or with posts).
    pub fn partitions(&self) -> impl Iterator<Item = PartitionId> + '_ {
        self.partitions.keys().copied()
    }

    /// The newest event time of `partition`, if it has shown a post.
    pub fn newest_ms(&self, partition: PartitionId) -> Option<i64> {
        self.partitions.get(&partition).and_then(|p| p.newest_ms)
    }

    /// Whether `partition` is idle.
    #[cfg(test)]
    fn is_idle(&self, partition: PartitionId) -> bool {
        self.partitions.get(&partition).is_some_and(|p| p.idle)
    }

    /// How many partitions alignment holds paused.
    pub fn paused(&self) -> usize {
        self.partitions.values().filter(|p| p.paused).count()
    }

    /// `partition` is read from now on (`now_ms`, wall clock). With an event time
    /// known for it (a checkpoint, an earlier assignment) it takes part at once;
    /// without, it holds the watermark until its first post or until it is idle.
    pub fn assign(&mut self, partition: PartitionId, now_ms: i64) {
        let saved_ms = self.known.remove(&partition);
        let entry = self.partitions.entry(partition).or_insert(Partition {
            newest_ms: None,
            heard_ms: now_ms,
            idle: false,
            paused: false,
        });
        entry.heard_ms = now_ms;
        entry.idle = false;
        entry.paused = false;
        if let Some(saved) = saved_ms {
            entry.newest_ms = Some(entry.newest_ms.map_or(saved, |n| n.max(saved)));
        }
    }

    /// `partition` is no longer read here: it leaves the minimum (its event time
    /// is kept, should it come back).
    pub fn revoke(&mut self, partition: PartitionId) {
        if let Some(newest) = self.partitions.remove(&partition).and_then(|p| p.newest_ms) {
            self.known.insert(partition, newest);
        }
        self.advance();
    }

    /// A message came from `partition` at `now_ms` (wall clock), whether or not it
    /// held a post: the partition is not idle.
    pub fn heard(&mut self, partition: PartitionId, now_ms: i64) {
        let entry = self.entry(partition, now_ms);
        entry.heard_ms = now_ms;
        entry.idle = false;
    }

    /// A post of event time `event_time_ms` came from `partition` at `now_ms`
    /// (wall clock); returns the watermark (`None` while a partition that has
    /// shown nothing yet holds it).
    pub fn observe(
        &mut self,
        partition: PartitionId,
        event_time_ms: i64,
        now_ms: i64,
    ) -> Option<i64> {
        let entry = self.entry(partition, now_ms);
        entry.heard_ms = now_ms;
        entry.idle = false;
        entry.newest_ms = Some(
            entry
                .newest_ms
                .map_or(event_time_ms, |n| n.max(event_time_ms)),
        );
        self.oldest_seen_ms = Some(
            self.oldest_seen_ms
                .map_or(event_time_ms, |o| o.min(event_time_ms)),
        );
        self.advance();
        self.reached_ms
    }

    /// Marks the partitions silent since `idle_after_ms` before `now_ms` idle
    /// (paused ones excepted); returns the watermark when that moved it on.
    pub fn tick(&mut self, now_ms: i64) -> Option<i64> {
        let mut changed = false;
        for partition in self.partitions.values_mut() {
            let silent = now_ms.saturating_sub(partition.heard_ms) >= self.idle_after_ms;
            if !partition.idle && !partition.paused && silent {
                partition.idle = true;
                changed = true;
            }
        }
        let before = self.reached_ms;
        if changed {
            self.advance();
        }
        self.reached_ms.filter(|&now| before != Some(now))
    }

    /// Which partitions to pause (more than the allowed skew ahead of the slowest
    /// active partition) and to resume (within half the skew again). While a partition has shown
    /// nothing (a backlog's first fetches), the others are held within the skew of
    /// the watermark, or of the oldest post seen before there is one. The caller
    /// pauses and resumes them at its source; they are recorded as such here.
    pub fn align(&mut self, now_ms: i64) -> Alignment {
        let waiting = self
            .partitions
            .values()
            .any(|p| !p.idle && p.newest_ms.is_none());
        let slowest = if waiting {
            self.reached_ms.or(self.oldest_seen_ms)
        } else {
            self.slowest_active_ms()
        };
        let mut alignment = Alignment::default();
        for (&id, partition) in &mut self.partitions {
            let lead = match (slowest, partition.newest_ms) {
                (Some(slowest), Some(newest)) => newest.saturating_sub(slowest),
                _ => 0,
            };
            // Paused beyond the skew, resumed once within half of it: each pause
            // costs the source a fetch again, so it should buy a stretch of work.
            if !partition.paused && lead > self.max_skew_ms {
                partition.paused = true;
                alignment.pause.push(id);
            } else if partition.paused && lead <= self.max_skew_ms / 2 {
                partition.paused = false;
                // The idle clock starts again from here.
                partition.heard_ms = now_ms;
                alignment.resume.push(id);
            }
        }
        alignment
    }

    /// The lowest event time over the partitions that hold the watermark: not
    /// idle, with posts.
    fn slowest_active_ms(&self) -> Option<i64> {
        self.partitions
            .values()
            .filter(|p| !p.idle)
            .filter_map(|p| p.newest_ms)
            .min()
    }

    /// Moves the watermark to what the partitions now allow; never back.
    fn advance(&mut self) {
        let active = self.partitions.values().filter(|p| !p.idle);
        let candidate = if active.clone().next().is_some() {
            // A partition without posts yet holds the watermark where it is.
            if active.clone().any(|p| p.newest_ms.is_none()) {
                None
            } else {
                active.filter_map(|p| p.newest_ms).min()
            }
        } else {
            self.partitions.values().filter_map(|p| p.newest_ms).max()
        };
        if let Some(candidate) = candidate {
            self.reached_ms = Some(self.reached_ms.map_or(candidate, |r| r.max(candidate)));
        }
    }

    fn entry(&mut self, partition: PartitionId, now_ms: i64) -> &mut Partition {
        self.partitions.entry(partition).or_insert(Partition {
            newest_ms: None,
            heard_ms: now_ms,
            idle: false,
            paused: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: i64 = 30_000;
    const SKEW: i64 = 600_000;

    #[test]
    fn one_partition_follows_its_newest_post() {
        let mut marks = Watermarks::new(IDLE, SKEW);
        assert_eq!(marks.observe(0, 1_000, 0), Some(1_000));
        assert_eq!(
            marks.observe(0, 500, 1),
            Some(1_000),
            "an older post moves nothing"
        );
        assert_eq!(marks.observe(0, 9_000, 2), Some(9_000));
        // Idle or not, one partition's watermark is its newest post.
        assert_eq!(marks.tick(IDLE * 10), None);
        assert_eq!(marks.watermark_ms(), Some(9_000));
        assert_eq!(marks.observe(0, 10_000, IDLE * 11), Some(10_000));
    }

    #[test]
    fn the_watermark_is_the_slowest_partition() {
        let mut marks = Watermarks::new(IDLE, SKEW);
        marks.assign(0, 0);
        marks.assign(1, 0);
        // Partition 1 has shown nothing: it may still hold older posts.
        assert_eq!(marks.observe(0, 50_000, 0), None);
        assert_eq!(marks.watermark_ms(), None);
        assert_eq!(marks.observe(1, 10_000, 1), Some(10_000));
        assert_eq!(marks.observe(0, 90_000, 2), Some(10_000));
        assert_eq!(marks.observe(1, 70_000, 3), Some(70_000));
        assert_eq!(marks.observe(1, 95_000, 4), Some(90_000));
    }

    #[test]
    fn an_idle_partition_stops_holding_the_others_and_rejoins() {
        let mut marks = Watermarks::new(IDLE, SKEW);
        marks.observe(0, 10_000, 0);
        marks.observe(1, 80_000, 0);
        assert_eq!(marks.watermark_ms(), Some(10_000));
        marks.heard(1, IDLE - 1);
        assert_eq!(marks.tick(IDLE - 1), None, "not silent long enough");
        // Partition 0 is silent for the idle time; partition 1 was heard since.
        assert_eq!(marks.tick(IDLE), Some(80_000));
        assert!(marks.is_idle(0) && !marks.is_idle(1));
        // It rejoins with a post; the watermark does not go back.
        assert_eq!(marks.observe(0, 20_000, IDLE + 1), Some(80_000));
        assert_eq!(marks.observe(1, 100_000, IDLE + 2), Some(80_000));
        assert_eq!(marks.observe(0, 120_000, IDLE + 3), Some(100_000));
    }

    #[test]
    fn every_partition_idle_gives_the_newest_of_any() {
        let mut marks = Watermarks::new(IDLE, SKEW);
        marks.observe(0, 10_000, 0);
        marks.observe(1, 40_000, 0);
        marks.observe(2, 30_000, 0);
        assert_eq!(marks.tick(IDLE), Some(40_000));
    }

    #[test]
    fn a_partition_without_posts_idles_out() {
        let mut marks = Watermarks::new(IDLE, SKEW);
        marks.assign(3, 0);
        marks.observe(0, 10_000, 0);
        assert_eq!(marks.watermark_ms(), None);
        marks.heard(0, IDLE);
        assert_eq!(marks.tick(IDLE), Some(10_000));
    }

    #[test]
    fn a_checkpointed_partition_takes_part_at_once() {
        let saved = SavedWatermarks {
            newest_ms: [(0, 30_000), (1, 20_000), (2, 5_000)].into_iter().collect(),
            late: [(2, 4)].into_iter().collect(),
        };
        let mut marks = Watermarks::new(IDLE, SKEW).restored(saved);
        marks.assign(0, 0);
        marks.assign(1, 0);
        // Partition 2 is another member's now: it holds nothing back here.
        assert_eq!(marks.observe(0, 40_000, 1), Some(20_000));
        marks.count_late(1);
        assert_eq!(
            marks.saved(),
            SavedWatermarks {
                newest_ms: [(0, 40_000), (1, 20_000), (2, 5_000)].into_iter().collect(),
                late: [(1, 1), (2, 4)].into_iter().collect(),
            }
        );
    }

    #[test]
    fn a_revoked_partition_leaves_the_minimum() {
        let mut marks = Watermarks::new(IDLE, SKEW);
        marks.observe(0, 10_000, 0);
        marks.observe(1, 50_000, 0);
        marks.revoke(0);
        assert_eq!(marks.observe(1, 60_000, 1), Some(60_000));
        assert_eq!(marks.partitions().collect::<Vec<_>>(), vec![1]);
        // Handed back, it starts from where it was.
        marks.assign(0, 2);
        assert_eq!(marks.newest_ms(0), Some(10_000));
    }

    #[test]
    fn while_a_partition_shows_nothing_the_others_wait_within_the_skew() {
        let mut marks = Watermarks::new(IDLE, SKEW);
        for partition in 0..3 {
            marks.assign(partition, 0);
        }
        marks.observe(0, 1_000, 0);
        marks.observe(1, 1_000 + SKEW + 1, 0);
        assert_eq!(marks.align(0).pause, vec![1]);
        marks.observe(0, 1_000 + SKEW + 2, 1);
        assert_eq!(
            marks.align(1).pause,
            vec![0],
            "partition 2 may be older yet"
        );
        // Partition 2 shows its first post: the slowest is known.
        marks.observe(2, 1_000 + SKEW, 2);
        let alignment = marks.align(2);
        assert_eq!(alignment.resume, vec![0, 1]);
    }

    #[test]
    fn a_partition_far_ahead_is_paused_until_the_slowest_catches_up() {
        let mut marks = Watermarks::new(IDLE, SKEW);
        marks.observe(0, 0, 0);
        marks.observe(1, SKEW + 1, 0);
        marks.observe(2, SKEW, 0);
        let alignment = marks.align(0);
        assert_eq!(alignment.pause, vec![1]);
        assert!(alignment.resume.is_empty());
        assert!(marks.align(0).is_empty(), "paused once");
        assert_eq!(marks.paused(), 1);
        // A paused partition is silent by our doing, never idle.
        marks.observe(0, 1_000, IDLE * 2);
        marks.observe(2, SKEW, IDLE * 2);
        assert_eq!(marks.tick(IDLE * 2), None, "nobody idle");
        assert_eq!(marks.watermark_ms(), Some(1_000));
        assert!(!marks.is_idle(1));
        marks.observe(0, SKEW / 2, IDLE * 2);
        assert!(
            marks.align(IDLE * 2).is_empty(),
            "not yet within half the skew"
        );
        marks.observe(0, SKEW / 2 + 1, IDLE * 2);
        let alignment = marks.align(IDLE * 2);
        assert_eq!(alignment.resume, vec![1], "partition 0 caught up");
        assert_eq!(marks.paused(), 0);
    }
}
