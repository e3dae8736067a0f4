//! What a reader needs to reproduce the numbers: the noise section (pools, how each condition was
//! mixed) and the reproducibility section (tool version, pipeline hash, label mapping, split sizes,
//! seeds, the SNR definition and the stage key behind every number).

use std::collections::BTreeMap;

use serde_json::json;

use super::{ReportData, Results};
use crate::audio::noise::{categories, NoiseFile};
use crate::config::{Corpus, Pipeline};

/// Three decimals, without the "-0.000" that rounding a tiny negative gives.
fn db3(x: f64) -> String {
    let s = format!("{x:.3}");
    if s == "-0.000" {
        "0.000".into()
    } else {
        s
    }
}

pub(super) fn snr_definition(p: &Pipeline) -> String {
    let over = if p.mix.snr_mode == "active" {
        format!("active frames (within {} dB of the loudest 20 ms frame)", p.mix.active_gate_db)
    } else {
        "the whole utterance".to_string()
    };
    format!("SNR = 10·log10(P_speech / P_noise), speech power over {over}")
}

fn category_list(files: &[NoiseFile]) -> String {
    categories(files)
        .iter()
        .map(|(c, n)| format!("{} {n}", if c.is_empty() { "(root)" } else { c }))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Mix statistics per (corpus, condition) in grid order: (mixed, skipped, clipped, Σ SNR·n, min, max).
type Totals = (usize, usize, usize, f64, f64, f64);

fn mix_totals(p: &Pipeline, data: &ReportData) -> BTreeMap<(String, usize, String), Totals> {
    let order: Vec<String> = p.mix.conditions().into_iter().map(|c| c.name).collect();
    let rank = |c: &str| order.iter().position(|o| o == c).unwrap_or(usize::MAX);
    let mut agg: BTreeMap<(String, usize, String), Totals> = BTreeMap::new();
    for (corpus, s) in &data.mix_stats {
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
    agg
}

/// The noise section: pools (files and categories) and, per corpus and condition, how many utterances
/// were mixed, skipped and rescaled against clipping, and the achieved SNR over all of them.
pub fn noise_markdown(p: &Pipeline, data: &ReportData) -> String {
    if data.pools.is_empty() {
        return String::new();
    }
    let mut md = String::from("\n## Noise\n\n");
    md.push_str(&format!(
        "{}; clipping is avoided by scaling the whole mixture (the SNR is kept). Test noise comes from each pool's test files only.\n\n",
        snr_definition(p)
    ));
    for (name, pool) in &data.pools {
        md.push_str(&format!(
            "- pool `{name}`: train {} file(s) ({}); test {} file(s) ({}); no file in both\n",
            pool.train.len(),
            category_list(&pool.train),
            pool.test.len(),
            category_list(&pool.test)
        ));
    }
    md.push_str("\n| test corpus | condition | mixed | skipped | clipping rescaled | achieved SNR mean [min, max] dB |\n|---|---|---:|---:|---:|---|\n");
    for ((corpus, _, cond), (mixed, skipped, clipped, sum, lo, hi)) in &mix_totals(p, data) {
        let snr = if *mixed > 0 {
            format!("{} [{}, {}]", db3(sum / *mixed as f64), db3(*lo), db3(*hi))
        } else {
            "–".to_string()
        };
        md.push_str(&format!("| {corpus} | {cond} | {mixed} | {skipped} | {clipped} | {snr} |\n"));
    }
    md
}

pub fn noise_json(p: &Pipeline, data: &ReportData) -> serde_json::Value {
    if data.pools.is_empty() {
        return serde_json::Value::Null;
    }
    let conditions: Vec<_> = mix_totals(p, data)
        .iter()
        .map(|((corpus, _, cond), (mixed, skipped, clipped, sum, lo, hi))| {
            let some = |v: f64| (*mixed > 0).then_some(v);
            json!({
                "corpus": corpus, "condition": cond, "mixed": mixed, "skipped": skipped, "clipped": clipped,
                "achieved_snr_mean_db": some(sum / *mixed as f64),
                "achieved_snr_min_db": some(*lo), "achieved_snr_max_db": some(*hi),
            })
        })
        .collect();
    let pools: Vec<_> = data
        .pools
        .iter()
        .map(|(n, pl)| {
            json!({"name": n, "train_files": pl.train.len(), "test_files": pl.test.len(),
            "train_categories": categories(&pl.train), "test_categories": categories(&pl.test)})
        })
        .collect();
    json!({"snr_definition": snr_definition(p), "pools": pools, "conditions": conditions})
}

/// How a corpus is split, in words.
pub(super) fn split_text(c: &Corpus) -> String {
    let s = &c.split;
    match s.method.as_deref().unwrap_or("speakers") {
        "sessions" => format!(
            "sessions: test {}, dev {}",
            s.test_session,
            if s.dev_session == 0 { "none".to_string() } else { s.dev_session.to_string() }
        ),
        "official" => "the corpus's official partition".into(),
        "column" => "the split column".into(),
        _ => format!("speakers by seeded hash (seed {}): train {}, dev {}, rest test", s.seed, s.train, s.dev),
    }
}

/// Native codes and where they go; the drop reasons of the corpus with their counts.
fn label_map_text(c: &Corpus) -> String {
    c.label_map.iter().map(|(k, v)| format!("{k} → {v}")).collect::<Vec<_>>().join(", ")
}

fn seeds_of_models(p: &Pipeline, r: &Results) -> String {
    r.models
        .iter()
        .map(|m| {
            let s = p.models[m].seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
            format!("{m} {s}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub(super) fn split_counts(report: &crate::records::IngestReport) -> BTreeMap<&str, usize> {
    let mut by_split: BTreeMap<&str, usize> = BTreeMap::new();
    for per_split in report.counts.values() {
        for (split, n) in per_split {
            *by_split.entry(split.as_str()).or_default() += n;
        }
    }
    by_split
}

pub fn markdown(r: &Results, data: &ReportData) -> String {
    let p = r.p;
    let mut md = String::from("\n## Reproducibility\n\n");
    md.push_str(&format!(
        "- sertool {}; pipeline `{}` (SHA-256 `{}`). `sertool run` recomputes only what is stale; `sertool report` rebuilds these files from the cache without training.\n",
        crate::TOOL_VERSION,
        p.file.file_name().map_or_else(|| p.file.display().to_string(), |f| f.to_string_lossy().to_string()),
        p.file_sha256
    ));
    md.push_str(&format!(
        "- Classes: {} (chance {:.3}). Audio resampled to {} Hz ({}), channels: {}.\n",
        p.labels.classes.join(", "),
        1.0 / p.labels.classes.len() as f64,
        p.pipeline.sample_rate_hz,
        crate::audio::RESAMPLER,
        p.pipeline.channels
    ));
    md.push_str(&format!("- Features: `{}`.\n", serde_json::to_string(&p.features).unwrap_or_default()));
    for (m, f) in &p.model_features {
        md.push_str(&format!("- Features of {m}: `{}`.\n", serde_json::to_string(f).unwrap_or_default()));
    }
    if !p.noise.is_empty() {
        md.push_str(&format!(
            "- {}; SNR grid {} dB; mixing seed {}.\n",
            snr_definition(p),
            p.mix.snr_db.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "),
            p.mix.seed,
        ));
    }
    for (name, pool) in &data.pools {
        md.push_str(&format!(
            "- Noise pool `{name}` ({}, split seed {}): train {} file(s) ({}), test {} file(s) ({}).\n",
            p.noise.get(name).map_or("?", |n| n.kind.as_str()),
            p.noise.get(name).map_or(0, |n| n.seed),
            pool.train.len(),
            category_list(&pool.train),
            pool.test.len(),
            category_list(&pool.test)
        ));
    }
    md.push_str(&format!("- Model seeds: {}.\n", seeds_of_models(p, r)));
    if let Some(reference) = r.reference() {
        md.push_str(&format!(
            "- Significance against `{reference}` at α = {}: McNemar's exact test on the seed ensembles' per-utterance correctness (class probabilities averaged over seeds); paired bootstrap of the seed-averaged {} difference, {} resamples of the test set's {}s (seed {}), {:.0}% percentile interval; paired sign-flip test on the seed ensembles by {}, p = (1 + extreme) / (1 + {}).\n",
            p.report.alpha,
            super::metric_label(r.metric),
            p.report.bootstrap_resamples,
            p.report.bootstrap_unit,
            p.report.seed,
            p.report.confidence * 100.0,
            p.report.bootstrap_unit,
            p.report.bootstrap_resamples,
        ));
    }

    md.push_str("\n### Label mapping and splits\n\n");
    md.push_str("| corpus | kind | native → unified | dropped | split | train | dev | test | speakers train / dev / test |\n|---|---|---|---|---|---:|---:|---:|---|\n");
    for (name, ingest) in &data.ingest {
        let Some(c) = p.corpora.get(name) else { continue };
        let counts = split_counts(ingest);
        let dropped = if ingest.dropped.is_empty() {
            "–".to_string()
        } else {
            ingest.dropped.iter().map(|(why, n)| format!("{why}: {n}")).collect::<Vec<_>>().join("; ")
        };
        let spk = |s: &str| ingest.speakers_per_split.get(s).copied().unwrap_or(0);
        md.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} / {} / {} |\n",
            c.kind,
            label_map_text(c),
            dropped,
            split_text(c),
            counts.get("train").copied().unwrap_or(0),
            counts.get("dev").copied().unwrap_or(0),
            counts.get("test").copied().unwrap_or(0),
            spk("train"),
            spk("dev"),
            spk("test"),
        ));
    }

    md.push_str("\n### Stage keys\n\nEvery number above is the output of an eval stage of a train stage; results.csv names both keys for every (model, train, test, condition, seed) row, and `cache/<kind>/<key>/meta.json` records each stage's parameters and inputs. Train stages (first 16 hex digits of the key):\n\n");
    md.push_str("| model | train | seed | train key |\n|---|---|---:|---|\n");
    for t in &data.trains {
        let i = &t.info;
        md.push_str(&format!("| {} | {} | {} | `{}` |\n", i.model, i.label(), i.seed, &t.key[..t.key.len().min(16)]));
    }
    md
}

pub fn json(r: &Results, data: &ReportData) -> serde_json::Value {
    let p = r.p;
    let corpora: Vec<_> = data
        .ingest
        .iter()
        .filter_map(|(name, ingest)| {
            let c = p.corpora.get(name)?;
            Some(json!({
                "corpus": name, "kind": c.kind, "label_map": c.label_map, "dropped": ingest.dropped,
                "split": split_text(c), "split_sizes": split_counts(ingest),
                "speakers_per_split": ingest.speakers_per_split,
            }))
        })
        .collect();
    let mut out = json!({
        "tool_version": crate::TOOL_VERSION,
        "pipeline_file": p.file.display().to_string(),
        "pipeline_sha256": p.file_sha256,
        "classes": p.labels.classes,
        "sample_rate_hz": p.pipeline.sample_rate_hz,
        "resampler": crate::audio::RESAMPLER,
        "channels": p.pipeline.channels,
        "features": p.features,
        "snr_definition": snr_definition(p),
        "snr_db": p.mix.snr_db,
        "mix_seed": p.mix.seed,
        "noise_pool_seeds": p.noise.values().map(|n| (n.name.clone(), n.seed)).collect::<BTreeMap<_, _>>(),
        "model_seeds": p.models.iter().map(|(m, c)| (m.clone(), c.seeds.clone())).collect::<BTreeMap<_, _>>(),
        "report": p.report,
        "corpora": corpora,
        "train_keys": data.trains.iter().map(|t| json!({"model": t.info.model, "train": t.info.train, "target": t.info.target, "seed": t.info.seed, "key": t.key})).collect::<Vec<_>>(),
    });
    // Only with feature sweeps, so reports of other pipelines keep their bytes.
    if !p.model_features.is_empty() {
        out["model_features"] = json!(p.model_features);
    }
    out
}
