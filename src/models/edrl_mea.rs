//! `edrl-mea`, the full method (method.md): EDRL, then MB-PLS on its codes (one block per encoder), then a
//! classifier on the embedding. Its options are `edrl`'s and `mbpls`'s MB-PLS and classifier ones; the
//! classifier shares EDRL's batch size, weight decay, schedule and patience.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::common::Schedule;
use super::edrl::EdrlConfig;
use super::mbpls::check_mea;
use super::nets::edrl;
use super::nets::mea::{Mea, MeaConfig};
use super::{Fit, Kind, ModelCard, Needs, TrainData, Trained};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EdrlMeaConfig {
    #[serde(flatten)]
    pub edrl: EdrlConfig,
    #[serde(flatten)]
    pub mea: MeaConfig,
}

impl EdrlMeaConfig {
    /// The classifier's schedule: EDRL's, with the classifier's epochs and lr.
    fn head(&self) -> Schedule {
        Schedule { epochs: self.mea.classifier_epochs, lr: self.mea.classifier_lr, ..self.edrl.schedule.clone() }
    }
}

pub struct EdrlMea;

impl Kind for EdrlMea {
    type Config = EdrlMeaConfig;
    const NAME: &'static str = "edrl-mea";
    const NEEDS: Needs = Needs::SUPERVISED;

    fn check(cfg: &EdrlMeaConfig) -> Result<(), (&'static str, String)> {
        cfg.edrl.check()?;
        check_mea(&cfg.mea, &cfg.head())
    }

    fn fit(cfg: &EdrlMeaConfig, seed: u64, d: &TrainData) -> anyhow::Result<(Box<dyn Trained>, Fit)> {
        let k = d.classes.len();
        let (e, encoder_log) = edrl::train(&cfg.edrl.settings(), seed, d.x, d.y, d.dev_x, d.dev_y, k)?;
        let z = e.code_dim();
        let mut blocks: Vec<(String, usize)> = d.classes.iter().map(|c| (c.clone(), z)).collect();
        blocks.push(("shared".into(), z));
        let (m, log, importance) =
            Mea::fit(&cfg.mea, &cfg.head(), Some(e), &blocks, seed, (d.x, d.y), (d.dev_x, d.dev_y), k)?;
        Ok((Box::new(m), Fit { encoder_log: Some(encoder_log), block_importance: Some(importance), ..Fit::of(log) }))
    }

    fn load(dir: &Path, card: &ModelCard) -> anyhow::Result<Box<dyn Trained>> {
        let e = edrl::Edrl::load(&dir.join("edrl.safetensors"), card.classes.len())?;
        Ok(Box::new(Mea::load(dir, Some(e))?))
    }
}
