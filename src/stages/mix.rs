//! `mix/<corpus>/<condition>/shardNN`: mixing recipes (noise file, offset, gain, anti-clipping scale)
//! for one shard's test utterances at one SNR, with the achieved SNR measured on each mixture
//! (recipes.parquet, stats.json). `mix/<corpus>/train-<condition>/shardNN` does the same for the
//! train and dev utterances of a model that trains on that condition, from the noise source's *train*
//! pool: test-pool files never reach training. Mixtures themselves are never stored: the features stage replays
//! the recipes.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{corpus_of, fault, read_json, write_json, Work};
use crate::audio::mix::{self, Recipe, SnrMode};
use crate::audio::AudioIn;
use crate::corpus::Utterance;
use crate::engine::{StageCtx, StageSpec};
use crate::error::Fault;
use crate::records::MixStats;
use crate::table::{self, Columns};

pub const KIND: &str = "mix";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
pub struct Job {
    #[serde(with = "super::located")]
    utterances: Arc<[Utterance]>,
    noise_root: PathBuf,
    condition: String,
    snr_db: f64,
    seed: u64,
    audio: AudioIn,
    mode: SnrMode,
    /// Draw from the train pool (multi-condition training) instead of the test pool.
    train_pool: bool,
}

/// What a mix stage's key covers besides its utterances and its pool.
pub struct MixSettings<'a> {
    pub condition: &'a str,
    pub snr_db: f64,
    pub seed: u64,
    pub audio: AudioIn,
    /// The pipeline's audio settings as they appear in keys.
    pub audio_params: &'a serde_json::Value,
    pub snr_mode: &'a str,
    pub active_gate_db: f64,
    pub mode: SnrMode,
    pub noise_root: &'a Path,
    /// Mix training utterances from the train pool.
    pub train_pool: bool,
}

/// `id` names the stage; `inputs` holds the shard's audio identity; `pool` is the noise pool stage.
pub fn spec(
    id: String,
    utterances: Arc<[Utterance]>,
    inputs: BTreeMap<String, String>,
    pool: usize,
    s: &MixSettings,
) -> StageSpec {
    let mut params = json!({
        "condition": s.condition, "snr_db": s.snr_db, "seed": s.seed, "audio": s.audio_params,
        "snr_mode": s.snr_mode,
        "active_gate_db": (s.snr_mode == "active").then_some(s.active_gate_db),
    });
    // Test-pool stages keep the keys they had before train-pool mixing existed.
    if s.train_pool {
        params["pool"] = json!("train");
    }
    StageSpec {
        id,
        kind: KIND,
        version: VERSION,
        params,
        inputs,
        deps: vec![("pool", pool)],
        job: Box::new(Job {
            utterances,
            noise_root: s.noise_root.to_path_buf(),
            condition: s.condition.to_string(),
            snr_db: s.snr_db,
            seed: s.seed,
            audio: s.audio,
            mode: s.mode,
            train_pool: s.train_pool,
        }),
    }
}

/// Decoded noise files for one stage, through the process-wide [`NoiseCache`].
pub(super) struct NoiseBank<'a> {
    root: &'a Path,
    audio: AudioIn,
}

impl<'a> NoiseBank<'a> {
    pub(super) fn new(root: &'a Path, audio: AudioIn) -> NoiseBank<'a> {
        NoiseBank { root, audio }
    }

    pub(super) fn get(&self, rel: &str) -> anyhow::Result<Arc<Vec<f32>>> {
        let path = self.root.join(rel);
        let key = (path.clone(), self.audio.rate, format!("{:?}", self.audio.channels));
        let cache = NOISE_CACHE.get_or_init(|| Mutex::new(NoiseCache::new(noise_cache_bytes())));
        if let Some(x) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(x);
        }
        let x = Arc::new(self.audio.load(&path)?);
        cache.lock().unwrap_or_else(|p| p.into_inner()).insert(key, x.clone());
        Ok(x)
    }
}

/// (file, rate, channel policy) of a decoded noise.
type NoiseKey = (PathBuf, u32, String);

/// Decoded noise shared by every stage of a process, bounded in bytes (least recently used dropped
/// first): MUSAN with music and speech is about 20 GB decoded, so a stage cannot keep every file it
/// touches, while most mixtures of a run reuse a few hundred files.
struct NoiseCache {
    cap: usize,
    bytes: usize,
    tick: u64,
    files: HashMap<NoiseKey, (Arc<Vec<f32>>, u64)>,
}

static NOISE_CACHE: std::sync::OnceLock<Mutex<NoiseCache>> = std::sync::OnceLock::new();

/// The noise cache's size: `SERTOOL_NOISE_CACHE_MB` (default 1024).
fn noise_cache_bytes() -> usize {
    std::env::var("SERTOOL_NOISE_CACHE_MB").ok().and_then(|v| v.parse::<usize>().ok()).unwrap_or(1024) << 20
}

impl NoiseCache {
    fn new(cap: usize) -> NoiseCache {
        NoiseCache { cap, bytes: 0, tick: 0, files: HashMap::new() }
    }

    fn get(&mut self, key: &NoiseKey) -> Option<Arc<Vec<f32>>> {
        self.tick += 1;
        let tick = self.tick;
        self.files.get_mut(key).map(|(x, used)| {
            *used = tick;
            x.clone()
        })
    }

    fn insert(&mut self, key: NoiseKey, x: Arc<Vec<f32>>) {
        self.tick += 1;
        let size = x.len() * 4;
        if let Some((old, _)) = self.files.insert(key, (x, self.tick)) {
            self.bytes -= old.len() * 4;
        }
        self.bytes += size;
        while self.bytes > self.cap && self.files.len() > 1 {
            let Some(oldest) = self.files.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| k.clone()) else {
                break;
            };
            if let Some((x, _)) = self.files.remove(&oldest) {
                self.bytes -= x.len() * 4;
            }
        }
    }
}

impl Work for Job {
    fn run(&self, ctx: &StageCtx) -> anyhow::Result<Vec<Fault>> {
        let pools = super::noise_pool::read_pools(ctx.input("pool")?)?;
        let (audio, condition, seed) = (self.audio, self.condition.as_str(), self.seed);
        let bank = NoiseBank::new(&self.noise_root, audio);
        let pool = if self.train_pool { &pools.train } else { &pools.test };
        let results: Vec<Result<(Recipe, f64), Fault>> = self
            .utterances
            .par_iter()
            .map(|u| {
                let corpus = corpus_of(&u.id);
                let speech = audio.load(&u.path).map_err(|e| fault(u, corpus, "unreadable audio", e))?;
                let (idx, mut rng) = mix::choose(pool, &u.id, condition, seed)
                    .ok_or_else(|| fault(u, corpus, "mix skipped", mix::Skip::NoNoise))?;
                let file = &pool[idx];
                let noise = bank.get(&file.path).map_err(|e| fault(u, corpus, "unreadable noise", e))?;
                let r = mix::make_recipe(&u.id, &speech, file, &noise, &mut rng, self.snr_db, seed, self.mode)
                    .map_err(|s| fault(u, corpus, "mix skipped", s))?;
                let achieved = mix::achieved_snr_db(&speech, &mix::apply(&speech, &noise, &r), &r, self.mode);
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
        write_json(&ctx.out.join("stats.json"), &mix_stats(condition, &recipes, &achieved, &faults))?;
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
}

fn mix_stats(condition: &str, recipes: &[Recipe], achieved: &[f64], faults: &[Fault]) -> MixStats {
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

pub fn read_stats(dir: &Path) -> anyhow::Result<MixStats> {
    read_json(&dir.join("stats.json"))
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_noise_cache_keeps_within_its_bytes_dropping_the_least_recently_used() {
        let mut c = super::NoiseCache::new(10 * 4);
        let key = |n: &str| (std::path::PathBuf::from(n), 16_000, "Mean".to_string());
        let x = |n: usize| std::sync::Arc::new(vec![0.0f32; n]);
        c.insert(key("a"), x(4));
        c.insert(key("b"), x(4));
        assert!(c.get(&key("a")).is_some());
        c.insert(key("c"), x(4));
        assert!(c.get(&key("b")).is_none(), "b was used least recently");
        assert!(c.get(&key("a")).is_some() && c.get(&key("c")).is_some());
        assert_eq!(c.bytes, 8 * 4);
    }
}
