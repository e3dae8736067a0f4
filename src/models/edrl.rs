//! `edrl`: emotion-disentangled encoders ([`nets::edrl`](super::nets::edrl)); their own classification
//! head predicts.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::common::Schedule;
use super::nets::edrl::{self, LossWeights, Settings};
use super::{Fit, Kind, ModelCard, Needs, TrainData, Trained};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdrlConfig {
    /// Hidden width of every encoder and of the decoder.
    #[serde(default = "default_encoder_hidden")]
    pub encoder_hidden: usize,
    /// Size of each class-specific code and of the shared code.
    #[serde(default = "default_code_dim")]
    pub code_dim: usize,
    /// Loss weights: reconstruction, difference (shared vs class code), similarity (class-free shared code).
    #[serde(default = "default_one")]
    pub loss_recon: f64,
    #[serde(default = "default_tenth")]
    pub loss_diff: f64,
    #[serde(default = "default_tenth")]
    pub loss_sim: f64,
    #[serde(flatten)]
    pub schedule: Schedule,
}

impl Default for EdrlConfig {
    fn default() -> Self {
        EdrlConfig {
            encoder_hidden: default_encoder_hidden(),
            code_dim: default_code_dim(),
            loss_recon: default_one(),
            loss_diff: default_tenth(),
            loss_sim: default_tenth(),
            schedule: Schedule::default(),
        }
    }
}

impl EdrlConfig {
    pub fn settings(&self) -> Settings {
        Settings {
            encoder_hidden: self.encoder_hidden,
            code_dim: self.code_dim,
            loss: LossWeights { recon: self.loss_recon, diff: self.loss_diff, sim: self.loss_sim },
            schedule: self.schedule.clone(),
        }
    }

    pub fn check(&self) -> Result<(), (&'static str, String)> {
        self.schedule.check()?;
        if self.code_dim == 0 || self.encoder_hidden == 0 {
            return Err(("kind", "code_dim and encoder_hidden must be ≥ 1".into()));
        }
        Ok(())
    }
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

pub struct Edrl;

impl Trained for edrl::Edrl {
    fn predict_proba(&self, x: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f32>>> {
        edrl::Edrl::predict_proba(self, x)
    }
    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        edrl::Edrl::save(self, &dir.join("edrl.safetensors"))
    }
}

impl Kind for Edrl {
    type Config = EdrlConfig;
    const NAME: &'static str = "edrl";
    const NEEDS: Needs = Needs::SUPERVISED;

    fn check(cfg: &EdrlConfig) -> Result<(), (&'static str, String)> {
        cfg.check()
    }

    fn fit(cfg: &EdrlConfig, seed: u64, d: &TrainData) -> anyhow::Result<(Box<dyn Trained>, Fit)> {
        let (m, log) = edrl::train(&cfg.settings(), seed, d.x, d.y, d.dev_x, d.dev_y, d.classes.len())?;
        Ok((Box::new(m), Fit::of(log)))
    }

    fn load(dir: &Path, card: &ModelCard) -> anyhow::Result<Box<dyn Trained>> {
        Ok(Box::new(edrl::Edrl::load(&dir.join("edrl.safetensors"), card.classes.len())?))
    }
}
