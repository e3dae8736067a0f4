//! Utterance-level functionals over frame-level descriptors, and the named default set `functionals`
//! meant as EDRL-MEA input: log-mel mean/std, MFCC and delta-MFCC statistics, and eight functionals of
//! energy, zero-crossing rate, spectral centroid, roll-off, flux and voiced-only F0.
//!
//! The log-mel options apply here as in `logmel_stats`: `top_db` and `cmvn` to the log-mel frames, so to the
//! MFCCs computed from them too; `active_db` to the log-mel, MFCC and delta-MFCC statistics (deltas still
//! from the complete sequence). The energy, spectral and F0 descriptors always use every frame.

use super::pitch::Yin;
use super::spec::FunctionalsConfig;
use super::{frame_energy, Dct, LogMel};

/// The functionals of one descriptor track, in this order.
pub const FUNCTIONALS: [&str; 8] = ["mean", "std", "p10", "p50", "p90", "min", "max", "slope"];

/// Mean, population std, 10/50/90th percentiles (linear interpolation, as numpy), min, max and the
/// least-squares slope per frame. An empty track gives zeros.
pub fn functionals(v: &[f32]) -> [f32; 8] {
    if v.is_empty() {
        return [0.0; 8];
    }
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let std = (v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
    let mut sorted: Vec<f64> = v.iter().map(|&x| x as f64).collect();
    sorted.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        let pos = q * (sorted.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
    };
    let t_mean = (n - 1.0) / 2.0;
    let var_t: f64 = (0..v.len()).map(|i| (i as f64 - t_mean).powi(2)).sum();
    let slope = if var_t > 0.0 {
        v.iter().enumerate().map(|(i, &x)| (i as f64 - t_mean) * (x as f64 - mean)).sum::<f64>() / var_t
    } else {
        0.0
    };
    [mean, std, pct(0.1), pct(0.5), pct(0.9), sorted[0], sorted[sorted.len() - 1], slope].map(|x| x as f32)
}

/// Extractor of the `functionals` feature set.
pub struct FunctionalSet {
    logmel: LogMel,
    yin: Yin,
    dct: Dct,
    n_mfcc: usize,
    sample_rate: u32,
    n_fft: usize,
    win: usize,
    hop: usize,
}

impl FunctionalSet {
    pub fn new(f: &FunctionalsConfig, sample_rate: u32) -> FunctionalSet {
        let sr = sample_rate as f64;
        let cfg = &f.logmel;
        FunctionalSet {
            logmel: LogMel::new(cfg, sample_rate),
            yin: Yin { hop: ((cfg.hop_ms * sr / 1000.0).round() as usize).max(1), ..Yin::new(sample_rate) },
            dct: Dct::new(cfg.n_mels, f.n_mfcc, 0.0),
            n_mfcc: f.n_mfcc,
            sample_rate,
            n_fft: cfg.n_fft,
            win: (cfg.win_ms * sr / 1000.0).round() as usize,
            hop: ((cfg.hop_ms * sr / 1000.0).round() as usize).max(1),
        }
    }

    pub fn dim(cfg: &FunctionalsConfig) -> usize {
        2 * cfg.logmel.n_mels + 3 * cfg.n_mfcc + 2 * cfg.n_mfcc + 6 * FUNCTIONALS.len() + 1
    }

    /// Names of the dimensions, in order (written into the Parquet metadata).
    pub fn names(cfg: &FunctionalsConfig) -> Vec<String> {
        let mut n = Vec::new();
        for s in ["mean", "std"] {
            n.extend((0..cfg.logmel.n_mels).map(|b| format!("logmel{b}_{s}")));
        }
        for s in ["mean", "std", "slope"] {
            n.extend((0..cfg.n_mfcc).map(|c| format!("mfcc{c}_{s}")));
        }
        for s in ["mean", "std"] {
            n.extend((0..cfg.n_mfcc).map(|c| format!("dmfcc{c}_{s}")));
        }
        for lld in ["energy_db", "zcr", "centroid_hz", "rolloff85_hz", "flux", "f0_semitones_voiced"] {
            n.extend(FUNCTIONALS.iter().map(|f| format!("{lld}_{f}")));
        }
        n.push("voiced_fraction".into());
        n
    }

    pub fn compute(&self, x: &[f32]) -> Vec<f32> {
        // One STFT feeds every descriptor.
        let power = self.logmel.power_frames(x);
        let mut logmel: Vec<Vec<f32>> = power.iter().map(|p| self.logmel.mel_db(p)).collect();
        self.logmel.normalise(&mut logmel);
        let energies: Vec<f64> = if self.logmel.gates_frames() {
            power.iter().map(|p| frame_energy(p.as_slice())).collect()
        } else {
            Vec::new()
        };
        // The frames the statistics use (all of them unless `active_db` gates them).
        let active = self.logmel.active_mask(&energies);
        let used = |t: usize| match &active {
            Some(a) => a[t],
            None => true,
        };
        let stat_frames: Vec<&Vec<f32>> = logmel.iter().enumerate().filter(|(t, _)| used(*t)).map(|(_, f)| f).collect();
        let m = self.logmel.n_mels();
        let mut out = Vec::new();
        // Log-mel mean and std per band (no percentiles needed, so no sorting).
        let band_stats: Vec<(f32, f32)> = (0..m)
            .map(|b| {
                let n = stat_frames.len().max(1) as f64;
                let mean = stat_frames.iter().map(|f| f[b] as f64).sum::<f64>() / n;
                let var = stat_frames.iter().map(|f| (f[b] as f64 - mean).powi(2)).sum::<f64>() / n;
                (mean as f32, var.sqrt() as f32)
            })
            .collect();
        out.extend(band_stats.iter().map(|s| s.0));
        out.extend(band_stats.iter().map(|s| s.1));
        // MFCC mean, std, slope; deltas (centred difference) mean and std.
        let cep: Vec<Vec<f32>> = logmel.iter().map(|f| self.dct.apply(f)).collect();
        let delta: Vec<Vec<f32>> = (0..cep.len())
            .map(|t| {
                let (a, b) = (&cep[t.saturating_sub(1)], &cep[(t + 1).min(cep.len() - 1)]);
                a.iter().zip(b).map(|(p, q)| (q - p) / 2.0).collect()
            })
            .collect();
        for (src, stats) in [(&cep, &[0usize, 1, 7][..]), (&delta, &[0, 1][..])] {
            let per_coef: Vec<[f32; 8]> = (0..self.n_mfcc)
                .map(|c| {
                    let track: Vec<f32> = src.iter().enumerate().filter(|(t, _)| used(*t)).map(|(_, f)| f[c]).collect();
                    functionals(&track)
                })
                .collect();
            for &stat in stats {
                out.extend(per_coef.iter().map(|f| f[stat]));
            }
        }
        // Spectral and energy descriptors from the same power frames.
        let bin_hz = self.sample_rate as f64 / self.n_fft as f64;
        let (mut energy, mut centroid, mut rolloff, mut flux) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut prev: Option<Vec<f64>> = None;
        for p in &power {
            let total: f64 = p.iter().map(|&v| v as f64).sum();
            energy.push((10.0 * (total / p.len() as f64).max(1e-10).log10()) as f32);
            let c = if total > 0.0 {
                p.iter().enumerate().map(|(k, &v)| k as f64 * bin_hz * v as f64).sum::<f64>() / total
            } else {
                0.0
            };
            centroid.push(c as f32);
            let mut acc = 0.0;
            let k85 = p.iter().position(|&v| {
                acc += v as f64;
                acc >= 0.85 * total
            });
            rolloff.push((k85.unwrap_or(0) as f64 * bin_hz) as f32);
            let mag: Vec<f64> = p.iter().map(|&v| (v as f64).sqrt()).collect();
            let norm = mag.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
            let mag: Vec<f64> = mag.iter().map(|v| v / norm).collect();
            flux.push(
                prev.as_ref().map_or(0.0, |q| mag.iter().zip(q).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt())
                    as f32,
            );
            prev = Some(mag);
        }
        let zcr: Vec<f32> = (0..power.len())
            .map(|t| {
                let start = (t * self.hop).saturating_sub(self.win / 2);
                let seg = &x[start.min(x.len())..(start + self.win).min(x.len())];
                let crossings = seg.windows(2).filter(|w| (w[0] >= 0.0) != (w[1] >= 0.0)).count();
                crossings as f32 / self.win.max(1) as f32
            })
            .collect();
        let track = self.yin.track(x);
        let f0: Vec<f32> = track.iter().flatten().map(|&f| (12.0 * (f / 27.5).log2()) as f32).collect();
        for t in [&energy, &zcr, &centroid, &rolloff, &flux, &f0] {
            out.extend(functionals(t));
        }
        out.push(if track.is_empty() { 0.0 } else { f0.len() as f32 / track.len() as f32 });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functionals_match_hand_computed_values() {
        let f = functionals(&[1.0, 2.0, 3.0, 4.0, 10.0]);
        assert_eq!(f[0], 4.0);
        assert!((f[1] - 10f32.sqrt()).abs() < 1e-6);
        assert!((f[2] - 1.4).abs() < 1e-6 && f[3] == 3.0 && (f[4] - 7.6).abs() < 1e-5);
        assert_eq!((f[5], f[6]), (1.0, 10.0));
        assert!((f[7] - 2.0).abs() < 1e-6);
        assert_eq!(functionals(&[]), [0.0; 8]);
    }

    #[test]
    fn the_set_has_its_declared_dimension_and_sees_pitch() {
        let cfg = FunctionalsConfig::default();
        let set = FunctionalSet::new(&cfg, 16_000);
        let x: Vec<f32> =
            (0..16_000).map(|i| (2.0 * std::f32::consts::PI * 200.0 * i as f32 / 16_000.0).sin() * 0.3).collect();
        let v = set.compute(&x);
        assert_eq!(v.len(), FunctionalSet::dim(&cfg));
        assert_eq!(FunctionalSet::names(&cfg).len(), v.len());
        let names = FunctionalSet::names(&cfg);
        let at = |n: &str| v[names.iter().position(|x| x == n).unwrap()];
        // 200 Hz is 12·log2(200/27.5) = 34.36 semitones above A0.
        assert!((at("f0_semitones_voiced_p50") - 34.36).abs() < 0.2, "{}", at("f0_semitones_voiced_p50"));
        assert!(at("voiced_fraction") > 0.8);
        assert!((at("centroid_hz_p50") - 200.0).abs() < 40.0, "{}", at("centroid_hz_p50"));
    }

    #[test]
    fn logmel_options_reach_the_logmel_and_mfcc_statistics() {
        let tone = |n: usize| -> Vec<f32> {
            (0..n).map(|i| (2.0 * std::f32::consts::PI * 300.0 * i as f32 / 16_000.0).sin() * 0.3).collect()
        };
        fn config(f: impl FnOnce(&mut FunctionalsConfig)) -> FunctionalsConfig {
            let mut c = FunctionalsConfig::default();
            f(&mut c);
            c
        }
        let names = FunctionalSet::names(&FunctionalsConfig::default());
        let block = |v: &[f32], prefix: &str, suffix: &str| -> Vec<f32> {
            names.iter().zip(v).filter(|(n, _)| n.starts_with(prefix) && n.ends_with(suffix)).map(|(_, &x)| x).collect()
        };
        // 1 s of tone, then 1 s of digital silence.
        let mut x = tone(16_000);
        x.extend(vec![0.0; 16_000]);
        // cmvn = "mean" centres the log-mel frames, so the MFCCs (a linear map of them) too.
        let cfg = config(|c| c.logmel.cmvn = "mean".into());
        let v = FunctionalSet::new(&cfg, 16_000).compute(&x);
        for prefix in ["logmel", "mfcc"] {
            let means = block(&v, prefix, "_mean");
            assert!(!means.is_empty() && means.iter().all(|m| m.abs() < 1e-3), "{prefix}: {means:?}");
        }
        // top_db and active_db: the log-mel block is what LogMel's statistics give for the same options.
        for cfg in [
            config(|c| c.logmel.top_db = Some(50.0)),
            config(|c| c.logmel.active_db = Some(20.0)),
            config(|c| {
                c.logmel.active_db = Some(30.0);
                c.logmel.cmvn = "meanvar".into();
            }),
        ] {
            let v = FunctionalSet::new(&cfg, 16_000).compute(&x);
            let lm = LogMel::new(&cfg.logmel, 16_000).stats(&x);
            let m = cfg.logmel.n_mels;
            for (i, (a, b)) in v[..2 * m].iter().zip(&lm).enumerate() {
                assert!((a - b).abs() < 1e-4, "{cfg:?} dim {i}: {a} vs {b}");
            }
        }
        // Gating the silent second away brings the MFCC statistics back to those of the tone alone.
        let plain = FunctionalSet::new(&FunctionalsConfig::default(), 16_000);
        let gated = FunctionalSet::new(&config(|c| c.logmel.active_db = Some(20.0)), 16_000);
        let (alone, whole, active) = (plain.compute(&tone(16_000)), plain.compute(&x), gated.compute(&x));
        let mfcc0 = |v: &[f32]| block(v, "mfcc0_", "_mean")[0];
        assert!((mfcc0(&whole) - mfcc0(&alone)).abs() > 50.0, "{} vs {}", mfcc0(&whole), mfcc0(&alone));
        assert!((mfcc0(&active) - mfcc0(&alone)).abs() < 1e-3, "{} vs {}", mfcc0(&active), mfcc0(&alone));
    }
}
