//! The model kinds of a pipeline behind one seam. A kind is a file here with its options struct and a
//! [`Kind`] impl, plus one line in the [`registry!`] below; the config module finds kinds, their keys and
//! defaults through [`KINDS`], and the train and eval stages call [`fit`] and [`load`].
//!
//! Every kind fits on z-scored clean source features, saves a checkpoint folder (safetensors + JSON, with
//! `model.json`, the [`ModelCard`]), loads it again and predicts class probabilities. Shared pieces:
//! `common.rs` (the training loop, schedule, class weights, standardiser), `nets/` (the networks),
//! `metrics.rs`.

pub mod common;
pub mod metrics;
pub mod nets;

use std::path::Path;

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use common::{argmax, Standardizer, TrainLog};

use crate::features::FeatureSpec;

/// Declares the kind files and lists their kinds, one line per kind (`file::Type`).
macro_rules! registry {
    ($($file:ident :: $kind:ident),* $(,)?) => {
        $(pub mod $file;)*
        /// Every model kind, in the order messages list them.
        pub static KINDS: &[&dyn ModelKind] = &[$(&$file::$kind),*];
    };
}

registry! {
    mlp::Mlp,
    edrl::Edrl,
    mbpls::MbPls,
    edrl_mea::EdrlMea,
    emo_dna::EmoDna,
    dann::Dann,
    mmd::Mmd,
    ser_seq::SerSeq,
    se_ser::SeSer,
    se_then_ser::SeThenSer,
    ensemble::Ensemble,
}

/// What a kind needs from the pipeline to train. Every kind needs the first two; the domain-adaptation
/// kinds also read the target corpus's unlabeled features (one train stage per source set × target);
/// the sequence kinds read frame sequences computed from the audio and the mix recipes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Needs {
    /// Labeled features of the source corpora's train split.
    pub labeled_source: bool,
    /// The source dev split (epoch selection).
    pub source_dev: bool,
    /// Unlabeled features of the target (test) corpora.
    pub unlabeled_target: bool,
    /// Frame sequences (log1p STFT magnitudes) instead of feature vectors, computed per batch from the
    /// audio and the mix recipes ([`SequenceSet`]); eval scores them the same way.
    pub frames: bool,
    /// The clean speech beside each noisy input (same utterance and offsets): an enhancement head.
    pub clean_noisy_pairs: bool,
    /// Nothing to train: it combines other models' stored test predictions (late fusion).
    pub combines: bool,
}

impl Needs {
    /// Labeled source features with a dev split, and nothing else.
    pub const SUPERVISED: Needs = Needs {
        labeled_source: true,
        source_dev: true,
        unlabeled_target: false,
        frames: false,
        clean_noisy_pairs: false,
        combines: false,
    };

    /// A kind that adapts to the target corpus.
    pub const ADAPTING: Needs = Needs { unlabeled_target: true, ..Needs::SUPERVISED };

    /// A sequence model with an emotion head only.
    pub const SEQUENCES: Needs = Needs { frames: true, ..Needs::SUPERVISED };

    /// A sequence model that also enhances (trains on clean / noisy pairs, scored on enhancement).
    pub const ENHANCING: Needs = Needs { frames: true, clean_noisy_pairs: true, ..Needs::SUPERVISED };

    /// A late-fusion ensemble: no training, no features of its own.
    pub const COMBINES: Needs = Needs { labeled_source: false, source_dev: false, combines: true, ..Needs::SUPERVISED };
}

/// One utterance as the sequence kinds read it: log1p STFT magnitudes (`frames × bins`, 25 ms Hann,
/// 10 ms hop: [`crate::features::stft`]) of the input — the mixture for a noisy condition, the speech
/// itself for clean — and of the clean speech at the same offsets.
#[derive(Debug, Clone)]
pub struct SeqExample {
    pub noisy: Vec<Vec<f32>>,
    pub clean: Vec<Vec<f32>>,
}

/// Utterances computed on demand (decoded, mixed and transformed when asked for), so a sequence kind
/// holds one batch at a time whatever the corpus size.
pub trait SequenceSet: Sync {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Class index of example `i`.
    fn label(&self, i: usize) -> usize;
    /// Example `i`, whole or cut to a window.
    fn get(&self, i: usize, crop: Option<Crop>) -> anyhow::Result<SeqExample>;
}

/// A training window: at most `frames` frames, starting at `draw` modulo the number of starts.
#[derive(Debug, Clone, Copy)]
pub struct Crop {
    pub frames: usize,
    pub draw: u64,
}

impl Crop {
    /// The frames of a `total`-frame example this window keeps.
    pub fn range(&self, total: usize) -> std::ops::Range<usize> {
        if total <= self.frames {
            return 0..total;
        }
        let start = (self.draw % (total - self.frames + 1) as u64) as usize;
        start..start + self.frames
    }
}

/// The train and dev sets of a sequence kind.
#[derive(Clone, Copy)]
pub struct Sequences<'a> {
    pub train: &'a dyn SequenceSet,
    pub dev: &'a dyn SequenceSet,
}

/// The options every domain-adaptation kind shares (flattened into its `[models.X]` table).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdaptOptions {
    /// Adapt on the target's test-split audio as well as its train split (the report marks such cells).
    #[serde(default)]
    pub transductive: bool,
}

/// What a train stage hands a kind: z-scored clean source features, and for an adapting kind the
/// target corpus's features, z-scored with the source statistics and without labels.
pub struct TrainData<'a> {
    pub x: &'a [Vec<f32>],
    pub y: &'a [usize],
    pub dev_x: &'a [Vec<f32>],
    pub dev_y: &'a [usize],
    pub classes: &'a [String],
    /// Contiguous named column blocks of x (`features::blocks`); empty means one block.
    pub feature_blocks: &'a [(String, usize)],
    /// The index into `corpora` of each row of x (its source corpus).
    pub corpus: &'a [usize],
    /// The source corpora, then the target when there is one.
    pub corpora: &'a [String],
    /// The target's unlabeled rows (empty: no adaptation, as for the in-corpus cell).
    pub target_x: &'a [Vec<f32>],
    /// For a kind whose `Needs` has `frames`: its examples (x is then empty).
    pub sequences: Option<Sequences<'a>>,
}

/// Pseudo-labelling, epoch by epoch, of a kind that labels target rows itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PseudoLabelLog {
    pub epochs: Vec<EpochLabels>,
}

/// The target rows' pseudo-labels after one epoch (also as pseudo_labels.json stores them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLabels {
    /// The global threshold after the epoch.
    pub tau: f64,
    /// Class index per target row, in the order of `TrainData::target_x`; null where the confidence
    /// stayed under its class's threshold.
    pub labels: Vec<Option<usize>>,
}

/// What a fit reports besides the model.
pub struct Fit {
    pub log: TrainLog,
    /// The EDRL encoders' training, for `edrl-mea`.
    pub encoder_log: Option<TrainLog>,
    /// MB-PLS blocks with their importance (mean over components).
    pub block_importance: Option<Vec<(String, f64)>>,
    /// Target pseudo-labels per epoch, for kinds that make them.
    pub pseudo_labels: Option<PseudoLabelLog>,
    /// The training phases of a sequence kind (pre-training, cascade unfreezing).
    pub phases: Option<Vec<nets::seq::PhaseLog>>,
}

impl Fit {
    pub fn of(log: TrainLog) -> Fit {
        Fit { log, encoder_log: None, block_importance: None, pseudo_labels: None, phases: None }
    }
}

/// A fitted model.
pub trait Trained: Send + Sync {
    /// Class probabilities for each row of z-scored features.
    fn predict_proba(&self, x: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f32>>>;
    /// Write the tensors (and any other state) into `dir`; model.json is the caller's.
    fn save(&self, dir: &Path) -> anyhow::Result<()>;
    /// Class probabilities of one utterance's input frames (sequence kinds).
    fn predict_sequence(&self, _frames: &[Vec<f32>]) -> anyhow::Result<Vec<f32>> {
        anyhow::bail!("this model kind reads feature vectors, not frame sequences")
    }
    /// The estimated clean log1p magnitude of noisy input frames, for kinds that enhance.
    fn enhance(&self, _frames: &[Vec<f32>]) -> anyhow::Result<Option<Vec<Vec<f32>>>> {
        Ok(None)
    }
}

/// A model kind as its file writes it: typed options, checks, fit and load.
pub trait Kind: Sync + 'static {
    /// The options of `[models.X]` besides `kind` and `seeds`, each with its default.
    type Config: Serialize + DeserializeOwned + Default;
    const NAME: &'static str;
    const NEEDS: Needs;
    /// Values the kind cannot work with: (key, problem).
    fn check(cfg: &Self::Config) -> Result<(), (&'static str, String)>;
    fn fit(cfg: &Self::Config, seed: u64, data: &TrainData) -> anyhow::Result<(Box<dyn Trained>, Fit)>;
    /// Read a checkpoint folder this kind saved.
    fn load(dir: &Path, card: &ModelCard) -> anyhow::Result<Box<dyn Trained>>;
}

/// A model kind as the rest of sertool sees it (every [`Kind`] is one).
pub trait ModelKind: Sync {
    fn name(&self) -> &'static str;
    fn needs(&self) -> Needs;
    /// Every option with its default (canonical JSON object, without `kind` and `seeds`).
    fn defaults(&self) -> serde_json::Value;
    /// Options (without `kind` and `seeds`; missing ones take their defaults) to their canonical JSON.
    fn parse(&self, options: serde_json::Map<String, serde_json::Value>) -> serde_json::Result<serde_json::Value>;
    /// The problem with parsed options, if any: (key, message).
    fn check(&self, params: &serde_json::Value) -> Result<(), (&'static str, String)>;
    fn fit(&self, params: &serde_json::Value, seed: u64, data: &TrainData) -> anyhow::Result<(Box<dyn Trained>, Fit)>;
    fn load(&self, dir: &Path, card: &ModelCard) -> anyhow::Result<Box<dyn Trained>>;
}

impl<K: Kind> ModelKind for K {
    fn name(&self) -> &'static str {
        K::NAME
    }
    fn needs(&self) -> Needs {
        K::NEEDS
    }
    fn defaults(&self) -> serde_json::Value {
        serde_json::to_value(K::Config::default()).unwrap_or_default()
    }
    fn parse(&self, options: serde_json::Map<String, serde_json::Value>) -> serde_json::Result<serde_json::Value> {
        let cfg: K::Config = serde_json::from_value(serde_json::Value::Object(options))?;
        serde_json::to_value(cfg)
    }
    fn check(&self, params: &serde_json::Value) -> Result<(), (&'static str, String)> {
        let cfg: K::Config = serde_json::from_value(params.clone()).map_err(|e| ("kind", e.to_string()))?;
        K::check(&cfg)
    }
    fn fit(&self, params: &serde_json::Value, seed: u64, data: &TrainData) -> anyhow::Result<(Box<dyn Trained>, Fit)> {
        let cfg: K::Config = serde_json::from_value(params.clone())
            .with_context(|| format!("model kind \"{}\": options {params}", K::NAME))?;
        K::fit(&cfg, seed, data)
    }
    fn load(&self, dir: &Path, card: &ModelCard) -> anyhow::Result<Box<dyn Trained>> {
        K::load(dir, card)
    }
}

impl std::fmt::Debug for dyn ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name())
    }
}

/// The kind of this name.
pub fn kind(name: &str) -> Option<&'static dyn ModelKind> {
    KINDS.iter().copied().find(|k| k.name() == name)
}

/// The names of every kind, in registry order.
pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name()).collect()
}

/// One `[models.X]` entry, resolved: its kind, seeds and the kind's own options with defaults filled.
/// It serialises as [`ModelSpec::to_json`] (it travels in job documents) and reads back through the
/// registry.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub kind: &'static dyn ModelKind,
    pub seeds: Vec<u64>,
    /// The conditions its training (and dev) rows come from: "clean" and noisy condition names
    /// (`<noise>.snr<dB>`, mixed from the noise source's *train* pool). Default: clean only.
    pub train_conditions: Vec<String>,
    /// The kind's options (canonical JSON object).
    pub params: serde_json::Value,
}

impl ModelSpec {
    /// A kind with every option at its default and seed 1.
    pub fn default_of(kind: &'static dyn ModelKind) -> ModelSpec {
        ModelSpec { kind, seeds: vec![1], train_conditions: vec!["clean".into()], params: kind.defaults() }
    }

    pub fn kind_name(&self) -> &'static str {
        self.kind.name()
    }

    /// The canonical JSON of what a train stage's key covers: `kind` and the kind's own options, not
    /// `seeds` (each train stage has one seed, keyed separately).
    pub fn key_params(&self) -> serde_json::Value {
        let mut m = self.params.as_object().cloned().unwrap_or_default();
        m.insert("kind".into(), self.kind_name().into());
        // Clean-only training is the default and stays out of the key (keys from before the option hold).
        if !self.is_clean_only() {
            m.insert("train_conditions".into(), serde_json::json!(self.train_conditions));
        }
        serde_json::Value::Object(m)
    }

    /// Whether it trains on clean speech alone (the default).
    pub fn is_clean_only(&self) -> bool {
        self.train_conditions == ["clean"]
    }

    /// The target splits whose unlabeled audio this model adapts on; None for a kind that does not adapt.
    pub fn adaptation_splits(&self) -> Option<&'static [&'static str]> {
        if !self.kind.needs().unlabeled_target {
            return None;
        }
        let transductive = self.params.get("transductive").and_then(|v| v.as_bool()).unwrap_or(false);
        Some(if transductive { &["train", "test"] } else { &["train"] })
    }

    /// Everything, seeds included (`plan --show-config`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = self.key_params();
        if let Some(m) = v.as_object_mut() {
            m.insert("seeds".into(), serde_json::json!(self.seeds));
        }
        v
    }
}

impl Serialize for ModelSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ModelSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ModelSpec, D::Error> {
        use serde::de::Error;
        let mut m = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let name = m.remove("kind").and_then(|k| k.as_str().map(String::from)).unwrap_or_default();
        let kind = self::kind(&name).ok_or_else(|| D::Error::custom(format!("unknown model kind \"{name}\"")))?;
        let seeds = m.remove("seeds").map(serde_json::from_value).transpose().map_err(D::Error::custom)?;
        let train_conditions: Option<Vec<String>> =
            m.remove("train_conditions").map(serde_json::from_value).transpose().map_err(D::Error::custom)?;
        Ok(ModelSpec {
            kind,
            seeds: seeds.unwrap_or_default(),
            train_conditions: train_conditions.unwrap_or_else(|| vec!["clean".into()]),
            params: serde_json::Value::Object(m),
        })
    }
}

/// Everything needed to use a checkpoint folder: `model.json` next to the tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCard {
    pub kind: String,
    pub classes: Vec<String>,
    /// The kind's options ([`ModelSpec::key_params`]).
    pub config: serde_json::Value,
    /// Features and audio settings, so `sertool predict` computes exactly what training saw.
    pub features: FeatureSpec,
    pub sample_rate_hz: u32,
    pub channels: String,
    pub input_dim: usize,
    pub standardizer: Standardizer,
    pub train_utterances: usize,
    pub dev_utterances: usize,
    /// The final predictor's training (the classifier for the MB-PLS kinds).
    pub log: TrainLog,
    /// The EDRL encoders' training, for `edrl-mea`.
    pub encoder_log: Option<TrainLog>,
    /// MB-PLS blocks with their importance (mean over components), for `mbpls` and `edrl-mea`.
    pub block_importance: Option<Vec<(String, f64)>>,
    /// What a domain-adaptation kind adapted on (None: no adaptation, and no field, so the cards of
    /// models that do not adapt are as they always were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptation: Option<AdaptationCard>,
    /// A sequence kind's training phases (absent for the other kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<Vec<nets::seq::PhaseLog>>,
}

/// The target side of an adapted model, in its model card.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdaptationCard {
    pub target: String,
    /// The target splits whose audio (never labels) training read.
    pub splits: Vec<String>,
    pub target_utterances: usize,
    /// Target rows whose pseudo-label passed the threshold, per epoch (empty for kinds without
    /// pseudo-labels); the labels themselves are in pseudo_labels.json.
    pub passed_per_epoch: Vec<usize>,
}

/// What a sequence kind reads for a waveform at `rate`: its log1p STFT magnitude frames.
pub fn sequence_frames(x: &[f32], rate: u32) -> Vec<Vec<f32>> {
    let stft = crate::features::stft::Stft::for_rate(rate);
    crate::features::stft::log1p_magnitude(&stft.forward(x))
}

/// The enhanced waveform of `x` (at `rate`) for a model that enhances: its estimated magnitude with the
/// input's phase, overlap-added. None for a model without an enhancement head. The eval stage and
/// `sertool enhance` both call this, so the audio a user gets is the audio that was scored.
pub fn enhance_audio(model: &dyn Trained, x: &[f32], rate: u32) -> anyhow::Result<Option<Vec<f32>>> {
    use crate::features::stft::{log1p_magnitude, with_magnitude, Stft};
    let stft = Stft::for_rate(rate);
    let spec = stft.forward(x);
    Ok(model.enhance(&log1p_magnitude(&spec))?.map(|est| stft.inverse(&with_magnitude(&spec, &est))))
}

/// Fit a model of `spec`'s kind with one seed.
pub fn fit(spec: &ModelSpec, seed: u64, data: &TrainData) -> anyhow::Result<(Box<dyn Trained>, Fit)> {
    let n = data.sequences.map_or(data.x.len(), |s| s.train.len());
    anyhow::ensure!(n > 0, "no training utterances");
    spec.kind.fit(&spec.params, seed, data)
}

/// Load a checkpoint folder written by a train stage: `model.json` and what its kind saved.
pub fn load(dir: &Path) -> anyhow::Result<(Box<dyn Trained>, ModelCard)> {
    let card_path = dir.join("model.json");
    let card: ModelCard =
        serde_json::from_slice(&std::fs::read(&card_path).with_context(|| format!("reading {}", card_path.display()))?)
            .with_context(|| format!("{}: not a sertool model card", card_path.display()))?;
    let kind =
        kind(&card.kind).with_context(|| format!("{}: unknown model kind \"{}\"", card_path.display(), card.kind))?;
    Ok((kind.load(dir, &card)?, card))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_keys_only_its_own_options() {
        let keys = |name: &str| -> Vec<String> {
            let spec = ModelSpec::default_of(kind(name).unwrap());
            spec.key_params().as_object().unwrap().keys().cloned().collect()
        };
        let sched = ["batch_size", "epochs", "lr", "lr_schedule", "patience", "weight_decay"];
        let mut mlp: Vec<&str> = [&["hidden", "kind"][..], &sched].concat();
        mlp.sort();
        assert_eq!(keys("mlp"), mlp);
        let mut edrl: Vec<&str> =
            [&["code_dim", "encoder_hidden", "kind", "loss_diff", "loss_recon", "loss_sim"][..], &sched].concat();
        edrl.sort();
        assert_eq!(keys("edrl"), edrl);
        let head = ["block_scores", "classifier_epochs", "classifier_hidden", "classifier_lr", "components"];
        let mut mbpls: Vec<&str> =
            [&head[..], &["batch_size", "kind", "lr_schedule", "patience", "weight_decay"]].concat();
        mbpls.sort();
        assert_eq!(keys("mbpls"), mbpls);
        let mut mea: Vec<&str> = [&edrl[..], &head].concat();
        mea.sort();
        assert_eq!(keys("edrl-mea"), mea);
        let mut dann: Vec<&str> =
            [&["disc_hidden", "hidden", "kind", "loss_domain", "transductive"][..], &sched].concat();
        dann.sort();
        assert_eq!(keys("dann"), dann);
        let mut mmd: Vec<&str> = [&["hidden", "kind", "loss_mmd", "transductive"][..], &sched].concat();
        mmd.sort();
        assert_eq!(keys("mmd"), mmd);
        let dna = [
            "alignment",
            "centroid_momentum",
            "code_dim",
            "disc_hidden",
            "encoder_hidden",
            "kind",
            "loss_class_align",
            "loss_contrastive",
            "loss_corpus",
            "loss_domain",
            "loss_orthogonal",
            "loss_pseudo",
            "temperature",
            "threshold_momentum",
            "transductive",
            "warmup_epochs",
        ];
        let mut dna: Vec<&str> = [&dna[..], &sched].concat();
        dna.sort();
        assert_eq!(keys("emo-dna"), dna);
        let net = ["batch_size", "crop_frames", "dim", "heads", "hidden", "kind", "layers", "lr", "weight_decay"];
        let with = |own: &[&'static str]| -> Vec<&'static str> {
            let mut v = [&net[..], own].concat();
            v.sort();
            v
        };
        assert_eq!(keys("ser-seq"), with(&["epochs"]));
        assert_eq!(keys("se-ser"), with(&["cascade", "lambda_se", "mask_prob", "pretrain_epochs"]));
        assert_eq!(keys("se-then-ser"), with(&["epochs", "mask_prob", "se_epochs"]));
        let reads_frames: Vec<&str> = KINDS.iter().filter(|k| k.needs().frames).map(|k| k.name()).collect();
        assert_eq!(reads_frames, ["ser-seq", "se-ser", "se-then-ser"]);
        // Only the adapting kinds read the target, and `transductive` adds its test split.
        let adapting: Vec<&str> = KINDS.iter().filter(|k| k.needs().unlabeled_target).map(|k| k.name()).collect();
        assert_eq!(adapting, ["emo-dna", "dann", "mmd"]);
        let mut spec = ModelSpec::default_of(kind("dann").unwrap());
        assert_eq!(spec.adaptation_splits(), Some(&["train"][..]));
        spec.params["transductive"] = serde_json::json!(true);
        assert_eq!(spec.adaptation_splits(), Some(&["train", "test"][..]));
        assert_eq!(ModelSpec::default_of(kind("mlp").unwrap()).adaptation_splits(), None);
        assert!(!keys("mlp").contains(&"seeds".to_string()));
        // A loss weight of EDRL moves EDRL's key only.
        let edrl_kind = kind("edrl").unwrap();
        let mut changed = ModelSpec::default_of(edrl_kind);
        changed.params["loss_recon"] = serde_json::json!(2.0);
        assert_ne!(changed.key_params(), ModelSpec::default_of(edrl_kind).key_params());
    }
}
