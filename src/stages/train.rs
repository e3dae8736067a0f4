//! `train/<model>/<train corpora>/seedN`: one model fitted on the clean features of its source
//! corpora's train split (dev split for model selection), written as a checkpoint folder
//! (safetensors + model.json) that `eval` and `sertool predict` load.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::features::read_features;
use super::manifest::read_labels;
use super::{read_json, write_json, Work};
use crate::audio::AudioIn;
use crate::config::Pipeline;
use crate::engine::{StageCtx, StageSpec};
use crate::error::Fault;
use crate::features::FeatureSpec;
use crate::models::{ModelCard, ModelSpec, Standardizer, TrainData};

pub const KIND: &str = "train";
const VERSION: u32 = 2;

#[derive(Serialize, Deserialize)]
pub struct Job {
    model: ModelSpec,
    seed: u64,
    classes: Vec<String>,
    /// Recorded in the model card, so `sertool predict` computes exactly what training saw.
    features: FeatureSpec,
    audio: AudioIn,
    channels: String,
}

/// The stage of `model` (named `name`) on the corpora `train` (joined with `+`) and `seed`, reading
/// their `manifests` and clean `features` shards.
pub fn spec(
    p: &Pipeline,
    name: &str,
    train: &str,
    seed: u64,
    manifests: &[usize],
    features: &[usize],
    audio: AudioIn,
) -> anyhow::Result<StageSpec> {
    let cfg = &p.models[name];
    let mut deps: Vec<(&'static str, usize)> = manifests.iter().map(|&m| ("manifests", m)).collect();
    deps.extend(features.iter().map(|&f| ("features", f)));
    Ok(StageSpec {
        id: format!("train/{name}/{train}/seed{seed}"),
        kind: KIND,
        version: VERSION,
        params: json!({ "model": cfg.key_params(), "seed": seed, "classes": p.labels.classes }),
        inputs: BTreeMap::new(),
        deps,
        job: Box::new(Job {
            model: cfg.clone(),
            seed,
            classes: p.labels.classes.clone(),
            features: p.features.clone(),
            audio,
            channels: p.pipeline.channels.clone(),
        }),
    })
}

impl Work for Job {
    fn run(&self, ctx: &StageCtx) -> anyhow::Result<Vec<Fault>> {
        let (cfg, classes) = (&self.model, &self.classes);
        let mut labels = HashMap::new();
        for d in ctx.inputs("manifests") {
            labels.extend(read_labels(d)?);
        }
        let feats = read_features(ctx.inputs("features"))?;
        let class_idx: HashMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        let (mut x, mut y, mut dx, mut dy) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (id, v) in feats {
            let Some((label, split)) = labels.get(&id) else { continue };
            let c = super::class_index(&class_idx, label, classes)?;
            match split.as_str() {
                "train" => {
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
        // Model kernels run on this stage's thread: the stage scheduler already fills the cores.
        let blocks = crate::features::blocks(&self.features);
        let data = TrainData { x: &xs, y: &y, dev_x: &dxs, dev_y: &dy, classes, feature_blocks: &blocks };
        let (model, fit) = crate::models::fit(cfg, self.seed, &data)?;
        model.save(&ctx.out)?;
        let card = ModelCard {
            kind: cfg.kind_name().to_string(),
            classes: classes.to_vec(),
            config: cfg.key_params(),
            features: self.features.clone(),
            sample_rate_hz: self.audio.rate,
            channels: self.channels.clone(),
            input_dim: x[0].len(),
            standardizer: std,
            train_utterances: x.len(),
            dev_utterances: dx.len(),
            log: fit.log,
            encoder_log: fit.encoder_log,
            block_importance: fit.block_importance,
        };
        write_json(&ctx.out.join("model.json"), &card)?;
        Ok(Vec::new())
    }
}

/// The model card (model.json) of a train entry.
pub fn read_card(dir: &Path) -> anyhow::Result<ModelCard> {
    read_json(&dir.join("model.json"))
}
