//! Multi-condition training (`[models.X] train_conditions`): the source's train and dev utterances are
//! mixed from the noise source's *train* pool, so no test-pool file ever reaches a train stage; the
//! train stage reads those shards beside the clean ones, and only the model that asks is retrained.

mod common;

use std::collections::BTreeSet;

use common::Workspace;

const PIPELINE: &str = r#"
[pipeline]
name = "mc"
shards = 2

[labels]
classes = ["neutral", "happy", "angry", "sad"]

[corpora.src]
kind = "cremad"
root = "../data/synth/cremad_a"

[noise.hum]
kind = "musan"
root = "../data/synth/musan"
subsets = ["noise"]
test_fraction = 0.5
seed = 1

[mix]
snr_db = [10, 0]

[features]
kind = "logmel_stats"
n_mels = 32

[models.mlp]
kind = "mlp"
hidden = [32]
epochs = 8

[models.mlp_mc]
kind = "mlp"
hidden = [32]
epochs = 8
train_conditions = ["clean", "snr10", "hum.snr0"]

# A sequence kind computes its examples from the recipes of its train conditions' mix stages.
[models.se_ser]
kind = "se-ser"
dim = 16
layers = 1
heads = 2
hidden = 16
crop_frames = 32
pretrain_epochs = 1
cascade = [1, 0, 1]
train_conditions = ["clean", "hum.snr0"]

[[experiments]]
name = "in_corpus"
train = ["src"]
test = ["src"]
"#;

fn meta(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap()
}

#[test]
fn training_mixtures_come_from_the_train_pool_only() {
    let ws = Workspace::new(3);
    std::fs::write(ws.path().join("pipelines/mc.toml"), PIPELINE).unwrap();
    ws.json(&["run", "pipelines/mc.toml"]);
    let keys = ws.plan_keys("pipelines/mc.toml");
    // Stage ids start with the kind's folder, but for noise pools (`noise/<source>` in noise_pool/).
    let entry = |id: &str| {
        let kind = match id.split('/').next().unwrap() {
            "noise" => "noise_pool",
            k => k,
        };
        ws.path().join("cache").join(kind).join(&keys[id])
    };
    let pools = sertool::stages::noise_pool::read_pools(&entry("noise/hum")).unwrap();
    let paths = |files: &[sertool::audio::noise::NoiseFile]| -> BTreeSet<String> {
        files.iter().map(|f| f.path.clone()).collect()
    };
    let (train_pool, test_pool) = (paths(&pools.train), paths(&pools.test));
    assert!(!train_pool.is_empty() && train_pool.is_disjoint(&test_pool));

    // Every training mixture draws from the train pool; every test mixture from the test pool.
    let (mut train_mixed, mut test_mixed) = (BTreeSet::new(), BTreeSet::new());
    for id in keys.keys().filter(|id| id.starts_with("mix/")) {
        let recipes = sertool::stages::mix::read_recipes(&entry(id)).unwrap();
        let used: BTreeSet<String> = recipes.iter().map(|r| r.noise_file.clone()).collect();
        if id.contains("/train-") {
            assert!(used.is_subset(&train_pool), "{id} mixed a file outside the train pool: {used:?}");
            train_mixed.extend(used);
        } else {
            assert!(used.is_subset(&test_pool), "{id}: {used:?}");
            test_mixed.extend(used);
        }
    }
    assert!(!train_mixed.is_empty() && !test_mixed.is_empty());
    let conditions: BTreeSet<&str> =
        keys.keys().filter(|id| id.starts_with("mix/src/train-")).map(|id| id.split('/').nth(2).unwrap()).collect();
    assert_eq!(conditions, BTreeSet::from(["train-hum.snr0", "train-hum.snr10"]));

    // The multi-condition model reads clean and both training conditions; the other reads clean only.
    let inputs = |id: &str| -> Vec<String> {
        meta(&entry(id))["inputs"].as_object().unwrap().keys().cloned().collect::<Vec<_>>()
    };
    let mc = inputs("train/mlp_mc/src/seed1");
    for cond in ["clean", "train-hum.snr10", "train-hum.snr0"] {
        assert!(mc.iter().any(|i| i.starts_with(&format!("features/src/{cond}/"))), "{cond}: {mc:?}");
    }
    assert!(!mc.iter().any(|i| i.starts_with("features/src/hum.")), "a test condition reached training");
    let plain = inputs("train/mlp/src/seed1");
    assert!(plain.iter().all(|i| !i.contains("/train-")), "{plain:?}");
    // The sequence model mixes from the train-pool recipes of its condition, never from a test mix.
    let seq = inputs("train/se_ser/src/seed1");
    let mixes: Vec<&String> = seq.iter().filter(|i| i.starts_with("mix/")).collect();
    assert!(!mixes.is_empty() && mixes.iter().all(|i| i.starts_with("mix/src/train-hum.snr0/")), "{seq:?}");
    assert!(!seq.iter().any(|i| i.starts_with("features/src/hum.")), "a test condition reached training");

    // The training mixtures hold train and dev utterances only.
    let manifest = sertool::table::read_parquet(&entry("manifest/src").join("manifest.parquet")).unwrap();
    let split: std::collections::BTreeMap<String, String> = sertool::table::strings(&manifest, "id")
        .unwrap()
        .into_iter()
        .zip(sertool::table::strings(&manifest, "split").unwrap())
        .collect();
    for id in keys.keys().filter(|id| id.starts_with("features/src/train-")) {
        let b = sertool::table::read_parquet(&entry(id).join("features.parquet")).unwrap();
        for u in sertool::table::strings(&b, "id").unwrap() {
            assert!(split[&u] == "train" || split[&u] == "dev", "{id} holds {u} ({})", split[&u]);
        }
    }
    // The model card records what it trained on.
    let card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(entry("train/mlp_mc/src/seed1").join("model.json")).unwrap()).unwrap();
    assert_eq!(card["config"]["train_conditions"], serde_json::json!(["clean", "hum.snr10", "hum.snr0"]));
    assert!(card["config"].get("train_conditions").is_some());
    let plain_card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(entry("train/mlp/src/seed1").join("model.json")).unwrap()).unwrap();
    assert!(plain_card["config"].get("train_conditions").is_none(), "clean-only training keeps its old key");
}

#[test]
fn a_train_condition_must_name_a_mixed_noise_source() {
    let ws = Workspace::new(3);
    let bad = PIPELINE.replace("\"hum.snr0\"", "\"babble.snr0\"");
    std::fs::write(ws.path().join("pipelines/mc.toml"), bad).unwrap();
    let out = ws.cmd(&["plan", "pipelines/mc.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pipelines/mc.toml:") && err.contains("\"babble\" is not a noise source"), "{err}");
    assert!(err.contains("expected one of: hum"), "{err}");
}
