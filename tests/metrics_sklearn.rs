//! Parity with scikit-learn for `train::metrics::compute`: UAR (balanced_accuracy_score), WA
//! (accuracy_score), macro-F1 (f1_score, average="macro", zero_division=0, over the labels present in
//! truth or predictions), micro-F1, per-class recall and the confusion matrix, on a random case, classes
//! absent from the predictions, from the truth and from both, perfect and all-one-class predictions.
//! Reference values come from tools/sklearn_metrics_reference.py (committed JSON,
//! tests/data/sklearn_metrics.json); floats must agree within 1e-12, confusion matrices exactly.

use serde_json::Value;
use sertool::models::metrics::compute;

const TOL: f64 = 1e-12;

fn reference() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sklearn_metrics.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

fn get<T: serde::de::DeserializeOwned>(case: &Value, field: &str) -> T {
    serde_json::from_value(case[field].clone()).unwrap_or_else(|e| panic!("case {}: field {field}: {e}", case["name"]))
}

fn check(name: &str, field: &str, got: f64, want: f64) {
    assert!((got - want).abs() <= TOL, "case {name}: {field} = {got}, sklearn says {want}");
}

#[test]
fn metrics_match_sklearn() {
    let reference = reference();
    let cases = reference["cases"].as_array().expect("cases array");
    assert!(cases.len() >= 6, "expected at least 6 cases, found {}", cases.len());
    for case in cases {
        let name = case["name"].as_str().expect("case name");
        let n_classes = case["n_classes"].as_u64().expect("n_classes") as usize;
        let truth: Vec<usize> = get(case, "truth");
        let pred: Vec<usize> = get(case, "pred");
        let m = compute(&truth, &pred, n_classes);

        assert_eq!(m.n, truth.len(), "case {name}: n");
        let scalars = [("uar", m.uar), ("wa", m.wa), ("macro_f1", m.macro_f1), ("micro_f1", m.micro_f1)];
        for (field, got) in scalars {
            check(name, field, got, get(case, field));
        }

        let recall: Vec<f64> = get(case, "per_class_recall");
        assert_eq!(m.per_class_recall.len(), recall.len(), "case {name}: per_class_recall length");
        for (c, (&got, &want)) in m.per_class_recall.iter().zip(&recall).enumerate() {
            check(name, &format!("per_class_recall[{c}]"), got, want);
        }

        let confusion: Vec<Vec<u64>> = get(case, "confusion");
        assert_eq!(m.confusion, confusion, "case {name}: confusion");
    }
}
