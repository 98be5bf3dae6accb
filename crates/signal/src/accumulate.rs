//! Evidence that accumulates: a bank of Bernoulli CUSUMs on an area's posts.
//!
//! A window's z-score forgets everything older than the window, so a town whose
//! tense posts trickle in over an hour never stands out in any quarter of it, and
//! a rise over two days stands out in no window at all. A CUSUM keeps a running sum
//! of each post's log-likelihood ratio, "tense at ρ times the expected share"
//! against "tense at the expected share", and forgets only by evidence against:
//! `S ← max(0, S + llr)`. It is the sequential test with the shortest worst-case
//! delay for a given false-alarm rate (Lorden, Moustakides), the reference of the
//! outbreak-detection literature (R's `surveillance`, EARS' C-statistics are its
//! windowed cousins). Several rise factors run side by side: a large one crosses
//! within minutes of a sudden fight, a small one adds up a slow burn over a day or
//! two; the horizon of each follows from its factor and the area's volume.
//!
//! Why Bernoulli (each post tense or not against the expected share) rather than
//! Poisson counts against an hourly expectation: the share is conditional on the
//! volume, so a festival or a storm that multiplies the posts at the usual share
//! moves nothing, and it needs no clock (a minute without posts changes nothing),
//! which keeps an area that is not visited in a quiet minute exact.
//!
//! Thresholds follow from a budget of false warnings per area-year, not from a
//! scenario: with `N` posts a year and `K` statistics sharing the budget `B`, each
//! may raise a false alarm once in `ARL₀ = K·N/B` posts. For a CUSUM of
//! log-likelihood ratios Siegmund's approximation gives `ARL₀ ≈ eʰ / I₀`, with
//! `I₀` the Kullback–Leibler divergence of the alternative from the null per post,
//! so `h = ln(ARL₀ · I₀)` (never below [`MIN_THRESHOLD`]).
//!
//! Each run is also judged again, as a whole, against the share expected at the
//! minute it is judged, and counts for no more than that: when the share rises
//! everywhere at once (a national wave, whose first minutes look local because the
//! other areas' figures lag), the evidence the wave explains is taken back.
//!
//! Distinct authors: within a run (from the statistic leaving zero to its return),
//! each author's tense posts count at most `max_per_author` times; further ones
//! count neither for nor against. One angry account or a bot cannot warn an area.

use serde::{Deserialize, Serialize};

use crate::pseudonym::Pseudonym;

/// The rise factors of the statistics: how many times the expected tense share
/// each one looks for. 8× finds a sudden fight in minutes, 2× a slow burn.
pub const RISE_FACTORS: [f64; 4] = [1.5, 2.5, 4.0, 8.0];

/// The highest tense share an alternative assumes: beyond it one non-tense post
/// would weigh more than the evidence of several tense ones.
const MAX_ALTERNATIVE_SHARE: f64 = 0.9;

/// The lowest threshold, in units of log-likelihood: some three tense posts of
/// the largest factor, whatever the budget and volume.
pub const MIN_THRESHOLD: f64 = 6.0;

/// Most authors a run remembers; further authors count as new (a run that has
/// heard from this many people is no longer a matter of one account).
const MAX_AUTHORS_KEPT: usize = 512;

/// Fewest posts a year an area is held to: a village's budget is not spent on a
/// handful of posts.
const MIN_POSTS_PER_YEAR: f64 = 8_760.0;

/// Hours in a year.
const HOURS_PER_YEAR: f64 = 8_766.0;

/// The tense posts of one closed minute, by author.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenseBy {
    /// The author's pseudonym; `None` counts as an author of its own.
    pub author: Option<Pseudonym>,
    /// How many tense posts the author made in the minute.
    pub posts: u32,
}

/// The budget the thresholds follow from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// False warnings allowed per area and year.
    pub false_warnings_per_area_year: f64,
    /// Most tense posts one author adds to a run.
    pub max_per_author: u32,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            false_warnings_per_area_year: 1.0,
            max_per_author: 2,
        }
    }
}

/// The statistic that crossed, and what it rests on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Crossing {
    /// The rise factor of the statistic furthest over its threshold.
    pub rise_factor: f64,
    /// Its value (log-likelihood ratio).
    pub value: f64,
    /// Its threshold.
    pub threshold: f64,
    /// `value / threshold`: 1 or more has crossed.
    pub ratio: f64,
    /// The minute its run began: the change point it estimates.
    pub since: i64,
    /// Posts counted in the run.
    pub posts: u32,
    /// Tense posts counted in the run (after the cap per author).
    pub tense_posts: u32,
    /// Tense posts the expected share predicts for the run's posts.
    pub expected_tense: f64,
    /// Distinct authors of the run's tense posts.
    pub authors: u32,
}

/// One statistic's running sum and the run it belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Statistic {
    sum: f64,
    /// The first minute of the current run (`None` while the sum is zero).
    since: Option<i64>,
    posts: u32,
    tense_posts: u32,
    expected_tense: f64,
    /// Distinct authors of its tense posts.
    authors: u32,
}

/// What the run remembers of one author: the tense posts counted, and the last
/// minute one was.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct AuthorSeen {
    author: Pseudonym,
    counted: u32,
    last_minute: i64,
}

/// An area's accumulated evidence of a rise in its tense share.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Accumulator {
    statistics: [Statistic; RISE_FACTORS.len()],
    /// The authors of tense posts since the oldest run began, sorted by author.
    authors: Vec<AuthorSeen>,
    /// The strongest statistic as of the last minute taken in: judged with that
    /// minute's expected share, so that it changes only when posts come (an area
    /// not visited in a quiet minute misses nothing).
    strongest: Option<Crossing>,
}

/// The log-likelihood ratio of a tense and of a non-tense post, for a rise of
/// `rise_factor` over the expected share `expected_share`.
fn log_ratios(expected_share: f64, rise_factor: f64) -> (f64, f64) {
    let p0 = expected_share.clamp(1e-4, MAX_ALTERNATIVE_SHARE / 2.0);
    let p1 = (p0 * rise_factor).min(MAX_ALTERNATIVE_SHARE);
    ((p1 / p0).ln(), ((1.0 - p1) / (1.0 - p0)).ln())
}

/// The threshold of the statistic of `rise_factor` in an area of `posts_per_hour`
/// whose expected tense share is `expected_share`, under `budget` (see the module
/// documentation for the derivation).
pub fn threshold(
    expected_share: f64,
    rise_factor: f64,
    posts_per_hour: f64,
    budget: &Budget,
) -> f64 {
    let (tense, calm) = log_ratios(expected_share, rise_factor);
    let p0 = expected_share.clamp(1e-4, MAX_ALTERNATIVE_SHARE / 2.0);
    // The divergence of the alternative from the null, per post under the null.
    let divergence = -(p0 * tense + (1.0 - p0) * calm);
    let posts_per_year = (posts_per_hour * HOURS_PER_YEAR).max(MIN_POSTS_PER_YEAR);
    let per_statistic = budget.false_warnings_per_area_year.max(1e-6) / RISE_FACTORS.len() as f64;
    let run_length = posts_per_year / per_statistic;
    (run_length * divergence.max(1e-9)).ln().max(MIN_THRESHOLD)
}

impl Accumulator {
    /// Adds a closed minute: `posts` posts, of which the tense ones are `tense` by
    /// author, against the expected tense share `expected_share`, in an area of
    /// `posts_per_hour`.
    pub fn add_minute(
        &mut self,
        minute: i64,
        posts: u32,
        tense: &[TenseBy],
        (expected_share, posts_per_hour): (f64, f64),
        budget: &Budget,
    ) {
        if posts == 0 {
            return;
        }
        let mut counted_tense = 0u32;
        let mut dropped = 0u32;
        // Per author whose posts count: the last minute one counted before.
        let mut counted_before: Vec<Option<i64>> = Vec::with_capacity(tense.len());
        for by in tense {
            let (allowed, before) = self.allow(by, minute, budget.max_per_author);
            counted_tense += allowed;
            dropped += by.posts - allowed;
            // Posts without an author are each an author of their own.
            let authors = if by.author.is_some() {
                allowed.min(1)
            } else {
                allowed
            };
            counted_before.extend(std::iter::repeat_n(before, authors as usize));
        }
        // Posts beyond an author's cap count neither for nor against.
        let counted_posts = posts.saturating_sub(dropped).max(counted_tense);
        let calm_posts = counted_posts - counted_tense;
        for (statistic, &rise_factor) in self.statistics.iter_mut().zip(&RISE_FACTORS) {
            let (tense_llr, calm_llr) = log_ratios(expected_share, rise_factor);
            let step = f64::from(counted_tense) * tense_llr + f64::from(calm_posts) * calm_llr;
            let sum = statistic.sum + step;
            if sum <= 0.0 {
                *statistic = Statistic::default();
                continue;
            }
            let since = *statistic.since.get_or_insert(minute);
            // An author is new to this run unless counted since it began.
            statistic.authors += counted_before
                .iter()
                .filter(|before| before.is_none_or(|last| last < since))
                .count() as u32;
            statistic.sum = sum;
            statistic.posts += counted_posts;
            statistic.tense_posts += counted_tense;
            statistic.expected_tense += f64::from(counted_posts) * expected_share;
        }
        if self.statistics.iter().all(|s| s.since.is_none()) {
            self.forget_authors();
        }
        self.strongest = self.judge(expected_share, posts_per_hour, budget);
    }

    /// How many of `by`'s tense posts in `minute` count, and the last minute one
    /// of theirs counted before (`None`: never, or no author); records them.
    fn allow(&mut self, by: &TenseBy, minute: i64, cap: u32) -> (u32, Option<i64>) {
        let Some(author) = by.author else {
            return (by.posts, None);
        };
        match self
            .authors
            .binary_search_by_key(&author, |seen| seen.author)
        {
            Ok(index) => {
                let seen = &mut self.authors[index];
                let allowed = by.posts.min(cap.saturating_sub(seen.counted));
                let before = Some(seen.last_minute);
                if allowed > 0 {
                    seen.counted += allowed;
                    seen.last_minute = minute;
                }
                (allowed, before)
            }
            Err(index) => {
                let allowed = by.posts.min(cap);
                if self.authors.len() < MAX_AUTHORS_KEPT {
                    self.authors.insert(
                        index,
                        AuthorSeen {
                            author,
                            counted: allowed,
                            last_minute: minute,
                        },
                    );
                }
                (allowed, None)
            }
        }
    }

    fn forget_authors(&mut self) {
        self.authors.clear();
    }

    /// The statistic furthest over (or nearest to) its threshold as of the last
    /// minute taken in; `None` while every statistic is at zero.
    pub fn strongest(&self) -> Option<Crossing> {
        self.strongest
    }

    /// The statistic furthest over (or nearest to) its threshold, for an area of
    /// `posts_per_hour` with the expected share `expected_share`.
    fn judge(&self, expected_share: f64, posts_per_hour: f64, budget: &Budget) -> Option<Crossing> {
        self.statistics
            .iter()
            .zip(&RISE_FACTORS)
            .filter_map(|(statistic, &rise_factor)| {
                let since = statistic.since?;
                let threshold = threshold(expected_share, rise_factor, posts_per_hour, budget);
                // The run judged again against what is expected now: a share that
                // rose everywhere while the run went on (a national wave whose
                // first minutes looked local) takes back what it explains.
                let (tense, calm) = log_ratios(expected_share, rise_factor);
                let calm_posts = statistic.posts.saturating_sub(statistic.tense_posts);
                let rejudged =
                    f64::from(statistic.tense_posts) * tense + f64::from(calm_posts) * calm;
                let value = statistic.sum.min(rejudged).max(0.0);
                Some(Crossing {
                    rise_factor,
                    value,
                    threshold,
                    ratio: value / threshold,
                    since,
                    posts: statistic.posts,
                    tense_posts: statistic.tense_posts,
                    expected_tense: statistic.expected_tense,
                    authors: statistic.authors,
                })
            })
            .max_by(|a, b| a.ratio.total_cmp(&b.ratio))
    }

    /// Whether some statistic is past half its threshold: the area's baseline
    /// should not learn a rise that may be the incident itself.
    pub fn is_building(&self) -> bool {
        self.strongest.is_some_and(|crossing| crossing.ratio >= 0.5)
    }

    /// Starts afresh after an alarm: the evidence it rested on is spent.
    pub fn reset(&mut self) {
        *self = Accumulator::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author(n: u64) -> Option<Pseudonym> {
        let pseudonymiser = crate::pseudonym::Pseudonymiser::new(&[7; 32]).expect("a long key");
        Some(pseudonymiser.pseudonym(&n.to_string()))
    }

    fn authors(range: std::ops::Range<u64>) -> Vec<TenseBy> {
        range
            .map(|n| TenseBy {
                author: author(n),
                posts: 1,
            })
            .collect()
    }

    #[test]
    fn the_threshold_grows_with_volume_and_a_tighter_budget() {
        let budget = Budget::default();
        let village = threshold(0.05, 8.0, 2.0, &budget);
        let city = threshold(0.05, 8.0, 300.0, &budget);
        assert!(city > village + 4.0, "{village} {city}");
        let strict = Budget {
            false_warnings_per_area_year: 0.1,
            ..budget
        };
        let stricter = threshold(0.05, 8.0, 300.0, &strict);
        assert!((stricter - city - 10f64.ln()).abs() < 1e-9);
        assert!(threshold(0.05, 2.0, 0.0, &budget) >= MIN_THRESHOLD);
    }

    #[test]
    fn calm_minutes_at_the_expected_share_keep_the_statistics_at_zero() {
        let budget = Budget::default();
        let mut accumulator = Accumulator::default();
        for minute in 0..10_000 {
            // One post a minute, one in twenty tense: exactly the expected share.
            let tense = if minute % 20 == 0 {
                authors(minute as u64..minute as u64 + 1)
            } else {
                vec![]
            };
            accumulator.add_minute(minute, 1, &tense, (0.05, 60.0), &budget);
        }
        let strongest = accumulator.strongest();
        assert!(strongest.is_none_or(|c| c.ratio < 0.5), "{strongest:?}");
    }

    #[test]
    fn tense_posts_from_many_people_cross_one_account_does_not() {
        let budget = Budget::default();
        let mut many = Accumulator::default();
        let mut one = Accumulator::default();
        for minute in 0..30 {
            let n = minute as u64;
            many.add_minute(minute, 2, &authors(n..n + 1), (0.05, 5.0), &budget);
            one.add_minute(
                minute,
                2,
                &[TenseBy {
                    author: author(7),
                    posts: 1,
                }],
                (0.05, 5.0),
                &budget,
            );
        }
        let many = many.strongest().expect("evidence");
        assert!(many.ratio >= 1.0, "{many:?}");
        assert_eq!(many.authors, 30);
        assert!(many.since <= 2, "the run began with the first tense posts");
        let one = one.strongest();
        assert!(one.is_none_or(|c| c.ratio < 1.0), "{one:?}");
    }

    #[test]
    fn a_slow_rise_crosses_on_the_smallest_factor() {
        let budget = Budget::default();
        let mut accumulator = Accumulator::default();
        let mut crossed = None;
        // A town of 20 posts an hour (one every third minute) whose share goes
        // from 5% to 14% (every seventh post tense).
        for minute in 0..(24 * 60) {
            if minute % 3 != 0 {
                continue;
            }
            let tense = if (minute / 3) % 7 == 0 {
                authors(minute as u64..minute as u64 + 1)
            } else {
                vec![]
            };
            accumulator.add_minute(minute, 1, &tense, (0.05, 20.0), &budget);
            if let Some(c) = accumulator.strongest().filter(|c| c.ratio >= 1.0) {
                crossed = Some((minute, c));
                break;
            }
        }
        let (minute, crossing) = crossed.expect("a tripled share crosses within a day");
        assert!(minute < 12 * 60, "crossed after {minute} minutes");
        assert!(crossing.rise_factor <= 4.0, "{crossing:?}");
    }

    #[test]
    fn reset_spends_the_evidence() {
        let budget = Budget::default();
        let mut accumulator = Accumulator::default();
        accumulator.add_minute(0, 10, &authors(0..10), (0.05, 5.0), &budget);
        assert!(accumulator.is_building());
        accumulator.reset();
        assert_eq!(accumulator.strongest(), None);
        assert_eq!(accumulator, Accumulator::default());
    }
}
