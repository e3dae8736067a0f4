//! `se-then-ser`: the cascade baseline. An enhancement network (encoder + mask head, L1 to the clean
//! log1p magnitude, masked-frame input) is trained first; then a separate emotion network reads its
//! enhanced magnitudes, with the enhancer fixed.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::nets::seq::{self, Heads, Phase, SeqNet, SeqOptions};
use super::se_ser::{check_mask, default_mask};
use super::ser_seq::sets;
use super::{Fit, Kind, ModelCard, Needs, SeqExample, TrainData, Trained};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeThenSerConfig {
    #[serde(flatten)]
    pub net: SeqOptions,
    /// Epochs of the enhancement network.
    #[serde(default = "default_se_epochs")]
    pub se_epochs: usize,
    /// Epochs of the emotion network on enhanced input.
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Fraction of input frames masked while training the enhancer.
    #[serde(default = "default_mask")]
    pub mask_prob: f64,
}

impl Default for SeThenSerConfig {
    fn default() -> Self {
        SeThenSerConfig {
            net: SeqOptions::default(),
            se_epochs: default_se_epochs(),
            epochs: default_epochs(),
            mask_prob: default_mask(),
        }
    }
}

fn default_se_epochs() -> usize {
    5
}
fn default_epochs() -> usize {
    8
}

const SE: Heads = Heads { enhance: true, emotion: false };
const SER: Heads = Heads { enhance: false, emotion: true };

struct Cascade {
    se: SeqNet,
    ser: SeqNet,
}

impl Trained for Cascade {
    fn predict_proba(&self, _x: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f32>>> {
        anyhow::bail!("a sequence model reads frame sequences, not feature vectors")
    }
    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let mut map = HashMap::new();
        self.se.insert_tensors(&mut map, "se.");
        self.ser.insert_tensors(&mut map, "ser.");
        seq::save(&map, &dir.join("model.safetensors"))
    }
    fn predict_sequence(&self, frames: &[Vec<f32>]) -> anyhow::Result<Vec<f32>> {
        self.ser.classify_one(&self.se.enhance_one(frames)?)
    }
    fn enhance(&self, frames: &[Vec<f32>]) -> anyhow::Result<Option<Vec<Vec<f32>>>> {
        Ok(Some(self.se.enhance_one(frames)?))
    }
}

pub struct SeThenSer;

impl Kind for SeThenSer {
    type Config = SeThenSerConfig;
    const NAME: &'static str = "se-then-ser";
    const NEEDS: Needs = Needs::ENHANCING;

    fn check(cfg: &SeThenSerConfig) -> Result<(), (&'static str, String)> {
        if cfg.epochs == 0 || cfg.se_epochs == 0 {
            return Err(("epochs", "epochs and se_epochs must be ≥ 1".into()));
        }
        check_mask(cfg.mask_prob)?;
        cfg.net.check()
    }

    fn fit(cfg: &SeThenSerConfig, seed: u64, d: &TrainData) -> anyhow::Result<(Box<dyn Trained>, Fit)> {
        let s = sets(d)?;
        let classes = d.classes.len();
        let stats = seq::input_stats(s.train)?;
        let bins = stats.0.len();
        let se = SeqNet::init(&cfg.net, SE, bins, classes, stats.clone(), seed)?;
        let enhance = [Phase {
            name: "enhance",
            epochs: cfg.se_epochs,
            trainable_from: 0,
            se_weight: 1.0,
            emotion: false,
            mask_prob: cfg.mask_prob,
        }];
        let (_, mut phases) =
            seq::train_phases(&se, &enhance, &cfg.net, seed, s.train, s.dev, classes, &seq::identity)?;
        let ser = SeqNet::init(&cfg.net, SER, bins, classes, stats, seed.wrapping_add(1))?;
        let prepare = |e: SeqExample| -> anyhow::Result<SeqExample> {
            Ok(SeqExample { noisy: se.enhance_one(&e.noisy)?, clean: e.clean })
        };
        let classify = [Phase {
            name: "classify",
            epochs: cfg.epochs,
            trainable_from: 0,
            se_weight: 0.0,
            emotion: true,
            mask_prob: 0.0,
        }];
        let (log, more) = seq::train_phases(&ser, &classify, &cfg.net, seed, s.train, s.dev, classes, &prepare)?;
        phases.extend(more);
        let log = log.ok_or_else(|| anyhow::anyhow!("no emotion epoch ran"))?;
        Ok((Box::new(Cascade { se, ser }), Fit { phases: Some(phases), ..Fit::of(log) }))
    }

    fn load(dir: &Path, card: &ModelCard) -> anyhow::Result<Box<dyn Trained>> {
        let cfg: SeThenSerConfig = serde_json::from_value(card.config.clone())?;
        let map = seq::load(&dir.join("model.safetensors"))?;
        let n = card.classes.len();
        Ok(Box::new(Cascade {
            se: SeqNet::from_tensors(&cfg.net, SE, n, &map, "se.")?,
            ser: SeqNet::from_tensors(&cfg.net, SER, n, &map, "ser.")?,
        }))
    }
}
