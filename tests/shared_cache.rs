//! A cache that several drivers use at once, as on a cluster filesystem whose locks are not coherent:
//! with the flock off (`--lock none`), per-entry leases alone keep any two runs from computing one
//! key, and the cache stays whole.

mod common;

use std::collections::BTreeMap;

use common::{files_under, Workspace};

#[test]
fn two_drivers_without_the_flock_never_compute_one_entry_twice() {
    let ws = Workspace::new(3);
    let p = common::small_pipeline(&ws, 40, "");
    let log = ws.path().join("claims.log");
    let start = |_: usize| {
        ws.command(&["run", p, "--lock", "none", "--jobs", "2", "--json"])
            .env("SERTOOL_CLAIM_LOG", &log)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(0), start(1));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let mut ran = 0;
    let mut each = Vec::new();
    let mut stages = 0;
    for out in [&a, &b] {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(s["failed"], 0, "{s}");
        ran += s["ran"].as_u64().unwrap();
        each.push(s["ran"].as_u64().unwrap());
        stages = s["stages"].as_array().unwrap().len() as u64;
    }
    // Every stage was computed exactly once, by one of the two, and each claim was released.
    let text = std::fs::read_to_string(&log).unwrap();
    let mut claims: BTreeMap<&str, usize> = BTreeMap::new();
    let mut releases: BTreeMap<&str, usize> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f[0] {
            "claim" => *claims.entry(f[1]).or_default() += 1,
            "release" => *releases.entry(f[1]).or_default() += 1,
            other => panic!("unexpected claim event {other}: {line}"),
        }
    }
    // Both did work (else this test would not test sharing), and the other's entries count as cached.
    assert!(each.iter().all(|&n| n > 0), "one driver ran everything: {each:?}");
    assert_eq!(ran, stages, "the two drivers ran {ran} stages between them, the pipeline has {stages}");
    assert_eq!(claims.len() as u64, stages);
    assert!(claims.values().all(|&n| n == 1), "a key was claimed twice: {claims:?}");
    assert_eq!(claims, releases);
    assert!(std::fs::read_dir(ws.path().join("cache/leases")).unwrap().next().is_none(), "a lease was left");
    assert_eq!(ws.json(&["cache", "verify"])["ok"], true);
    // And what they wrote is what one driver alone writes.
    let alone = Workspace::new(3);
    common::small_pipeline(&alone, 40, "");
    assert_eq!(alone.json(&["run", p])["failed"], 0);
    let (ra, rb) = (ws.path().join("reports/small"), alone.path().join("reports/small"));
    for f in files_under(&rb) {
        let rel = f.strip_prefix(&rb).unwrap();
        if rel.to_str() == Some("training.md") {
            continue;
        }
        assert!(std::fs::read(ra.join(rel)).unwrap() == std::fs::read(&f).unwrap(), "{} differs", rel.display());
    }
}
