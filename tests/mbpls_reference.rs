//! MB-PLS against a numpy transcription of the same algorithm (tools/mbpls_reference.py wrote
//! tests/data/mbpls_reference.json): weights (up to sign), block importances, loadings, super and block
//! scores of the training rows, and the transform of new rows, all within 1e-5. One case has an all-zero
//! block (importance 0, scores 0).

use serde_json::Value;
use sertool::models::nets::mbpls::MbPls;

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()).collect()
}

/// Rows of the blocks side by side.
fn concat(blocks: &Value) -> (Vec<Vec<f64>>, Vec<usize>) {
    let blocks: Vec<Vec<Vec<f64>>> = blocks.as_array().unwrap().iter().map(matrix).collect();
    let sizes = blocks.iter().map(|b| b[0].len()).collect();
    let rows = (0..blocks[0].len()).map(|i| blocks.iter().flat_map(|b| b[i].iter().copied()).collect()).collect();
    (rows, sizes)
}

fn close(case: &str, what: &str, ours: &[f64], theirs: &[f64]) {
    assert_eq!(ours.len(), theirs.len(), "{case}: {what} length");
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!((a - b).abs() < 1e-5, "{case}: {what}[{i}] = {a}, reference {b}");
    }
}

#[test]
fn mbpls_matches_the_numpy_reference() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/mbpls_reference.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let e = &case["expected"];
        let (x, sizes) = concat(&case["blocks"]);
        let k = case["k"].as_u64().unwrap() as usize;
        let (model, fitted) = MbPls::fit(&x, &sizes, &matrix(&case["y"]), k).unwrap();
        let flat = |m: &Value| matrix(m).concat();
        let means: Vec<f64> = flat(&e["block_means"]);
        close(name, "block means", &model.means, &means);
        for c in 0..k {
            let theirs = &matrix(&e["weights"])[c];
            // Up to sign: align on the reference before comparing.
            let dot: f64 = model.weights[c].iter().zip(theirs).map(|(a, b)| a * b).sum();
            let sign = dot.signum();
            let ours: Vec<f64> = model.weights[c].iter().map(|v| v * sign).collect();
            close(name, &format!("weights[{c}]"), &ours, theirs);
            let loads: Vec<f64> = model.loadings[c].to_vec();
            close(name, &format!("loadings[{c}]"), &loads, &matrix(&e["loadings"])[c]);
            close(name, &format!("importance[{c}]"), &model.importance[c], &matrix(&e["block_importance"])[c]);
            let theirs_blocks = matrix(&e["block_scores"][c]);
            for (b, scores) in fitted.block_scores[c].iter().enumerate() {
                close(name, &format!("block_scores[{c}][{b}]"), scores, &theirs_blocks[b]);
            }
        }
        close(name, "super scores", &fitted.super_scores.concat(), &flat(&e["super_scores"]));
        let (new, _) = concat(&case["new_blocks"]);
        let t = model.transform(&new);
        close(name, "transform super scores", &t.super_scores.concat(), &flat(&e["transform_super_scores"]));
        for c in 0..k {
            close(name, "transform block scores", &t.block_scores[c].concat(), &flat(&e["transform_block_scores"][c]));
        }
        let mean: Vec<f64> =
            e["block_importance_mean"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        close(name, "block importance mean", &model.block_importance_mean(), &mean);
    }
}
