//! Parity with numpy, scipy and scikit-learn for the speaker-aware statistics of
//! `report::significance`: the cluster bootstrap (each system's interval and the paired difference),
//! the paired sign-flip test by cluster, the minimum detectable difference and the normal quantile.
//! Reference values come from tools/cluster_bootstrap_reference.py (committed JSON,
//! tests/data/cluster_bootstrap_reference.json), on fixed cases with known speakers.

use serde_json::Value;
use sertool::report::significance::{
    interval, mdd, normal_quantile, paired_bootstrap, resample_metrics, sign_flip, Clusters, Items,
};
use sertool::rng::Rng;

fn reference() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cluster_bootstrap_reference.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

fn get<T: serde::de::DeserializeOwned>(case: &Value, field: &str) -> T {
    serde_json::from_value(case[field].clone()).unwrap_or_else(|e| panic!("case {}: field {field}: {e}", case["name"]))
}

fn close(name: &str, field: &str, got: f64, want: f64) {
    let tol = 1e-12 * want.abs().max(1.0);
    assert!((got - want).abs() <= tol, "case {name}: {field} = {got:e}, reference {want:e}");
}

fn clusters(case: &Value) -> Clusters {
    let keys: Vec<String> = get(case, "keys");
    Clusters::of(&keys.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn cluster_bootstrap_matches_numpy_and_sklearn() {
    let r = reference();
    let cases = r["cases"].as_array().expect("cases");
    assert!(cases.len() >= 5);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let truth: Vec<usize> = get(case, "truth");
        let (a, b): (Vec<Vec<usize>>, Vec<Vec<usize>>) = (get(case, "a"), get(case, "b"));
        let metric: String = get(case, "metric");
        let cl = clusters(case);
        let items = Items { truth: &truth, clusters: &cl, n_classes: get(case, "n_classes"), metric: &metric };
        let resamples: usize = get(case, "resamples");
        let confidence: f64 = get(case, "confidence");

        let first: Vec<usize> = get(case, "first_clusters");
        let mut rng = Rng::new(get(case, "seed"));
        let drawn: Vec<usize> = (0..first.len()).map(|_| rng.below(cl.len() as u64) as usize).collect();
        assert_eq!(drawn, first, "case {name}: first clusters drawn");

        let mut rng = Rng::new(get(case, "seed"));
        let res = resample_metrics(&items, &[&a, &b], resamples, &mut rng);
        for (k, field) in [(0, "a_interval"), (1, "b_interval")] {
            let want: [f64; 2] = get(case, field);
            let got = interval(&res, k, confidence);
            close(name, field, got.0, want[0]);
            close(name, field, got.1, want[1]);
        }
        let boot = paired_bootstrap(&res, 0, 1, confidence);
        let want: [f64; 2] = get(case, "delta_interval");
        close(name, "delta", boot.delta, get(case, "delta"));
        close(name, "delta ci_low", boot.ci_low, want[0]);
        close(name, "delta ci_high", boot.ci_high, want[1]);
        close(name, "bootstrap p", boot.p, get(case, "bootstrap_p"));
    }
}

#[test]
fn sign_flip_by_speaker_matches_numpy_and_sklearn() {
    let r = reference();
    for case in r["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().unwrap();
        let truth: Vec<usize> = get(case, "truth");
        let metric: String = get(case, "metric");
        let cl = clusters(case);
        let items = Items { truth: &truth, clusters: &cl, n_classes: get(case, "n_classes"), metric: &metric };
        let (a, b): (Vec<usize>, Vec<usize>) = (get(case, "a_ensemble"), get(case, "b_ensemble"));
        let resamples: usize = get(case, "resamples");
        let mut rng = Rng::new(get(case, "flip_seed"));
        let f = sign_flip(&items, &a, &b, resamples, &mut rng);
        close(name, "flip delta", f.delta, get(case, "flip_delta"));
        close(name, "flip p", f.p, get(case, "flip_p"));
        // Add-one smoothing: never 0, and 1 when the systems agree everywhere.
        assert!(f.p > 0.0 && f.p <= 1.0);
        if name == "identical" {
            assert_eq!(f.p, 1.0);
        }
    }
}

#[test]
fn minimum_detectable_difference_matches_scipy() {
    let r = reference();
    let cases = r["mdd"].as_array().expect("mdd cases");
    assert!(cases.len() >= 5);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (correct, cl): (Vec<bool>, Clusters) = match case.get("alternating") {
            Some(n) => {
                let n = n.as_u64().unwrap() as usize;
                ((0..n).map(|i| i % 2 == 0).collect(), Clusters::items(n))
            }
            None => (get(case, "correct"), clusters(case)),
        };
        let m = mdd(&correct, &cl, get(case, "alpha"), get(case, "power")).expect("an MDD");
        assert_eq!(m.n, get::<usize>(case, "n"), "case {name}");
        assert_eq!(m.clusters, get::<usize>(case, "clusters"), "case {name}");
        for (field, got) in [
            ("p", m.p),
            ("icc", m.icc),
            ("design_effect", m.design_effect),
            ("n_effective", m.n_effective),
            ("mdd", m.mdd),
        ] {
            close(name, field, got, get(case, field));
        }
    }
    // The quoted figure: 5,000 clips separate two systems only by about 2.8 points.
    let five = cases.iter().find(|c| c["name"] == "five_thousand").unwrap();
    let v: f64 = get(five, "mdd");
    assert!((0.025..0.03).contains(&v), "{v}");
}

#[test]
fn normal_quantile_matches_scipy() {
    let r = reference();
    for q in r["quantiles"].as_array().expect("quantiles") {
        let (p, z): (f64, f64) = (get(q, "q"), get(q, "z"));
        let got = normal_quantile(p);
        assert!((got - z).abs() <= 1e-12, "ppf({p}) = {got}, scipy {z}");
    }
}

#[test]
fn clusters_group_keys_in_order() {
    let c = Clusters::of(&["b", "a", "b", "c", "a"]);
    assert_eq!(c.members, vec![vec![1, 4], vec![0, 2], vec![3]]);
    assert_eq!(Clusters::items(3).members, vec![vec![0], vec![1], vec![2]]);
}
