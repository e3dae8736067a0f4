//! The record types that stages write and other stages (and the report) read: one definition shared by
//! producer and consumer. This room is a leaf: it imports nothing of the crate, so every
//! other room may depend on it without making a cycle.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A test condition: clean, or one noise source at one SNR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub name: String,
    pub noise: Option<String>,
    pub snr_db: Option<f64>,
}

impl Condition {
    pub fn clean() -> Condition {
        Condition { name: "clean".into(), noise: None, snr_db: None }
    }

    pub fn noisy(noise: &str, snr: f64) -> Condition {
        Condition { name: format!("{noise}.snr{snr}"), noise: Some(noise.into()), snr_db: Some(snr) }
    }

    /// The conditions of a pipeline in table order: clean, then each noise source × each SNR.
    pub fn grid(noise: &[String], snr_db: &[f64]) -> Vec<Condition> {
        let mut out = vec![Condition::clean()];
        for n in noise {
            out.extend(snr_db.iter().map(|&snr| Condition::noisy(n, snr)));
        }
        out
    }
}

/// What the report needs to know about each eval it reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalInfo {
    pub model: String,
    pub train: String,
    pub test: String,
    pub condition: String,
    pub seed: u64,
}

impl EvalInfo {
    pub fn new(model: &str, train: &str, test: &str, condition: &str, seed: u64) -> EvalInfo {
        EvalInfo { model: model.into(), train: train.into(), test: test.into(), condition: condition.into(), seed }
    }

    /// Its stage id: `eval/<model>/<train>/seedN/<test>/<condition>`.
    pub fn stage_id(&self) -> String {
        format!("eval/{}/{}/seed{}/{}/{}", self.model, self.train, self.seed, self.test, self.condition)
    }
}

/// One train stage: a model on its source corpora (joined with `+`), adapted to a target corpus or
/// not, with one seed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TrainInfo {
    pub model: String,
    pub train: String,
    /// The corpus whose unlabeled audio a domain-adaptation kind adapted to.
    pub target: Option<String>,
    pub seed: u64,
}

impl TrainInfo {
    /// Its place under train/ and models/<pipeline>/: `<train>/seedN` or `<train>/to-<target>/seedN`.
    pub fn path(&self) -> String {
        match &self.target {
            Some(t) => format!("{}/{}/to-{t}/seed{}", self.model, self.train, self.seed),
            None => format!("{}/{}/seed{}", self.model, self.train, self.seed),
        }
    }

    /// The training set as tables show it: `synth_a`, or `synth_a → synth_b` when adapted.
    pub fn label(&self) -> String {
        match &self.target {
            Some(t) => format!("{} → {t}", self.train),
            None => self.train.clone(),
        }
    }
}

/// Per-condition mixing statistics (a mix stage's stats.json): how many were mixed, skipped and
/// rescaled against clipping, and the achieved SNR (measured on the written mixture).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MixStats {
    pub condition: String,
    pub mixed: usize,
    pub skipped: usize,
    /// Mixtures scaled down to avoid clipping (the SNR is kept).
    pub clipped: usize,
    /// None when nothing was mixed (JSON has no NaN).
    pub achieved_mean_db: Option<f64>,
    pub achieved_min_db: Option<f64>,
    pub achieved_max_db: Option<f64>,
}

/// Ingestion summary (a manifest stage's ingest.json): counts by unified label × split, speakers per
/// split, what was dropped and why, and the problems met (missing, unlabeled or unreadable files,
/// malformed lines).
#[derive(Debug, Serialize, Deserialize)]
pub struct IngestReport {
    pub corpus: String,
    pub kind: String,
    pub utterances: usize,
    pub labeled: usize,
    /// unified label → split → count
    pub counts: BTreeMap<String, BTreeMap<String, usize>>,
    /// split → distinct known speakers ("unknown" speakers are counted under `unknown_speaker_utterances`)
    pub speakers_per_split: BTreeMap<String, usize>,
    pub unknown_speaker_utterances: usize,
    /// Speakers found in more than one of train / dev / test (a leak in the corpus's own partition).
    pub leaked_speakers: Vec<String>,
    pub dropped: BTreeMap<String, usize>,
    /// fault kind ("missing audio", "unlabeled audio", "unreadable audio", ...) → count
    pub problems: BTreeMap<String, usize>,
    pub hours: f64,
}

/// Per-utterance predictions of one eval stage (predictions.parquet), classes as indices into
/// `[labels] classes`.
#[derive(Debug, Clone)]
pub struct Predictions {
    pub ids: Vec<String>,
    pub truth: Vec<usize>,
    pub pred: Vec<usize>,
    pub probs: Vec<Vec<f32>>,
}

/// How an enhancing model did on one noisy test condition (enhancement.json of its eval): means over
/// the test utterances of each measure, of the noisy input and of the enhanced output, both against
/// the clean speech.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnhancementStats {
    pub utterances: usize,
    pub si_sdr_noisy: f64,
    pub si_sdr_enhanced: f64,
    pub ssnr_noisy: f64,
    pub ssnr_enhanced: f64,
    pub stoi_noisy: f64,
    pub stoi_enhanced: f64,
}
