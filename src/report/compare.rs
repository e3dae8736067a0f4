//! Every model against the reference model, per (train, test, condition), on the test utterances
//! that all of them were evaluated on: McNemar on the correctness of the seed ensembles, McNemar per
//! shared seed, and a paired bootstrap of the seed-averaged metric.

use std::collections::{BTreeMap, HashMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use super::significance::{self, Bootstrap, McNemar};
use super::{EvalResult, GroupKey};
use crate::config::ReportSection;
use crate::rng::Rng;

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub model: String,
    pub reference: String,
    pub train: String,
    pub test: String,
    pub condition: String,
    /// Test utterances both models were evaluated on.
    pub utterances: usize,
    /// On the seed ensembles (class probabilities averaged over seeds, then argmax).
    pub mcnemar: McNemar,
    /// Seed s of the model against seed s of the reference, for the seeds both have.
    pub mcnemar_per_seed: Vec<SeedMcNemar>,
    pub bootstrap: Option<Bootstrap>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeedMcNemar {
    pub seed: u64,
    #[serde(flatten)]
    pub test: McNemar,
}

/// One model's predictions on the common utterances: per seed, and its seed ensemble.
struct Aligned {
    seeds: Vec<u64>,
    preds: Vec<Vec<usize>>,
    ensemble: Vec<usize>,
}

fn align(evals: &[&EvalResult], common: &[&str]) -> Aligned {
    let mut preds = Vec::new();
    let mut prob_sum: Vec<Vec<f64>> = Vec::new();
    for e in evals {
        let at: HashMap<&str, usize> = e.predictions.ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
        let rows: Vec<usize> = common.iter().map(|id| at[id]).collect();
        preds.push(rows.iter().map(|&i| e.predictions.pred[i]).collect());
        if prob_sum.is_empty() {
            prob_sum = vec![vec![0.0; e.predictions.probs.first().map_or(0, |p| p.len())]; common.len()];
        }
        for (sum, &i) in prob_sum.iter_mut().zip(&rows) {
            for (s, &p) in sum.iter_mut().zip(&e.predictions.probs[i]) {
                *s += p as f64;
            }
        }
    }
    // argmax, first of equals (as `models::argmax`).
    let ensemble = prob_sum
        .iter()
        .map(|p| p.iter().enumerate().fold(0, |best, (i, &v)| if v > p[best] { i } else { best }))
        .collect();
    Aligned { seeds: evals.iter().map(|e| e.info.seed).collect(), preds, ensemble }
}

fn correct(pred: &[usize], truth: &[usize]) -> Vec<bool> {
    pred.iter().zip(truth).map(|(p, t)| p == t).collect()
}

/// The comparisons of one (train, test, condition) cell; `models` in table order, reference included.
fn compare_cell(
    cell: (&str, &str, &str),
    systems: &[(&str, &[&EvalResult])],
    reference: &str,
    cfg: &ReportSection,
    n_classes: usize,
    metric: &str,
) -> Vec<Comparison> {
    let (train, test, condition) = cell;
    // Utterances every eval of every system has, in the reference's (sorted) order.
    let Some(&(_, ref_evals)) = systems.iter().find(|(m, _)| *m == reference) else { return Vec::new() };
    let sets: Vec<HashSet<&str>> = systems
        .iter()
        .flat_map(|(_, evals)| evals.iter())
        .map(|e| e.predictions.ids.iter().map(String::as_str).collect())
        .collect();
    let first = &ref_evals[0].predictions;
    let common: Vec<&str> =
        first.ids.iter().map(String::as_str).filter(|id| sets.iter().all(|s| s.contains(id))).collect();
    let at: HashMap<&str, usize> = first.ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let truth: Vec<usize> = common.iter().map(|id| first.truth[at[id]]).collect();

    // The reference first, then the others in table order.
    let mut order: Vec<&(&str, &[&EvalResult])> = systems.iter().filter(|(m, _)| *m == reference).collect();
    order.extend(systems.iter().filter(|(m, _)| *m != reference));
    let aligned: Vec<Aligned> = order.iter().map(|(_, evals)| align(evals, &common)).collect();
    let resampled = (cfg.bootstrap_resamples > 0 && !truth.is_empty()).then(|| {
        let preds: Vec<&[Vec<usize>]> = aligned.iter().map(|a| a.preds.as_slice()).collect();
        let mut rng = Rng::derived(cfg.seed, &[train, test, condition]);
        significance::resample_metrics(&truth, &preds, n_classes, metric, cfg.bootstrap_resamples, &mut rng)
    });
    let reference_correct = correct(&aligned[0].ensemble, &truth);
    let mut out = Vec::new();
    for (k, ((model, _), a)) in order.iter().zip(&aligned).enumerate().skip(1) {
        let per_seed = a
            .seeds
            .iter()
            .zip(&a.preds)
            .filter_map(|(seed, p)| {
                let r = aligned[0].seeds.iter().position(|s| s == seed)?;
                let test = significance::mcnemar(&correct(p, &truth), &correct(&aligned[0].preds[r], &truth));
                Some(SeedMcNemar { seed: *seed, test })
            })
            .collect();
        out.push(Comparison {
            model: model.to_string(),
            reference: reference.to_string(),
            train: train.to_string(),
            test: test.to_string(),
            condition: condition.to_string(),
            utterances: truth.len(),
            mcnemar: significance::mcnemar(&correct(&a.ensemble, &truth), &reference_correct),
            mcnemar_per_seed: per_seed,
            bootstrap: resampled.as_ref().map(|r| significance::paired_bootstrap(r, k, 0, cfg.confidence)),
        });
    }
    out
}

/// Every comparison, keyed like the groups: (model, train, test, condition).
pub fn compare_all(
    groups: &BTreeMap<GroupKey, Vec<&EvalResult>>,
    models: &[String],
    cfg: &ReportSection,
    n_classes: usize,
    metric: &str,
) -> BTreeMap<GroupKey, Comparison> {
    let Some(reference) = cfg.reference.as_deref() else { return BTreeMap::new() };
    let mut cells: Vec<(&str, &str, &str)> =
        groups.keys().map(|(_, tr, te, c)| (tr.as_str(), te.as_str(), c.as_str())).collect();
    cells.sort();
    cells.dedup();
    let results: Vec<Vec<Comparison>> = cells
        .par_iter()
        .map(|&(train, test, cond)| {
            let systems: Vec<(&str, &[&EvalResult])> = models
                .iter()
                .filter_map(|m| {
                    let key = (m.clone(), train.to_string(), test.to_string(), cond.to_string());
                    groups.get(&key).map(|g| (m.as_str(), g.as_slice()))
                })
                .collect();
            compare_cell((train, test, cond), &systems, reference, cfg, n_classes, metric)
        })
        .collect();
    results
        .into_iter()
        .flatten()
        .map(|c| ((c.model.clone(), c.train.clone(), c.test.clone(), c.condition.clone()), c))
        .collect()
}
