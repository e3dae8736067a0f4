//! `mmd`: an MLP trained on the source corpora with its last hidden layer aligned to the unlabeled target
//! corpus's by multi-bandwidth RBF MMD (DAN, Long et al. 2015; [`nets::da_mlp`](super::nets::da_mlp)).
//! A baseline for `emo-dna`; source-only is `mlp`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::common::Schedule;
use super::nets::{da_mlp, mlp};
use super::{AdaptOptions, Fit, Kind, ModelCard, Needs, TrainData, Trained};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MmdConfig {
    /// Hidden layer widths; MMD aligns the last one.
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    /// Weight of the MMD² term.
    #[serde(default = "default_one")]
    pub loss_mmd: f64,
    #[serde(flatten)]
    pub adapt: AdaptOptions,
    #[serde(flatten)]
    pub schedule: Schedule,
}

impl Default for MmdConfig {
    fn default() -> Self {
        MmdConfig {
            hidden: default_hidden(),
            loss_mmd: default_one(),
            adapt: AdaptOptions::default(),
            schedule: Schedule::default(),
        }
    }
}

fn default_hidden() -> Vec<usize> {
    vec![128]
}
fn default_one() -> f64 {
    1.0
}

pub struct Mmd;

impl Kind for Mmd {
    type Config = MmdConfig;
    const NAME: &'static str = "mmd";
    const NEEDS: Needs = Needs::ADAPTING;

    fn check(cfg: &MmdConfig) -> Result<(), (&'static str, String)> {
        cfg.schedule.check()?;
        if cfg.hidden.is_empty() || cfg.hidden.contains(&0) {
            return Err(("hidden", "hidden needs at least one layer and every width ≥ 1".into()));
        }
        Ok(())
    }

    fn fit(cfg: &MmdConfig, seed: u64, d: &TrainData) -> anyhow::Result<(Box<dyn Trained>, Fit)> {
        let alignment = da_mlp::Alignment::Mmd { weight: cfg.loss_mmd };
        let s = da_mlp::Settings { hidden: &cfg.hidden, alignment, schedule: &cfg.schedule };
        let (m, log) = da_mlp::train(&s, seed, d)?;
        Ok((Box::new(m), Fit::of(log)))
    }

    fn load(dir: &Path, _card: &ModelCard) -> anyhow::Result<Box<dyn Trained>> {
        Ok(Box::new(mlp::Mlp::load(&dir.join("model.safetensors"))?))
    }
}
