//! Shared helpers: a temporary workspace with synthesised corpora, and the binary driven by `--json`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_sertool");

pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    /// A fresh folder with the synthetic corpora under `data/synth` and the demo pipeline copied to
    /// `pipelines/demo.toml` (so relative paths resolve exactly as in the repository).
    pub fn new(actors: u32) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
        let demo = std::fs::read_to_string(repo().join("pipelines/demo.toml")).unwrap();
        std::fs::write(dir.path().join("pipelines/demo.toml"), demo).unwrap();
        let ws = Workspace { dir };
        let out = ws.cmd(&["synth", "data/synth", "--actors", &actors.to_string()]);
        assert!(out.status.success(), "synth failed: {}", String::from_utf8_lossy(&out.stderr));
        ws
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args).current_dir(self.path()).env_remove("SERTOOL_SYNTH").env("RUST_BACKTRACE", "0");
        c
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Run a verb with `--json`, insist on exit code 0 and parse stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.cmd(&a);
        assert!(
            out.status.success(),
            "sertool {args:?} failed ({:?}): {}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// Stage id → key of every stage `sertool plan` lists for this pipeline file.
    pub fn plan_keys(&self, pipeline: &str) -> std::collections::BTreeMap<String, String> {
        let plan = self.json(&["plan", pipeline]);
        plan["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["id"].as_str().unwrap().to_string(), s["key"].as_str().unwrap().to_string()))
            .collect()
    }

    pub fn edit_pipeline(&self, from: &str, to: &str) {
        let p = self.path().join("pipelines/demo.toml");
        let s = std::fs::read_to_string(&p).unwrap();
        assert!(s.contains(from), "pipeline has no {from:?}");
        std::fs::write(&p, s.replacen(from, to, 1)).unwrap();
    }
}

/// A small pipeline in the workspace: one corpus, one noise at one SNR, two models, one seed; 8
/// feature shards per condition. `extra` is appended (e.g. an `[executor.slurm]` table).
pub fn small_pipeline(ws: &Workspace, epochs: usize, extra: &str) -> &'static str {
    let text = format!(
        r#"[pipeline]
name = "small"
shards = 8

[labels]
classes = ["neutral", "happy", "angry", "sad"]

[corpora.a]
kind = "cremad"
root = "../data/synth/cremad_a"

[noise.n]
kind = "musan"
root = "../data/synth/musan"
subsets = ["noise"]
test_fraction = 0.5

[mix]
snr_db = [5]

[features]
kind = "logmel_stats"
n_mels = 32

[models.mlp]
kind = "mlp"
hidden = [32]
epochs = {epochs}

[models.edrl]
kind = "edrl"
epochs = 4

[[experiments]]
name = "in_a"
train = ["a"]
test = ["a"]
{extra}"#
    );
    std::fs::write(ws.path().join("pipelines/small.toml"), text).unwrap();
    "pipelines/small.toml"
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Ids of the stages whose status in a run summary is `status`.
pub fn with_status(summary: &serde_json::Value, status: &str) -> Vec<String> {
    summary["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == status)
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

/// Every file under `dir`, recursively, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(files_under(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out.sort();
    out
}

/// A copy of the synthesiser's generic-CSV corpus at `data/<name>` with its split column rewritten.
pub fn csv_corpus_with_splits(ws: &Workspace, name: &str, rewrite: impl Fn(&str) -> String) {
    let src = ws.path().join("data/synth/generic_csv");
    let dst = ws.path().join("data").join(name);
    std::fs::create_dir_all(dst.join("audio")).unwrap();
    for e in std::fs::read_dir(src.join("audio")).unwrap().flatten() {
        std::fs::copy(e.path(), dst.join("audio").join(e.file_name())).unwrap();
    }
    let csv = std::fs::read_to_string(src.join("manifest.csv")).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    let col = header.split(',').position(|h| h == "split").unwrap();
    let mut text = format!("{header}\n");
    for l in lines {
        let mut f: Vec<String> = l.split(',').map(String::from).collect();
        f[col] = rewrite(&f[col]);
        text.push_str(&(f.join(",") + "\n"));
    }
    std::fs::write(dst.join("manifest.csv"), text).unwrap();
}
