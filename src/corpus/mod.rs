//! Corpora in their native layouts. A scan lists a corpus's utterances with their native labels,
//! speakers and content hashes, cheaply (file names, label files, fingerprints), so the whole stage
//! graph can be planned before anything runs. `synth` writes small corpora in the same layouts.

pub mod cremad;
pub mod csv;
pub mod emodb;
pub mod iemocap;
pub mod msp_podcast;
pub mod ravdess;
pub mod synth;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Corpus, SplitConfig};
use crate::engine::fingerprint::Fingerprints;
use crate::error::Fault;
use crate::rng::stable_u64;

/// One utterance as a scan finds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Utterance {
    /// `<corpus>/<native id>`: unique across corpora.
    pub id: String,
    /// Path relative to the corpus root, with `/`.
    pub rel_path: String,
    #[serde(skip)]
    pub path: PathBuf,
    pub speaker: String,
    /// "female", "male" or "unknown".
    pub gender: String,
    pub native_label: String,
    /// The unified label, or None when the utterance is dropped (`drop_reason` says why).
    pub label: Option<String>,
    pub drop_reason: Option<String>,
    /// train, dev or test (speaker-independent), or another name the protocol uses (test2...).
    pub split: String,
    /// The corpus's own partition where it has one (IEMOCAP session, MSP-Podcast Split_Set, CSV split).
    pub native_split: Option<String>,
    pub age: Option<u32>,
    /// Dimensional attributes where the corpus has them (IEMOCAP 1–5, MSP-Podcast 1–7).
    pub valence: Option<f64>,
    pub arousal: Option<f64>,
    pub dominance: Option<f64>,
    pub transcript: Option<String>,
    pub content_hash: String,
}

/// The drop reason of audio that is not speech (RAVDESS song). It says nothing of the emotion, so the
/// label-blind adaptation sets leave these out (they hold speech of every label, or none).
pub const NOT_SPEECH: &str = "song, not speech";

impl Utterance {
    /// The audio's identity in stage keys: its content hash, and for a file that is not WAV the decoder
    /// that turns it into samples (WAV keys are the bare hash, as before other formats were read).
    pub fn audio_key(&self) -> std::borrow::Cow<'_, str> {
        match crate::audio::Format::of(Path::new(&self.rel_path)).and_then(|f| f.decoder()) {
            None => std::borrow::Cow::Borrowed(&self.content_hash),
            Some(d) => std::borrow::Cow::Owned(format!("{} {d}", self.content_hash)),
        }
    }

    /// The same audio with everything a label says removed (native and unified label, drop reason,
    /// dimensional attributes): what an unlabeled-target stage may carry.
    pub fn without_labels(&self) -> Utterance {
        Utterance {
            native_label: String::new(),
            label: None,
            drop_reason: None,
            valence: None,
            arousal: None,
            dominance: None,
            ..self.clone()
        }
    }

    /// A row with the identity fields set and everything optional empty.
    pub fn new(corpus: &str, native_id: &str, root: &std::path::Path, rel_path: String) -> Utterance {
        Utterance {
            id: format!("{corpus}/{native_id}"),
            path: root.join(&rel_path),
            rel_path,
            speaker: String::new(),
            gender: "unknown".into(),
            native_label: String::new(),
            label: None,
            drop_reason: None,
            split: String::new(),
            native_split: None,
            age: None,
            valence: None,
            arousal: None,
            dominance: None,
            transcript: None,
            content_hash: String::new(),
        }
    }
}

/// What a scan found.
#[derive(Debug, Clone)]
pub struct Scan {
    pub corpus: String,
    pub utterances: Vec<Utterance>,
    /// Problems met while scanning (unparseable names, unreadable files...).
    pub faults: Vec<Fault>,
    /// Label and metadata files the scan read (name → path); their content hashes go into the key.
    pub metadata_files: Vec<(String, PathBuf)>,
    pub metadata_hashes: BTreeMap<String, String>,
}

impl Scan {
    pub fn new(corpus: &str) -> Scan {
        Scan {
            corpus: corpus.into(),
            utterances: Vec::new(),
            faults: Vec::new(),
            metadata_files: Vec::new(),
            metadata_hashes: BTreeMap::new(),
        }
    }
}

impl Scan {
    /// The utterances that carry a unified label, i.e. the ones every later stage uses.
    pub fn labeled(&self) -> impl Iterator<Item = &Utterance> {
        self.utterances.iter().filter(|u| u.label.is_some())
    }
}

pub fn scan(corpus: &Corpus, fp: &Fingerprints) -> anyhow::Result<Scan> {
    let mut s = match corpus.kind.as_str() {
        "iemocap" => iemocap::scan(corpus)?,
        "cremad" => cremad::scan(corpus)?,
        "msp_podcast" => msp_podcast::scan(corpus)?,
        "ravdess" => ravdess::scan(corpus)?,
        "emodb" => emodb::scan(corpus)?,
        "csv" => csv::scan(corpus)?,
        other => anyhow::bail!("corpus kind {other} has no reader"),
    };
    apply_label_map(&mut s.utterances, corpus);
    hash_audio(&mut s, fp);
    for (name, path) in std::mem::take(&mut s.metadata_files) {
        if let Ok(h) = fp.content_hash(&path) {
            s.metadata_hashes.insert(name, h);
        }
    }
    assign_splits(&mut s.utterances, &corpus.split);
    Ok(s)
}

/// Unified labels from the native ones; a row that already has a drop reason (a tied vote, say) stays
/// dropped.
fn apply_label_map(utts: &mut [Utterance], corpus: &Corpus) {
    for u in utts {
        if u.drop_reason.is_some() {
            u.label = None;
            continue;
        }
        u.label = corpus.label_map.get(&u.native_label).cloned();
        if u.label.is_none() {
            u.drop_reason = Some(format!("label \"{}\" is not in the label map", u.native_label));
        }
    }
}

/// Content hashes through the fingerprint memo; a file that cannot be read is a fault and leaves the
/// scan (the manifest lists what exists).
fn hash_audio(s: &mut Scan, fp: &Fingerprints) {
    let paths: Vec<_> = s.utterances.iter().map(|u| u.path.clone()).collect();
    let hashes = fp.content_hashes(&paths);
    let mut kept = Vec::with_capacity(s.utterances.len());
    for (u, h) in std::mem::take(&mut s.utterances).into_iter().zip(hashes) {
        match h {
            Ok(h) => kept.push(Utterance { content_hash: h, ..u }),
            Err(e) => {
                let what = if e.kind() == std::io::ErrorKind::NotFound { "missing audio" } else { "unreadable file" };
                s.faults.push(Fault {
                    corpus: s.corpus.clone(),
                    utterance: u.id.clone(),
                    file: u.rel_path.clone(),
                    what: what.into(),
                    detail: if what == "missing audio" {
                        "labelled, but the audio file does not exist".into()
                    } else {
                        e.to_string()
                    },
                });
            }
        }
    }
    s.utterances = kept;
}

/// A fault about a file rather than an utterance.
/// A label or metadata file as text: UTF-8, or where it is not, Latin-1 (one character per byte, what
/// older corpus tools wrote), with a fault naming the file and its first line that is not UTF-8, so a
/// name with an accent neither stops the ingest nor passes unnoticed.
pub(crate) fn read_text(path: &Path, corpus: &str, rel: &str, faults: &mut Vec<Fault>) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    match String::from_utf8(bytes) {
        Ok(t) => Ok(t),
        Err(e) => {
            let bytes = e.into_bytes();
            let at = std::str::from_utf8(&bytes).map_or_else(|e| e.valid_up_to(), |_| 0);
            let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
            faults.push(file_fault(
                corpus,
                format!("{rel}:{line}"),
                "not UTF-8",
                "read as Latin-1 (ISO-8859-1); check the names and labels on this line, or save the file as UTF-8",
            ));
            Ok(bytes.iter().map(|&b| b as char).collect())
        }
    }
}

pub fn file_fault(corpus: &str, file: impl Into<String>, what: &str, detail: impl Into<String>) -> Fault {
    Fault {
        corpus: corpus.into(),
        utterance: String::new(),
        file: file.into(),
        what: what.into(),
        detail: detail.into(),
    }
}

/// Assign train / dev / test by the configured method. Every method keeps each speaker in one portion:
/// "speakers" by construction, "sessions" because IEMOCAP speakers belong to one session, "official"
/// and "column" because the corpus's own partition is speaker-independent (checked by the ingest report).
pub fn assign_splits(utts: &mut [Utterance], cfg: &SplitConfig) {
    match cfg.method.as_deref().unwrap_or("speakers") {
        "sessions" => {
            for u in utts.iter_mut() {
                let session: u32 = u.native_split.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0);
                u.split = if session == cfg.test_session {
                    "test"
                } else if session == cfg.dev_session {
                    "dev"
                } else {
                    "train"
                }
                .into();
            }
        }
        "official" | "column" => {
            for u in utts.iter_mut() {
                u.split = normalise_split(u.native_split.as_deref().unwrap_or(""));
            }
        }
        _ => split_by_speaker(utts, cfg),
    }
}

/// The corpora's split names in sertool's: Train → train, Development / Validation → dev, Test1 → test,
/// Test2 → test2, ...
pub fn normalise_split(native: &str) -> String {
    let s = native.trim().to_ascii_lowercase();
    match s.as_str() {
        "train" | "training" => "train".into(),
        "dev" | "development" | "validation" | "valid" | "val" => "dev".into(),
        "test" | "test1" => "test".into(),
        "" => "unassigned".into(),
        _ => s,
    }
}

fn split_by_speaker(utts: &mut [Utterance], cfg: &SplitConfig) {
    let mut speakers: Vec<String> = utts.iter().map(|u| u.speaker.clone()).collect();
    speakers.sort();
    speakers.dedup();
    speakers.sort_by_key(|s| (stable_u64(cfg.seed, &["speaker-split", s]), s.clone()));
    let n = speakers.len();
    let mut n_train = (n as f64 * cfg.train).round() as usize;
    let mut n_dev = (n as f64 * cfg.dev).round() as usize;
    if n >= 3 {
        n_train = n_train.clamp(1, n - 2);
        n_dev = n_dev.clamp(if cfg.dev > 0.0 { 1 } else { 0 }, n - n_train - 1);
    } else {
        n_train = n_train.min(n);
        n_dev = n_dev.min(n - n_train);
    }
    let split_of: BTreeMap<&str, &str> = speakers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                s.as_str(),
                if i < n_train {
                    "train"
                } else if i < n_train + n_dev {
                    "dev"
                } else {
                    "test"
                },
            )
        })
        .collect();
    for u in utts.iter_mut() {
        u.split = split_of[u.speaker.as_str()].to_string();
    }
}

/// Shard of an utterance: a stable hash of its id, so adding or editing one file moves nothing else.
pub fn shard_of(id: &str, shards: u32) -> u32 {
    (stable_u64(0, &["shard", id]) % shards as u64) as u32
}
