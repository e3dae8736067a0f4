//! The research features of the report, end to end on one tiny pipeline (one corpus, clean only, an MLP
//! and an EDRL model with two seeds each, and a late-fusion ensemble of the two):
//!
//! - **Ensembles** (`kind = "ensemble"`): each fused eval entry (cache/ensemble/) holds, for every
//!   utterance, the mean of its members' stored class probabilities (cache/eval/) and their argmax, reads
//!   nothing but those members' eval entries, and shows up in results.csv, results.json and report.md like
//!   any model. A member that is not a `[models.*]` entry is a config error at the `members` line.
//! - **TensorBoard event files**: decoded here from their bytes (TFRecord framing with masked CRC-32C,
//!   `tensorflow.Event` protobufs, by a decoder written in this file and independent of sertool's writer),
//!   they hold exactly the per-epoch `log.history` of each published model.json.
//! - **Protocol card** and `report --compare`: the same pipeline compared with a copy of its own
//!   results.json is the same protocol; a pipeline that differs only in one corpus's label map is a
//!   different protocol, and the differences name the label map.
//! - **Speaker bootstrap**: cells carry intervals; significance.csv resamples as many units as the test
//!   split has speakers, or utterances with `[report] bootstrap_unit = "utterance"` (same means, other
//!   intervals); any other unit is a config error naming `bootstrap_unit`.
//!
//! One pipeline run is shared by every test (a `OnceLock`); the variants are other pipeline files (other
//! report names) in the same workspace and cache, so they reuse its cached stages and never edit a file
//! another test reads. The corpus has five actors split 2 / 1 / 2 (train / dev / test), so the test split
//! has more than one speaker and a dev set that logs a dev UAR every epoch.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::Workspace;
use serde_json::Value;

const CLASSES: [&str; 4] = ["neutral", "happy", "angry", "sad"];
const MEMBERS: [&str; 2] = ["mlp", "edrl"];
const SEEDS: [u64; 2] = [1, 2];
/// The shared run's pipeline file, and its name (reports/research/, models/research/).
const BASE: &str = "pipelines/research.toml";

/// The pipeline, named `name`; `corpus_extra` goes into `[corpora.a]`, `report_extra` into `[report]`.
fn pipeline(name: &str, corpus_extra: &str, report_extra: &str) -> String {
    format!(
        r#"[pipeline]
name = "{name}"
shards = 2

[labels]
classes = ["neutral", "happy", "angry", "sad"]

[corpora.a]
kind = "cremad"
root = "../data/synth/cremad_a"
split = {{ train = 0.4, dev = 0.2 }}
{corpus_extra}

[features]
kind = "logmel_stats"
n_mels = 32

[models.mlp]
kind = "mlp"
hidden = [16]
epochs = 6
lr_schedule = "cosine"
seeds = [1, 2]

[models.edrl]
kind = "edrl"
encoder_hidden = 32
code_dim = 8
epochs = 4
seeds = [1, 2]

# Late fusion: no training; without `seeds` it fuses every seed both members have.
[models.fusion]
kind = "ensemble"
members = ["mlp", "edrl"]
rule = "mean"

[[experiments]]
name = "in_a"
train = ["a"]
test = ["a"]

[report]
reference = "mlp"
plots = false
{report_extra}
"#
    )
}

/// Write a pipeline file into the workspace; returns its path relative to the workspace.
fn write_pipeline(ws: &Workspace, file: &str, text: &str) -> String {
    let rel = format!("pipelines/{file}");
    std::fs::write(ws.path().join(&rel), text).unwrap();
    rel
}

/// One run of the base pipeline, shared by the tests of this file (they only read what it wrote).
fn base() -> &'static Workspace {
    static WS: OnceLock<Workspace> = OnceLock::new();
    WS.get_or_init(|| {
        let ws = Workspace::new(5);
        write_pipeline(&ws, "research.toml", &pipeline("research", "", ""));
        let s = ws.json(&["run", BASE]);
        assert_eq!(s["failed"], 0, "the base pipeline should run without failures: {s}");
        ws
    })
}

/// Stage id → (kind, cache entry directory) of every stage `sertool plan` lists for a pipeline file.
fn entries(ws: &Workspace, pipeline: &str) -> BTreeMap<String, (String, PathBuf)> {
    let plan = ws.json(&["plan", pipeline]);
    plan["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let (id, kind, key) = (s["id"].as_str().unwrap(), s["kind"].as_str().unwrap(), s["key"].as_str().unwrap());
            (id.to_string(), (kind.to_string(), ws.path().join("cache").join(kind).join(key)))
        })
        .collect()
}

fn read(ws: &Workspace, rel: &str) -> String {
    std::fs::read_to_string(ws.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON ({e})", path.display()))
}

/// A CSV file as a header and rows of fields (the report's CSVs quote nothing).
fn csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let header = lines.next().expect("a header line").split(',').map(String::from).collect();
    (header, lines.map(|l| l.split(',').map(String::from).collect()).collect())
}

fn col(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

/// One row of an eval entry's predictions.parquet.
#[derive(Debug, Clone)]
struct Row {
    condition: String,
    truth: String,
    predicted: String,
    probs: Vec<f32>,
}

/// The rows of an eval (or ensemble) entry, by utterance id, and the ids in file order.
fn predictions(dir: &Path) -> (BTreeMap<String, Row>, Vec<String>) {
    let b = sertool::table::read_parquet(&dir.join("predictions.parquet")).unwrap();
    let ids = sertool::table::strings(&b, "id").unwrap();
    let cond = sertool::table::strings(&b, "condition").unwrap();
    let truth = sertool::table::strings(&b, "true").unwrap();
    let pred = sertool::table::strings(&b, "predicted").unwrap();
    let probs = sertool::table::vectors(&b, "probabilities").unwrap();
    let rows = (0..ids.len())
        .map(|i| {
            let r = Row {
                condition: cond[i].clone(),
                truth: truth[i].clone(),
                predicted: pred[i].clone(),
                probs: probs[i].clone(),
            };
            (ids[i].clone(), r)
        })
        .collect();
    (rows, ids)
}

/// Index of the largest value, first of equals (as sertool's argmax).
fn argmax(p: &[f32]) -> usize {
    (0..p.len()).fold(0, |best, i| if p[i] > p[best] { i } else { best })
}

fn class_index(c: &str) -> usize {
    CLASSES.iter().position(|k| *k == c).unwrap_or_else(|| panic!("{c} is not a class"))
}

/// The labelled test-split utterances of corpus `a` (id → speaker), from the manifest entry the plan
/// names (not manifests/a.parquet, which every pipeline of the workspace publishes).
fn labelled_test_speakers(ws: &Workspace, pipeline: &str) -> BTreeMap<String, String> {
    let entries = entries(ws, pipeline);
    let (_, dir) = &entries["manifest/a"];
    let m = sertool::table::read_parquet(&dir.join("manifest.parquet")).unwrap();
    let ids = sertool::table::strings(&m, "id").unwrap();
    let speakers = sertool::table::strings(&m, "speaker").unwrap();
    let splits = sertool::table::strings(&m, "split").unwrap();
    let labels = sertool::table::opt_strings(&m, "label").unwrap();
    (0..ids.len())
        .filter(|&i| splits[i] == "test" && labels[i].is_some())
        .map(|i| (ids[i].clone(), speakers[i].clone()))
        .collect()
}

#[test]
fn a_mean_ensemble_fuses_its_members_stored_probabilities_and_is_reported_like_a_model() {
    let ws = base();
    let entries = entries(ws, BASE);
    let results = read_json(&ws.path().join("reports/research/results.json"));
    let (header, rows) = csv(&read(ws, "reports/research/results.csv"));
    let mut fused_uars = Vec::new();
    for seed in SEEDS {
        let cell = format!("a/seed{seed}/a/clean");
        let id = format!("eval/fusion/{cell}");
        let (kind, dir) = entries.get(&id).unwrap_or_else(|| panic!("the plan has no stage {id}"));
        assert_eq!(kind, "ensemble", "{id} is an ensemble stage, stored under cache/ensemble/");
        // It reads its members' eval entries of the same cell and nothing else: nothing is retrained.
        let meta = read_json(&dir.join("meta.json"));
        assert_eq!(meta["stage"], id.as_str(), "meta.json of {} names its stage", dir.display());
        let inputs: BTreeSet<String> = meta["inputs"].as_object().unwrap().keys().cloned().collect();
        let wanted: BTreeSet<String> = MEMBERS.iter().map(|m| format!("eval/{m}/{cell}")).collect();
        assert_eq!(inputs, wanted, "{id} should read exactly its members' eval entries");
        for m in MEMBERS {
            let member = format!("eval/{m}/{cell}");
            assert_eq!(entries[&member].0, "eval", "{member} is an ordinary eval stage");
            let key = entries[&member].1.file_name().unwrap().to_str().unwrap().to_string();
            assert_eq!(meta["inputs"][&member], key.as_str(), "{id} read the current {member}");
        }

        let (fused, fused_ids) = predictions(dir);
        let members: Vec<BTreeMap<String, Row>> =
            MEMBERS.iter().map(|m| predictions(&entries[&format!("eval/{m}/{cell}")].1).0).collect();
        assert!(!fused.is_empty(), "{id}: no fused rows");
        assert_eq!(fused.len(), members[0].len(), "{id}: every utterance both members scored is fused");
        for (u, row) in &fused {
            let of: Vec<&Row> = members
                .iter()
                .zip(MEMBERS)
                .map(|(rows, m)| rows.get(u).unwrap_or_else(|| panic!("{id}: {u} is not in {m}'s predictions")))
                .collect();
            assert_eq!(row.condition, "clean", "{id}: {u}");
            assert!(of.iter().all(|r| r.truth == row.truth), "{id}: {u}: the true label is the members' one");
            assert_eq!(row.probs.len(), CLASSES.len(), "{id}: {u}: one probability per class");
            for c in 0..CLASSES.len() {
                let mean = of.iter().map(|r| f64::from(r.probs[c])).sum::<f64>() / of.len() as f64;
                assert!(
                    (f64::from(row.probs[c]) - mean).abs() < 1e-6,
                    "{id}: {u}: class {c} probability {} should be the members' mean {mean} ({:?})",
                    row.probs[c],
                    of.iter().map(|r| &r.probs).collect::<Vec<_>>()
                );
            }
            let top = CLASSES[argmax(&row.probs)];
            assert_eq!(row.predicted, top, "{id}: {u}: predicted is the argmax of {:?}", row.probs);
        }
        // metrics.json is the metrics of the fused predictions.
        let truth: Vec<usize> = fused_ids.iter().map(|u| class_index(&fused[u].truth)).collect();
        let pred: Vec<usize> = fused_ids.iter().map(|u| class_index(&fused[u].predicted)).collect();
        let m = sertool::models::metrics::compute(&truth, &pred, CLASSES.len());
        let stored = read_json(&dir.join("metrics.json"));
        assert_eq!(stored["uar"].as_f64(), Some(m.uar), "{id}: metrics.json UAR vs the fused predictions");
        assert_eq!(stored["n"].as_u64(), Some(m.n as u64), "{id}: metrics.json n");

        // results.csv: one row per seed, naming the ensemble's own entry as both keys.
        let key = dir.file_name().unwrap().to_str().unwrap();
        let row = rows
            .iter()
            .find(|r| r[col(&header, "model")] == "fusion" && r[col(&header, "seed")] == seed.to_string())
            .unwrap_or_else(|| panic!("results.csv has no row for fusion seed {seed}"));
        assert_eq!(row[col(&header, "eval_key")], key, "results.csv eval_key of fusion seed {seed}");
        assert_eq!(row[col(&header, "train_key")], key, "an ensemble trains nothing: its own key stands for the model");
        assert_eq!(row[col(&header, "condition")], "clean");
        assert_eq!(row[col(&header, "n")].parse::<usize>().unwrap(), m.n, "results.csv n of fusion seed {seed}");
        assert_eq!(row[col(&header, "uar")].parse::<f64>().unwrap(), m.uar, "results.csv uar of fusion seed {seed}");
        fused_uars.push(m.uar);
    }
    let fusion_rows = rows.iter().filter(|r| r[col(&header, "model")] == "fusion").count();
    assert_eq!(fusion_rows, SEEDS.len(), "fusion: one results.csv row per common seed of its members");

    // results.json's cell and report.md's robustness table show the seed mean.
    let (mean, std) = sertool::report::mean_std(&fused_uars);
    let cell = results["table"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == "fusion" && c["train"] == "a" && c["test"] == "a" && c["condition"] == "clean")
        .unwrap_or_else(|| panic!("results.json has no fusion cell: {}", results["table"]));
    assert!((cell["mean"].as_f64().unwrap() - mean).abs() < 1e-12, "fusion cell mean {} vs {mean}", cell["mean"]);
    assert!((cell["std"].as_f64().unwrap() - std).abs() < 1e-12, "fusion cell std {} vs {std}", cell["std"]);
    assert_eq!(cell["seeds"], SEEDS.len(), "fusion cell seeds");
    let md = read(ws, "reports/research/report.md");
    let section = md
        .split("### a → a\n")
        .nth(1)
        .unwrap_or_else(|| panic!("report.md has no robustness table for a → a:\n{md}"))
        .split("\n### ")
        .next()
        .unwrap();
    let line = section
        .lines()
        .find(|l| l.starts_with("| fusion |"))
        .unwrap_or_else(|| panic!("the a → a table has no fusion row:\n{section}"));
    let text = format!("{mean:.3} ± {std:.3}");
    assert!(line.contains(&text), "fusion row should show {text}: {line}");
    // And it is compared with the reference like any model.
    assert!(md.lines().any(|l| l.starts_with("| fusion | a → a |")), "report.md significance table has no fusion row");
    let (sig_header, sig) = csv(&read(ws, "reports/research/significance.csv"));
    assert!(
        sig.iter().any(|r| r[col(&sig_header, "model")] == "fusion" && r[col(&sig_header, "reference")] == "mlp"),
        "significance.csv should compare fusion with mlp"
    );
}

// ---- TensorBoard event files, decoded independently of sertool's writer ----

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit.
fn crc32c(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
        }
    }
    !c
}

/// The masked CRC TFRecord stores.
fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes(b.try_into().unwrap())
}

/// The records of a TFRecord file (u64 LE length, u32 masked CRC of the length bytes, data, u32 masked
/// CRC of the data), every checksum checked.
fn tfrecords(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 12, "truncated record header ({} bytes left)", bytes.len());
        let (len, rest) = bytes.split_at(8);
        let (len_crc, rest) = rest.split_at(4);
        assert_eq!(le_u32(len_crc), masked_crc32c(len), "record {}: masked CRC of the length", out.len());
        let n = u64::from_le_bytes(len.try_into().unwrap()) as usize;
        assert!(rest.len() >= n + 4, "record {}: {n} bytes announced, {} left", out.len(), rest.len());
        let (data, rest) = rest.split_at(n);
        let (data_crc, rest) = rest.split_at(4);
        assert_eq!(le_u32(data_crc), masked_crc32c(data), "record {}: masked CRC of the data", out.len());
        out.push(data);
        bytes = rest;
    }
    out
}

/// One protobuf field value, by wire type.
enum Wire<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Bytes(&'a [u8]),
    Fixed32([u8; 4]),
}

fn varint(b: &mut &[u8]) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let (&byte, rest) = b.split_first().expect("a truncated varint");
        *b = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

/// The next `n` bytes of `b`.
fn take<'a>(b: &mut &'a [u8], n: usize) -> &'a [u8] {
    assert!(b.len() >= n, "a truncated field: {n} bytes wanted, {} left", b.len());
    let (v, rest) = b.split_at(n);
    *b = rest;
    v
}

/// The (field number, value) pairs of one protobuf message.
fn fields(mut b: &[u8]) -> Vec<(u64, Wire<'_>)> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b);
        let value = match key & 7 {
            0 => Wire::Varint(varint(&mut b)),
            1 => Wire::Fixed64(take(&mut b, 8).try_into().unwrap()),
            2 => {
                let n = varint(&mut b) as usize;
                Wire::Bytes(take(&mut b, n))
            }
            5 => Wire::Fixed32(take(&mut b, 4).try_into().unwrap()),
            w => panic!("wire type {w} (field {}) in an event", key >> 3),
        };
        out.push((key >> 3, value));
    }
    out
}

/// What an event file holds: the first event's file_version, and (tag, step, value, wall_time) of
/// every scalar. Event: 1 wall_time (double), 2 step (int64), 3 file_version (string), 5 summary;
/// Summary: 1 value (repeated); Value: 1 tag (string), 2 simple_value (float).
/// The file_version of the first event, and (tag, step, value, wall time) of every scalar.
type Events = (Option<String>, Vec<(String, i64, f32, f64)>);

fn decode_events(bytes: &[u8]) -> Events {
    let mut version = None;
    let mut points = Vec::new();
    for (i, rec) in tfrecords(bytes).into_iter().enumerate() {
        let (mut wall_time, mut step, mut summary) = (None, 0i64, None);
        for (field, value) in fields(rec) {
            match (field, value) {
                (1, Wire::Fixed64(v)) => wall_time = Some(f64::from_le_bytes(v)),
                (2, Wire::Varint(v)) => step = v as i64,
                (3, Wire::Bytes(v)) => version = Some(String::from_utf8(v.to_vec()).expect("file_version is UTF-8")),
                (5, Wire::Bytes(v)) => summary = Some(v),
                (f, _) => panic!("record {i}: unexpected Event field {f}"),
            }
        }
        let Some(summary) = summary else { continue };
        let wall_time = wall_time.unwrap_or_else(|| panic!("record {i}: an event without wall_time"));
        for (field, value) in fields(summary) {
            let Wire::Bytes(v) = value else { panic!("record {i}: Summary field {field} is not a message") };
            assert_eq!(field, 1, "record {i}: Summary holds values only");
            let (mut tag, mut simple) = (None, None);
            for (f, w) in fields(v) {
                match (f, w) {
                    (1, Wire::Bytes(t)) => tag = Some(String::from_utf8(t.to_vec()).expect("a UTF-8 tag")),
                    (2, Wire::Fixed32(x)) => simple = Some(f32::from_le_bytes(x)),
                    (f, _) => panic!("record {i}: unexpected Summary.Value field {f}"),
                }
            }
            let tag = tag.unwrap_or_else(|| panic!("record {i}: a value without tag"));
            let value = simple.unwrap_or_else(|| panic!("record {i}: {tag} has no simple_value"));
            points.push((tag, step, value, wall_time));
        }
    }
    (version, points)
}

/// (tag, step, value) the report should write for one run's model.json history, in its order: per
/// epoch loss/total, loss/<term> (by name), dev/uar (when there was a dev set), lr.
fn expected_scalars(card: &Value) -> Vec<(String, i64, f32)> {
    let mut out = Vec::new();
    let history = card["log"]["history"].as_array().expect("model.json log.history is a list");
    for e in history {
        let step = e["epoch"].as_i64().expect("history entries have an epoch");
        let f = |v: &Value, what: &str| v.as_f64().unwrap_or_else(|| panic!("{what} is not a number in {e}")) as f32;
        out.push(("loss/total".to_string(), step, f(&e["loss"], "loss")));
        let mut terms: Vec<(&String, &Value)> =
            e.get("terms").and_then(Value::as_object).into_iter().flatten().collect();
        terms.sort_by(|a, b| a.0.cmp(b.0));
        for (name, v) in terms {
            out.push((format!("loss/{name}"), step, f(v, name.as_str())));
        }
        if !e["dev_uar"].is_null() {
            out.push(("dev/uar".to_string(), step, f(&e["dev_uar"], "dev_uar")));
        }
        out.push(("lr".to_string(), step, f(&e["lr"], "lr")));
    }
    out
}

#[test]
fn tensorboard_event_files_hold_each_runs_model_json_history() {
    // The decoder's own CRC against the CRC-32C check value.
    assert_eq!(crc32c(b"123456789"), 0xE306_9283, "CRC-32C check value");
    let ws = base();
    let (mut dev_points, mut term_points) = (0, 0);
    for m in MEMBERS {
        for seed in SEEDS {
            let run = format!("{m}/a/seed{seed}");
            let card = read_json(&ws.path().join(format!("models/research/{run}/model.json")));
            let want = expected_scalars(&card);
            assert!(!want.is_empty(), "{run}: model.json logged no epoch");
            let path = ws.path().join(format!("reports/research/tensorboard/{run}/events.out.tfevents.0.sertool"));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let (version, points) = decode_events(&bytes);
            assert_eq!(version.as_deref(), Some("brain.Event:2"), "{run}: the first event names the file version");
            let got: Vec<(String, i64, f32)> = points.iter().map(|(t, s, v, _)| (t.clone(), *s, *v)).collect();
            assert_eq!(got, want, "{run}: the event file should hold exactly model.json's log.history");
            // Byte-reproducible: the wall time of epoch e is e seconds.
            for (tag, step, _, wall) in &points {
                assert_eq!(*wall, *step as f64, "{run}: wall_time of {tag} at step {step}");
            }
            dev_points += got.iter().filter(|p| p.0 == "dev/uar").count();
            term_points += got.iter().filter(|p| p.0.starts_with("loss/") && p.0 != "loss/total").count();
        }
    }
    assert!(dev_points > 0, "the corpus has a dev split, so some epochs should log dev/uar");
    assert!(term_points > 0, "EDRL logs its loss terms, so some loss/<term> tags should be there");
    // An ensemble trains nothing, so it has no event file.
    assert!(
        !ws.path().join("reports/research/tensorboard/fusion").exists(),
        "an ensemble has no training run and no TensorBoard folder"
    );
}

// ---- protocol card and --compare ----

#[test]
fn compare_says_same_protocol_for_the_same_pipeline_and_names_a_label_map_difference() {
    let ws = base();
    let results = read_json(&ws.path().join("reports/research/results.json"));
    let card = &results["protocol"];
    let sha = card["sha256"].as_str().unwrap_or_else(|| panic!("results.json protocol has no sha256: {card}"));
    assert!(sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()), "protocol sha256 {sha:?}");
    let protocol = read_json(&ws.path().join("reports/research/protocol.json"));
    assert_eq!(&protocol, card, "protocol.json is the card of results.json");

    // (a) The same pipeline reported again, against a copy of its own results.json.
    std::fs::create_dir_all(ws.path().join("elsewhere")).unwrap();
    std::fs::copy(ws.path().join("reports/research/results.json"), ws.path().join("elsewhere/results.json")).unwrap();
    let out = ws.cmd(&["report", BASE, "--compare", "elsewhere/results.json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "report --compare failed: {}{stdout}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("same protocol"), "expected \"same protocol\" in: {stdout}");
    let v = ws.json(&["report", BASE, "--compare", "elsewhere/results.json"]);
    assert_eq!(v["compare"]["same_protocol"], true, "{v}");
    assert_eq!(v["compare"]["differences"], serde_json::json!([]), "{v}");

    // (b) The same pipeline but for one corpus's label map (neutral and happy swapped): the same
    // utterances, other labels.
    let swapped = "label_map = { NEU = \"happy\", HAP = \"neutral\", ANG = \"angry\", SAD = \"sad\" }";
    let other = write_pipeline(ws, "research_lm.toml", &pipeline("research_lm", swapped, ""));
    let s = ws.json(&["run", other.as_str()]);
    assert_eq!(s["failed"], 0, "the relabelled pipeline should run without failures: {s}");
    let v = ws.json(&["report", other.as_str(), "--compare", "reports/research/results.json"]);
    assert_eq!(v["compare"]["same_protocol"], false, "a different label map is a different protocol: {v}");
    let diffs: Vec<&str> =
        v["compare"]["differences"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert!(diffs.iter().any(|d| d.contains("label_map")), "a difference should name the label_map: {diffs:?}");
    assert!(
        !diffs.iter().any(|d| d.contains("evaluation_sets")),
        "the swap keeps every utterance, so the evaluation sets should not differ: {diffs:?}"
    );
    let out = ws.cmd(&["report", other.as_str(), "--compare", "reports/research/results.json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "report --compare failed: {}{stdout}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("different protocol"), "expected \"different protocol\" in: {stdout}");
    assert!(
        stdout.lines().any(|l| l.trim_start().starts_with("- ") && l.contains("label_map")),
        "expected a difference line naming label_map in: {stdout}"
    );
    let theirs = read_json(&ws.path().join("reports/research_lm/protocol.json"));
    assert_ne!(theirs["sha256"], card["sha256"], "the two cards' hashes should differ");
    assert_ne!(theirs["label_map_sha256"], card["label_map_sha256"], "the label-map hashes should differ");
    assert_eq!(theirs["evaluation_sets"], card["evaluation_sets"], "same utterances, same evaluation-set hashes");
}

// ---- speaker bootstrap ----

/// (model, train, test, condition) → the cell of results.json "table".
fn cells(results: &Value) -> BTreeMap<(String, String, String, String), Value> {
    results["table"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |f: &str| c[f].as_str().unwrap().to_string();
            ((s("model"), s("train"), s("test"), s("condition")), c.clone())
        })
        .collect()
}

/// Every cell has an interval, and the robustness table of results.json carries the same one.
fn check_intervals(results: &Value, unit: &str) {
    let cells = cells(results);
    assert!(!cells.is_empty(), "results.json has no cells");
    for ((model, train, test, cond), c) in &cells {
        let (lo, hi) = (c["ci_low"].as_f64(), c["ci_high"].as_f64());
        let (Some(lo), Some(hi)) = (lo, hi) else { panic!("{model} {train} → {test} {cond}: no interval in {c}") };
        assert!(lo <= hi, "{model}: interval [{lo}, {hi}]");
        assert_eq!(c["bootstrap_unit"], unit, "{model}: the cell names its bootstrap unit");
    }
    let tables = results["tables"]["robustness"].as_array().expect("results.json tables.robustness");
    let table = tables.iter().find(|t| t["columns"] == serde_json::json!(["clean"])).expect("the a → a table");
    for row in table["rows"].as_array().unwrap() {
        let model = row["label"].as_str().unwrap();
        let cell = &row["cells"][0];
        let want = &cells[&(model.to_string(), "a".to_string(), "a".to_string(), "clean".to_string())];
        assert_eq!(cell["ci_low"], want["ci_low"], "{model}: the table's interval is the cell's");
        assert_eq!(cell["ci_high"], want["ci_high"], "{model}: the table's interval is the cell's");
    }
}

/// significance.csv rows as (model, unit, units, utterances, sign_flip_p).
fn significance_rows(ws: &Workspace, name: &str) -> Vec<(String, String, usize, usize, f64)> {
    let (h, rows) = csv(&read(ws, &format!("reports/{name}/significance.csv")));
    assert!(!rows.is_empty(), "reports/{name}/significance.csv has no comparison");
    rows.iter()
        .map(|r| {
            let p = r[col(&h, "sign_flip_p")].parse::<f64>().unwrap_or_else(|e| panic!("sign_flip_p {r:?}: {e}"));
            assert!(p > 0.0 && p <= 1.0, "sign-flip p {p} in {r:?}");
            (
                r[col(&h, "model")].clone(),
                r[col(&h, "unit")].clone(),
                r[col(&h, "units")].parse().unwrap(),
                r[col(&h, "utterances")].parse().unwrap(),
                p,
            )
        })
        .collect()
}

#[test]
fn the_bootstrap_resamples_speakers_by_default_and_utterances_when_asked() {
    let ws = base();
    let test = labelled_test_speakers(ws, BASE);
    let speakers: BTreeSet<&String> = test.values().collect();
    assert!(speakers.len() >= 2, "the test split should hold two speakers or more: {speakers:?}");

    // Default: speakers.
    let speaker_results = read_json(&ws.path().join("reports/research/results.json"));
    check_intervals(&speaker_results, "speaker");
    for (model, unit, units, utterances, _) in significance_rows(ws, "research") {
        assert_eq!(unit, "speaker", "{model}: the default bootstrap unit");
        assert_eq!(units, speakers.len(), "{model}: one unit per test speaker");
        assert_eq!(utterances, test.len(), "{model}: every labelled test utterance is compared");
    }
    assert!(read(ws, "reports/research/report.md").contains("resamples the test set's speakers"), "legend: speakers");

    // The same pipeline (another name) resampling utterances: only its report runs.
    let utt = write_pipeline(ws, "research_utt.toml", &pipeline("research_utt", "", "bootstrap_unit = \"utterance\""));
    let s = ws.json(&["run", utt.as_str()]);
    assert_eq!(s["failed"], 0, "{s}");
    assert_eq!(common::with_status(&s, "ran"), ["report/research_utt"], "a [report] key reruns the report alone");
    let utterance_results = read_json(&ws.path().join("reports/research_utt/results.json"));
    check_intervals(&utterance_results, "utterance");
    for (model, unit, units, utterances, _) in significance_rows(ws, "research_utt") {
        assert_eq!(unit, "utterance", "{model}: bootstrap_unit = \"utterance\"");
        assert_eq!(units, test.len(), "{model}: one unit per labelled test utterance");
        assert_eq!(utterances, test.len(), "{model}: every labelled test utterance is compared");
    }
    assert!(
        read(ws, "reports/research_utt/report.md").contains("resamples the test set's utterances"),
        "legend: utterances"
    );

    // Same means and stds, other intervals.
    let (by_speaker, by_utterance) = (cells(&speaker_results), cells(&utterance_results));
    assert_eq!(
        by_speaker.keys().collect::<Vec<_>>(),
        by_utterance.keys().collect::<Vec<_>>(),
        "both reports have the same cells"
    );
    let mut differing = 0;
    for (k, a) in &by_speaker {
        let b = &by_utterance[k];
        assert_eq!(a["mean"], b["mean"], "{k:?}: the unit changes no mean");
        assert_eq!(a["std"], b["std"], "{k:?}: the unit changes no std");
        differing += usize::from((&a["ci_low"], &a["ci_high"]) != (&b["ci_low"], &b["ci_high"]));
    }
    assert!(
        differing > 0,
        "resampling speakers or utterances should give other intervals: {by_speaker:?} vs {by_utterance:?}"
    );
    // How the report tests is not part of what it measured.
    let v = ws.json(&["report", utt.as_str(), "--compare", "reports/research/results.json"]);
    assert_eq!(v["compare"]["same_protocol"], true, "the bootstrap unit is not part of the protocol: {v}");
}

// ---- config errors ----

/// `sertool plan` of a pipeline text: exit code 2 and one clean error; returns (1-based line of the
/// first line containing `at`, stderr).
fn plan_error(ws: &Workspace, file: &str, text: &str, at: &str) -> (usize, String) {
    let rel = write_pipeline(ws, file, text);
    let line = text.lines().position(|l| l.contains(at)).unwrap_or_else(|| panic!("no {at:?} in the pipeline")) + 1;
    let out = ws.cmd(&["plan", rel.as_str()]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{file}: expected exit code 2, stderr: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked") && !err.contains("Backtrace"), "{err}");
    (line, err)
}

#[test]
fn an_unknown_ensemble_member_and_an_unknown_bootstrap_unit_are_config_errors() {
    let ws = base();
    let good = pipeline("research_bad", "", "");
    let text = good.replace("members = [\"mlp\", \"edrl\"]", "members = [\"mlp\", \"svm\"]");
    assert_ne!(text, good);
    let (line, err) = plan_error(ws, "research_bad_member.toml", &text, "members =");
    for want in [
        format!("pipelines/research_bad_member.toml:{line}:"),
        "model \"fusion\"".to_string(),
        "member \"svm\" is not a [models.*] entry".to_string(),
        "expected one of: edrl, mlp".to_string(),
    ] {
        assert!(err.contains(&want), "expected {want:?} in: {err}");
    }

    let text = pipeline("research_bad", "", "bootstrap_unit = \"corpus\"");
    let (line, err) = plan_error(ws, "research_bad_unit.toml", &text, "bootstrap_unit");
    for want in [
        format!("pipelines/research_bad_unit.toml:{line}:"),
        "bootstrap_unit \"corpus\"".to_string(),
        "speaker, utterance".to_string(),
    ] {
        assert!(err.contains(&want), "expected {want:?} in: {err}");
    }
}

#[test]
fn bad_feature_sweeps_and_a_sweep_of_an_ensembles_member_are_config_errors() {
    let ws = base();
    // (what is added, where the error points, what it says)
    let cases: [(&str, &str, &[&str]); 5] = [
        ("[sweep.mels]\nfeatures.n_mels = [40, 64]\n", "[sweep.mels]", &["names the model", "model = \"<name>\""]),
        (
            "[sweep.mels]\nmodel = \"fusion\"\nfeatures.n_mels = [16, 24]\n",
            "features.n_mels",
            &["model \"fusion\" (kind \"ensemble\") fuses its members' predictions and reads no [features]"],
        ),
        (
            "[models.lin]\nkind = \"mlp\"\n\n[sweep.mels]\nmodel = \"lin\"\nfeatures.n_mels = [16, 0]\n",
            "features.n_mels",
            &["[sweep.mels]", "variant \"lin.n_mels-0\"", "n_mels > 0"],
        ),
        (
            "[models.lin]\nkind = \"mlp\"\n\n[sweep.mels]\nmodel = \"lin\"\nfeatures.n_mel = [16, 24]\n",
            "features.n_mel",
            &["variant \"lin.n_mel-16\"", "unknown key \"n_mel\" in [features]"],
        ),
        (
            "[models.lin]\nkind = \"mlp\"\n\n[sweep.mels]\nmodel = \"lin\"\nmodels.mlp.hidden = [[8], [16]]\n",
            "models.mlp.hidden",
            &["a sweep varies one model; model = \"lin\""],
        ),
    ];
    for (i, (extra, at, wants)) in cases.iter().enumerate() {
        let text = format!("{}\n{extra}", pipeline("research_bad", "", ""));
        let file = format!("research_bad_feature_sweep{i}.toml");
        let (line, err) = plan_error(ws, &file, &text, at);
        assert!(
            err.contains(&format!("pipelines/{file}:{line}:")),
            "case {i}: the error should point at line {line}: {err}"
        );
        for want in *wants {
            assert!(err.contains(want), "case {i}: expected {want:?} in: {err}");
        }
    }
    // edrl is a member of `fusion`: sweeping it would leave the ensemble without its member.
    let text = format!("{}\n[sweep.epochs]\nmodels.edrl.epochs = [2, 4]\n", pipeline("research_bad", "", ""));
    let (line, err) = plan_error(ws, "research_bad_member_sweep.toml", &text, "members =");
    for want in [
        format!("pipelines/research_bad_member_sweep.toml:{line}:"),
        "member \"edrl\" is swept by [sweep.epochs]".to_string(),
        "edrl.epochs-2, edrl.epochs-4".to_string(),
    ] {
        assert!(err.contains(&want), "expected {want:?} in: {err}");
    }
}

/// The plan's stage ids and whether each is stale.
fn statuses(ws: &Workspace, pipeline: &str) -> BTreeMap<String, bool> {
    let plan = ws.json(&["plan", pipeline]);
    plan["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap().to_string(), s["status"] == "stale"))
        .collect()
}

/// The input stage ids of a cache entry (its meta.json).
fn inputs_of(dir: &Path) -> Vec<String> {
    read_json(&dir.join("meta.json"))["inputs"].as_object().unwrap().keys().cloned().collect()
}

#[test]
fn a_feature_sweep_trains_each_variant_on_its_own_features_and_shares_the_rest() {
    let ws = base();
    // A third model `lin` swept over n_mels: 16 is new, 32 is [features]'s own value.
    let text = pipeline("research_mels", "", "").replace(
        "# Late fusion",
        "[models.lin]\nkind = \"mlp\"\nhidden = [8]\nepochs = 3\nseeds = [1, 2]\n\n\
         [sweep.mels]\nmodel = \"lin\"\nfeatures.n_mels = [16, 32]\n\n# Late fusion",
    );
    let rel = write_pipeline(ws, "research_mels.toml", &text);
    // Before it runs, only the new setting's feature shards are stale of all feature shards: the base
    // run computed [features] already, and the 32 variant reads those shards.
    let before = statuses(ws, &rel);
    let features: Vec<(&String, &bool)> = before.iter().filter(|(id, _)| id.starts_with("features/")).collect();
    for (id, &stale) in &features {
        let tagged = id.split('/').nth(3) == Some("n_mels-16");
        assert_eq!(stale, tagged, "{id}: stale {stale}");
        assert!(id.split('/').count() == if tagged { 5 } else { 4 }, "{id}");
    }
    assert!(features.iter().any(|(_, &s)| s), "the 16-band setting has shards of its own");
    assert!(
        !before.keys().any(|id| id.starts_with("features/") && id.contains("n_mels-32")),
        "[features]'s own setting is not computed twice"
    );
    let s = ws.json(&["run", rel.as_str()]);
    assert_eq!(s["failed"], 0, "{s}");
    let entries = entries(ws, &rel);
    for (variant, n_mels) in [("lin.n_mels-16", 16), ("lin.n_mels-32", 32)] {
        for seed in SEEDS {
            let id = format!("train/{variant}/a/seed{seed}");
            let card = read_json(&ws.path().join(format!("models/research_mels/{variant}/a/seed{seed}/model.json")));
            assert_eq!(card["features"]["n_mels"], n_mels, "{id}: {}", card["features"]);
            assert_eq!(card["input_dim"], 2 * n_mels, "{id}: log-mel means and stds");
            let reads: Vec<String> =
                inputs_of(&entries[&id].1).into_iter().filter(|i| i.starts_with("features/")).collect();
            assert!(!reads.is_empty(), "{id} reads feature shards");
            let tagged = |i: &String| i.split('/').nth(3) == Some("n_mels-16");
            assert!(reads.iter().all(|i| tagged(i) == (n_mels == 16)), "{id} reads {reads:?}");
            // Its evals read the same setting's test features.
            let eval = format!("eval/{variant}/a/seed{seed}/a/clean");
            let reads: Vec<String> =
                inputs_of(&entries[&eval].1).into_iter().filter(|i| i.starts_with("features/")).collect();
            assert!(!reads.is_empty() && reads.iter().all(|i| tagged(i) == (n_mels == 16)), "{eval} reads {reads:?}");
        }
    }
    // The other models' train stages are the base run's (same keys, cached before this run).
    for (m, seed) in MEMBERS.iter().flat_map(|m| SEEDS.map(|s| (m, s))) {
        assert!(!before[&format!("train/{m}/a/seed{seed}")], "train/{m}/a/seed{seed} was retrained");
    }
    // The sweep table names the feature key and selects on dev UAR.
    let report = read(ws, "reports/research_mels/report.md");
    assert!(report.contains("### mels (lin: features.n_mels)"), "{report}");
    assert!(report.contains("Features of lin.n_mels-16: `"), "the reproducibility section lists each setting");
    let results = read_json(&ws.path().join("reports/research_mels/results.json"));
    let sweep = &results["sweeps"][0];
    assert_eq!(sweep["keys"], serde_json::json!(["features.n_mels"]), "{sweep}");
    let selected = sweep["selection"][0]["selected"].as_str().unwrap_or_default();
    assert!(["lin.n_mels-16", "lin.n_mels-32"].contains(&selected), "{sweep}");
    assert_eq!(
        results["reproducibility"]["model_features"]["lin.n_mels-16"]["n_mels"], 16,
        "{}",
        results["reproducibility"]
    );
}
