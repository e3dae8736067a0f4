//! `dann`: domain-adversarial training (Ganin & Lempitsky 2015) of an MLP towards the unlabeled target
//! corpus ([`nets::da_mlp`](super::nets::da_mlp)): source cross-entropy + a domain discriminator on the
//! last hidden layer behind gradient reversal. A baseline for `emo-dna`; source-only is `mlp`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::common::Schedule;
use super::nets::{da_mlp, mlp};
use super::{AdaptOptions, Fit, Kind, ModelCard, Needs, TrainData, Trained};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DannConfig {
    /// Hidden layer widths; the discriminator reads the last one.
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    /// Hidden width of the domain discriminator.
    #[serde(default = "default_disc_hidden")]
    pub disc_hidden: usize,
    /// Weight of the discriminator's cross-entropy.
    #[serde(default = "default_one")]
    pub loss_domain: f64,
    #[serde(flatten)]
    pub adapt: AdaptOptions,
    #[serde(flatten)]
    pub schedule: Schedule,
}

impl Default for DannConfig {
    fn default() -> Self {
        DannConfig {
            hidden: default_hidden(),
            disc_hidden: default_disc_hidden(),
            loss_domain: default_one(),
            adapt: AdaptOptions::default(),
            schedule: Schedule::default(),
        }
    }
}

fn default_hidden() -> Vec<usize> {
    vec![128]
}
fn default_disc_hidden() -> usize {
    64
}
fn default_one() -> f64 {
    1.0
}

pub struct Dann;

impl Kind for Dann {
    type Config = DannConfig;
    const NAME: &'static str = "dann";
    const NEEDS: Needs = Needs::ADAPTING;

    fn check(cfg: &DannConfig) -> Result<(), (&'static str, String)> {
        cfg.schedule.check()?;
        if cfg.hidden.is_empty() || cfg.hidden.contains(&0) || cfg.disc_hidden == 0 {
            return Err(("hidden", "hidden needs at least one layer and every width ≥ 1 (disc_hidden too)".into()));
        }
        Ok(())
    }

    fn fit(cfg: &DannConfig, seed: u64, d: &TrainData) -> anyhow::Result<(Box<dyn Trained>, Fit)> {
        let alignment = da_mlp::Alignment::Adversarial { weight: cfg.loss_domain, hidden: cfg.disc_hidden };
        let s = da_mlp::Settings { hidden: &cfg.hidden, alignment, schedule: &cfg.schedule };
        let (m, log) = da_mlp::train(&s, seed, d)?;
        Ok((Box::new(m), Fit::of(log)))
    }

    fn load(dir: &Path, _card: &ModelCard) -> anyhow::Result<Box<dyn Trained>> {
        Ok(Box::new(mlp::Mlp::load(&dir.join("model.safetensors"))?))
    }
}
