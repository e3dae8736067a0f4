//! Stage work that can travel. A planned stage holds its work as a [`StageJob`]: a value that can run
//! in this process and can also be written out as a [`JobDoc`], a self-contained JSON document (kind,
//! parameters, payload, named input entries, output directory) that another process — or another
//! machine sharing the cache — runs with `sertool exec-stage JOB`. The engine never looks inside a
//! payload; the stage kinds own it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{Graph, StageCtx};
use crate::error::Fault;

/// The work of one stage instance.
pub trait StageJob: Send + Sync {
    /// Everything the work needs besides its inputs' entries, as it travels in a job document. Running
    /// the document's payload must do exactly what [`StageJob::run`] does.
    fn payload(&self) -> anyhow::Result<serde_json::Value>;

    /// Write the stage's outputs into `ctx.out`; return the per-utterance faults met on the way.
    fn run(&self, ctx: &StageCtx) -> anyhow::Result<Vec<Fault>>;
}

/// Version of the job document layout, checked by `exec-stage`.
pub const JOB_FORMAT: u32 = 1;

/// A stage instance as a self-contained document: what `sertool exec-stage` runs in a fresh process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobDoc {
    pub format: u32,
    pub id: String,
    pub kind: String,
    pub version: u32,
    pub key: String,
    /// The parameters the key covers (for the record; the payload carries what the work reads).
    pub params: serde_json::Value,
    pub payload: serde_json::Value,
    /// Input name → committed entry directories (absolute).
    pub inputs: BTreeMap<String, Vec<PathBuf>>,
    /// Where the work writes (absolute); the driver commits it.
    pub out: PathBuf,
    /// The directory the driver ran in: relative paths in the payload are relative to it.
    pub workdir: PathBuf,
    /// Threads the work may use for its own data parallelism.
    pub threads: usize,
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("making {} absolute", p.display()))
}

impl JobDoc {
    /// The document of stage `idx`, writing into `out`.
    pub fn new(graph: &Graph, idx: usize, ctx: &StageCtx, threads: usize) -> anyhow::Result<JobDoc> {
        let st = &graph.stages[idx];
        let mut inputs = BTreeMap::new();
        for (name, dirs) in &ctx.inputs {
            inputs.insert(name.clone(), dirs.iter().map(|d| absolute(d)).collect::<anyhow::Result<Vec<_>>>()?);
        }
        Ok(JobDoc {
            format: JOB_FORMAT,
            id: st.id.clone(),
            kind: st.kind.to_string(),
            version: st.version,
            key: st.key.clone(),
            params: st.params.clone(),
            payload: st.job.payload().with_context(|| format!("writing the job document of {}", st.id))?,
            inputs,
            out: absolute(&ctx.out)?,
            workdir: std::env::current_dir().context("reading the current directory")?,
            threads,
        })
    }

    pub fn read(path: &Path) -> anyhow::Result<JobDoc> {
        let bytes = std::fs::read(path).with_context(|| format!("reading job document {}", path.display()))?;
        let doc: JobDoc = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a sertool job document", path.display()))?;
        anyhow::ensure!(
            doc.format == JOB_FORMAT,
            "{}: job document format {} (this sertool reads format {JOB_FORMAT})",
            path.display(),
            doc.format
        );
        Ok(doc)
    }

    pub fn context(&self) -> StageCtx {
        StageCtx { out: self.out.clone(), inputs: self.inputs.clone() }
    }
}

/// Run a stage's work and leave its faults beside its outputs (`faults.json`, only when there are
/// any), whichever process does the work. Returns how many faults there were.
pub fn perform(run: impl FnOnce(&StageCtx) -> anyhow::Result<Vec<Fault>>, ctx: &StageCtx) -> anyhow::Result<usize> {
    let faults = run(ctx)?;
    if !faults.is_empty() {
        let path = ctx.out.join("faults.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&faults)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(faults.len())
}

/// How many faults a finished stage output recorded (its `faults.json`).
pub fn count_faults(out: &Path) -> anyhow::Result<usize> {
    let path = out.join("faults.json");
    if !path.is_file() {
        return Ok(0);
    }
    let faults: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&path)?).with_context(|| format!("reading {}", path.display()))?;
    Ok(faults.len())
}
