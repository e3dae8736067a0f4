//! Runs the stale stages of a graph: a stage starts as soon as all its dependencies are committed,
//! on a rayon pool of `jobs` threads. Cached stages are resolved without running; a failed stage marks
//! everything downstream of it as skipped.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::cache::Meta;
use super::lease::{self, Claim};
use super::{Cache, Executor, Graph};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub jobs: usize,
    /// Go on with independent stages after a failure.
    pub keep_going: bool,
    pub progress: bool,
    /// Run only these stages (by index); other stale stages are skipped. `report` uses it so that it
    /// can never train anything.
    pub only: Option<std::collections::BTreeSet<usize>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ran,
    Cached,
    Failed,
    /// Not run: a dependency failed, or the run stopped at a failure.
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageOutcome {
    pub id: String,
    pub kind: String,
    pub key: String,
    pub status: Status,
    pub seconds: f64,
    pub faults: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The stage failed on its input (a user error: exit 2), not in its work (exit 1).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub bad_input: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub ran: usize,
    pub cached: usize,
    pub failed: usize,
    pub skipped: usize,
    pub wall_s: f64,
    pub stages: Vec<StageOutcome>,
}

impl Summary {
    /// The counts of each status over `stages`.
    pub fn new(stages: Vec<StageOutcome>, wall_s: f64) -> Summary {
        let count = |s: Status| stages.iter().filter(|o| o.status == s).count();
        Summary {
            ran: count(Status::Ran),
            cached: count(Status::Cached),
            failed: count(Status::Failed),
            skipped: count(Status::Skipped),
            wall_s,
            stages,
        }
    }

    /// The exit code of a run: 0 when nothing failed, 2 when a stage failed on its input (an
    /// imported file without the rows it needs, say), else 1.
    pub fn exit_code(&self) -> i32 {
        match self.stages.iter().filter(|s| s.status == Status::Failed).map(|s| s.bad_input).max() {
            None => 0,
            Some(true) => 2,
            Some(false) => 1,
        }
    }
}

enum Msg {
    Done(usize, anyhow::Result<Done>, f64),
}

/// What running one stage came to.
enum Done {
    Ran(usize),
    /// Another run (another driver, a Slurm task) committed it while this one waited for its claim.
    ByOther,
    /// Another live run is computing it now: try again later, after other ready stages.
    Busy,
}

fn run_one(graph: &Graph, cache: &Cache, executor: &dyn Executor, idx: usize) -> anyhow::Result<Done> {
    let st = &graph.stages[idx];
    let _lease = match lease::try_claim(cache, st.kind, &st.key, None)? {
        Some(Claim::Mine(lease)) => lease,
        Some(Claim::Done) => return Ok(Done::ByOther),
        None => return Ok(Done::Busy),
    };
    let started = Instant::now();
    let tmp = cache.begin(&st.key)?;
    let ctx = graph.context(idx, cache, tmp.clone());
    let faults = match executor.run(graph, idx, &ctx) {
        Ok(f) => f,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let meta = Meta::new(&st.id, st.kind, st.version, &st.key, &st.params, &st.inputs, started, faults);
    if let Err(e) = cache.commit(&tmp, meta) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    Ok(Done::Ran(faults))
}

fn spawn<'s>(
    scope: &rayon::Scope<'s>,
    graph: &'s Graph,
    cache: &'s Cache,
    executor: &'s dyn Executor,
    tx: mpsc::Sender<Msg>,
    i: usize,
    delay: std::time::Duration,
) {
    scope.spawn(move |_| {
        std::thread::sleep(delay);
        let t = Instant::now();
        // A panic in a stage must not leave the scheduler waiting for a message that never comes.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_one(graph, cache, executor, i)))
            .unwrap_or_else(|p| {
                let msg =
                    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
                Err(anyhow::anyhow!("internal error (panic): {}", msg.unwrap_or_default()))
            });
        let _ = tx.send(Msg::Done(i, r, t.elapsed().as_secs_f64()));
    });
}

/// Run every stale stage of `graph`: under the cache's flock, or (`--lock none`) beside other runs,
/// each stage claimed before it runs (`lease`).
pub fn execute(graph: &Graph, cache: &Cache, executor: &dyn Executor, opts: &RunOptions) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let n = graph.stages.len();
    let order = graph.topological_order();
    let mut status: Vec<Option<Status>> = vec![None; n];
    let mut seconds = vec![0.0; n];
    let mut faults = vec![0usize; n];
    let mut errors: Vec<Option<String>> = vec![None; n];
    let mut bad_input = vec![false; n];
    let mut dependents = vec![Vec::new(); n];
    for (i, st) in graph.stages.iter().enumerate() {
        for d in st.dep_indices() {
            dependents[d].push(i);
        }
    }
    // Cached stages are settled up front. A cached stage whose dependency is stale still counts as
    // cached: its key covers the dependency's key, so the entry is exactly what a rerun would write.
    for &i in &order {
        let st = &graph.stages[i];
        if cache.is_complete(st.kind, &st.key) {
            status[i] = Some(Status::Cached);
            // Keep `explain` pointing at what is current.
            cache.record_last(&st.id, st.kind, &st.key)?;
        }
    }
    let stale = status.iter().filter(|s| s.is_none()).count();
    let bar = if opts.progress && stale > 0 {
        let b = indicatif::ProgressBar::new(stale as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} stages  {msg}")
                .unwrap(),
        );
        Some(b)
    } else {
        None
    };

    let pool = rayon::ThreadPoolBuilder::new().num_threads(opts.jobs.max(1)).build()?;
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut pending: Vec<usize> =
        graph.stages.iter().map(|s| s.dep_indices().filter(|&d| status[d] != Some(Status::Cached)).count()).collect();
    let mut running = 0usize;
    let mut busy = vec![0u32; n];
    let mut stop = false;

    pool.in_place_scope(|scope| {
        let allowed = |i: usize| opts.only.as_ref().is_none_or(|o| o.contains(&i));
        for &i in &order {
            if status[i].is_none() && pending[i] == 0 && allowed(i) {
                spawn(scope, graph, cache, executor, tx.clone(), i, Duration::ZERO);
                running += 1;
            }
        }
        while running > 0 {
            let Msg::Done(i, result, secs) = rx.recv().expect("a worker always reports");
            running -= 1;
            seconds[i] = secs;
            match result {
                Ok(Done::Busy) if stop => {} // the run is stopping: not run, so skipped
                Ok(Done::Busy) => {
                    // Another run holds its claim: look again shortly (backing off to 0.8 s), after
                    // the stages that are ready now; the wait sleeps on a pool thread.
                    busy[i] += 1;
                    let delay = Duration::from_millis(25 << busy[i].min(5));
                    spawn(scope, graph, cache, executor, tx.clone(), i, delay);
                    running += 1;
                }
                Ok(done) => {
                    (status[i], faults[i]) = match done {
                        Done::Ran(f) => (Some(Status::Ran), f),
                        Done::ByOther => (Some(Status::Cached), 0),
                        Done::Busy => unreachable!("handled above"),
                    };
                    if let Some(b) = &bar {
                        b.inc(1);
                        b.set_message(graph.stages[i].id.clone());
                    }
                    for &j in &dependents[i] {
                        pending[j] -= 1;
                        if pending[j] == 0 && status[j].is_none() && !stop && allowed(j) {
                            spawn(scope, graph, cache, executor, tx.clone(), j, Duration::ZERO);
                            running += 1;
                        }
                    }
                }
                Err(e) => {
                    status[i] = Some(Status::Failed);
                    errors[i] = Some(format!("{e:#}"));
                    bad_input[i] = crate::error::is_user_error(&e);
                    if let Some(b) = &bar {
                        b.println(format!("error: stage {} failed: {e:#}", graph.stages[i].id));
                    }
                    if !opts.keep_going {
                        stop = true;
                    }
                }
            }
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for s in status.iter_mut() {
        if s.is_none() {
            *s = Some(Status::Skipped);
        }
    }
    let stages: Vec<StageOutcome> = graph
        .stages
        .iter()
        .enumerate()
        .map(|(i, st)| StageOutcome {
            id: st.id.clone(),
            kind: st.kind.to_string(),
            key: st.key.clone(),
            status: status[i].unwrap(),
            seconds: seconds[i],
            faults: faults[i],
            error: errors[i].take(),
            bad_input: bad_input[i],
        })
        .collect();
    Ok(Summary::new(stages, started.elapsed().as_secs_f64()))
}
