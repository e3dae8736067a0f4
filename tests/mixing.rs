//! Noise pools of every noise-corpus layout, exact SNR on the synthesised corpora measured from the
//! written mixtures, and bit-identical mixtures across runs and job counts.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{files_under, Workspace};

const NOISY: &str = r#"
[pipeline]
name = "noisy"
shards = 4

[corpora.a]
kind = "cremad"
root = "../data/synth/cremad_b"

[noise.musan]
kind = "musan"
root = "../data/synth/musan"
subsets = ["noise", "music"]

[noise.demand]
kind = "demand"
root = "../data/synth/demand"
channel = 2

[noise.esc50]
kind = "esc50"
root = "../data/synth/esc50"

[noise.wham]
kind = "wham"
root = "../data/synth/wham"

[noise.unseen_type]
kind = "musan"
root = "../data/synth/musan"
test_categories = ["noise/sound-bible"]

[mix]
snr_db = [-10, 0, 30]
snr_mode = "MODE"

[models.mlp]
epochs = 2

[[experiments]]
name = "a"
train = ["a"]
test = ["a"]
"#;

fn workspace(mode: &str) -> Workspace {
    let ws = Workspace::new(3);
    std::fs::write(ws.path().join("pipelines/noisy.toml"), NOISY.replace("MODE", mode)).unwrap();
    ws
}

#[test]
fn pools_of_every_noise_layout_are_disjoint() {
    let ws = workspace("whole");
    let out = ws.json(&["mix", "pipelines/noisy.toml", "--write-wav", "mixed"]);
    assert!(out["written"].as_u64().unwrap() > 0);
    let mut seen = 0;
    for f in files_under(&ws.path().join("cache/noise_pool")) {
        if !f.ends_with("pool.json") {
            continue;
        }
        seen += 1;
        let pool: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let set = |k: &str| -> BTreeSet<String> {
            pool[k].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_string()).collect()
        };
        let (train, test) = (set("train"), set("test"));
        assert!(!train.is_empty() && !test.is_empty(), "{pool}");
        assert!(train.is_disjoint(&test), "{pool}");
        let cats = |k: &str| -> BTreeSet<String> {
            pool[k].as_array().unwrap().iter().map(|f| f["category"].as_str().unwrap().to_string()).collect()
        };
        let first = test.iter().next().unwrap().clone();
        if first.starts_with("audio/") {
            // ESC-50: fold 5 is the test pool.
            assert!(pool["test"].as_array().unwrap().iter().all(|f| f["group"] == "5"));
            assert!(pool["train"].as_array().unwrap().iter().all(|f| f["group"] != "5"));
        } else if first.starts_with("wham_noise/") {
            assert!(test.iter().all(|p| p.starts_with("wham_noise/tt/")));
        } else if first.contains("/ch0") {
            assert!(train.iter().chain(&test).all(|p| p.ends_with("/ch02.wav")), "DEMAND channel choice");
        } else if cats("test") == ["noise/sound-bible".to_string()].into_iter().collect() {
            // The held-out category: unseen in type as well as in file.
            assert!(!cats("train").contains("noise/sound-bible"));
        } else {
            assert!(cats("train").union(&cats("test")).any(|c| c.starts_with("music/")), "MUSAN subsets");
        }
    }
    assert_eq!(seen, 5);
}

/// Mixtures recomputed from the written float samples meet their SNR within ±0.05 dB, for both SNR
/// definitions, at −10, 0 and 30 dB.
#[test]
fn written_mixtures_meet_their_snr() {
    for mode in ["whole", "active"] {
        let ws = workspace(mode);
        ws.json(&["mix", "pipelines/noisy.toml", "--write-wav", "mixed"]);
        let audio = sertool::audio::AudioIn { rate: 16_000, channels: sertool::audio::ChannelPolicy::Mean };
        let snr_mode = if mode == "active" {
            sertool::audio::mix::SnrMode::Active { frame: 320, gate_db: 40.0 }
        } else {
            sertool::audio::mix::SnrMode::Whole
        };
        let mut checked = 0;
        for f in files_under(&ws.path().join("cache/mix")) {
            if !f.ends_with("recipes.parquet") {
                continue;
            }
            let b = sertool::table::read_parquet(&f).unwrap();
            let utts = sertool::table::strings(&b, "utterance").unwrap();
            let scale = sertool::table::f64s(&b, "scale").unwrap();
            let target = sertool::table::f64s(&b, "snr_db").unwrap();
            let noise_files = sertool::table::strings(&b, "noise_file").unwrap();
            for i in 0..utts.len() {
                let name = utts[i].rsplit_once('/').unwrap().1;
                let speech = audio.load(&ws.path().join(format!("data/synth/cremad_b/AudioWAV/{name}.wav"))).unwrap();
                let cond = format!("{}.snr{}", noise_source_of(&noise_files[i], &f), target[i]);
                let mixed =
                    sertool::audio::read_audio(&ws.path().join(format!("mixed/a/{cond}/{name}.wav"))).unwrap().samples;
                let r = sertool::audio::mix::Recipe {
                    utterance: utts[i].clone(),
                    noise_file: String::new(),
                    noise_sha256: String::new(),
                    offset: 0,
                    gain: 0.0,
                    scale: scale[i],
                    snr_db: target[i],
                    seed: 0,
                };
                let got = sertool::audio::mix::achieved_snr_db(&speech, &mixed, &r, snr_mode);
                assert!((got - target[i]).abs() < 0.05, "{mode} {cond} {name}: {got} dB for {}", target[i]);
                checked += 1;
            }
        }
        assert!(checked > 100, "{checked}");
    }
}

/// The condition folder is named by the noise source; recipes do not store it, the stage's meta does.
fn noise_source_of(_noise_file: &str, recipes: &Path) -> String {
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(recipes.with_file_name("meta.json")).unwrap()).unwrap();
    let cond = meta["params"]["condition"].as_str().unwrap();
    cond.split(".snr").next().unwrap().to_string()
}

#[test]
fn mixtures_are_bit_identical_across_runs_and_job_counts() {
    let (a, b) = (workspace("whole"), workspace("whole"));
    a.json(&["mix", "pipelines/noisy.toml", "--write-wav", "mixed", "--jobs", "1"]);
    b.json(&["mix", "pipelines/noisy.toml", "--write-wav", "mixed", "--jobs", "2"]);
    let (fa, fb) = (files_under(&a.path().join("mixed")), files_under(&b.path().join("mixed")));
    assert_eq!(fa.len(), fb.len());
    assert!(fa.len() > 100);
    for (x, y) in fa.iter().zip(&fb) {
        assert_eq!(x.strip_prefix(a.path()).unwrap(), y.strip_prefix(b.path()).unwrap());
        assert!(std::fs::read(x).unwrap() == std::fs::read(y).unwrap(), "{} differs", x.display());
    }
    // And again in the same workspace, from cached recipes.
    a.json(&["mix", "pipelines/noisy.toml", "--write-wav", "again"]);
    for x in &fa {
        let rel = x.strip_prefix(a.path().join("mixed")).unwrap();
        assert!(std::fs::read(x).unwrap() == std::fs::read(a.path().join("again").join(rel)).unwrap());
    }
}

#[test]
fn bad_audio_in_a_corpus_ends_as_named_fault_records() {
    let ws = workspace("whole");
    let dir = ws.path().join("data/synth/cremad_b/AudioWAV");
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let labelled: Vec<&String> = names.iter().filter(|n| n.contains("_ANG_") || n.contains("_SAD_")).collect();
    let (truncated, text, empty) = (labelled[0], labelled[1], labelled[2]);
    let bytes = std::fs::read(dir.join(truncated)).unwrap();
    std::fs::write(dir.join(truncated), &bytes[..bytes.len() / 2 + 1]).unwrap();
    std::fs::write(dir.join(text), "this is not audio").unwrap();
    std::fs::write(dir.join(empty), b"").unwrap();
    let out = ws.cmd(&["run", "pipelines/noisy.toml", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut records = String::new();
    for f in files_under(&ws.path().join("cache")) {
        if f.ends_with("faults.json") {
            records.push_str(&std::fs::read_to_string(&f).unwrap());
        }
    }
    for name in [truncated, text, empty] {
        assert!(records.contains(&format!("AudioWAV/{name}")), "{name} not named in the fault records");
    }
    assert!(
        records.contains("truncated or corrupt WAV data") && records.contains("not a readable WAV file"),
        "{records}"
    );
}
