//! The command line: verbs, `--json`, exit codes (0 ok, 1 the work failed, 2 the input is wrong).
//! Results go to stdout, progress and logs to stderr.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use serde_json::json;

use crate::config::Pipeline;
use crate::engine::executor::slurm;
use crate::engine::{self, Cache, RunOptions, Status};
use crate::error::{is_user_error, user_error};
use crate::pipeline::{self, Planned};

#[derive(Parser, Debug)]
#[command(
    name = "sertool",
    version,
    about = "Reproducible, content-hashed speech-emotion-recognition pipelines from one TOML file"
)]
struct Cli {
    /// The cache directory (content-addressed stage outputs).
    #[arg(long, global = true, default_value = "cache")]
    cache: PathBuf,
    /// Print one JSON document on stdout and nothing else there.
    #[arg(long, global = true)]
    json: bool,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// How a run keeps other runs out of its way: "flock" (one run at a time holds cache/lock; the
    /// default) or "none" (for a cache on a filesystem without coherent locks: runs go on at once,
    /// and per-entry leases keep any two from computing one key together). `gc` always takes the lock.
    #[arg(long, global = true, value_enum, default_value_t = LockMode::Flock, env = "SERTOOL_LOCK")]
    lock: LockMode,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run what is stale and nothing else.
    ///
    /// Example: sertool run pipelines/demo.toml --jobs 2
    Run {
        pipeline: PathBuf,
        /// Stages run at once (default: the number of cores).
        #[arg(short, long)]
        jobs: Option<usize>,
        /// Go on with independent stages after a stage fails.
        #[arg(long)]
        keep_going: bool,
        /// Fail at once if another run holds the cache, instead of waiting.
        #[arg(long)]
        no_wait: bool,
        /// Where stage work runs: "local" (threads of this process), "process" (each stage in a
        /// child `sertool exec-stage`, from its job document) or "slurm" (job arrays on the cluster
        /// this host submits to; settings in `[executor.slurm]`).
        #[arg(long, value_enum, default_value_t = ExecutorKind::Local)]
        executor: ExecutorKind,
        /// With `--executor slurm`: submit, then exit; `sertool status` re-attaches.
        #[arg(long)]
        detach: bool,
        /// With `--executor slurm`: print the sbatch scripts and submit nothing.
        #[arg(long)]
        dry_run: bool,
        /// With `--executor slurm`: stages per array task (overrides `[executor.slurm]
        /// stages_per_task`).
        #[arg(long)]
        stages_per_task: Option<usize>,
    },
    /// Where a Slurm run of a pipeline stands (pending, running, done, failed per stage kind, one
    /// `sacct` call); when every stage is in the cache, publish the models and the report as `run`
    /// does.
    ///
    /// Example: sertool status pipelines/demo.toml
    Status { pipeline: PathBuf },
    /// Run one stage from its job document: what `--executor process` starts for each stage (the
    /// driver commits), and what a Slurm array task runs (`--task-list`: the document on line
    /// SLURM_ARRAY_TASK_ID of the list; the task claims, computes and commits the entry itself).
    ///
    /// Example: sertool exec-stage cache/tmp/<key>.<host>.<pid>.<nonce>.job.json
    ExecStage {
        #[arg(required_unless_present = "task_list")]
        job: Option<PathBuf>,
        /// A file of job document paths, one per array index.
        #[arg(long, conflicts_with = "job")]
        task_list: Option<PathBuf>,
        /// The line of the task list (default: $SLURM_ARRAY_TASK_ID).
        #[arg(long, requires = "task_list")]
        index: Option<usize>,
    },
    /// Say which stages would run, and why.
    ///
    /// Example: sertool plan pipelines/demo.toml
    Plan {
        pipeline: PathBuf,
        /// List cached stages too.
        #[arg(long)]
        all: bool,
        /// Print the resolved configuration with every default filled in.
        #[arg(long)]
        show_config: bool,
        /// Print the stage graph as Graphviz DOT (stale stages filled).
        #[arg(long)]
        dot: bool,
    },
    /// Make the mix recipes (running only what they need) and write the mixtures as WAV files.
    ///
    /// Example: sertool mix pipelines/demo.toml --write-wav mixed/
    Mix {
        pipeline: PathBuf,
        /// Folder for the mixtures: <corpus>/<condition>/<utterance>.wav, 32-bit float.
        #[arg(long)]
        write_wav: PathBuf,
        #[arg(short, long)]
        jobs: Option<usize>,
    },
    /// Predict the emotion of WAV files with a trained model (a folder under models/<pipeline>/ that
    /// `run` publishes, or a train stage's cache entry). Decoding, resampling and features are exactly
    /// those of training.
    ///
    /// Example: sertool predict --model models/demo/mlp/synth_a/seed1 data/synth/cremad_a/AudioWAV/1001_IEO_HAP_HI.wav
    Predict {
        #[arg(long)]
        model: PathBuf,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Enhance WAV files with a model that has an enhancement head (se-ser, se-then-ser): its mask on
    /// each file's STFT magnitude, the file's own phase, overlap-add; written as 32-bit float WAV
    /// files of the same names under --out.
    ///
    /// Example: sertool enhance --model models/demo/se_ser/synth_a/seed1 noisy.wav --out enhanced
    Enhance {
        #[arg(long)]
        model: PathBuf,
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Say what differs between a stage and its last cached run.
    ///
    /// Example: sertool explain pipelines/demo.toml report/demo
    Explain { pipeline: PathBuf, stage: String },
    /// Regenerate the report from the cache, without training anything.
    ///
    /// Example: sertool report pipelines/demo.toml --compare other/reports/demo/results.json
    Report {
        pipeline: PathBuf,
        /// Another report's results.json: say whether both used the same protocol (classes, label maps,
        /// splits, noise, evaluation sets) and, if not, what differs.
        #[arg(long, value_name = "RESULTS_JSON")]
        compare: Option<PathBuf>,
    },
    /// Remove cache entries that none of the given pipelines reach.
    ///
    /// Example: sertool gc pipelines/demo.toml pipelines/cross_corpus.toml
    Gc {
        #[arg(required = true)]
        pipelines: Vec<PathBuf>,
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Measure a hot path on real files (figures for docs/benchmarks.md).
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// Check the cache.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// Write the built-in synthetic corpora (CREMA-D layout) and noises.
    ///
    /// Example: sertool synth data/synth
    Synth {
        dir: PathBuf,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Actors per CREMA-D-layout corpus.
        #[arg(long, default_value_t = 12)]
        actors: u32,
        /// Instead, write only an MSP-Podcast layout with this many label rows and tiny audio
        /// (DIR/msp_podcast_large), for ingestion at scale.
        #[arg(long)]
        msp_rows: Option<usize>,
    },
    /// Read one corpus in its native layout and write its manifest (manifests/<name>.parquet).
    ///
    /// Example: sertool ingest --kind iemocap /data/IEMOCAP_full_release
    Ingest {
        /// iemocap, cremad, msp_podcast, ravdess, emodb or csv.
        #[arg(long)]
        kind: String,
        root: PathBuf,
        /// The corpus name (manifest file name and id prefix); default: the kind.
        #[arg(long)]
        name: Option<String>,
        /// Make every problem (missing, unlabeled or unreadable file) fatal.
        #[arg(long)]
        strict: bool,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ExecutorKind {
    Local,
    Process,
    Slurm,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LockMode {
    Flock,
    None,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Log-mel (64 bands, 25/10 ms, 16 kHz) of one long signal on one thread, best of N.
    ///
    /// Example: sertool bench logmel --repeats 20
    Logmel {
        /// A WAV file (resampled to 16 kHz); default: 60 s of noise.
        wav: Option<PathBuf>,
        #[arg(long, default_value_t = 20)]
        repeats: usize,
    },
    /// Decode + resample + mix at 5 dB for every WAV under SPEECH with noises from NOISE.
    ///
    /// Example: sertool bench mix data/synth/cremad_b/AudioWAV data/synth/musan/noise --jobs 1
    Mix {
        speech: PathBuf,
        noise: PathBuf,
        #[arg(long, default_value_t = 16_000)]
        rate: u32,
        #[arg(short, long, default_value_t = 1)]
        jobs: usize,
    },
    /// Milliseconds per AdamW step of the MLP and EDRL networks (compare tools/bench_train.py, PyTorch).
    ///
    /// Example: sertool bench train --steps 300
    Train {
        #[arg(long, default_value_t = 300)]
        steps: usize,
    },
    /// The whole per-utterance path: decode, resample to 16 kHz, mix at 5 dB, functionals features,
    /// for every WAV under each SPEECH folder (mixed sample rates welcome).
    ///
    /// Example: sertool bench path data/synth/cremad_a/AudioWAV data/synth/cremad_b/AudioWAV --noise data/synth/musan/noise --jobs 2
    Path {
        #[arg(required = true)]
        speech: Vec<PathBuf>,
        #[arg(long)]
        noise: PathBuf,
        #[arg(short, long, default_value_t = 1)]
        jobs: usize,
    },
    /// Decode, resample to 16 kHz and the 88 eGeMAPS functionals, for every WAV under each SPEECH
    /// folder (compare tools/bench_egemaps.py: openSMILE on the same files).
    ///
    /// Example: sertool bench egemaps data/synth/cremad_a/AudioWAV --jobs 1
    Egemaps {
        #[arg(required = true)]
        speech: Vec<PathBuf>,
        #[arg(short, long, default_value_t = 1)]
        jobs: usize,
    },
}

#[derive(Subcommand, Debug)]
enum CacheCommand {
    /// Every entry complete and matching its meta.json.
    ///
    /// Example: sertool cache verify
    Verify,
}

fn print_per_utterance(cli: &Cli, b: &crate::bench::MixBench) {
    if cli.json {
        print_json(&json!(b));
    } else {
        println!(
            "{} files, {:.3} audio hours in {:.3} s on {} thread(s): {:.4} audio hours per CPU-second ({:.0}× real time per core)",
            b.files, b.audio_hours, b.wall_s, b.jobs, b.audio_hours_per_cpu_s, b.real_time_per_core
        );
    }
}

/// Entry point of the binary; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => tracing::Level::ERROR,
        (_, 0) => tracing::Level::WARN,
        (_, 1) => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    let _ = tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr).with_target(false).try_init();
    match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if is_user_error(&e) {
                2
            } else {
                1
            }
        }
    }
}

/// The part of report.md a terminal shows: the title and the tables, up to the significance section.
fn report_tables(md: &str) -> &str {
    md.find("\n## Significance").or_else(|| md.find("\n## Plots")).map_or(md, |i| &md[..=i])
}

/// `--jobs` when not given: one stage per core.
fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).expect("JSON values serialise"));
}

fn open(cli: &Cli, pipeline: &Path) -> anyhow::Result<(Cache, Pipeline)> {
    let p = Pipeline::load(pipeline)?;
    let cache = Cache::open(&cli.cache)?;
    Ok((cache, p))
}

fn dispatch(cli: &Cli) -> anyhow::Result<i32> {
    match &cli.command {
        Command::Run { pipeline, jobs, keep_going, no_wait, executor, detach, dry_run, stages_per_task } => {
            let how = RunHow {
                jobs: *jobs,
                keep_going: *keep_going,
                wait: !*no_wait,
                detach: *detach,
                dry_run: *dry_run,
                stages_per_task: *stages_per_task,
            };
            run(cli, pipeline, *executor, &how)
        }
        Command::Status { pipeline } => status(cli, pipeline),
        Command::ExecStage { job, task_list, index } => exec_stage(job.as_deref(), task_list.as_deref(), *index),
        Command::Plan { pipeline, all, show_config, dot } => plan(cli, pipeline, *all, *show_config, *dot),
        Command::Explain { pipeline, stage } => explain(cli, pipeline, stage),
        Command::Mix { pipeline, write_wav, jobs } => mix(cli, pipeline, write_wav, *jobs),
        Command::Report { pipeline, compare } => report(cli, pipeline, compare.as_deref()),
        Command::Predict { model, files } => predict(cli, model, files),
        Command::Enhance { model, files, out } => enhance(cli, model, files, out),
        Command::Gc { pipelines, dry_run } => gc(cli, pipelines, *dry_run),
        Command::Cache { command: CacheCommand::Verify } => verify(cli),
        Command::Bench { what: BenchCommand::Logmel { wav, repeats } } => {
            let b = crate::bench::logmel(wav.as_deref(), *repeats)?;
            if cli.json {
                print_json(&json!(b));
            } else {
                println!(
                    "{:.1} s of audio in {:.2} ms: {:.0}× real time on one core",
                    b.audio_s,
                    b.best_wall_s * 1e3,
                    b.real_time_factor
                );
            }
            Ok(0)
        }
        Command::Bench { what: BenchCommand::Mix { speech, noise, rate, jobs } } => {
            print_per_utterance(cli, &crate::bench::mix(speech, noise, *rate, *jobs)?);
            Ok(0)
        }
        Command::Bench { what: BenchCommand::Train { steps } } => {
            for b in crate::bench::train(*steps)? {
                if cli.json {
                    print_json(&json!(b));
                } else {
                    println!("{}: {:.3} ms per AdamW step ({} steps, one thread)", b.network, b.ms_per_step, b.steps);
                }
            }
            Ok(0)
        }
        Command::Bench { what: BenchCommand::Path { speech, noise, jobs } } => {
            print_per_utterance(cli, &crate::bench::path(speech, noise, *jobs)?);
            Ok(0)
        }
        Command::Bench { what: BenchCommand::Egemaps { speech, jobs } } => {
            print_per_utterance(cli, &crate::bench::egemaps(speech, *jobs)?);
            Ok(0)
        }
        Command::Ingest { kind, root, name, strict } => ingest(cli, kind, root, name.as_deref(), *strict),
        Command::Synth { dir, seed, actors, msp_rows } => {
            let s = match msp_rows {
                Some(rows) => crate::corpus::synth::synth_msp_large(dir, *rows, *seed)?,
                None => crate::corpus::synth::synth_all(dir, *seed, *actors)?,
            };
            if cli.json {
                print_json(&json!(s));
            } else {
                for (name, n) in &s.corpora {
                    println!("{}: {n} labelled utterances", dir.join(name).display());
                }
                if s.noise_files > 0 {
                    println!("{}: {} noise files (MUSAN, DEMAND, ESC-50, WHAM! layouts)", dir.display(), s.noise_files);
                }
            }
            Ok(0)
        }
    }
}

/// The executor for `--executor`; children of `process` log as quietly as this run does.
fn executor(cli: &Cli, kind: ExecutorKind) -> anyhow::Result<Box<dyn engine::Executor>> {
    Ok(match kind {
        ExecutorKind::Local => Box::new(engine::Local),
        ExecutorKind::Process => {
            let mut args = vec!["exec-stage".to_string()];
            args.extend(log_args(cli));
            Box::new(engine::Process { program: this_binary()?, args, threads: 1 })
        }
        ExecutorKind::Slurm => unreachable!("a Slurm run has its own driver (engine::executor::slurm)"),
    })
}

/// The flock of a verb that runs stages (`run`, `report`, `mix`, `ingest`), unless `--lock none`:
/// then the per-entry claims alone keep concurrent runs apart. `gc` always takes the flock.
fn run_lock(cli: &Cli, cache: &Cache, wait: bool) -> anyhow::Result<Option<engine::cache::CacheLock>> {
    Ok(match cli.lock {
        LockMode::Flock => Some(cache.lock(wait)?),
        LockMode::None => None,
    })
}

/// The log-level arguments a child sertool gets, so it logs as quietly as this run.
fn log_args(cli: &Cli) -> Vec<String> {
    let mut args = Vec::new();
    if cli.quiet {
        args.push("-q".into());
    }
    args.extend((0..cli.verbose.min(2)).map(|_| "-v".to_string()));
    args
}

fn this_binary() -> anyhow::Result<PathBuf> {
    std::env::current_exe().map_err(|e| anyhow::anyhow!("locating the sertool binary: {e}"))
}

/// The Slurm driver's settings: `[executor.slurm]` and this command line.
fn slurm_settings(cli: &Cli, p: &Pipeline, how: &RunHow) -> anyhow::Result<slurm::Slurm> {
    let section = p.executor.slurm.clone().unwrap_or_default();
    let program = match &section.sertool {
        Some(path) => std::path::absolute(path)
            .map_err(|e| user_error(format!("[executor.slurm] sertool = {}: {e}", path.display())))?,
        None => this_binary()?,
    };
    let mut resources = section.resources();
    if how.stages_per_task.is_some() {
        resources.stages_per_task = how.stages_per_task;
    }
    Ok(slurm::Slurm {
        resources,
        per_kind: section.per_kind(),
        program,
        program_args: log_args(cli),
        label: p.pipeline.name.clone(),
        detach: how.detach,
        dry_run: how.dry_run,
        keep_going: how.keep_going,
        progress: !cli.quiet && !cli.json,
    })
}

/// `sertool exec-stage`: run one job document in this process, on its own thread count. A document
/// that commits itself (a Slurm task) claims its key first and commits after.
fn exec_stage(job: Option<&Path>, task_list: Option<&Path>, index: Option<usize>) -> anyhow::Result<i32> {
    let jobs = match (job, task_list) {
        (Some(j), _) => vec![j.to_path_buf()],
        (None, Some(list)) => task_documents(list, index)?,
        (None, None) => return Err(user_error("exec-stage needs a job document or --task-list")),
    };
    // The stages of one array task are independent (one wave, one kind): a failure does not stop
    // the others, and the task fails if any did.
    let mut failed = 0;
    for job in &jobs {
        if let Err(e) = exec_one(job) {
            if jobs.len() == 1 {
                return Err(e);
            }
            eprintln!("error: {}: {e:#}", job.display());
            failed += 1;
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of the task's {} stage(s) failed", jobs.len());
    }
    Ok(0)
}

fn exec_one(job: &Path) -> anyhow::Result<()> {
    let doc = engine::JobDoc::read(job).map_err(|e| user_error(format!("{e:#}")))?;
    std::env::set_current_dir(&doc.workdir)
        .map_err(|e| user_error(format!("{}: workdir {}: {e}", job.display(), doc.workdir.display())))?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(doc.threads.max(1)).build()?;
    if doc.commit.is_some() {
        match pool.install(|| engine::job::run_task(&doc, crate::stages::run_document))? {
            engine::job::TaskEnd::Committed(faults) => eprintln!("{}: committed ({faults} fault(s))", doc.id),
            engine::job::TaskEnd::AlreadyDone => eprintln!("{}: already in the cache", doc.id),
        }
    } else {
        pool.install(|| crate::stages::run_document(&doc))?;
    }
    Ok(())
}

/// The job documents on line `index` (default `$SLURM_ARRAY_TASK_ID`) of a task list.
fn task_documents(list: &Path, index: Option<usize>) -> anyhow::Result<Vec<PathBuf>> {
    let index = match index {
        Some(i) => i,
        None => std::env::var("SLURM_ARRAY_TASK_ID").ok().and_then(|v| v.parse().ok()).ok_or_else(|| {
            user_error("exec-stage --task-list: no --index and no SLURM_ARRAY_TASK_ID in the environment")
        })?,
    };
    let text = std::fs::read_to_string(list).map_err(|e| user_error(format!("{}: {e}", list.display())))?;
    let line = text.lines().nth(index).ok_or_else(|| {
        user_error(format!("{}: has {} task(s), no index {index}", list.display(), text.lines().count()))
    })?;
    Ok(line.split('\t').filter(|p| !p.is_empty()).map(PathBuf::from).collect())
}

/// How `sertool run` was asked to run.
struct RunHow {
    jobs: Option<usize>,
    keep_going: bool,
    wait: bool,
    detach: bool,
    dry_run: bool,
    stages_per_task: Option<usize>,
}

fn run(cli: &Cli, file: &Path, executor_kind: ExecutorKind, how: &RunHow) -> anyhow::Result<i32> {
    let (cache, p) = open(cli, file)?;
    let on_slurm = executor_kind == ExecutorKind::Slurm;
    if (how.detach || how.dry_run || how.stages_per_task.is_some()) && !on_slurm {
        return Err(user_error("--detach, --dry-run and --stages-per-task go with --executor slurm"));
    }
    if how.stages_per_task == Some(0) {
        return Err(user_error("--stages-per-task must be at least 1"));
    }
    // A Slurm run's tasks run on other hosts and hold leases, not the flock; so does its driver.
    let _lock = if on_slurm { None } else { run_lock(cli, &cache, how.wait)? };
    let cleaned = cache.clean_tmp()?;
    if cleaned > 0 {
        tracing::info!("removed {cleaned} unfinished stage output(s) left by an interrupted run");
    }
    let planned = pipeline::plan(p, &cache)?;
    let summary = if on_slurm {
        let settings = slurm_settings(cli, &planned.pipeline, how)?;
        match slurm::execute(&planned.graph, &cache, &settings)? {
            slurm::SlurmRun::Finished(summary) => summary,
            slurm::SlurmRun::Submitted { run_dir, arrays, tasks, scripts } => {
                planned.fingerprints.save()?;
                return submitted(cli, file, run_dir.as_deref(), arrays, tasks, &scripts);
            }
        }
    } else {
        let opts = RunOptions {
            jobs: how.jobs.unwrap_or_else(default_jobs),
            keep_going: how.keep_going,
            progress: !cli.quiet && !cli.json && std::io::stderr().is_terminal(),
            only: None,
        };
        engine::execute(&planned.graph, &cache, executor(cli, executor_kind)?.as_ref(), &opts)?
    };
    planned.fingerprints.save()?;
    finish_run(cli, &planned, &cache, &summary)
}

/// `sertool status PIPELINE`: the newest Slurm run of the pipeline, polled once, against the plan.
fn status(cli: &Cli, file: &Path) -> anyhow::Result<i32> {
    let (cache, p) = open(cli, file)?;
    let planned = pipeline::plan(p, &cache)?;
    planned.fingerprints.save()?;
    let label = planned.pipeline.pipeline.name.clone();
    let record = slurm::latest_run(&cache, &label)?;
    let states = match &record {
        Some(r) => slurm::poll(r, &cache)?,
        None => Default::default(),
    };
    // Per stage kind: done, running, pending, failed, skipped, stale (not in the newest run).
    let mut by_kind: BTreeMap<&str, [usize; 6]> = BTreeMap::new();
    let mut failures = Vec::new();
    for st in &planned.graph.stages {
        let slot = if cache.is_complete(st.kind, &st.key) {
            0
        } else {
            match states.get(&st.id) {
                Some(slurm::TaskState::Running | slurm::TaskState::Committing) => 1,
                Some(slurm::TaskState::Pending) => 2,
                Some(slurm::TaskState::Failed { job, slurm_state, exit_code, log }) => {
                    failures.push((st.id.clone(), slurm::describe_failure(job, slurm_state, exit_code, log)));
                    3
                }
                Some(slurm::TaskState::Skipped) => 4,
                Some(slurm::TaskState::Done) | None => 5,
            }
        };
        by_kind.entry(st.kind).or_default()[slot] += 1;
    }
    let total = |i: usize| by_kind.values().map(|c| c[i]).sum::<usize>();
    let state = if total(0) == planned.graph.stages.len() {
        "done"
    } else if total(1) + total(2) > 0 {
        "running"
    } else if total(3) > 0 {
        "failed"
    } else {
        "stale"
    };
    let published = if state == "done" { pipeline::publish(&planned, &cache, Path::new("."))? } else { Vec::new() };
    if cli.json {
        let kinds: BTreeMap<&str, serde_json::Value> = by_kind
            .iter()
            .map(|(k, c)| {
                (*k, json!({"done": c[0], "running": c[1], "pending": c[2], "failed": c[3], "skipped": c[4], "stale": c[5]}))
            })
            .collect();
        let failed: Vec<_> = failures.iter().map(|(id, why)| json!({"id": id, "error": why})).collect();
        print_json(&json!({
            "state": state,
            "run": record.as_ref().map(|r| cache.root.join("slurm").join(&r.run)),
            "kinds": kinds,
            "failed": failed,
            "published": published,
        }));
    } else {
        match &record {
            Some(r) => println!("Slurm run {} ({} array(s)): {state}", r.run, r.arrays.len()),
            None => println!("no Slurm run of {label} in {}: {state}", cache.root.display()),
        }
        println!(
            "  {:<10} {:>6} {:>8} {:>8} {:>7} {:>8} {:>6}",
            "kind", "done", "running", "pending", "failed", "skipped", "stale"
        );
        for (k, c) in &by_kind {
            println!("  {k:<10} {:>6} {:>8} {:>8} {:>7} {:>8} {:>6}", c[0], c[1], c[2], c[3], c[4], c[5]);
        }
        for (id, why) in &failures {
            println!("failed: {id}: {why}");
        }
        if state == "done" {
            println!("every stage is in the cache; published reports/{label}/");
        } else if state == "stale" {
            println!("stale stages are not in any submitted run: `sertool run {} --executor slurm`", file.display());
        }
    }
    Ok(if state == "failed" { 1 } else { 0 })
}

/// What a detached or dry Slurm run says.
fn submitted(
    cli: &Cli,
    file: &Path,
    run_dir: Option<&Path>,
    arrays: usize,
    tasks: usize,
    scripts: &[String],
) -> anyhow::Result<i32> {
    if cli.json {
        print_json(
            &json!({"submitted": run_dir.is_some(), "arrays": arrays, "tasks": tasks, "run": run_dir, "scripts": scripts}),
        );
        return Ok(0);
    }
    for s in scripts {
        println!("{s}");
    }
    match run_dir {
        Some(dir) => eprintln!(
            "submitted {tasks} stage(s) as {arrays} job array(s) ({}); `sertool status {}` shows where they stand",
            dir.display(),
            file.display()
        ),
        None => eprintln!("dry run: {tasks} stage(s) in {arrays} job array(s); nothing submitted"),
    }
    Ok(0)
}

/// How many faults `run` and `ingest` print before pointing to the full list.
const FAULTS_SHOWN: usize = 5;

/// The first faults, one line each (stage, corpus, file, what, detail), and where the rest are.
fn print_faults(first: &[(String, crate::error::Fault)], total: usize, rest: &str) {
    eprintln!("{total} per-utterance fault(s) {rest}:");
    for (stage, f) in first.iter().take(FAULTS_SHOWN) {
        eprintln!("  {stage}: {}", f.line());
    }
    if total > FAULTS_SHOWN {
        eprintln!("  … and {} more", total - FAULTS_SHOWN);
    }
}

/// Publish, summarise and print the report tables of a finished run.
fn finish_run(cli: &Cli, planned: &Planned, cache: &Cache, summary: &engine::Summary) -> anyhow::Result<i32> {
    let published = pipeline::publish(planned, cache, Path::new("."))?;
    let faults: usize = summary.stages.iter().filter(|s| s.status == Status::Ran).map(|s| s.faults).sum();
    let code = summary.exit_code();
    if cli.json {
        let mut v = serde_json::to_value(summary)?;
        v["faults"] = json!(faults);
        v["published"] = json!(published);
        print_json(&v);
        return Ok(code);
    }
    for s in summary.stages.iter().filter(|s| s.status == Status::Failed) {
        eprintln!("error: stage {} failed: {}", s.id, s.error.as_deref().unwrap_or(""));
    }
    if !cli.quiet {
        let mut by_kind: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
        for s in &summary.stages {
            let e = by_kind.entry(&s.kind).or_default();
            e[match s.status {
                Status::Ran => 0,
                Status::Cached => 1,
                Status::Failed => 2,
                Status::Skipped => 3,
            }] += 1;
        }
        for (k, [r, c, f, s]) in &by_kind {
            eprintln!("  {k:<10} ran {r:>4}  cached {c:>4}  failed {f:>3}  skipped {s:>3}");
        }
        eprintln!(
            "ran {}, cached {}, failed {}, skipped {} in {:.2} s",
            summary.ran, summary.cached, summary.failed, summary.skipped, summary.wall_s
        );
        if faults > 0 {
            let mut first = Vec::new();
            for s in summary.stages.iter().filter(|s| s.status == Status::Ran && s.faults > 0) {
                let dir = cache.entry_dir(&s.kind, &s.key);
                first.extend(engine::job::read_faults(&dir)?.into_iter().map(|f| (s.id.clone(), f)));
                if first.len() >= FAULTS_SHOWN {
                    break;
                }
            }
            let full = pipeline::report_faults_path(Path::new(""), &planned.pipeline.pipeline.name);
            let full = if full.is_file() { full.display().to_string() } else { "`--json`".into() };
            print_faults(&first, faults, &format!("recorded this run; all of the pipeline's are in {full}"));
        }
    }
    let report = Path::new("reports").join(&planned.pipeline.pipeline.name).join("report.md");
    if summary.failed == 0 {
        if let Ok(md) = std::fs::read_to_string(&report) {
            print!("{}", report_tables(&md));
            if !cli.quiet {
                eprintln!("report: {}", report.display());
            }
        }
    }
    Ok(code)
}

fn plan(cli: &Cli, file: &Path, all: bool, show_config: bool, dot: bool) -> anyhow::Result<i32> {
    let (cache, p) = open(cli, file)?;
    if show_config {
        print_json(&p.to_json());
        return Ok(0);
    }
    let planned = pipeline::plan(p, &cache)?;
    planned.fingerprints.save()?;
    if dot {
        print!("{}", planned.graph.to_dot(&cache));
        return Ok(0);
    }
    let g = &planned.graph;
    let mut rows = Vec::new();
    let explainer = engine::explain::Explainer::new(g, &cache);
    for (i, st) in g.stages.iter().enumerate() {
        let cached = cache.is_complete(st.kind, &st.key);
        let reasons = if cached { Vec::new() } else { explainer.explain(i) };
        rows.push((st, cached, reasons));
    }
    let stale = rows.iter().filter(|r| !r.1).count();
    if cli.json {
        let stages: Vec<_> = rows
            .iter()
            .map(|(st, cached, why)| json!({"id": st.id, "kind": st.kind, "key": st.key, "status": if *cached {"cached"} else {"stale"}, "reasons": why}))
            .collect();
        print_json(&json!({"stale": stale, "cached": rows.len() - stale, "stages": stages}));
        return Ok(0);
    }
    for (st, cached, why) in &rows {
        if *cached {
            if all {
                println!("cached  {}", st.id);
            }
        } else {
            let shown = why.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
            let more =
                if why.len() > 3 { format!("; and {} more: sertool explain", why.len() - 3) } else { String::new() };
            println!("stale   {}  ({shown}{more})", st.id);
        }
    }
    println!("{stale} stage(s) would run, {} cached", rows.len() - stale);
    Ok(0)
}

fn explain(cli: &Cli, file: &Path, stage: &str) -> anyhow::Result<i32> {
    let (cache, p) = open(cli, file)?;
    let planned = pipeline::plan(p, &cache)?;
    planned.fingerprints.save()?;
    let g = &planned.graph;
    let Some(i) = g.find(stage) else {
        let mut near: Vec<&str> = g
            .stages
            .iter()
            .map(|s| s.id.as_str())
            .filter(|id| id.starts_with(stage.split('/').next().unwrap_or("")))
            .take(8)
            .collect();
        if near.is_empty() {
            near = g.stages.iter().map(|s| s.id.as_str()).take(8).collect();
        }
        return Err(crate::error::user_error(format!(
            "no stage \"{stage}\" in {} (some that exist: {})",
            file.display(),
            near.join(", ")
        )));
    };
    let st = &g.stages[i];
    let cached = cache.is_complete(st.kind, &st.key);
    let why = g.explain(i, &cache);
    if cli.json {
        print_json(
            &json!({"id": st.id, "key": st.key, "status": if cached {"cached"} else {"stale"}, "reasons": why, "params": st.params, "inputs": st.inputs}),
        );
    } else {
        println!("{} ({})", st.id, if cached { "cached" } else { "stale" });
        println!("key {}", st.key);
        for w in why {
            println!("  - {w}");
        }
    }
    Ok(0)
}

fn report(cli: &Cli, file: &Path, compare: Option<&Path>) -> anyhow::Result<i32> {
    let (cache, p) = open(cli, file)?;
    let _lock = run_lock(cli, &cache, true)?;
    let planned: Planned = pipeline::plan(p, &cache)?;
    let g = &planned.graph;
    let Some(report_idx) = planned.report else {
        return Err(crate::error::user_error(format!(
            "{} has no [[experiments]], so there is no report to make",
            file.display()
        )));
    };
    let rep = &g.stages[report_idx];
    let missing: Vec<&str> = rep
        .dep_indices()
        .map(|d| &g.stages[d])
        .filter(|s| !cache.is_complete(s.kind, &s.key))
        .map(|s| s.id.as_str())
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "{} result(s) are not in the cache, so no report can be made without running them: {}{}\nhint: sertool run {}",
            missing.len(),
            missing.iter().take(5).copied().collect::<Vec<_>>().join(", "),
            if missing.len() > 5 { ", …" } else { "" },
            file.display()
        );
    }
    // Everything the report reads is cached: only the report stage itself can be stale.
    let only = Some([report_idx].into_iter().collect());
    let summary = engine::execute(
        g,
        &cache,
        &engine::Local,
        &RunOptions { jobs: default_jobs(), keep_going: false, progress: false, only },
    )?;
    pipeline::publish(&planned, &cache, Path::new("."))?;
    let path = Path::new("reports").join(&planned.pipeline.pipeline.name).join("report.md");
    let comparison = compare.map(|other| compare_protocols(&path.with_file_name("results.json"), other)).transpose()?;
    if cli.json {
        let mut v = serde_json::to_value(&summary)?;
        v["report"] = json!(path.display().to_string());
        if let Some((other, diffs)) = &comparison {
            v["compare"] = json!({"other": other, "same_protocol": diffs.is_empty(), "differences": diffs});
        }
        print_json(&v);
    } else if let Some((other, diffs)) = &comparison {
        if diffs.is_empty() {
            println!("same protocol as {other}");
        } else {
            println!("different protocol from {other}: {} difference(s)", diffs.len());
            for d in diffs {
                println!("  - {d}");
            }
        }
    } else {
        print!("{}", report_tables(&std::fs::read_to_string(&path)?));
        if !cli.quiet {
            eprintln!("report: {} (significance, plots, noise and reproducibility sections there)", path.display());
        }
    }
    Ok(summary.exit_code())
}

/// The protocol cards of this report and another results.json: (the other's path, what differs).
fn compare_protocols(ours: &Path, other: &Path) -> anyhow::Result<(String, Vec<String>)> {
    let read = |p: &Path| -> anyhow::Result<serde_json::Value> {
        let text = std::fs::read_to_string(p)
            .map_err(|e| crate::error::user_error(format!("{}: cannot read it ({e})", p.display())))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            crate::error::user_error(format!("{}:{}:{}: not JSON ({e})", p.display(), e.line(), e.column()))
        })?;
        v.get("protocol").cloned().ok_or_else(|| {
            crate::error::user_error(format!(
                "{}: no \"protocol\" card (expected a results.json written by sertool report)",
                p.display()
            ))
        })
    };
    let (a, b) = (read(ours)?, read(other)?);
    Ok((other.display().to_string(), crate::report::protocol::compare(&a, &b)))
}

fn gc(cli: &Cli, files: &[PathBuf], dry_run: bool) -> anyhow::Result<i32> {
    let cache = Cache::open(&cli.cache)?;
    let _lock = cache.lock(true)?;
    let mut keep = BTreeSet::new();
    let mut notes = Vec::new();
    for f in files {
        let planned = pipeline::plan(Pipeline::load(f)?, &cache)?;
        planned.fingerprints.save()?;
        for st in &planned.graph.stages {
            keep.insert((st.kind.to_string(), st.key.clone()));
        }
        // Audio that is gone (an unmounted disk, a half-copied corpus) changes keys without the work
        // being stale: keep the last run of every stage as well, so nothing computed is lost to it.
        let lost: Vec<&crate::error::Fault> = planned
            .scans
            .values()
            .flat_map(|s| s.faults.iter())
            .filter(|f| f.what == "missing audio" || f.what == "unreadable file")
            .collect();
        if let Some(first) = lost.first() {
            for st in &planned.graph.stages {
                if let Some(last) = cache.last_meta(&st.id, st.kind) {
                    keep.insert((st.kind.to_string(), last.key));
                }
            }
            notes.push(format!(
                "{}: {} audio file(s) missing or unreadable (first: {}), so the last run of every stage is kept too",
                f.display(),
                lost.len(),
                first.line()
            ));
        }
    }
    let entries = cache.entries()?;
    let drop: Vec<_> = entries.iter().filter(|e| !keep.contains(*e)).collect();
    let removed = if dry_run { 0 } else { cache.gc(&keep)? };
    if cli.json {
        print_json(&json!({
            "entries": entries.len(), "unreachable": drop.len(), "removed": removed, "dry_run": dry_run,
            "kept_last_runs": notes,
        }));
    } else {
        for n in &notes {
            eprintln!("note: {n}");
        }
        for (k, key) in &drop {
            println!("{} {k}/{key}", if dry_run { "would remove" } else { "removed" });
        }
        println!(
            "{} of {} entries unreachable{}",
            drop.len(),
            entries.len(),
            if dry_run { " (dry run)" } else { ", removed" }
        );
    }
    Ok(0)
}

fn verify(cli: &Cli) -> anyhow::Result<i32> {
    let cache = Cache::open(&cli.cache)?;
    let (n, problems) = cache.verify()?;
    if cli.json {
        print_json(&json!({"entries": n, "ok": problems.is_empty(), "problems": problems}));
    } else {
        for p in &problems {
            println!("problem: {p}");
        }
        println!("{n} entries checked, {} problem(s)", problems.len());
    }
    Ok(if problems.is_empty() { 0 } else { 1 })
}

fn ingest(cli: &Cli, kind: &str, root: &Path, name: Option<&str>, strict: bool) -> anyhow::Result<i32> {
    let name = name.unwrap_or(kind);
    let p = Pipeline::single_corpus(kind, root, name, strict)?;
    let cache = Cache::open(&cli.cache)?;
    let _lock = run_lock(cli, &cache, true)?;
    cache.clean_tmp()?;
    let planned = pipeline::plan_ingest(p, &cache)?;
    let opts = RunOptions { jobs: 1, keep_going: false, progress: false, only: None };
    let summary = engine::execute(&planned.graph, &cache, &engine::Local, &opts)?;
    planned.fingerprints.save()?;
    pipeline::publish(&planned, &cache, Path::new("."))?;
    if let Some(failed) = summary.stages.iter().find(|s| s.status == Status::Failed) {
        anyhow::bail!("{}", failed.error.as_deref().unwrap_or("ingest failed"));
    }
    let report_path = Path::new("manifests").join(format!("{name}.ingest.json"));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report_path)?)?;
    if cli.json {
        print_json(&json!({"ran": summary.ran, "cached": summary.cached, "wall_s": summary.wall_s, "report": report}));
        return Ok(0);
    }
    println!(
        "{name} ({kind}): {} utterances, {} labelled, {:.2} h",
        report["utterances"],
        report["labeled"],
        report["hours"].as_f64().unwrap_or(0.0)
    );
    if let Some(counts) = report["counts"].as_object() {
        for (label, by_split) in counts {
            let cells: Vec<String> =
                by_split.as_object().into_iter().flatten().map(|(s, n)| format!("{s} {n}")).collect();
            println!("  {label:<10} {}", cells.join(", "));
        }
    }
    println!("  speakers per split: {}", report["speakers_per_split"]);
    for (what, key) in [("dropped", "dropped"), ("problems", "problems")] {
        if let Some(m) = report[key].as_object().filter(|m| !m.is_empty()) {
            println!("  {what}: {}", m.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; "));
        }
    }
    let st = &planned.graph.stages[planned.manifests[name]];
    let faults = engine::job::read_faults(&cache.entry_dir(st.kind, &st.key))?;
    if !faults.is_empty() {
        let first: Vec<_> = faults.iter().take(FAULTS_SHOWN).map(|f| (st.id.clone(), f.clone())).collect();
        let full = pipeline::manifest_faults_path(Path::new(""), name);
        print_faults(&first, faults.len(), &format!("(all of them: {})", full.display()));
    }
    if let Some(l) = report["leaked_speakers"].as_array().filter(|l| !l.is_empty()) {
        println!(
            "  warning: speakers in more than one split: {}",
            l.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    println!(
        "manifest: manifests/{name}.parquet ({} in {:.2} s)",
        if summary.ran > 0 { "written" } else { "cached" },
        summary.wall_s
    );
    Ok(0)
}

/// How a model card says its audio is read.
fn card_audio(dir: &Path, card: &crate::models::ModelCard) -> anyhow::Result<crate::audio::AudioIn> {
    let channels = crate::audio::ChannelPolicy::parse(&card.channels)
        .ok_or_else(|| user_error(format!("{}: unknown channel policy {:?}", dir.display(), card.channels)))?;
    Ok(crate::audio::AudioIn::new(card.sample_rate_hz, channels))
}

fn predict(cli: &Cli, dir: &Path, files: &[PathBuf]) -> anyhow::Result<i32> {
    let (model, card) = crate::models::load(dir).map_err(|e| user_error(format!("{e:#}")))?;
    let sequences = crate::models::kind(&card.kind).is_some_and(|k| k.needs().frames);
    let extractor = crate::features::Extractor::new(&card.features, card.sample_rate_hz);
    if extractor.is_none() && !sequences {
        return Err(user_error(format!(
            "{}: this model was trained on imported features; compute them for your files and use the model's \
             pipeline instead (sertool cannot compute imported features)",
            dir.display()
        )));
    }
    let audio = card_audio(dir, &card)?;
    let mut rows = Vec::new();
    let mut failed = 0;
    for f in files {
        match audio.load(f) {
            Ok(x) => {
                let p = match &extractor {
                    _ if sequences => model.predict_sequence(&crate::models::sequence_frames(&x, audio.rate))?,
                    Some(e) => model.predict_proba(&card.standardizer.apply(&[e.compute(&x)]))?.remove(0),
                    None => unreachable!("checked above"),
                };
                let label = &card.classes[crate::models::argmax(&p)];
                if !cli.json {
                    let probs: Vec<String> = card.classes.iter().zip(&p).map(|(c, v)| format!("{c}={v:.3}")).collect();
                    println!("{}\t{label}\t{}", f.display(), probs.join(" "));
                }
                let probs: serde_json::Map<String, serde_json::Value> =
                    card.classes.iter().zip(&p).map(|(c, v)| (c.clone(), json!(v))).collect();
                rows.push(json!({"file": f.display().to_string(), "label": label, "probabilities": probs}));
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {e:#}", f.display());
                rows.push(json!({"file": f.display().to_string(), "error": format!("{e:#}")}));
            }
        }
    }
    if cli.json {
        print_json(&json!({"model": dir.display().to_string(), "kind": card.kind, "predictions": rows}));
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

fn enhance(cli: &Cli, dir: &Path, files: &[PathBuf], out: &Path) -> anyhow::Result<i32> {
    let (model, card) = crate::models::load(dir).map_err(|e| user_error(format!("{e:#}")))?;
    let audio = card_audio(dir, &card)?;
    std::fs::create_dir_all(out).map_err(|e| anyhow::anyhow!("creating {}: {e}", out.display()))?;
    let (mut rows, mut failed) = (Vec::new(), 0);
    for f in files {
        let dest = out.join(f.file_name().unwrap_or(f.as_os_str()));
        let done = audio.load(f).and_then(|x| {
            let y = crate::models::enhance_audio(&*model, &x, audio.rate)?.ok_or_else(|| {
                user_error(format!(
                    "{}: a {} model has no enhancement head (se-ser and se-then-ser have one)",
                    dir.display(),
                    card.kind
                ))
            })?;
            crate::audio::write_wav_f32(&dest, &y, audio.rate)
        });
        match done {
            Ok(()) => {
                if !cli.json {
                    println!("{} -> {}", f.display(), dest.display());
                }
                rows.push(json!({"file": f.display().to_string(), "out": dest.display().to_string()}));
            }
            Err(e) if e.downcast_ref::<crate::error::UserError>().is_some() => return Err(e),
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {e:#}", f.display());
                rows.push(json!({"file": f.display().to_string(), "error": format!("{e:#}")}));
            }
        }
    }
    if cli.json {
        print_json(&json!({"model": dir.display().to_string(), "kind": card.kind, "enhanced": rows}));
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

fn mix(cli: &Cli, file: &Path, out: &Path, jobs: Option<usize>) -> anyhow::Result<i32> {
    let (cache, p) = open(cli, file)?;
    let _lock = run_lock(cli, &cache, true)?;
    cache.clean_tmp()?;
    let planned = pipeline::plan(p, &cache)?;
    let jobs = jobs.unwrap_or_else(default_jobs);
    // Only the recipes and what they read (the noise pools).
    let mut only: BTreeSet<usize> = planned.mixes.iter().map(|(i, _, _)| *i).collect();
    for &i in only.clone().iter() {
        only.extend(planned.graph.stages[i].dep_indices());
    }
    let opts = RunOptions { jobs, keep_going: false, progress: false, only: Some(only) };
    let summary = engine::execute(&planned.graph, &cache, &engine::Local, &opts)?;
    planned.fingerprints.save()?;
    if let Some(failed) = summary.stages.iter().find(|s| s.status == Status::Failed) {
        anyhow::bail!("stage {} failed: {}", failed.id, failed.error.as_deref().unwrap_or(""));
    }
    let (written, faults) = pipeline::write_mixtures(&planned, &cache, out, jobs)?;
    if cli.json {
        print_json(
            &json!({"written": written, "ran": summary.ran, "faults": faults, "dir": out.display().to_string()}),
        );
    } else {
        println!("{written} mixture(s) written under {}", out.display());
        if !faults.is_empty() {
            println!(
                "{} utterance(s) could not be mixed (first: {} {})",
                faults.len(),
                faults[0].utterance,
                faults[0].detail
            );
        }
    }
    Ok(0)
}
