//! MB-PLS embedding + classifier, on raw feature blocks (`mbpls`) or on EDRL codes (`edrl-mea`).
//! MB-PLS uses the z-scored input x as its response Y in both cases, so `mbpls` is exactly the
//! "without EDRL" ablation of `edrl-mea`.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::edrl::Edrl;
use super::mbpls::MbPls;
use super::mlp::{self, Mlp};
use crate::models::common::{Schedule, Standardizer, TrainLog};

/// The MB-PLS part of a kind's keys and the classifier on its embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeaConfig {
    /// Number of MB-PLS components K.
    #[serde(default = "default_components")]
    pub components: usize,
    /// Append the block scores to the K super scores.
    #[serde(default)]
    pub block_scores: bool,
    /// The classifier on the embeddings: hidden layers ([] = multinomial logistic regression), epochs, lr.
    #[serde(default)]
    pub classifier_hidden: Vec<usize>,
    #[serde(default = "default_classifier_epochs")]
    pub classifier_epochs: usize,
    #[serde(default = "default_classifier_lr")]
    pub classifier_lr: f64,
}

impl Default for MeaConfig {
    fn default() -> Self {
        MeaConfig {
            components: default_components(),
            block_scores: false,
            classifier_hidden: Vec::new(),
            classifier_epochs: default_classifier_epochs(),
            classifier_lr: default_classifier_lr(),
        }
    }
}

fn default_components() -> usize {
    8
}
fn default_classifier_epochs() -> usize {
    100
}
fn default_classifier_lr() -> f64 {
    1e-2
}

/// MB-PLS blocks with their importance (mean over components).
pub type BlockImportance = Vec<(String, f64)>;

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

/// The rows MB-PLS sees: EDRL codes, or the features themselves.
fn blocks_of(edrl: Option<&Edrl>, x: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f64>>> {
    match edrl {
        Some(e) => e.block_rows(x),
        None => Ok(x.iter().map(|r| r.iter().map(|&v| v as f64).collect()).collect()),
    }
}

impl Mea {
    /// Fit MB-PLS over `blocks` (name, width) of the rows `edrl` gives (its codes) or of x itself, then the
    /// classifier on the z-scored embedding; `head` is the classifier's schedule. Returns the model, the
    /// classifier's log and the block importances.
    #[allow(clippy::too_many_arguments)]
    pub fn fit(
        cfg: &MeaConfig,
        head: &Schedule,
        edrl: Option<Edrl>,
        blocks: &[(String, usize)],
        seed: u64,
        (x, y): (&[Vec<f32>], &[usize]),
        (dev_x, dev_y): (&[Vec<f32>], &[usize]),
        n_classes: usize,
    ) -> anyhow::Result<(Mea, TrainLog, BlockImportance)> {
        let sizes: Vec<usize> = blocks.iter().map(|b| b.1).collect();
        let response: Vec<Vec<f64>> = x.iter().map(|r| r.iter().map(|&v| v as f64).collect()).collect();
        let rows = blocks_of(edrl.as_ref(), x)?;
        let (mbpls, _) = MbPls::fit(&rows, &sizes, &response, cfg.components)?;
        let raw = raw_embedding(&mbpls, &rows, cfg.block_scores);
        let embedding = Standardizer::fit(&raw);
        let ex = embedding.apply(&raw);
        let edx = if dev_x.is_empty() {
            Vec::new()
        } else {
            embedding.apply(&raw_embedding(&mbpls, &blocks_of(edrl.as_ref(), dev_x)?, cfg.block_scores))
        };
        let (classifier, log) = mlp::train(&cfg.classifier_hidden, head, seed, &ex, y, &edx, dev_y, n_classes)?;
        let importance = blocks.iter().map(|b| b.0.clone()).zip(mbpls.block_importance_mean()).collect();
        Ok((Mea { edrl, mbpls, embedding, classifier, block_scores: cfg.block_scores }, log, importance))
    }

    /// Super scores (and block scores), z-scored with the training embedding statistics.
    fn embed(&self, x: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f32>>> {
        let rows = blocks_of(self.edrl.as_ref(), x)?;
        Ok(self.embedding.apply(&raw_embedding(&self.mbpls, &rows, self.block_scores)))
    }

    pub fn predict_proba(&self, x: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f32>>> {
        if x.is_empty() {
            return Ok(Vec::new());
        }
        self.classifier.predict_proba(&self.embed(x)?)
    }

    /// Write `edrl.safetensors` (with EDRL), `classifier.safetensors` and `mbpls.json` into `dir`.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        if let Some(e) = &self.edrl {
            e.save(&dir.join("edrl.safetensors"))?;
        }
        self.classifier.save(&dir.join("classifier.safetensors"))?;
        let file =
            MeaFile { mbpls: self.mbpls.clone(), embedding: self.embedding.clone(), block_scores: self.block_scores };
        std::fs::write(dir.join("mbpls.json"), serde_json::to_vec_pretty(&file)?)
            .with_context(|| format!("writing {}", dir.join("mbpls.json").display()))
    }

    /// Read what [`Mea::save`] wrote; `edrl` is the EDRL part, loaded by the caller when there is one.
    pub fn load(dir: &Path, edrl: Option<Edrl>) -> anyhow::Result<Mea> {
        let path = dir.join("mbpls.json");
        let file: MeaFile =
            serde_json::from_slice(&std::fs::read(&path)?).with_context(|| format!("reading {}", path.display()))?;
        Ok(Mea {
            edrl,
            mbpls: file.mbpls,
            embedding: file.embedding,
            classifier: Mlp::load(&dir.join("classifier.safetensors"))?,
            block_scores: file.block_scores,
        })
    }
}
