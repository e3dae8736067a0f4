//! Executors: `--executor process` runs every stage from its job document in a child
//! `sertool exec-stage` and must write exactly what the local executor writes; a stage process killed
//! mid-stage leaves the cache consistent and the rerun completes.

mod common;

use std::path::{Path, PathBuf};

use common::{files_under, with_status, Workspace};

#[test]
fn process_executor_writes_the_same_bytes_as_local() {
    let (a, b) = (Workspace::new(3), Workspace::new(3));
    let sa = a.json(&["run", "pipelines/demo.toml", "--executor", "local"]);
    let sb = b.json(&["run", "pipelines/demo.toml", "--executor", "process"]);
    assert_eq!(sa["failed"], 0);
    assert_eq!(sb["failed"], 0, "{:?}", with_status(&sb, "failed"));
    assert_eq!(sa["ran"], sb["ran"]);
    let (ra, rb) = (a.path().join("reports/demo"), b.path().join("reports/demo"));
    let (fa, fb) = (files_under(&ra), files_under(&rb));
    let rel = |fs: &[PathBuf], root: &Path| fs.iter().map(|f| f.strip_prefix(root).unwrap().to_path_buf()).collect();
    let names: Vec<PathBuf> = rel(&fa, &ra);
    assert_eq!(names, rel(&fb, &rb) as Vec<PathBuf>);
    assert!(names.contains(&PathBuf::from("results.csv")) && names.len() > 10, "{names:?}");
    for n in &names {
        // Wall-clock training times are the one thing allowed to differ (they are kept out of report.md).
        if n == Path::new("training.md") {
            continue;
        }
        let (x, y) = (std::fs::read(ra.join(n)).unwrap(), std::fs::read(rb.join(n)).unwrap());
        assert!(x == y, "reports/demo/{} differs between --executor local and --executor process", n.display());
    }
    for f in ["manifests/synth_a.parquet", "manifests/synth_b.ingest.json"] {
        assert!(std::fs::read(a.path().join(f)).unwrap() == std::fs::read(b.path().join(f)).unwrap(), "{f}");
    }
    // Nothing changed: neither executor runs anything again, whichever ran first.
    assert_eq!(a.json(&["run", "pipelines/demo.toml", "--executor", "process"])["ran"], 0);
    assert_eq!(b.json(&["run", "pipelines/demo.toml", "--executor", "local"])["ran"], 0);
    assert_eq!(b.json(&["cache", "verify"])["ok"], true);
}

/// Children of `parent` running `sertool exec-stage`, with their job document.
fn stage_children(parent: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
        let ppid = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid != Some(parent) {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if args.iter().any(|a| a == "exec-stage") {
            if let Some(job) = args.iter().find(|a| a.ends_with(".job.json")) {
                out.push((pid, job.clone()));
            }
        }
    }
    out
}

#[test]
fn a_stage_process_killed_mid_stage_leaves_the_cache_clean_and_the_rerun_completes() {
    let ws = Workspace::new(3);
    let mut driver = ws
        .command(&["run", "pipelines/demo.toml", "--executor", "process", "--jobs", "1", "-q"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for a train stage's process (the longest stages), then SIGKILL it while it works.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let mut killed = None;
    while killed.is_none() && std::time::Instant::now() < deadline {
        for (pid, job) in stage_children(driver.id()) {
            let doc: Option<serde_json::Value> = std::fs::read(&job).ok().and_then(|b| serde_json::from_slice(&b).ok());
            let Some(doc) = doc else { continue };
            if doc["kind"] == "train" {
                let ok = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
                if ok.success() {
                    killed = Some(doc["id"].as_str().unwrap().to_string());
                    break;
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let killed = killed.expect("no train stage process was seen");
    let status = driver.wait().unwrap();
    assert_eq!(status.code(), Some(1), "the run must fail when a stage's process is killed");
    // Nothing half-written: no entry for the killed stage, no litter in tmp/, every entry intact.
    let v = ws.json(&["cache", "verify"]);
    assert_eq!(v["ok"], true, "{v}");
    let plan = ws.json(&["plan", "pipelines/demo.toml"]);
    let stale: Vec<&str> = plan["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "stale")
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(stale.contains(&killed.as_str()), "{killed} should still be stale");
    // The rerun does the rest and nothing more after it.
    let s = ws.json(&["run", "pipelines/demo.toml", "--executor", "process"]);
    assert_eq!(s["failed"], 0, "{:?}", with_status(&s, "failed"));
    assert!(with_status(&s, "ran").contains(&killed));
    assert!(s["cached"].as_u64().unwrap() > 0);
    assert_eq!(ws.json(&["cache", "verify"])["ok"], true);
    assert_eq!(ws.json(&["run", "pipelines/demo.toml"])["ran"], 0);
}
