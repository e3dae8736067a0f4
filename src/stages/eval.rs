//! `eval/<model>/<train>/seedN/<test>/<condition>`: one trained model on one test corpus's test split
//! under one condition: predictions.parquet (per utterance: truth, prediction, class probabilities)
//! and metrics.json.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::features::read_features;
use super::manifest::read_labels;
use super::sequences::{self, AudioSet, SeqSources};
use super::{read_json, write_json, Work};
use rayon::prelude::*;

use crate::audio::AudioIn;
use crate::engine::{StageCtx, StageSpec};
use crate::error::Fault;
use crate::models::argmax;
use crate::models::metrics::{self, Metrics};
use crate::models::SequenceSet;
use crate::records::{Condition, EnhancementStats, Predictions};
use crate::table::{self, Columns};

pub const KIND: &str = "eval";
const VERSION: u32 = 2;

#[derive(Serialize, Deserialize)]
pub struct Job {
    classes: Vec<String>,
    condition: String,
    /// For a sequence model: the test corpus's root and the condition's noise (inputs "recipes").
    #[serde(default)]
    sequences: Option<(SeqSources, AudioIn)>,
}

/// For a sequence model: where the test examples come from, how audio is read, the condition's mix
/// stages.
pub type SeqInputs = (SeqSources, AudioIn, Vec<usize>);

pub fn spec(
    id: String,
    classes: &[String],
    condition: &Condition,
    model: usize,
    manifest: usize,
    features: &[usize],
    sequences: Option<SeqInputs>,
) -> StageSpec {
    let mut deps = vec![("model", model), ("manifest", manifest)];
    deps.extend(features.iter().map(|&f| ("features", f)));
    let sequences = sequences.map(|(src, audio, recipes)| {
        deps.extend(recipes.iter().map(|&m| ("recipes", m)));
        (src, audio)
    });
    StageSpec {
        id,
        kind: KIND,
        version: VERSION,
        params: json!({ "condition": condition }),
        inputs: BTreeMap::new(),
        deps,
        job: Box::new(Job { classes: classes.to_vec(), condition: condition.name.clone(), sequences }),
    }
}

impl Work for Job {
    fn run(&self, ctx: &StageCtx) -> anyhow::Result<Vec<Fault>> {
        if let Some((src, audio)) = &self.sequences {
            return self.run_sequences(ctx, src, *audio);
        }
        let classes = &self.classes;
        let (model, card) = crate::models::load(ctx.input("model")?)?;
        let labels = read_labels(ctx.input("manifest")?)?;
        let feats = read_features(ctx.inputs("features"))?;
        let class_idx: HashMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        let (mut ids, mut x, mut truth) = (Vec::new(), Vec::new(), Vec::new());
        for (id, v) in feats {
            if let Some((label, split)) = labels.get(&id) {
                if split == "test" {
                    ids.push(id);
                    x.push(v);
                    truth.push(super::class_index(&class_idx, label, classes)?);
                }
            }
        }
        anyhow::ensure!(!x.is_empty(), "no test utterances with features");
        let probs = model.predict_proba(&card.standardizer.apply(&x))?;
        self.write_predictions(ctx, &ids, &truth, probs)
    }
}

/// predictions.parquet and metrics.json of one eval (or ensemble) entry; `pred` is each row's class.
pub fn write_predictions(out: &Path, classes: &[String], condition: &str, p: &Predictions) -> anyhow::Result<()> {
    let m = metrics::compute(&p.truth, &p.pred, classes.len());
    let batch = Columns::new()
        .strings("id", &p.ids)
        .strings("condition", p.ids.iter().map(|_| condition))
        .strings("true", p.truth.iter().map(|&c| &classes[c]))
        .strings("predicted", p.pred.iter().map(|&c| &classes[c]))
        .vectors("probabilities", classes.len(), &p.probs)
        .batch()?;
    table::write_parquet(&out.join("predictions.parquet"), &batch, &[])?;
    write_json(&out.join("metrics.json"), &m)
}

impl Job {
    fn write_predictions(
        &self,
        ctx: &StageCtx,
        ids: &[String],
        truth: &[usize],
        probs: Vec<Vec<f32>>,
    ) -> anyhow::Result<Vec<Fault>> {
        let pred: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
        let p = Predictions { ids: ids.to_vec(), truth: truth.to_vec(), pred, probs };
        write_predictions(&ctx.out, &self.classes, &self.condition, &p)?;
        Ok(Vec::new())
    }

    /// A sequence model (no feature shard is an input): every test utterance computed from its audio
    /// (and recipe) and classified
    /// whole; a model that enhances is also scored on enhancement under a noisy condition
    /// (enhancement.parquet per utterance, enhancement.json with the means).
    fn run_sequences(&self, ctx: &StageCtx, src: &SeqSources, audio: AudioIn) -> anyhow::Result<Vec<Fault>> {
        let classes = &self.classes;
        let (model, _card) = crate::models::load(ctx.input("model")?)?;
        let rows = sequences::read_rows(&[ctx.input("manifest")?.to_path_buf()], &src.roots)?;
        let class_idx: HashMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        let (set, faults) = AudioSet::new(src, &rows, "test", ctx.inputs("recipes"), &class_idx, classes, audio)?;
        anyhow::ensure!(!set.is_empty(), "no test utterances with audio");
        let noisy = !src.noisy.is_empty();
        let scored: Vec<(Vec<f32>, Option<[f64; 6]>)> = (0..set.len())
            .into_par_iter()
            .map(|i| {
                let waves = set.waves(i)?;
                let probs = model.predict_sequence(&crate::models::sequence_frames(&waves.input, audio.rate))?;
                let quality = match noisy {
                    true => crate::models::enhance_audio(&*model, &waves.input, audio.rate)?
                        .map(|enhanced| enhancement_scores(&waves.clean, &waves.input, &enhanced, audio.rate)),
                    false => None,
                };
                Ok((probs, quality))
            })
            .collect::<anyhow::Result<_>>()?;
        let ids: Vec<String> = set.keys.iter().map(|k| k.0.clone()).collect();
        let truth: Vec<usize> = (0..set.len()).map(|i| set.label(i)).collect();
        let quality: Vec<[f64; 6]> = scored.iter().filter_map(|s| s.1).collect();
        if quality.len() == ids.len() {
            let col = |k: usize| quality.iter().map(move |q| q[k]);
            let batch = Columns::new()
                .strings("id", &ids)
                .f64s("si_sdr_noisy", col(0))
                .f64s("si_sdr_enhanced", col(1))
                .f64s("ssnr_noisy", col(2))
                .f64s("ssnr_enhanced", col(3))
                .f64s("stoi_noisy", col(4))
                .f64s("stoi_enhanced", col(5))
                .batch()?;
            table::write_parquet(&ctx.out.join("enhancement.parquet"), &batch, &[])?;
            let mean = |k: usize| col(k).sum::<f64>() / quality.len() as f64;
            let stats = EnhancementStats {
                utterances: quality.len(),
                si_sdr_noisy: mean(0),
                si_sdr_enhanced: mean(1),
                ssnr_noisy: mean(2),
                ssnr_enhanced: mean(3),
                stoi_noisy: mean(4),
                stoi_enhanced: mean(5),
            };
            write_json(&ctx.out.join("enhancement.json"), &stats)?;
        }
        self.write_predictions(ctx, &ids, &truth, scored.into_iter().map(|s| s.0).collect())?;
        Ok(faults)
    }
}

/// SI-SDR, segmental SNR and STOI of the noisy input and of the enhanced output against the clean
/// speech, in that order, pairwise.
pub fn enhancement_scores(clean: &[f32], noisy: &[f32], enhanced: &[f32], rate: u32) -> [f64; 6] {
    use crate::audio::quality::{segmental_snr, si_sdr, stoi};
    [
        si_sdr(clean, noisy),
        si_sdr(clean, enhanced),
        segmental_snr(clean, noisy, rate),
        segmental_snr(clean, enhanced, rate),
        stoi(clean, noisy, rate),
        stoi(clean, enhanced, rate),
    ]
}

/// The enhancement means of an eval entry (None for models that do not enhance and clean conditions).
pub fn read_enhancement(dir: &Path) -> anyhow::Result<Option<EnhancementStats>> {
    let path = dir.join("enhancement.json");
    if !path.exists() {
        return Ok(None);
    }
    read_json(&path).map(Some)
}

pub fn read_metrics(dir: &Path) -> anyhow::Result<Metrics> {
    read_json(&dir.join("metrics.json"))
}

/// An eval entry's predictions, classes as indices into `classes`.
pub fn read_predictions(dir: &Path, classes: &[String]) -> anyhow::Result<Predictions> {
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
    Ok(Predictions {
        ids: table::strings(&b, "id")?,
        truth: index(table::strings(&b, "true")?)?,
        pred: index(table::strings(&b, "predicted")?)?,
        probs: table::vectors(&b, "probabilities")?,
    })
}
