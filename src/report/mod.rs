//! Paper tables from per-seed metrics: rows are model × train → test pairs, columns are clean and each
//! SNR, cells are mean ± standard deviation over seeds (sample std, n − 1; "±0" is shown only for
//! several identical seeds, one seed shows the value alone).

use std::collections::BTreeMap;

use crate::config::Pipeline;
use crate::pipeline::{conditions, stages::EvalInfo};
use crate::train::metrics::Metrics;

pub struct Rendered {
    pub markdown: String,
    pub csv: String,
    pub json: serde_json::Value,
}

pub fn metric_value(m: &Metrics, name: &str) -> f64 {
    match name {
        "wa" => m.wa,
        "macro_f1" => m.macro_f1,
        _ => m.uar,
    }
}

pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = if v.len() > 1 { (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
    (mean, std)
}

fn condition_header(name: &str, snr: Option<f64>, several_noises: bool, noise: Option<&str>) -> String {
    match (snr, noise) {
        (Some(s), Some(n)) if several_noises => format!("{n} {s} dB"),
        (Some(s), _) => format!("{s} dB"),
        _ => name.to_string(),
    }
}

pub fn render(p: &Pipeline, rows: &[(EvalInfo, Metrics)]) -> Rendered {
    let metric = p.report.metric.as_str();
    let conds = conditions(p);
    let several_noises = p.mix.noise.as_ref().is_some_and(|n| n.len() > 1);
    let several_models = p.models.len() > 1;
    // (model, train, test) in experiment order → condition → values over seeds
    let mut order: Vec<(String, String, String)> = Vec::new();
    let mut cells: BTreeMap<(String, String, String), BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    for (i, m) in rows {
        let k = (i.model.clone(), i.train.clone(), i.test.clone());
        if !order.contains(&k) {
            order.push(k.clone());
        }
        cells.entry(k).or_default().entry(i.condition.clone()).or_default().push(metric_value(m, metric));
    }
    let seeds: std::collections::BTreeSet<u64> = rows.iter().map(|(i, _)| i.seed).collect();
    let mut md = format!("# {} — {}\n\n", p.pipeline.name, metric.to_uppercase());
    md.push_str(&format!(
        "{} by train → test pair and condition; mean ± std over {} seed(s) ({}). SNR from whole-utterance power; test noise unseen in training.\n\n",
        metric.to_uppercase(),
        seeds.len(),
        seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
    ));
    let headers: Vec<String> =
        conds.iter().map(|c| condition_header(&c.name, c.snr_db, several_noises, c.noise.as_deref())).collect();
    md.push_str(&format!("| train → test | {} |\n", headers.join(" | ")));
    md.push_str(&format!("|---|{}\n", "---:|".repeat(headers.len())));
    let mut json_rows = Vec::new();
    for k in &order {
        let label =
            if several_models { format!("{}: {} → {}", k.0, k.1, k.2) } else { format!("{} → {}", k.1, k.2) };
        let mut line = format!("| {label} |");
        for c in &conds {
            match cells[k].get(&c.name) {
                Some(v) => {
                    let (mean, std) = mean_std(v);
                    if v.len() > 1 {
                        line.push_str(&format!(" {mean:.3} ± {std:.3} |"));
                    } else {
                        line.push_str(&format!(" {mean:.3} |"));
                    }
                    json_rows.push(serde_json::json!({
                        "model": k.0, "train": k.1, "test": k.2, "condition": c.name,
                        "metric": metric, "mean": mean, "std": std, "seeds": v.len(),
                    }));
                }
                None => line.push_str(" – |"),
            }
        }
        md.push_str(&line);
        md.push('\n');
    }
    md.push_str(&format!(
        "\nChance level is {:.3} ({} classes: {}).\n",
        1.0 / p.labels.classes.len() as f64,
        p.labels.classes.len(),
        p.labels.classes.join(", ")
    ));
    let mut csv = String::from("model,train,test,condition,seed,n,uar,wa,macro_f1,micro_f1\n");
    for (i, m) in rows {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{:.6},{:.6},{:.6},{:.6}\n",
            i.model, i.train, i.test, i.condition, i.seed, m.n, m.uar, m.wa, m.macro_f1, m.micro_f1
        ));
    }
    let json = serde_json::json!({
        "pipeline": p.pipeline.name,
        "pipeline_sha256": p.file_sha256,
        "tool_version": crate::TOOL_VERSION,
        "metric": metric,
        "table": json_rows,
        "per_seed": rows.iter().map(|(i, m)| serde_json::json!({"eval": i, "metrics": m})).collect::<Vec<_>>(),
    });
    Rendered { markdown: md, csv, json }
}
