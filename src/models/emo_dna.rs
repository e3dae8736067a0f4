//! `emo-dna`: emotion decoupling and alignment to the unlabeled target corpus
//! ([`nets::emo_dna`](super::nets::emo_dna); Ye et al., ACM MM 2023, in the standard forms method.md
//! names).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::common::Schedule;
use super::nets::emo_dna::{self, CorpusAlignment, LossWeights, Settings};
use super::{AdaptOptions, Fit, Kind, ModelCard, Needs, TrainData, Trained};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmoDnaConfig {
    /// Width of the shared encoder's hidden layer.
    #[serde(default = "default_encoder_hidden")]
    pub encoder_hidden: usize,
    /// Size of the emotion code z_e and of the corpus code z_c.
    #[serde(default = "default_code_dim")]
    pub code_dim: usize,
    /// Temperature of the supervised-contrastive loss.
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// Source-only epochs before target pseudo-labels, class and corpus alignment join the loss.
    #[serde(default = "default_warmup")]
    pub warmup_epochs: usize,
    /// EMA momentum of the adaptive threshold (per target batch).
    #[serde(default = "default_threshold_momentum")]
    pub threshold_momentum: f64,
    /// EMA momentum of the class centroids (per batch).
    #[serde(default = "default_centroid_momentum")]
    pub centroid_momentum: f64,
    /// Corpus-level alignment of z_e: "mmd" or "adversarial" (a discriminator behind gradient reversal).
    #[serde(default = "default_alignment")]
    pub alignment: String,
    /// Hidden width of the discriminator (alignment = "adversarial").
    #[serde(default = "default_disc_hidden")]
    pub disc_hidden: usize,
    #[serde(default = "default_tenth")]
    pub loss_contrastive: f64,
    #[serde(default = "default_tenth")]
    pub loss_orthogonal: f64,
    #[serde(default = "default_tenth")]
    pub loss_corpus: f64,
    #[serde(default = "default_one")]
    pub loss_class_align: f64,
    #[serde(default = "default_one")]
    pub loss_pseudo: f64,
    #[serde(default = "default_one")]
    pub loss_domain: f64,
    #[serde(flatten)]
    pub adapt: AdaptOptions,
    #[serde(flatten)]
    pub schedule: Schedule,
}

impl Default for EmoDnaConfig {
    fn default() -> Self {
        EmoDnaConfig {
            encoder_hidden: default_encoder_hidden(),
            code_dim: default_code_dim(),
            temperature: default_temperature(),
            warmup_epochs: default_warmup(),
            threshold_momentum: default_threshold_momentum(),
            centroid_momentum: default_centroid_momentum(),
            alignment: default_alignment(),
            disc_hidden: default_disc_hidden(),
            loss_contrastive: default_tenth(),
            loss_orthogonal: default_tenth(),
            loss_corpus: default_tenth(),
            loss_class_align: default_one(),
            loss_pseudo: default_one(),
            loss_domain: default_one(),
            adapt: AdaptOptions::default(),
            schedule: Schedule::default(),
        }
    }
}

fn default_encoder_hidden() -> usize {
    128
}
fn default_code_dim() -> usize {
    32
}
fn default_temperature() -> f64 {
    0.1
}
fn default_warmup() -> usize {
    10
}
fn default_threshold_momentum() -> f64 {
    0.9
}
fn default_centroid_momentum() -> f64 {
    0.7
}
fn default_alignment() -> String {
    "mmd".into()
}
fn default_disc_hidden() -> usize {
    64
}
fn default_tenth() -> f64 {
    0.1
}
fn default_one() -> f64 {
    1.0
}

impl EmoDnaConfig {
    fn settings(&self) -> Settings {
        Settings {
            encoder_hidden: self.encoder_hidden,
            code_dim: self.code_dim,
            temperature: self.temperature,
            warmup_epochs: self.warmup_epochs,
            threshold_momentum: self.threshold_momentum,
            centroid_momentum: self.centroid_momentum,
            alignment: match self.alignment.as_str() {
                "adversarial" => CorpusAlignment::Adversarial(self.disc_hidden),
                _ => CorpusAlignment::Mmd,
            },
            loss: LossWeights {
                contrastive: self.loss_contrastive,
                orthogonal: self.loss_orthogonal,
                corpus: self.loss_corpus,
                class_align: self.loss_class_align,
                pseudo: self.loss_pseudo,
                domain: self.loss_domain,
            },
            schedule: self.schedule.clone(),
        }
    }
}

pub struct EmoDna;

impl Trained for emo_dna::EmoDna {
    fn predict_proba(&self, x: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f32>>> {
        emo_dna::EmoDna::predict_proba(self, x)
    }
    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        emo_dna::EmoDna::save(self, &dir.join("model.safetensors"))
    }
}

impl Kind for EmoDna {
    type Config = EmoDnaConfig;
    const NAME: &'static str = "emo-dna";
    const NEEDS: Needs = Needs::ADAPTING;

    fn check(cfg: &EmoDnaConfig) -> Result<(), (&'static str, String)> {
        cfg.schedule.check()?;
        if !["mmd", "adversarial"].contains(&cfg.alignment.as_str()) {
            return Err(("alignment", format!("alignment = \"{}\" (expected mmd or adversarial)", cfg.alignment)));
        }
        if cfg.encoder_hidden == 0 || cfg.code_dim == 0 || cfg.disc_hidden == 0 {
            return Err(("code_dim", "encoder_hidden, code_dim and disc_hidden must be ≥ 1".into()));
        }
        if cfg.temperature.is_nan() || cfg.temperature <= 0.0 {
            return Err(("temperature", format!("temperature = {} (expected > 0)", cfg.temperature)));
        }
        if cfg.warmup_epochs >= cfg.schedule.epochs {
            return Err((
                "warmup_epochs",
                format!(
                    "warmup_epochs = {} leaves no epoch to adapt in (epochs = {})",
                    cfg.warmup_epochs, cfg.schedule.epochs
                ),
            ));
        }
        for (key, m) in [("threshold_momentum", cfg.threshold_momentum), ("centroid_momentum", cfg.centroid_momentum)] {
            if !(0.0..1.0).contains(&m) {
                return Err((key, format!("{key} = {m} (expected 0 ≤ momentum < 1)")));
            }
        }
        Ok(())
    }

    fn fit(cfg: &EmoDnaConfig, seed: u64, d: &TrainData) -> anyhow::Result<(Box<dyn Trained>, Fit)> {
        let (m, log, pseudo) = emo_dna::train(&cfg.settings(), seed, d)?;
        let mut fit = Fit::of(log);
        fit.pseudo_labels = (!d.target_x.is_empty()).then_some(pseudo);
        Ok((Box::new(m), fit))
    }

    fn load(dir: &Path, _card: &ModelCard) -> anyhow::Result<Box<dyn Trained>> {
        Ok(Box::new(emo_dna::EmoDna::load(&dir.join("model.safetensors"))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warm_up_as_long_as_training_is_refused() {
        let mut cfg = EmoDnaConfig::default();
        assert!(EmoDna::check(&cfg).is_ok());
        cfg.warmup_epochs = cfg.schedule.epochs;
        let (key, msg) = EmoDna::check(&cfg).unwrap_err();
        assert_eq!(key, "warmup_epochs");
        assert!(msg.contains("no epoch to adapt in"), "{msg}");
    }
}
