//! The domain-adaptation pieces against a numpy transcription (tools/uda_reference.py wrote
//! tests/data/uda_reference.json): multi-bandwidth MMD² and its gradient, the supervised-contrastive
//! loss with extra negatives and its gradient, and the adaptive threshold over a fixed sequence of
//! batches. Ours run in f32 on candle; the reference in f64.

use candle_core::{Device, Tensor, Var};
use serde_json::Value;
use sertool::models::nets::align::{mmd, supervised_contrastive, AdaptiveThreshold};

fn reference() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/uda_reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()).collect()
}

fn var(m: &[Vec<f64>], cols: usize) -> Var {
    let flat: Vec<f32> = m.iter().flatten().map(|&v| v as f32).collect();
    Var::from_tensor(&Tensor::from_vec(flat, (m.len(), cols), &Device::Cpu).unwrap()).unwrap()
}

/// |a − b| within `abs` + `rel` · |b|.
fn close(case: &str, what: &str, ours: &[f64], theirs: &[f64], abs: f64, rel: f64) {
    assert_eq!(ours.len(), theirs.len(), "{case}: {what} length");
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!((a - b).abs() <= abs + rel * b.abs(), "{case}: {what}[{i}] = {a}, reference {b}");
    }
}

fn flat(t: &Tensor) -> Vec<f64> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap().into_iter().map(f64::from).collect()
}

#[test]
fn mmd_value_and_gradient_match_numpy() {
    let doc = reference();
    for case in doc["mmd"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (x, y) = (matrix(&case["x"]), matrix(&case["y"]));
        let d = x[0].len();
        let (vx, vy) = (var(&x, d), var(&y, d));
        let value = mmd(vx.as_tensor(), vy.as_tensor()).unwrap();
        let v = value.to_scalar::<f32>().unwrap() as f64;
        close(name, "value", &[v], &[case["value"].as_f64().unwrap()], 1e-5, 1e-4);
        let grads = value.backward().unwrap();
        close(name, "grad_x", &flat(grads.get(vx.as_tensor()).unwrap()), &matrix(&case["grad_x"]).concat(), 1e-5, 1e-3);
        close(name, "grad_y", &flat(grads.get(vy.as_tensor()).unwrap()), &matrix(&case["grad_y"]).concat(), 1e-5, 1e-3);
    }
}

#[test]
fn supervised_contrastive_value_and_gradient_match_numpy() {
    let doc = reference();
    for case in doc["supcon"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let e = matrix(&case["e"]);
        let labels: Vec<usize> =
            case["labels"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        let extra = matrix(&case["extra"]);
        let ve = var(&e, e[0].len());
        let extra_t = (!extra.is_empty()).then(|| var(&extra, extra[0].len()).as_tensor().clone());
        let tau = case["tau"].as_f64().unwrap();
        let loss = supervised_contrastive(ve.as_tensor(), &labels, extra_t.as_ref(), tau).unwrap();
        let v = loss.to_scalar::<f32>().unwrap() as f64;
        close(name, "value", &[v], &[case["value"].as_f64().unwrap()], 1e-5, 1e-4);
        let want = matrix(&case["grad_e"]).concat();
        let ours = match loss.backward().unwrap().get(ve.as_tensor()) {
            Some(g) => flat(g),
            // No anchor: the loss is a constant and nothing flows back.
            None => vec![0.0; want.len()],
        };
        close(name, "grad_e", &ours, &want, 1e-4, 1e-3);
    }
}

#[test]
fn adaptive_threshold_follows_numpy_over_a_sequence_of_batches() {
    let doc = reference();
    for case in doc["threshold"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let classes = case["classes"].as_u64().unwrap() as usize;
        let mut thr = AdaptiveThreshold::new(classes, case["momentum"].as_f64().unwrap());
        for (b, (batch, want)) in
            case["batches"].as_array().unwrap().iter().zip(case["expected"].as_array().unwrap()).enumerate()
        {
            let probs: Vec<Vec<f32>> = matrix(batch).iter().map(|r| r.iter().map(|&v| v as f32).collect()).collect();
            thr.update(&probs);
            let what = format!("batch {b}");
            close(name, &format!("{what} tau"), &[thr.tau], &[want["tau"].as_f64().unwrap()], 1e-6, 1e-5);
            let vec = |k: &str| want[k].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect::<Vec<_>>();
            close(name, &format!("{what} ptilde"), &thr.ptilde, &vec("ptilde"), 1e-6, 1e-5);
            close(name, &format!("{what} thresholds"), &thr.thresholds(), &vec("thresholds"), 1e-6, 1e-5);
            let selected = thr.select(&probs);
            let pseudo: Vec<usize> =
                want["pseudo"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
            let mask: Vec<bool> = want["mask"].as_array().unwrap().iter().map(|v| v.as_bool().unwrap()).collect();
            let expected: Vec<Option<usize>> = pseudo.iter().zip(&mask).map(|(&p, &m)| m.then_some(p)).collect();
            assert_eq!(selected, expected, "{name}: {what} pseudo-labels that pass");
        }
    }
}
