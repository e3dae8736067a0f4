//! Golden keys per kind: the train-stage key of every model kind and the feature-stage key of every
//! feature kind, at their defaults, are pinned. Adding an option to one kind changes that kind's line
//! here and no other (only a kind's own options reach its keys); a change to a line is a deliberate,
//! cache-invalidating change for users of that kind.

use std::collections::BTreeMap;

use serde_json::json;
use sertool::engine::key::stage_key;
use sertool::features::FeatureSpec;
use sertool::models::{ModelSpec, KINDS};

const CLASSES: [&str; 4] = ["neutral", "happy", "angry", "sad"];

fn train_key(spec: &ModelSpec) -> String {
    let params = json!({ "model": spec.key_params(), "seed": 1, "classes": CLASSES });
    let mut inputs = BTreeMap::new();
    inputs.insert("manifest/a".to_string(), "0".repeat(64));
    stage_key("train", 2, &params, &inputs)
}

fn features_key(spec: &FeatureSpec) -> String {
    let audio = json!({ "sample_rate_hz": 16000, "channels": "mean", "resampler": "fixed" });
    stage_key("features", 1, &json!({ "features": spec.key_params(), "audio": audio }), &BTreeMap::new())
}

#[test]
fn model_kinds_have_pinned_train_keys() {
    let got: BTreeMap<&str, String> = KINDS.iter().map(|k| (k.name(), train_key(&ModelSpec::default_of(*k)))).collect();
    let pinned: BTreeMap<&str, &str> = [
        ("dann", "a02008723aeef60611c620150e7022fdf89d27475b63f62dbb1b9ed8b0dc2275"),
        ("edrl", "3d0d809d3e268b7c4717d593e4a173f023f82e93d2642d4ef29e5a2624d11498"),
        ("edrl-mea", "f9ed1d5d09b9cb28e34757270294ea03fddd21eed41aabeae6bb6797c060b3a9"),
        ("emo-dna", "e036fdca6f0813e1733688565c3fecc9912dbbd320dcc243f8cd90bee098525d"),
        // No train stage runs for it; the key of its options (members, rule) is pinned all the same.
        ("ensemble", "8c1a51645eae6c68565ac0a5afd489e6a1717ba6738e89902d633fd6367a89df"),
        ("mbpls", "81abfd45df82656fa370b8ce4af7817261697b7a93cb21b7900b2efa57ad600f"),
        ("mlp", "b9316113e0367bacc519f5ec326f04cb220dc3c4daaa912c756442036f6254ca"),
        ("mmd", "dcd984dd69875a2d3843f67fc622c0cf522d759da793ab374ba7146f0663e12f"),
        ("se-ser", "8faa5866fa4428f33088c14b8b9d01fce49b00aa90f526da4d83d335176cb068"),
        ("se-then-ser", "5503d9a9a422f95dfca698cdd22ac256d5f5ecd435d5a9932e8c0c9f882a1e79"),
        ("ser-seq", "08dfac2c16277c046c4f75d77267e2df4217b7f4bbb3c6abad0d2a18ed759406"),
    ]
    .into_iter()
    .collect();
    let moved: Vec<&str> = got.iter().filter(|(k, v)| pinned.get(*k) != Some(&v.as_str())).map(|(k, _)| *k).collect();
    assert!(moved.is_empty(), "train keys of these kinds moved at their defaults: {moved:?} (now {got:?})");
    assert_eq!(got.len(), pinned.len(), "a new kind gets its own pinned line here");
}

#[test]
fn feature_kinds_have_pinned_keys() {
    let got: BTreeMap<&str, String> =
        FeatureSpec::KINDS.iter().map(|k| (*k, features_key(&FeatureSpec::default_of(k).unwrap()))).collect();
    let pinned: BTreeMap<&str, &str> = [
        ("egemaps", "3d5bc06904ee5ccc9faa84d3fd3238bc1cf612b13c8d05fdacc50db7ae6d802a"),
        ("functionals", "1454e98e9ff534bf46467c6b4a8774f0669c1c90b5603c14d6f652b49e18ab6f"),
        ("gemaps", "571a9cece52c140bad2bce28550bbcf2d5cbbd4de71e8ed2a495e0bed008b69d"),
        ("imported", "a42221da36347701576632c7eb7b4a8c164bae41363f4c648ee9c8d5fe3ef156"),
        ("logmel_stats", "a5a2b1bd6f6c10e4d1354324b2bda00ec687e117dcd9d392ffe89141e69d011a"),
    ]
    .into_iter()
    .collect();
    let moved: Vec<&str> = got.iter().filter(|(k, v)| pinned.get(*k) != Some(&v.as_str())).map(|(k, _)| *k).collect();
    assert!(moved.is_empty(), "features keys of these kinds moved at their defaults: {moved:?} (now {got:?})");
    assert_eq!(got.len(), pinned.len());
}

/// The seeds of a model are per stage: they never reach another stage's key.
#[test]
fn seeds_are_not_in_the_model_params() {
    for k in KINDS {
        let mut spec = ModelSpec::default_of(*k);
        let before = train_key(&spec);
        spec.seeds = vec![1, 2, 3];
        assert_eq!(train_key(&spec), before, "{}", k.name());
    }
}
