//! The sweep tables: per `[sweep.*]` and train → test pair, each variant's dev UAR and its cells under
//! every condition, and the variant selected for that training set. Selection reads the train runs'
//! model cards only (the best-epoch UAR on the *source* dev split), never an eval: no test-split
//! prediction can choose a variant.

use std::collections::BTreeMap;

use serde::Serialize;

use super::tables::{cell_text, interval_text};
use super::{metric_label, Results, TrainRun};
use crate::config::Sweep;

/// A sweep's choice for one training set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Selection {
    pub train: String,
    /// (variant, mean dev UAR over its runs), in variant order; None without a dev split.
    pub dev_uar: Vec<(String, Option<f64>)>,
    /// The best mean dev UAR, the first of equals; None when no variant has a dev score.
    pub selected: Option<String>,
}

/// The selection for every training set a sweep's variants trained on, from train runs alone. Runs
/// adapted to a target count too (their dev split is still the source's).
pub fn select(sweep: &Sweep, trains: &[TrainRun]) -> Vec<Selection> {
    let mut sets: Vec<String> = Vec::new();
    for r in trains.iter().filter(|r| sweep.variants.iter().any(|v| v.name == r.info.model)) {
        if !sets.contains(&r.info.train) {
            sets.push(r.info.train.clone());
        }
    }
    sets.into_iter()
        .map(|train| {
            let dev_uar: Vec<(String, Option<f64>)> = sweep
                .variants
                .iter()
                .map(|v| {
                    let scores: Vec<f64> = trains
                        .iter()
                        .filter(|r| r.info.model == v.name && r.info.train == train)
                        .filter_map(|r| r.log.best_dev_uar)
                        .collect();
                    (v.name.clone(), (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64))
                })
                .collect();
            let selected = dev_uar
                .iter()
                .filter_map(|(n, s)| Some((n, (*s)?)))
                .fold(None, |best: Option<(&String, f64)>, (n, s)| match best {
                    Some((_, b)) if b >= s => best,
                    _ => Some((n, s)),
                })
                .map(|(n, _)| n.clone());
            Selection { train, dev_uar, selected }
        })
        .collect()
}

pub fn markdown(r: &Results, trains: &[TrainRun]) -> String {
    if r.p.sweeps.is_empty() {
        return String::new();
    }
    let mut md = format!(
        "\n## Sweeps\n\nEach variant is a model of its own in the tables above; here side by side. **selected**: the \
         variant with the best mean dev UAR (best epoch, over seeds) on the training corpora's own dev split — read \
         from the model cards, never from a test-split prediction. Cells: {} under each test condition.\n",
        metric_label(r.metric)
    );
    for s in &r.p.sweeps {
        let selections = select(s, trains);
        md.push_str(&format!("\n### {} ({}: {})\n", s.name, s.model, s.keys.join(", ")));
        for (train, test) in &r.pairs {
            let Some(sel) = selections.iter().find(|x| &x.train == train) else { continue };
            md.push_str(&format!("\n{train} → {test}\n\n| variant | {} | dev UAR |", s.keys.join(" | ")));
            for c in &r.conditions {
                md.push_str(&format!(" {} |", r.condition_label(c)));
            }
            md.push_str(&format!(
                "\n|---|{}---:|{}\n",
                "---|".repeat(s.keys.len()),
                "---:|".repeat(r.conditions.len())
            ));
            for (v, (_, dev)) in s.variants.iter().zip(&sel.dev_uar) {
                let mark = if sel.selected.as_ref() == Some(&v.name) { " **selected**" } else { "" };
                let values: Vec<String> = v.values.iter().map(|x| x.to_string()).collect();
                md.push_str(&format!(
                    "| {}{mark} | {} | {} |",
                    v.name,
                    values.join(" | "),
                    dev.map_or("–".into(), |d| format!("{d:.3}"))
                ));
                for c in &r.conditions {
                    match r.cell(&v.name, train, test, &c.name) {
                        Some(cell) => md.push_str(&format!(" {}{} |", cell_text(&cell), interval_text(&cell))),
                        None => md.push_str(" – |"),
                    }
                }
                md.push('\n');
            }
        }
    }
    md
}

pub fn json(r: &Results, trains: &[TrainRun]) -> serde_json::Value {
    let sweeps: Vec<BTreeMap<&str, serde_json::Value>> =
        r.p.sweeps
            .iter()
            .map(|s| {
                BTreeMap::from([
                    ("name", serde_json::json!(s.name)),
                    ("model", serde_json::json!(s.model)),
                    ("keys", serde_json::json!(s.keys)),
                    ("variants", serde_json::json!(s.variants)),
                    ("selection", serde_json::json!(select(s, trains))),
                ])
            })
            .collect();
    serde_json::json!(sweeps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Variant;
    use crate::models::TrainLog;
    use crate::records::TrainInfo;

    fn run(model: &str, seed: u64, dev: Option<f64>) -> TrainRun {
        let log = TrainLog {
            epochs_run: 1,
            best_epoch: 0,
            best_dev_uar: dev,
            final_train_loss: 0.0,
            seconds: 0.0,
            history: Vec::new(),
        };
        TrainRun {
            info: TrainInfo { model: model.into(), train: "a".into(), target: None, seed },
            key: String::new(),
            seconds: 0.0,
            epochs: 1,
            best_epoch: 0,
            adaptation: None,
            log,
            encoder_log: None,
        }
    }

    #[test]
    fn the_variant_with_the_best_mean_dev_uar_is_selected_from_train_runs_alone() {
        let v = |n: &str| Variant { name: n.into(), values: Vec::new(), features_tag: None };
        let sweep = Sweep {
            name: "w".into(),
            model: "m".into(),
            keys: vec!["k".into()],
            variants: vec![v("m.k-1"), v("m.k-2")],
        };
        // m.k-2 wins one seed by far, m.k-1 wins on the mean: the mean decides.
        let trains = [
            run("m.k-1", 1, Some(0.6)),
            run("m.k-1", 2, Some(0.6)),
            run("m.k-2", 1, Some(0.9)),
            run("m.k-2", 2, Some(0.2)),
        ];
        let s = select(&sweep, &trains);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].selected.as_deref(), Some("m.k-1"));
        assert_eq!(s[0].dev_uar[1], ("m.k-2".to_string(), Some(0.55)));
        // Without a dev split nothing can be selected (and no test score is consulted instead).
        let none = [run("m.k-1", 1, None), run("m.k-2", 1, None)];
        assert_eq!(select(&sweep, &none)[0].selected, None);
    }
}
