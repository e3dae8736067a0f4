//! `--executor slurm` on a real Slurm cluster (a single node: `tools/slurm-single-node.sh start`, which
//! `.ci/run` calls). Without a cluster that answers, every test here says it skipped and passes (the
//! suite must run on a laptop too), unless SERTOOL_REQUIRE_SLURM is set, as `.ci/run` sets it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{files_under, with_status, Workspace};

/// Whether a cluster with accounting answers (`sinfo` and `sacct` within a few seconds).
fn cluster() -> bool {
    let ok = |prog: &str, args: &[&str]| {
        Command::new("timeout").arg("10").arg(prog).args(args).output().is_ok_and(|o| o.status.success())
    };
    let up = ok("sinfo", &["-h"]) && ok("sacct", &["-n", "-X", "-S", "now"]);
    // CI starts a cluster and sets this: there, a cluster that does not answer is a failure.
    assert!(
        up || std::env::var_os("SERTOOL_REQUIRE_SLURM").is_none(),
        "SERTOOL_REQUIRE_SLURM is set but no Slurm cluster answers"
    );
    if !up {
        eprintln!("skipped: no Slurm cluster answers here (tools/slurm-single-node.sh start makes one)");
    }
    up
}

/// Env for every Slurm run here: poll often (the tests wait on short stages).
fn slurm_cmd(ws: &Workspace, args: &[&str]) -> Command {
    let mut c = ws.command(args);
    c.env("SERTOOL_SLURM_POLL_MAX_S", "1");
    c
}

fn json_of(out: std::process::Output, what: &str) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: not JSON ({e})"))
}

fn slurm_json(ws: &Workspace, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    json_of(slurm_cmd(ws, &a).output().unwrap(), &format!("sertool {args:?}"))
}

/// The reports of two workspaces are byte-identical, but for training.md (wall-clock times).
fn same_reports(a: &Path, b: &Path, name: &str) {
    let (ra, rb) = (a.join("reports").join(name), b.join("reports").join(name));
    let rel = |root: &Path| -> Vec<PathBuf> {
        files_under(root).iter().map(|f| f.strip_prefix(root).unwrap().to_path_buf()).collect()
    };
    let names = rel(&ra);
    assert_eq!(names, rel(&rb));
    assert!(names.contains(&PathBuf::from("results.csv")), "{names:?}");
    for n in &names {
        if n == Path::new("training.md") {
            continue;
        }
        assert!(
            std::fs::read(ra.join(n)).unwrap() == std::fs::read(rb.join(n)).unwrap(),
            "reports/{name}/{} differs",
            n.display()
        );
    }
}

/// The newest run record of the workspace's cache.
fn run_record(ws: &Workspace) -> serde_json::Value {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(ws.path().join("cache/slurm"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("run.json"))
        .filter(|p| p.is_file())
        .collect();
    runs.sort();
    serde_json::from_slice(&std::fs::read(runs.last().expect("a Slurm run record")).unwrap()).unwrap()
}

/// `JobID|State|Start|End` rows of sacct for job ids, polled until every row is final and `want`
/// tasks are listed (accounting lags the queue by a few seconds).
fn sacct_rows(ids: &[String], want: usize) -> Vec<Vec<String>> {
    let started = Instant::now();
    loop {
        let out = Command::new("sacct")
            .args(["-n", "-P", "-X", "--format=JobID,State,Start,End", "-j", &ids.join(",")])
            .output()
            .unwrap();
        let rows: Vec<Vec<String>> =
            String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('|').map(str::to_string).collect()).collect();
        let settled = rows.iter().all(|r| r[1] != "RUNNING" && r[1] != "PENDING" && !r[0].contains('['));
        if (rows.len() >= want && settled) || started.elapsed() > Duration::from_secs(60) {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn seconds(ts: &str) -> i64 {
    // 2026-12-01T18:52:42
    let (date, time) = ts.split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let t: Vec<i64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    ((d[0] * 400 + d[1] * 31 + d[2]) * 24 + t[0]) * 3600 + t[1] * 60 + t[2]
}

#[test]
fn the_demo_on_slurm_writes_what_a_local_run_writes_and_a_rerun_submits_nothing() {
    if !cluster() {
        return;
    }
    let (local, remote) = (Workspace::new(3), Workspace::new(3));
    let a = local.json(&["run", "pipelines/demo.toml"]);
    assert_eq!(a["failed"], 0);
    // Eight stages per array task: Slurm takes about half a second to start a task (docs/benchmarks.md).
    let b = slurm_json(&remote, &["run", "pipelines/demo.toml", "--executor", "slurm", "--stages-per-task", "8"]);
    assert_eq!(b["failed"], 0, "{:?}", with_status(&b, "failed"));
    assert_eq!(a["ran"], b["ran"]);
    same_reports(local.path(), remote.path(), "demo");
    let runs = || std::fs::read_dir(remote.path().join("cache/slurm")).unwrap().count();
    let before = runs();
    let again = slurm_json(&remote, &["run", "pipelines/demo.toml", "--executor", "slurm"]);
    assert_eq!((again["ran"].as_u64(), again["failed"].as_u64()), (Some(0), Some(0)));
    assert_eq!(runs(), before, "a run with nothing stale submitted a job");
    assert_eq!(remote.json(&["cache", "verify"])["ok"], true);
}

#[test]
fn detached_run_with_a_throttle_is_one_array_per_kind_and_status_finishes_it() {
    if !cluster() {
        return;
    }
    let detached = Workspace::new(3);
    let p = common::small_pipeline(&detached, 20, "\n[executor.slurm]\nmax_parallel = 2\n");
    let dry = slurm_cmd(&detached, &["run", p, "--executor", "slurm", "--dry-run"]).output().unwrap();
    let scripts = String::from_utf8_lossy(&dry.stdout);
    assert!(dry.status.success() && scripts.contains("#SBATCH --array=0-7%2"), "{scripts}");
    assert!(scripts.contains("--dependency=afterok:<job id of"), "{scripts}");
    assert!(!detached.path().join("cache/slurm").exists(), "a dry run wrote a run record");

    // The tasks inherit the driver's environment (sbatch --export=ALL): each logs its claims, to the
    // millisecond.
    let log = detached.path().join("claims.log");
    let sub = json_of(
        slurm_cmd(&detached, &["run", p, "--executor", "slurm", "--detach", "--json"])
            .env("SERTOOL_CLAIM_LOG", &log)
            .output()
            .unwrap(),
        "run --detach",
    );
    assert_eq!(sub["submitted"], true, "{sub}");
    let started = Instant::now();
    let last = loop {
        let st = json_of(slurm_cmd(&detached, &["status", p, "--json"]).output().unwrap(), "status");
        if st["state"] != "running" {
            break st;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "still running after 10 minutes: {st}");
        std::thread::sleep(Duration::from_secs(1));
    };
    assert_eq!(last["state"], "done", "{last}");
    assert!(detached.path().join("reports/small/results.csv").is_file());

    // The same pipeline, run by a driver that waits: the same results.
    let waited = Workspace::new(3);
    common::small_pipeline(&waited, 20, "");
    let w = slurm_json(&waited, &["run", p, "--executor", "slurm"]);
    assert_eq!(w["failed"], 0, "{:?}", with_status(&w, "failed"));
    same_reports(detached.path(), waited.path(), "small");

    // One array per (wave, kind): the clean features' 8 shards are one job with 8 tasks, and with
    // max_parallel = 2 no more than 2 of them ever ran at once (sacct's start and end times).
    let record = run_record(&detached);
    let arrays = record["arrays"].as_array().unwrap();
    let features: Vec<&serde_json::Value> =
        arrays.iter().filter(|a| a["kind"] == "features" && a["tasks"].as_array().unwrap().len() == 8).collect();
    assert!(!features.is_empty(), "{record}");
    let ids: Vec<String> = arrays.iter().map(|a| a["job_id"].as_str().unwrap().to_string()).collect();
    let tasks: usize = arrays.iter().map(|a| a["tasks"].as_array().unwrap().len()).sum();
    let rows = sacct_rows(&ids, tasks);
    let jobs: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[0].split('_').next().unwrap()).collect();
    assert_eq!(jobs.len(), arrays.len(), "sacct lists other jobs than the run's arrays: {rows:?}");
    for fa in features {
        let id = fa["job_id"].as_str().unwrap();
        let mine: Vec<&Vec<String>> = rows.iter().filter(|r| r[0].starts_with(&format!("{id}_"))).collect();
        assert_eq!(mine.len(), 8, "array {id}: {rows:?}");
        for r in &mine {
            assert_eq!(r[1], "COMPLETED", "{r:?}");
        }
        let spans: Vec<(i64, i64)> = mine.iter().map(|r| (seconds(&r[2]), seconds(&r[3]))).collect();
        for &(s, _) in &spans {
            // Half-open spans at sacct's one-second resolution: a task that started at s overlaps
            // those that started at or before s and ended after it.
            let running = spans.iter().filter(|&&(a, b)| a <= s && b > s).count();
            assert!(running <= 2, "array {id}: {running} tasks at once with max_parallel = 2: {spans:?}");
        }
        // Tasks shorter than a second are seen in the claims they logged, to the millisecond.
        let keys: std::collections::BTreeSet<&str> =
            fa["tasks"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap()).collect();
        let text = std::fs::read_to_string(&log).unwrap();
        let mut events: Vec<(u128, i32)> = text
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                let delta = match f[0] {
                    "claim" => 1,
                    "release" => -1,
                    _ => return None,
                };
                keys.contains(f[1]).then(|| (f[3].parse().unwrap(), delta))
            })
            .collect();
        assert_eq!(events.len(), 16, "array {id}: claims {events:?}");
        events.sort();
        let (mut now, mut most) = (0, 0);
        for (_, d) in events {
            now += d;
            most = most.max(now);
        }
        assert!(most <= 2, "array {id}: {most} stages computed at once with max_parallel = 2");
    }
}

/// The pid of the running `exec-stage` of a train task, and its temporary directory.
fn running_train_task(ws: &Workspace) -> Option<String> {
    let record = run_record(ws);
    for a in record["arrays"].as_array().unwrap() {
        if a["kind"] != "train" {
            continue;
        }
        for t in a["tasks"].as_array().unwrap() {
            let key = t["key"].as_str().unwrap();
            let lease = ws.path().join("cache/leases").join(key);
            let writing = std::fs::read_dir(ws.path().join("cache/tmp"))
                .map(|r| r.flatten().any(|e| e.file_name().to_string_lossy().starts_with(key)))
                .unwrap_or(false);
            if lease.is_file() && writing {
                return Some(format!("{}_{}", a["job_id"].as_str().unwrap(), t["index"]));
            }
        }
    }
    None
}

#[test]
fn scancel_of_a_running_task_then_a_rerun_completes_and_the_cache_verifies() {
    if !cluster() {
        return;
    }
    let ws = Workspace::new(3);
    // A long MLP so that its train task is caught mid-stage.
    let p = common::small_pipeline(&ws, 4000, "");
    let sub = slurm_json(&ws, &["run", p, "--executor", "slurm", "--detach"]);
    assert_eq!(sub["submitted"], true);
    let started = Instant::now();
    let task = loop {
        if let Some(t) = running_train_task(&ws) {
            break t;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "no train task ever ran");
        std::thread::sleep(Duration::from_millis(200));
    };
    // A second submission while this run is in flight would only queue duplicates: refused.
    let twice = slurm_cmd(&ws, &["run", p, "--executor", "slurm"]).output().unwrap();
    let said = String::from_utf8_lossy(&twice.stderr);
    assert_eq!(twice.status.code(), Some(2), "{said}");
    assert!(said.contains("pending or running") && said.contains("sertool status"), "{said}");
    let out = Command::new("scancel").arg(&task).output().unwrap();
    assert!(out.status.success(), "scancel {task}: {}", String::from_utf8_lossy(&out.stderr));
    // Wait for the run to settle: the cancelled task failed, what reads it was cancelled.
    let started = Instant::now();
    let st = loop {
        // Exit 1 once a task has failed and nothing is left running: that is what we wait for.
        let out = slurm_cmd(&ws, &["status", p, "--json"]).output().unwrap();
        let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(if st["state"] == "failed" { 1 } else { 0 }), "{st}");
        if st["state"] != "running" {
            break st;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "the run never settled");
        std::thread::sleep(Duration::from_secs(1));
    };
    assert_ne!(st["state"], "done", "{st}");
    let failed = st["failed"].as_array().unwrap();
    assert!(
        failed.iter().any(|f| f["error"].as_str().unwrap().contains(&format!("Slurm job {task}"))
            && f["error"].as_str().unwrap().contains("CANCELLED")),
        "{st}"
    );
    // The rerun completes, and nothing the cancelled task left behind is in the way or in the cache.
    let again = slurm_json(&ws, &["run", p, "--executor", "slurm"]);
    assert_eq!(again["failed"], 0, "{:?}", with_status(&again, "failed"));
    assert!(again["ran"].as_u64().unwrap() >= 1);
    let verify = ws.json(&["cache", "verify"]);
    assert_eq!(verify["ok"], true, "{verify}");
    assert_eq!(ws.json(&["run", p])["ran"], 0);
}
