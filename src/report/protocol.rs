//! The protocol card: what a reader must know to tell whether two reports measured the same thing —
//! the classes and how each corpus's labels map into them, what was dropped, the split rule and sizes,
//! the SNR definition and noise pools, the metric, and a hash of every evaluation set (its utterance ids
//! and content hashes, and for a noisy condition the test noise and mixing seed). The card's own hash
//! makes "same protocol?" one comparison; `compare` says what differs when it is not.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::{ReportData, Results};
use crate::engine::key::sha256_hex;

fn lines_hash(lines: &[String]) -> String {
    sha256_hex(lines.concat().as_bytes())
}

/// The card as JSON (results.json "protocol", protocol.json). Every map is sorted, so equal protocols
/// give equal bytes and equal hashes.
pub fn card(r: &Results, data: &ReportData) -> Value {
    let p = r.p;
    let mut corpora = BTreeMap::new();
    for (name, ingest) in &data.ingest {
        let Some(c) = p.corpora.get(name) else { continue };
        let sizes = super::repro::split_counts(ingest);
        corpora.insert(
            name.clone(),
            json!({
                "kind": c.kind, "label_map": c.label_map, "label_source": c.label_source,
                "dropped": ingest.dropped, "split": super::repro::split_text(c), "split_sizes": sizes,
                "labelled_by_class_and_split": ingest.counts, "speakers_per_split": ingest.speakers_per_split,
            }),
        );
    }
    let label_map = json!({
        "classes": p.labels.classes,
        "corpora": corpora.iter().map(|(n, c)| (n.clone(), c["label_map"].clone())).collect::<BTreeMap<_, _>>(),
    });
    let pools: BTreeMap<&String, Value> = data
        .pools
        .iter()
        .map(|(name, pool)| {
            let lines = |files: &[crate::audio::noise::NoiseFile]| {
                lines_hash(&files.iter().map(|f| format!("{}\t{}\n", f.path, f.sha256)).collect::<Vec<_>>())
            };
            (
                name,
                json!({
                    "kind": p.noise.get(name).map(|n| n.kind.clone()), "train_files": pool.train.len(),
                    "test_files": pool.test.len(), "test_files_sha256": lines(&pool.test),
                    "train_files_sha256": lines(&pool.train),
                }),
            )
        })
        .collect();
    let json = json!({
        "classes": p.labels.classes,
        "label_map_sha256": sha256_hex(label_map.to_string().as_bytes()),
        "corpora": corpora,
        "metric": r.metric,
        "snr_definition": super::repro::snr_definition(p),
        "snr_db": p.mix.snr_db,
        "mix_seed": p.mix.seed,
        "noise_pools": pools,
        "evaluation_sets": evaluation_sets(r, data, &pools),
    });
    let hash = sha256_hex(json.to_string().as_bytes());
    let mut json = json;
    json["sha256"] = json!(hash);
    json
}

/// Per (test corpus, condition): the utterances any model was scored on, hashed with their content.
fn evaluation_sets(r: &Results, data: &ReportData, pools: &BTreeMap<&String, Value>) -> Vec<Value> {
    let mut sets: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    for e in &data.evals {
        sets.entry((&e.info.test, &e.info.condition)).or_default().extend(e.predictions.ids.iter().map(String::as_str));
    }
    sets.iter()
        .map(|((test, condition), ids)| {
            let known = data.identities.get(*test);
            let mut lines: Vec<String> = ids
                .iter()
                .map(|id| {
                    format!("{id}\t{}\n", known.and_then(|k| k.get(*id)).map_or("", |i| i.content_sha256.as_str()))
                })
                .collect();
            let noise = r.condition(condition).and_then(|c| c.noise.clone());
            if let Some(n) = &noise {
                let test_files = pools.get(n).map_or(Value::Null, |v| v["test_files_sha256"].clone());
                lines.push(format!("condition\t{condition}\nnoise\t{n}\t{test_files}\nmix_seed\t{}\n", r.p.mix.seed));
            }
            json!({"test": test, "condition": condition, "utterances": ids.len(), "sha256": lines_hash(&lines)})
        })
        .collect()
}

/// The protocol card in report.md.
pub fn markdown(card: &Value) -> String {
    let mut md = String::from("\n## Protocol card\n\n");
    md.push_str(&format!(
        "Protocol SHA-256 `{}` (label map `{}`): two reports with the same hash used the same classes, label maps, \
         splits, noise and evaluation sets; `sertool report PIPELINE --compare OTHER/results.json` says what differs.\n\n",
        card["sha256"].as_str().unwrap_or(""),
        card["label_map_sha256"].as_str().unwrap_or("")
    ));
    let classes: Vec<&str> = card["classes"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    md.push_str(&format!("- Classes: {}; metric {}.\n", classes.join(", "), card["metric"].as_str().unwrap_or("")));
    md.push_str(&format!("- {}.\n", card["snr_definition"].as_str().unwrap_or("")));
    md.push_str("\n| test set | condition | utterances | SHA-256 (ids + content) |\n|---|---|---:|---|\n");
    for s in card["evaluation_sets"].as_array().into_iter().flatten() {
        let h = s["sha256"].as_str().unwrap_or("");
        md.push_str(&format!(
            "| {} | {} | {} | `{}` |\n",
            s["test"].as_str().unwrap_or(""),
            s["condition"].as_str().unwrap_or(""),
            s["utterances"],
            &h[..h.len().min(16)]
        ));
    }
    md
}

/// Whether two cards describe the same protocol, and if not, what differs (one line each).
pub fn compare(ours: &Value, theirs: &Value) -> Vec<String> {
    if ours.get("sha256").is_some() && ours.get("sha256") == theirs.get("sha256") {
        return Vec::new();
    }
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("sha256");
        }
        v
    };
    let mut out = Vec::new();
    crate::engine::explain::diff_json("", &strip(theirs), &strip(ours), &mut out);
    let mut lines: Vec<String> = out.iter().map(|l| l.trim_start_matches("parameter ").to_string()).collect();
    if lines.is_empty() {
        lines.push("the protocol hashes differ (a card written by another version of sertool?)".into());
    }
    lines
}
