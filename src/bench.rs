//! `sertool bench`: throughput of the hot paths on real files, so the figures in docs/benchmarks.md can
//! be rerun by anyone and compared with the Python scripts under tools/ on the same files.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::audio::mix::{self, SnrMode};
use crate::audio::noise::NoiseFile;
use crate::audio::{AudioIn, ChannelPolicy};
use crate::util::fs::find_files;

#[derive(Debug, Serialize)]
pub struct MixBench {
    pub files: usize,
    pub audio_hours: f64,
    pub wall_s: f64,
    pub jobs: usize,
    /// Audio hours processed per second of one core (wall × jobs).
    pub audio_hours_per_cpu_s: f64,
    /// Seconds of audio per second of one core.
    pub real_time_per_core: f64,
}

impl MixBench {
    /// The figures of `files` files holding `samples` samples at `rate` Hz, handled in `wall_s` seconds
    /// on `jobs` threads.
    fn of(files: usize, samples: usize, rate: u32, wall_s: f64, jobs: usize) -> MixBench {
        let audio_hours = samples as f64 / rate as f64 / 3600.0;
        let per_cpu = audio_hours / (wall_s * jobs.max(1) as f64);
        MixBench {
            files,
            audio_hours,
            wall_s,
            jobs,
            audio_hours_per_cpu_s: per_cpu,
            real_time_per_core: per_cpu * 3600.0,
        }
    }
}

/// Decode every WAV under `speech_dir`, resample to `rate`, and mix each with a noise file from
/// `noise_dir` at 5 dB (recipe + mixture), on `jobs` threads.
pub fn mix(speech_dir: &Path, noise_dir: &Path, rate: u32, jobs: usize) -> anyhow::Result<MixBench> {
    per_utterance(&[speech_dir.to_path_buf()], noise_dir, rate, jobs, |y| std::hint::black_box(y).len())
}

/// The whole per-utterance path of a noisy feature shard: decode, resample to 16 kHz, mix from a 5 dB
/// recipe, and the `functionals` feature set (log-mel, MFCC and deltas, spectral descriptors, YIN F0),
/// for every WAV under each of `speech_dirs` (which may hold different sample rates).
pub fn path(speech_dirs: &[PathBuf], noise_dir: &Path, jobs: usize) -> anyhow::Result<MixBench> {
    let features = crate::features::functionals::FunctionalSet::new(&Default::default(), 16_000);
    per_utterance(speech_dirs, noise_dir, 16_000, jobs, |y| {
        std::hint::black_box(features.compute(y));
        y.len()
    })
}

/// eGeMAPS v02 functionals (the 88 of `[features] kind = "egemaps"`) of every WAV under each of
/// `speech_dirs`: decode, resample to 16 kHz, extract, on `jobs` threads; compare
/// tools/bench_egemaps.py (openSMILE through its Python wrapper, which also reads each file).
pub fn egemaps(speech_dirs: &[PathBuf], jobs: usize) -> anyhow::Result<MixBench> {
    let speech: Vec<PathBuf> =
        speech_dirs.iter().flat_map(|d| find_files(d, "", ".wav").into_iter().map(move |r| d.join(r))).collect();
    anyhow::ensure!(!speech.is_empty(), "no WAV files under the given folders");
    let audio = AudioIn { rate: 16_000, channels: ChannelPolicy::Mean };
    let extractor = crate::features::egemaps::Egemaps::new(16_000);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs.max(1)).build()?;
    let started = Instant::now();
    let samples: usize = pool.install(|| {
        speech
            .par_iter()
            .map(|path| match audio.load(path) {
                Ok(x) => {
                    std::hint::black_box(extractor.functionals(&x));
                    x.len()
                }
                Err(_) => 0,
            })
            .sum()
    });
    Ok(MixBench::of(speech.len(), samples, 16_000, started.elapsed().as_secs_f64(), jobs))
}

/// Run `work` on the mixture of every speech file, on `jobs` threads; it returns the samples it handled.
fn per_utterance(
    speech_dirs: &[PathBuf],
    noise_dir: &Path,
    rate: u32,
    jobs: usize,
    work: impl Fn(&[f32]) -> usize + Sync,
) -> anyhow::Result<MixBench> {
    let speech: Vec<PathBuf> =
        speech_dirs.iter().flat_map(|d| find_files(d, "", ".wav").into_iter().map(move |r| d.join(r))).collect();
    let noise_rel = find_files(noise_dir, "", ".wav");
    anyhow::ensure!(!speech.is_empty() && !noise_rel.is_empty(), "no WAV files under the given folders");
    let audio = AudioIn { rate, channels: ChannelPolicy::Mean };
    // Noise is decoded once, as the mix stage does per shard.
    let noise: Vec<(NoiseFile, Vec<f32>)> = noise_rel
        .iter()
        .map(|r| {
            let f = NoiseFile {
                path: r.clone(),
                sha256: String::new(),
                category: String::new(),
                group: String::new(),
                decoder: None,
            };
            Ok((f, audio.load(&noise_dir.join(r))?))
        })
        .collect::<anyhow::Result<_>>()?;
    let files: Vec<NoiseFile> = noise.iter().map(|(f, _)| f.clone()).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs.max(1)).build()?;
    let started = Instant::now();
    let samples: usize = pool.install(|| {
        speech
            .par_iter()
            .map(|path| {
                let Ok(x) = audio.load(path) else { return 0 };
                let id = path.to_string_lossy();
                let Some((i, mut rng)) = mix::choose(&files, &id, "bench", 1) else { return 0 };
                match mix::make_recipe(&id, &x, &files[i], &noise[i].1, &mut rng, 5.0, 1, SnrMode::Whole) {
                    Ok(r) => work(&mix::apply(&x, &noise[i].1, &r)),
                    Err(_) => 0,
                }
            })
            .sum()
    });
    Ok(MixBench::of(speech.len(), samples, rate, started.elapsed().as_secs_f64(), jobs))
}

#[derive(Debug, Serialize)]
pub struct LogMelBench {
    pub audio_s: f64,
    pub best_wall_s: f64,
    /// Seconds of audio per second of one core.
    pub real_time_factor: f64,
}

/// Log-mel (64 bands, 25 ms / 10 ms at 16 kHz, the pipeline's defaults) of a long signal on one thread,
/// best of `repeats`. The signal is the given WAV resampled to 16 kHz, or 60 s of noise.
pub fn logmel(wav: Option<&Path>, repeats: usize) -> anyhow::Result<LogMelBench> {
    let x = match wav {
        Some(p) => AudioIn { rate: 16_000, channels: ChannelPolicy::Mean }.load(p)?,
        None => {
            let mut rng = crate::rng::Rng::new(1);
            (0..60 * 16_000).map(|_| (0.1 * rng.normal()) as f32).collect()
        }
    };
    let lm = crate::features::LogMel::new(&Default::default(), 16_000);
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        std::hint::black_box(lm.frames(&x));
        best = best.min(t.elapsed().as_secs_f64());
    }
    let audio_s = x.len() as f64 / 16_000.0;
    Ok(LogMelBench { audio_s, best_wall_s: best, real_time_factor: audio_s / best })
}

#[derive(Debug, Serialize)]
pub struct TrainBench {
    pub network: &'static str,
    pub steps: usize,
    pub ms_per_step: f64,
}

/// Milliseconds per AdamW step (forward, loss, backward, update) on one fixed random batch, after 20
/// warm-up steps, on this thread: the networks of tools/bench_train.py (PyTorch), side by side.
/// `mlp`: 88 → 256 → 4 at batch 512. `edrl`: d = 128, 4 classes, encoders 128 → 64 → 16, batch 64, the
/// full EDRL loss. `mmd` and `dann`: an MLP 128 → 64 → 4 on 64 source + 64 target rows, cross-entropy on
/// the source plus multi-bandwidth MMD² between the hidden activations (`mmd`), or plus a discriminator
/// 64 → 64 → 2 behind gradient reversal (`dann`).
pub fn train(steps: usize) -> anyhow::Result<Vec<TrainBench>> {
    use crate::models::common::{index_tensor, weighted_cross_entropy};
    use crate::models::nets::{edrl::Edrl, mlp};
    use candle_core::{Device, Tensor};
    use candle_nn::{AdamW, Optimizer, ParamsAdamW};
    let mut rng = crate::rng::Rng::new(0);
    let mut batch = |n: usize, d: usize| -> anyhow::Result<(Tensor, Vec<usize>)> {
        let x: Vec<f32> = (0..n * d).map(|_| rng.normal() as f32).collect();
        let y: Vec<usize> = (0..n).map(|_| (rng.next_u64() % 4) as usize).collect();
        Ok((Tensor::from_vec(x, (n, d), &Device::Cpu)?, y))
    };
    let params = ParamsAdamW { lr: 1e-3, weight_decay: 0.01, ..ParamsAdamW::default() };
    let time = |f: &mut dyn FnMut() -> anyhow::Result<()>| -> anyhow::Result<f64> {
        for _ in 0..20 {
            f()?;
        }
        let t = Instant::now();
        for _ in 0..steps {
            f()?;
        }
        Ok(t.elapsed().as_secs_f64() * 1e3 / steps as f64)
    };
    let mut out = Vec::new();

    let (x, y) = batch(512, 88)?;
    let model = mlp::Mlp::init(&[88, 256, 4], 1)?;
    let mut opt = AdamW::new(model.vars(), params.clone())?;
    let targets = index_tensor(&y)?;
    let weights = Tensor::ones(y.len(), candle_core::DType::F32, &Device::Cpu)?;
    let ms = time(&mut || {
        let loss = weighted_cross_entropy(&model.forward(&x)?, &targets, &weights)?;
        Ok(opt.backward_step(&loss)?)
    })?;
    out.push(TrainBench { network: "mlp", steps, ms_per_step: ms });

    let (x, y) = batch(64, 128)?;
    let cfg = crate::models::edrl::EdrlConfig::default().settings();
    let model = Edrl::init(128, 4, cfg.encoder_hidden, cfg.code_dim, 1)?;
    let mut opt = AdamW::new(model.vars(), params.clone())?;
    let mut onehot = vec![0f32; 64 * 4];
    let mut present = vec![0f32; 4];
    for (i, &c) in y.iter().enumerate() {
        onehot[i * 4 + c] = 1.0;
        present[c] = 1.0;
    }
    let onehot = Tensor::from_vec(onehot, (64, 4), &Device::Cpu)?;
    let present = Tensor::from_vec(present, 4, &Device::Cpu)?;
    let targets = index_tensor(&y)?;
    let weights = Tensor::ones(64, candle_core::DType::F32, &Device::Cpu)?;
    let ms = time(&mut || {
        let loss = model.loss(&cfg.loss, &x, &onehot, &targets, &weights, &present)?;
        Ok(opt.backward_step(&loss.total)?)
    })?;
    out.push(TrainBench { network: "edrl", steps, ms_per_step: ms });

    use crate::models::nets::align::{mmd, reverse_gradient};
    let (xs, ys) = batch(64, 128)?;
    let (xt, _) = batch(64, 128)?;
    let both = Tensor::cat(&[&xs, &xt], 0)?;
    let targets = index_tensor(&ys)?;
    let domain = Tensor::from_vec((0..128u32).map(|i| u32::from(i >= 64)).collect::<Vec<_>>(), 128, &Device::Cpu)?;
    for network in ["mmd", "dann"] {
        let model = mlp::Mlp::init(&[128, 64, 4], 1)?;
        let disc = mlp::Mlp::init(&[64, 64, 2], 2)?;
        let mut vars = model.vars();
        if network == "dann" {
            vars.extend(disc.vars());
        }
        let mut opt = AdamW::new(vars, params.clone())?;
        let ms = time(&mut || {
            let (h, logits) = model.forward_with_hidden(&both)?;
            let ce = candle_nn::loss::cross_entropy(&logits.narrow(0, 0, 64)?, &targets)?;
            let term = match network {
                "mmd" => mmd(&h.narrow(0, 0, 64)?, &h.narrow(0, 64, 64)?)?,
                _ => candle_nn::loss::cross_entropy(&disc.forward(&reverse_gradient(&h, 0.5)?)?, &domain)?,
            };
            Ok(opt.backward_step(&(ce + term)?)?)
        })?;
        out.push(TrainBench { network, steps, ms_per_step: ms });
    }

    // se-ser at its defaults (d 32, 2 blocks, 4 heads, hidden 64), a batch of 16 crops of 64 and 128
    // frames × 201 bins: CE + L1 with everything trainable (tools/bench_se_ser.py is the same network).
    use crate::models::nets::seq::{l1_loss, Batch, Heads, SeqNet, SeqOptions};
    use crate::models::SeqExample;
    for (network, frames) in [("se-ser (64 frames)", 64), ("se-ser (128 frames)", 128)] {
        let o = SeqOptions::default();
        let bins = 201;
        let examples: Vec<SeqExample> = (0..16)
            .map(|i| {
                // The last example is half padding, as in a real batch.
                let n = if i == 15 { frames / 2 } else { frames };
                let mut frame = || (0..bins).map(|_| rng.uniform() as f32).collect::<Vec<f32>>();
                SeqExample { noisy: (0..n).map(|_| frame()).collect(), clean: (0..n).map(|_| frame()).collect() }
            })
            .collect();
        let b = Batch::new(&examples, bins)?;
        let stats = (vec![0.5; bins], vec![0.3; bins]);
        let net = SeqNet::init(&o, Heads { enhance: true, emotion: true }, bins, 4, stats, 1)?;
        let mut opt = AdamW::new(
            net.all_vars(),
            ParamsAdamW { lr: o.lr, weight_decay: o.weight_decay, ..ParamsAdamW::default() },
        )?;
        let y: Vec<usize> = (0..16).map(|i| i % 4).collect();
        let targets = index_tensor(&y)?;
        let weights = Tensor::ones(16, candle_core::DType::F32, &Device::Cpu)?;
        let ms = time(&mut || {
            let out = net.forward(&b, 0, None)?;
            let ce = weighted_cross_entropy(out.logits.as_ref().expect("emotion head"), &targets, &weights)?;
            let loss = (ce + l1_loss(out.enhanced.as_ref().expect("enhancement head"), &b)?)?;
            Ok(opt.backward_step(&loss)?)
        })?;
        out.push(TrainBench { network, steps, ms_per_step: ms });
    }
    Ok(out)
}
