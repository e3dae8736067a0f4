//! Corpora in their native layouts. A scan lists a corpus's utterances with their native labels,
//! speakers and content hashes, cheaply (file names, label files, fingerprints), so the whole stage
//! graph can be planned before anything runs. `synth` writes small corpora in the same layouts.

pub mod cremad;
pub mod synth;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::{Corpus, SplitConfig};
use crate::engine::fingerprint::Fingerprints;
use crate::error::Fault;
use crate::rng::stable_u64;

/// One utterance as a scan finds it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Utterance {
    /// `<corpus>/<native id>`: unique across corpora.
    pub id: String,
    /// Path relative to the corpus root, with `/`.
    pub rel_path: String,
    #[serde(skip)]
    pub path: PathBuf,
    pub speaker: String,
    pub gender: String,
    pub native_label: String,
    /// The unified label, or None when the label map drops this code.
    pub label: Option<String>,
    /// train, dev or test (speaker-independent).
    pub split: String,
    pub content_hash: String,
}

/// What a scan found.
#[derive(Debug, Clone)]
pub struct Scan {
    pub corpus: String,
    pub utterances: Vec<Utterance>,
    /// Problems met while scanning (unparseable names, unreadable files...).
    pub faults: Vec<Fault>,
    /// Content hashes of the label/metadata files the scan read.
    pub metadata_hashes: BTreeMap<String, String>,
}

impl Scan {
    /// The utterances that carry a unified label, i.e. the ones every later stage uses.
    pub fn labeled(&self) -> impl Iterator<Item = &Utterance> {
        self.utterances.iter().filter(|u| u.label.is_some())
    }
}

pub fn scan(corpus: &Corpus, fp: &Fingerprints) -> anyhow::Result<Scan> {
    let mut s = match corpus.kind.as_str() {
        "cremad" => cremad::scan(corpus, fp)?,
        other => anyhow::bail!("corpus kind {other} has no reader"),
    };
    assign_splits(&mut s.utterances, &corpus.split);
    Ok(s)
}

/// Speaker-independent split: speakers ordered by a seeded hash, then cut into train / dev / test by the
/// configured fractions (each non-empty when there are at least three speakers). No speaker is in two
/// portions by construction.
pub fn assign_splits(utts: &mut [Utterance], cfg: &SplitConfig) {
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
