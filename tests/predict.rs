//! `sertool predict` on synthesised WAVs returns, for every model kind, the label the evaluation stage
//! predicted for the same utterances (same decoding, resampling, features and checkpoint).

mod common;

use common::Workspace;

/// The committed output folder of the stage with this id.
fn stage_dir(ws: &Workspace, kind: &str, id: &str) -> std::path::PathBuf {
    for e in std::fs::read_dir(ws.path().join("cache").join(kind)).unwrap().flatten() {
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.path().join("meta.json")).unwrap()).unwrap();
        if meta["stage"] == id {
            return e.path();
        }
    }
    panic!("no cached stage {id}");
}

#[test]
fn predict_agrees_with_the_eval_stage_for_every_model_kind() {
    let ws = Workspace::new(3);
    ws.json(&["run", "pipelines/demo.toml"]);
    // (model, test corpus, checkpoint under models/demo/): the adapting kinds have one model per target.
    let cases = [
        ("mlp", "synth_a", "mlp/synth_a/seed1"),
        ("edrl", "synth_a", "edrl/synth_a/seed1"),
        ("mbpls", "synth_a", "mbpls/synth_a/seed1"),
        ("edrl_mea", "synth_a", "edrl_mea/synth_a/seed1"),
        ("emo_dna", "synth_a", "emo_dna/synth_a/seed1"),
        ("emo_dna", "synth_b", "emo_dna/synth_a/to-synth_b/seed1"),
        ("dann", "synth_b", "dann/synth_a/to-synth_b/seed1"),
        ("mmd", "synth_b", "mmd/synth_a/to-synth_b/seed1"),
    ];
    for (model, test, checkpoint) in cases {
        let dir = stage_dir(&ws, "eval", &format!("eval/{model}/synth_a/seed1/{test}/clean"));
        let b = sertool::table::read_parquet(&dir.join("predictions.parquet")).unwrap();
        let ids = sertool::table::strings(&b, "id").unwrap();
        let predicted = sertool::table::strings(&b, "predicted").unwrap();
        assert!(sertool::table::strings(&b, "condition").unwrap().iter().all(|c| c == "clean"));
        let files: Vec<String> = ids
            .iter()
            .take(5)
            .map(|id| {
                let name = id.strip_prefix(&format!("{test}/")).unwrap();
                format!("data/synth/cremad_{}/AudioWAV/{name}.wav", test.strip_prefix("synth_").unwrap())
            })
            .collect();
        let mut args = vec!["predict", "--model"];
        let checkpoint = format!("models/demo/{checkpoint}");
        args.push(&checkpoint);
        args.extend(files.iter().map(String::as_str));
        let out = ws.json(&args);
        let rows = out["predictions"].as_array().unwrap();
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row["label"], predicted[i].as_str(), "{model}: {}", files[i]);
            let total: f64 = row["probabilities"].as_object().unwrap().values().map(|v| v.as_f64().unwrap()).sum();
            assert!((total - 1.0).abs() < 1e-4);
        }
    }
    let out = ws.cmd(&["predict", "--model", "models/demo/nope", "x.wav"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("models/demo/nope/model.json"));
}
