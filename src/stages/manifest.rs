//! `manifest/<corpus>`: the scanned rows of one corpus as manifest.parquet (+ a CSV preview) and the
//! ingestion summary ingest.json. Its key covers the label map, the split settings and the scan itself
//! (ids, labels, splits, content hashes) plus the label files' hashes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{fault, hash_serialized, write_json, Work};
use crate::audio::audio_info;
use crate::config::{Corpus, Pipeline};
use crate::corpus::Scan;
use crate::engine::{StageCtx, StageSpec};
use crate::error::Fault;
use crate::records::IngestReport;
use crate::table::{self, Columns};

pub const KIND: &str = "manifest";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
pub struct Job {
    #[serde(with = "scan_doc")]
    scan: Arc<Scan>,
    kind: String,
    strict: bool,
}

pub fn spec(p: &Pipeline, c: &Corpus, scan: Arc<Scan>) -> StageSpec {
    let params = json!({
        "corpus_kind": c.kind,
        "label_map": c.label_map,
        "classes": p.labels.classes,
        "split": c.split,
        "label_source": c.label_source,
        "strict": c.strict,
    });
    let mut inputs = BTreeMap::new();
    inputs.insert("scan".to_string(), hash_serialized(&(&scan.utterances, &scan.faults)));
    // Durations of FLAC/Ogg/MP3 files come from their decoder (WAV keys stay as they were).
    let decoders: BTreeSet<&str> = scan
        .utterances
        .iter()
        .filter_map(|u| crate::audio::Format::of(Path::new(&u.rel_path)).and_then(|f| f.decoder()))
        .collect();
    if !decoders.is_empty() {
        inputs.insert("decoders".to_string(), decoders.into_iter().collect::<Vec<_>>().join(", "));
    }
    for (f, h) in &scan.metadata_hashes {
        inputs.insert(format!("file:{f}"), h.clone());
    }
    StageSpec {
        id: format!("manifest/{}", c.name),
        kind: KIND,
        version: VERSION,
        params,
        inputs,
        deps: vec![],
        job: Box::new(Job { scan, kind: c.kind.clone(), strict: c.strict }),
    }
}

impl Work for Job {
    fn run(&self, ctx: &StageCtx) -> anyhow::Result<Vec<Fault>> {
        let scan = &self.scan;
        let mut faults = scan.faults.clone();
        let infos: Vec<Result<crate::audio::AudioInfo, anyhow::Error>> =
            scan.utterances.par_iter().map(|u| audio_info(&u.path)).collect();
        let mut duration = Vec::new();
        let mut rate = Vec::new();
        let mut channels = Vec::new();
        for (u, info) in scan.utterances.iter().zip(&infos) {
            match info {
                Ok(i) => {
                    if i.frames == 0 {
                        faults.push(fault(u, &scan.corpus, "empty audio", "the audio file holds no samples"));
                    }
                    duration.push(i.frames as f64 / i.sample_rate.max(1) as f64);
                    rate.push(i.sample_rate);
                    channels.push(i.channels as u32);
                }
                Err(e) => {
                    faults.push(fault(u, &scan.corpus, "unreadable audio", e));
                    duration.push(0.0);
                    rate.push(0);
                    channels.push(0);
                }
            }
        }
        if self.strict && !faults.is_empty() {
            let f = &faults[0];
            anyhow::bail!(
                "strict ingest of {}: {} problem(s), the first: {} {}: {}",
                scan.corpus,
                faults.len(),
                f.what,
                if f.file.is_empty() { &f.utterance } else { &f.file },
                f.detail
            );
        }
        let us = &scan.utterances;
        let batch = Columns::new()
            .strings("id", us.iter().map(|u| &u.id))
            .strings("path", us.iter().map(|u| &u.rel_path))
            .strings("speaker", us.iter().map(|u| &u.speaker))
            .strings("gender", us.iter().map(|u| &u.gender))
            .opt_u32s("age", us.iter().map(|u| u.age))
            .strings("split", us.iter().map(|u| &u.split))
            .opt_strings("native_split", us.iter().map(|u| u.native_split.clone()))
            .strings("native_label", us.iter().map(|u| &u.native_label))
            .opt_strings("label", us.iter().map(|u| u.label.clone()))
            .opt_strings("drop_reason", us.iter().map(|u| u.drop_reason.clone()))
            .opt_f64s("valence", us.iter().map(|u| u.valence))
            .opt_f64s("arousal", us.iter().map(|u| u.arousal))
            .opt_f64s("dominance", us.iter().map(|u| u.dominance))
            .opt_strings("transcript", us.iter().map(|u| u.transcript.clone()))
            .f64s("duration_s", duration.iter().copied())
            .u32s("sample_rate_hz", rate.iter().copied())
            .u32s("channels", channels.iter().copied())
            .strings("content_sha256", us.iter().map(|u| &u.content_hash))
            .batch()?;
        table::write_parquet(&ctx.out.join("manifest.parquet"), &batch, &[("sertool.corpus", scan.corpus.clone())])?;
        let mut csv = String::from("id,path,speaker,gender,split,native_label,label,duration_s,sample_rate_hz\n");
        for (i, u) in us.iter().enumerate().take(50) {
            csv.push_str(&format!(
                "{},{},{},{},{},{},{},{:.3},{}\n",
                u.id,
                u.rel_path,
                u.speaker,
                u.gender,
                u.split,
                u.native_label,
                u.label.as_deref().unwrap_or(""),
                duration[i],
                rate[i]
            ));
        }
        std::fs::write(ctx.out.join("manifest.csv"), csv)?;
        write_json(&ctx.out.join("ingest.json"), &ingest_report(scan, &self.kind, &faults, &duration))?;
        Ok(faults)
    }
}

fn ingest_report(scan: &Scan, kind: &str, faults: &[Fault], duration: &[f64]) -> IngestReport {
    let mut counts: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut speakers: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mut splits_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut dropped = BTreeMap::new();
    let mut unknown = 0;
    for u in &scan.utterances {
        match &u.label {
            Some(l) => {
                *counts.entry(l.clone()).or_default().entry(u.split.clone()).or_default() += 1;
                if u.speaker == "unknown" {
                    unknown += 1;
                } else {
                    speakers.entry(u.split.clone()).or_default().insert(&u.speaker);
                    if ["train", "dev", "test"].contains(&u.split.as_str()) {
                        splits_of.entry(&u.speaker).or_default().insert(&u.split);
                    }
                }
            }
            None => *dropped.entry(u.drop_reason.clone().unwrap_or_default()).or_default() += 1,
        }
    }
    let mut problems = BTreeMap::new();
    for f in faults {
        *problems.entry(f.what.clone()).or_default() += 1;
    }
    IngestReport {
        corpus: scan.corpus.clone(),
        kind: kind.to_string(),
        utterances: scan.utterances.len(),
        labeled: scan.utterances.iter().filter(|u| u.label.is_some()).count(),
        counts,
        speakers_per_split: speakers.into_iter().map(|(k, v)| (k, v.len())).collect(),
        unknown_speaker_utterances: unknown,
        leaked_speakers: splits_of.into_iter().filter(|(_, s)| s.len() > 1).map(|(k, _)| k.to_string()).collect(),
        dropped,
        problems,
        hours: duration.iter().sum::<f64>() / 3600.0,
    }
}

/// id → (label, split) of the labelled rows of a manifest entry.
pub fn read_labels(dir: &Path) -> anyhow::Result<HashMap<String, (String, String)>> {
    let b = table::read_parquet(&dir.join("manifest.parquet"))?;
    let ids = table::strings(&b, "id")?;
    let labels = table::opt_strings(&b, "label")?;
    let splits = table::strings(&b, "split")?;
    Ok(ids.into_iter().zip(labels).zip(splits).filter_map(|((i, l), s)| l.map(|l| (i, (l, s)))).collect())
}

/// id → speaker and content hash of every row of a manifest entry.
pub fn read_identities(dir: &Path) -> anyhow::Result<HashMap<String, crate::report::Identity>> {
    let b = table::read_parquet(&dir.join("manifest.parquet"))?;
    let ids = table::strings(&b, "id")?;
    let speakers = table::strings(&b, "speaker")?;
    let hashes = table::strings(&b, "content_sha256")?;
    Ok(ids
        .into_iter()
        .zip(speakers.into_iter().zip(hashes))
        .map(|(id, (speaker, content_sha256))| (id, crate::report::Identity { speaker, content_sha256 }))
        .collect())
}

pub fn read_ingest_report(dir: &Path) -> anyhow::Result<IngestReport> {
    super::read_json(&dir.join("ingest.json"))
}

/// A scan as a job carries it: the corpus name, its rows with their paths, and the scan's faults.
mod scan_doc {
    use super::*;

    #[derive(Serialize)]
    struct Doc<'a> {
        corpus: &'a str,
        #[serde(serialize_with = "rows")]
        utterances: &'a [crate::corpus::Utterance],
        faults: &'a [Fault],
    }

    fn rows<S: serde::Serializer>(u: &&[crate::corpus::Utterance], s: S) -> Result<S::Ok, S::Error> {
        crate::stages::located::serialize(u, s)
    }

    #[derive(Deserialize)]
    struct OwnedDoc {
        corpus: String,
        #[serde(with = "crate::stages::located")]
        utterances: Vec<crate::corpus::Utterance>,
        faults: Vec<Fault>,
    }

    pub fn serialize<S: serde::Serializer>(scan: &Arc<Scan>, s: S) -> Result<S::Ok, S::Error> {
        Doc { corpus: &scan.corpus, utterances: &scan.utterances, faults: &scan.faults }.serialize(s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Arc<Scan>, D::Error> {
        let doc = OwnedDoc::deserialize(d)?;
        let mut scan = Scan::new(&doc.corpus);
        scan.utterances = doc.utterances;
        scan.faults = doc.faults;
        Ok(Arc::new(scan))
    }
}
