//! An area's own normal: how many posts it has at each hour of the day, and what
//! share of them carries tension, learnt online in event time.
//!
//! Volume is learnt per hour of the day (a city centre is busy at 17:00 and quiet
//! at 04:00) as a mean of hourly counts that forgets with a half-life of a week of
//! that hour. Once a weekday has been seen on three weeks, its own level scales
//! that profile (a market town on Saturday, a business district on Sunday): each
//! weekday keeps the ratio of its posts to what the hourly profile expected, shrunk
//! toward 1 so that a village's handful of posts moves nothing, and takes the median
//! of its last four weeks, so that one festival or one incident moves nothing
//! either (which is why it learns even while an alert is active). The tension share is
//! learnt over all hours and shrunk toward the global share until the area has
//! posts enough.
//!
//! An incident must not become the new normal within the hour: while an alert is
//! active the area's hours are not learnt (but for the weekday's day count, which
//! its median protects), and otherwise each hour is winsorised (clipped at three
//! standard deviations above what was expected) before it is learnt.

use crate::stats::{shrunk_share, Ewma};

/// Hours of a day.
pub const HOURS_PER_DAY: usize = 24;

/// Days of a week.
const DAYS_PER_WEEK: usize = 7;

/// The epoch (1970-01-01) was a Thursday: day 3 of a week that starts on Monday.
const EPOCH_WEEKDAY: i64 = 3;

/// Until a weekday has been seen on this many weeks, it is taken as an average day.
const MIN_WEEKS_FOR_WEEKDAY: u32 = 3;

/// A weekday is taken to be at most this many times busier (or quieter) than an
/// average day.
const MAX_WEEKDAY_LEVEL: f64 = 4.0;

/// A weekday's level is the median of its last this many weeks.
const WEEKS_KEPT: usize = 4;

/// Posts of prior weight at a ratio of 1 in a weekday's level: a day needs well
/// more posts than this before its own ratio shows.
const WEEKDAY_PRIOR_POSTS: f64 = 20.0;

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
    /// Each weekday's posts over what the hourly profile expected (Monday first).
    weekday_level: [WeekdayLevel; DAYS_PER_WEEK],
    /// The day being learnt (days since the epoch), its posts and the posts the
    /// hourly profile expected of its hours so far.
    day: (i64, f64, f64),
    posts_per_hour: Ewma,
    tension_posts_per_hour: Ewma,
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            hourly_posts: [Ewma::with_half_life(VOLUME_HALF_LIFE_DAYS); HOURS_PER_DAY],
            weekday_level: [WeekdayLevel::default(); DAYS_PER_WEEK],
            day: (i64::MIN, 0.0, 0.0),
            posts_per_hour: Ewma::with_half_life(SHARE_HALF_LIFE_HOURS),
            tension_posts_per_hour: Ewma::with_half_life(SHARE_HALF_LIFE_HOURS),
        }
    }
}

impl Baseline {
    /// Learns one closed hour, `hour` hours since the epoch: `posts` of which
    /// `tension_posts` were tense. `frozen` (an alert is active) learns nothing.
    pub fn learn_hour(&mut self, hour: i64, posts: u32, tension_posts: u32, frozen: bool) {
        // The weekday learns what came, unclipped and even under alert: its median
        // takes care of the odd day.
        self.learn_weekday(hour, f64::from(posts));
        if frozen {
            return;
        }
        let expected = self.expected_hour(hour);
        let posts = f64::from(posts);
        let clipped_posts = expected.map_or(posts, |expected| {
            posts.min(expected + WINSOR_SIGMAS * expected.sqrt() + WINSOR_SIGMAS)
        });
        // The hourly profile learns an average day's share of the hour.
        let level = self.weekday_scale(hour);
        self.hourly_posts[hour_of_day(hour)].update(clipped_posts / level);
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

    /// Adds the hour to its day's sums; a day's last hour learns the day's level
    /// into its weekday, as (posts + prior) / (expected + prior).
    fn learn_weekday(&mut self, hour: i64, posts: f64) {
        let day = hour.div_euclid(HOURS_PER_DAY as i64);
        if self.day.0 != day {
            self.day = (day, 0.0, 0.0);
        }
        let profile = &self.hourly_posts[hour_of_day(hour)];
        if profile.updates() >= MIN_DAYS_FOR_VOLUME {
            self.day.1 += posts;
            self.day.2 += profile.mean();
        }
        if hour_of_day(hour) == HOURS_PER_DAY - 1 && self.day.2 > 0.0 {
            // Clamped: a day without posts (an outage) or a flood says little about
            // the weekday, and the hourly profile is divided by the level.
            let level = ((self.day.1 + WEEKDAY_PRIOR_POSTS) / (self.day.2 + WEEKDAY_PRIOR_POSTS))
                .clamp(1.0 / MAX_WEEKDAY_LEVEL, MAX_WEEKDAY_LEVEL);
            self.weekday_level[weekday(day)].push(level);
        }
    }

    /// Expected posts in hour `hour` (hours since the epoch): the hour of the day's
    /// mean, scaled by the weekday's level once that weekday is known; `None` until
    /// the hour of the day has been seen on enough days.
    fn expected_hour(&self, hour: i64) -> Option<f64> {
        let volume = &self.hourly_posts[hour_of_day(hour)];
        if volume.updates() < MIN_DAYS_FOR_VOLUME {
            return None;
        }
        Some(volume.mean() * self.weekday_scale(hour))
    }

    /// How much busier than an average day the weekday of hour `hour` is: its
    /// learnt level once seen on enough weeks, 1 before.
    fn weekday_scale(&self, hour: i64) -> f64 {
        self.weekday_level[weekday(hour.div_euclid(HOURS_PER_DAY as i64))]
            .median()
            .unwrap_or(1.0)
    }

    /// Expected posts in `minutes` minutes of hour `hour` (hours since the epoch),
    /// once that hour of the day has been seen on enough days; `None` before (a new
    /// area has no normal yet).
    pub fn expected_posts(&self, hour: i64, minutes: f64) -> Option<f64> {
        self.expected_hour(hour)
            .map(|per_hour| per_hour * minutes / 60.0)
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
            total += self.expected_posts(hour, span)?;
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

    /// The area's posts per hour of late (an hour of the day weighs as any other),
    /// `None` before it has learnt an hour.
    pub fn posts_per_hour(&self) -> Option<f64> {
        (self.posts_per_hour.updates() > 0).then(|| self.posts_per_hour.mean())
    }

    fn raw_share(&self) -> Option<f64> {
        let posts = self.posts_per_hour.mean();
        (self.posts_per_hour.updates() > 0 && posts > 0.0)
            .then(|| self.tension_posts_per_hour.mean() / posts)
    }
}

/// A weekday's levels (its posts over an average day's) of its last weeks.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct WeekdayLevel {
    /// The last [`WEEKS_KEPT`] levels, in a ring.
    recent: [f32; WEEKS_KEPT],
    /// Weeks learnt.
    weeks: u32,
    /// The median of `recent`, made when a week is learnt (it is read far more
    /// often: at every evaluation of a rule on volume).
    median: f32,
}

impl WeekdayLevel {
    fn push(&mut self, level: f64) {
        self.recent[self.weeks as usize % WEEKS_KEPT] = level as f32;
        self.weeks = self.weeks.saturating_add(1);
        let kept = (self.weeks as usize).min(WEEKS_KEPT);
        let mut levels = self.recent;
        let levels = &mut levels[..kept];
        levels.sort_by(f32::total_cmp);
        let middle = kept / 2;
        self.median = if kept % 2 == 0 {
            (levels[middle - 1] + levels[middle]) / 2.0
        } else {
            levels[middle]
        };
    }

    /// The median of the weeks kept, once there are [`MIN_WEEKS_FOR_WEEKDAY`].
    fn median(&self) -> Option<f64> {
        (self.weeks >= MIN_WEEKS_FOR_WEEKDAY && self.median > 0.0).then_some(f64::from(self.median))
    }
}

/// The hour of the day (0–23) of hour `hour` since the epoch (UTC).
fn hour_of_day(hour: i64) -> usize {
    hour.rem_euclid(HOURS_PER_DAY as i64) as usize
}

/// The weekday (0 Monday … 6 Sunday) of day `day` since the epoch (UTC).
fn weekday(day: i64) -> usize {
    (day + EPOCH_WEEKDAY).rem_euclid(DAYS_PER_WEEK as i64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Learns `days` more days (after those already learnt), `posts_at(hour of day)`
    /// posts an hour, `share` of them tense.
    fn learn_days(
        baseline: &mut Baseline,
        days: usize,
        posts_at: impl Fn(usize) -> u32,
        share: f64,
    ) {
        learn_week_days(baseline, days, |_, hour| posts_at(hour), share);
    }

    /// As [`learn_days`], with `posts_at(weekday, hour of day)`.
    fn learn_week_days(
        baseline: &mut Baseline,
        days: usize,
        posts_at: impl Fn(usize, usize) -> u32,
        share: f64,
    ) {
        let first = if baseline.day.0 == i64::MIN {
            0
        } else {
            baseline.day.0 + 1
        };
        for day in first..first + days as i64 {
            for hour in 0..HOURS_PER_DAY {
                let posts = posts_at(weekday(day), hour);
                baseline.learn_hour(
                    day * HOURS_PER_DAY as i64 + hour as i64,
                    posts,
                    (f64::from(posts) * share).round() as u32,
                    false,
                );
            }
        }
    }

    /// An hour index (hours since the epoch) on the given weekday and hour of day.
    fn hour_on(weekday_wanted: usize, hour: usize) -> i64 {
        let day = (0..7).find(|&d| weekday(d) == weekday_wanted).unwrap_or(0);
        day * HOURS_PER_DAY as i64 + hour as i64
    }

    const SATURDAY: usize = 5;
    const TUESDAY: usize = 1;

    #[test]
    fn a_weekday_of_its_own_shows_once_seen_on_three_weeks() {
        let market = |day: usize, _hour: usize| if day == SATURDAY { 200 } else { 40 };
        let mut baseline = Baseline::default();
        learn_week_days(&mut baseline, 14, market, 0.02);
        let average = baseline
            .expected_posts(hour_on(TUESDAY, 12), 60.0)
            .expect("learnt");
        let saturday = baseline
            .expected_posts(hour_on(SATURDAY, 12), 60.0)
            .expect("learnt");
        assert_eq!(saturday, average, "two weeks: every day alike");
        learn_week_days(&mut baseline, 21, market, 0.02);
        let saturday = baseline
            .expected_posts(hour_on(SATURDAY, 12), 60.0)
            .expect("learnt");
        let tuesday = baseline
            .expected_posts(hour_on(TUESDAY, 12), 60.0)
            .expect("learnt");
        assert!((saturday - 200.0).abs() < 30.0, "{saturday}");
        assert!((tuesday - 40.0).abs() < 6.0, "{tuesday}");
    }

    #[test]
    fn one_festival_saturday_moves_no_weekday() {
        let mut baseline = Baseline::default();
        learn_days(&mut baseline, 35, |_| 40, 0.02);
        let before = baseline
            .expected_posts(hour_on(SATURDAY, 12), 60.0)
            .expect("learnt");
        let festival = |day: usize, _hour: usize| if day == SATURDAY { 400 } else { 40 };
        learn_week_days(&mut baseline, 7, festival, 0.02);
        let after = baseline
            .expected_posts(hour_on(SATURDAY, 12), 60.0)
            .expect("learnt");
        assert!((after - before).abs() < before * 0.2, "{before} -> {after}");
    }

    #[test]
    fn outage_days_do_not_collapse_a_weekday() {
        let mut baseline = Baseline::default();
        learn_days(&mut baseline, 21, |_| 40, 0.02);
        // Two Tuesdays of four without a post (the feed was down).
        let outage = |day: usize, _hour: usize| if day == TUESDAY { 0 } else { 40 };
        learn_week_days(&mut baseline, 14, outage, 0.02);
        let level = baseline.weekday_level[TUESDAY].median().expect("learnt");
        assert!(level >= 0.25, "{level}");
        let wednesday = baseline
            .expected_posts(hour_on(2, 12), 60.0)
            .expect("learnt");
        assert!((wednesday - 40.0).abs() < 8.0, "{wednesday}");
    }

    #[test]
    fn a_village_weekday_stays_an_average_day() {
        let mut baseline = Baseline::default();
        learn_week_days(
            &mut baseline,
            42,
            |day, hour| u32::from(hour == 12 && (day == SATURDAY || day == TUESDAY)),
            0.0,
        );
        for day in 0..7 {
            let level = baseline.weekday_level[day].median().expect("learnt");
            assert!((level - 1.0).abs() < 0.1, "weekday {day}: {level}");
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
    fn a_frozen_baseline_learns_nothing_but_its_weekday_day() {
        let mut baseline = Baseline::default();
        learn_days(&mut baseline, 3, |_| 40, 0.02);
        let snapshot = baseline.clone();
        baseline.learn_hour(3 * 24 + 21, 4_000, 3_000, true);
        assert_eq!(baseline.hourly_posts, snapshot.hourly_posts);
        assert_eq!(baseline.posts_per_hour, snapshot.posts_per_hour);
        assert_eq!(
            baseline.tension_posts_per_hour,
            snapshot.tension_posts_per_hour
        );
        assert_eq!(baseline.day.1, 4_000.0, "the day's posts count it");
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
                baseline.learn_hour(hour as i64, posts, 0, false);
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
