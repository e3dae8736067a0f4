//! What goes stale when one thing changes: a table of edits, each with the exact set of stage
//! instances `plan` must call stale after a complete run (new stages count as stale). Anything more is
//! wasted work, anything less is a stale result served from the cache.

mod common;

use std::collections::BTreeSet;

use common::Workspace;

fn stale(ws: &Workspace) -> BTreeSet<String> {
    let plan = ws.json(&["plan", "pipelines/demo.toml"]);
    plan["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "stale")
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

fn all_ids(ws: &Workspace) -> Vec<String> {
    let plan = ws.json(&["plan", "pipelines/demo.toml"]);
    plan["stages"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect()
}

/// Train corpora of a train or eval stage id (`train/<model>/<train>/seedN`, `eval/<model>/<train>/…`).
fn train_of(id: &str) -> &str {
    id.split('/').nth(2).unwrap_or("")
}

/// Test corpus of an eval stage id (`eval/<model>/<train>/seedN/<test>/<cond>`).
fn test_of(id: &str) -> &str {
    id.split('/').nth(4).unwrap_or("")
}

fn condition_of(id: &str) -> &str {
    match id.split('/').next() {
        Some("eval") => id.split('/').nth(5).unwrap_or(""),
        Some("mix" | "features") => id.split('/').nth(2).unwrap_or(""),
        _ => "",
    }
}

fn is(kind: &str, id: &str) -> bool {
    id.starts_with(&format!("{kind}/"))
}

/// A train or eval stage of a sequence model (they read audio and recipes, never feature shards).
fn of_sequence_model(id: &str) -> bool {
    (is("train", id) || is("eval", id))
        && ["ser_seq", "se_ser", "se_then_ser"].contains(&id.split('/').nth(1).unwrap_or(""))
}

#[test]
fn each_change_makes_exactly_its_dependents_stale() {
    let ws = Workspace::new(3);
    assert_eq!(ws.json(&["run", "pipelines/demo.toml"])["failed"], 0);
    assert!(stale(&ws).is_empty());
    let pipeline = ws.path().join("pipelines/demo.toml");
    let original = std::fs::read_to_string(&pipeline).unwrap();

    type Rule = fn(&str) -> bool;
    let cases: &[(&str, (&str, &str), Rule)] = &[
        // One SNR value: that condition's mixes, features and evals, and the report.
        ("one SNR value", ("snr_db = [20, 10, 5, 0, -5]", "snr_db = [20, 10, 5, 0, -6]"), |id| {
            condition_of(id) == "synth_noise.snr-6" || is("report", id)
        }),
        // An EDRL-only key: that model's train and eval stages, the ensemble that fuses its predictions,
        // and the report; no other model's.
        ("an EDRL-only key", ("code_dim = 16\nepochs", "code_dim = 16\nloss_recon = 0.5\nepochs"), |id| {
            id.starts_with("train/edrl/") || id.starts_with("eval/edrl/") || id.starts_with("eval/fusion/") || is("report", id)
        }),
        // A 3-value sweep of one model's key: the swept model's train and eval stages and the report,
        // nothing upstream. The variant with the model's own value keeps its trained models (same train
        // key); only its evals rerun, since a key names its inputs by stage id and the train ids moved.
        (
            "a 3-value sweep",
            ("[[experiments]]", "[sweep.width]\nmodels.mlp_multi.hidden = [[64], [128], [256]]\n\n[[experiments]]"),
            |id| {
                let model = id.split('/').nth(1).unwrap_or("");
                (is("train", id) && ["mlp_multi.hidden-64", "mlp_multi.hidden-256"].contains(&model))
                    || (is("eval", id) && model.starts_with("mlp_multi.hidden-"))
                    || is("report", id)
            },
        ),
        // A sweep over a feature key of one model: the new setting's feature shards (the mixes they
        // read are shared), that variant's train stages, both variants' evals and the report. The
        // variant at [features]'s own value reads [features]'s shards and keeps its trained models.
        (
            "a features sweep",
            ("[[experiments]]", "[sweep.mels]\nmodel = \"mlp_multi\"\nfeatures.n_mels = [40, 64]\n\n[[experiments]]"),
            |id| {
                let model = id.split('/').nth(1).unwrap_or("");
                (is("features", id) && id.split('/').nth(3) == Some("n_mels-40"))
                    || (is("train", id) && model == "mlp_multi.n_mels-40")
                    || (is("eval", id) && model.starts_with("mlp_multi.n_mels-"))
                    || is("report", id)
            },
        ),
        // Multi-condition training for one model: its train stages (and their evals and the report), and
        // the new train-pool mixes and feature shards of its sources; no other model's.
        // (mlp_multi's 10 dB training shards are shared; only the 20 dB ones are new.)
        ("mlp's train_conditions", ("hidden = [128]", "hidden = [128]\ntrain_conditions = [\"clean\", \"snr10\", \"snr20\"]"), |id| {
            id.starts_with("train/mlp/")
                || id.starts_with("eval/mlp/")
                || id.starts_with("eval/fusion/")
                || condition_of(id) == "train-synth_noise.snr20"
                || is("report", id)
        }),
        // A feature parameter: every feature shard and everything that reads features (the sequence
        // models do not).
        ("a feature parameter", ("n_mels = 64", "n_mels = 48"), |id| {
            is("features", id) || ((is("train", id) || is("eval", id)) && !of_sequence_model(id)) || is("report", id)
        }),
        // A robust feature option (the utterance's dB floor): the same, since it is part of the feature key.
        ("a robust feature option", ("n_mels = 64", "n_mels = 64\ntop_db = 80"), |id| {
            is("features", id) || ((is("train", id) || is("eval", id)) && !of_sequence_model(id)) || is("report", id)
        }),
        // The label map of one corpus (same labelled set, other labels): its manifest and what reads
        // it; feature and mix shards depend on audio only and stay cached.
        (
            "the label map",
            (
                "root = \"${SERTOOL_SYNTH:-../data/synth}/cremad_a\"",
                "root = \"${SERTOOL_SYNTH:-../data/synth}/cremad_a\"\nlabel_map = { NEU = \"happy\", HAP = \"neutral\", ANG = \"angry\", SAD = \"sad\" }",
            ),
            |id| {
                id == "manifest/synth_a"
                    || (is("train", id) && train_of(id) == "synth_a")
                    || (is("eval", id) && (train_of(id) == "synth_a" || test_of(id) == "synth_a"))
                    || is("report", id)
            },
        ),
        // The noise seed: the pool, every mix, every noisy feature shard and eval, and the report; and
        // through the train pool, the multi-condition models' training shards, train stages and evals
        // (the sequence models train on 5 dB train-pool mixtures).
        ("the noise seed", ("test_fraction = 0.5\nseed = 1", "test_fraction = 0.5\nseed = 2"), |id| {
            is("noise", id)
                || is("mix", id)
                || condition_of(id).starts_with("synth_noise.")
                || condition_of(id).starts_with("train-synth_noise.")
                || id.starts_with("train/mlp_multi/")
                || id.starts_with("eval/mlp_multi/")
                || of_sequence_model(id)
                || is("report", id)
        }),
        // An SE+SER key: that model's train and eval stages and the report.
        ("an se-ser key", ("cascade = [1, 1, 4]", "cascade = [1, 1, 4]\nlambda_se = 0.5"), |id| {
            id.starts_with("train/se_ser/") || id.starts_with("eval/se_ser/") || is("report", id)
        }),
        // A `[report]` key: the report alone.
        ("a [report] key", ("metric = \"uar\"", "metric = \"wa\""), |id| is("report", id)),
    ];
    for (what, (from, to), rule) in cases {
        assert!(original.contains(from), "{what}: the demo has no {from:?}");
        std::fs::write(&pipeline, original.replacen(from, to, 1)).unwrap();
        let expected: BTreeSet<String> = all_ids(&ws).into_iter().filter(|id| rule(id)).collect();
        let got = stale(&ws);
        let extra: Vec<_> = got.difference(&expected).collect();
        let missing: Vec<_> = expected.difference(&got).collect();
        assert!(
            extra.is_empty() && missing.is_empty(),
            "{what}: stale but should not be {extra:?}; should be stale {missing:?}"
        );
        assert!(!got.is_empty(), "{what}: nothing went stale");
        std::fs::write(&pipeline, &original).unwrap();
    }
    assert!(stale(&ws).is_empty(), "restoring the pipeline file restores every key");

    // One WAV's bytes: its corpus's manifest, the one shard holding it in every condition, and what
    // reads the manifest (train and eval stages on that corpus), then the report. It is a test-split
    // utterance, so no unlabeled-train shard holds it and no model adapted to synth_a goes stale, and
    // no training mixture (train and dev utterances only) holds it either.
    let m = sertool::table::read_parquet(&ws.path().join("manifests/synth_a.parquet")).unwrap();
    let ids = sertool::table::strings(&m, "id").unwrap();
    let paths = sertool::table::strings(&m, "path").unwrap();
    let splits = sertool::table::strings(&m, "split").unwrap();
    let labels = sertool::table::opt_strings(&m, "label").unwrap();
    let i = (0..ids.len()).find(|&i| splits[i] == "test" && labels[i].is_some()).unwrap();
    let wav = ws.path().join("data/synth/cremad_a").join(&paths[i]);
    let a = sertool::audio::read_audio(&wav).unwrap();
    let quieter: Vec<f32> = a.samples.iter().map(|v| v * 0.5).collect();
    sertool::audio::write_wav16(&wav, &quieter, a.sample_rate).unwrap();
    let shard = format!("shard{:02}", sertool::corpus::shard_of(&ids[i], 8));
    let expected: BTreeSet<String> = all_ids(&ws)
        .into_iter()
        .filter(|id| {
            id == "manifest/synth_a"
                || ((is("features", id) || is("mix", id))
                    && id.contains("/synth_a/")
                    && !id.contains("/unlabeled-train/")
                    && !id.contains("/train-")
                    && id.ends_with(&shard))
                || (is("train", id) && train_of(id) == "synth_a")
                || (is("eval", id) && (train_of(id) == "synth_a" || test_of(id) == "synth_a"))
                || is("report", id)
        })
        .collect();
    assert_eq!(stale(&ws), expected, "one WAV's bytes");
}
