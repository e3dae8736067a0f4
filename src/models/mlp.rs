//! `mlp`: a multilayer perceptron on the features ([`nets::mlp`](super::nets::mlp)).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::common::Schedule;
use super::nets::mlp;
use super::{Fit, Kind, ModelCard, Needs, TrainData, Trained};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Hidden layer widths.
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    #[serde(flatten)]
    pub schedule: Schedule,
}

impl Default for MlpConfig {
    fn default() -> Self {
        MlpConfig { hidden: default_hidden(), schedule: Schedule::default() }
    }
}

fn default_hidden() -> Vec<usize> {
    vec![128]
}

pub struct Mlp;

impl Trained for mlp::Mlp {
    fn predict_proba(&self, x: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f32>>> {
        mlp::Mlp::predict_proba(self, x)
    }
    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        mlp::Mlp::save(self, &dir.join("model.safetensors"))
    }
}

impl Kind for Mlp {
    type Config = MlpConfig;
    const NAME: &'static str = "mlp";
    const NEEDS: Needs = Needs::SUPERVISED;

    fn check(cfg: &MlpConfig) -> Result<(), (&'static str, String)> {
        cfg.schedule.check()
    }

    fn fit(cfg: &MlpConfig, seed: u64, d: &TrainData) -> anyhow::Result<(Box<dyn Trained>, Fit)> {
        let (m, log) = mlp::train(&cfg.hidden, &cfg.schedule, seed, d.x, d.y, d.dev_x, d.dev_y, d.classes.len())?;
        Ok((Box::new(m), Fit::of(log)))
    }

    fn load(dir: &Path, _card: &ModelCard) -> anyhow::Result<Box<dyn Trained>> {
        Ok(Box::new(mlp::Mlp::load(&dir.join("model.safetensors"))?))
    }
}
