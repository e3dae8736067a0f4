//! Domain adaptation keeps the target's labels and test speakers out of training: a relabelled copy of
//! the target's label file moves no key of an adapted model and no prediction it makes; the inductive
//! protocol reads only the target's train-split audio (every utterance of it, labeled or not); the
//! transductive option adds the test split and the report marks those cells.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::Workspace;

/// A source in the CREMA-D layout, a target in the MSP-Podcast layout (labels in a CSV file, its own
/// partition), every adapting kind and the reference; small and quick.
const PIPELINE: &str = r#"
[pipeline]
name = "uda"
shards = 2

[labels]
classes = ["neutral", "happy", "angry", "sad"]

[corpora.src]
kind = "cremad"
root = "../data/synth/cremad_a"

[corpora.msp]
kind = "msp_podcast"
root = "../data/synth/msp_podcast"

[features]
kind = "logmel_stats"
n_mels = 32

[models.mlp]
kind = "mlp"
hidden = [32]
epochs = 8

[models.emo_dna]
kind = "emo-dna"
encoder_hidden = 32
code_dim = 8
epochs = 8
warmup_epochs = 2

[models.dann]
kind = "dann"
hidden = [32]
epochs = 8

[models.mmd]
kind = "mmd"
hidden = [32]
epochs = 8

[[experiments]]
name = "to_msp"
train = ["src"]
test = ["src", "msp"]

[report]
reference = "mlp"
"#;

const ADAPTING: [&str; 3] = ["emo_dna", "dann", "mmd"];

fn workspace() -> Workspace {
    let ws = Workspace::new(3);
    std::fs::write(ws.path().join("pipelines/uda.toml"), PIPELINE).unwrap();
    ws
}

/// Stage id → key of every stage the plan lists.
fn keys(ws: &Workspace) -> BTreeMap<String, String> {
    ws.plan_keys("pipelines/uda.toml")
}

fn entry(ws: &Workspace, id: &str, keys: &BTreeMap<String, String>) -> PathBuf {
    ws.path().join("cache").join(id.split('/').next().unwrap()).join(&keys[id])
}

/// (id, predicted, probabilities) of each row of an eval entry.
type Predicted = Vec<(String, String, Vec<f32>)>;

/// An eval entry's predictions, and its "true" column.
fn predictions(dir: &Path) -> (Predicted, Vec<String>) {
    let b = sertool::table::read_parquet(&dir.join("predictions.parquet")).unwrap();
    let ids = sertool::table::strings(&b, "id").unwrap();
    let pred = sertool::table::strings(&b, "predicted").unwrap();
    let probs = sertool::table::vectors(&b, "probabilities").unwrap();
    let rows = ids.into_iter().zip(pred).zip(probs).map(|((i, p), v)| (i, p, v)).collect();
    (rows, sertool::table::strings(&b, "true").unwrap())
}

/// The label file with every emotion moved to the next one, and one in-class row moved out of the class
/// set (X: no agreement), so both the labels and which utterances are labeled change.
fn relabel(ws: &Workspace) {
    let path = ws.path().join("data/synth/msp_podcast/Labels/labels_consensus.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut moved_out = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut f: Vec<String> = line.split(',').map(String::from).collect();
        if i > 0 && f.len() > 1 {
            let next = match f[1].as_str() {
                "N" => "H",
                "H" => "A",
                "A" => "S",
                "S" => "N",
                other => other,
            };
            f[1] = if !moved_out && next != f[1] && f[7] == "Train" {
                moved_out = true;
                "X".into()
            } else {
                next.into()
            };
        }
        out.push(f.join(","));
    }
    assert!(moved_out);
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
}

#[test]
fn relabelling_the_target_moves_no_adapted_key_and_no_prediction() {
    let ws = workspace();
    ws.json(&["run", "pipelines/uda.toml"]);
    let before = keys(&ws);
    let adapted: Vec<String> = ADAPTING.iter().map(|m| format!("train/{m}/src/to-msp/seed1")).collect();
    let evals: Vec<String> = ADAPTING.iter().map(|m| format!("eval/{m}/src/seed1/msp/clean")).collect();
    let old: Vec<_> = evals.iter().map(|e| predictions(&entry(&ws, e, &before))).collect();

    relabel(&ws);
    let after = keys(&ws);
    assert_ne!(before["manifest/msp"], after["manifest/msp"], "the relabelled file must change the manifest");
    for t in &adapted {
        assert_eq!(before[t], after[t], "{t}: the target's labels reached the key");
    }
    let s = ws.json(&["run", "pipelines/uda.toml"]);
    let ran = common::with_status(&s, "ran");
    assert!(ran.iter().all(|id| !id.starts_with("train/")), "a train stage reran: {ran:?}");
    for (e, (rows, truth)) in evals.iter().zip(old) {
        let (new_rows, new_truth) = predictions(&entry(&ws, e, &after));
        let wanted: Vec<_> = rows.iter().filter(|r| new_rows.iter().any(|n| n.0 == r.0)).cloned().collect();
        assert!(!new_rows.is_empty());
        assert_eq!(new_rows, wanted, "{e}: predictions moved with the target's labels");
        assert_ne!(truth, new_truth, "{e}: the held labels did change");
    }
}

#[test]
fn inductive_adaptation_reads_only_the_targets_train_audio_and_transductive_is_marked() {
    let ws = workspace();
    ws.json(&["run", "pipelines/uda.toml"]);
    let keys = keys(&ws);
    let manifest = sertool::table::read_parquet(&entry(&ws, "manifest/msp", &keys).join("manifest.parquet")).unwrap();
    let split: BTreeMap<String, String> = sertool::table::strings(&manifest, "id")
        .unwrap()
        .into_iter()
        .zip(sertool::table::strings(&manifest, "split").unwrap())
        .collect();
    let labeled_train = sertool::table::opt_strings(&manifest, "label")
        .unwrap()
        .iter()
        .zip(split.values())
        .filter(|(l, s)| l.is_some() && *s == "train")
        .count();
    let all_train: Vec<&String> = split.iter().filter(|(_, s)| *s == "train").map(|(i, _)| i).collect();
    for m in ADAPTING {
        let id = format!("train/{m}/src/to-msp/seed1");
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(entry(&ws, &id, &keys).join("meta.json")).unwrap()).unwrap();
        let inputs: Vec<&String> = meta["inputs"].as_object().unwrap().keys().collect();
        assert!(!inputs.iter().any(|i| i.as_str() == "manifest/msp"), "{id} reads the target's labels: {inputs:?}");
        let target: Vec<&&String> = inputs.iter().filter(|i| i.starts_with("features/msp/")).collect();
        assert!(
            !target.is_empty() && target.iter().all(|i| i.starts_with("features/msp/unlabeled-train/")),
            "{id}: {target:?}"
        );
        let mut ids = Vec::new();
        for t in target {
            let b = sertool::table::read_parquet(&entry(&ws, t, &keys).join("features.parquet")).unwrap();
            ids.extend(sertool::table::strings(&b, "id").unwrap());
        }
        ids.sort();
        assert!(ids.iter().all(|i| split[i] == "train"), "{id} read audio outside the target's train split");
        assert_eq!(ids.iter().collect::<Vec<_>>(), all_train, "{id}: every train-split utterance, labeled or not");
        assert!(ids.len() > labeled_train, "the unlabeled rows are part of the adaptation set");
        // The in-corpus cell trains without adaptation.
        let own = format!("train/{m}/src/seed1");
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(entry(&ws, &own, &keys).join("meta.json")).unwrap()).unwrap();
        assert!(meta["inputs"].as_object().unwrap().keys().all(|i| !i.starts_with("features/msp/")), "{own}");
    }
    let report = std::fs::read_to_string(ws.path().join("reports/uda/report.md")).unwrap();
    assert!(!report.contains('§'));
    let training = std::fs::read_to_string(ws.path().join("reports/uda/training.md")).unwrap();
    assert!(training.contains("| emo_dna | src → msp | 1 | train |"), "{training}");
    let csv = std::fs::read_to_string(ws.path().join("reports/uda/adaptation.csv")).unwrap();
    assert_eq!(csv.lines().filter(|l| l.starts_with("emo_dna,src,msp,1,")).count(), 8, "one row per epoch");

    // Transductive: the test split's audio joins the adaptation set, and the cells say so.
    let p = ws.path().join("pipelines/uda.toml");
    let text =
        std::fs::read_to_string(&p).unwrap().replace("warmup_epochs = 2", "warmup_epochs = 2\ntransductive = true");
    std::fs::write(&p, text).unwrap();
    ws.json(&["run", "pipelines/uda.toml"]);
    let keys = self::keys(&ws);
    let id = "train/emo_dna/src/to-msp/seed1";
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(entry(&ws, id, &keys).join("meta.json")).unwrap()).unwrap();
    let inputs = meta["inputs"].as_object().unwrap();
    assert!(inputs.keys().any(|i| i.starts_with("features/msp/unlabeled-test/")), "{inputs:?}");
    let report = std::fs::read_to_string(ws.path().join("reports/uda/report.md")).unwrap();
    assert!(report.contains("§ transductive"), "the legend explains the mark");
    // Table rows with a § mark on a cell (the mark follows the mean, the interval follows the marks).
    let marked: Vec<&str> = report.lines().filter(|l| l.starts_with('|') && l.contains('§')).collect();
    assert!(marked.iter().all(|l| l.starts_with("| emo_dna") || l.starts_with("| src")), "{marked:?}");
    assert!(!marked.is_empty());
}

#[test]
fn a_target_without_a_train_split_is_a_plan_error_that_says_what_to_do() {
    let ws = workspace();
    // A CSV corpus whose every row is in the test split.
    common::csv_corpus_with_splits(&ws, "test_only", |_| "test".into());
    let pipeline = PIPELINE.replace(
        "kind = \"msp_podcast\"\nroot = \"../data/synth/msp_podcast\"",
        "kind = \"csv\"\nroot = \"../data/test_only\"\nsplit = { method = \"column\" }",
    );
    std::fs::write(ws.path().join("pipelines/uda.toml"), pipeline).unwrap();
    let out = ws.cmd(&["plan", "pipelines/uda.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("adapts to corpus msp, which has no utterances in its train split"), "{err}");
    assert!(err.contains("transductive = true"), "{err}");
}
