//! `ser-seq`: the sequence encoder and emotion head of `se-ser` without the enhancement head, trained
//! in one phase with everything unfrozen: the SE+SER paper's "original baseline" (trained
//! multi-condition when `train_conditions` says so).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::nets::seq::{self, Heads, Phase, SeqNet, SeqOptions};
use super::{Fit, Kind, ModelCard, Needs, TrainData, Trained};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SerSeqConfig {
    #[serde(flatten)]
    pub net: SeqOptions,
    #[serde(default = "default_epochs")]
    pub epochs: usize,
}

impl Default for SerSeqConfig {
    fn default() -> Self {
        SerSeqConfig { net: SeqOptions::default(), epochs: default_epochs() }
    }
}

fn default_epochs() -> usize {
    8
}

/// A trained sequence network behind the model seam (the single-network kinds).
pub struct SeqModel(pub SeqNet);

impl Trained for SeqModel {
    fn predict_proba(&self, _x: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f32>>> {
        anyhow::bail!("a sequence model reads frame sequences, not feature vectors")
    }
    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let mut map = HashMap::new();
        self.0.insert_tensors(&mut map, "");
        seq::save(&map, &dir.join("model.safetensors"))
    }
    fn predict_sequence(&self, frames: &[Vec<f32>]) -> anyhow::Result<Vec<f32>> {
        self.0.classify_one(frames)
    }
    fn enhance(&self, frames: &[Vec<f32>]) -> anyhow::Result<Option<Vec<Vec<f32>>>> {
        Ok(if self.0.has_enhancer() { Some(self.0.enhance_one(frames)?) } else { None })
    }
}

/// The sets of a sequence kind's training data, or why there are none.
pub(crate) fn sets<'a>(d: &TrainData<'a>) -> anyhow::Result<super::Sequences<'a>> {
    d.sequences.ok_or_else(|| anyhow::anyhow!("a sequence kind was handed feature vectors"))
}

/// Load a single-network checkpoint saved by [`SeqModel`].
pub(crate) fn load_single(dir: &Path, card: &ModelCard, o: &SeqOptions, heads: Heads) -> anyhow::Result<SeqModel> {
    let map = seq::load(&dir.join("model.safetensors"))?;
    Ok(SeqModel(SeqNet::from_tensors(o, heads, card.classes.len(), &map, "")?))
}

pub struct SerSeq;

const HEADS: Heads = Heads { enhance: false, emotion: true };

impl Kind for SerSeq {
    type Config = SerSeqConfig;
    const NAME: &'static str = "ser-seq";
    const NEEDS: Needs = Needs::SEQUENCES;

    fn check(cfg: &SerSeqConfig) -> Result<(), (&'static str, String)> {
        if cfg.epochs == 0 {
            return Err(("epochs", "epochs must be ≥ 1".into()));
        }
        cfg.net.check()
    }

    fn fit(cfg: &SerSeqConfig, seed: u64, d: &TrainData) -> anyhow::Result<(Box<dyn Trained>, Fit)> {
        let s = sets(d)?;
        let stats = seq::input_stats(s.train)?;
        let net = SeqNet::init(&cfg.net, HEADS, stats.0.len(), d.classes.len(), stats, seed)?;
        let phases = [Phase {
            name: "train",
            epochs: cfg.epochs,
            trainable_from: 0,
            se_weight: 0.0,
            emotion: true,
            mask_prob: 0.0,
        }];
        let (log, phases) =
            seq::train_phases(&net, &phases, &cfg.net, seed, s.train, s.dev, d.classes.len(), &seq::identity)?;
        let log = log.ok_or_else(|| anyhow::anyhow!("no emotion epoch ran"))?;
        Ok((Box::new(SeqModel(net)), Fit { phases: Some(phases), ..Fit::of(log) }))
    }

    fn load(dir: &Path, card: &ModelCard) -> anyhow::Result<Box<dyn Trained>> {
        let cfg: SerSeqConfig = serde_json::from_value(card.config.clone())?;
        Ok(Box::new(load_single(dir, card, &cfg.net, HEADS)?))
    }
}
