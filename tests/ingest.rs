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

/// Stderr of a command that must succeed.
fn stderr_of_success(ws: &Workspace, args: &[&str]) -> String {
    let out = ws.cmd(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?}: {err}");
    err
}

/// A WAV header whose data chunk announces `announced` bytes, followed by `held` bytes of samples.
fn wav_announcing(announced: u32, held: usize) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(b"RIFF");
    b.extend((36 + announced).to_le_bytes());
    b.extend(b"WAVEfmt ");
    b.extend(16u32.to_le_bytes());
    b.extend(1u16.to_le_bytes()); // PCM
    b.extend(1u16.to_le_bytes()); // mono
    b.extend(16_000u32.to_le_bytes());
    b.extend(32_000u32.to_le_bytes());
    b.extend(2u16.to_le_bytes());
    b.extend(16u16.to_le_bytes());
    b.extend(b"data");
    b.extend(announced.to_le_bytes());
    b.extend(vec![0u8; held]);
    b
}

#[test]
fn every_bad_input_is_named_on_the_terminal_and_in_faults_csv() {
    let ws = Workspace::new(3);
    let src = ws.path().join("data/synth/generic_csv");
    let root = ws.path().join("data/bad");
    std::fs::create_dir_all(root.join("audio")).unwrap();
    for e in std::fs::read_dir(src.join("audio")).unwrap().flatten() {
        std::fs::copy(e.path(), root.join("audio").join(e.file_name())).unwrap();
    }
    let wav = std::fs::read(src.join("audio/spk0_happy_0.wav")).unwrap();
    let ogg = std::fs::read(src.join("audio/tts0.ogg")).unwrap();
    let mut magic = wav.clone();
    magic[..4].copy_from_slice(b"JUNK");
    let bad_audio: Vec<(&str, Vec<u8>)> = vec![
        ("bad_trunc.wav", wav[..wav.len() / 2].to_vec()),
        ("bad_zero.wav", Vec::new()),
        ("bad_magic.wav", magic),
        ("bad_text.wav", b"this is not audio\n".to_vec()),
        // A damaged header that announces 1 GB: no 1 GB allocation, a fault.
        ("bad_short.wav", wav_announcing(1_000_000_000, 100)),
        ("bad_noise.mp3", (0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()),
        ("bad_ogg.ogg", ogg[..ogg.len() / 3].to_vec()),
    ];
    let mut csv = std::fs::read(src.join("manifest.csv")).unwrap();
    for (name, bytes) in &bad_audio {
        std::fs::write(root.join("audio").join(name), bytes).unwrap();
        csv.extend(format!("audio/{name},happy,spk1,train,m\n").as_bytes());
    }
    csv.extend(b"audio/never_recorded.wav,sad,spk1,train,m\n");
    let lines = csv.iter().filter(|&&b| b == b'\n').count();
    csv.extend(b"audio/spk0_happy_0.wav,happy,spk0,train,f\n");
    csv.extend(b"audio/spk0_sad_0.wav,sad\n");
    std::fs::copy(src.join("audio/spk0_sad_0.wav"), root.join("audio/latin.wav")).unwrap();
    csv.extend(b"audio/latin.wav,sad,Jos\xe9,train,m\n");
    std::fs::write(root.join("manifest.csv"), &csv).unwrap();

    let err = stderr_of_success(&ws, &["ingest", "--kind", "csv", "data/bad", "--name", "bad"]);
    let faults = std::fs::read_to_string(ws.path().join("manifests/bad.faults.csv")).unwrap();
    assert!(faults.starts_with("stage,corpus,utterance,file,what,detail\n"), "{faults}");
    assert!(err.contains("manifests/bad.faults.csv"), "{err}");
    let named = |what: &str, needle: &str| {
        let row = faults.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle}: {faults}"));
        assert!(row.contains(what), "{needle}: {row}");
    };
    for (name, _) in &bad_audio {
        named("unreadable audio", &format!("audio/{name}"));
    }
    named("truncated or corrupt WAV data", "bad_trunc.wav");
    named("announces 1000000000 bytes", "bad_short.wav");
    named("missing audio", "never_recorded.wav");
    named("duplicate utterance", &format!("manifest.csv:{}", lines + 1));
    named("malformed line", &format!("manifest.csv:{}", lines + 2));
    named("not UTF-8", &format!("manifest.csv:{}", lines + 3));
    // The terminal shows the first five (with file and what) and says how many more.
    assert!(err.contains("audio/bad_trunc.wav: unreadable audio: "), "{err}");
    let total = faults.lines().count() - 1;
    assert!(err.contains(&format!("… and {} more", total - 5)), "{err}");
    // Read as Latin-1, the speaker keeps its accent.
    let b = table::read_parquet(&ws.path().join("manifests/bad.parquet")).unwrap();
    assert!(table::strings(&b, "speaker").unwrap().iter().any(|s| s == "José"));

    // Off-scheme CREMA-D names and malformed EmoEvaluation lines are faults naming file and line.
    let cremad = ws.path().join("data/synth/cremad_a/AudioWAV");
    std::fs::write(cremad.join("1001_DFA_ANG.wav"), &wav).unwrap();
    std::fs::write(cremad.join("101_DFA_ANG_XX.wav"), &wav).unwrap();
    let err = stderr_of_success(&ws, &["ingest", "--kind", "cremad", "data/synth/cremad_a", "--name", "c"]);
    let faults = std::fs::read_to_string(ws.path().join("manifests/c.faults.csv")).unwrap();
    for name in ["AudioWAV/1001_DFA_ANG.wav", "AudioWAV/101_DFA_ANG_XX.wav"] {
        assert!(faults.contains(&format!("{name},unrecognised file name")), "{faults}");
        assert!(err.contains(name), "{err}");
    }
    let eval = ws.path().join("data/synth/iemocap/IEMOCAP_full_release/Session1/dialog/EmoEvaluation");
    let file = std::fs::read_dir(&eval).unwrap().flatten().find(|e| e.path().is_file()).unwrap().path();
    let mut text = std::fs::read_to_string(&file).unwrap();
    let line = text.lines().count() + 1;
    text.push_str("[1.0 - 2.0]\tSes01F_impro01_F099\n");
    std::fs::write(&file, text).unwrap();
    let err = stderr_of_success(&ws, &["ingest", "--kind", "iemocap", "data/synth/iemocap/IEMOCAP_full_release"]);
    let rel = format!("Session1/dialog/EmoEvaluation/{}:{line}", file.file_name().unwrap().to_string_lossy());
    let faults = std::fs::read_to_string(ws.path().join("manifests/iemocap.faults.csv")).unwrap();
    assert!(faults.contains(&format!("{rel},malformed line")), "{faults}");
    assert!(err.contains(&rel), "{err}");

    // Whole-file problems stop the ingest with exit 2 and name the file (and line).
    std::fs::write(root.join("manifest.csv"), "file,emotion\naudio/a.wav,happy\n").unwrap();
    let out = ws.cmd(&["ingest", "--kind", "csv", "data/bad", "--name", "bad"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("manifest.csv:1: the header must name path"));
    std::fs::remove_file(root.join("manifest.csv")).unwrap();
    let out = ws.cmd(&["ingest", "--kind", "csv", "data/bad", "--name", "bad"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("data/bad/manifest.csv"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
