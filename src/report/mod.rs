//! Paper-ready reports from what the eval stages stored (per-seed metrics and per-utterance
//! predictions): noise-robustness tables (models × conditions, per train → test pair), cross-corpus
//! matrices (train × test, clean and one SNR), a long table of every number, significance against a
//! reference model, plots, and a reproducibility section. Cells are mean ± sample std (n − 1) over
//! seeds; one seed shows the value alone.
//!
//! Everything here is a pure function of the cached inputs, so the report is byte-reproducible; the
//! only wall-clock figures go to training.md.

mod compare;
mod enhancement;
mod latex;
mod markdown;
mod plots;
pub mod protocol;
mod repro;
pub mod significance;
pub mod sweep;
mod tables;
mod tensorboard;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use crate::audio::noise::NoisePools;
use crate::config::Pipeline;
use crate::models::metrics::Metrics;
pub use crate::records::Predictions;
use crate::records::{Condition, EvalInfo, IngestReport, MixStats, TrainInfo};

pub use compare::{CellAnalysis, Comparison, Identities, Identity};

/// One eval stage's results and the keys of the stages that made them.
pub struct EvalResult {
    pub info: EvalInfo,
    pub eval_key: String,
    pub train_key: String,
    pub metrics: Metrics,
    pub predictions: Predictions,
    /// Enhancement scores of a model that enhances, under a noisy condition.
    pub enhancement: Option<crate::records::EnhancementStats>,
}

/// One train stage: its key, how long it took and what it adapted on (training.md and adaptation.csv).
pub struct TrainRun {
    pub info: TrainInfo,
    pub key: String,
    pub seconds: f64,
    pub epochs: usize,
    /// The epoch training kept (selected on the source dev split).
    pub best_epoch: usize,
    pub adaptation: Option<AdaptationRun>,
    /// The per-epoch logs (TensorBoard event files): the final predictor's and, for `edrl-mea`, its
    /// encoders'.
    pub log: crate::models::TrainLog,
    pub encoder_log: Option<crate::models::TrainLog>,
}

/// What an adapted model adapted on, and how its pseudo-labels went.
pub struct AdaptationRun {
    pub splits: Vec<String>,
    pub target_utterances: usize,
    /// Per epoch, for kinds that pseudo-label (empty otherwise).
    pub epochs: Vec<PseudoEpoch>,
}

/// One epoch's pseudo-labels, scored against the target's held labels (for diagnosis only: training
/// never saw them).
pub struct PseudoEpoch {
    pub tau: f64,
    /// Target rows over their class's threshold.
    pub passed: usize,
    /// Of those, the ones with a held label in the class set, and how many of those were right.
    pub scored: usize,
    pub correct: usize,
}

/// Everything a report reads from the cache.
pub struct ReportData {
    pub evals: Vec<EvalResult>,
    /// (test corpus, stats) of every mix stage.
    pub mix_stats: Vec<(String, MixStats)>,
    pub pools: Vec<(String, NoisePools)>,
    /// (corpus, its ingest report) of every corpus the experiments use.
    pub ingest: Vec<(String, IngestReport)>,
    pub trains: Vec<TrainRun>,
    /// id → speaker and content hash of each test corpus: the units of the speaker bootstrap, and what
    /// the protocol card hashes.
    pub identities: Identities,
}

pub fn metric_value(m: &Metrics, name: &str) -> f64 {
    match name {
        "wa" => m.wa,
        "macro_f1" => m.macro_f1,
        "micro_f1" => m.micro_f1,
        _ => m.uar,
    }
}

/// How a metric is written in headings and captions.
pub fn metric_label(name: &str) -> &'static str {
    match name {
        "wa" => "WA",
        "macro_f1" => "Macro-F1",
        "micro_f1" => "Micro-F1",
        _ => "UAR",
    }
}

pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = if v.len() > 1 { (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
    (mean, std)
}

/// (model, train, test, condition)
pub type GroupKey = (String, String, String, String);

/// The results arranged for the tables: evals grouped over seeds, comparisons, and the orders of
/// models, pairs, corpora and conditions.
pub struct Results<'a> {
    pub p: &'a Pipeline,
    pub metric: &'a str,
    /// Table order: the reference first, then the other models by name.
    pub models: Vec<String>,
    /// (train, test) pairs in the order the experiments declare them.
    pub pairs: Vec<(String, String)>,
    pub trains: Vec<String>,
    pub tests: Vec<String>,
    pub conditions: Vec<Condition>,
    /// Seeds of each group, in seed order.
    pub groups: BTreeMap<GroupKey, Vec<&'a EvalResult>>,
    pub comparisons: BTreeMap<GroupKey, Comparison>,
    /// Per (train, test, condition): intervals, minimum detectable difference, ties with the best.
    pub analyses: BTreeMap<(String, String, String), CellAnalysis>,
    pub seeds: Vec<u64>,
}

/// A table cell: mean ± std over seeds, and how it compares with the reference.
#[derive(Debug, Clone)]
pub struct Cell {
    pub mean: f64,
    pub std: f64,
    pub seeds: usize,
    /// McNemar (seed ensembles) p < alpha against the reference.
    pub mcnemar: bool,
    /// Paired sign-flip p < alpha against the reference (by `[report] bootstrap_unit`).
    pub sign_flip: bool,
    /// The bootstrap interval of the mean at `[report] confidence`.
    pub interval: Option<(f64, f64)>,
    /// Not separable from the best model of its (train, test, condition) by the sign-flip test.
    pub tied_best: bool,
    /// A model adapted on the test corpus's test-split audio (transductive), marked § in the tables.
    pub transductive: bool,
}

impl<'a> Results<'a> {
    pub fn new(p: &'a Pipeline, data: &'a ReportData) -> Results<'a> {
        Results::with_metric(p, data, p.report.metric.as_str())
    }

    /// The same results measured by another metric (the extra tables of `[report] metrics`).
    pub fn with_metric(p: &'a Pipeline, data: &'a ReportData, metric: &'a str) -> Results<'a> {
        let evals = &data.evals;
        let mut groups: BTreeMap<GroupKey, Vec<&EvalResult>> = BTreeMap::new();
        let (mut pairs, mut trains, mut tests) = (Vec::new(), Vec::new(), Vec::new());
        for e in evals {
            let i = &e.info;
            groups.entry((i.model.clone(), i.train.clone(), i.test.clone(), i.condition.clone())).or_default().push(e);
            push_new(&mut pairs, (i.train.clone(), i.test.clone()));
            push_new(&mut trains, i.train.clone());
            push_new(&mut tests, i.test.clone());
        }
        for g in groups.values_mut() {
            g.sort_by_key(|e| e.info.seed);
        }
        let reference = p.report.reference.clone();
        let mut models: Vec<String> = reference.iter().filter(|r| p.models.contains_key(*r)).cloned().collect();
        models.extend(p.models.keys().filter(|m| Some(*m) != reference.as_ref()).cloned());
        models.retain(|m| groups.keys().any(|k| &k.0 == m));
        let mut seeds: Vec<u64> = evals.iter().map(|e| e.info.seed).collect();
        seeds.sort();
        seeds.dedup();
        let analyses =
            compare::analyse_all(&groups, &models, &p.report, &data.identities, p.labels.classes.len(), metric);
        let comparisons = analyses
            .values()
            .flat_map(|a| &a.comparisons)
            .map(|c| ((c.model.clone(), c.train.clone(), c.test.clone(), c.condition.clone()), c.clone()))
            .collect();
        Results {
            p,
            metric,
            models,
            pairs,
            trains,
            tests,
            conditions: p.mix.conditions(),
            groups,
            comparisons,
            analyses,
            seeds,
        }
    }

    pub fn reference(&self) -> Option<&str> {
        self.p.report.reference.as_deref().filter(|r| self.models.iter().any(|m| m == r))
    }

    pub fn cell(&self, model: &str, train: &str, test: &str, condition: &str) -> Option<Cell> {
        let key = (model.to_string(), train.to_string(), test.to_string(), condition.to_string());
        let evals = self.groups.get(&key)?;
        let values: Vec<f64> = evals.iter().map(|e| metric_value(&e.metrics, self.metric)).collect();
        let (mean, std) = mean_std(&values);
        let alpha = self.p.report.alpha;
        let cmp = self.comparisons.get(&key);
        let analysis = self.analyses.get(&(train.to_string(), test.to_string(), condition.to_string()));
        Some(Cell {
            mean,
            std,
            seeds: values.len(),
            mcnemar: cmp.is_some_and(|c| c.mcnemar.p_exact < alpha),
            sign_flip: cmp.and_then(|c| c.sign_flip.as_ref()).is_some_and(|b| b.p < alpha),
            interval: analysis
                .and_then(|a| a.intervals.iter().find(|(m, _, _)| m == model))
                .map(|(_, lo, hi)| (*lo, *hi)),
            tied_best: analysis
                .is_some_and(|a| a.tied_with_best.len() > 1 && a.tied_with_best.iter().any(|m| m == model)),
            transductive: self.is_transductive(model, train, test),
        })
    }

    /// The minimum detectable difference of one (train, test, condition).
    pub fn mdd(&self, train: &str, test: &str, condition: &str) -> Option<f64> {
        let a = self.analyses.get(&(train.to_string(), test.to_string(), condition.to_string()))?;
        a.mdd.as_ref().map(|m| m.mdd)
    }

    /// Whether the model of this cell adapted on the test corpus's test audio (unlabeled).
    pub fn is_transductive(&self, model: &str, train: &str, test: &str) -> bool {
        let adapts_on_test = |m: &crate::models::ModelSpec| m.adaptation_splits().is_some_and(|s| s.contains(&"test"));
        // An ensemble is transductive when a member is.
        let members = |m: &crate::models::ModelSpec| -> Vec<String> {
            serde_json::from_value(m.params["members"].clone()).unwrap_or_default()
        };
        let transductive = |m: &crate::models::ModelSpec| {
            adapts_on_test(m)
                || (m.kind.needs().combines
                    && members(m).iter().any(|x| self.p.models.get(x).is_some_and(adapts_on_test)))
        };
        self.p.models.get(model).is_some_and(transductive) && !train.split('+').any(|c| c == test)
    }

    /// Whether any cell is transductive (the legends explain § then).
    pub fn any_transductive(&self) -> bool {
        self.groups.keys().any(|(m, train, test, _)| self.is_transductive(m, train, test))
    }

    /// The noisy conditions of the cross-corpus matrix: each noise at `[report] matrix_snr_db`.
    pub fn matrix_conditions(&self) -> Vec<&Condition> {
        let mut out: Vec<&Condition> = self.conditions.iter().filter(|c| c.noise.is_none()).collect();
        out.extend(self.conditions.iter().filter(|c| c.snr_db.is_some() && c.snr_db == self.p.report.matrix_snr_db));
        out
    }

    pub fn condition(&self, name: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.name == name)
    }

    /// "20 dB", or "babble 20 dB" when several noise sources are mixed.
    pub fn condition_label(&self, c: &Condition) -> String {
        let several =
            self.conditions.iter().filter_map(|c| c.noise.as_deref()).collect::<std::collections::BTreeSet<_>>().len()
                > 1;
        match (&c.noise, c.snr_db) {
            (Some(n), Some(s)) if several => format!("{n} {s} dB"),
            (_, Some(s)) => format!("{s} dB"),
            _ => c.name.clone(),
        }
    }

    pub fn seeds_text(&self) -> String {
        self.seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
    }
}

fn push_new<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// Write every file of the report into `out`: report.md, report.tex (standalone) and tables.tex,
/// results.csv/json/parquet (one row per model, train, test, condition and seed), significance.csv,
/// training.md, adaptation.csv and plots/ (SVG and PNG).
pub fn render(p: &Pipeline, data: &ReportData, out: &Path) -> anyhow::Result<()> {
    let results = Results::new(p, data);
    let tables = tables::build(&results);
    let plots = if p.report.plots { plots::draw(&results, &out.join("plots"))? } else { Vec::new() };
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(out.join(name), bytes).with_context(|| format!("writing {}", out.join(name).display()))
    };
    let extra: Vec<(Results, tables::Tables)> = p
        .report
        .metrics
        .iter()
        .filter(|m| **m != p.report.metric)
        .map(|m| {
            let r = Results::with_metric(p, data, m);
            let t = tables::build(&r);
            (r, t)
        })
        .collect();
    let card = protocol::card(&results, data);
    write("report.md", markdown::render(&results, &tables, data, &plots, &extra, &card).as_bytes())?;
    write("protocol.json", &serde_json::to_vec_pretty(&card)?)?;
    write("enhancement.csv", enhancement::csv(&results).as_bytes())?;
    let (fragment, standalone) = latex::render(&results, &tables);
    write("tables.tex", fragment.as_bytes())?;
    write("report.tex", standalone.as_bytes())?;
    write("results.csv", tables::long_csv(&results).as_bytes())?;
    crate::table::write_parquet(&out.join("results.parquet"), &tables::long_batch(&results)?, &[])?;
    write("significance.csv", tables::significance_csv(&results).as_bytes())?;
    write("results.json", &serde_json::to_vec_pretty(&tables::json(&results, &tables, data, &card))?)?;
    write("training.md", training_times(&data.trains).as_bytes())?;
    write("adaptation.csv", adaptation_csv(&data.trains).as_bytes())?;
    tensorboard::write(&data.trains, out)?;
    Ok(())
}

/// training.md: wall-clock training time per model kind (sum over train sets and seeds) and per run.
pub fn training_times(runs: &[TrainRun]) -> String {
    let mut per_model: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for r in runs {
        let e = per_model.entry(&r.info.model).or_default();
        e.0 += r.seconds;
        e.1 += 1;
    }
    let total: f64 = runs.iter().map(|r| r.seconds).sum();
    let mut md = format!(
        "# Training time\n\nAll models: {total:.2} s of training on one thread each (stages run in parallel).\n\n"
    );
    md.push_str("| model | runs | total s | mean s per run |\n|---|---:|---:|---:|\n");
    for (model, (secs, n)) in &per_model {
        md.push_str(&format!("| {model} | {n} | {secs:.2} | {:.2} |\n", secs / *n as f64));
    }
    md.push_str("\n| model | train | seed | epochs run | s |\n|---|---|---:|---:|---:|\n");
    for r in runs {
        let i = &r.info;
        md.push_str(&format!("| {} | {} | {} | {} | {:.2} |\n", i.model, i.label(), i.seed, r.epochs, r.seconds));
    }
    let adapted: Vec<(&TrainRun, &AdaptationRun)> =
        runs.iter().filter_map(|r| Some((r, r.adaptation.as_ref()?))).collect();
    if adapted.is_empty() {
        return md;
    }
    md.push_str(
        "\n## Domain adaptation\n\nWhat each adapted model read of its target corpus (audio of these splits, never labels) \
         and, for kinds that pseudo-label, how many target utterances passed the adaptive threshold at the \
         kept epoch (chosen on the source dev split, counted from 0; one inside the warm-up is a model that \
         did not adapt) and at the last one, with the pseudo-labels' accuracy against the target's held labels \
         (computed here, for diagnosis only). Every epoch is in adaptation.csv.\n\n\
         | model | train → target | seed | splits | target utterances | kept epoch | passed | accuracy | last epoch: passed | accuracy |\n\
         |---|---|---:|---|---:|---:|---:|---:|---:|---:|\n",
    );
    let cells = |e: Option<&PseudoEpoch>| match e {
        Some(e) if e.scored > 0 => (e.passed.to_string(), format!("{:.3}", e.correct as f64 / e.scored as f64)),
        Some(e) => (e.passed.to_string(), "–".into()),
        None => ("–".into(), "–".into()),
    };
    for (r, a) in adapted {
        let (kept, kept_acc) = cells(a.epochs.get(r.best_epoch));
        let (last, last_acc) = cells(a.epochs.last());
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {kept} | {kept_acc} | {last} | {last_acc} |\n",
            r.info.model,
            r.info.label(),
            r.info.seed,
            a.splits.join(", "),
            a.target_utterances,
            r.best_epoch
        ));
    }
    md
}

/// Every epoch of every adapted model's pseudo-labelling (a header only when nothing pseudo-labels).
/// Names follow the naming rule, so no field needs quoting.
pub fn adaptation_csv(runs: &[TrainRun]) -> String {
    let mut csv = String::from("model,train,target,seed,epoch,tau,passed,scored,correct,accuracy\n");
    for r in runs {
        let (Some(a), Some(target)) = (&r.adaptation, &r.info.target) else { continue };
        for (epoch, e) in a.epochs.iter().enumerate() {
            let acc = if e.scored > 0 { format!("{:.4}", e.correct as f64 / e.scored as f64) } else { String::new() };
            csv.push_str(&format!(
                "{},{},{target},{},{epoch},{:.4},{},{},{},{acc}\n",
                r.info.model, r.info.train, r.info.seed, e.tau, e.passed, e.scored, e.correct
            ));
        }
    }
    csv
}
