//! The statistics behind the rules: how surprising a window is against its baseline,
//! with the uncertainty that small counts carry.
//!
//! Low-volume areas are where false alarms come from, so every measure here takes
//! the evidence into account: counts (posts, and tense posts against the number the
//! expected share predicts) are compared on a variance-stabilised scale that stays
//! honest for small and skewed counts, and an area's own share is shrunk toward the
//! global one until it has enough posts of its own.

/// How many standard deviations `observed` lies above a Poisson `expected`, on
/// Anscombe's variance-stabilised scale (`2·(√(x+3/8) − √(λ+3/8))`), which stays
/// honest for the small counts of a village where the plain `(x−λ)/√λ` explodes.
pub fn count_excess_z(observed: f64, expected: f64) -> f64 {
    let observed = observed.max(0.0);
    let expected = expected.max(0.0);
    2.0 * ((observed + 0.375).sqrt() - (expected + 0.375).sqrt())
}

/// An area's share shrunk toward `prior`: `(successes + weight·prior) / (trials + weight)`.
/// With few posts of its own an area looks like the whole country; with many, like
/// itself.
pub fn shrunk_share(successes: f64, trials: f64, prior: f64, weight: f64) -> f64 {
    let denominator = trials.max(0.0) + weight.max(0.0);
    if denominator == 0.0 {
        return prior;
    }
    (successes.max(0.0) + weight.max(0.0) * prior) / denominator
}

/// An exponentially weighted mean that forgets with a given half-life (in updates).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ewma {
    mean: f64,
    updates: u32,
    keep: f64,
}

impl Ewma {
    /// A mean that halves the weight of an observation every `half_life` updates.
    pub fn with_half_life(half_life: f64) -> Ewma {
        Ewma {
            mean: 0.0,
            updates: 0,
            keep: 0.5f64.powf(1.0 / half_life.max(1.0)),
        }
    }

    /// Adds an observation. The first observations are averaged plainly, so an early
    /// value does not dominate for a half-life.
    pub fn update(&mut self, value: f64) {
        self.updates = self.updates.saturating_add(1);
        let plain = 1.0 / f64::from(self.updates);
        let weight = plain.max(1.0 - self.keep);
        self.mean += weight * (value - self.mean);
    }

    /// The mean so far (0 before any update).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// How many observations it has seen.
    pub fn updates(&self) -> u32 {
        self.updates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_excess_is_zero_at_expectation_and_grows_with_the_excess() {
        assert!(count_excess_z(35.0, 35.0).abs() < 1e-12);
        assert!(count_excess_z(70.0, 35.0) > 4.5);
        assert!(count_excess_z(10.0, 35.0) < -4.0);
    }

    #[test]
    fn a_village_doubling_its_three_posts_is_not_an_outlier() {
        // 3 posts an hour expected, 6 seen: the plain z would be 1.7, this is ~1.4;
        // neither clears any sensible threshold.
        assert!(count_excess_z(6.0, 3.0) < 2.0);
        // A city doubling 300 posts is far out.
        assert!(count_excess_z(600.0, 300.0) > 10.0);
    }

    #[test]
    fn tense_posts_need_more_than_a_normal_approximation_would() {
        // 6 tense posts where 1.5 are expected (a city's quiet quarter hour at 2%):
        // the normal approximation of the share says 3.7 standard errors, the
        // stabilised count says 2.3 — a fluctuation, not an incident.
        assert!(count_excess_z(6.0, 1.5) < 2.5);
        // 30 where 1.5 are expected is one.
        assert!(count_excess_z(30.0, 1.5) > 8.0);
    }

    #[test]
    fn shrinkage_moves_from_the_prior_to_the_area_with_evidence() {
        assert_eq!(shrunk_share(0.0, 0.0, 0.04, 50.0), 0.04);
        assert!((shrunk_share(5.0, 10.0, 0.04, 50.0) - (5.0 + 2.0) / 60.0).abs() < 1e-12);
        assert!((shrunk_share(500.0, 1000.0, 0.04, 50.0) - 0.478).abs() < 0.01);
        assert_eq!(shrunk_share(0.0, 0.0, 0.04, 0.0), 0.04);
    }

    #[test]
    fn ewma_starts_as_a_plain_mean_then_forgets_by_half_life() {
        let mut mean = Ewma::with_half_life(7.0);
        mean.update(10.0);
        assert_eq!(mean.mean(), 10.0);
        mean.update(20.0);
        assert_eq!(mean.mean(), 15.0);
        for _ in 0..200 {
            mean.update(100.0);
        }
        assert!((mean.mean() - 100.0).abs() < 1e-6);
        assert_eq!(mean.updates(), 202);
        // After a long run, one update moves the mean by 1 - 0.5^(1/7) of the gap.
        let before = mean.mean();
        mean.update(0.0);
        let moved = (before - mean.mean()) / before;
        assert!((moved - (1.0 - 0.5f64.powf(1.0 / 7.0))).abs() < 1e-9);
    }
}
