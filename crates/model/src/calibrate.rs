//! Calibration: turning raw logits into probabilities that mean what they say.
//!
//! Tension uses Platt scaling, a one-feature logistic regression of the outcome on
//! the raw logit, fitted with linfa (a dense, tiny problem: exactly what linfa's
//! logistic regression is for). Sentiment uses temperature scaling: one divisor for
//! all three logits, chosen to minimise the log loss on held-out posts.

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};

use crate::model::softmax;

/// Platt scaling: `(slope, intercept)` with `P = sigmoid(slope * logit + intercept)`.
/// Returns `None` when both classes are not present or the fit fails.
pub fn platt(logits: &[f32], outcomes: &[bool]) -> Option<(f32, f32)> {
    let has_both = outcomes.iter().any(|y| *y) && outcomes.iter().any(|y| !*y);
    if !has_both || logits.len() != outcomes.len() {
        return None;
    }
    let records = Array2::from_shape_fn((logits.len(), 1), |(i, _)| f64::from(logits[i]));
    let targets = Array1::from_iter(outcomes.iter().copied());
    let fitted = LogisticRegression::default()
        .alpha(1e-4)
        .max_iterations(200)
        .fit(&Dataset::new(records, targets))
        .ok()?;
    let slope = *fitted.params().get(0)?;
    let intercept = fitted.intercept();
    // linfa's "positive" class is the more frequent one: flip when that is `false`.
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    let (slope, intercept) = ((sign * slope) as f32, (sign * intercept) as f32);
    (slope.is_finite() && intercept.is_finite() && slope > 0.0).then_some((slope, intercept))
}

/// Temperature in [0.05, 20] that minimises the mean log loss of
/// `softmax(logits / T)`; golden-section search on log T (the loss is unimodal in T).
pub fn temperature(logits: &[[f32; 3]], classes: &[usize]) -> f32 {
    if logits.is_empty() {
        return 1.0;
    }
    let loss = |log_t: f64| {
        let t = log_t.exp() as f32;
        logits
            .iter()
            .zip(classes)
            .map(|(z, &c)| {
                let p = softmax(z.map(|x| x / t));
                -f64::from(p[c.min(2)].max(1e-12)).ln()
            })
            .sum::<f64>()
    };
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut lo, mut hi) = (0.05f64.ln(), 20f64.ln());
    let mut a = hi - ratio * (hi - lo);
    let mut b = lo + ratio * (hi - lo);
    let (mut fa, mut fb) = (loss(a), loss(b));
    for _ in 0..60 {
        if fa < fb {
            hi = b;
            b = a;
            fb = fa;
            a = hi - ratio * (hi - lo);
            fa = loss(a);
        } else {
            lo = a;
            a = b;
            fa = fb;
            b = lo + ratio * (hi - lo);
            fb = loss(b);
        }
    }
    (((lo + hi) / 2.0).exp()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sigmoid;

    #[test]
    fn platt_recovers_a_known_scaling() {
        // Outcomes drawn so that P(y | z) = sigmoid(0.5 z - 1).
        let mut rng = fastrand::Rng::with_seed(7);
        let logits: Vec<f32> = (0..4000).map(|_| rng.f32() * 16.0 - 8.0).collect();
        let outcomes: Vec<bool> = logits
            .iter()
            .map(|z| rng.f32() < sigmoid(0.5 * z - 1.0))
            .collect();
        let (slope, intercept) = platt(&logits, &outcomes).expect("fit");
        assert!((slope - 0.5).abs() < 0.08, "slope {slope}");
        assert!((intercept + 1.0).abs() < 0.15, "intercept {intercept}");
    }

    #[test]
    fn platt_handles_a_minority_positive_class() {
        let logits = [-3.0, -2.0, -2.5, -1.0, 2.0, -2.2, -1.5, 1.5, -3.0, -2.8];
        let outcomes = [
            false, false, false, false, true, false, false, true, false, false,
        ];
        let (slope, _) = platt(&logits, &outcomes).expect("fit");
        assert!(slope > 0.0);
    }

    #[test]
    fn platt_needs_both_classes() {
        assert_eq!(platt(&[1.0, 2.0], &[true, true]), None);
    }

    #[test]
    fn temperature_softens_overconfident_logits() {
        // Logits say 99.99% but the top class is right only 60% of the time.
        let mut logits = Vec::new();
        let mut classes = Vec::new();
        for i in 0..100 {
            logits.push([10.0, 0.0, 0.0]);
            classes.push(if i % 5 < 3 { 0 } else { 1 + i % 2 });
        }
        let t = temperature(&logits, &classes);
        assert!(t > 3.0, "temperature {t}");
        let p = softmax(logits[0].map(|x| x / t));
        assert!((p[0] - 0.6).abs() < 0.02, "{p:?}");
    }
}
