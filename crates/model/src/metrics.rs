//! Classification and calibration metrics, as `onrust eval` prints them.

use std::collections::BTreeMap;

use serde::Serialize;

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClassReport {
    /// Of the posts predicted as this class, the share that are.
    pub precision: f64,
    /// Of the posts of this class, the share predicted as it.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Posts of this class.
    pub support: usize,
}

/// Metrics of one task over a labelled set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskReport {
    /// Labelled examples.
    pub examples: usize,
    /// Share predicted correctly.
    pub accuracy: f64,
    /// Unweighted mean of the classes' F1.
    pub macro_f1: f64,
    /// Unweighted mean of the classes' recall (TweetEval's sentiment measure).
    pub macro_recall: f64,
    /// Per class, by name.
    pub classes: BTreeMap<String, ClassReport>,
}

/// Computes the report for predicted vs true class indices.
pub fn classification_report(
    truth: &[usize],
    predicted: &[usize],
    class_names: &[&str],
) -> TaskReport {
    let k = class_names.len();
    let mut confusion = vec![vec![0usize; k]; k];
    for (&t, &p) in truth.iter().zip(predicted) {
        if t < k && p < k {
            confusion[t][p] += 1;
        }
    }
    let examples = truth.len().min(predicted.len());
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    let mut classes = BTreeMap::new();
    for (c, name) in class_names.iter().enumerate() {
        let tp = confusion[c][c] as f64;
        let predicted_c: usize = (0..k).map(|t| confusion[t][c]).sum();
        let support: usize = confusion[c].iter().sum();
        let precision = ratio(tp, predicted_c as f64);
        let recall = ratio(tp, support as f64);
        let f1 = ratio(2.0 * precision * recall, precision + recall);
        classes.insert(
            name.to_string(),
            ClassReport {
                precision,
                recall,
                f1,
                support,
            },
        );
    }
    let mean = |f: fn(&ClassReport) -> f64| classes.values().map(f).sum::<f64>() / k.max(1) as f64;
    TaskReport {
        examples,
        accuracy: ratio(correct as f64, examples as f64),
        macro_f1: mean(|c| c.f1),
        macro_recall: mean(|c| c.recall),
        classes,
    }
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator == 0.0 {
        0.0
    } else {
        numerator / denominator
    }
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CalibrationBin {
    /// Lower edge of predicted probability.
    pub lower: f64,
    /// Upper edge.
    pub upper: f64,
    /// Posts in the bin.
    pub count: usize,
    /// Their mean predicted probability.
    pub mean_predicted: f64,
    /// The share of them that are positive.
    pub observed: f64,
}

/// How well predicted probabilities match observed frequencies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationReport {
    /// Expected calibration error: the count-weighted mean |predicted − observed|.
    pub ece: f64,
    /// Mean squared error of the probabilities.
    pub brier: f64,
    /// The reliability diagram (empty bins left out).
    pub bins: Vec<CalibrationBin>,
}

/// Calibration of probabilities against binary outcomes, over `bins` equal-width bins.
pub fn calibration_report(
    probabilities: &[f32],
    outcomes: &[bool],
    bins: usize,
) -> CalibrationReport {
    let bins = bins.max(1);
    let mut sums = vec![(0usize, 0f64, 0f64); bins];
    let mut brier = 0f64;
    for (&p, &y) in probabilities.iter().zip(outcomes) {
        let p = f64::from(p).clamp(0.0, 1.0);
        let y = if y { 1.0 } else { 0.0 };
        let bin = ((p * bins as f64) as usize).min(bins - 1);
        sums[bin].0 += 1;
        sums[bin].1 += p;
        sums[bin].2 += y;
        brier += (p - y) * (p - y);
    }
    let total = probabilities.len().min(outcomes.len());
    let mut ece = 0f64;
    let mut report_bins = Vec::new();
    for (i, (count, predicted, observed)) in sums.into_iter().enumerate() {
        if count == 0 {
            continue;
        }
        let mean_predicted = predicted / count as f64;
        let observed = observed / count as f64;
        ece += (mean_predicted - observed).abs() * count as f64;
        report_bins.push(CalibrationBin {
            lower: i as f64 / bins as f64,
            upper: (i + 1) as f64 / bins as f64,
            count,
            mean_predicted,
            observed,
        });
    }
    CalibrationReport {
        ece: ratio(ece, total as f64),
        brier: ratio(brier, total as f64),
        bins: report_bins,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_matches_hand_computation() {
        // truth:     a a a b b c
        // predicted: a a b b c c
        let report =
            classification_report(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], &["a", "b", "c"]);
        assert_eq!(report.examples, 6);
        assert!((report.accuracy - 4.0 / 6.0).abs() < 1e-12);
        let a = report.classes["a"];
        assert_eq!((a.precision, a.support), (1.0, 3));
        assert!((a.recall - 2.0 / 3.0).abs() < 1e-12);
        let b = report.classes["b"];
        assert_eq!((b.precision, b.recall), (0.5, 0.5));
        let c = report.classes["c"];
        assert_eq!((c.precision, c.recall), (0.5, 1.0));
        let f1s = [0.8, 0.5, 2.0 / 3.0];
        assert!((report.macro_f1 - f1s.iter().sum::<f64>() / 3.0).abs() < 1e-12);
        assert!((report.macro_recall - (2.0 / 3.0 + 0.5 + 1.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn class_never_predicted_has_zero_precision_not_nan() {
        let report = classification_report(&[0, 1], &[0, 0], &["a", "b"]);
        assert_eq!(report.classes["b"].precision, 0.0);
        assert_eq!(report.classes["b"].f1, 0.0);
    }

    #[test]
    fn perfectly_calibrated_bins_have_zero_error() {
        let probabilities = [0.25f32; 4]
            .iter()
            .chain(&[0.75f32; 4])
            .copied()
            .collect::<Vec<_>>();
        let outcomes = [true, false, false, false, true, true, true, false];
        let report = calibration_report(&probabilities, &outcomes, 10);
        assert!(report.ece.abs() < 1e-9, "{report:?}");
        assert_eq!(report.bins.len(), 2);
    }

    #[test]
    fn overconfident_predictions_show_error() {
        let report = calibration_report(&[0.95; 4], &[true, false, true, false], 10);
        assert!((report.ece - 0.45).abs() < 1e-6, "{report:?}");
        assert!((report.brier - (0.05f64.powi(2) + 0.95f64.powi(2)) / 2.0).abs() < 1e-6);
    }
}
