//! `train/<model>/<train corpora>[/to-<target>]/seedN`: one model fitted on the clean features of its
//! source corpora's train split (dev split for model selection), written as a checkpoint folder
//! (safetensors + model.json) that `eval` and `sertool predict` load. A domain-adaptation kind also reads
//! the input "target": features of the target corpus's adaptation splits, which carry no labels (the
//! target's manifest is never an input), and kinds that pseudo-label write pseudo_labels.json.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::features::read_features;
use super::manifest::read_labels;
use super::sequences::{self, AudioSet, SeqSources};
use super::{read_json, write_json, Work};
use crate::audio::AudioIn;
use crate::config::Pipeline;
use crate::engine::{StageCtx, StageSpec};
use crate::error::Fault;
use crate::features::FeatureSpec;
use crate::models::{
    AdaptationCard, EpochLabels, Fit, ModelCard, ModelSpec, SequenceSet, Sequences, Standardizer, TrainData,
};
use crate::records::TrainInfo;

pub const KIND: &str = "train";
const VERSION: u32 = 3;

#[derive(Serialize, Deserialize)]
pub struct Job {
    model: ModelSpec,
    seed: u64,
    classes: Vec<String>,
    /// Recorded in the model card, so `sertool predict` computes exactly what training saw.
    features: FeatureSpec,
    audio: AudioIn,
    channels: String,
    /// The source corpora, in the order of the corpus classifier's classes.
    sources: Vec<String>,
    /// The corpus adapted to and the splits of its audio the input "target" holds.
    target: Option<(String, Vec<String>)>,
    /// For a sequence kind: where its examples come from (the inputs "recipes" hold the mixtures).
    sequences: Option<SeqSources>,
}

/// What a train stage reads: the sources' manifests and clean feature shards, and for an adapted model
/// the target's unlabeled feature shards.
pub struct TrainInputs<'a> {
    pub sources: &'a [String],
    pub manifests: Vec<usize>,
    pub features: Vec<usize>,
    pub target: Vec<usize>,
    /// For a sequence kind: its sources and the mix stages of its noisy train conditions, in order.
    pub sequences: Option<(SeqSources, Vec<usize>)>,
}

/// The stage of `t` (its model named in `p.models`), reading `inputs`.
pub fn spec(p: &Pipeline, t: &TrainInfo, inputs: TrainInputs, audio: AudioIn) -> anyhow::Result<StageSpec> {
    let cfg = &p.models[&t.model];
    let mut deps: Vec<(&'static str, usize)> = inputs.manifests.iter().map(|&m| ("manifests", m)).collect();
    deps.extend(inputs.features.iter().map(|&f| ("features", f)));
    deps.extend(inputs.target.iter().map(|&f| ("target", f)));
    let sequences = inputs.sequences.map(|(src, recipes)| {
        deps.extend(recipes.iter().map(|&m| ("recipes", m)));
        src
    });
    let splits = cfg.adaptation_splits().unwrap_or_default().iter().map(|s| s.to_string()).collect();
    Ok(StageSpec {
        id: format!("train/{}", t.path()),
        kind: KIND,
        version: VERSION,
        params: json!({ "model": cfg.key_params(), "seed": t.seed, "classes": p.labels.classes }),
        inputs: BTreeMap::new(),
        deps,
        job: Box::new(Job {
            model: cfg.clone(),
            seed: t.seed,
            classes: p.labels.classes.clone(),
            features: p.features_of(&t.model).clone(),
            audio,
            channels: p.pipeline.channels.clone(),
            // Sorted: the corpus classifier's class order must not depend on how the experiment lists
            // its sources, since the key does not (its inputs are keyed by stage id).
            sources: {
                let mut s = inputs.sources.to_vec();
                s.sort();
                s
            },
            target: t.target.clone().map(|c| (c, splits)),
            sequences,
        }),
    })
}

impl Work for Job {
    fn run(&self, ctx: &StageCtx) -> anyhow::Result<Vec<Fault>> {
        if let Some(src) = &self.sequences {
            return self.run_sequences(ctx, src);
        }
        let (cfg, classes) = (&self.model, &self.classes);
        let mut labels = HashMap::new();
        for d in ctx.inputs("manifests") {
            labels.extend(read_labels(d)?);
        }
        let feats = read_features(ctx.inputs("features"))?;
        let class_idx: HashMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        let source_idx: HashMap<&str, usize> = self.sources.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        let (mut x, mut y, mut dx, mut dy, mut corpus) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (id, v) in feats {
            let Some((label, split)) = labels.get(&id) else { continue };
            let c = super::class_index(&class_idx, label, classes)?;
            match split.as_str() {
                "train" => {
                    let name = super::corpus_of(&id);
                    let Some(&source) = source_idx.get(name) else {
                        anyhow::bail!("utterance {id} is of corpus {name}, not one of the sources {:?}", self.sources)
                    };
                    corpus.push(source);
                    x.push(v);
                    y.push(c);
                }
                "dev" => {
                    dx.push(v);
                    dy.push(c);
                }
                _ => {}
            }
        }
        anyhow::ensure!(!x.is_empty(), "no training utterances with features (check the corpora and the label map)");
        let std = Standardizer::fit(&x);
        let (xs, dxs) = (std.apply(&x), std.apply(&dx));
        // The target's rows (ids and features only), z-scored with the source statistics as eval will.
        let (target_ids, target_x): (Vec<String>, Vec<Vec<f32>>) = match &self.target {
            Some((t, _)) => {
                let rows = read_features(ctx.inputs("target"))?;
                anyhow::ensure!(!rows.is_empty(), "no features of the target corpus {t} to adapt on");
                let (ids, v): (Vec<String>, Vec<Vec<f32>>) = rows.into_iter().unzip();
                (ids, std.apply(&v))
            }
            None => Default::default(),
        };
        let mut corpora = self.sources.clone();
        corpora.extend(self.target.iter().map(|(t, _)| t.clone()));
        // Model kernels run on this stage's thread: the stage scheduler already fills the cores.
        let blocks = crate::features::blocks(&self.features);
        let data = TrainData {
            x: &xs,
            y: &y,
            dev_x: &dxs,
            dev_y: &dy,
            classes,
            feature_blocks: &blocks,
            corpus: &corpus,
            corpora: &corpora,
            target_x: &target_x,
            sequences: None,
        };
        let (model, fit) = crate::models::fit(cfg, self.seed, &data)?;
        model.save(&ctx.out)?;
        let adaptation = self.target.as_ref().map(|(t, splits)| AdaptationCard {
            target: t.clone(),
            splits: splits.clone(),
            target_utterances: target_x.len(),
            passed_per_epoch: fit
                .pseudo_labels
                .iter()
                .flat_map(|l| &l.epochs)
                .map(|e| e.labels.iter().flatten().count())
                .collect(),
        });
        if let Some(log) = &fit.pseudo_labels {
            let doc = PseudoLabels { classes: classes.clone(), ids: target_ids, epochs: log.epochs.clone() };
            write_json(&ctx.out.join("pseudo_labels.json"), &doc)?;
        }
        let card = ModelCard { adaptation, ..self.card(fit, x[0].len(), std, (x.len(), dx.len())) };
        write_json(&ctx.out.join("model.json"), &card)?;
        Ok(Vec::new())
    }
}

impl Job {
    /// The model card (model.json) of what this job trained: (train, dev) utterance counts; no
    /// adaptation (the caller adds it).
    fn card(&self, fit: Fit, input_dim: usize, standardizer: Standardizer, counts: (usize, usize)) -> ModelCard {
        ModelCard {
            kind: self.model.kind_name().to_string(),
            classes: self.classes.clone(),
            config: self.model.key_params(),
            features: self.features.clone(),
            sample_rate_hz: self.audio.rate,
            channels: self.channels.clone(),
            input_dim,
            standardizer,
            train_utterances: counts.0,
            dev_utterances: counts.1,
            log: fit.log,
            encoder_log: fit.encoder_log,
            block_importance: fit.block_importance,
            adaptation: None,
            phases: fit.phases,
        }
    }

    /// A sequence kind: its train and dev examples are computed batch by batch from the audio and the
    /// recipes of its train conditions (no feature shard is an input: feature settings do not move it).
    fn run_sequences(&self, ctx: &StageCtx, src: &SeqSources) -> anyhow::Result<Vec<Fault>> {
        let (cfg, classes) = (&self.model, &self.classes);
        let rows = sequences::read_rows(ctx.inputs("manifests"), &src.roots)?;
        let class_idx: HashMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        let recipes = ctx.inputs("recipes");
        let set = |split| AudioSet::new(src, &rows, split, recipes, &class_idx, classes, self.audio);
        let ((train, mut faults), (dev, more)) = (set("train")?, set("dev")?);
        faults.extend(more);
        anyhow::ensure!(!train.is_empty(), "no training utterances with audio (check the corpora and the label map)");
        let data = TrainData {
            x: &[],
            y: &[],
            dev_x: &[],
            dev_y: &[],
            classes,
            feature_blocks: &[],
            corpus: &[],
            corpora: &self.sources,
            target_x: &[],
            sequences: Some(Sequences { train: &train, dev: &dev }),
        };
        let (model, fit) = crate::models::fit(cfg, self.seed, &data)?;
        model.save(&ctx.out)?;
        let std = Standardizer { mean: Vec::new(), std: Vec::new() };
        let card = self.card(fit, train.stft().bins(), std, (train.len(), dev.len()));
        write_json(&ctx.out.join("model.json"), &card)?;
        Ok(faults)
    }
}

/// A pseudo-labelling kind's target labels after every epoch (pseudo_labels.json): for diagnosis only,
/// the report scores them against the target's held labels.
#[derive(Serialize, Deserialize)]
pub struct PseudoLabels {
    pub classes: Vec<String>,
    /// Target utterance ids, in the order of every epoch's labels.
    pub ids: Vec<String>,
    pub epochs: Vec<EpochLabels>,
}

/// The pseudo-labels of a train entry, None for models that make none.
pub fn read_pseudo_labels(dir: &Path) -> anyhow::Result<Option<PseudoLabels>> {
    let path = dir.join("pseudo_labels.json");
    if !path.exists() {
        return Ok(None);
    }
    read_json(&path).map(Some)
}

/// The model card (model.json) of a train entry.
pub fn read_card(dir: &Path) -> anyhow::Result<ModelCard> {
    read_json(&dir.join("model.json"))
}
