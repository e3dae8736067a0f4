//! The pipeline TOML: schema, every default (in one place), path resolution, `${VAR}` expansion and
//! validation. Errors name the file, line, column, table and key, in the form the conventions ask for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::error::user_error;

/// The whole pipeline file, as written (before resolution).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    pipeline: PipelineSection,
    #[serde(default)]
    labels: LabelsSection,
    corpora: BTreeMap<String, RawCorpus>,
    #[serde(default)]
    noise: BTreeMap<String, RawNoise>,
    /// Absent: the default SNR grid when there is noise, none when there is not.
    #[serde(default)]
    mix: Option<MixSection>,
    #[serde(default)]
    features: FeatureConfig,
    #[serde(default)]
    models: BTreeMap<String, ModelConfig>,
    /// No experiments: the pipeline only ingests its corpora (manifests) and makes no report.
    #[serde(default)]
    experiments: Vec<RawExperiment>,
    #[serde(default)]
    report: ReportSection,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    /// Names the report folder (reports/<name>/).
    pub name: String,
    #[serde(default = "default_sample_rate")]
    pub sample_rate_hz: u32,
    /// Utterances of a corpus are split into this many shards, each its own stage instance.
    #[serde(default = "default_shards")]
    pub shards: u32,
    /// Multi-channel audio: "mean" (average the channels) or "channel:N" (keep channel N, from 0).
    #[serde(default = "default_channel_policy")]
    pub channels: String,
}

fn default_channel_policy() -> String {
    "mean".into()
}

fn default_sample_rate() -> u32 {
    16_000
}
fn default_shards() -> u32 {
    8
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LabelsSection {
    /// The unified label space, in the order used for class indices.
    #[serde(default = "default_classes")]
    pub classes: Vec<String>,
}

impl Default for LabelsSection {
    fn default() -> Self {
        LabelsSection { classes: default_classes() }
    }
}

fn default_classes() -> Vec<String> {
    ["neutral", "happy", "angry", "sad"].map(String::from).to_vec()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCorpus {
    kind: Spanned<String>,
    root: Spanned<String>,
    /// Native code → unified label; codes not listed are dropped. Default: the corpus kind's 4-class map.
    #[serde(default)]
    label_map: Option<BTreeMap<String, String>>,
    #[serde(default)]
    split: SplitConfig,
    /// CREMA-D: "acted" (the file name's emotion, default) or "voice_vote" (perceived, summaryTable.csv).
    #[serde(default)]
    label_source: Option<Spanned<String>>,
    /// Make every ingest problem (missing or unlabeled file, unreadable audio) fatal.
    #[serde(default)]
    strict: bool,
}

/// How utterances are split into train / dev / test. Every method is speaker-independent.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    /// "speakers": speakers ordered by a seeded hash and cut by `train` / `dev` fractions (default for
    /// CREMA-D, RAVDESS, EmoDB); "sessions": IEMOCAP's sessions (`test_session`, `dev_session`);
    /// "official": MSP-Podcast's Split_Set; "column": the generic CSV's split column.
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default = "default_train_fraction")]
    pub train: f64,
    #[serde(default = "default_dev_fraction")]
    pub dev: f64,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// IEMOCAP fold: the session held out for test (leave-one-session-out uses 1..5 in turn).
    #[serde(default = "default_test_session")]
    pub test_session: u32,
    /// IEMOCAP: the session used for model selection (0 = none).
    #[serde(default = "default_dev_session")]
    pub dev_session: u32,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            method: None,
            train: default_train_fraction(),
            dev: default_dev_fraction(),
            seed: default_seed(),
            test_session: default_test_session(),
            dev_session: default_dev_session(),
        }
    }
}

fn default_test_session() -> u32 {
    5
}
fn default_dev_session() -> u32 {
    4
}

/// The split methods each corpus kind supports; the first is its default.
pub fn split_methods(kind: &str) -> &'static [&'static str] {
    match kind {
        "iemocap" => &["sessions", "speakers"],
        "msp_podcast" => &["official", "speakers"],
        "csv" => &["column", "speakers"],
        _ => &["speakers"],
    }
}

fn default_train_fraction() -> f64 {
    0.7
}
fn default_dev_fraction() -> f64 {
    0.1
}
fn default_seed() -> u64 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNoise {
    kind: Spanned<String>,
    root: Spanned<String>,
    #[serde(default = "default_test_fraction")]
    test_fraction: f64,
    #[serde(default = "default_seed")]
    seed: u64,
    #[serde(default)]
    subsets: Option<Vec<String>>,
    #[serde(default)]
    environments: Option<Vec<String>>,
    #[serde(default)]
    channel: Option<u32>,
    #[serde(default)]
    categories: Option<Vec<String>>,
    #[serde(default)]
    test_folds: Option<Vec<u32>>,
    #[serde(default)]
    test_categories: Option<Vec<String>>,
}

impl RawNoise {
    fn select(&self) -> NoiseSelect {
        NoiseSelect {
            subsets: self.subsets.clone(),
            environments: self.environments.clone(),
            channel: self.channel,
            categories: self.categories.clone(),
            test_folds: self.test_folds.clone(),
            test_categories: self.test_categories.clone(),
        }
    }
}

fn default_test_fraction() -> f64 {
    0.5
}

/// Which files of a noise corpus to use and how to split them into train and test pools.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NoiseSelect {
    /// MUSAN: which of noise, music, speech (default: noise).
    #[serde(default)]
    pub subsets: Option<Vec<String>>,
    /// DEMAND: which environments (default: all found).
    #[serde(default)]
    pub environments: Option<Vec<String>>,
    /// DEMAND: which microphone channel file (chNN.wav; default 1).
    #[serde(default)]
    pub channel: Option<u32>,
    /// ESC-50: keep only these categories (default: all).
    #[serde(default)]
    pub categories: Option<Vec<String>>,
    /// ESC-50: the folds of the test pool (default: [5]).
    #[serde(default)]
    pub test_folds: Option<Vec<u32>>,
    /// Any kind: these whole categories form the test pool, so test noise is unseen in type too.
    #[serde(default)]
    pub test_categories: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MixSection {
    /// The SNR grid in dB; "clean" is always evaluated as well.
    #[serde(default = "default_snrs")]
    pub snr_db: Vec<f64>,
    /// Which noise sources to mix (default: all).
    #[serde(default)]
    pub noise: Option<Vec<String>>,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// "whole": speech power over the whole utterance (the field's usual definition); "active": over
    /// its active frames only (20 ms frames within `active_gate_db` of the loudest).
    #[serde(default = "default_snr_mode")]
    pub snr_mode: String,
    #[serde(default = "default_active_gate")]
    pub active_gate_db: f64,
}

fn default_snr_mode() -> String {
    "whole".into()
}
fn default_active_gate() -> f64 {
    40.0
}

impl Default for MixSection {
    fn default() -> Self {
        MixSection {
            snr_db: default_snrs(),
            noise: None,
            seed: default_seed(),
            snr_mode: default_snr_mode(),
            active_gate_db: default_active_gate(),
        }
    }
}

fn default_snrs() -> Vec<f64> {
    vec![20.0, 10.0, 5.0, 0.0, -5.0]
}

/// Utterance-level log-mel statistics.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeatureConfig {
    #[serde(default = "default_feature_kind")]
    pub kind: String,
    #[serde(default = "default_n_mels")]
    pub n_mels: usize,
    #[serde(default = "default_n_fft")]
    pub n_fft: usize,
    #[serde(default = "default_win_ms")]
    pub win_ms: f64,
    #[serde(default = "default_hop_ms")]
    pub hop_ms: f64,
    #[serde(default)]
    pub fmin_hz: f64,
    /// Upper mel edge; default: half the pipeline sample rate.
    #[serde(default)]
    pub fmax_hz: Option<f64>,
    /// MFCCs per frame (the `functionals` set).
    #[serde(default = "default_n_mfcc")]
    pub n_mfcc: usize,
    /// "slaney" (librosa's default) or "htk".
    #[serde(default = "default_slaney")]
    pub mel_scale: String,
    /// Filter area normalisation: "slaney" (librosa's default) or "none".
    #[serde(default = "default_slaney")]
    pub mel_norm: String,
    /// Also store the frame-level log-mel sequence of each utterance (column `frames`,
    /// List<FixedSizeList<f32>>), for models that read sequences.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub frames: bool,
    /// kind = "imported": a Parquet file (columns `id`, optional `condition`, and a vector column) or an
    /// NPY matrix of per-utterance vectors computed elsewhere, relative to the pipeline file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// For an NPY `path`: a text file with one id per row of the matrix (`id` or `id<TAB>condition`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<String>,
    /// For a Parquet `path`: the vector column (default "embedding").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
}

fn default_n_mfcc() -> usize {
    13
}

fn default_slaney() -> String {
    "slaney".into()
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            kind: default_feature_kind(),
            n_mels: default_n_mels(),
            n_fft: default_n_fft(),
            win_ms: default_win_ms(),
            hop_ms: default_hop_ms(),
            fmin_hz: 0.0,
            fmax_hz: None,
            n_mfcc: default_n_mfcc(),
            mel_scale: default_slaney(),
            mel_norm: default_slaney(),
            frames: false,
            path: None,
            ids: None,
            column: None,
        }
    }
}

fn default_feature_kind() -> String {
    "logmel_stats".into()
}
fn default_n_mels() -> usize {
    64
}
fn default_n_fft() -> usize {
    512
}
fn default_win_ms() -> f64 {
    25.0
}
fn default_hop_ms() -> f64 {
    10.0
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    #[serde(default = "default_model_kind")]
    pub kind: String,
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default = "default_lr")]
    pub lr: f64,
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// "constant" or "cosine" (from lr down to 0 over the epochs).
    #[serde(default = "default_lr_schedule")]
    pub lr_schedule: String,
    /// Stop after this many epochs without a better dev UAR (0: run every epoch).
    #[serde(default)]
    pub patience: usize,
    /// EDRL: hidden width of every encoder and of the decoder.
    #[serde(default = "default_encoder_hidden")]
    pub encoder_hidden: usize,
    /// EDRL: size of each class-specific code and of the shared code.
    #[serde(default = "default_code_dim")]
    pub code_dim: usize,
    /// EDRL loss weights: reconstruction, difference (shared vs class code), similarity (class-free shared code).
    #[serde(default = "default_one")]
    pub loss_recon: f64,
    #[serde(default = "default_tenth")]
    pub loss_diff: f64,
    #[serde(default = "default_tenth")]
    pub loss_sim: f64,
    /// MEA / MB-PLS: number of components K.
    #[serde(default = "default_components")]
    pub components: usize,
    /// MEA / MB-PLS: append the block scores to the K super scores.
    #[serde(default)]
    pub block_scores: bool,
    /// The classifier on MEA embeddings: hidden layers ([] = multinomial logistic regression), epochs, lr.
    #[serde(default)]
    pub classifier_hidden: Vec<usize>,
    #[serde(default = "default_classifier_epochs")]
    pub classifier_epochs: usize,
    #[serde(default = "default_classifier_lr")]
    pub classifier_lr: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        toml::from_str("").expect("every model key has a default")
    }
}

fn default_lr_schedule() -> String {
    "constant".into()
}
fn default_encoder_hidden() -> usize {
    64
}
fn default_code_dim() -> usize {
    16
}
fn default_one() -> f64 {
    1.0
}
fn default_tenth() -> f64 {
    0.1
}
fn default_components() -> usize {
    8
}
fn default_classifier_epochs() -> usize {
    100
}
fn default_classifier_lr() -> f64 {
    1e-2
}

fn default_model_kind() -> String {
    "mlp".into()
}
fn default_hidden() -> Vec<usize> {
    vec![128]
}
fn default_epochs() -> usize {
    60
}
fn default_batch() -> usize {
    64
}
fn default_lr() -> f64 {
    1e-3
}
fn default_weight_decay() -> f64 {
    1e-2
}
fn default_seeds() -> Vec<u64> {
    vec![1]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExperiment {
    name: String,
    train: Vec<Spanned<String>>,
    test: Vec<Spanned<String>>,
    #[serde(default)]
    models: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSection {
    /// The metric in the table cells: uar, wa, macro_f1 or micro_f1.
    #[serde(default = "default_metric")]
    pub metric: String,
    /// The model every other model is tested against (McNemar and paired bootstrap). Default: the
    /// first model of kind "mlp" by name, else the first model by name.
    #[serde(default)]
    pub reference: Option<String>,
    /// Significance level of the marks in the tables.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Paired-bootstrap resamples per comparison (0 turns the bootstrap off).
    #[serde(default = "default_resamples")]
    pub bootstrap_resamples: usize,
    /// Level of the bootstrap confidence interval of the difference to the reference.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Seed of the bootstrap resamples.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The SNR of the noisy cross-corpus matrix. Default: 0 dB if in the grid, else the lowest SNR.
    #[serde(default)]
    pub matrix_snr_db: Option<f64>,
    /// Draw the plots (SVG and PNG).
    #[serde(default = "default_true")]
    pub plots: bool,
}

impl Default for ReportSection {
    fn default() -> Self {
        ReportSection {
            metric: default_metric(),
            reference: None,
            alpha: default_alpha(),
            bootstrap_resamples: default_resamples(),
            confidence: default_confidence(),
            seed: default_seed(),
            matrix_snr_db: None,
            plots: true,
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_alpha() -> f64 {
    0.05
}
fn default_resamples() -> usize {
    1000
}
fn default_confidence() -> f64 {
    0.95
}
fn default_metric() -> String {
    "uar".into()
}

/// The kinds of corpus this version reads.
pub const CORPUS_KINDS: &[&str] = &["iemocap", "cremad", "msp_podcast", "ravdess", "emodb", "csv"];
/// The kinds of noise source this version reads.
pub const NOISE_KINDS: &[&str] = &["folder", "musan", "demand", "esc50", "wham"];
/// `mlp`: an MLP on the features; `edrl`: emotion-disentangled encoders and their classification head;
/// `mbpls`: MB-PLS on the raw feature blocks + classifier; `edrl-mea`: the full method (method.md).
pub const MODEL_KINDS: &[&str] = &["mlp", "edrl", "mbpls", "edrl-mea"];
pub const METRICS: &[&str] = &["uar", "wa", "macro_f1", "micro_f1"];

/// A resolved, validated pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pipeline {
    /// The TOML file as given on the command line.
    pub file: PathBuf,
    /// SHA-256 of the file's bytes (for the report's reproducibility line).
    pub file_sha256: String,
    pub pipeline: PipelineSection,
    pub labels: LabelsSection,
    pub corpora: BTreeMap<String, Corpus>,
    pub noise: BTreeMap<String, NoiseSource>,
    pub mix: MixSection,
    pub features: FeatureConfig,
    /// The resolved files of `[features] kind = "imported"`.
    pub imported: Option<ImportedFeatures>,
    pub models: BTreeMap<String, ModelConfig>,
    pub experiments: Vec<Experiment>,
    pub report: ReportSection,
}

/// Per-utterance vectors computed outside sertool (`[features] kind = "imported"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportedFeatures {
    pub file: PathBuf,
    pub ids: Option<PathBuf>,
    pub column: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Corpus {
    pub name: String,
    pub kind: String,
    pub root: PathBuf,
    pub label_map: BTreeMap<String, String>,
    pub split: SplitConfig,
    /// CREMA-D label source: "acted" or "voice_vote".
    pub label_source: String,
    pub strict: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoiseSource {
    pub name: String,
    pub kind: String,
    pub root: PathBuf,
    pub test_fraction: f64,
    pub seed: u64,
    pub select: NoiseSelect,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Experiment {
    pub name: String,
    pub train: Vec<String>,
    pub test: Vec<String>,
    pub models: Vec<String>,
}

/// Check the `[report]` keys and fill the defaults that depend on the rest of the file: the reference
/// model and the SNR of the noisy cross-corpus matrix.
fn resolve_report(
    mut r: ReportSection,
    models: &BTreeMap<String, ModelConfig>,
    snrs: &[f64],
    src: &Source,
) -> anyhow::Result<ReportSection> {
    let at_key = |key: &str, msg: String| Err(src.error(src.key_offset("report", key), msg));
    match &r.reference {
        Some(m) if !models.contains_key(m) => {
            let names = models.keys().cloned().collect::<Vec<_>>().join(", ");
            return at_key(
                "reference",
                format!("[report] reference \"{m}\" is not a [models.*] entry (expected one of: {names})"),
            );
        }
        Some(_) => {}
        None => {
            r.reference = models
                .iter()
                .find(|(_, c)| c.kind == "mlp")
                .or_else(|| models.iter().next())
                .map(|(name, _)| name.clone());
        }
    }
    if !(r.alpha > 0.0 && r.alpha < 1.0) {
        return at_key("alpha", format!("[report] alpha = {} (expected a level between 0 and 1, e.g. 0.05)", r.alpha));
    }
    if !(r.confidence > 0.0 && r.confidence < 1.0) {
        return at_key(
            "confidence",
            format!("[report] confidence = {} (expected a level between 0 and 1, e.g. 0.95)", r.confidence),
        );
    }
    match r.matrix_snr_db {
        Some(s) if !snrs.contains(&s) => {
            let grid = snrs.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
            return at_key("matrix_snr_db", format!("[report] matrix_snr_db = {s} is not in [mix] snr_db ({grid})"));
        }
        Some(_) => {}
        None => {
            r.matrix_snr_db = if snrs.contains(&0.0) { Some(0.0) } else { snrs.iter().cloned().reduce(f64::min) };
        }
    }
    Ok(r)
}

/// The 4-class default mapping for a corpus kind (method.md, "Unified label space").
pub fn default_label_map(kind: &str, classes: &[String]) -> BTreeMap<String, String> {
    let pairs: &[(&str, &str)] = match kind {
        "iemocap" => &[("neu", "neutral"), ("hap", "happy"), ("exc", "happy"), ("ang", "angry"), ("sad", "sad")],
        "cremad" => &[("NEU", "neutral"), ("HAP", "happy"), ("ANG", "angry"), ("SAD", "sad")],
        "msp_podcast" => &[("N", "neutral"), ("H", "happy"), ("A", "angry"), ("S", "sad")],
        "ravdess" => &[("neutral", "neutral"), ("happy", "happy"), ("angry", "angry"), ("sad", "sad")],
        "emodb" => &[("N", "neutral"), ("F", "happy"), ("W", "angry"), ("T", "sad")],
        // A generic CSV already speaks the unified labels.
        _ => return classes.iter().map(|c| (c.clone(), c.clone())).collect(),
    };
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// Where in the file a problem is, for `file:line:col:` prefixes.
struct Source<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
        (line, col)
    }

    fn at(&self, offset: usize) -> String {
        let (line, col) = self.line_col(offset);
        format!("{}:{line}:{col}", self.file.display())
    }

    /// The `[table]` header in force at `offset`, for messages like `in [mix]`.
    fn table_at(&self, offset: usize) -> Option<String> {
        let offset = offset.min(self.text.len());
        self.text[..offset]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|l| l.split('#').next().unwrap_or(l).trim().to_string())
    }

    /// Byte offset of `key = ...` inside `[table]` (or of the header, or 0), for errors found after
    /// parsing, when serde no longer knows where a value came from.
    fn key_offset(&self, table: &str, key: &str) -> usize {
        let header = format!("[{table}]");
        let mut offset = 0;
        let mut in_table = false;
        let mut header_at = None;
        for line in self.text.split_inclusive('\n') {
            let t = line.trim();
            if t.starts_with('[') {
                in_table = t.split('#').next().unwrap_or("").trim() == header;
                if in_table && header_at.is_none() {
                    header_at = Some(offset);
                }
            } else if in_table && t.split('=').next().map(str::trim) == Some(key) {
                return offset + (line.len() - line.trim_start().len());
            }
            offset += line.len();
        }
        header_at.unwrap_or(0)
    }

    fn error(&self, offset: usize, msg: impl std::fmt::Display) -> anyhow::Error {
        user_error(format!("{}: {msg}", self.at(offset)))
    }
}

/// Turn serde's wording into the conventions' wording: `unknown key "x" in [t] (expected one of: a, b)`.
fn describe_toml_error(src: &Source, err: &toml::de::Error) -> anyhow::Error {
    let offset = err.span().map_or(0, |s| s.start);
    let msg = err.message().trim().to_string();
    let table = src.table_at(offset);
    let in_table = table.as_ref().map(|t| format!(" in {t}")).unwrap_or_default();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (key, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected: Vec<&str> = tail.split('`').enumerate().filter(|(i, _)| i % 2 == 1).map(|(_, s)| s).collect();
        let hint =
            if expected.is_empty() { String::new() } else { format!(" (expected one of: {})", expected.join(", ")) };
        return src.error(offset, format!("unknown key \"{key}\"{in_table}{hint}"));
    }
    // Name the key whose value is wrong, read from the line itself.
    let (line, _) = src.line_col(offset);
    let key = src
        .text
        .lines()
        .nth(line - 1)
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    match key {
        Some(k) => src.error(offset, format!("key \"{k}\"{in_table}: {msg}")),
        None => src.error(offset, format!("{msg}{}", if in_table.is_empty() { "" } else { &in_table })),
    }
}

/// Expand `${VAR}` and `${VAR:-default}` from the environment; an unset variable without a default is an
/// error at the value's position.
fn expand_env(src: &Source, value: &Spanned<String>) -> anyhow::Result<String> {
    let s = value.get_ref();
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end =
            after.find('}').ok_or_else(|| src.error(value.span().start, format!("unterminated \"${{\" in \"{s}\"")))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match (std::env::var(name), default) {
            (Ok(v), _) if !v.is_empty() => out.push_str(&v),
            (_, Some(d)) => out.push_str(d),
            _ => {
                return Err(src.error(
                    value.span().start,
                    format!("environment variable ${{{name}}} is not set (used in \"{s}\")"),
                ))
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Pipeline {
    /// Read, parse, resolve and validate a pipeline file.
    pub fn load(file: &Path) -> anyhow::Result<Pipeline> {
        let bytes = std::fs::read(file)
            .map_err(|e| user_error(format!("{}: cannot read pipeline file: {e}", file.display())))?;
        let text =
            String::from_utf8(bytes.clone()).map_err(|_| user_error(format!("{}: not UTF-8 text", file.display())))?;
        let file_sha256 = crate::engine::key::sha256_hex(&bytes);
        let src = Source { file, text: &text };
        let raw: RawPipeline = toml::from_str(&text).map_err(|e| describe_toml_error(&src, &e))?;
        let base = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        let resolve = |p: &str| -> PathBuf {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let at = |offset: usize, msg: String| src.error(offset, msg);

        let p = &raw.pipeline;
        let name_ok = !p.name.is_empty()
            && !p.name.starts_with('.')
            && p.name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if !name_ok {
            return Err(at(
                src.key_offset("pipeline", "name"),
                format!(
                    "[pipeline] name \"{}\" must be letters, digits, '_', '-' or '.' (it names reports/<name>/)",
                    p.name
                ),
            ));
        }
        if p.sample_rate_hz < 4000 {
            return Err(at(
                src.key_offset("pipeline", "sample_rate_hz"),
                format!("[pipeline] sample_rate_hz = {} is too low (expected ≥ 4000)", p.sample_rate_hz),
            ));
        }
        if crate::audio::ChannelPolicy::parse(&p.channels).is_none() {
            return Err(at(
                src.key_offset("pipeline", "channels"),
                format!("[pipeline] channels = \"{}\" (expected \"mean\" or \"channel:N\")", p.channels),
            ));
        }
        if p.shards == 0 {
            return Err(at(src.key_offset("pipeline", "shards"), "[pipeline] shards must be ≥ 1".into()));
        }
        if raw.labels.classes.len() < 2 {
            return Err(at(src.key_offset("labels", "classes"), "[labels] classes needs at least two classes".into()));
        }

        let mut corpora = BTreeMap::new();
        // Validate in file order, so the first problem reported is the first one in the file.
        let mut in_order: Vec<(&String, &RawCorpus)> = raw.corpora.iter().collect();
        in_order.sort_by_key(|(_, c)| c.kind.span().start);
        for (name, c) in in_order {
            let kind = c.kind.get_ref();
            if !CORPUS_KINDS.contains(&kind.as_str()) {
                return Err(at(
                    c.kind.span().start,
                    format!(
                        "corpus \"{name}\": unknown kind \"{kind}\" (expected one of: {})",
                        CORPUS_KINDS.join(", ")
                    ),
                ));
            }
            let root = resolve(&expand_env(&src, &c.root)?);
            if !root.is_dir() {
                return Err(at(
                    c.root.span().start,
                    format!(
                        "corpus \"{name}\": root \"{}\" is not a directory (resolved to {})\n\
                         hint: for the built-in synthetic corpora run `sertool synth data/synth` first",
                        c.root.get_ref(),
                        root.display()
                    ),
                ));
            }
            let label_map = c.label_map.clone().unwrap_or_else(|| default_label_map(kind, &raw.labels.classes));
            for (code, label) in &label_map {
                if !raw.labels.classes.contains(label) {
                    return Err(at(
                        c.kind.span().start,
                        format!(
                            "corpus \"{name}\": label_map sends \"{code}\" to \"{label}\", which is not in [labels] classes ({})",
                            raw.labels.classes.join(", ")
                        ),
                    ));
                }
            }
            let mut split = c.split.clone();
            let methods = split_methods(kind);
            let method = split.method.get_or_insert_with(|| methods[0].to_string()).clone();
            if !methods.contains(&method.as_str()) {
                return Err(at(
                    src.key_offset(&format!("corpora.{name}.split"), "method"),
                    format!(
                        "corpus \"{name}\": split method \"{method}\" does not apply to {kind} (expected one of: {})",
                        methods.join(", ")
                    ),
                ));
            }
            if method == "speakers" && !(split.train > 0.0 && split.dev >= 0.0 && split.train + split.dev < 1.0) {
                return Err(at(
                    c.kind.span().start,
                    format!(
                        "corpus \"{name}\": split fractions train = {}, dev = {} must leave a test portion",
                        split.train, split.dev
                    ),
                ));
            }
            if method == "sessions"
                && (!(1..=5).contains(&split.test_session)
                    || split.dev_session > 5
                    || split.dev_session == split.test_session)
            {
                return Err(at(
                    c.kind.span().start,
                    format!(
                        "corpus \"{name}\": test_session = {} and dev_session = {} must be different sessions 1..5 (dev_session 0 = none)",
                        split.test_session, split.dev_session
                    ),
                ));
            }
            let label_source = match &c.label_source {
                None => "acted".to_string(),
                Some(ls) => {
                    let v = ls.get_ref();
                    if kind != "cremad" || !["acted", "voice_vote"].contains(&v.as_str()) {
                        return Err(at(
                            ls.span().start,
                            format!("corpus \"{name}\": label_source \"{v}\" (expected \"acted\" or \"voice_vote\", CREMA-D only)"),
                        ));
                    }
                    v.clone()
                }
            };
            corpora.insert(
                name.clone(),
                Corpus {
                    name: name.clone(),
                    kind: kind.clone(),
                    root,
                    label_map,
                    split,
                    label_source,
                    strict: c.strict,
                },
            );
        }

        let mut noise = BTreeMap::new();
        for (name, n) in &raw.noise {
            let kind = n.kind.get_ref();
            if !NOISE_KINDS.contains(&kind.as_str()) {
                return Err(at(
                    n.kind.span().start,
                    format!("noise \"{name}\": unknown kind \"{kind}\" (expected one of: {})", NOISE_KINDS.join(", ")),
                ));
            }
            let root = resolve(&expand_env(&src, &n.root)?);
            if !root.is_dir() {
                return Err(at(
                    n.root.span().start,
                    format!(
                        "noise \"{name}\": root \"{}\" is not a directory (resolved to {})",
                        n.root.get_ref(),
                        root.display()
                    ),
                ));
            }
            let sel = &n.select();
            let only = |field: &str, set: bool, kinds: &[&str]| -> anyhow::Result<()> {
                if set && !kinds.contains(&kind.as_str()) {
                    return Err(at(
                        src.key_offset(&format!("noise.{name}"), field),
                        format!("noise \"{name}\": {field} applies to {} only, not {kind}", kinds.join(", ")),
                    ));
                }
                Ok(())
            };
            only("subsets", sel.subsets.is_some(), &["musan"])?;
            only("environments", sel.environments.is_some(), &["demand"])?;
            only("channel", sel.channel.is_some(), &["demand"])?;
            only("categories", sel.categories.is_some(), &["esc50"])?;
            only("test_folds", sel.test_folds.is_some(), &["esc50"])?;
            if let Some(bad) =
                sel.subsets.iter().flatten().find(|s| !["noise", "music", "speech"].contains(&s.as_str()))
            {
                return Err(at(
                    src.key_offset(&format!("noise.{name}"), "subsets"),
                    format!("noise \"{name}\": MUSAN subset \"{bad}\" (expected noise, music or speech)"),
                ));
            }
            if !(n.test_fraction > 0.0 && n.test_fraction < 1.0) {
                return Err(at(n.kind.span().start, format!("noise \"{name}\": test_fraction must be in (0, 1)")));
            }
            noise.insert(
                name.clone(),
                NoiseSource {
                    name: name.clone(),
                    kind: kind.clone(),
                    root,
                    test_fraction: n.test_fraction,
                    seed: n.seed,
                    select: n.select(),
                },
            );
        }

        let mut mix = match (&raw.mix, noise.is_empty()) {
            (Some(m), _) => m.clone(),
            (None, true) => MixSection { snr_db: Vec::new(), ..MixSection::default() },
            (None, false) => MixSection::default(),
        };
        let selected = mix.noise.clone().unwrap_or_else(|| noise.keys().cloned().collect());
        for n in &selected {
            if !noise.contains_key(n) {
                return Err(at(
                    src.key_offset("mix", "noise"),
                    format!("[mix] noise names \"{n}\", which is not a [noise.*] source"),
                ));
            }
        }
        if !mix.snr_db.is_empty() && selected.is_empty() {
            return Err(at(
                src.key_offset("mix", "snr_db"),
                "[mix] snr_db is set but no [noise.*] source is defined".into(),
            ));
        }
        let mut distinct: Vec<String> = mix.snr_db.iter().map(|v| v.to_string()).collect();
        distinct.sort();
        distinct.dedup();
        if distinct.len() != mix.snr_db.len() {
            return Err(at(src.key_offset("mix", "snr_db"), "[mix] snr_db lists the same SNR twice".into()));
        }
        let mut names = selected.clone();
        names.sort();
        names.dedup();
        if names.len() != selected.len() {
            return Err(at(src.key_offset("mix", "noise"), "[mix] noise lists the same source twice".into()));
        }
        if let Some(bad) = mix.snr_db.iter().find(|v| !v.is_finite()) {
            return Err(at(
                src.key_offset("mix", "snr_db"),
                format!("[mix] snr_db contains {bad}, expected finite numbers"),
            ));
        }
        mix.noise = Some(selected);
        if !["whole", "active"].contains(&mix.snr_mode.as_str())
            || mix.active_gate_db.is_nan()
            || mix.active_gate_db <= 0.0
        {
            return Err(at(
                src.key_offset("mix", "snr_mode"),
                format!("[mix] snr_mode = \"{}\" (expected \"whole\" or \"active\"; active_gate_db > 0)", mix.snr_mode),
            ));
        }

        let f = &raw.features;
        if !["logmel_stats", "functionals", "imported"].contains(&f.kind.as_str())
            || f.n_mfcc == 0
            || f.n_mfcc > f.n_mels
        {
            return Err(at(
                src.key_offset("features", "kind"),
                format!(
                    "[features] kind = \"{}\" with n_mfcc = {} (expected logmel_stats, functionals or imported, and 1 ≤ n_mfcc ≤ n_mels)",
                    f.kind, f.n_mfcc
                ),
            ));
        }
        let imported =
            match (f.kind.as_str(), &f.path) {
                ("imported", None) => return Err(at(
                    src.key_offset("features", "kind"),
                    "[features] kind = \"imported\" needs path = \"FILE.parquet\" (or an .npy with ids = \"FILE.txt\")"
                        .to_string(),
                )),
                ("imported", Some(path)) => {
                    let file = resolve(path);
                    let ids = f.ids.as_deref().map(resolve);
                    let is_npy = file.extension().is_some_and(|e| e == "npy");
                    let problem = if !file.is_file() {
                        Some(format!("[features] path: {} is not a file", file.display()))
                    } else if is_npy && ids.is_none() {
                        Some("[features] an .npy path needs ids = \"FILE.txt\" (one utterance id per row)".to_string())
                    } else {
                        let missing = ids.as_ref().filter(|i| !i.is_file());
                        missing.map(|i| format!("[features] ids: {} is not a file", i.display()))
                    };
                    if let Some(msg) = problem {
                        return Err(at(src.key_offset("features", "path"), msg));
                    }
                    Some(ImportedFeatures { file, ids, column: f.column.clone().unwrap_or_else(|| "embedding".into()) })
                }
                (_, Some(_)) => {
                    return Err(at(
                        src.key_offset("features", "path"),
                        format!("[features] path is only read with kind = \"imported\" (kind is \"{}\")", f.kind),
                    ))
                }
                _ => None,
            };
        if !["slaney", "htk"].contains(&f.mel_scale.as_str()) || !["slaney", "none"].contains(&f.mel_norm.as_str()) {
            return Err(at(
                src.key_offset("features", "mel_scale"),
                format!(
                    "[features] mel_scale = \"{}\", mel_norm = \"{}\" (expected slaney or htk; slaney or none)",
                    f.mel_scale, f.mel_norm
                ),
            ));
        }
        let nyquist = p.sample_rate_hz as f64 / 2.0;
        let fmax = f.fmax_hz.unwrap_or(nyquist);
        if !(f.fmin_hz >= 0.0 && f.fmin_hz < fmax && fmax <= nyquist) {
            return Err(at(
                src.key_offset("features", "fmax_hz"),
                format!(
                    "[features] need 0 ≤ fmin_hz < fmax_hz ≤ {nyquist} (half the sample rate); got {} and {fmax}",
                    f.fmin_hz
                ),
            ));
        }
        let win = (f.win_ms * p.sample_rate_hz as f64 / 1000.0).round() as usize;
        if win == 0 || win > f.n_fft || f.hop_ms <= 0.0 || f.n_mels == 0 {
            return Err(at(
                src.key_offset("features", "win_ms"),
                format!("[features] win_ms = {} gives {win} samples; expected 0 < window ≤ n_fft = {}, hop_ms > 0, n_mels > 0", f.win_ms, f.n_fft),
            ));
        }

        for (name, m) in &raw.models {
            if !MODEL_KINDS.contains(&m.kind.as_str()) {
                return Err(at(
                    src.key_offset(&format!("models.{name}"), "kind"),
                    format!(
                        "model \"{name}\": unknown kind \"{}\" (expected one of: {})",
                        m.kind,
                        MODEL_KINDS.join(", ")
                    ),
                ));
            }
            if m.seeds.is_empty() || m.epochs == 0 || m.batch_size == 0 {
                return Err(at(
                    src.key_offset(&format!("models.{name}"), "seeds"),
                    format!("model \"{name}\": seeds, epochs and batch_size must be non-empty / ≥ 1"),
                ));
            }
            if !["constant", "cosine"].contains(&m.lr_schedule.as_str()) {
                return Err(at(
                    src.key_offset(&format!("models.{name}"), "lr_schedule"),
                    format!("model \"{name}\": lr_schedule = \"{}\" (expected constant or cosine)", m.lr_schedule),
                ));
            }
            if m.code_dim == 0 || m.encoder_hidden == 0 || m.components == 0 || m.classifier_epochs == 0 {
                return Err(at(
                    src.key_offset(&format!("models.{name}"), "kind"),
                    format!("model \"{name}\": code_dim, encoder_hidden, components and classifier_epochs must be ≥ 1"),
                ));
            }
        }

        let mut experiments = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for e in &raw.experiments {
            if !seen.insert(e.name.clone()) {
                return Err(at(
                    src.text.find(&format!("\"{}\"", e.name)).unwrap_or(0),
                    format!("experiment name \"{}\" is used twice", e.name),
                ));
            }
            for c in e.train.iter().chain(&e.test) {
                if !corpora.contains_key(c.get_ref()) {
                    return Err(at(
                        c.span().start,
                        format!(
                            "experiment \"{}\" names corpus \"{}\", which is not a [corpora.*] entry",
                            e.name,
                            c.get_ref()
                        ),
                    ));
                }
            }
            let models: Vec<String> = match &e.models {
                Some(ms) => {
                    for m in ms {
                        if !raw.models.contains_key(m.get_ref()) {
                            return Err(at(
                                m.span().start,
                                format!(
                                    "experiment \"{}\" names model \"{}\", which is not a [models.*] entry",
                                    e.name,
                                    m.get_ref()
                                ),
                            ));
                        }
                    }
                    ms.iter().map(|m| m.get_ref().clone()).collect()
                }
                None => raw.models.keys().cloned().collect(),
            };
            if e.train.is_empty() || e.test.is_empty() {
                return Err(at(
                    src.text.find(&format!("\"{}\"", e.name)).unwrap_or(0),
                    format!("experiment \"{}\" needs at least one train and one test corpus", e.name),
                ));
            }
            experiments.push(Experiment {
                name: e.name.clone(),
                train: e.train.iter().map(|s| s.get_ref().clone()).collect(),
                test: e.test.iter().map(|s| s.get_ref().clone()).collect(),
                models,
            });
        }
        if !METRICS.contains(&raw.report.metric.as_str()) {
            return Err(at(
                src.key_offset("report", "metric"),
                format!("[report] metric \"{}\" (expected one of: {})", raw.report.metric, METRICS.join(", ")),
            ));
        }

        let report = resolve_report(raw.report, &raw.models, &mix.snr_db, &src)?;

        Ok(Pipeline {
            file: file.to_path_buf(),
            file_sha256,
            pipeline: raw.pipeline,
            labels: raw.labels,
            corpora,
            noise,
            mix,
            features: raw.features,
            imported,
            models: raw.models,
            experiments,
            report,
        })
    }

    /// A pipeline of one corpus and nothing else, for `sertool ingest`.
    pub fn single_corpus(kind: &str, root: &Path, name: &str, strict: bool) -> anyhow::Result<Pipeline> {
        if !CORPUS_KINDS.contains(&kind) {
            return Err(user_error(format!(
                "unknown corpus kind \"{kind}\" (expected one of: {})",
                CORPUS_KINDS.join(", ")
            )));
        }
        if !root.is_dir() {
            return Err(user_error(format!("{}: not a directory", root.display())));
        }
        if name.is_empty()
            || name.starts_with('.')
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(user_error(format!("--name \"{name}\" must be letters, digits, '_', '-' or '.'")));
        }
        let labels = LabelsSection::default();
        let split = SplitConfig { method: Some(split_methods(kind)[0].to_string()), ..SplitConfig::default() };
        let corpus = Corpus {
            name: name.to_string(),
            kind: kind.to_string(),
            root: root.to_path_buf(),
            label_map: default_label_map(kind, &labels.classes),
            split,
            label_source: "acted".into(),
            strict,
        };
        Ok(Pipeline {
            file: PathBuf::from(format!("<ingest {}>", root.display())),
            file_sha256: String::new(),
            pipeline: PipelineSection {
                name: name.to_string(),
                sample_rate_hz: default_sample_rate(),
                shards: default_shards(),
                channels: default_channel_policy(),
            },
            labels,
            corpora: [(name.to_string(), corpus)].into_iter().collect(),
            noise: BTreeMap::new(),
            mix: MixSection { snr_db: Vec::new(), noise: Some(Vec::new()), ..MixSection::default() },
            features: FeatureConfig::default(),
            imported: None,
            models: BTreeMap::new(),
            experiments: Vec::new(),
            report: ReportSection::default(),
        })
    }

    /// The resolved configuration with every default filled in (`sertool plan --show-config`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "pipeline": self.pipeline,
            "labels": self.labels,
            "corpora": self.corpora.values().map(|c| (c.name.clone(), serde_json::json!({
                "kind": c.kind, "root": c.root.display().to_string(), "label_map": c.label_map, "split": c.split,
                "label_source": c.label_source, "strict": c.strict,
            }))).collect::<serde_json::Map<_, _>>(),
            "noise": self.noise.values().map(|n| (n.name.clone(), serde_json::json!({
                "kind": n.kind, "root": n.root.display().to_string(), "test_fraction": n.test_fraction, "seed": n.seed,
                "select": n.select,
            }))).collect::<serde_json::Map<_, _>>(),
            "mix": self.mix,
            "features": self.features,
            "models": self.models,
            "experiments": self.experiments.iter().map(|e| serde_json::json!({
                "name": e.name, "train": e.train, "test": e.test, "models": e.models,
            })).collect::<Vec<_>>(),
            "report": self.report,
        })
    }
}
