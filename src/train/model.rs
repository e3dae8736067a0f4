//! The model kinds of a pipeline behind one interface: fit on z-scored clean source features, save as a
//! checkpoint folder (safetensors + JSON), load, and predict class probabilities.
//!
//! - `mlp`: [`Mlp`] on the features.
//! - `edrl`: [`Edrl`]; its own classification head predicts.
//! - `mbpls`: MB-PLS on the raw feature blocks, then a classifier on the embedding.
//! - `edrl-mea`: EDRL, then MB-PLS on its codes (one block per encoder), then a classifier on the
//!   embedding (the full method of method.md).
//!
//! MB-PLS uses the z-scored input x as its response Y in both cases, so `mbpls` is exactly the
//! "without EDRL" ablation of `edrl-mea`.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::edrl::{self, Edrl};
use super::mbpls::MbPls;
use super::mlp::{self, Mlp, Standardizer, TrainLog};
use crate::config::{FeatureConfig, ModelConfig};

/// Everything needed to use a checkpoint folder: `model.json` next to the tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCard {
    pub kind: String,
    pub classes: Vec<String>,
    pub config: ModelConfig,
    /// Features and audio settings, so `sertool predict` computes exactly what training saw.
    pub features: FeatureConfig,
    pub sample_rate_hz: u32,
    pub channels: String,
    pub input_dim: usize,
    pub standardizer: Standardizer,
    pub train_utterances: usize,
    pub dev_utterances: usize,
    /// The final predictor's training (the classifier for the MB-PLS kinds).
    pub log: TrainLog,
    /// The EDRL encoders' training, for `edrl-mea`.
    pub encoder_log: Option<TrainLog>,
    /// MB-PLS blocks with their importance (mean over components), for `mbpls` and `edrl-mea`.
    pub block_importance: Option<Vec<(String, f64)>>,
}

/// MB-PLS embedding + classifier, on raw feature blocks or on EDRL codes.
pub struct Mea {
    edrl: Option<Edrl>,
    mbpls: MbPls,
    embedding: Standardizer,
    classifier: Mlp,
    block_scores: bool,
}

/// What `mbpls.json` holds.
#[derive(Serialize, Deserialize)]
struct MeaFile {
    mbpls: MbPls,
    embedding: Standardizer,
    block_scores: bool,
}

pub enum Model {
    Mlp(Mlp),
    Edrl(Edrl),
    Mea(Box<Mea>),
}

/// What a fit reports besides the model.
pub struct Fit {
    pub log: TrainLog,
    pub encoder_log: Option<TrainLog>,
    pub block_importance: Option<Vec<(String, f64)>>,
}

impl Mea {
    /// The rows MB-PLS sees: EDRL codes, or the features themselves.
    fn blocks(&self, x: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f64>>> {
        match &self.edrl {
            Some(e) => e.block_rows(x),
            None => Ok(x.iter().map(|r| r.iter().map(|&v| v as f64).collect()).collect()),
        }
    }

    /// Super scores (and block scores), z-scored with the training embedding statistics.
    fn embed(&self, x: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f32>>> {
        Ok(self.embedding.apply(&raw_embedding(&self.mbpls, &self.blocks(x)?, self.block_scores)))
    }
}

fn raw_embedding(mbpls: &MbPls, rows: &[Vec<f64>], block_scores: bool) -> Vec<Vec<f32>> {
    let s = mbpls.transform(rows);
    (0..rows.len())
        .map(|i| {
            let mut v: Vec<f32> = s.super_scores[i].iter().map(|&t| t as f32).collect();
            if block_scores {
                v.extend(s.block_scores.iter().flat_map(|comp| comp.iter().map(move |b| b[i] as f32)));
            }
            v
        })
        .collect()
}

impl Model {
    /// Fit a model of `cfg.kind` on z-scored features. `feature_blocks` names the contiguous column blocks
    /// of x (used by `mbpls`; an empty list means one block).
    #[allow(clippy::too_many_arguments)]
    pub fn fit(
        cfg: &ModelConfig,
        seed: u64,
        x: &[Vec<f32>],
        y: &[usize],
        dev_x: &[Vec<f32>],
        dev_y: &[usize],
        classes: &[String],
        feature_blocks: &[(String, usize)],
    ) -> anyhow::Result<(Model, Fit)> {
        let k = classes.len();
        match cfg.kind.as_str() {
            "mlp" => {
                let (m, log) = mlp::train(cfg, seed, x, y, dev_x, dev_y, k)?;
                Ok((Model::Mlp(m), Fit { log, encoder_log: None, block_importance: None }))
            }
            "edrl" => {
                let (m, log) = edrl::train(cfg, seed, x, y, dev_x, dev_y, k)?;
                Ok((Model::Edrl(m), Fit { log, encoder_log: None, block_importance: None }))
            }
            "mbpls" | "edrl-mea" => {
                let (encoders, encoder_log, blocks) = if cfg.kind == "edrl-mea" {
                    let (e, log) = edrl::train(cfg, seed, x, y, dev_x, dev_y, k)?;
                    let z = e.code_dim();
                    let mut names: Vec<(String, usize)> = classes.iter().map(|c| (c.clone(), z)).collect();
                    names.push(("shared".into(), z));
                    (Some(e), Some(log), names)
                } else if feature_blocks.is_empty() {
                    (None, None, vec![("features".to_string(), x[0].len())])
                } else {
                    (None, None, feature_blocks.to_vec())
                };
                let sizes: Vec<usize> = blocks.iter().map(|b| b.1).collect();
                let response: Vec<Vec<f64>> = x.iter().map(|r| r.iter().map(|&v| v as f64).collect()).collect();
                let mut mea = Mea {
                    edrl: encoders,
                    mbpls: MbPls {
                        block_sizes: sizes.clone(),
                        means: vec![],
                        weights: vec![],
                        importance: vec![],
                        loadings: vec![],
                    },
                    embedding: Standardizer { mean: vec![], std: vec![] },
                    classifier: Mlp::init(&[1, 1], seed)?,
                    block_scores: cfg.block_scores,
                };
                let rows = mea.blocks(x)?;
                let (mbpls, _) = MbPls::fit(&rows, &sizes, &response, cfg.components)?;
                let raw = raw_embedding(&mbpls, &rows, cfg.block_scores);
                mea.embedding = Standardizer::fit(&raw);
                mea.mbpls = mbpls;
                let (ex, edx) = (mea.embedding.apply(&raw), mea.embed(dev_x)?);
                let head = ModelConfig {
                    hidden: cfg.classifier_hidden.clone(),
                    epochs: cfg.classifier_epochs,
                    lr: cfg.classifier_lr,
                    ..cfg.clone()
                };
                let (classifier, log) = mlp::train(&head, seed, &ex, y, &edx, dev_y, k)?;
                mea.classifier = classifier;
                let importance =
                    blocks.iter().map(|b| b.0.clone()).zip(mea.mbpls.block_importance_mean()).collect::<Vec<_>>();
                Ok((Model::Mea(Box::new(mea)), Fit { log, encoder_log, block_importance: Some(importance) }))
            }
            other => anyhow::bail!("unknown model kind \"{other}\""),
        }
    }

    pub fn predict_proba(&self, x: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f32>>> {
        match self {
            Model::Mlp(m) => m.predict_proba(x),
            Model::Edrl(m) => m.predict_proba(x),
            Model::Mea(m) => {
                if x.is_empty() {
                    return Ok(Vec::new());
                }
                m.classifier.predict_proba(&m.embed(x)?)
            }
        }
    }

    /// Write the tensors and MB-PLS state into `dir` (model.json is the caller's).
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        match self {
            Model::Mlp(m) => m.save(&dir.join("model.safetensors")),
            Model::Edrl(m) => m.save(&dir.join("edrl.safetensors")),
            Model::Mea(m) => {
                if let Some(e) = &m.edrl {
                    e.save(&dir.join("edrl.safetensors"))?;
                }
                m.classifier.save(&dir.join("classifier.safetensors"))?;
                let file =
                    MeaFile { mbpls: m.mbpls.clone(), embedding: m.embedding.clone(), block_scores: m.block_scores };
                std::fs::write(dir.join("mbpls.json"), serde_json::to_vec_pretty(&file)?)
                    .with_context(|| format!("writing {}", dir.join("mbpls.json").display()))
            }
        }
    }

    /// Load a checkpoint folder written by a train stage: `model.json` and the files [`Model::save`] wrote.
    pub fn load(dir: &Path) -> anyhow::Result<(Model, ModelCard)> {
        let card_path = dir.join("model.json");
        let card: ModelCard = serde_json::from_slice(
            &std::fs::read(&card_path).with_context(|| format!("reading {}", card_path.display()))?,
        )
        .with_context(|| format!("{}: not a sertool model card", card_path.display()))?;
        let n = card.classes.len();
        let model = match card.kind.as_str() {
            "mlp" => Model::Mlp(Mlp::load(&dir.join("model.safetensors"))?),
            "edrl" => Model::Edrl(Edrl::load(&dir.join("edrl.safetensors"), n)?),
            "mbpls" | "edrl-mea" => {
                let path = dir.join("mbpls.json");
                let file: MeaFile = serde_json::from_slice(&std::fs::read(&path)?)
                    .with_context(|| format!("reading {}", path.display()))?;
                let edrl =
                    (card.kind == "edrl-mea").then(|| Edrl::load(&dir.join("edrl.safetensors"), n)).transpose()?;
                Model::Mea(Box::new(Mea {
                    edrl,
                    mbpls: file.mbpls,
                    embedding: file.embedding,
                    classifier: Mlp::load(&dir.join("classifier.safetensors"))?,
                    block_scores: file.block_scores,
                }))
            }
            other => anyhow::bail!("{}: unknown model kind \"{other}\"", card_path.display()),
        };
        Ok((model, card))
    }
}
