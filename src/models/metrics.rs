//! Classification metrics with scikit-learn's definitions: UAR = balanced accuracy = macro recall over
//! the classes present in the truth; macro-F1 averages F1 over the classes present in truth or
//! predictions (a class absent from both is left out).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Metrics {
    pub n: usize,
    pub uar: f64,
    pub wa: f64,
    pub macro_f1: f64,
    pub micro_f1: f64,
    /// Recall per class (NaN-free: a class absent from the truth has recall 0 and is excluded from UAR).
    pub per_class_recall: Vec<f64>,
    /// confusion[true][predicted]
    pub confusion: Vec<Vec<u64>>,
}

pub fn confusion(truth: &[usize], pred: &[usize], n_classes: usize) -> Vec<Vec<u64>> {
    let mut m = vec![vec![0u64; n_classes]; n_classes];
    for (&t, &p) in truth.iter().zip(pred) {
        m[t][p] += 1;
    }
    m
}

pub fn compute(truth: &[usize], pred: &[usize], n_classes: usize) -> Metrics {
    assert_eq!(truth.len(), pred.len());
    from_confusion(confusion(truth, pred, n_classes))
}

/// Every metric from a confusion matrix (confusion[true][predicted]).
pub fn from_confusion(cm: Vec<Vec<u64>>) -> Metrics {
    let n_classes = cm.len();
    let n = cm.iter().flatten().sum::<u64>() as usize;
    let correct: u64 = (0..n_classes).map(|c| cm[c][c]).sum();
    let support: Vec<u64> = cm.iter().map(|r| r.iter().sum()).collect();
    let predicted: Vec<u64> = (0..n_classes).map(|c| cm.iter().map(|r| r[c]).sum()).collect();
    let recall: Vec<f64> =
        (0..n_classes).map(|c| if support[c] > 0 { cm[c][c] as f64 / support[c] as f64 } else { 0.0 }).collect();
    let present: Vec<usize> = (0..n_classes).filter(|&c| support[c] > 0).collect();
    let uar =
        if present.is_empty() { 0.0 } else { present.iter().map(|&c| recall[c]).sum::<f64>() / present.len() as f64 };
    let labels: Vec<usize> = (0..n_classes).filter(|&c| support[c] > 0 || predicted[c] > 0).collect();
    let f1 = |c: usize| {
        let tp = cm[c][c] as f64;
        let denom = support[c] as f64 + predicted[c] as f64;
        if denom > 0.0 {
            2.0 * tp / denom
        } else {
            0.0
        }
    };
    let macro_f1 =
        if labels.is_empty() { 0.0 } else { labels.iter().map(|&c| f1(c)).sum::<f64>() / labels.len() as f64 };
    let wa = if n > 0 { correct as f64 / n as f64 } else { 0.0 };
    Metrics { n, uar, wa, macro_f1, micro_f1: wa, per_class_recall: recall, confusion: cm }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_checked_case_with_missing_classes() {
        // truth has classes 0,1,2; class 3 absent from truth but predicted once.
        let truth = [0, 0, 1, 1, 2, 2];
        let pred = [0, 1, 1, 1, 3, 2];
        let m = compute(&truth, &pred, 4);
        assert!((m.uar - (0.5 + 1.0 + 0.5) / 3.0).abs() < 1e-12);
        assert!((m.wa - 4.0 / 6.0).abs() < 1e-12);
        // F1: c0 = 2·1/(2+1) = 2/3, c1 = 2·2/(2+3) = 0.8, c2 = 2·1/(2+1) = 2/3, c3 = 0.
        assert!((m.macro_f1 - (2.0 / 3.0 + 0.8 + 2.0 / 3.0) / 4.0).abs() < 1e-12);
        assert_eq!(m.confusion[2][3], 1);
    }
}
