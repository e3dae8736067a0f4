//! Exact SNR mixing from stored recipes. SNR = 10·log10(P_speech / P_noise) with power averaged over the
//! whole utterance. A recipe (noise file, offset, gain) is derived from seeds and ids alone, so the mixture
//! is recomputed bit for bit wherever audio is needed and never has to be stored.

use serde::{Deserialize, Serialize};

use super::noise::NoiseFile;
use super::power;
use crate::rng::Rng;

/// Below this mean power a signal counts as silent (−100 dBFS).
pub const SILENCE_POWER: f64 = 1e-10;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recipe {
    pub utterance: String,
    pub noise_file: String,
    pub noise_sha256: String,
    /// First noise sample used (at the pipeline rate); shorter noise is tiled from here.
    pub offset: u64,
    /// Factor applied to the noise segment.
    pub gain: f64,
    /// Factor applied to the whole mixture to avoid clipping (1 when none was needed); keeps the SNR.
    pub scale: f64,
    pub snr_db: f64,
    pub seed: u64,
}

/// Why no recipe could be made for an utterance.
#[derive(Debug, Clone, PartialEq)]
pub enum Skip {
    SilentSpeech,
    SilentNoise(String),
    NoNoise,
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::SilentSpeech => write!(f, "speech is silent (power below -100 dBFS); no SNR is defined"),
            Skip::SilentNoise(n) => write!(f, "noise segment from {n} is silent; no SNR is defined"),
            Skip::NoNoise => write!(f, "the noise pool is empty"),
        }
    }
}

/// The noise segment of `len` samples starting at `offset`, tiling when the noise is shorter.
pub fn noise_segment(noise: &[f32], offset: u64, len: usize) -> Vec<f32> {
    let n = noise.len();
    if n == 0 {
        return vec![0.0; len];
    }
    let start = (offset as usize) % n;
    if start + len <= n {
        return noise[start..start + len].to_vec();
    }
    (0..len).map(|i| noise[(start + i) % n]).collect()
}

/// Choose the noise file and offset for an utterance (seeded by utterance, condition and seed).
pub fn choose(pool: &[NoiseFile], utterance: &str, condition: &str, seed: u64) -> Option<(usize, Rng)> {
    if pool.is_empty() {
        return None;
    }
    let mut rng = Rng::derived(seed, &["mix", utterance, condition]);
    let idx = rng.below(pool.len() as u64) as usize;
    Some((idx, rng))
}

/// Make the recipe for one utterance given the (resampled) speech and the chosen noise.
#[allow(clippy::too_many_arguments)]
pub fn make_recipe(
    utterance: &str,
    speech: &[f32],
    file: &NoiseFile,
    noise: &[f32],
    rng: &mut Rng,
    snr_db: f64,
    seed: u64,
) -> Result<Recipe, Skip> {
    let ps = power(speech);
    if ps < SILENCE_POWER {
        return Err(Skip::SilentSpeech);
    }
    let offset = if noise.len() > speech.len() {
        rng.below((noise.len() - speech.len() + 1) as u64)
    } else {
        rng.below(noise.len().max(1) as u64)
    };
    let seg = noise_segment(noise, offset, speech.len());
    let pn = power(&seg);
    if pn < SILENCE_POWER {
        return Err(Skip::SilentNoise(file.path.clone()));
    }
    let gain = (ps / (pn * 10f64.powf(snr_db / 10.0))).sqrt();
    let mut recipe = Recipe {
        utterance: utterance.to_string(),
        noise_file: file.path.clone(),
        noise_sha256: file.sha256.clone(),
        offset,
        gain,
        scale: 1.0,
        snr_db,
        seed,
    };
    let peak = mix_raw(speech, &seg, gain).iter().fold(0f32, |m, v| m.max(v.abs()));
    if peak > 0.999 {
        recipe.scale = 0.999 / peak as f64;
    }
    Ok(recipe)
}

fn mix_raw(speech: &[f32], seg: &[f32], gain: f64) -> Vec<f32> {
    speech.iter().zip(seg).map(|(&s, &n)| (s as f64 + gain * n as f64) as f32).collect()
}

/// The mixture a recipe describes.
pub fn apply(speech: &[f32], noise: &[f32], r: &Recipe) -> Vec<f32> {
    let seg = noise_segment(noise, r.offset, speech.len());
    speech.iter().zip(&seg).map(|(&s, &n)| ((s as f64 + r.gain * n as f64) * r.scale) as f32).collect()
}

/// The SNR actually achieved, measured from the scaled speech and noise parts in f64.
pub fn achieved_snr_db(speech: &[f32], noise: &[f32], r: &Recipe) -> f64 {
    let seg = noise_segment(noise, r.offset, speech.len());
    let ps: f64 = speech.iter().map(|&s| (s as f64 * r.scale).powi(2)).sum();
    let pn: f64 = seg.iter().map(|&n| (n as f64 * r.gain * r.scale).powi(2)).sum();
    10.0 * (ps / pn).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(seed: u64, n: usize, amp: f64) -> Vec<f32> {
        let mut r = Rng::new(seed);
        (0..n).map(|_| (r.normal() * amp) as f32).collect()
    }

    #[test]
    fn achieved_snr_matches_target_and_clipping_keeps_it() {
        let speech = sig(1, 8000, 0.3);
        let noise = sig(2, 3000, 0.1); // shorter: tiled
        let f = NoiseFile { path: "n.wav".into(), sha256: "x".into() };
        for snr in [-10.0, -5.0, 0.0, 5.0, 10.0, 20.0, 30.0] {
            let (_, mut rng) = choose(std::slice::from_ref(&f), "u1", "c", 7).unwrap();
            let r = make_recipe("u1", &speech, &f, &noise, &mut rng, snr, 7).unwrap();
            let got = achieved_snr_db(&speech, &noise, &r);
            assert!((got - snr).abs() < 0.05, "{snr}: {got}");
            let y = apply(&speech, &noise, &r);
            assert!(y.iter().all(|v| v.abs() <= 1.0));
        }
    }

    #[test]
    fn silence_is_reported_not_divided() {
        let f = NoiseFile { path: "n.wav".into(), sha256: "x".into() };
        let mut rng = Rng::new(1);
        let silent = vec![0.0f32; 100];
        let loud = sig(3, 100, 0.2);
        assert_eq!(make_recipe("u", &silent, &f, &loud, &mut rng, 0.0, 1), Err(Skip::SilentSpeech));
        assert!(matches!(make_recipe("u", &loud, &f, &silent, &mut rng, 0.0, 1), Err(Skip::SilentNoise(_))));
    }
}
