//! Parity with scipy, numpy and scikit-learn for `report::significance`: McNemar's exact p-value
//! (scipy.stats.binomtest), its χ² with continuity correction (scipy.stats.chi2.sf), and the paired
//! bootstrap of a seed-averaged metric (scikit-learn metrics on resamples drawn with sertool's own
//! SplitMix64, replicated in Python; numpy.percentile for the interval). Reference values come from
//! tools/significance_reference.py (committed JSON, tests/data/significance_reference.json).

use serde_json::Value;
use sertool::report::significance::{mcnemar, mcnemar_counts, paired_bootstrap, resample_metrics, Clusters, Items};
use sertool::rng::Rng;

fn reference() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/significance_reference.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

fn get<T: serde::de::DeserializeOwned>(case: &Value, field: &str) -> T {
    serde_json::from_value(case[field].clone()).unwrap_or_else(|e| panic!("case {}: field {field}: {e}", case["name"]))
}

/// Within 1e-12, relative to the larger magnitude where that exceeds 1.
fn close(name: &str, field: &str, got: f64, want: f64) {
    let tol = 1e-12 * want.abs().max(1.0);
    assert!((got - want).abs() <= tol, "case {name}: {field} = {got:e}, reference {want:e}");
}

#[test]
fn generator_is_the_one_the_script_replicates() {
    let r = reference();
    let seed: u64 = get(&r["rng_check"], "seed");
    let want: Vec<u64> = get(&r["rng_check"], "first");
    let mut rng = Rng::new(seed);
    let got: Vec<u64> = (0..want.len()).map(|_| rng.next_u64()).collect();
    assert_eq!(got, want);
}

#[test]
fn mcnemar_matches_scipy() {
    let r = reference();
    let cases = r["mcnemar"].as_array().expect("mcnemar cases");
    assert!(cases.len() >= 8);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (b, c): (u64, u64) = (get(case, "b"), get(case, "c"));
        // Through the correctness vectors, with concordant pairs mixed in, as the report calls it.
        let mut sys = vec![true; b as usize];
        let mut refr = vec![false; b as usize];
        sys.extend(vec![false; c as usize]);
        refr.extend(vec![true; c as usize]);
        sys.extend([true, true, false]);
        refr.extend([true, true, false]);
        let t = mcnemar(&sys, &refr);
        assert_eq!((t.b, t.c), (b, c), "case {name}");
        assert_eq!(t, mcnemar_counts(b, c));
        // Exact p-values span 30 orders of magnitude: compare them relative to their size.
        let want: f64 = get(case, "p_exact");
        assert!((t.p_exact - want).abs() <= 1e-12 * want, "case {name}: p_exact = {:e}, scipy {want:e}", t.p_exact);
        close(name, "chi2", t.chi2, get(case, "chi2"));
        let want: f64 = get(case, "p_chi2");
        assert!((t.p_chi2 - want).abs() <= 1e-12 * want, "case {name}: p_chi2 = {:e}, scipy {want:e}", t.p_chi2);
    }
}

#[test]
fn paired_bootstrap_matches_numpy_and_sklearn() {
    let r = reference();
    let cases = r["bootstrap"].as_array().expect("bootstrap cases");
    assert!(cases.len() >= 6);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let truth: Vec<usize> = get(case, "truth");
        let a: Vec<Vec<usize>> = get(case, "a");
        let b: Vec<Vec<usize>> = get(case, "b");
        let metric: String = get(case, "metric");
        let n_classes: usize = get(case, "n_classes");
        let resamples: usize = get(case, "resamples");
        let confidence: f64 = get(case, "confidence");

        let first: Vec<usize> = get(case, "first_indices");
        let mut rng = Rng::new(get(case, "seed"));
        let drawn: Vec<usize> = (0..first.len()).map(|_| rng.below(truth.len() as u64) as usize).collect();
        assert_eq!(drawn, first, "case {name}: first resample indices");

        let mut rng = Rng::new(get(case, "seed"));
        let clusters = Clusters::items(truth.len());
        let items = Items { truth: &truth, clusters: &clusters, n_classes, metric: &metric };
        let res = resample_metrics(&items, &[&a, &b], resamples, &mut rng);
        let boot = paired_bootstrap(&res, 0, 1, confidence);
        assert_eq!(boot.resamples, resamples);
        close(name, "delta", boot.delta, get(case, "delta"));
        close(name, "ci_low", boot.ci_low, get(case, "ci_low"));
        close(name, "ci_high", boot.ci_high, get(case, "ci_high"));
        close(name, "p", boot.p, get(case, "p"));
    }
}
