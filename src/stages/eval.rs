//! `eval/<model>/<train>/seedN/<test>/<condition>`: one trained model on one test corpus's test split
//! under one condition: predictions.parquet (per utterance: truth, prediction, class probabilities)
//! and metrics.json.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::features::read_features;
use super::manifest::read_labels;
use super::{read_json, write_json, Work};
use crate::engine::{StageCtx, StageSpec};
use crate::error::Fault;
use crate::models::argmax;
use crate::models::metrics::{self, Metrics};
use crate::records::{Condition, Predictions};
use crate::table::{self, Columns};

pub const KIND: &str = "eval";
const VERSION: u32 = 2;

#[derive(Serialize, Deserialize)]
pub struct Job {
    classes: Vec<String>,
    condition: String,
}

pub fn spec(
    id: String,
    classes: &[String],
    condition: &Condition,
    model: usize,
    manifest: usize,
    features: &[usize],
) -> StageSpec {
    let mut deps = vec![("model", model), ("manifest", manifest)];
    deps.extend(features.iter().map(|&f| ("features", f)));
    StageSpec {
        id,
        kind: KIND,
        version: VERSION,
        params: json!({ "condition": condition }),
        inputs: BTreeMap::new(),
        deps,
        job: Box::new(Job { classes: classes.to_vec(), condition: condition.name.clone() }),
    }
}

impl Work for Job {
    fn run(&self, ctx: &StageCtx) -> anyhow::Result<Vec<Fault>> {
        let classes = &self.classes;
        let (model, card) = crate::models::load(ctx.input("model")?)?;
        let labels = read_labels(ctx.input("manifest")?)?;
        let feats = read_features(ctx.inputs("features"))?;
        let class_idx: HashMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        let (mut ids, mut x, mut truth) = (Vec::new(), Vec::new(), Vec::new());
        for (id, v) in feats {
            if let Some((label, split)) = labels.get(&id) {
                if split == "test" {
                    ids.push(id);
                    x.push(v);
                    truth.push(super::class_index(&class_idx, label, classes)?);
                }
            }
        }
        anyhow::ensure!(!x.is_empty(), "no test utterances with features");
        let probs = model.predict_proba(&card.standardizer.apply(&x))?;
        let pred: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
        let m = metrics::compute(&truth, &pred, classes.len());
        let batch = Columns::new()
            .strings("id", &ids)
            .strings("condition", ids.iter().map(|_| self.condition.as_str()))
            .strings("true", truth.iter().map(|&c| &classes[c]))
            .strings("predicted", pred.iter().map(|&c| &classes[c]))
            .vectors("probabilities", classes.len(), &probs)
            .batch()?;
        table::write_parquet(&ctx.out.join("predictions.parquet"), &batch, &[])?;
        write_json(&ctx.out.join("metrics.json"), &m)?;
        Ok(Vec::new())
    }
}

pub fn read_metrics(dir: &Path) -> anyhow::Result<Metrics> {
    read_json(&dir.join("metrics.json"))
}

/// An eval entry's predictions, classes as indices into `classes`.
pub fn read_predictions(dir: &Path, classes: &[String]) -> anyhow::Result<Predictions> {
    let path = dir.join("predictions.parquet");
    let b = table::read_parquet(&path)?;
    let class_idx: HashMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
    let index = |names: Vec<String>| -> anyhow::Result<Vec<usize>> {
        names
            .iter()
            .map(|c| {
                class_idx.get(c.as_str()).copied().with_context(|| {
                    format!("{}: class \"{c}\" is not in [labels] classes ({})", path.display(), classes.join(", "))
                })
            })
            .collect()
    };
    Ok(Predictions {
        ids: table::strings(&b, "id")?,
        truth: index(table::strings(&b, "true")?)?,
        pred: index(table::strings(&b, "predicted")?)?,
        probs: table::vectors(&b, "probabilities")?,
    })
}
