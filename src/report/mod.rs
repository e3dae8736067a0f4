//! Paper tables from per-seed metrics: rows are model × train → test pairs, columns are clean and each
//! SNR, cells are mean ± standard deviation over seeds (sample std, n − 1; "±0" is shown only for
//! several identical seeds, one seed shows the value alone).

use std::collections::BTreeMap;

use crate::audio::noise::{categories, NoisePools};
use crate::config::Pipeline;
use crate::pipeline::{conditions, stages::EvalInfo, stages::MixStats};
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

/// Three decimals, without the "-0.000" that rounding a tiny negative gives.
fn db3(x: f64) -> String {
    let s = format!("{x:.3}");
    if s == "-0.000" {
        "0.000".into()
    } else {
        s
    }
}

/// The noise section: pools (files and categories) and, per corpus and condition, how many utterances
/// were mixed, skipped and rescaled against clipping, and the achieved SNR over all of them.
fn noise_section(
    p: &Pipeline,
    mix_stats: &[(String, MixStats)],
    pools: &[(String, NoisePools)],
) -> (String, serde_json::Value) {
    if pools.is_empty() {
        return (String::new(), serde_json::Value::Null);
    }
    let mut md = String::from("\n## Noise\n\n");
    md.push_str(&format!(
        "SNR = 10·log10(P_speech / P_noise), speech power over {}; clipping is avoided by scaling the whole mixture (the SNR is kept).\n\n",
        if p.mix.snr_mode == "active" { format!("active frames (within {} dB of the loudest 20 ms frame)", p.mix.active_gate_db) } else { "the whole utterance".to_string() }
    ));
    for (name, pool) in pools {
        let cats = |f: &[crate::audio::noise::NoiseFile]| {
            categories(f)
                .iter()
                .map(|(c, n)| format!("{} {n}", if c.is_empty() { "(root)" } else { c }))
                .collect::<Vec<_>>()
                .join(", ")
        };
        md.push_str(&format!(
            "- pool `{name}`: train {} file(s) ({}); test {} file(s) ({}); no file in both\n",
            pool.train.len(),
            cats(&pool.train),
            pool.test.len(),
            cats(&pool.test)
        ));
    }
    // (corpus, condition) → aggregate over shards
    let order: Vec<String> = conditions(p).into_iter().map(|c| c.name).collect();
    let rank = |c: &str| order.iter().position(|o| o == c).unwrap_or(usize::MAX);
    // (corpus, condition rank, condition) → (mixed, skipped, clipped, Σ SNR·n, min, max)
    type Totals = (usize, usize, usize, f64, f64, f64);
    let mut agg: BTreeMap<(String, usize, String), Totals> = BTreeMap::new();
    for (corpus, s) in mix_stats {
        let e = agg.entry((corpus.clone(), rank(&s.condition), s.condition.clone())).or_insert((
            0,
            0,
            0,
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ));
        e.0 += s.mixed;
        e.1 += s.skipped;
        e.2 += s.clipped;
        if let (Some(mean), Some(lo), Some(hi)) = (s.achieved_mean_db, s.achieved_min_db, s.achieved_max_db) {
            e.3 += mean * s.mixed as f64;
            e.4 = e.4.min(lo);
            e.5 = e.5.max(hi);
        }
    }
    md.push_str("\n| test corpus | condition | mixed | skipped | clipping rescaled | achieved SNR mean [min, max] dB |\n|---|---|---:|---:|---:|---|\n");
    let mut json = Vec::new();
    for ((corpus, _, cond), (mixed, skipped, clipped, sum, lo, hi)) in &agg {
        let (lo, hi) = (*lo, *hi);
        let mean = if *mixed > 0 { sum / *mixed as f64 } else { f64::NAN };
        let snr = if *mixed > 0 { format!("{} [{}, {}]", db3(mean), db3(lo), db3(hi)) } else { "–".to_string() };
        md.push_str(&format!("| {corpus} | {cond} | {mixed} | {skipped} | {clipped} | {snr} |\n"));
        json.push(serde_json::json!({
            "corpus": corpus, "condition": cond, "mixed": mixed, "skipped": skipped, "clipped": clipped,
            "achieved_snr_mean_db": if *mixed > 0 { Some(mean) } else { None },
            "achieved_snr_min_db": if *mixed > 0 { Some(lo) } else { None },
            "achieved_snr_max_db": if *mixed > 0 { Some(hi) } else { None },
        }));
    }
    let pools_json: Vec<_> = pools
        .iter()
        .map(|(n, pl)| {
            serde_json::json!({"name": n, "train_files": pl.train.len(), "test_files": pl.test.len(),
            "train_categories": categories(&pl.train), "test_categories": categories(&pl.test)})
        })
        .collect();
    (md, serde_json::json!({"pools": pools_json, "conditions": json}))
}

/// training.md: wall-clock training time per model kind (sum over train sets and seeds) and per run.
pub fn training_times(times: &[(String, String, u64, f64, usize)]) -> String {
    let mut per_model: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for (model, _, _, secs, _) in times {
        let e = per_model.entry(model).or_default();
        e.0 += secs;
        e.1 += 1;
    }
    let total: f64 = times.iter().map(|t| t.3).sum();
    let mut md = format!(
        "# Training time\n\nAll models: {total:.2} s of training on one thread each (stages run in parallel).\n\n"
    );
    md.push_str("| model | runs | total s | mean s per run |\n|---|---:|---:|---:|\n");
    for (model, (secs, n)) in &per_model {
        md.push_str(&format!("| {model} | {n} | {secs:.2} | {:.2} |\n", secs / *n as f64));
    }
    md.push_str("\n| model | train | seed | epochs run | s |\n|---|---|---:|---:|---:|\n");
    for (model, train, seed, secs, epochs) in times {
        md.push_str(&format!("| {model} | {train} | {seed} | {epochs} | {secs:.2} |\n"));
    }
    md
}

pub fn render(
    p: &Pipeline,
    rows: &[(EvalInfo, Metrics)],
    mix_stats: &[(String, MixStats)],
    pools: &[(String, NoisePools)],
) -> Rendered {
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
        "{} by train → test pair and condition; mean ± std over {} seed(s) ({}). SNR from {} power; test noise unseen in training.\n\n",
        metric.to_uppercase(),
        seeds.len(),
        seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "),
        if p.mix.snr_mode == "active" { "active-speech" } else { "whole-utterance" }
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
    let (noise_md, noise_json) = noise_section(p, mix_stats, pools);
    md.push_str(&noise_md);
    md.push_str(
        "\nTraining wall-clock times are in training.md next to this file (they vary from run to run, so they \
         stay out of this byte-reproducible report).\n",
    );
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
        "noise": noise_json,
        "per_seed": rows.iter().map(|(i, m)| serde_json::json!({"eval": i, "metrics": m})).collect::<Vec<_>>(),
    });
    Rendered { markdown: md, csv, json }
}
