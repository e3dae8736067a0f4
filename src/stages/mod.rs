//! The stage kinds, one file each: its parameters (what its key covers), how it is planned (a
//! `spec` function returning an [`engine::StageSpec`]), its job (everything the work needs, as a
//! serialisable value that can travel in a job document) and the readers of what it writes.
//!
//! ```text
//! manifest/<corpus>                        label map, split, the scanned rows (ids, labels, content hashes)
//! noise/<source>                           pool split settings, the noise files' content hashes
//! mix/<corpus>/<cond>/shardNN              SNR, seed, rate, the shard's test utterances, the noise pool
//! features/<corpus>/<cond>/shardNN         feature settings, rate, the shard's utterances (+ its recipes)
//! train/<model>/<train corpora>/seedN      model settings, seed, train manifests and clean features
//! eval/<model>/<train>/seedN/<test>/<cond> the model, the test manifest, the condition's features
//! report/<pipeline>                        every eval
//! ```
//!
//! Adding a stage kind: its file here, one line in [`run_document`], and its planning call in
//! `pipeline::plan`.

pub mod ensemble;
pub mod eval;
pub mod features;
pub mod manifest;
pub mod mix;
pub mod noise_pool;
pub mod report;
pub mod sequences;
pub mod train;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::corpus::Utterance;
use crate::engine::{self, JobDoc, StageCtx, StageJob};
use crate::error::Fault;

/// A stage kind's job: plain data (it serialises into a job document) that knows how to do the work.
/// Every `Work` is a [`StageJob`], so the scheduler runs it in-process or ships its document.
pub trait Work: Serialize + DeserializeOwned + Send + Sync {
    fn run(&self, ctx: &StageCtx) -> anyhow::Result<Vec<Fault>>;
}

impl<W: Work> StageJob for W {
    fn payload(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::to_value(self)?)
    }

    fn run(&self, ctx: &StageCtx) -> anyhow::Result<Vec<Fault>> {
        Work::run(self, ctx)
    }
}

fn perform_as<W: Work>(doc: &JobDoc) -> anyhow::Result<usize> {
    let work: W = serde_json::from_value(doc.payload.clone())
        .with_context(|| format!("job document of {}: the payload does not fit stage kind {}", doc.id, doc.kind))?;
    engine::job::perform(|ctx| work.run(ctx), &doc.context())
}

/// Run a job document in this process (`sertool exec-stage`): the same work as the local executor.
pub fn run_document(doc: &JobDoc) -> anyhow::Result<usize> {
    match doc.kind.as_str() {
        manifest::KIND => perform_as::<manifest::Job>(doc),
        noise_pool::KIND => perform_as::<noise_pool::Job>(doc),
        mix::KIND => perform_as::<mix::Job>(doc),
        features::KIND => perform_as::<features::Job>(doc),
        train::KIND => perform_as::<train::Job>(doc),
        eval::KIND => perform_as::<eval::Job>(doc),
        ensemble::KIND => perform_as::<ensemble::Job>(doc),
        report::KIND => perform_as::<report::Job>(doc),
        other => anyhow::bail!("job document of {}: unknown stage kind \"{other}\"", doc.id),
    }
}

fn fault(u: &Utterance, corpus: &str, what: &str, detail: impl std::fmt::Display) -> Fault {
    Fault {
        corpus: corpus.to_string(),
        utterance: u.id.clone(),
        file: u.rel_path.clone(),
        what: what.to_string(),
        detail: fault_detail(detail),
    }
}

/// A fault's detail with paths as the run's working folder sees them, so a fault reads the same
/// whichever executor ran the stage and wherever the workspace is (a child process or a Slurm task gets
/// absolute paths, and works in the same folder).
fn fault_detail(detail: impl std::fmt::Display) -> String {
    let detail = format!("{detail:#}");
    match std::env::current_dir() {
        Ok(d) => detail.replace(&format!("{}/", d.display()), ""),
        Err(_) => detail,
    }
}

fn corpus_of(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

fn write_json(path: &Path, v: &impl Serialize) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(v)?).with_context(|| format!("writing {}", path.display()))
}

fn read_json<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// The index of a manifest's label in `[labels] classes`; a label outside them (a manifest written
/// under another label space) is an error, not a panic.
fn class_index(idx: &std::collections::HashMap<&str, usize>, label: &str, classes: &[String]) -> anyhow::Result<usize> {
    idx.get(label).copied().ok_or_else(|| {
        anyhow::anyhow!("manifest label \"{label}\" is not in [labels] classes ({})", classes.join(", "))
    })
}

/// The key of a committed stage: the name of its cache directory.
fn key_of(dir: &Path) -> String {
    dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
}

/// SHA-256 of anything serialisable, streamed (no JSON tree in memory: a scan can have 200,000 rows).
pub fn hash_serialized(v: &impl Serialize) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    serde_json::to_writer(&mut h, v).expect("writing into a hasher cannot fail");
    crate::engine::key::hex(&h.finalize())
}

/// Utterances as a job carries them. `Utterance` leaves its path out of its own serialisation (that
/// feeds content keys, which must not depend on where a corpus lives); a job needs the path to read
/// the audio, so each row travels with it.
pub mod located {
    use super::*;

    #[derive(Serialize)]
    struct Row<'a> {
        row: &'a Utterance,
        path: &'a Path,
    }

    #[derive(Deserialize)]
    struct OwnedRow {
        row: Utterance,
        path: PathBuf,
    }

    pub fn serialize<S: serde::Serializer>(utts: &[Utterance], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(utts.iter().map(|u| Row { row: u, path: &u.path }))
    }

    /// Into a `Vec` or a shared `Arc<[Utterance]>`, whichever the field is.
    pub fn deserialize<'de, D: serde::Deserializer<'de>, T: From<Vec<Utterance>>>(d: D) -> Result<T, D::Error> {
        let rows = Vec::<OwnedRow>::deserialize(d)?;
        Ok(rows.into_iter().map(|r| Utterance { path: r.path, ..r.row }).collect::<Vec<_>>().into())
    }
}

#[cfg(test)]
mod tests {
    /// `[executor.slurm.kinds.<kind>]` accepts exactly the stage kinds there are.
    #[test]
    fn config_knows_every_stage_kind() {
        let kinds = [
            super::manifest::KIND,
            super::noise_pool::KIND,
            super::mix::KIND,
            super::features::KIND,
            super::train::KIND,
            super::eval::KIND,
            super::ensemble::KIND,
            super::report::KIND,
        ];
        assert_eq!(crate::config::executor::STAGE_KINDS, kinds);
    }
}
