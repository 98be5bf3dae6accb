//! Sliding event-time windows of one area's scored posts.
//!
//! Time is cut into buckets of one slide (a minute by default); a window of length
//! `L` ending at bucket `b` is the sum of the `L / slide` buckets up to `b`. An area
//! keeps a ring of as many buckets as its longest window needs, so its memory does
//! not depend on how many posts it receives.

use std::collections::VecDeque;

use crate::areas::Located;

/// What a bucket (or a whole window) adds up.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    /// Posts.
    pub posts: u32,
    /// Posts with tension ≥ the tension threshold.
    pub tension_posts: u32,
    /// Sum of tension probabilities.
    pub tension_sum: f64,
    /// Sum of sentiment scores.
    pub sentiment_sum: f64,
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
        self.tension_sum += f64::from(tension);
        self.sentiment_sum += f64::from(sentiment);
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

    /// Mean tension, 0 without posts.
    pub fn mean_tension(&self) -> f64 {
        ratio(self.tension_sum, self.posts)
    }

    /// Share of posts with tension.
    pub fn tension_share(&self) -> f64 {
        ratio(f64::from(self.tension_posts), self.posts)
    }

    /// Mean sentiment, 0 without posts.
    pub fn mean_sentiment(&self) -> f64 {
        ratio(self.sentiment_sum, self.posts)
    }

    /// Share of negative posts.
    pub fn negative_share(&self) -> f64 {
        ratio(f64::from(self.negative_posts), self.posts)
    }
}

fn ratio(sum: f64, count: u32) -> f64 {
    if count == 0 {
        0.0
    } else {
        sum / f64::from(count)
    }
}

/// One area's buckets: `capacity` consecutive buckets ending at `newest`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AreaWindows {
    buckets: VecDeque<Tally>,
    newest: i64,
    capacity: usize,
}

impl AreaWindows {
    /// Empty windows able to sum up to `capacity` buckets, starting at `bucket`.
    pub fn new(capacity: usize, bucket: i64) -> AreaWindows {
        AreaWindows {
            buckets: VecDeque::from(vec![Tally::default(); capacity.max(1)]),
            newest: bucket,
            capacity: capacity.max(1),
        }
    }

    /// The newest bucket index held.
    pub fn newest(&self) -> i64 {
        self.newest
    }

    /// Moves the ring forward so that `bucket` is the newest (empty buckets for the
    /// time between). Never moves back.
    pub fn advance_to(&mut self, bucket: i64) {
        if bucket <= self.newest {
            return;
        }
        let steps = (bucket - self.newest).min(self.capacity as i64) as usize;
        for _ in 0..steps {
            self.buckets.pop_front();
            self.buckets.push_back(Tally::default());
        }
        self.newest = bucket;
    }

    /// The bucket `bucket`, if the ring still holds it (moving forward as needed);
    /// `None` when it is older than the ring.
    pub fn bucket_mut(&mut self, bucket: i64) -> Option<&mut Tally> {
        self.advance_to(bucket);
        let age = self.newest - bucket;
        if age < 0 || age >= self.capacity as i64 {
            return None;
        }
        let index = self.capacity - 1 - age as usize;
        self.buckets.get_mut(index)
    }

    /// The sum of the `length` buckets ending at `end` (inclusive).
    pub fn window(&self, end: i64, length: usize) -> Tally {
        let mut total = Tally::default();
        for age in 0..length.min(self.capacity) as i64 {
            let bucket = end - age;
            let offset = self.newest - bucket;
            if offset < 0 || offset >= self.capacity as i64 {
                continue;
            }
            total.merge(&self.buckets[self.capacity - 1 - offset as usize]);
        }
        total
    }

    /// Whether every bucket is empty.
    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(|b| b.posts == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(windows: &mut AreaWindows, bucket: i64, tension: f32) {
        windows.bucket_mut(bucket).expect("bucket in range").add(
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
}
