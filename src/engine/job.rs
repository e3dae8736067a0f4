//! Stage work that can travel. A planned stage holds its work as a [`StageJob`]: a value that can run
//! in this process and can also be written out as a [`JobDoc`], a self-contained JSON document (kind,
//! parameters, payload, named input entries, output directory) that another process — or another
//! machine sharing the cache — runs with `sertool exec-stage JOB`. The engine never looks inside a
//! payload; the stage kinds own it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::cache::Meta;
use super::lease::{self, Claim};
use super::{Cache, Graph, StageCtx};
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
    /// Set for a task that commits its own output (a Slurm array task, whose driver may be gone):
    /// then `out` is unused and the task writes into a temporary directory of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<SelfCommit>,
}

/// What a self-committing task needs to write its entry: the cache, and what meta.json records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SelfCommit {
    pub cache: PathBuf,
    /// The key's inputs (external hashes and dependency keys by stage id), for meta.json.
    pub key_inputs: BTreeMap<String, String>,
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
            commit: None,
        })
    }

    /// The document of stage `idx` as a task that claims, computes and commits its entry itself.
    pub fn for_task(graph: &Graph, idx: usize, cache: &Cache, threads: usize) -> anyhow::Result<JobDoc> {
        let ctx = graph.context(idx, cache, cache.root.join("tmp"));
        let mut doc = JobDoc::new(graph, idx, &ctx, threads)?;
        doc.commit = Some(SelfCommit { cache: absolute(&cache.root)?, key_inputs: graph.stages[idx].inputs.clone() });
        Ok(doc)
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

/// How a self-committing task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskEnd {
    /// This task computed and committed the entry (with this many faults).
    Committed(usize),
    /// The entry was complete already, or another task committed it while this one waited.
    AlreadyDone,
}

/// Run a self-committing document: check its inputs are committed, claim the key (waiting while
/// another live task holds it), do `work` into a fresh temporary directory and commit it.
pub fn run_task(doc: &JobDoc, work: impl FnOnce(&JobDoc) -> anyhow::Result<usize>) -> anyhow::Result<TaskEnd> {
    let Some(commit) = &doc.commit else { anyhow::bail!("job document of {} does not commit itself", doc.id) };
    let cache = Cache::open(&commit.cache)?;
    for (name, dirs) in &doc.inputs {
        for d in dirs {
            anyhow::ensure!(
                d.join("meta.json").is_file(),
                "{}: input \"{name}\" {} is not a complete cache entry (did an upstream task fail?)",
                doc.id,
                d.display()
            );
        }
    }
    let slurm_task = match (std::env::var("SLURM_ARRAY_JOB_ID"), std::env::var("SLURM_ARRAY_TASK_ID")) {
        (Ok(j), Ok(t)) => Some(format!("{j}_{t}")),
        _ => std::env::var("SLURM_JOB_ID").ok(),
    };
    let _lease = match lease::claim(&cache, &doc.kind, &doc.key, slurm_task)? {
        Claim::Mine(l) => l,
        Claim::Done => return Ok(TaskEnd::AlreadyDone),
    };
    let started = std::time::Instant::now();
    let tmp = cache.begin(&doc.key)?;
    let mut here = doc.clone();
    here.out = tmp.clone();
    let faults = match work(&here) {
        Ok(f) => f,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let meta = Meta::new(&doc.id, &doc.kind, doc.version, &doc.key, &doc.params, &commit.key_inputs, started, faults);
    if let Err(e) = cache.commit(&tmp, meta) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    Ok(TaskEnd::Committed(faults))
}

/// How many faults a finished stage output recorded (its `faults.json`).
pub fn count_faults(out: &Path) -> anyhow::Result<usize> {
    Ok(read_faults(out)?.len())
}

/// The faults a finished stage output recorded (none when it has no `faults.json`).
pub fn read_faults(out: &Path) -> anyhow::Result<Vec<Fault>> {
    let path = out.join("faults.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a list of faults (damaged cache entry?)", path.display()))
}
