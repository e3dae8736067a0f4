//! The report's tables as data (rows, columns, cells, which cell is best), written by markdown.rs and
//! latex.rs, and the long tables: every (model, train, test, condition, seed) row and every comparison.

use serde_json::json;

use super::{metric_value, Cell, ReportData, Results};
use serde::Serialize;

pub struct Row {
    pub label: String,
    pub reference: bool,
    pub cells: Vec<Option<Cell>>,
}

pub struct Table {
    /// A name usable in file names and LaTeX labels, e.g. `robustness-synth_a-synth_b`.
    pub id: String,
    /// "synth_a → synth_b" or "mlp, clean".
    pub title: String,
    /// The header of the row labels.
    pub corner: String,
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
    /// Per column, the minimum detectable difference of its test set (`significance::mdd`; in a
    /// matrix, the largest over its rows).
    pub mdd: Vec<Option<f64>>,
}

impl Table {
    /// Whether a cell is set in bold: it shows its column's best mean, or the sign-flip test cannot
    /// separate it from the best (a tie in rank).
    pub fn bold(&self, best: &Option<String>, c: &Cell) -> bool {
        best.is_some() && (best.as_deref() == Some(format!("{:.3}", c.mean).as_str()) || c.tied_best)
    }

    /// Per column, the best mean as shown (three decimals), when the column has two cells or more:
    /// every cell that shows it is set in bold.
    pub fn best(&self) -> Vec<Option<String>> {
        (0..self.columns.len())
            .map(|j| {
                let shown: Vec<f64> = self.rows.iter().filter_map(|r| r.cells[j].as_ref()).map(|c| c.mean).collect();
                (shown.len() > 1).then(|| format!("{:.3}", shown.iter().cloned().fold(f64::NEG_INFINITY, f64::max)))
            })
            .collect()
    }
}

pub struct Tables {
    /// (a) per train → test pair: models × conditions.
    pub robustness: Vec<Table>,
    /// (b) per model and condition (clean, each noise at the matrix SNR): train × test corpora.
    pub matrices: Vec<Table>,
}

/// A name made of letters, digits, '_', '.' and '-' only.
pub fn file_safe(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' }).collect()
}

/// "0.852 ± 0.046", or the value alone for one seed.
pub fn cell_text(c: &Cell) -> String {
    if c.seeds > 1 {
        format!("{:.3} ± {:.3}", c.mean, c.std)
    } else {
        format!("{:.3}", c.mean)
    }
}

/// " [0.801, 0.899]": the cell's bootstrap interval, or nothing without resamples.
pub fn interval_text(c: &Cell) -> String {
    c.interval.map(|(lo, hi)| format!(" [{lo:.3}, {hi:.3}]")).unwrap_or_default()
}

pub fn build(r: &Results) -> Tables {
    let reference = r.reference();
    let robustness = r
        .pairs
        .iter()
        .map(|(train, test)| Table {
            id: file_safe(&format!("robustness-{train}-{test}")),
            title: format!("{train} → {test}"),
            corner: "model".into(),
            columns: r.conditions.iter().map(|c| r.condition_label(c)).collect(),
            rows: r
                .models
                .iter()
                .map(|m| Row {
                    label: m.clone(),
                    reference: Some(m.as_str()) == reference,
                    cells: r.conditions.iter().map(|c| r.cell(m, train, test, &c.name)).collect(),
                })
                .filter(|row| row.cells.iter().any(Option::is_some))
                .collect(),
            mdd: r.conditions.iter().map(|c| r.mdd(train, test, &c.name)).collect(),
        })
        .collect();
    let mut matrices = Vec::new();
    for m in &r.models {
        for c in r.matrix_conditions() {
            let rows: Vec<Row> = r
                .trains
                .iter()
                .map(|train| Row {
                    label: train.clone(),
                    reference: false,
                    // Rows of a matrix are training sets of one model: ties rank models, not these.
                    cells: r
                        .tests
                        .iter()
                        .map(|test| r.cell(m, train, test, &c.name).map(|c| Cell { tied_best: false, ..c }))
                        .collect(),
                })
                .filter(|row| row.cells.iter().any(Option::is_some))
                .collect();
            if rows.is_empty() {
                continue;
            }
            let role = if Some(m.as_str()) == reference { " (reference)" } else { "" };
            matrices.push(Table {
                id: file_safe(&format!("matrix-{m}-{}", c.name)),
                title: format!("{m}{role}, {}", r.condition_label(c)),
                corner: "train \\ test".into(),
                columns: r.tests.clone(),
                mdd: r
                    .tests
                    .iter()
                    .map(|test| {
                        r.trains
                            .iter()
                            .filter_map(|train| r.mdd(train, test, &c.name))
                            .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))))
                    })
                    .collect(),
                rows,
            });
        }
    }
    Tables { robustness, matrices }
}

const LONG_HEADER: &str = "model,train,test,condition,noise,snr_db,seed,n,uar,wa,macro_f1,micro_f1,eval_key,train_key";

/// Every eval in table order: model, train → test pair, condition, seed.
fn every_eval<'a>(r: &'a Results) -> Vec<&'a super::EvalResult> {
    let mut out = Vec::new();
    for m in &r.models {
        for (train, test) in &r.pairs {
            for c in &r.conditions {
                let key = (m.clone(), train.clone(), test.clone(), c.name.clone());
                out.extend(r.groups.get(&key).into_iter().flatten().copied());
            }
        }
    }
    out
}

/// results.csv: one row per (model, train, test, condition, seed), every metric at full precision
/// (shortest round-trip form), with the keys of the eval and train stages that produced it.
pub fn long_csv(r: &Results) -> String {
    let mut csv = format!("{LONG_HEADER}\n");
    for e in every_eval(r) {
        let (i, m) = (&e.info, &e.metrics);
        let c = r.condition(&i.condition);
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            i.model,
            i.train,
            i.test,
            i.condition,
            c.and_then(|c| c.noise.clone()).unwrap_or_default(),
            c.and_then(|c| c.snr_db).map(|s| s.to_string()).unwrap_or_default(),
            i.seed,
            m.n,
            m.uar,
            m.wa,
            m.macro_f1,
            m.micro_f1,
            e.eval_key,
            e.train_key
        ));
    }
    csv
}

/// The same rows as results.csv, as Arrow columns (results.parquet).
pub fn long_batch(r: &Results) -> anyhow::Result<arrow_array::RecordBatch> {
    let evals = every_eval(r);
    let cond = |e: &super::EvalResult| r.condition(&e.info.condition);
    crate::table::Columns::new()
        .strings("model", evals.iter().map(|e| &e.info.model))
        .strings("train", evals.iter().map(|e| &e.info.train))
        .strings("test", evals.iter().map(|e| &e.info.test))
        .strings("condition", evals.iter().map(|e| &e.info.condition))
        .opt_strings("noise", evals.iter().map(|e| cond(e).and_then(|c| c.noise.clone())))
        .opt_f64s("snr_db", evals.iter().map(|e| cond(e).and_then(|c| c.snr_db)))
        .i64s("seed", evals.iter().map(|e| e.info.seed as i64))
        .i64s("n", evals.iter().map(|e| e.metrics.n as i64))
        .f64s("uar", evals.iter().map(|e| e.metrics.uar))
        .f64s("wa", evals.iter().map(|e| e.metrics.wa))
        .f64s("macro_f1", evals.iter().map(|e| e.metrics.macro_f1))
        .f64s("micro_f1", evals.iter().map(|e| e.metrics.micro_f1))
        .strings("eval_key", evals.iter().map(|e| &e.eval_key))
        .strings("train_key", evals.iter().map(|e| &e.train_key))
        .batch()
}

/// significance.csv: one row per comparison with the reference.
pub fn significance_csv(r: &Results) -> String {
    let mut csv = String::from(
        "model,reference,train,test,condition,utterances,mcnemar_b,mcnemar_c,mcnemar_p_exact,mcnemar_chi2,mcnemar_p_chi2,metric,delta,ci_low,ci_high,confidence,bootstrap_p,resamples,unit,units,sign_flip_p\n",
    );
    let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    for c in ordered_comparisons(r) {
        let b = c.bootstrap.as_ref();
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            c.model,
            c.reference,
            c.train,
            c.test,
            c.condition,
            c.utterances,
            c.mcnemar.b,
            c.mcnemar.c,
            c.mcnemar.p_exact,
            c.mcnemar.chi2,
            c.mcnemar.p_chi2,
            r.metric,
            opt(b.map(|b| b.delta)),
            opt(b.map(|b| b.ci_low)),
            opt(b.map(|b| b.ci_high)),
            opt(b.map(|b| b.confidence)),
            opt(b.map(|b| b.p)),
            b.map_or(0, |b| b.resamples),
            c.unit,
            c.clusters,
            opt(c.sign_flip.as_ref().map(|f| f.p)),
        ));
    }
    csv
}

/// Comparisons in table order: pairs as declared, conditions in grid order, models in table order.
pub fn ordered_comparisons<'a>(r: &'a Results) -> Vec<&'a super::Comparison> {
    let mut out = Vec::new();
    for (train, test) in &r.pairs {
        for c in &r.conditions {
            for m in &r.models {
                let key = (m.clone(), train.clone(), test.clone(), c.name.clone());
                out.extend(r.comparisons.get(&key));
            }
        }
    }
    out
}

fn table_json(t: &Table) -> serde_json::Value {
    json!({
        "id": t.id, "title": t.title, "corner": t.corner, "columns": t.columns,
        "mdd": t.mdd,
        "rows": t.rows.iter().map(|row| json!({
            "label": row.label,
            "reference": row.reference,
            "cells": row.cells.iter().map(|c| c.as_ref().map(|c| json!({
                "mean": c.mean, "std": c.std, "seeds": c.seeds,
                "ci_low": c.interval.map(|i| i.0), "ci_high": c.interval.map(|i| i.1),
                "mcnemar_significant": c.mcnemar, "sign_flip_significant": c.sign_flip,
                "tied_with_best": c.tied_best, "transductive": c.transductive,
            }))).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// results.json: the cells, the tables as laid out, every per-seed row, every comparison, the noise
/// statistics and the reproducibility record.
pub fn json(r: &Results, tables: &Tables, data: &ReportData, protocol: &serde_json::Value) -> serde_json::Value {
    let mut cells = Vec::new();
    for (train, test) in &r.pairs {
        for m in &r.models {
            for c in &r.conditions {
                if let Some(cell) = r.cell(m, train, test, &c.name) {
                    cells.push(json!({
                        "model": m, "train": train, "test": test, "condition": c.name, "metric": r.metric,
                        "mean": cell.mean, "std": cell.std, "seeds": cell.seeds,
                        "ci_low": cell.interval.map(|i| i.0), "ci_high": cell.interval.map(|i| i.1),
                        "confidence": r.p.report.confidence, "bootstrap_unit": r.p.report.bootstrap_unit,
                        "tied_with_best": cell.tied_best,
                    }));
                }
            }
        }
    }
    let per_seed: Vec<_> = every_eval(r)
        .into_iter()
        .map(|e| {
            json!({
                "eval": e.info, "eval_key": e.eval_key, "train_key": e.train_key,
                "metric": metric_value(&e.metrics, r.metric), "metrics": e.metrics,
            })
        })
        .collect();
    json!({
        "pipeline": r.p.pipeline.name,
        "pipeline_sha256": r.p.file_sha256,
        "tool_version": crate::TOOL_VERSION,
        "metric": r.metric,
        "reference": r.reference(),
        "alpha": r.p.report.alpha,
        "table": cells,
        "tables": {
            "robustness": tables.robustness.iter().map(table_json).collect::<Vec<_>>(),
            "matrices": tables.matrices.iter().map(table_json).collect::<Vec<_>>(),
        },
        "per_seed": per_seed,
        "significance": ordered_comparisons(r),
        "minimum_detectable_difference": mdd_json(r),
        "noise": super::repro::noise_json(r.p, data),
        "reproducibility": super::repro::json(r, data),
        "protocol": protocol,
        "sweeps": super::sweep::json(r, &data.trains),
    })
}

/// Every cell's minimum detectable difference, with what it was computed from.
fn mdd_json(r: &Results) -> serde_json::Value {
    #[derive(Serialize)]
    struct Row<'a> {
        train: &'a str,
        test: &'a str,
        condition: &'a str,
        #[serde(flatten)]
        mdd: &'a super::significance::Mdd,
    }
    let rows: Vec<Row> = r
        .analyses
        .iter()
        .filter_map(|((train, test, condition), a)| Some(Row { train, test, condition, mdd: a.mdd.as_ref()? }))
        .collect();
    serde_json::to_value(rows).unwrap_or_default()
}
