//! Slurm: stale stages run as job arrays on a cluster that shares the cache's filesystem.
//!
//! Stale stages are put in waves (a stage's wave is one more than the deepest stale stage it reads)
//! and each wave's stages of one kind become one job array (split at the cluster's `MaxArraySize`).
//! The task list is a file beside the job documents, indexed by `SLURM_ARRAY_TASK_ID`; each task runs
//! `sertool exec-stage --task-list FILE`, which claims each key of its line (`stages_per_task` of
//! them), computes and commits the entry itself
//! (so the driver may exit: `--detach`). Later arrays wait with `--dependency=afterok:` on the arrays
//! holding their inputs, and `--kill-on-invalid-dep=yes` cancels them when one fails.
//!
//! The driver polls with one `sacct` call per round (back-off up to 10 s; `squeue` where accounting
//! is off), but the filesystem is the source of truth: a complete entry is a finished task.
//!
//! ```text
//! cache/slurm/<run>/run.json                 the run record that `sertool status` re-attaches to
//! cache/slurm/<run>/<array>/submit.sh        the sbatch script
//! cache/slurm/<run>/<array>/tasks.txt        per array index, a line of job document paths (tab-separated)
//! cache/slurm/<run>/<array>/task-<i>.json    the job documents
//! cache/slurm/<run>/<array>/logs/<job>_<i>.log
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::engine::schedule::{StageOutcome, Status, Summary};
use crate::engine::{host, Cache, Graph, JobDoc};

/// sbatch settings of every array, or (in [`Slurm::per_kind`]) of one stage kind's arrays; also the
/// schema of a `[executor.slurm.kinds.<kind>]` table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Resources {
    pub partition: Option<String>,
    pub account: Option<String>,
    /// `--time`, e.g. `"02:00:00"`.
    pub time: Option<String>,
    /// `--mem`, e.g. `"8G"`.
    pub mem: Option<String>,
    pub cpus_per_task: Option<u32>,
    /// `--gres`, e.g. `"gpu:1"` for the train stages.
    pub gres: Option<String>,
    /// At most this many tasks of one array run at once (`--array=…%N`).
    pub max_parallel: Option<usize>,
    /// Stages each array task runs, one after another (default 1). Slurm spends about half a second
    /// starting a task, so stages that take milliseconds (most evals) are cheaper in groups.
    pub stages_per_task: Option<usize>,
    /// Further `sbatch` arguments, each one word, e.g. `["--qos=short"]`.
    pub extra_args: Vec<String>,
}

impl Resources {
    /// These settings, with `base` filling what they leave unset; extra arguments add up.
    pub fn over(&self, base: &Resources) -> Resources {
        Resources {
            partition: self.partition.clone().or_else(|| base.partition.clone()),
            account: self.account.clone().or_else(|| base.account.clone()),
            time: self.time.clone().or_else(|| base.time.clone()),
            mem: self.mem.clone().or_else(|| base.mem.clone()),
            cpus_per_task: self.cpus_per_task.or(base.cpus_per_task),
            gres: self.gres.clone().or_else(|| base.gres.clone()),
            max_parallel: self.max_parallel.or(base.max_parallel),
            stages_per_task: self.stages_per_task.or(base.stages_per_task),
            extra_args: base.extra_args.iter().chain(&self.extra_args).cloned().collect(),
        }
    }
}

/// The Slurm executor's settings (`[executor.slurm]` and the command line).
#[derive(Debug, Clone)]
pub struct Slurm {
    pub resources: Resources,
    pub per_kind: BTreeMap<String, Resources>,
    /// The sertool binary the tasks run (it must be reachable from the compute nodes).
    pub program: PathBuf,
    /// Arguments before `exec-stage`'s own (log level).
    pub program_args: Vec<String>,
    /// Names the run's jobs and its run record (the pipeline's name).
    pub label: String,
    /// Submit and return; `sertool status` re-attaches.
    pub detach: bool,
    /// Print the sbatch scripts, submit nothing.
    pub dry_run: bool,
    /// Without it, the first failed task cancels the run's other arrays.
    pub keep_going: bool,
    pub progress: bool,
}

/// One submitted array, as the run record keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArrayRecord {
    pub name: String,
    pub kind: String,
    pub job_id: String,
    pub dir: PathBuf,
    /// Its stages (several may share an array index: `stages_per_task`).
    pub tasks: Vec<TaskRecord>,
    /// Job ids this array waits for (`afterok`).
    pub after: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The array index that runs this stage.
    pub index: usize,
    pub stage: String,
    pub kind: String,
    pub key: String,
    /// Stage ids this task reads that were stale at submission.
    pub deps: Vec<String>,
}

/// `cache/slurm/<run>/run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub label: String,
    pub run: String,
    pub submitted_unix_s: u64,
    pub arrays: Vec<ArrayRecord>,
}

/// What `--executor slurm` did.
pub enum SlurmRun {
    /// Waited for every task: the same summary a local run gives.
    Finished(Summary),
    /// Submitted and returned (`--detach`), or printed the scripts (`--dry-run`).
    Submitted { run_dir: Option<PathBuf>, arrays: usize, tasks: usize, scripts: Vec<String> },
}

/// A planned array before submission.
struct Planned {
    name: String,
    kind: &'static str,
    tasks: Vec<usize>,
    /// Indices of the planned arrays it waits for.
    after: BTreeSet<usize>,
}

/// Waves of stale stages, then arrays of one kind per wave of at most `max_array` tasks.
fn plan_arrays(graph: &Graph, stale: &[bool], max_array: usize) -> Vec<Planned> {
    let order = graph.topological_order();
    let mut wave = vec![0usize; graph.stages.len()];
    for &i in &order {
        if stale[i] {
            wave[i] = graph.stages[i].dep_indices().filter(|&d| stale[d]).map(|d| wave[d] + 1).max().unwrap_or(0);
        }
    }
    let mut groups: BTreeMap<(usize, &'static str), Vec<usize>> = BTreeMap::new();
    for &i in &order {
        if stale[i] {
            groups.entry((wave[i], graph.stages[i].kind)).or_default().push(i);
        }
    }
    let mut arrays: Vec<Planned> = Vec::new();
    let mut array_of = vec![usize::MAX; graph.stages.len()];
    for ((w, kind), members) in groups {
        let parts: Vec<&[usize]> = members.chunks(max_array.max(1)).collect();
        for (p, chunk) in parts.iter().enumerate() {
            let name = if parts.len() > 1 { format!("w{w}-{kind}-{p}") } else { format!("w{w}-{kind}") };
            let idx = arrays.len();
            let mut after = BTreeSet::new();
            for &i in *chunk {
                array_of[i] = idx;
                after.extend(graph.stages[i].dep_indices().filter(|&d| stale[d]).map(|d| array_of[d]));
            }
            arrays.push(Planned { name, kind, tasks: chunk.to_vec(), after });
        }
    }
    arrays
}

fn per_task(res: &Resources) -> usize {
    res.stages_per_task.unwrap_or(1).max(1)
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The sbatch script of one array. `after` are the job ids (or, in a dry run, placeholders) it waits for.
fn script(slurm: &Slurm, res: &Resources, a: &Planned, dir: &Path, after: &[String]) -> String {
    let mut s = String::from("#!/bin/bash\n");
    let mut opt = |o: String| s.push_str(&format!("#SBATCH {o}\n"));
    opt(format!("--job-name=sertool-{}-{}", slurm.label, a.name));
    let throttle = res.max_parallel.map(|p| format!("%{p}")).unwrap_or_default();
    opt(format!("--array=0-{}{throttle}", a.tasks.len().div_ceil(per_task(res)) - 1));
    opt(format!("--output={}/logs/%A_%a.log", dir.display()));
    opt("--open-mode=append".into());
    opt("--requeue".into());
    if let Ok(cwd) = std::env::current_dir() {
        opt(format!("--chdir={}", cwd.display()));
    }
    opt(format!("--cpus-per-task={}", res.cpus_per_task.unwrap_or(1)));
    for (flag, v) in [
        ("partition", &res.partition),
        ("account", &res.account),
        ("time", &res.time),
        ("mem", &res.mem),
        ("gres", &res.gres),
    ] {
        if let Some(v) = v {
            opt(format!("--{flag}={v}"));
        }
    }
    if !after.is_empty() {
        opt(format!("--dependency=afterok:{}", after.join(":")));
        opt("--kill-on-invalid-dep=yes".into());
    }
    for x in &res.extra_args {
        opt(x.clone());
    }
    let mut cmd = vec![quote(&slurm.program.to_string_lossy())];
    cmd.extend(slurm.program_args.iter().map(|a| quote(a)));
    cmd.push("exec-stage".into());
    cmd.push("--task-list".into());
    cmd.push(quote(&dir.join("tasks.txt").to_string_lossy()));
    s.push_str(&format!("exec {}\n", cmd.join(" ")));
    s
}

fn run_cmd(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program} (is Slurm installed on this host?)"))?;
    if !out.status.success() {
        anyhow::bail!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The cluster's `MaxArraySize` (array indices run 0 … MaxArraySize − 1); Slurm's default is 1001.
pub fn max_array_size() -> usize {
    run_cmd("scontrol", &["show", "config"])
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.trim_start().starts_with("MaxArraySize"))
                .and_then(|l| l.split('=').nth(1).and_then(|v| v.trim().parse::<usize>().ok()))
        })
        .unwrap_or(1001)
}

fn new_run_name() -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    format!("{ms}-{}", host::writer_tag())
}

/// Submit every stale stage of `graph`; wait for them unless detaching.
pub fn execute(graph: &Graph, cache: &Cache, slurm: &Slurm) -> anyhow::Result<SlurmRun> {
    let started = Instant::now();
    let stale: Vec<bool> = graph.stages.iter().map(|st| !cache.is_complete(st.kind, &st.key)).collect();
    for (i, st) in graph.stages.iter().enumerate() {
        if !stale[i] {
            cache.record_last(&st.id, st.kind, &st.key)?;
        }
    }
    if !slurm.dry_run {
        refuse_if_in_flight(cache, &slurm.label, graph, &stale)?;
    }
    let max_array = if slurm.dry_run { 1001 } else { max_array_size() };
    let planned = plan_arrays(graph, &stale, max_array);
    let run = new_run_name();
    let run_dir = cache.root.join("slurm").join(&run);
    let tasks: usize = planned.iter().map(|a| a.tasks.len()).sum();
    if planned.is_empty() {
        return Ok(SlurmRun::Finished(summary(graph, cache, &stale, &BTreeMap::new(), started)));
    }
    let mut record =
        RunRecord { label: slurm.label.clone(), run: run.clone(), submitted_unix_s: host::unix_s(), arrays: vec![] };
    let mut scripts = Vec::new();
    for a in &planned {
        let res = slurm.per_kind.get(a.kind).map_or_else(|| slurm.resources.clone(), |k| k.over(&slurm.resources));
        let dir = std::path::absolute(run_dir.join(&a.name))
            .with_context(|| format!("making {} absolute", run_dir.display()))?;
        let after: Vec<String> = a
            .after
            .iter()
            .map(|&j| {
                if slurm.dry_run {
                    format!("<job id of {}>", planned[j].name)
                } else {
                    record.arrays[j].job_id.clone()
                }
            })
            .collect();
        let text = script(slurm, &res, a, &dir, &after);
        if slurm.dry_run {
            scripts.push(text);
            continue;
        }
        std::fs::create_dir_all(dir.join("logs")).with_context(|| format!("creating {}", dir.display()))?;
        let threads = res.cpus_per_task.unwrap_or(1) as usize;
        let mut lines: Vec<Vec<String>> = vec![Vec::new(); a.tasks.len().div_ceil(per_task(&res))];
        let mut task_records = Vec::new();
        for (t, &i) in a.tasks.iter().enumerate() {
            let doc = JobDoc::for_task(graph, i, cache, threads)?;
            let path = dir.join(format!("task-{t}.json"));
            std::fs::write(&path, serde_json::to_vec(&doc)?).with_context(|| format!("writing {}", path.display()))?;
            let index = t / per_task(&res);
            lines[index].push(path.display().to_string());
            let st = &graph.stages[i];
            task_records.push(TaskRecord {
                index,
                stage: st.id.clone(),
                kind: st.kind.to_string(),
                key: st.key.clone(),
                deps: st.dep_indices().filter(|&d| stale[d]).map(|d| graph.stages[d].id.clone()).collect(),
            });
        }
        let list: String = lines.iter().map(|l| format!("{}\n", l.join("\t"))).collect();
        std::fs::write(dir.join("tasks.txt"), list)?;
        let script_path = dir.join("submit.sh");
        std::fs::write(&script_path, &text)?;
        let out = run_cmd("sbatch", &["--parsable", &script_path.to_string_lossy()])
            .with_context(|| format!("submitting array {} of {}", a.name, run_dir.display()))?;
        let job_id = out.trim().split(';').next().unwrap_or_default().to_string();
        anyhow::ensure!(!job_id.is_empty(), "sbatch printed no job id for {}", script_path.display());
        tracing::info!("submitted {} ({} tasks) as Slurm job {job_id}", a.name, a.tasks.len());
        record.arrays.push(ArrayRecord {
            name: a.name.clone(),
            kind: a.kind.to_string(),
            job_id,
            dir,
            tasks: task_records,
            after,
        });
        // Written after every submission: a driver killed half-way still leaves a record to attach to.
        crate::engine::atomic::write_atomic(&run_dir.join("run.json"), &serde_json::to_vec_pretty(&record)?)?;
    }
    if slurm.dry_run {
        return Ok(SlurmRun::Submitted { run_dir: None, arrays: planned.len(), tasks, scripts });
    }
    if slurm.detach {
        return Ok(SlurmRun::Submitted { run_dir: Some(run_dir), arrays: planned.len(), tasks, scripts });
    }
    let states = wait(&record, cache, slurm)?;
    Ok(SlurmRun::Finished(summary(graph, cache, &stale, &states, started)))
}

/// A second submission while the newest run of the pipeline still has stale stages pending or
/// running would queue duplicate tasks that only wait for the first ones' claims: say so instead.
fn refuse_if_in_flight(cache: &Cache, label: &str, graph: &Graph, stale: &[bool]) -> anyhow::Result<()> {
    let Some(record) = latest_run(cache, label)? else { return Ok(()) };
    let wanted: BTreeSet<&str> =
        graph.stages.iter().zip(stale).filter(|(_, &s)| s).map(|(st, _)| st.id.as_str()).collect();
    let states = poll(&record, cache)?;
    let live = states
        .iter()
        .filter(|(id, s)| {
            wanted.contains(id.as_str()) && matches!(s, TaskState::Pending | TaskState::Running | TaskState::Committing)
        })
        .count();
    if live > 0 {
        return Err(crate::error::user_error(format!(
            "Slurm run {} of {label} still has {live} stage(s) pending or running; `sertool status` follows it \
             (scancel its jobs to start over)",
            cache.root.join("slurm").join(&record.run).display()
        )));
    }
    Ok(())
}

/// Where one task stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum TaskState {
    Pending,
    Running,
    /// Slurm says it completed, but its entry is not visible here yet (attribute caches of network
    /// filesystems); [`wait`] gives it a minute.
    Committing,
    /// Its entry is in the cache.
    Done,
    /// Slurm ended it without an entry: state (FAILED, CANCELLED, TIMEOUT, …) and exit code.
    Failed {
        job: String,
        slurm_state: String,
        exit_code: String,
        log: PathBuf,
    },
    /// Cancelled before it started: an array it waits for failed, or the run was cancelled.
    Skipped,
}

/// The state of every task of a run by stage id: one `sacct` call (or `squeue` where accounting is
/// off), and the cache for what finished.
pub fn poll(record: &RunRecord, cache: &Cache) -> anyhow::Result<BTreeMap<String, TaskState>> {
    let ids: Vec<&str> = record.arrays.iter().map(|a| a.job_id.as_str()).collect();
    let slurm_states = sacct(&ids).or_else(|e| {
        tracing::debug!("sacct: {e:#}; falling back to squeue");
        squeue(&ids)
    })?;
    let mut out = BTreeMap::new();
    for a in &record.arrays {
        for t in &a.tasks {
            let i = t.index;
            let job = format!("{}_{i}", a.job_id);
            let state = if cache.is_complete(&t.kind, &t.key) {
                TaskState::Done
            } else {
                match slurm_states.get(&job).map(String::as_str) {
                    None | Some("PENDING") | Some("REQUEUED") | Some("RESIZING") | Some("SUSPENDED") => {
                        if slurm_states.contains_key("<squeue>") && !slurm_states.contains_key(&job) {
                            // squeue no longer lists it and its entry is not visible: it ended, with
                            // or without one; `wait` gives it the same grace as COMPLETED.
                            TaskState::Committing
                        } else {
                            TaskState::Pending
                        }
                    }
                    Some("RUNNING") | Some("COMPLETING") | Some("CONFIGURING") | Some("SIGNALING")
                    | Some("STAGE_OUT") | Some("STOPPED") => TaskState::Running,
                    // Held after a requeue (--requeue): Slurm runs it again.
                    Some(s) if s.starts_with("REQUEUE") => TaskState::Pending,
                    // A task that exits 0 has committed (or found the entry done); the rename may
                    // still be on its way to this host's view of the filesystem.
                    Some("COMPLETED") => TaskState::Committing,
                    Some(other) => {
                        let mut f = other.split('|');
                        let (st, code, start) =
                            (f.next().unwrap_or_default(), f.next().unwrap_or_default(), f.next().unwrap_or_default());
                        if st == "CANCELLED" && matches!(start, "" | "None" | "Unknown") {
                            // Cancelled before it started: an array it waits for failed
                            // (--kill-on-invalid-dep), or the run was cancelled.
                            TaskState::Skipped
                        } else {
                            failed(a, i, st, code)
                        }
                    }
                }
            };
            out.insert(t.stage.clone(), state);
        }
    }
    // A task cancelled because what it reads failed or was skipped is skipped too (Slurm may record
    // a start time for a pending task it cancels), to a fixed point along the dependency chain.
    loop {
        let mut changed = false;
        for a in &record.arrays {
            for t in &a.tasks {
                let cancelled = matches!(out.get(&t.stage), Some(TaskState::Failed { slurm_state, .. }) if slurm_state == "CANCELLED");
                let upstream_bad =
                    t.deps.iter().any(|d| matches!(out.get(d), Some(TaskState::Failed { .. } | TaskState::Skipped)));
                if cancelled && upstream_bad {
                    out.insert(t.stage.clone(), TaskState::Skipped);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    Ok(out)
}

fn failed(a: &ArrayRecord, i: usize, state: &str, code: &str) -> TaskState {
    TaskState::Failed {
        job: format!("{}_{i}", a.job_id),
        slurm_state: state.to_string(),
        exit_code: code.to_string(),
        log: a.dir.join("logs").join(format!("{}_{i}.log", a.job_id)),
    }
}

/// `JobID → "STATE|ExitCode"` for every array task sacct knows, pending ranges expanded.
fn sacct(ids: &[&str]) -> anyhow::Result<BTreeMap<String, String>> {
    let out = run_cmd("sacct", &["-n", "-P", "-X", "--format=JobID,State,ExitCode,Start", "-j", &ids.join(",")])?;
    let mut states = BTreeMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('|').collect();
        let [id, state, code, start, ..] = f.as_slice() else { continue };
        // "CANCELLED by 0" → CANCELLED
        let state = state.split_whitespace().next().unwrap_or_default();
        let value = match state {
            "PENDING" | "RUNNING" | "COMPLETED" | "COMPLETING" | "CONFIGURING" | "SUSPENDED" | "RESIZING"
            | "SIGNALING" | "STAGE_OUT" | "STOPPED" => state.to_string(),
            s if s.starts_with("REQUEUE") => state.to_string(),
            _ => format!("{state}|{code}|{start}"),
        };
        for task in expand_task_ids(id) {
            states.insert(task, value.clone());
        }
    }
    Ok(states)
}

/// squeue lists what is pending or running; a `<squeue>` marker says the states came from it.
fn squeue(ids: &[&str]) -> anyhow::Result<BTreeMap<String, String>> {
    let out = run_cmd("squeue", &["-h", "-r", "-o", "%i|%T", "-j", &ids.join(",")])?;
    let mut states = BTreeMap::from([("<squeue>".to_string(), String::new())]);
    for line in out.lines() {
        if let Some((id, state)) = line.trim().split_once('|') {
            for task in expand_task_ids(id) {
                states.insert(task, state.to_string());
            }
        }
    }
    Ok(states)
}

/// `12_3` → [12_3]; `12_[4-6,9%2]` → [12_4, 12_5, 12_6, 12_9]; `12` (an array before it starts) → [].
fn expand_task_ids(id: &str) -> Vec<String> {
    let Some((job, rest)) = id.split_once('_') else { return vec![] };
    if let Some(inner) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let inner = inner.split('%').next().unwrap_or_default();
        let mut out = Vec::new();
        for part in inner.split(',') {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                out.extend((a..=b).map(|i| format!("{job}_{i}")));
            }
        }
        out
    } else {
        vec![id.to_string()]
    }
}

fn is_final(s: &TaskState) -> bool {
    matches!(s, TaskState::Done | TaskState::Failed { .. } | TaskState::Skipped)
}

/// Poll until every task is done, failed or skipped. Without `keep_going`, the first failure cancels
/// the run's arrays.
fn wait(record: &RunRecord, cache: &Cache, slurm: &Slurm) -> anyhow::Result<BTreeMap<String, TaskState>> {
    let max_pause = std::env::var("SERTOOL_SLURM_POLL_MAX_S")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(Duration::from_secs(10), Duration::from_secs_f64);
    let total: usize = record.arrays.iter().map(|a| a.tasks.len()).sum();
    let mut pause = Duration::from_millis(500).min(max_pause);
    let mut last_done = usize::MAX;
    let mut cancelled = false;
    let mut committing_since: BTreeMap<String, Instant> = BTreeMap::new();
    let mut poll_errors = 0;
    loop {
        let mut states = match poll(record, cache) {
            Ok(s) => {
                poll_errors = 0;
                s
            }
            // slurmctld or slurmdbd may be briefly unreachable: a few failed rounds are not the end.
            Err(e) if poll_errors < 5 => {
                poll_errors += 1;
                tracing::warn!("polling Slurm failed ({poll_errors} of 5 allowed in a row): {e:#}");
                std::thread::sleep(max_pause);
                continue;
            }
            Err(e) => return Err(e.context("polling Slurm failed 6 times in a row")),
        };
        for (stage, s) in states.iter_mut() {
            if *s == TaskState::Committing {
                let since = *committing_since.entry(stage.clone()).or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(60) {
                    let (a, i) = locate(record, stage);
                    *s = failed(a, i, "COMPLETED", "0:0 but its entry never appeared in the cache");
                }
            }
        }
        let done = states.values().filter(|s| matches!(s, TaskState::Done)).count();
        let failed = states.values().filter(|s| matches!(s, TaskState::Failed { .. })).count();
        if slurm.progress && done != last_done {
            eprintln!("slurm: {done}/{total} tasks done, {failed} failed");
        }
        if failed > 0 && !slurm.keep_going && !cancelled {
            cancel(record);
            cancelled = true;
        }
        if states.values().all(is_final) {
            return Ok(states);
        }
        pause =
            if done != last_done { Duration::from_millis(500).min(max_pause) } else { (pause * 3 / 2).min(max_pause) };
        last_done = done;
        std::thread::sleep(pause);
    }
}

/// The array and index of a stage of the run.
fn locate<'r>(record: &'r RunRecord, stage: &str) -> (&'r ArrayRecord, usize) {
    for a in &record.arrays {
        if let Some(t) = a.tasks.iter().find(|t| t.stage == stage) {
            return (a, t.index);
        }
    }
    unreachable!("poll only reports the run's own stages")
}

/// `scancel` every array of the run (what already finished is untouched).
pub fn cancel(record: &RunRecord) {
    let ids: Vec<&str> = record.arrays.iter().map(|a| a.job_id.as_str()).collect();
    if let Err(e) = run_cmd("scancel", &ids) {
        tracing::warn!("scancel: {e:#}");
    }
}

/// A local-run summary of a Slurm run: cached before, ran (entry now present), failed, skipped.
fn summary(
    graph: &Graph,
    cache: &Cache,
    stale: &[bool],
    states: &BTreeMap<String, TaskState>,
    started: Instant,
) -> Summary {
    let stages: Vec<StageOutcome> = graph
        .stages
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let mut bad_input = false;
            let (status, error) = if !stale[i] {
                (Status::Cached, None)
            } else {
                match states.get(&st.id) {
                    Some(TaskState::Done) => (Status::Ran, None),
                    Some(TaskState::Failed { job, slurm_state, exit_code, log }) => {
                        bad_input = exit_code.starts_with("2:");
                        (Status::Failed, Some(describe_failure(job, slurm_state, exit_code, log)))
                    }
                    _ if cache.is_complete(st.kind, &st.key) => (Status::Ran, None),
                    _ => (Status::Skipped, None),
                }
            };
            let meta = (status == Status::Ran).then(|| cache.read_meta(st.kind, &st.key).ok()).flatten();
            StageOutcome {
                id: st.id.clone(),
                kind: st.kind.to_string(),
                key: st.key.clone(),
                status,
                seconds: meta.as_ref().map_or(0.0, |m| m.seconds),
                faults: meta.as_ref().map_or(0, |m| m.faults),
                error,
                bad_input,
            }
        })
        .collect();
    Summary::new(stages, started.elapsed().as_secs_f64())
}

/// `Slurm job 12_3 (array 12, index 3): FAILED, exit code 1:0; log …: <its last line>`.
pub fn describe_failure(job: &str, state: &str, exit_code: &str, log: &Path) -> String {
    let (array, index) = job.split_once('_').unwrap_or((job, "?"));
    let last = std::fs::read_to_string(log)
        .ok()
        .and_then(|t| t.lines().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim().to_string()))
        .map(|l| format!(": {l}"))
        .unwrap_or_default();
    let code = if exit_code.is_empty() { String::new() } else { format!(", exit code {exit_code}") };
    format!("Slurm job {job} (array {array}, index {index}): {state}{code}; log {}{last}", log.display())
}

/// The newest run record of `label` in this cache.
pub fn latest_run(cache: &Cache, label: &str) -> anyhow::Result<Option<RunRecord>> {
    let Ok(rd) = std::fs::read_dir(cache.root.join("slurm")) else { return Ok(None) };
    let mut runs: Vec<PathBuf> = rd.flatten().map(|e| e.path().join("run.json")).filter(|p| p.is_file()).collect();
    runs.sort();
    for path in runs.iter().rev() {
        let bytes = std::fs::read(path).with_context(|| format!("reading Slurm run record {}", path.display()))?;
        let rec: RunRecord = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a sertool Slurm run record", path.display()))?;
        if rec.label == label {
            return Ok(Some(rec));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sacct_task_ids_expand() {
        assert_eq!(expand_task_ids("12_3"), vec!["12_3"]);
        assert_eq!(expand_task_ids("12_[4-6,9%2]"), vec!["12_4", "12_5", "12_6", "12_9"]);
        assert_eq!(expand_task_ids("12_[0-1]"), vec!["12_0", "12_1"]);
        assert!(expand_task_ids("12").is_empty());
    }

    #[test]
    fn kind_settings_override_the_defaults() {
        let base = Resources {
            partition: Some("cpu".into()),
            max_parallel: Some(8),
            extra_args: vec!["--qos=a".into()],
            ..Default::default()
        };
        let train = Resources {
            partition: Some("gpu".into()),
            gres: Some("gpu:1".into()),
            extra_args: vec!["--x".into()],
            ..Default::default()
        };
        let r = train.over(&base);
        assert_eq!(r.partition.as_deref(), Some("gpu"));
        assert_eq!(r.gres.as_deref(), Some("gpu:1"));
        assert_eq!(r.max_parallel, Some(8));
        assert_eq!(r.extra_args, vec!["--qos=a", "--x"]);
    }
}
