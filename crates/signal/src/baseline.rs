//! An area's own normal: how many posts it has at each hour of the day, and what
//! share of them carries tension, learnt online in event time.
//!
//! Volume is learnt per hour of the day (a city centre is busy at 17:00 and quiet
//! at 04:00) as a mean of hourly counts that forgets with a half-life of a week of
//! that hour. The tension share is learnt over all hours and shrunk toward the
//! global share until the area has posts enough.
//!
//! An incident must not become the new normal within the hour: while an alert is
//! active the area's hours are not learnt at all, and otherwise each hour is
//! winsorised (clipped at three standard deviations above what was expected) before
//! it is learnt.

use crate::stats::{shrunk_share, Ewma};

/// Hours of a day.
pub const HOURS_PER_DAY: usize = 24;

/// Volume forgets an observation of an hour of the day over a week of that hour.
const VOLUME_HALF_LIFE_DAYS: f64 = 7.0;

/// The tension share forgets over about a week of hours.
const SHARE_HALF_LIFE_HOURS: f64 = 7.0 * 24.0;

/// Until an hour of the day has been seen this many times, its volume is unknown.
const MIN_DAYS_FOR_VOLUME: u32 = 2;

/// Observations above expectation + this many standard deviations are clipped.
const WINSOR_SIGMAS: f64 = 3.0;

/// The prior's weight, in posts, when shrinking an area's tension share.
pub const SHARE_PRIOR_WEIGHT: f64 = 200.0;

/// One area's baseline.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Baseline {
    hourly_posts: [Ewma; HOURS_PER_DAY],
    posts_per_hour: Ewma,
    tension_posts_per_hour: Ewma,
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            hourly_posts: [Ewma::with_half_life(VOLUME_HALF_LIFE_DAYS); HOURS_PER_DAY],
            posts_per_hour: Ewma::with_half_life(SHARE_HALF_LIFE_HOURS),
            tension_posts_per_hour: Ewma::with_half_life(SHARE_HALF_LIFE_HOURS),
        }
    }
}

impl Baseline {
    /// Learns one closed hour: `posts` of which `tension_posts` were tense, at
    /// `hour_of_day` (0–23). `frozen` (an alert is active) learns nothing.
    pub fn learn_hour(&mut self, hour_of_day: usize, posts: u32, tension_posts: u32, frozen: bool) {
        if frozen {
            return;
        }
        let slot = hour_of_day % HOURS_PER_DAY;
        let volume = &mut self.hourly_posts[slot];
        let posts = f64::from(posts);
        let clipped_posts = if volume.updates() >= MIN_DAYS_FOR_VOLUME {
            let expected = volume.mean();
            posts.min(expected + WINSOR_SIGMAS * expected.sqrt() + WINSOR_SIGMAS)
        } else {
            posts
        };
        volume.update(clipped_posts);
        let share = if posts > 0.0 {
            f64::from(tension_posts) / posts
        } else {
            0.0
        };
        let expected_share = self.raw_share().unwrap_or(share);
        let share_sd = (expected_share * (1.0 - expected_share) / clipped_posts.max(1.0)).sqrt();
        let clipped_share = share.min(expected_share + WINSOR_SIGMAS * share_sd + 0.01);
        self.posts_per_hour.update(clipped_posts);
        self.tension_posts_per_hour
            .update(clipped_share * clipped_posts);
    }

    /// Expected posts in a window of `minutes` ending in `hour_of_day`, once that hour
    /// has been seen on enough days; `None` before (a new area has no normal yet).
    pub fn expected_posts(&self, hour_of_day: usize, minutes: f64) -> Option<f64> {
        let volume = &self.hourly_posts[hour_of_day % HOURS_PER_DAY];
        (volume.updates() >= MIN_DAYS_FOR_VOLUME).then(|| volume.mean() * minutes / 60.0)
    }

    /// Expected posts in the `length` minutes ending with epoch minute `end`
    /// (inclusive), each minute at the rate of its own hour of day: a window that
    /// straddles the evening's drop is not held to the quieter hour alone. `None`
    /// until every hour it spans has been seen on enough days.
    pub fn expected_posts_in(&self, end: i64, length: u32) -> Option<f64> {
        let mut total = 0.0;
        let mut minute = end - i64::from(length) + 1;
        while minute <= end {
            let hour = minute.div_euclid(60);
            let last = (hour * 60 + 59).min(end);
            let span = (last - minute + 1) as f64;
            total += self.expected_posts(hour.rem_euclid(24) as usize, span)?;
            minute = last + 1;
        }
        Some(total)
    }

    /// The area's expected tension share, shrunk toward `global_share`.
    pub fn tension_share(&self, global_share: f64) -> f64 {
        let hours = f64::from(self.posts_per_hour.updates());
        shrunk_share(
            self.tension_posts_per_hour.mean() * hours,
            self.posts_per_hour.mean() * hours,
            global_share,
            SHARE_PRIOR_WEIGHT,
        )
    }

    fn raw_share(&self) -> Option<f64> {
        let posts = self.posts_per_hour.mean();
        (self.posts_per_hour.updates() > 0 && posts > 0.0)
            .then(|| self.tension_posts_per_hour.mean() / posts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learn_days(
        baseline: &mut Baseline,
        days: usize,
        posts_at: impl Fn(usize) -> u32,
        share: f64,
    ) {
        for _ in 0..days {
            for hour in 0..HOURS_PER_DAY {
                let posts = posts_at(hour);
                baseline.learn_hour(
                    hour,
                    posts,
                    (f64::from(posts) * share).round() as u32,
                    false,
                );
            }
        }
    }

    #[test]
    fn volume_is_learnt_per_hour_of_day() {
        let mut baseline = Baseline::default();
        assert_eq!(
            baseline.expected_posts(17, 60.0),
            None,
            "no normal before any day"
        );
        learn_days(
            &mut baseline,
            14,
            |hour| if hour == 17 { 120 } else { 12 },
            0.02,
        );
        let rush = baseline.expected_posts(17, 15.0).expect("learnt");
        let night = baseline.expected_posts(4, 15.0).expect("learnt");
        assert!((rush - 30.0).abs() < 1.0, "{rush}");
        assert!((night - 3.0).abs() < 0.2, "{night}");
    }

    #[test]
    fn one_incident_hour_barely_moves_the_normal() {
        let mut baseline = Baseline::default();
        learn_days(&mut baseline, 14, |_| 40, 0.02);
        let before = baseline.expected_posts(21, 60.0).expect("learnt");
        baseline.learn_hour(21, 4_000, 3_000, false);
        let after = baseline.expected_posts(21, 60.0).expect("learnt");
        assert!(after < before * 1.2, "winsorised: {before} -> {after}");
        assert!(
            baseline.tension_share(0.02) < 0.05,
            "{}",
            baseline.tension_share(0.02)
        );
    }

    #[test]
    fn a_frozen_baseline_learns_nothing() {
        let mut baseline = Baseline::default();
        learn_days(&mut baseline, 3, |_| 40, 0.02);
        let snapshot = baseline.clone();
        baseline.learn_hour(21, 4_000, 3_000, true);
        assert_eq!(baseline, snapshot);
    }

    #[test]
    fn a_quiet_area_leans_on_the_global_share() {
        let mut village = Baseline::default();
        learn_days(&mut village, 3, |_| 1, 0.0);
        // 72 posts of its own, none tense, against a prior of 200 posts at 5%.
        let share = village.tension_share(0.05);
        assert!(share > 0.03 && share < 0.05, "{share}");
        let mut city = Baseline::default();
        learn_days(&mut city, 14, |_| 300, 0.01);
        assert!(
            (city.tension_share(0.05) - 0.01).abs() < 0.002,
            "{}",
            city.tension_share(0.05)
        );
    }

    #[test]
    fn a_lasting_change_is_learnt_within_weeks() {
        let mut baseline = Baseline::default();
        learn_days(&mut baseline, 14, |_| 10, 0.02);
        learn_days(&mut baseline, 21, |_| 20, 0.02);
        let learnt = baseline.expected_posts(12, 60.0).expect("learnt");
        assert!(learnt > 17.0, "{learnt}");
    }

    #[test]
    fn a_window_across_an_hour_boundary_expects_each_hour_at_its_own_rate() {
        let mut baseline = Baseline::default();
        for _ in 0..5 {
            for hour in 0..HOURS_PER_DAY {
                let posts = if hour == 22 { 600 } else { 60 };
                baseline.learn_hour(hour, posts, 0, false);
            }
        }
        // 15 minutes ending at 23:04: ten at 22:xx, five at 23:xx.
        let end = 23 * 60 + 4;
        let straddling = baseline.expected_posts_in(end, 15).expect("learnt");
        let busy = baseline.expected_posts(22, 10.0).expect("learnt");
        let quiet = baseline.expected_posts(23, 5.0).expect("learnt");
        assert!((straddling - (busy + quiet)).abs() < 1e-9);
        assert!(straddling > baseline.expected_posts(23, 15.0).expect("learnt") * 3.0);
        assert_eq!(Baseline::default().expected_posts_in(end, 15), None);
    }
}
