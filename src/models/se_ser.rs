//! `se-ser`: speech enhancement and emotion recognition on one shared encoder (the SE+SER paper,
//! method.md §5). The encoder and enhancement head are first pre-trained to reconstruct clean log1p
//! magnitudes from noisy input with a fraction of its frames masked (our stand-in for SSL
//! pre-training), then trained on CE + λ·L1 with **cascade unfreezing**: heads only (encoder frozen),
//! then the top block too, then everything.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::nets::seq::{self, Heads, Phase, SeqNet, SeqOptions};
use super::ser_seq::{load_single, sets, SeqModel};
use super::{Fit, Kind, ModelCard, Needs, TrainData, Trained};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeSerConfig {
    #[serde(flatten)]
    pub net: SeqOptions,
    /// Epochs of enhancement + masked-frame pre-training of the encoder.
    #[serde(default = "default_pretrain")]
    pub pretrain_epochs: usize,
    /// Cascade unfreezing: epochs with the encoder frozen, with its top block trainable, with all of it.
    #[serde(default = "default_cascade")]
    pub cascade: Vec<usize>,
    /// λ, the weight of the L1 enhancement loss beside the emotion cross-entropy.
    #[serde(default = "default_lambda")]
    pub lambda_se: f64,
    /// Fraction of input frames masked during pre-training.
    #[serde(default = "default_mask")]
    pub mask_prob: f64,
}

impl Default for SeSerConfig {
    fn default() -> Self {
        SeSerConfig {
            net: SeqOptions::default(),
            pretrain_epochs: default_pretrain(),
            cascade: default_cascade(),
            lambda_se: default_lambda(),
            mask_prob: default_mask(),
        }
    }
}

fn default_pretrain() -> usize {
    3
}
fn default_cascade() -> Vec<usize> {
    vec![2, 2, 4]
}
fn default_lambda() -> f64 {
    1.0
}
pub(crate) fn default_mask() -> f64 {
    0.15
}

pub(crate) fn check_mask(p: f64) -> Result<(), (&'static str, String)> {
    if !(0.0..1.0).contains(&p) {
        return Err(("mask_prob", format!("mask_prob = {p} (expected 0 ≤ p < 1)")));
    }
    Ok(())
}

pub struct SeSer;

const HEADS: Heads = Heads { enhance: true, emotion: true };

impl Kind for SeSer {
    type Config = SeSerConfig;
    const NAME: &'static str = "se-ser";
    const NEEDS: Needs = Needs::ENHANCING;

    fn check(cfg: &SeSerConfig) -> Result<(), (&'static str, String)> {
        if cfg.cascade.len() != 3 || cfg.cascade.iter().sum::<usize>() == 0 {
            return Err((
                "cascade",
                format!(
                    "cascade = {:?} (expected three epoch counts, frozen / top block / all, not all 0)",
                    cfg.cascade
                ),
            ));
        }
        if cfg.lambda_se.is_nan() || cfg.lambda_se < 0.0 {
            return Err(("lambda_se", format!("lambda_se = {} (expected ≥ 0)", cfg.lambda_se)));
        }
        check_mask(cfg.mask_prob)?;
        cfg.net.check()
    }

    fn fit(cfg: &SeSerConfig, seed: u64, d: &TrainData) -> anyhow::Result<(Box<dyn Trained>, Fit)> {
        let s = sets(d)?;
        let stats = seq::input_stats(s.train)?;
        let net = SeqNet::init(&cfg.net, HEADS, stats.0.len(), d.classes.len(), stats, seed)?;
        let layers = cfg.net.layers;
        let tuned = |name, epochs, trainable_from| Phase {
            name,
            epochs,
            trainable_from,
            se_weight: cfg.lambda_se,
            emotion: true,
            mask_prob: 0.0,
        };
        let phases = [
            Phase {
                name: "pretrain",
                epochs: cfg.pretrain_epochs,
                trainable_from: 0,
                se_weight: 1.0,
                emotion: false,
                mask_prob: cfg.mask_prob,
            },
            tuned("frozen", cfg.cascade[0], layers + 1),
            tuned("top", cfg.cascade[1], layers),
            tuned("all", cfg.cascade[2], 0),
        ];
        let (log, phases) =
            seq::train_phases(&net, &phases, &cfg.net, seed, s.train, s.dev, d.classes.len(), &seq::identity)?;
        let log = log.ok_or_else(|| anyhow::anyhow!("no emotion epoch ran"))?;
        Ok((Box::new(SeqModel(net)), Fit { phases: Some(phases), ..Fit::of(log) }))
    }

    fn load(dir: &Path, card: &ModelCard) -> anyhow::Result<Box<dyn Trained>> {
        let cfg: SeSerConfig = serde_json::from_value(card.config.clone())?;
        Ok(Box::new(load_single(dir, card, &cfg.net, HEADS)?))
    }
}
