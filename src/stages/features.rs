//! `features/<corpus>/<condition>/shardNN`: per-utterance feature vectors (and, with `frames = true`,
//! frame-level log-mel sequences) of one shard under one condition, as features.parquet streamed in
//! row groups. A noisy condition replays its mix stage's recipes; `kind = "imported"` selects rows of
//! the user's file instead of computing anything.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::mix::{read_recipes, NoiseBank};
use super::{corpus_of, fault, Work};
use crate::audio::mix::{self, Recipe};
use crate::audio::AudioIn;
use crate::config::Pipeline;
use crate::corpus::Utterance;
use crate::engine::{StageCtx, StageSpec};
use crate::error::Fault;
use crate::features::imported::ImportedFeatures;
use crate::features::FeatureSpec;
use crate::table::{self, Columns};

pub const KIND: &str = "features";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
pub struct Job {
    #[serde(with = "super::located")]
    utterances: Arc<[Utterance]>,
    features: FeatureSpec,
    audio: AudioIn,
    /// The noise corpus of a noisy condition (its mix stage is the input "recipes").
    noise_root: Option<PathBuf>,
    condition: String,
    imported: Option<ImportedFeatures>,
}

/// What a feature stage's key covers: the feature settings and how audio is read.
pub fn params(features: &FeatureSpec, audio_params: &serde_json::Value) -> serde_json::Value {
    json!({ "features": features.key_params(), "audio": audio_params })
}

/// One feature stage instance: a shard of utterances under one condition.
pub struct Shard<'a> {
    pub id: String,
    pub utterances: Arc<[Utterance]>,
    /// The shard's audio identity (and the imported file's hash).
    pub inputs: BTreeMap<String, String>,
    pub condition: &'a str,
    /// `[features]`, or a sweep variant's (its key is `params`).
    pub features: &'a FeatureSpec,
    /// The condition's mix stage with its noise corpus (None for clean or imported features).
    pub mix: Option<(usize, &'a Path)>,
}

pub fn spec(p: &Pipeline, params: serde_json::Value, audio: AudioIn, shard: Shard) -> StageSpec {
    StageSpec {
        id: shard.id,
        kind: KIND,
        version: VERSION,
        params,
        inputs: shard.inputs,
        deps: shard.mix.iter().map(|&(m, _)| ("recipes", m)).collect(),
        job: Box::new(Job {
            utterances: shard.utterances,
            features: shard.features.clone(),
            audio,
            noise_root: shard.mix.map(|(_, root)| root.to_path_buf()),
            condition: shard.condition.to_string(),
            imported: p.imported.clone(),
        }),
    }
}

/// Utterances per Parquet row group. The features stage holds one chunk's rows in memory at a time and
/// computes a chunk in parallel on the run's pool, so a shard of any size streams with bounded memory.
const FEATURE_CHUNK: usize = 128;

/// One utterance's features, frame-level log-mel (with `frames = true`), or why it has none.
type FeatureRow = Result<(Vec<f32>, Option<Vec<Vec<f32>>>), Option<Fault>>;

impl Work for Job {
    fn run(&self, ctx: &StageCtx) -> anyhow::Result<Vec<Fault>> {
        let (utts, cfg, audio, condition) = (&self.utterances, &self.features, self.audio, self.condition.as_str());
        if let Some(src) = &self.imported {
            return imported_features(ctx, utts, src, condition);
        }
        let Some(extractor) = crate::features::Extractor::new(cfg, audio.rate) else {
            anyhow::bail!("[features] kind = \"{}\" is not computed from audio", cfg.kind())
        };
        // Frame sequences are a log-mel option; eGeMAPS has none.
        let lm_cfg = cfg.logmel().filter(|c| c.frames);
        let frame_lm = lm_cfg.map(|c| crate::features::LogMel::new(c, audio.rate));
        let recipes: Option<HashMap<String, Recipe>> = match &self.noise_root {
            Some(_) => {
                Some(read_recipes(ctx.input("recipes")?)?.into_iter().map(|r| (r.utterance.clone(), r)).collect())
            }
            None => None,
        };
        let bank = self.noise_root.as_deref().map(|root| NoiseBank::new(root, audio));
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
            let v = extractor.compute(&x);
            if v.iter().any(|v| !v.is_finite()) {
                // eGeMAPS has no value for a clip shorter than its 60 ms pitch frame.
                let secs = x.len() as f64 / audio.rate as f64;
                return Err(Some(fault(u, corpus, "too short for the features", format!("{secs:.3} s"))));
            }
            Ok((v, frame_lm.as_ref().map(|lm| lm.frames(&x))))
        };
        let dim = crate::features::dim(cfg);
        let columns = |ids: &[String], rows: &[Vec<f32>], frames: &[Vec<Vec<f32>>]| {
            let c = Columns::new().strings("id", ids).vectors("features", dim, rows);
            match lm_cfg {
                Some(lm) => c.sequences("frames", lm.n_mels, frames),
                None => c,
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
    let wanted: std::collections::HashSet<&str> = utts.iter().map(|u| u.id.as_str()).collect();
    let emb = crate::features::imported::Embeddings::load_where(src, |(id, c)| {
        c == condition && wanted.contains(id.as_str())
    })
    .map_err(|e| crate::error::user_error(format!("{e:#}")))?;
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

/// (id, vector) of every row of these feature entries, sorted by id.
pub fn read_features(dirs: &[PathBuf]) -> anyhow::Result<Vec<(String, Vec<f32>)>> {
    let mut out = Vec::new();
    for d in dirs {
        let b = table::read_parquet_columns(&d.join("features.parquet"), Some(&["id", "features"]))?;
        out.extend(table::strings(&b, "id")?.into_iter().zip(table::vectors(&b, "features")?));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
