//! Frame sequences of the sequence kinds, computed from the audio and the mix recipes when a batch asks
//! for them (never stored): the train stage streams its sets through [`AudioSet`], and the eval stage
//! scores every test utterance through the same code, with the waveforms the enhancement metrics need.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::mix::{read_recipes, NoiseBank};
use crate::audio::mix::{self, Recipe};
use crate::audio::AudioIn;
use crate::error::Fault;
use crate::features::stft::{log1p_magnitude, Stft};
use crate::models::{Crop, SeqExample, SequenceSet};
use crate::table;

/// Where a sequence kind's examples come from (in its train or eval job).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeqSources {
    /// Corpus → root folder (manifest paths are relative to it).
    pub roots: BTreeMap<String, PathBuf>,
    /// Whether clean speech is one of the conditions.
    pub clean: bool,
    /// Each noisy condition in order: its label, its noise corpus, and how many of the "recipes"
    /// inputs (in order) are its shards.
    pub noisy: Vec<(String, PathBuf, usize)>,
}

/// One example: an utterance under one condition.
struct Item {
    path: PathBuf,
    label: usize,
    /// (noise bank, recipe) for a noisy condition.
    recipe: Option<(usize, Recipe)>,
}

/// What an example is made of, as audio: the input and the speech in it.
pub struct Waves {
    /// The clean speech at the mixture's scale (the enhancement target).
    pub clean: Vec<f32>,
    /// The mixture (the speech itself for clean examples).
    pub input: Vec<f32>,
}

pub struct AudioSet<'a> {
    items: Vec<Item>,
    /// (id, condition label) of each item.
    pub keys: Vec<(String, String)>,
    banks: Vec<NoiseBank<'a>>,
    audio: AudioIn,
    stft: Stft,
}

/// An utterance of a manifest: its audio path, label and split.
pub struct Row {
    pub path: PathBuf,
    /// The path relative to its corpus root, as the manifest has it.
    pub rel: String,
    pub label: String,
    pub split: String,
}

/// The labelled rows of manifest entries, by id (paths resolved against the corpus roots).
pub fn read_rows(manifests: &[PathBuf], roots: &BTreeMap<String, PathBuf>) -> anyhow::Result<HashMap<String, Row>> {
    let mut out = HashMap::new();
    for dir in manifests {
        let b = table::read_parquet_columns(&dir.join("manifest.parquet"), Some(&["id", "path", "label", "split"]))?;
        let (ids, paths) = (table::strings(&b, "id")?, table::strings(&b, "path")?);
        let (labels, splits) = (table::opt_strings(&b, "label")?, table::strings(&b, "split")?);
        for (((id, path), label), split) in ids.into_iter().zip(paths).zip(labels).zip(splits) {
            let Some(label) = label else { continue };
            let corpus = super::corpus_of(&id);
            let root = roots.get(corpus).ok_or_else(|| anyhow::anyhow!("no root for corpus {corpus}"))?;
            out.insert(id.clone(), Row { path: root.join(&path), rel: path, label, split });
        }
    }
    Ok(out)
}

impl<'a> AudioSet<'a> {
    /// The examples of `rows` whose split is `split` under each condition of `src`; `recipes` are the
    /// "recipes" inputs in the order `src.noisy` counts them. Clean speech that does not decode is left
    /// out as a fault (a noisy example has a recipe only if its mix stage decoded it).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        src: &'a SeqSources,
        rows: &HashMap<String, Row>,
        split: &str,
        recipes: &[PathBuf],
        class_idx: &HashMap<&str, usize>,
        classes: &[String],
        audio: AudioIn,
    ) -> anyhow::Result<(AudioSet<'a>, Vec<Fault>)> {
        let wanted = |id: &str| rows.get(id).filter(|r| r.split == split);
        let (mut items, mut keys, mut faults) = (Vec::new(), Vec::new(), Vec::new());
        if src.clean {
            let mut ids: Vec<&String> = rows.iter().filter(|(_, r)| r.split == split).map(|(id, _)| id).collect();
            ids.sort();
            let decoded: Vec<Option<String>> =
                ids.par_iter().map(|id| audio.load(&rows[*id].path).err().map(|e| format!("{e:#}"))).collect();
            for (id, err) in ids.into_iter().zip(decoded) {
                let r = &rows[id];
                if let Some(detail) = err {
                    faults.push(Fault {
                        corpus: super::corpus_of(id).to_string(),
                        utterance: id.clone(),
                        file: r.rel.clone(),
                        what: "unreadable audio".into(),
                        detail: super::fault_detail(detail),
                    });
                    continue;
                }
                let label = super::class_index(class_idx, &r.label, classes)?;
                items.push(Item { path: r.path.clone(), label, recipe: None });
                keys.push((id.clone(), "clean".to_string()));
            }
        }
        let mut banks = Vec::new();
        let mut at = 0;
        for (bank, (label, root, n)) in src.noisy.iter().enumerate() {
            banks.push(NoiseBank::new(root, audio));
            let mut found: Vec<Recipe> = Vec::new();
            for dir in &recipes[at..at + n] {
                found.extend(read_recipes(dir)?);
            }
            at += n;
            found.sort_by(|a, b| a.utterance.cmp(&b.utterance));
            for r in found {
                if let Some(row) = wanted(&r.utterance) {
                    let class = super::class_index(class_idx, &row.label, classes)?;
                    keys.push((r.utterance.clone(), label.clone()));
                    items.push(Item { path: row.path.clone(), label: class, recipe: Some((bank, r)) });
                }
            }
        }
        Ok((AudioSet { items, keys, banks, audio, stft: Stft::for_rate(audio.rate) }, faults))
    }

    pub fn stft(&self) -> &Stft {
        &self.stft
    }

    /// The clean speech and the input of example `i`.
    pub fn waves(&self, i: usize) -> anyhow::Result<Waves> {
        let item = &self.items[i];
        let speech = self.audio.load(&item.path).map_err(|e| anyhow::anyhow!("{}: {e:#}", item.path.display()))?;
        Ok(match &item.recipe {
            Some((bank, r)) => {
                let noise = self.banks[*bank].get(&r.noise_file)?;
                let input = mix::apply(&speech, &noise, r);
                Waves { clean: speech.iter().map(|&s| (s as f64 * r.scale) as f32).collect(), input }
            }
            None => Waves { input: speech.clone(), clean: speech },
        })
    }
}

impl SequenceSet for AudioSet<'_> {
    fn len(&self) -> usize {
        self.items.len()
    }
    fn label(&self, i: usize) -> usize {
        self.items[i].label
    }
    fn get(&self, i: usize, crop: Option<Crop>) -> anyhow::Result<SeqExample> {
        let w = self.waves(i)?;
        let total = self.stft.frame_count(w.input.len());
        let range = crop.map_or(0..total, |c| c.range(total));
        let noisy = log1p_magnitude(&self.stft.forward_frames(&w.input, range.clone()));
        let clean = match self.items[i].recipe {
            Some(_) => log1p_magnitude(&self.stft.forward_frames(&w.clean, range)),
            None => noisy.clone(),
        };
        Ok(SeqExample { noisy, clean })
    }
}
