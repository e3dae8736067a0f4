//! `mbpls`: MB-PLS on the raw feature blocks, then a classifier on the embedding
//! ([`nets::mea`](super::nets::mea)): the "without EDRL" ablation of `edrl-mea`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::common::Schedule;
use super::nets::mea::{Mea, MeaConfig};
use super::{Fit, Kind, ModelCard, Needs, TrainData, Trained};

/// The classifier's training knobs besides its epochs and lr (which are `classifier_epochs` and
/// `classifier_lr`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadSchedule {
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    /// "constant" or "cosine".
    #[serde(default = "default_lr_schedule")]
    pub lr_schedule: String,
    /// Stop after this many epochs without a better dev UAR (0: run every epoch).
    #[serde(default)]
    pub patience: usize,
}

impl Default for HeadSchedule {
    fn default() -> Self {
        let s = Schedule::default();
        HeadSchedule { batch_size: s.batch_size, weight_decay: s.weight_decay, lr_schedule: s.lr_schedule, patience: 0 }
    }
}

fn default_batch() -> usize {
    Schedule::default().batch_size
}
fn default_weight_decay() -> f64 {
    Schedule::default().weight_decay
}
fn default_lr_schedule() -> String {
    Schedule::default().lr_schedule
}

impl HeadSchedule {
    /// The classifier's schedule.
    pub fn schedule(&self, mea: &MeaConfig) -> Schedule {
        Schedule {
            epochs: mea.classifier_epochs,
            batch_size: self.batch_size,
            lr: mea.classifier_lr,
            weight_decay: self.weight_decay,
            lr_schedule: self.lr_schedule.clone(),
            patience: self.patience,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MbPlsConfig {
    #[serde(flatten)]
    pub mea: MeaConfig,
    #[serde(flatten)]
    pub head: HeadSchedule,
}

/// The checks of the MB-PLS part and its classifier.
pub fn check_mea(mea: &MeaConfig, head: &Schedule) -> Result<(), (&'static str, String)> {
    if mea.components == 0 || mea.classifier_epochs == 0 {
        return Err(("kind", "components and classifier_epochs must be ≥ 1".into()));
    }
    head.check()
}

pub struct MbPls;

impl Trained for Mea {
    fn predict_proba(&self, x: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f32>>> {
        Mea::predict_proba(self, x)
    }
    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        Mea::save(self, dir)
    }
}

impl Kind for MbPls {
    type Config = MbPlsConfig;
    const NAME: &'static str = "mbpls";
    const NEEDS: Needs = Needs::SUPERVISED;

    fn check(cfg: &MbPlsConfig) -> Result<(), (&'static str, String)> {
        check_mea(&cfg.mea, &cfg.head.schedule(&cfg.mea))
    }

    fn fit(cfg: &MbPlsConfig, seed: u64, d: &TrainData) -> anyhow::Result<(Box<dyn Trained>, Fit)> {
        let blocks = match d.feature_blocks {
            [] => vec![("features".to_string(), d.x[0].len())],
            b => b.to_vec(),
        };
        let head = cfg.head.schedule(&cfg.mea);
        let k = d.classes.len();
        let (m, log, importance) = Mea::fit(&cfg.mea, &head, None, &blocks, seed, (d.x, d.y), (d.dev_x, d.dev_y), k)?;
        Ok((Box::new(m), Fit { block_importance: Some(importance), ..Fit::of(log) }))
    }

    fn load(dir: &Path, _card: &ModelCard) -> anyhow::Result<Box<dyn Trained>> {
        Ok(Box::new(Mea::load(dir, None)?))
    }
}
