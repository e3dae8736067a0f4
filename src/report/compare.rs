//! Per (train, test, condition), on the test utterances that every model was evaluated on: each
//! model's interval (a bootstrap that resamples speakers, or utterances), and every model against the
//! reference: McNemar on the correctness of the seed ensembles, McNemar per shared seed, a paired
//! bootstrap of the seed-averaged metric and a paired sign-flip test on the same units; the minimum
//! detectable difference of the test set; the models not separable from the best.

use std::collections::{BTreeMap, HashMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use super::significance::{self, Bootstrap, Clusters, Items, McNemar, Mdd, SignFlip};
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
    /// The units resampled and sign-flipped ("speaker" or "utterance"), and how many there are.
    pub unit: String,
    pub clusters: usize,
    /// On the seed ensembles (class probabilities averaged over seeds, then argmax).
    pub mcnemar: McNemar,
    /// Seed s of the model against seed s of the reference, for the seeds both have.
    pub mcnemar_per_seed: Vec<SeedMcNemar>,
    pub bootstrap: Option<Bootstrap>,
    /// The paired sign-flip test on the seed ensembles, by the same units.
    pub sign_flip: Option<SignFlip>,
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

/// Who is who in a test set, per test corpus (from its manifest): id → speaker and content hash.
pub type Identities = BTreeMap<String, HashMap<String, Identity>>;

#[derive(Debug, Clone)]
pub struct Identity {
    pub speaker: String,
    pub content_sha256: String,
}

/// What one (train, test, condition) cell of the tables says beyond its mean: every model's interval,
/// the comparisons with the reference, the minimum detectable difference, and which models are not
/// separable from the best.
#[derive(Default)]
pub struct CellAnalysis {
    /// (model, low, high): the cluster-bootstrap interval of the seed-averaged metric.
    pub intervals: Vec<(String, f64, f64)>,
    pub comparisons: Vec<Comparison>,
    pub mdd: Option<Mdd>,
    /// Models whose sign-flip test against the best (by mean) has p ≥ alpha, the best included.
    pub tied_with_best: Vec<String>,
}

/// The clusters of the common utterances: their speakers (an unknown or unlisted speaker is its own
/// cluster), or every utterance alone.
fn clusters_of(common: &[&str], speakers: Option<&HashMap<String, Identity>>, unit: &str) -> Clusters {
    if unit == "utterance" {
        return Clusters::items(common.len());
    }
    let keys: Vec<String> = common
        .iter()
        .map(|id| match speakers.and_then(|s| s.get(*id)).map(|i| i.speaker.as_str()) {
            Some(s) if s != "unknown" && !s.is_empty() => format!("s:{s}"),
            _ => format!("u:{id}"),
        })
        .collect();
    Clusters::of(&keys.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The mean over seeds of each eval's stored metric: the cell's mean, which picks the best.
fn stored_mean(evals: &[&EvalResult], metric: &str) -> f64 {
    evals.iter().map(|e| super::metric_value(&e.metrics, metric)).sum::<f64>() / evals.len() as f64
}

/// The analysis of one cell; `systems` in table order, reference included when it has this cell.
fn analyse_cell(
    cell: (&str, &str, &str),
    systems: &[(&str, &[&EvalResult])],
    reference: Option<&str>,
    cfg: &ReportSection,
    speakers: Option<&HashMap<String, Identity>>,
    n_classes: usize,
    metric: &str,
) -> CellAnalysis {
    let (train, test, condition) = cell;
    if systems.is_empty() {
        return CellAnalysis::default();
    }
    // The reference first (when it has this cell), then the others in table order.
    let mut order: Vec<&(&str, &[&EvalResult])> = systems.iter().filter(|(m, _)| Some(*m) == reference).collect();
    order.extend(systems.iter().filter(|(m, _)| Some(*m) != reference));
    let has_reference = order[0].0 == reference.unwrap_or("");
    // Utterances every eval of every system has, in the first system's (sorted) order.
    let sets: Vec<HashSet<&str>> = systems
        .iter()
        .flat_map(|(_, evals)| evals.iter())
        .map(|e| e.predictions.ids.iter().map(String::as_str).collect())
        .collect();
    let first = &order[0].1[0].predictions;
    let common: Vec<&str> =
        first.ids.iter().map(String::as_str).filter(|id| sets.iter().all(|s| s.contains(id))).collect();
    let at: HashMap<&str, usize> = first.ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let truth: Vec<usize> = common.iter().map(|id| first.truth[at[id]]).collect();
    let clusters = clusters_of(&common, speakers, &cfg.bootstrap_unit);
    let items = Items { truth: &truth, clusters: &clusters, n_classes, metric };

    let aligned: Vec<Aligned> = order.iter().map(|(_, evals)| align(evals, &common)).collect();
    let resampling = cfg.bootstrap_resamples > 0 && !truth.is_empty();
    let resampled = resampling.then(|| {
        let preds: Vec<&[Vec<usize>]> = aligned.iter().map(|a| a.preds.as_slice()).collect();
        let mut rng = Rng::derived(cfg.seed, &[train, test, condition]);
        significance::resample_metrics(&items, &preds, cfg.bootstrap_resamples, &mut rng)
    });
    let flip = |k: usize, against: usize| {
        let mut rng = Rng::derived(cfg.seed, &[train, test, condition, "sign-flip", order[k].0, order[against].0]);
        significance::sign_flip(
            &items,
            &aligned[k].ensemble,
            &aligned[against].ensemble,
            cfg.bootstrap_resamples,
            &mut rng,
        )
    };
    let mut out = CellAnalysis {
        intervals: match &resampled {
            Some(r) => order
                .iter()
                .enumerate()
                .map(|(k, (m, _))| {
                    let (lo, hi) = significance::interval(r, k, cfg.confidence);
                    (m.to_string(), lo, hi)
                })
                .collect(),
            None => Vec::new(),
        },
        mdd: significance::mdd(&correct(&aligned[0].ensemble, &truth), &clusters, cfg.alpha, MDD_POWER),
        ..CellAnalysis::default()
    };
    if resampling && order.len() > 1 {
        let means: Vec<f64> = order.iter().map(|(_, evals)| stored_mean(evals, metric)).collect();
        // The first of equal means, in reference-then-table order.
        let best = (0..means.len()).fold(0, |b, k| if means[k] > means[b] { k } else { b });
        out.tied_with_best = (0..order.len())
            .filter(|&k| k == best || flip(k, best).p >= cfg.alpha)
            .map(|k| order[k].0.to_string())
            .collect();
    }
    if !has_reference {
        return out;
    }
    let reference = order[0].0;
    let reference_correct = correct(&aligned[0].ensemble, &truth);
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
        out.comparisons.push(Comparison {
            model: model.to_string(),
            reference: reference.to_string(),
            train: train.to_string(),
            test: test.to_string(),
            condition: condition.to_string(),
            utterances: truth.len(),
            clusters: clusters.len(),
            unit: cfg.bootstrap_unit.clone(),
            mcnemar: significance::mcnemar(&correct(&a.ensemble, &truth), &reference_correct),
            mcnemar_per_seed: per_seed,
            bootstrap: resampled.as_ref().map(|r| significance::paired_bootstrap(r, k, 0, cfg.confidence)),
            sign_flip: resampling.then(|| flip(k, 0)),
        });
    }
    out
}

/// The power at which each table states its minimum detectable difference.
pub const MDD_POWER: f64 = 0.8;

/// Every cell's analysis, keyed by (train, test, condition).
pub fn analyse_all(
    groups: &BTreeMap<GroupKey, Vec<&EvalResult>>,
    models: &[String],
    cfg: &ReportSection,
    speakers: &Identities,
    n_classes: usize,
    metric: &str,
) -> BTreeMap<(String, String, String), CellAnalysis> {
    let reference = cfg.reference.as_deref();
    let mut cells: Vec<(&str, &str, &str)> =
        groups.keys().map(|(_, tr, te, c)| (tr.as_str(), te.as_str(), c.as_str())).collect();
    cells.sort();
    cells.dedup();
    cells
        .par_iter()
        .map(|&(train, test, cond)| {
            let systems: Vec<(&str, &[&EvalResult])> = models
                .iter()
                .filter_map(|m| {
                    let key = (m.clone(), train.to_string(), test.to_string(), cond.to_string());
                    groups.get(&key).map(|g| (m.as_str(), g.as_slice()))
                })
                .collect();
            let analysis =
                analyse_cell((train, test, cond), &systems, reference, cfg, speakers.get(test), n_classes, metric);
            ((train.to_string(), test.to_string(), cond.to_string()), analysis)
        })
        .collect()
}
