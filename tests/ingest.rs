//! Ingestion of every native layout the synthesiser writes: manifests must match the synthesiser's own
//! ground truth exactly, no protocol may leak a speaker, and every edge case ends as a report line.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::Workspace;
use sertool::table;

/// (kind, folder under data/synth, manifest name)
const CORPORA: &[(&str, &str, &str)] = &[
    ("iemocap", "iemocap/IEMOCAP_full_release", "iemocap"),
    ("cremad", "cremad_a", "cremad_a"),
    ("cremad", "cremad_b", "cremad_b"),
    ("msp_podcast", "msp_podcast", "msp_podcast"),
    ("msp_podcast", "msp_podcast_legacy", "msp_podcast_legacy"),
    ("ravdess", "ravdess", "ravdess"),
    ("emodb", "emodb", "emodb"),
    ("csv", "generic_csv", "generic_csv"),
];

struct Manifest {
    label: Vec<Option<String>>,
    speaker: Vec<String>,
    split: Vec<String>,
}

fn read_manifest(ws: &Workspace, name: &str) -> Manifest {
    let b = table::read_parquet(&ws.path().join(format!("manifests/{name}.parquet"))).unwrap();
    Manifest {
        label: table::opt_strings(&b, "label").unwrap(),
        speaker: table::strings(&b, "speaker").unwrap(),
        split: table::strings(&b, "split").unwrap(),
    }
}

fn truth(ws: &Workspace, name: &str) -> serde_json::Value {
    let dir = if name == "iemocap" { "iemocap" } else { name };
    serde_json::from_slice(&std::fs::read(ws.path().join(format!("data/synth/ground_truth/{dir}.json"))).unwrap())
        .unwrap()
}

fn nested(v: &serde_json::Value) -> BTreeMap<String, BTreeMap<String, u64>> {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn every_layout_ingests_to_its_ground_truth_without_speaker_leaks() {
    let ws = Workspace::new(4);
    for &(kind, dir, name) in CORPORA {
        let root = format!("data/synth/{dir}");
        let out = ws.json(&["ingest", "--kind", kind, &root, "--name", name]);
        let report = &out["report"];
        let t = truth(&ws, dir.split('/').next().unwrap());
        let m = read_manifest(&ws, name);
        assert_eq!(m.label.len() as u64, t["utterances"].as_u64().unwrap(), "{name}: rows");
        // label × speaker
        let mut by_speaker: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut by_split: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for i in 0..m.label.len() {
            if let Some(l) = &m.label[i] {
                *by_speaker.entry(l.clone()).or_default().entry(m.speaker[i].clone()).or_default() += 1;
                *by_split.entry(l.clone()).or_default().entry(m.split[i].clone()).or_default() += 1;
            }
        }
        assert_eq!(by_speaker, nested(&t["label_speaker"]), "{name}: label × speaker");
        if !t["label_split"].is_null() {
            assert_eq!(by_split, nested(&t["label_split"]), "{name}: label × split");
        }
        let dropped = m.label.iter().filter(|l| l.is_none()).count() as u64;
        assert_eq!(dropped, t["dropped"].as_u64().unwrap(), "{name}: dropped");
        // Problems are report lines, with the synthesiser's counts.
        let problems = &report["problems"];
        for (what, key) in
            [("missing audio", "missing_audio"), ("unlabeled audio", "unlabeled_audio"), ("empty audio", "empty_audio")]
        {
            assert_eq!(problems[what].as_u64().unwrap_or(0), t[key].as_u64().unwrap(), "{name}: {what} in {report}");
        }
        // No speaker in two portions of the protocol.
        let mut portions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for i in 0..m.split.len() {
            if m.label[i].is_some() && m.speaker[i] != "unknown" {
                portions.entry(m.speaker[i].as_str()).or_default().insert(m.split[i].as_str());
            }
        }
        for (spk, splits) in portions {
            assert_eq!(splits.len(), 1, "{name}: speaker {spk} is in {splits:?}");
        }
        assert_eq!(report["leaked_speakers"].as_array().unwrap().len(), 0);
        let splits: BTreeSet<&str> = m.split.iter().map(String::as_str).collect();
        assert!(splits.contains("train") && splits.contains("test"), "{name}: {splits:?}");
    }
}

#[test]
fn edge_cases_end_as_report_lines() {
    let ws = Workspace::new(3);
    let iemocap = ws.json(&["ingest", "--kind", "iemocap", "data/synth/iemocap/IEMOCAP_full_release"]);
    let dropped = iemocap["report"]["dropped"].to_string();
    assert!(dropped.contains("\\\"xxx\\\"") && dropped.contains("\\\"fru\\\""), "{dropped}");
    let b = table::read_parquet(&ws.path().join("manifests/iemocap.parquet")).unwrap();
    let ids = table::strings(&b, "id").unwrap();
    // Irregular dialog names parse, and the speaker is the last token's letter.
    let i = ids.iter().position(|id| id == "iemocap/Ses05M_script01_1b_F000").expect("irregular dialog ingested");
    assert_eq!(table::strings(&b, "speaker").unwrap()[i], "Ses05_F");
    assert_eq!(table::strings(&b, "gender").unwrap()[i], "female");
    assert!(ids.iter().any(|id| id.contains("Ses03M_impro05b")));
    // Transcripts joined; the rater subfolder's fake label was ignored (no duplicate fault).
    assert!(table::opt_strings(&b, "transcript").unwrap()[i].as_deref().unwrap().starts_with("Synthetic line"));
    assert!(iemocap["report"]["problems"]["duplicate utterance"].is_null());

    // MSP-Podcast: the stereo 44.1 kHz outlier is read; unknown speakers stay unknown.
    ws.json(&["ingest", "--kind", "msp_podcast", "data/synth/msp_podcast"]);
    let b = table::read_parquet(&ws.path().join("manifests/msp_podcast.parquet")).unwrap();
    let ids = table::strings(&b, "id").unwrap();
    let i = ids.iter().position(|id| id == "msp_podcast/MSP-PODCAST_0003_0001").unwrap();
    let ch =
        b.column_by_name("channels").unwrap().as_any().downcast_ref::<arrow_array::UInt32Array>().unwrap().value(i);
    let sr = b
        .column_by_name("sample_rate_hz")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow_array::UInt32Array>()
        .unwrap()
        .value(i);
    assert_eq!((ch, sr), (2, 44_100));
    assert!(table::strings(&b, "speaker").unwrap().iter().any(|s| s == "unknown"));

    // RAVDESS: the song is dropped with its reason.
    let r = ws.json(&["ingest", "--kind", "ravdess", "data/synth/ravdess"]);
    assert_eq!(r["report"]["dropped"]["song, not speech"], 1);

    // strict: the same problems become a failure that names one of them.
    let out = ws.cmd(&[
        "ingest",
        "--kind",
        "iemocap",
        "data/synth/iemocap/IEMOCAP_full_release",
        "--name",
        "strict_iemocap",
        "--strict",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("strict ingest") && (err.contains("missing audio") || err.contains("unlabeled audio")),
        "{err}"
    );

    // Not a corpus of that kind: a clear user error.
    let out = ws.cmd(&["ingest", "--kind", "msp_podcast", "data/synth/emodb"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("labels_consensus.csv"));
}

#[test]
fn cremad_perceived_votes_drop_ties_and_follow_the_vote() {
    let ws = Workspace::new(3);
    std::fs::write(
        ws.path().join("pipelines/votes.toml"),
        "[pipeline]\nname = \"votes\"\n\n[corpora.voted]\nkind = \"cremad\"\nroot = \"../data/synth/cremad_a\"\nlabel_source = \"voice_vote\"\n",
    )
    .unwrap();
    let s = ws.json(&["run", "pipelines/votes.toml"]);
    assert_eq!(s["ran"], 1);
    let m = read_manifest(&ws, "voted");
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for l in m.label.iter().flatten() {
        *counts.entry(l.clone()).or_default() += 1;
    }
    let t = truth(&ws, "cremad_a");
    assert_eq!(counts, serde_json::from_value::<BTreeMap<String, u64>>(t["voice_vote_labels"].clone()).unwrap());
    let b = table::read_parquet(&ws.path().join("manifests/voted.parquet")).unwrap();
    assert!(table::opt_strings(&b, "drop_reason")
        .unwrap()
        .iter()
        .flatten()
        .any(|r| r.starts_with("tied perceived vote")));
    // Unknown race in the demographics does not disturb gender or age.
    assert!(table::strings(&b, "gender").unwrap().iter().all(|g| g == "male" || g == "female"));
}

#[test]
fn cross_corpus_pipeline_runs_unchanged_on_the_synthesised_corpora() {
    let ws = Workspace::new(4);
    std::fs::copy(common::repo().join("pipelines/cross_corpus.toml"), ws.path().join("pipelines/cross_corpus.toml"))
        .unwrap();
    let synth = ws.path().join("data/synth");
    let out = ws
        .command(&["run", "pipelines/cross_corpus.toml", "--json"])
        .env("IEMOCAP_ROOT", synth.join("iemocap/IEMOCAP_full_release"))
        .env("CREMAD_ROOT", synth.join("cremad_a"))
        .env("MSP_PODCAST_ROOT", synth.join("msp_podcast"))
        .env("MUSAN_ROOT", synth.join("musan"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["failed"], 0);
    let md = std::fs::read_to_string(ws.path().join("reports/cross_corpus/report.md")).unwrap();
    for pair in ["iemocap → cremad", "cremad → msp_podcast", "msp_podcast → iemocap"] {
        assert!(md.contains(pair), "{pair} missing from {md}");
    }
    // The main job runs the method and its baselines.
    for model in ["mlp", "edrl", "mbpls", "edrl_mea"] {
        assert!(md.contains(&format!("| {model} |")), "model {model} missing from {md}");
    }
    // Without the variables: one clear error naming the first one.
    let out = ws.cmd(&["plan", "pipelines/cross_corpus.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("IEMOCAP_ROOT"));
}
