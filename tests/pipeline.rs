//! End-to-end behaviour of `run`, `plan`, `explain`, `gc` and `cache verify` on synthesised corpora,
//! checked through the `--json` summaries (stage counts), never through timing.

mod common;

use std::collections::BTreeSet;

use common::{with_status, Workspace};

#[test]
fn demo_learns_and_shows_cross_corpus_and_noise_drops() {
    let ws = Workspace::new(12);
    let s = ws.json(&["run", "pipelines/demo.toml"]);
    assert_eq!(s["failed"], 0);
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.path().join("reports/demo/results.json")).unwrap()).unwrap();
    let cell = |model: &str, train: &str, test: &str, cond: &str| -> f64 {
        results["table"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["model"] == model && r["train"] == train && r["test"] == test && r["condition"] == cond)
            .unwrap_or_else(|| panic!("no cell {model}: {train} → {test} {cond}"))["mean"]
            .as_f64()
            .unwrap()
    };
    // Every model kind trains and is evaluated on every condition; each learns in-corpus.
    for model in ["mlp", "edrl", "mbpls", "edrl_mea"] {
        for (src, other) in [("synth_a", "synth_b"), ("synth_b", "synth_a")] {
            let in_corpus = cell(model, src, src, "clean");
            assert!(in_corpus >= 0.60, "{model}: {src} in-corpus clean UAR {in_corpus}");
            assert!(cell(model, src, other, "clean") < in_corpus, "{model}: {src} → {other} should be below in-corpus");
            let noisy = cell(model, src, src, "synth_noise.snr-5");
            assert!(noisy < in_corpus, "{model}: {src}: -5 dB should be below clean");
        }
    }
    let md = std::fs::read_to_string(ws.path().join("reports/demo/report.md")).unwrap();
    assert!(md.contains("### synth_a → synth_b") && md.contains("| edrl_mea |") && md.contains("-5 dB"), "{md}");
    assert!(ws.path().join("manifests/synth_a.parquet").is_file());
    // The README shows the committed reports/demo/report.md: it must be what the code produces.
    let committed = std::fs::read_to_string(common::repo().join("reports/demo/report.md")).unwrap();
    assert!(
        md == committed,
        "reports/demo/report.md is stale: rerun the README's demo command, commit reports/demo/ and update the README table"
    );
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    let table = md.split("### synth_a → synth_b\n\n").nth(1).unwrap().split("\n\n").next().unwrap();
    assert!(readme.contains(table), "the README's table is not the demo's synth_a → synth_b table:\n{table}");

    // Nothing changed: nothing runs.
    let again = ws.json(&["run", "pipelines/demo.toml"]);
    assert_eq!(again["ran"], 0, "{:?}", with_status(&again, "ran"));
    assert_eq!(again["cached"], s["ran"]);
}

#[test]
fn touch_runs_nothing_and_an_edit_reruns_one_shard() {
    let ws = Workspace::new(4);
    ws.json(&["run", "pipelines/demo.toml"]);
    // Pick a labelled test utterance of synth_a (its noisy conditions depend on it too).
    let m = sertool::table::read_parquet(&ws.path().join("manifests/synth_a.parquet")).unwrap();
    let ids = sertool::table::strings(&m, "id").unwrap();
    let paths = sertool::table::strings(&m, "path").unwrap();
    let splits = sertool::table::strings(&m, "split").unwrap();
    let labels = sertool::table::opt_strings(&m, "label").unwrap();
    let i = (0..ids.len()).find(|&i| splits[i] == "test" && labels[i].is_some() && ids[i].contains("_ANG_")).unwrap();
    let wav = ws.path().join("data/synth/cremad_a").join(&paths[i]);

    // touch: new mtime, same bytes.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(10);
    std::fs::File::options().write(true).open(&wav).unwrap().set_modified(later).unwrap();
    let s = ws.json(&["run", "pipelines/demo.toml"]);
    assert_eq!(s["ran"], 0, "touch caused {:?}", with_status(&s, "ran"));

    // Change the bytes: halve the amplitude.
    let a = sertool::audio::read_audio(&wav).unwrap();
    let quieter: Vec<f32> = a.samples.iter().map(|v| v * 0.5).collect();
    sertool::audio::write_wav16(&wav, &quieter, a.sample_rate).unwrap();
    let plan = ws.json(&["plan", "pipelines/demo.toml"]);
    let s = ws.json(&["run", "pipelines/demo.toml"]);
    let ran = with_status(&s, "ran");
    let shard = format!("shard{:02}", sertool::corpus::shard_of(&ids[i], 8));
    let per_item: Vec<&String> =
        ran.iter().filter(|id| id.starts_with("features/") || id.starts_with("mix/")).collect();
    assert!(!per_item.is_empty());
    for id in &per_item {
        assert!(id.starts_with("features/synth_a/") || id.starts_with("mix/synth_a/"), "{id} ran");
        assert!(id.ends_with(&shard), "{id} ran but the edit is in {shard}");
    }
    // One clean features shard and one per SNR (with its mix), for that shard only.
    assert_eq!(per_item.iter().filter(|id| id.starts_with("features/")).count(), 6, "{per_item:?}");
    // plan said so beforehand.
    let stale: BTreeSet<String> = plan["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "stale")
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stale, ran.iter().cloned().collect::<BTreeSet<_>>());
}

#[test]
fn changing_one_snr_reruns_only_that_snr_and_plan_says_so() {
    let ws = Workspace::new(4);
    let first = ws.json(&["run", "pipelines/demo.toml"]);
    ws.edit_pipeline("snr_db = [20, 10, 5, 0, -5]", "snr_db = [20, 7, 5, 0, -5]");
    let plan = ws.json(&["plan", "pipelines/demo.toml"]);
    let stale: BTreeSet<String> = plan["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "stale")
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    // Every stale stage's reasons name the element that changed, not two prefixes that read the same.
    for st in plan["stages"].as_array().unwrap().iter().filter(|s| s["status"] == "stale") {
        let (id, why) = (st["id"].as_str().unwrap(), st["reasons"].to_string());
        assert!(why.contains("snr10") && why.contains("snr7"), "{id}: {why}");
        if !id.starts_with("features/") {
            assert!(why.contains("snr_db changed (10.0 → 7.0)"), "{id}: {why}");
        }
        if id.starts_with("features/") {
            assert!(why.contains("input mix/") && why.contains("snr10/shard") && why.contains("→ mix/"), "{id}: {why}");
        }
    }
    // explain, before the run that makes the report current again, lists to the element.
    let out = ws.cmd(&["explain", "pipelines/demo.toml", "report/demo"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("conditions[2].snr_db changed (10.0 → 7.0)"), "{text}");
    assert!(text.contains("parameter evals: ") && text.contains("elements changed (first: evals["), "{text}");
    let s = ws.json(&["run", "pipelines/demo.toml"]);
    let ran: BTreeSet<String> = with_status(&s, "ran").into_iter().collect();
    assert_eq!(stale, ran, "plan and run disagree");
    assert!(ran.contains("report/demo"));
    for id in &ran {
        assert!(id == "report/demo" || id.ends_with("snr7") || id.contains("snr7/"), "{id} ran after changing one SNR");
        assert!(!id.starts_with("train/") && !id.starts_with("manifest/"), "{id} ran");
    }
    let kinds: BTreeSet<&str> = ran.iter().map(|id| id.split('/').next().unwrap()).collect();
    assert_eq!(kinds, ["eval", "features", "mix", "report"].into_iter().collect());
    assert_eq!(s["cached"].as_u64().unwrap() + s["ran"].as_u64().unwrap(), first["ran"].as_u64().unwrap());

    // explain names the change; gc drops the 10 dB entries and the cache stays valid.
    let out = ws.cmd(&["explain", "pipelines/demo.toml", "report/demo"]);
    assert!(out.status.success());
    let gc = ws.json(&["gc", "pipelines/demo.toml"]);
    assert!(gc["removed"].as_u64().unwrap() > 0);
    let v = ws.json(&["cache", "verify"]);
    assert_eq!(v["ok"], true, "{v}");
    let again = ws.json(&["run", "pipelines/demo.toml"]);
    assert_eq!(again["ran"], 0);
}

#[test]
fn a_killed_run_resumes_and_leaves_a_valid_cache() {
    let ws = Workspace::new(4);
    // A small pipeline (one corpus, two models): what is checked holds for any pipeline.
    let p = common::small_pipeline(&ws, 20, "");
    let mut child = ws.command(&["run", p, "--jobs", "1", "-q"]).spawn().unwrap();
    // Wait until some work is committed, then kill -9 in the middle.
    let features = ws.path().join("cache/features");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let n = std::fs::read_dir(&features).map(|r| r.count()).unwrap_or(0);
        if n >= 3 || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let s = ws.json(&["run", p]);
    assert_eq!(s["failed"], 0);
    assert!(s["ran"].as_u64().unwrap() > 0, "the killed run had already finished");
    assert!(s["cached"].as_u64().unwrap() >= 3);
    let v = ws.json(&["cache", "verify"]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(ws.json(&["run", p])["ran"], 0);
}

#[test]
fn two_runs_at_once_wait_for_each_other() {
    let ws = Workspace::new(4);
    // A small pipeline (one corpus, two models): what is checked holds for any pipeline.
    let p = common::small_pipeline(&ws, 20, "");
    let a = ws
        .command(&["run", p, "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let b = ws
        .command(&["run", p, "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Drain both at once: a summary can outgrow a pipe's buffer, and the run holding the lock must not
    // block on its stdout while we wait for the other.
    let b = std::thread::spawn(move || b.wait_with_output().unwrap());
    let (a, b) = (a.wait_with_output().unwrap(), b.join().unwrap());
    assert!(a.status.success() && b.status.success());
    let sa: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    let sb: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    // One did all the work, the other waited and found everything cached.
    let ran = sa["ran"].as_u64().unwrap() + sb["ran"].as_u64().unwrap();
    assert_eq!(ran, sa["stages"].as_array().unwrap().len() as u64);
    let err = format!("{}{}", String::from_utf8_lossy(&a.stderr), String::from_utf8_lossy(&b.stderr));
    assert!(err.contains("in use by another sertool run"), "{err}");
    assert_eq!(ws.json(&["cache", "verify"])["ok"], true);
}

#[test]
fn no_wait_refuses_while_another_run_holds_the_cache() {
    let ws = Workspace::new(4);
    std::fs::create_dir_all(ws.path().join("cache")).unwrap();
    let lock = std::fs::File::create(ws.path().join("cache/lock")).unwrap();
    lock.lock().unwrap();
    let out = ws.cmd(&["run", "pipelines/demo.toml", "--no-wait"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another sertool run"));
}

#[test]
fn a_corrupted_entry_is_reported_by_verify() {
    let ws = Workspace::new(4);
    // A small pipeline (one corpus, two models): what is checked holds for any pipeline.
    let p = common::small_pipeline(&ws, 20, "");
    ws.json(&["run", p]);
    let dir = std::fs::read_dir(ws.path().join("cache/features")).unwrap().next().unwrap().unwrap().path();
    std::fs::write(dir.join("features.parquet"), b"garbage").unwrap();
    let out = ws.cmd(&["cache", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("features.parquet"));
}

#[test]
fn empty_audio_becomes_a_fault_record_not_a_crash() {
    let ws = Workspace::new(4);
    // A small pipeline (one corpus, two models): what is checked holds for any pipeline.
    let p = common::small_pipeline(&ws, 20, "");
    let s = ws.json(&["run", p]);
    assert!(s["faults"].as_u64().unwrap() >= 1);
    // The synthesiser's clip with no audio (as CREMA-D's 1076_MTI_SAD_XX) is named in a fault record.
    let mut found = false;
    for e in walk(&ws.path().join("cache/manifest")) {
        if e.ends_with("faults.json") {
            found |= std::fs::read_to_string(&e).unwrap().contains("1004_MTI_SAD_XX");
        }
    }
    assert!(found);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn same_config_same_bytes_across_job_counts() {
    let (a, b) = (Workspace::new(3), Workspace::new(3));
    a.json(&["run", "pipelines/demo.toml", "--jobs", "1"]);
    b.json(&["run", "pipelines/demo.toml", "--jobs", "2"]);
    for f in [
        "reports/demo/results.json",
        "reports/demo/report.md",
        "reports/demo/report.tex",
        "reports/demo/results.parquet",
        "reports/demo/plots/uar_vs_snr_synth_a_to_synth_b.png",
        "reports/demo/plots/confusion_edrl_mea_synth_b_to_synth_a.svg",
        "manifests/synth_a.parquet",
    ] {
        let (x, y) = (std::fs::read(a.path().join(f)).unwrap(), std::fs::read(b.path().join(f)).unwrap());
        assert!(x == y, "{f} differs between --jobs 1 and --jobs 2");
    }
    // Every stage has the same key, and the same output bytes.
    let (va, vb) = (a.json(&["plan", "pipelines/demo.toml"]), b.json(&["plan", "pipelines/demo.toml"]));
    assert_eq!(va["stages"], vb["stages"]);
}

#[test]
fn report_rebuilds_from_the_cache_and_refuses_without_results() {
    let ws = Workspace::new(3);
    let out = ws.cmd(&["report", "pipelines/demo.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not in the cache") && err.contains("eval/"), "{err}");
    ws.json(&["run", "pipelines/demo.toml"]);
    std::fs::remove_dir_all(ws.path().join("reports")).unwrap();
    let s = ws.json(&["report", "pipelines/demo.toml"]);
    assert_eq!(s["ran"], 0);
    assert!(with_status(&s, "cached").iter().any(|id| id.starts_with("train/")));
    assert!(ws.path().join("reports/demo/report.md").is_file());
    assert!(ws.path().join("reports/demo/plots/uar_vs_snr_synth_a_to_synth_b.png").is_file());
    // Change only the report's settings: the report stage alone runs, no train or eval stage.
    ws.edit_pipeline("metric = \"uar\"", "metric = \"macro_f1\"");
    ws.edit_pipeline("reference = \"mlp\"", "reference = \"edrl\"");
    let s = ws.json(&["report", "pipelines/demo.toml"]);
    assert_eq!(with_status(&s, "ran"), vec!["report/demo".to_string()]);
    assert!(s["stages"].as_array().unwrap().iter().all(|st| st["status"] != "ran" || st["kind"] == "report"));
    assert!(std::fs::read_to_string(ws.path().join("reports/demo/report.md"))
        .unwrap()
        .contains("## Significance against edrl"));
    assert!(std::fs::read_to_string(ws.path().join("reports/demo/report.md")).unwrap().contains("# demo — Macro-F1"));
}

#[test]
fn keep_going_finishes_independent_work_after_a_failure() {
    let ws = Workspace::new(3);
    // Make every synth_b clip unreadable: its features become fault records, and training on it fails.
    for e in std::fs::read_dir(ws.path().join("data/synth/cremad_b/AudioWAV")).unwrap().flatten() {
        std::fs::write(e.path(), b"RIFF but not really").unwrap();
    }
    let out = ws.cmd(&["run", "pipelines/demo.toml", "--keep-going", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(with_status(&s, "failed").contains(&"train/mlp/synth_b/seed1".to_string()));
    assert!(with_status(&s, "ran").contains(&"eval/mlp/synth_a/seed1/synth_a/clean".to_string()));
    assert!(with_status(&s, "skipped").contains(&"report/demo".to_string()));
    let failed = s["stages"].as_array().unwrap().iter().find(|x| x["id"] == "train/mlp/synth_b/seed1").unwrap();
    assert!(failed["error"].as_str().unwrap().contains("no training utterances"));
}
