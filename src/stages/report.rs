//! `report/<pipeline>`: the paper tables, plots and long results of every eval, rendered by the
//! `report` room from records read here (metrics, predictions, mix stats, noise pools, model cards,
//! ingest summaries). It never trains: everything it reads is a committed entry.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{eval, key_of, manifest, mix, noise_pool, train, Work};
use crate::config::Pipeline;
use crate::engine::{StageCtx, StageSpec};
use crate::error::Fault;
use crate::records::{Condition, EvalInfo, TrainInfo};

pub const KIND: &str = "report";
const VERSION: u32 = 10;

/// What the report reads, in the order of its inputs of the same name.
#[derive(Serialize, Deserialize)]
pub struct Job {
    pipeline: Pipeline,
    /// One per input "evals".
    evals: Vec<EvalInfo>,
    /// One (corpus, condition) per input "mixes".
    mixes: Vec<(String, String)>,
    /// One noise source name per input "pools".
    pools: Vec<String>,
    /// One per input "trains".
    trains: Vec<TrainInfo>,
    /// One corpus name per input "manifests".
    manifests: Vec<String>,
}

/// The stages the report reads, each with what it is.
pub struct ReportInputs {
    pub evals: Vec<(usize, EvalInfo)>,
    pub mixes: Vec<(usize, String, String)>,
    pub pools: Vec<(usize, String)>,
    pub trains: Vec<(usize, TrainInfo)>,
    pub manifests: Vec<(usize, String)>,
}

pub fn spec(p: &Pipeline, conditions: &[Condition], r: ReportInputs) -> StageSpec {
    let info: Vec<EvalInfo> = r.evals.iter().map(|(_, i)| i.clone()).collect();
    let params = json!({
        "pipeline_name": p.pipeline.name,
        "pipeline_sha256": p.file_sha256,
        "models": p.models.keys().collect::<Vec<_>>(),
        "report": p.report,
        "sweeps": p.sweeps,
        "conditions": conditions,
        "classes": p.labels.classes,
        "experiments": p.experiments.iter().map(|e| json!({"name": e.name, "train": e.train, "test": e.test, "models": e.models})).collect::<Vec<_>>(),
        "evals": info,
    });
    let mut deps: Vec<(&'static str, usize)> = r.evals.iter().map(|(i, _)| ("evals", *i)).collect();
    deps.extend(r.mixes.iter().map(|(i, _, _)| ("mixes", *i)));
    deps.extend(r.pools.iter().map(|(i, _)| ("pools", *i)));
    deps.extend(r.trains.iter().map(|(i, _)| ("trains", *i)));
    deps.extend(r.manifests.iter().map(|(i, _)| ("manifests", *i)));
    StageSpec {
        id: format!("report/{}", p.pipeline.name),
        kind: KIND,
        version: VERSION,
        params,
        inputs: BTreeMap::new(),
        deps,
        job: Box::new(Job {
            pipeline: p.clone(),
            evals: info,
            mixes: r.mixes.into_iter().map(|(_, c, n)| (c, n)).collect(),
            pools: r.pools.into_iter().map(|(_, n)| n).collect(),
            trains: r.trains.into_iter().map(|(_, t)| t).collect(),
            manifests: r.manifests.into_iter().map(|(_, n)| n).collect(),
        }),
    }
}

/// The entries under `name` must pair one to one with what the job lists for them.
fn paired<'a, T>(
    ctx: &'a StageCtx,
    name: &str,
    listed: &'a [T],
) -> anyhow::Result<Vec<(&'a std::path::PathBuf, &'a T)>> {
    let dirs = ctx.inputs(name);
    anyhow::ensure!(
        dirs.len() == listed.len(),
        "report: {} input(s) \"{name}\" for {} listed",
        dirs.len(),
        listed.len()
    );
    Ok(dirs.iter().zip(listed).collect())
}

impl Work for Job {
    fn run(&self, ctx: &StageCtx) -> anyhow::Result<Vec<Fault>> {
        let p = &self.pipeline;
        let train_dirs = paired(ctx, "trains", &self.trains)?;
        let train_key: HashMap<&TrainInfo, String> = train_dirs.iter().map(|(d, t)| (*t, key_of(d))).collect();
        // An eval's model: adapted to its test corpus, or (other kinds, the in-corpus cell) not.
        let key_of_eval = |i: &EvalInfo| {
            let mut t = TrainInfo {
                model: i.model.clone(),
                train: i.train.clone(),
                target: Some(i.test.clone()),
                seed: i.seed,
            };
            train_key.get(&t).cloned().or_else(|| {
                t.target = None;
                train_key.get(&t).cloned()
            })
        };
        let evals = paired(ctx, "evals", &self.evals)?
            .par_iter()
            .map(|(dir, i)| {
                Ok(crate::report::EvalResult {
                    info: (*i).clone(),
                    eval_key: key_of(dir),
                    // An ensemble trains nothing: its own key stands for the model.
                    train_key: match p.models.get(&i.model).is_some_and(|m| m.kind.needs().combines) {
                        true => key_of(dir),
                        false => key_of_eval(i).with_context(|| {
                            format!("report: no train input for eval {}/{}/seed{}/{}", i.model, i.train, i.seed, i.test)
                        })?,
                    },
                    metrics: eval::read_metrics(dir)?,
                    predictions: eval::read_predictions(dir, &p.labels.classes)?,
                    enhancement: eval::read_enhancement(dir)?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut mix_stats = Vec::new();
        for (dir, (corpus, _)) in paired(ctx, "mixes", &self.mixes)? {
            mix_stats.push((corpus.clone(), mix::read_stats(dir)?));
        }
        let mut pools = Vec::new();
        for (dir, name) in paired(ctx, "pools", &self.pools)? {
            pools.push((name.clone(), noise_pool::read_pools(dir)?));
        }
        let mut ingest = Vec::new();
        let mut held_labels = HashMap::new();
        let mut identities = crate::report::Identities::new();
        for (dir, name) in paired(ctx, "manifests", &self.manifests)? {
            ingest.push((name.clone(), manifest::read_ingest_report(dir)?));
            if self.evals.iter().any(|e| &e.test == name) {
                identities.insert(name.clone(), manifest::read_identities(dir)?);
            }
            if self.trains.iter().any(|t| t.target.as_ref() == Some(name)) {
                held_labels.extend(manifest::read_labels(dir)?);
            }
        }
        let mut trains = Vec::new();
        for (dir, info) in train_dirs {
            let card = train::read_card(dir)?;
            let adaptation = match &card.adaptation {
                Some(a) => Some(crate::report::AdaptationRun {
                    splits: a.splits.clone(),
                    target_utterances: a.target_utterances,
                    epochs: score_pseudo_labels(train::read_pseudo_labels(dir)?, &held_labels),
                }),
                None => None,
            };
            trains.push(crate::report::TrainRun {
                info: info.clone(),
                key: key_of(dir),
                seconds: card.log.seconds + card.encoder_log.as_ref().map_or(0.0, |l| l.seconds),
                epochs: card.log.epochs_run,
                best_epoch: card.log.best_epoch,
                adaptation,
                log: card.log.clone(),
                encoder_log: card.encoder_log.clone(),
            });
        }
        let data = crate::report::ReportData { evals, mix_stats, pools, ingest, trains, identities };
        crate::report::render(p, &data, &ctx.out)?;
        Ok(Vec::new())
    }
}

/// Each epoch's pseudo-labels against the target's held labels (id → (label, split)).
fn score_pseudo_labels(
    labels: Option<train::PseudoLabels>,
    held: &HashMap<String, (String, String)>,
) -> Vec<crate::report::PseudoEpoch> {
    let Some(l) = labels else { return Vec::new() };
    l.epochs
        .iter()
        .map(|e| {
            let passed: Vec<(&String, usize)> =
                l.ids.iter().zip(&e.labels).filter_map(|(i, p)| Some((i, (*p)?))).collect();
            let scored: Vec<bool> = passed
                .iter()
                .filter_map(|(id, p)| {
                    held.get(*id).filter(|(lab, _)| l.classes.contains(lab)).map(|(lab, _)| *lab == l.classes[*p])
                })
                .collect();
            crate::report::PseudoEpoch {
                tau: e.tau,
                passed: passed.len(),
                scored: scored.len(),
                correct: scored.iter().filter(|&&c| c).count(),
            }
        })
        .collect()
}
