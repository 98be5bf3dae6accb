//! Sliding event-time windows of one area's scored posts.
//!
//! Time is cut into buckets of one slide (a minute by default); a window of length
//! `L` ending at bucket `b` is the sum of the `L / slide` buckets up to `b`. An area
//! keeps only its buckets that have posts, and only as far back as its longest
//! window needs, so its memory depends neither on how many posts it receives nor,
//! for a quiet area, on the window's length.
//!
//! The windows a rule reads are running sums: each slide adds the bucket that
//! enters and removes the one that leaves, instead of adding up the whole window
//! again. Sums are kept in integers (billionths of a score), so adding and removing
//! are exact and a running sum always equals the sum made afresh.

use std::collections::VecDeque;

use crate::areas::Located;

/// Scores are summed in these units: exact integer sums, far finer than any figure
/// shown (four decimals).
const SCORE_UNITS: f64 = 1e9;

/// What a bucket (or a whole window) adds up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    /// Posts.
    pub posts: u32,
    /// Posts with tension ≥ the tension threshold.
    pub tension_posts: u32,
    /// Sum of tension probabilities, in billionths.
    pub tension_sum: i64,
    /// Sum of sentiment scores, in billionths.
    pub sentiment_sum: i64,
    /// Posts labelled negative.
    pub negative_posts: u32,
    /// Posts located by `area` field, by coordinates, by place name (see
    /// [`Located::slot`]).
    pub located: [u32; 3],
}

impl Tally {
    /// Adds one post, located as `located`.
    pub fn add(
        &mut self,
        tension: f32,
        sentiment: f32,
        negative: bool,
        tension_threshold: f32,
        located: Located,
    ) {
        self.posts += 1;
        if let Some(slot) = located.slot() {
            self.located[slot] += 1;
        }
        self.tension_posts += u32::from(tension >= tension_threshold);
        self.tension_sum += in_units(tension);
        self.sentiment_sum += in_units(sentiment);
        self.negative_posts += u32::from(negative);
    }

    /// Adds another tally.
    pub fn merge(&mut self, other: &Tally) {
        self.posts += other.posts;
        self.tension_posts += other.tension_posts;
        self.tension_sum += other.tension_sum;
        self.sentiment_sum += other.sentiment_sum;
        self.negative_posts += other.negative_posts;
        for (mine, theirs) in self.located.iter_mut().zip(other.located) {
            *mine += theirs;
        }
    }

    /// Takes away a tally that was merged in before.
    pub fn unmerge(&mut self, other: &Tally) {
        self.posts = self.posts.saturating_sub(other.posts);
        self.tension_posts = self.tension_posts.saturating_sub(other.tension_posts);
        self.tension_sum -= other.tension_sum;
        self.sentiment_sum -= other.sentiment_sum;
        self.negative_posts = self.negative_posts.saturating_sub(other.negative_posts);
        for (mine, theirs) in self.located.iter_mut().zip(other.located) {
            *mine = mine.saturating_sub(theirs);
        }
    }

    /// Mean tension, 0 without posts.
    pub fn mean_tension(&self) -> f64 {
        ratio(self.tension_sum as f64 / SCORE_UNITS, self.posts)
    }

    /// Share of posts with tension.
    pub fn tension_share(&self) -> f64 {
        ratio(f64::from(self.tension_posts), self.posts)
    }

    /// Mean sentiment, 0 without posts.
    pub fn mean_sentiment(&self) -> f64 {
        ratio(self.sentiment_sum as f64 / SCORE_UNITS, self.posts)
    }

    /// Share of negative posts.
    pub fn negative_share(&self) -> f64 {
        ratio(f64::from(self.negative_posts), self.posts)
    }
}

/// A score in billionths; a score that is not a number counts as 0.
fn in_units(score: f32) -> i64 {
    let units = (f64::from(score) * SCORE_UNITS).round();
    if units.is_finite() {
        units as i64
    } else {
        0
    }
}

fn ratio(sum: f64, count: u32) -> f64 {
    if count == 0 {
        0.0
    } else {
        sum / f64::from(count)
    }
}

/// One area's buckets with posts, oldest first, none older than `capacity` buckets
/// before the newest; and the running sums of its windows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AreaWindows {
    buckets: VecDeque<(i64, Tally)>,
    newest: i64,
    capacity: usize,
    /// The bucket the running sums end at, and the sums, one per window length
    /// given to [`AreaWindows::slide_to`]; `None` until the first slide.
    sums_at: Option<i64>,
    sums: Vec<Tally>,
}

impl AreaWindows {
    /// Empty windows able to sum up to `capacity` buckets, starting at `bucket`.
    pub fn new(capacity: usize, bucket: i64) -> AreaWindows {
        AreaWindows {
            buckets: VecDeque::new(),
            newest: bucket,
            capacity: capacity.max(1),
            sums_at: None,
            sums: Vec::new(),
        }
    }

    /// The newest bucket index held.
    pub fn newest(&self) -> i64 {
        self.newest
    }

    /// Keeps `capacity` buckets from now on; the running sums are made afresh at
    /// the next slide.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        self.sums_at = None;
        self.forget_old();
    }

    /// Moves forward so that `bucket` is the newest. Never moves back.
    pub fn advance_to(&mut self, bucket: i64) {
        if bucket > self.newest {
            self.newest = bucket;
            self.forget_old();
        }
    }

    fn forget_old(&mut self) {
        let oldest_kept = self.newest - self.capacity as i64;
        while self
            .buckets
            .front()
            .is_some_and(|(bucket, _)| *bucket <= oldest_kept)
        {
            self.buckets.pop_front();
        }
    }

    /// The bucket `bucket`, if it is not older than the ring (moving forward as
    /// needed); `None` when it is. The flag says whether it is new (had no posts).
    pub fn bucket_mut(&mut self, bucket: i64) -> Option<(&mut Tally, bool)> {
        self.advance_to(bucket);
        if self.newest - bucket >= self.capacity as i64 {
            return None;
        }
        // Posts come nearly in time order: the place is a step or two from the end.
        let after = self
            .buckets
            .iter()
            .rposition(|(b, _)| *b <= bucket)
            .map_or(0, |i| i + 1);
        let is_new = after == 0 || self.buckets[after - 1].0 != bucket;
        if is_new {
            self.buckets.insert(after, (bucket, Tally::default()));
        }
        let index = if is_new { after } else { after - 1 };
        self.buckets
            .get_mut(index)
            .map(|(_, tally)| (tally, is_new))
    }

    /// The buckets with posts, oldest first.
    pub fn buckets(&self) -> impl DoubleEndedIterator<Item = (i64, &Tally)> + '_ {
        self.buckets.iter().map(|(bucket, tally)| (*bucket, tally))
    }

    /// The bucket `bucket`, if it has posts. Sliding asks for the newest buckets and
    /// the oldest ones, so the look starts from the nearer end.
    fn bucket(&self, bucket: i64) -> Option<&Tally> {
        let oldest = self.buckets.front().map_or(bucket, |(b, _)| *b);
        let found = if bucket - oldest < self.newest - bucket {
            self.buckets.iter().find(|(b, _)| *b >= bucket)
        } else {
            self.buckets.iter().rev().find(|(b, _)| *b <= bucket)
        };
        found.filter(|(b, _)| *b == bucket).map(|(_, tally)| tally)
    }

    /// The sum of the `length` buckets ending at `end` (inclusive), made afresh.
    pub fn window(&self, end: i64, length: usize) -> Tally {
        let start = end - length.min(self.capacity) as i64;
        let mut total = Tally::default();
        for (_, tally) in self
            .buckets
            .iter()
            .filter(|(bucket, _)| *bucket > start && *bucket <= end)
        {
            total.merge(tally);
        }
        total
    }

    /// Moves the running sums of the windows of `lengths` to end at `end`: each
    /// minute in between adds the bucket that enters and removes the one that
    /// leaves; when the buckets that left are no longer held, or the sums fell a
    /// whole window behind, it sums afresh. The caller keeps `capacity` at least the
    /// longest length plus how far the newest bucket may run ahead of `end`.
    pub fn slide_to(&mut self, end: i64, lengths: &[usize]) {
        self.advance_to(end);
        let fresh = match self.sums_at {
            Some(at) => at > end || self.sums.len() != lengths.len(),
            None => true,
        };
        if fresh {
            self.sums = lengths.iter().map(|&l| self.window(end, l)).collect();
            self.sums_at = Some(end);
            return;
        }
        let at = self.sums_at.unwrap_or(end);
        for (slot, &length) in lengths.iter().enumerate() {
            let mut sum = self.sums[slot];
            // Stepping needs every bucket that left since; once the oldest of them
            // is forgotten, the sum is made afresh (the window itself is held).
            let oldest_leaving = at + 1 - length as i64;
            if end - at >= length as i64 || oldest_leaving <= self.newest - self.capacity as i64 {
                sum = self.window(end, length);
            } else {
                for minute in at + 1..=end {
                    if let Some(entering) = self.bucket(minute) {
                        sum.merge(entering);
                    }
                    if let Some(leaving) = self.bucket(minute - length as i64) {
                        sum.unmerge(leaving);
                    }
                }
            }
            self.sums[slot] = sum;
        }
        self.sums_at = Some(end);
    }

    /// The running sum of the window of `lengths[slot]` as of the last
    /// [`AreaWindows::slide_to`].
    pub fn sum(&self, slot: usize) -> Tally {
        self.sums.get(slot).copied().unwrap_or_default()
    }

    /// Whether it holds no posts.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(windows: &mut AreaWindows, bucket: i64, tension: f32) {
        windows.bucket_mut(bucket).expect("bucket in range").0.add(
            tension,
            -0.5,
            tension > 0.5,
            0.5,
            Located::Coordinates,
        );
    }

    #[test]
    fn windows_sum_their_buckets_only() {
        let mut windows = AreaWindows::new(60, 100);
        add(&mut windows, 100, 0.9);
        add(&mut windows, 101, 0.1);
        add(&mut windows, 115, 0.8);
        let last_15 = windows.window(115, 15);
        assert_eq!((last_15.posts, last_15.tension_posts), (2, 1));
        let last_60 = windows.window(115, 60);
        assert_eq!((last_60.posts, last_60.tension_posts), (3, 2));
        assert!((last_60.mean_tension() - 0.6).abs() < 1e-6, "f32 scores");
        assert!((last_60.tension_share() - 2.0 / 3.0).abs() < 1e-9);
        assert!((last_60.mean_sentiment() + 0.5).abs() < 1e-9);
        assert!((last_60.negative_share() - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(last_60.located, [0, 3, 0]);
    }

    #[test]
    fn old_buckets_fall_out_of_the_ring() {
        let mut windows = AreaWindows::new(15, 0);
        add(&mut windows, 0, 0.9);
        windows.advance_to(14);
        assert_eq!(windows.window(14, 15).posts, 1);
        windows.advance_to(15);
        assert_eq!(windows.window(15, 15).posts, 0);
        assert!(windows.is_empty());
        assert!(windows.bucket_mut(0).is_none(), "too old to hold");
    }

    #[test]
    fn a_long_gap_empties_the_ring_without_looping_over_it() {
        let mut windows = AreaWindows::new(60, 0);
        add(&mut windows, 0, 0.9);
        windows.advance_to(10_000_000_000);
        assert!(windows.is_empty());
        assert_eq!(windows.newest(), 10_000_000_000);
    }

    #[test]
    fn late_posts_within_the_ring_land_in_their_bucket() {
        let mut windows = AreaWindows::new(60, 50);
        add(&mut windows, 50, 0.2);
        add(&mut windows, 45, 0.9);
        assert_eq!(windows.window(50, 5).posts, 1);
        assert_eq!(windows.window(50, 6).posts, 2);
    }

    #[test]
    fn empty_tally_has_zero_means_not_nan() {
        let empty = Tally::default();
        assert_eq!(
            (
                empty.mean_tension(),
                empty.tension_share(),
                empty.mean_sentiment()
            ),
            (0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn running_sums_equal_sums_made_afresh() {
        let lengths = [15, 60];
        let mut rng = fastrand::Rng::with_seed(11);
        let mut windows = AreaWindows::new(70, 0);
        let mut end = 0i64;
        for _ in 0..2_000 {
            // Posts up to six minutes ahead of the sums; the sums move on by up to
            // ninety minutes at a time, sometimes past a whole window.
            for _ in 0..rng.usize(0..4) {
                let bucket = end + rng.i64(1..=6);
                let tension = rng.f32();
                windows
                    .bucket_mut(bucket)
                    .expect("ahead of the sums")
                    .0
                    .add(
                        tension,
                        tension - 0.5,
                        tension > 0.7,
                        0.5,
                        Located::AreaField,
                    );
            }
            end += if rng.u8(..) < 10 { rng.i64(1..=90) } else { 1 };
            windows.slide_to(end, &lengths);
            for (slot, &length) in lengths.iter().enumerate() {
                assert_eq!(windows.sum(slot), windows.window(end, length), "at {end}");
            }
        }
    }

    #[test]
    fn a_new_bucket_says_so_once() {
        let mut windows = AreaWindows::new(60, 0);
        assert!(windows.bucket_mut(5).expect("held").1);
        assert!(!windows.bucket_mut(5).expect("held").1);
        assert!(windows.bucket_mut(3).expect("held").1, "an older bucket");
        assert_eq!(
            windows.buckets().map(|(b, _)| b).collect::<Vec<_>>(),
            [3, 5]
        );
    }
}
