//! The work of each stage kind. Each function reads its inputs' committed directories and writes into
//! `ctx.out`; per-utterance problems come back as faults, anything else is an error that fails the stage.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Context;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::audio::mix::{self, Recipe, SnrMode};
use crate::audio::noise::{split_pools, NoiseFile, NoisePools};
use crate::audio::{wav_info, AudioIn};
use crate::config::{FeatureSpec, ImportedFeatures, ModelSpec, NoiseSource, Pipeline};
use crate::corpus::{Scan, Utterance};
use crate::engine::StageCtx;
use crate::error::Fault;
use crate::models::metrics::{self, Metrics};
use crate::models::{argmax, ModelCard, Standardizer, TrainData};
use crate::table::{self, Columns};

fn fault(u: &Utterance, corpus: &str, what: &str, detail: impl std::fmt::Display) -> Fault {
    Fault {
        corpus: corpus.to_string(),
        utterance: u.id.clone(),
        file: u.rel_path.clone(),
        what: what.to_string(),
        detail: format!("{detail:#}"),
    }
}

fn corpus_of(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

fn write_json(path: &Path, v: &impl Serialize) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(v)?).with_context(|| format!("writing {}", path.display()))
}

/// Ingestion summary: counts by unified label × split, speakers per split, what was dropped and why,
/// and the problems met (missing, unlabeled or unreadable files, malformed lines).
#[derive(Debug, Serialize, Deserialize)]
pub struct IngestReport {
    pub corpus: String,
    pub kind: String,
    pub utterances: usize,
    pub labeled: usize,
    /// unified label → split → count
    pub counts: BTreeMap<String, BTreeMap<String, usize>>,
    /// split → distinct known speakers ("unknown" speakers are counted under `unknown_speaker_utterances`)
    pub speakers_per_split: BTreeMap<String, usize>,
    pub unknown_speaker_utterances: usize,
    /// Speakers found in more than one of train / dev / test (a leak in the corpus's own partition).
    pub leaked_speakers: Vec<String>,
    pub dropped: BTreeMap<String, usize>,
    /// fault kind ("missing audio", "unlabeled audio", "unreadable audio", ...) → count
    pub problems: BTreeMap<String, usize>,
    pub hours: f64,
}

pub fn manifest(ctx: &StageCtx, scan: &Scan, kind: &str, strict: bool) -> anyhow::Result<Vec<Fault>> {
    let mut faults = scan.faults.clone();
    let infos: Vec<Result<crate::audio::WavInfo, anyhow::Error>> =
        scan.utterances.par_iter().map(|u| wav_info(&u.path)).collect();
    let mut duration = Vec::new();
    let mut rate = Vec::new();
    let mut channels = Vec::new();
    for (u, info) in scan.utterances.iter().zip(&infos) {
        match info {
            Ok(i) => {
                if i.frames == 0 {
                    faults.push(fault(u, &scan.corpus, "empty audio", "the WAV file holds no samples"));
                }
                duration.push(i.frames as f64 / i.sample_rate.max(1) as f64);
                rate.push(i.sample_rate);
                channels.push(i.channels as u32);
            }
            Err(e) => {
                faults.push(fault(u, &scan.corpus, "unreadable audio", e));
                duration.push(0.0);
                rate.push(0);
                channels.push(0);
            }
        }
    }
    if strict && !faults.is_empty() {
        let f = &faults[0];
        anyhow::bail!(
            "strict ingest of {}: {} problem(s), the first: {} {}: {}",
            scan.corpus,
            faults.len(),
            f.what,
            if f.file.is_empty() { &f.utterance } else { &f.file },
            f.detail
        );
    }
    let us = &scan.utterances;
    let batch = Columns::new()
        .strings("id", us.iter().map(|u| &u.id))
        .strings("path", us.iter().map(|u| &u.rel_path))
        .strings("speaker", us.iter().map(|u| &u.speaker))
        .strings("gender", us.iter().map(|u| &u.gender))
        .opt_u32s("age", us.iter().map(|u| u.age))
        .strings("split", us.iter().map(|u| &u.split))
        .opt_strings("native_split", us.iter().map(|u| u.native_split.clone()))
        .strings("native_label", us.iter().map(|u| &u.native_label))
        .opt_strings("label", us.iter().map(|u| u.label.clone()))
        .opt_strings("drop_reason", us.iter().map(|u| u.drop_reason.clone()))
        .opt_f64s("valence", us.iter().map(|u| u.valence))
        .opt_f64s("arousal", us.iter().map(|u| u.arousal))
        .opt_f64s("dominance", us.iter().map(|u| u.dominance))
        .opt_strings("transcript", us.iter().map(|u| u.transcript.clone()))
        .f64s("duration_s", duration.iter().copied())
        .u32s("sample_rate_hz", rate.iter().copied())
        .u32s("channels", channels.iter().copied())
        .strings("content_sha256", us.iter().map(|u| &u.content_hash))
        .batch()?;
    table::write_parquet(&ctx.out.join("manifest.parquet"), &batch, &[("sertool.corpus", scan.corpus.clone())])?;
    let mut csv = String::from("id,path,speaker,gender,split,native_label,label,duration_s,sample_rate_hz\n");
    for (i, u) in us.iter().enumerate().take(50) {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{:.3},{}\n",
            u.id,
            u.rel_path,
            u.speaker,
            u.gender,
            u.split,
            u.native_label,
            u.label.as_deref().unwrap_or(""),
            duration[i],
            rate[i]
        ));
    }
    std::fs::write(ctx.out.join("manifest.csv"), csv)?;
    write_json(&ctx.out.join("ingest.json"), &ingest_report(scan, kind, &faults, &duration))?;
    Ok(faults)
}

fn ingest_report(scan: &Scan, kind: &str, faults: &[Fault], duration: &[f64]) -> IngestReport {
    let mut counts: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut speakers: BTreeMap<String, std::collections::BTreeSet<&str>> = BTreeMap::new();
    let mut splits_of: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    let mut dropped = BTreeMap::new();
    let mut unknown = 0;
    for u in &scan.utterances {
        match &u.label {
            Some(l) => {
                *counts.entry(l.clone()).or_default().entry(u.split.clone()).or_default() += 1;
                if u.speaker == "unknown" {
                    unknown += 1;
                } else {
                    speakers.entry(u.split.clone()).or_default().insert(&u.speaker);
                    if ["train", "dev", "test"].contains(&u.split.as_str()) {
                        splits_of.entry(&u.speaker).or_default().insert(&u.split);
                    }
                }
            }
            None => *dropped.entry(u.drop_reason.clone().unwrap_or_default()).or_default() += 1,
        }
    }
    let mut problems = BTreeMap::new();
    for f in faults {
        *problems.entry(f.what.clone()).or_default() += 1;
    }
    IngestReport {
        corpus: scan.corpus.clone(),
        kind: kind.to_string(),
        utterances: scan.utterances.len(),
        labeled: scan.utterances.iter().filter(|u| u.label.is_some()).count(),
        counts,
        speakers_per_split: speakers.into_iter().map(|(k, v)| (k, v.len())).collect(),
        unknown_speaker_utterances: unknown,
        leaked_speakers: splits_of.into_iter().filter(|(_, s)| s.len() > 1).map(|(k, _)| k.to_string()).collect(),
        dropped,
        problems,
        hours: duration.iter().sum::<f64>() / 3600.0,
    }
}

pub fn noise_pool(ctx: &StageCtx, files: &[NoiseFile], source: &NoiseSource) -> anyhow::Result<Vec<Fault>> {
    let pools = split_pools(files, source);
    write_json(&ctx.out.join("pool.json"), &pools)?;
    Ok(Vec::new())
}

fn read_pools(dir: &Path) -> anyhow::Result<NoisePools> {
    let p = dir.join("pool.json");
    Ok(serde_json::from_slice(&std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?)?)
}

/// Decoded noise files, loaded once per shard.
struct NoiseBank<'a> {
    root: &'a Path,
    audio: AudioIn,
    loaded: std::sync::Mutex<HashMap<String, std::sync::Arc<Vec<f32>>>>,
}

impl NoiseBank<'_> {
    fn get(&self, rel: &str) -> anyhow::Result<std::sync::Arc<Vec<f32>>> {
        if let Some(x) = self.loaded.lock().unwrap().get(rel) {
            return Ok(x.clone());
        }
        let x = std::sync::Arc::new(self.audio.load(&self.root.join(rel))?);
        self.loaded.lock().unwrap().insert(rel.to_string(), x.clone());
        Ok(x)
    }
}

#[allow(clippy::too_many_arguments)]
pub fn mix(
    ctx: &StageCtx,
    utts: &[Utterance],
    noise_root: &Path,
    condition: &str,
    snr_db: f64,
    seed: u64,
    audio: AudioIn,
    mode: SnrMode,
) -> anyhow::Result<Vec<Fault>> {
    let pools = read_pools(&ctx.inputs[0])?;
    let bank = NoiseBank { root: noise_root, audio, loaded: Default::default() };
    let results: Vec<Result<(Recipe, f64), Fault>> = utts
        .par_iter()
        .map(|u| {
            let corpus = corpus_of(&u.id);
            let speech = audio.load(&u.path).map_err(|e| fault(u, corpus, "unreadable audio", e))?;
            let (idx, mut rng) = mix::choose(&pools.test, &u.id, condition, seed)
                .ok_or_else(|| fault(u, corpus, "mix skipped", mix::Skip::NoNoise))?;
            let file = &pools.test[idx];
            let noise = bank.get(&file.path).map_err(|e| fault(u, corpus, "unreadable noise", e))?;
            let r = mix::make_recipe(&u.id, &speech, file, &noise, &mut rng, snr_db, seed, mode)
                .map_err(|s| fault(u, corpus, "mix skipped", s))?;
            let achieved = mix::achieved_snr_db(&speech, &mix::apply(&speech, &noise, &r), &r, mode);
            Ok((r, achieved))
        })
        .collect();
    let mut faults = Vec::new();
    let mut recipes = Vec::new();
    let mut achieved = Vec::new();
    for r in results {
        match r {
            Ok((r, a)) => {
                recipes.push(r);
                achieved.push(a);
            }
            Err(f) => faults.push(f),
        }
    }
    let stats = MixStats::new(condition, &recipes, &achieved, &faults);
    write_json(&ctx.out.join("stats.json"), &stats)?;
    let batch = Columns::new()
        .strings("utterance", recipes.iter().map(|r| &r.utterance))
        .strings("noise_file", recipes.iter().map(|r| &r.noise_file))
        .strings("noise_sha256", recipes.iter().map(|r| &r.noise_sha256))
        .i64s("offset", recipes.iter().map(|r| r.offset as i64))
        .f64s("gain", recipes.iter().map(|r| r.gain))
        .f64s("scale", recipes.iter().map(|r| r.scale))
        .f64s("snr_db", recipes.iter().map(|r| r.snr_db))
        .i64s("seed", recipes.iter().map(|r| r.seed as i64))
        .f64s("achieved_snr_db", achieved.iter().copied())
        .batch()?;
    table::write_parquet(&ctx.out.join("recipes.parquet"), &batch, &[])?;
    Ok(faults)
}

/// Per-condition mixing statistics: how many were mixed, skipped and rescaled against clipping, and the
/// achieved SNR (measured on the written mixture).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MixStats {
    pub condition: String,
    pub mixed: usize,
    pub skipped: usize,
    /// Mixtures scaled down to avoid clipping (the SNR is kept).
    pub clipped: usize,
    /// None when nothing was mixed (JSON has no NaN).
    pub achieved_mean_db: Option<f64>,
    pub achieved_min_db: Option<f64>,
    pub achieved_max_db: Option<f64>,
}

impl MixStats {
    fn new(condition: &str, recipes: &[Recipe], achieved: &[f64], faults: &[Fault]) -> MixStats {
        let n = achieved.len().max(1) as f64;
        MixStats {
            condition: condition.to_string(),
            mixed: recipes.len(),
            skipped: faults.len(),
            clipped: recipes.iter().filter(|r| r.scale < 1.0).count(),
            achieved_mean_db: (!achieved.is_empty()).then(|| achieved.iter().sum::<f64>() / n),
            achieved_min_db: achieved.iter().cloned().reduce(f64::min),
            achieved_max_db: achieved.iter().cloned().reduce(f64::max),
        }
    }
}

pub fn read_recipes(dir: &Path) -> anyhow::Result<Vec<Recipe>> {
    let b = table::read_parquet(&dir.join("recipes.parquet"))?;
    let (utt, nf, nh) =
        (table::strings(&b, "utterance")?, table::strings(&b, "noise_file")?, table::strings(&b, "noise_sha256")?);
    let (off, gain, scale, snr, seed) = (
        table::i64s(&b, "offset")?,
        table::f64s(&b, "gain")?,
        table::f64s(&b, "scale")?,
        table::f64s(&b, "snr_db")?,
        table::i64s(&b, "seed")?,
    );
    Ok((0..utt.len())
        .map(|i| Recipe {
            utterance: utt[i].clone(),
            noise_file: nf[i].clone(),
            noise_sha256: nh[i].clone(),
            offset: off[i] as u64,
            gain: gain[i],
            scale: scale[i],
            snr_db: snr[i],
            seed: seed[i] as u64,
        })
        .collect())
}

/// Utterances per Parquet row group. The features stage holds one chunk's rows in memory at a time and
/// computes a chunk in parallel on the run's pool, so a shard of any size streams with bounded memory.
const FEATURE_CHUNK: usize = 128;

/// One utterance's features, frame-level log-mel (with `frames = true`), or why it has none.
type FeatureRow = Result<(Vec<f32>, Option<Vec<Vec<f32>>>), Option<Fault>>;

#[allow(clippy::too_many_arguments)]
pub fn features(
    ctx: &StageCtx,
    utts: &[Utterance],
    cfg: &FeatureSpec,
    audio: AudioIn,
    noise_root: Option<&Path>,
    condition: &str,
    imported: Option<&ImportedFeatures>,
) -> anyhow::Result<Vec<Fault>> {
    if let Some(src) = imported {
        return imported_features(ctx, utts, src, condition);
    }
    let (Some(extractor), Some(lm_cfg)) = (crate::features::Extractor::new(cfg, audio.rate), cfg.logmel()) else {
        anyhow::bail!("[features] kind = \"{}\" is not computed from audio", cfg.kind())
    };
    let frame_lm = lm_cfg.frames.then(|| crate::features::LogMel::new(lm_cfg, audio.rate));
    let recipes: Option<HashMap<String, Recipe>> = match noise_root {
        Some(_) => Some(read_recipes(&ctx.inputs[0])?.into_iter().map(|r| (r.utterance.clone(), r)).collect()),
        None => None,
    };
    let bank = noise_root.map(|root| NoiseBank { root, audio, loaded: Default::default() });
    let one = |u: &Utterance| -> FeatureRow {
        let corpus = corpus_of(&u.id);
        let speech = audio.load(&u.path).map_err(|e| Some(fault(u, corpus, "unreadable audio", e)))?;
        let x = match (&recipes, &bank) {
            (Some(recipes), Some(bank)) => {
                // No recipe: the mix stage skipped this utterance and said why.
                let r = recipes.get(&u.id).ok_or(None)?;
                let noise = bank.get(&r.noise_file).map_err(|e| Some(fault(u, corpus, "unreadable noise", e)))?;
                mix::apply(&speech, &noise, r)
            }
            _ => speech,
        };
        Ok((extractor.compute(&x), frame_lm.as_ref().map(|lm| lm.frames(&x))))
    };
    let (dim, n_mels) = (crate::features::dim(cfg), lm_cfg.n_mels);
    let columns = |ids: &[String], rows: &[Vec<f32>], frames: &[Vec<Vec<f32>>]| {
        let c = Columns::new().strings("id", ids).vectors("features", dim, rows);
        if lm_cfg.frames {
            c.sequences("frames", n_mels, frames)
        } else {
            c
        }
    };
    let metadata = [
        ("sertool.features", serde_json::to_string(cfg)?),
        ("sertool.feature_names", serde_json::to_string(&crate::features::names(cfg))?),
    ];
    let schema = columns(&[], &[], &[]).batch()?.schema();
    let mut sink = table::ParquetSink::create(&ctx.out.join("features.parquet"), schema, &metadata)?;
    let mut faults = Vec::new();
    for chunk in utts.chunks(FEATURE_CHUNK) {
        // Runs on the scheduler's pool: stages and the utterances inside them share the `--jobs` threads.
        let computed: Vec<FeatureRow> = chunk.par_iter().map(one).collect();
        let (mut ids, mut rows, mut frames) = (Vec::new(), Vec::new(), Vec::new());
        for (u, r) in chunk.iter().zip(computed) {
            match r {
                Ok((v, f)) => {
                    ids.push(u.id.clone());
                    rows.push(v);
                    frames.extend(f);
                }
                Err(f) => faults.extend(f),
            }
        }
        if !ids.is_empty() {
            sink.write(&columns(&ids, &rows, &frames).batch()?)?;
        }
    }
    sink.close()?;
    Ok(faults)
}

/// Feature rows from an imported file (`[features] kind = "imported"`). An utterance without a row for this
/// condition is a fault (the exporting script may have skipped it, as the mix stage skips silent audio);
/// a stage none of whose utterances match is an error that shows ids from both sides, since that is an
/// id-format mismatch rather than a gap.
fn imported_features(
    ctx: &StageCtx,
    utts: &[Utterance],
    src: &ImportedFeatures,
    condition: &str,
) -> anyhow::Result<Vec<Fault>> {
    let emb =
        crate::features::imported::Embeddings::load(src).map_err(|e| crate::error::user_error(format!("{e:#}")))?;
    let (mut ids, mut rows, mut faults) = (Vec::new(), Vec::new(), Vec::new());
    for u in utts {
        match emb.get(&u.id, condition) {
            Some(v) => {
                ids.push(u.id.clone());
                rows.push(v.to_vec());
            }
            None => faults.push(fault(
                u,
                corpus_of(&u.id),
                "no imported row",
                format!("{} has no row for this utterance under condition \"{condition}\"", src.file.display()),
            )),
        }
    }
    if ids.is_empty() && !utts.is_empty() {
        let quote = |v: Vec<String>| v.iter().map(|m| format!("\"{m}\"")).collect::<Vec<_>>().join(", ");
        return Err(crate::error::user_error(format!(
            "{}: none of the {} utterance(s) this stage needs has a row under condition \"{condition}\". \
             The pipeline's ids look like {}; the file has {}. Ids are `<corpus name>/<utterance>` as in the \
             manifests, and noisy conditions need rows too (`sertool mix --write-wav` writes the mixtures to embed).",
            src.file.display(),
            utts.len(),
            quote(utts.iter().take(2).map(|u| u.id.clone()).collect()),
            quote(emb.sample_keys(2).into_iter().map(|(i, c)| format!("{i} [{c}]")).collect()),
        )));
    }
    let names: Vec<String> = (0..emb.dim).map(|i| format!("{}{i}", src.column)).collect();
    let batch = Columns::new().strings("id", &ids).vectors("features", emb.dim, &rows).batch()?;
    table::write_parquet(
        &ctx.out.join("features.parquet"),
        &batch,
        &[
            ("sertool.features", format!("{{\"kind\":\"imported\",\"column\":{:?}}}", src.column)),
            ("sertool.feature_names", serde_json::to_string(&names)?),
        ],
    )?;
    Ok(faults)
}

/// id → (label, split) of the labelled rows of a manifest.
fn read_labels(dir: &Path) -> anyhow::Result<HashMap<String, (String, String)>> {
    let b = table::read_parquet(&dir.join("manifest.parquet"))?;
    let ids = table::strings(&b, "id")?;
    let labels = table::opt_strings(&b, "label")?;
    let splits = table::strings(&b, "split")?;
    Ok(ids.into_iter().zip(labels).zip(splits).filter_map(|((i, l), s)| l.map(|l| (i, (l, s)))).collect())
}

fn read_features(dirs: &[std::path::PathBuf]) -> anyhow::Result<Vec<(String, Vec<f32>)>> {
    let mut out = Vec::new();
    for d in dirs {
        let b = table::read_parquet_columns(&d.join("features.parquet"), Some(&["id", "features"]))?;
        out.extend(table::strings(&b, "id")?.into_iter().zip(table::vectors(&b, "features")?));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The features and audio settings a train stage records in its model card (for `sertool predict`).
pub struct TrainInputs {
    pub features: FeatureSpec,
    pub audio: AudioIn,
    pub channels: String,
}

pub fn train(
    ctx: &StageCtx,
    n_manifests: usize,
    spec: &ModelSpec,
    seed: u64,
    classes: &[String],
    inputs: &TrainInputs,
) -> anyhow::Result<Vec<Fault>> {
    let mut labels = HashMap::new();
    for d in &ctx.inputs[..n_manifests] {
        labels.extend(read_labels(d)?);
    }
    let feats = read_features(&ctx.inputs[n_manifests..])?;
    let class_idx: HashMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
    let (mut x, mut y, mut dx, mut dy) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, v) in feats {
        let Some((label, split)) = labels.get(&id) else { continue };
        let c = class_idx[label.as_str()];
        match split.as_str() {
            "train" => {
                x.push(v);
                y.push(c);
            }
            "dev" => {
                dx.push(v);
                dy.push(c);
            }
            _ => {}
        }
    }
    anyhow::ensure!(!x.is_empty(), "no training utterances with features (check the corpora and the label map)");
    let std = Standardizer::fit(&x);
    let (xs, dxs) = (std.apply(&x), std.apply(&dx));
    // Model kernels run on this stage's thread: the stage scheduler already fills the cores.
    let blocks = crate::features::blocks(&inputs.features);
    let data = TrainData { x: &xs, y: &y, dev_x: &dxs, dev_y: &dy, classes, feature_blocks: &blocks };
    let (model, fit) = crate::models::fit(spec, seed, &data)?;
    model.save(&ctx.out)?;
    let card = ModelCard {
        kind: spec.kind_name().to_string(),
        classes: classes.to_vec(),
        config: spec.key_params(),
        features: inputs.features.clone(),
        sample_rate_hz: inputs.audio.rate,
        channels: inputs.channels.clone(),
        input_dim: x[0].len(),
        standardizer: std,
        train_utterances: x.len(),
        dev_utterances: dx.len(),
        log: fit.log,
        encoder_log: fit.encoder_log,
        block_importance: fit.block_importance,
    };
    write_json(&ctx.out.join("model.json"), &card)?;
    Ok(Vec::new())
}

/// What the report needs to know about each eval it reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalInfo {
    pub model: String,
    pub train: String,
    pub test: String,
    pub condition: String,
    pub seed: u64,
}

pub fn eval(ctx: &StageCtx, classes: &[String], condition: &str) -> anyhow::Result<Vec<Fault>> {
    let (model, card) = crate::models::load(&ctx.inputs[0])?;
    let labels = read_labels(&ctx.inputs[1])?;
    let feats = read_features(&ctx.inputs[2..])?;
    let class_idx: HashMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
    let (mut ids, mut x, mut truth) = (Vec::new(), Vec::new(), Vec::new());
    for (id, v) in feats {
        if let Some((label, split)) = labels.get(&id) {
            if split == "test" {
                ids.push(id);
                x.push(v);
                truth.push(class_idx[label.as_str()]);
            }
        }
    }
    anyhow::ensure!(!x.is_empty(), "no test utterances with features");
    let probs = model.predict_proba(&card.standardizer.apply(&x))?;
    let pred: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
    let m = metrics::compute(&truth, &pred, classes.len());
    let batch = Columns::new()
        .strings("id", &ids)
        .strings("condition", ids.iter().map(|_| condition))
        .strings("true", truth.iter().map(|&c| &classes[c]))
        .strings("predicted", pred.iter().map(|&c| &classes[c]))
        .vectors("probabilities", classes.len(), &probs)
        .batch()?;
    table::write_parquet(&ctx.out.join("predictions.parquet"), &batch, &[])?;
    write_json(&ctx.out.join("metrics.json"), &m)?;
    Ok(Vec::new())
}

/// The report's inputs after the evals: mix stages as (corpus, condition), noise pools by name, train
/// stages as (model, train corpora, seed), then the manifests of the corpora the experiments use.
pub struct ReportInputs {
    pub mixes: Vec<(String, String)>,
    pub pools: Vec<String>,
    pub trains: Vec<(String, String, u64)>,
    pub manifests: Vec<String>,
}

/// The key of a committed stage: the name of its cache directory.
fn key_of(dir: &Path) -> String {
    dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
}

/// An eval stage's predictions, classes as indices.
fn read_predictions(dir: &Path, classes: &[String]) -> anyhow::Result<crate::report::Predictions> {
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
    Ok(crate::report::Predictions {
        ids: table::strings(&b, "id")?,
        truth: index(table::strings(&b, "true")?)?,
        pred: index(table::strings(&b, "predicted")?)?,
        probs: table::vectors(&b, "probabilities")?,
    })
}

pub fn report(ctx: &StageCtx, p: &Pipeline, info: &[EvalInfo], inputs: &ReportInputs) -> anyhow::Result<Vec<Fault>> {
    let (eval_dirs, rest) = ctx.inputs.split_at(info.len());
    let (mix_dirs, rest) = rest.split_at(inputs.mixes.len());
    let (pool_dirs, rest) = rest.split_at(inputs.pools.len());
    let (train_dirs, manifest_dirs) = rest.split_at(inputs.trains.len());
    let train_key: HashMap<(&str, &str, u64), String> =
        inputs.trains.iter().zip(train_dirs).map(|((m, t, s), d)| ((m.as_str(), t.as_str(), *s), key_of(d))).collect();
    let evals = eval_dirs
        .par_iter()
        .zip(info)
        .map(|(dir, i)| {
            let metrics: Metrics = serde_json::from_slice(&std::fs::read(dir.join("metrics.json"))?)?;
            Ok(crate::report::EvalResult {
                info: i.clone(),
                eval_key: key_of(dir),
                train_key: train_key.get(&(i.model.as_str(), i.train.as_str(), i.seed)).cloned().unwrap_or_default(),
                metrics,
                predictions: read_predictions(dir, &p.labels.classes)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut mix_stats = Vec::new();
    for (dir, (corpus, _)) in mix_dirs.iter().zip(&inputs.mixes) {
        let s: MixStats = serde_json::from_slice(&std::fs::read(dir.join("stats.json"))?)?;
        mix_stats.push((corpus.clone(), s));
    }
    let mut pools = Vec::new();
    for (dir, name) in pool_dirs.iter().zip(&inputs.pools) {
        pools.push((name.clone(), read_pools(dir)?));
    }
    let mut trains = Vec::new();
    for (dir, (model, train, seed)) in train_dirs.iter().zip(&inputs.trains) {
        let card: ModelCard = serde_json::from_slice(&std::fs::read(dir.join("model.json"))?)?;
        trains.push(crate::report::TrainRun {
            model: model.clone(),
            train: train.clone(),
            seed: *seed,
            key: key_of(dir),
            seconds: card.log.seconds + card.encoder_log.as_ref().map_or(0.0, |l| l.seconds),
            epochs: card.log.epochs_run,
        });
    }
    let mut ingest = Vec::new();
    for (dir, name) in manifest_dirs.iter().zip(&inputs.manifests) {
        let r: IngestReport = serde_json::from_slice(&std::fs::read(dir.join("ingest.json"))?)?;
        ingest.push((name.clone(), r));
    }
    let data = crate::report::ReportData { evals, mix_stats, pools, ingest, trains };
    crate::report::render(p, &data, &ctx.out)?;
    Ok(Vec::new())
}
