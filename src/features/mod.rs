//! Utterance-level features: log-mel frames (librosa conventions: periodic Hann, center=True with zero
//! padding, Slaney mel scale and area normalisation, power spectrum, 10·log10 with a 1e-10 floor) and
//! their per-band mean and standard deviation.

pub mod functionals;
pub mod imported;
pub mod pitch;
pub mod spec;

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

pub use spec::{FeatureSpec, FunctionalsConfig, ImportedConfig, LogMelConfig};

/// Slaney's mel scale (librosa's default, `htk=False`).
pub fn hz_to_mel(f: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if f >= min_log_hz {
        min_log_mel + (f / min_log_hz).ln() / logstep
    } else {
        f / f_sp
    }
}

pub fn mel_to_hz(m: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if m >= min_log_mel {
        min_log_hz * (logstep * (m - min_log_mel)).exp()
    } else {
        f_sp * m
    }
}

/// HTK's mel scale (`htk=True`).
pub fn hz_to_mel_htk(f: f64) -> f64 {
    2595.0 * (1.0 + f / 700.0).log10()
}

pub fn mel_to_hz_htk(m: f64) -> f64 {
    700.0 * (10f64.powf(m / 2595.0) - 1.0)
}

/// librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk, norm='slaney' or None), row-major
/// `n_mels × (n_fft/2 + 1)`.
pub fn mel_filterbank_with(
    sr: f64,
    n_fft: usize,
    n_mels: usize,
    fmin: f64,
    fmax: f64,
    htk: bool,
    slaney_norm: bool,
) -> Vec<Vec<f64>> {
    type Scale = fn(f64) -> f64;
    let (to_mel, to_hz): (Scale, Scale) = if htk { (hz_to_mel_htk, mel_to_hz_htk) } else { (hz_to_mel, mel_to_hz) };
    let n_bins = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..n_bins).map(|i| i as f64 * sr / n_fft as f64).collect();
    let (mmin, mmax) = (to_mel(fmin), to_mel(fmax));
    let mel_f: Vec<f64> =
        (0..n_mels + 2).map(|i| to_hz(mmin + (mmax - mmin) * i as f64 / (n_mels + 1) as f64)).collect();
    (0..n_mels)
        .map(|m| {
            let enorm = if slaney_norm { 2.0 / (mel_f[m + 2] - mel_f[m]) } else { 1.0 };
            fft_freqs
                .iter()
                .map(|&f| {
                    let lower = (f - mel_f[m]) / (mel_f[m + 1] - mel_f[m]);
                    let upper = (mel_f[m + 2] - f) / (mel_f[m + 2] - mel_f[m + 1]);
                    lower.min(upper).max(0.0) * enorm
                })
                .collect()
        })
        .collect()
}

/// The default filterbank: Slaney scale and normalisation (librosa's defaults).
pub fn mel_filterbank(sr: f64, n_fft: usize, n_mels: usize, fmin: f64, fmax: f64) -> Vec<Vec<f64>> {
    mel_filterbank_with(sr, n_fft, n_mels, fmin, fmax, false, true)
}

/// MFCCs of one log-mel frame: DCT-II with orthonormal scaling (librosa `dct_type=2, norm='ortho'`),
/// then optional sinusoidal liftering (`lifter > 0`).
pub fn mfcc(logmel: &[f32], n_mfcc: usize, lifter: f64) -> Vec<f32> {
    Dct::new(logmel.len(), n_mfcc, lifter).apply(logmel)
}

/// The MFCC transform as a precomputed matrix (orthonormal DCT-II rows times the lifter), so a frame
/// costs n_mfcc · n_mels multiply-adds and no cosines.
pub struct Dct {
    n_mels: usize,
    /// Row-major, `n_mfcc × n_mels`.
    matrix: Vec<f64>,
}

impl Dct {
    pub fn new(n_mels: usize, n_mfcc: usize, lifter: f64) -> Dct {
        let n = n_mels as f64;
        let mut matrix = Vec::with_capacity(n_mfcc * n_mels);
        for k in 0..n_mfcc {
            let scale = if k == 0 { (1.0 / n).sqrt() } else { (2.0 / n).sqrt() };
            let lift = if lifter > 0.0 {
                1.0 + lifter / 2.0 * (std::f64::consts::PI * (k + 1) as f64 / lifter).sin()
            } else {
                1.0
            };
            matrix.extend(
                (0..n_mels).map(|i| {
                    scale * lift * (std::f64::consts::PI * k as f64 * (2.0 * i as f64 + 1.0) / (2.0 * n)).cos()
                }),
            );
        }
        Dct { n_mels, matrix }
    }

    pub fn apply(&self, logmel: &[f32]) -> Vec<f32> {
        self.matrix
            .chunks_exact(self.n_mels)
            .map(|row| row.iter().zip(logmel).map(|(w, &v)| w * v as f64).sum::<f64>() as f32)
            .collect()
    }
}

/// A reusable log-mel extractor (plans and tables built once per shard).
pub struct LogMel {
    n_fft: usize,
    hop: usize,
    window: Vec<f32>,
    /// Sparse filterbank: for each band, (first bin, weights).
    bands: Vec<(usize, Vec<f32>)>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl LogMel {
    pub fn new(cfg: &LogMelConfig, sample_rate: u32) -> LogMel {
        let sr = sample_rate as f64;
        let win = (cfg.win_ms * sr / 1000.0).round() as usize;
        let hop = ((cfg.hop_ms * sr / 1000.0).round() as usize).max(1);
        let n_fft = cfg.n_fft;
        // Periodic Hann of `win` samples, centred in n_fft (librosa's pad_center).
        let mut window = vec![0f32; n_fft];
        let left = (n_fft - win) / 2;
        for i in 0..win {
            window[left + i] = (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / win as f64).cos()) as f32;
        }
        let fmax = cfg.fmax_hz.unwrap_or(sr / 2.0);
        let fb = mel_filterbank_with(
            sr,
            n_fft,
            cfg.n_mels,
            cfg.fmin_hz,
            fmax,
            cfg.mel_scale == "htk",
            cfg.mel_norm == "slaney",
        );
        let bands = fb
            .iter()
            .map(|row| {
                let first = row.iter().position(|&w| w > 0.0).unwrap_or(0);
                let last = row.iter().rposition(|&w| w > 0.0).unwrap_or(0);
                (first, row[first..=last.max(first)].iter().map(|&w| w as f32).collect())
            })
            .collect();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
        LogMel { n_fft, hop, window, bands, fft }
    }

    pub fn n_mels(&self) -> usize {
        self.bands.len()
    }

    /// Call `f` with the power spectrum |X|² of every frame in turn (librosa's `stft(center=True,
    /// pad_mode='constant')` framing), reusing one buffer.
    fn for_each_power_frame(&self, x: &[f32], mut f: impl FnMut(&[f32])) {
        let pad = self.n_fft / 2;
        let n_frames = 1 + x.len() / self.hop;
        let mut input = self.fft.make_input_vec();
        let mut spec = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f32; spec.len()];
        for t in 0..n_frames {
            let start = (t * self.hop) as isize - pad as isize;
            for (i, v) in input.iter_mut().enumerate() {
                let j = start + i as isize;
                let s = if j >= 0 && (j as usize) < x.len() { x[j as usize] } else { 0.0 };
                *v = s * self.window[i];
            }
            self.fft
                .process_with_scratch(&mut input, &mut spec, &mut scratch)
                .expect("buffer sizes come from the plan");
            for (p, c) in power.iter_mut().zip(&spec) {
                *p = c.norm_sqr();
            }
            f(&power);
        }
    }

    /// Power spectra of every frame (`frames × (n_fft/2 + 1)`).
    pub fn power_frames(&self, x: &[f32]) -> Vec<Vec<f32>> {
        let mut out = Vec::new();
        self.for_each_power_frame(x, |p| out.push(p.to_vec()));
        out
    }

    /// Log-mel frames in dB (10·log10 with a 1e-10 floor), frame-major (`frames × n_mels`).
    pub fn frames(&self, x: &[f32]) -> Vec<Vec<f32>> {
        let mut out = Vec::new();
        self.for_each_power_frame(x, |power| out.push(self.mel_db(power)));
        out
    }

    /// The log-mel frame (dB) of one power spectrum.
    pub fn mel_db(&self, power: &[f32]) -> Vec<f32> {
        self.bands
            .iter()
            .map(|(first, w)| {
                let e: f32 = w.iter().zip(&power[*first..]).map(|(a, b)| a * b).sum();
                10.0 * e.max(1e-10).log10()
            })
            .collect()
    }

    /// Per-band mean then per-band standard deviation (population), `2 · n_mels` values.
    pub fn stats(&self, x: &[f32]) -> Vec<f32> {
        let frames = self.frames(x);
        let m = self.n_mels();
        let n = frames.len() as f64;
        let mut mean = vec![0f64; m];
        for f in &frames {
            for (a, &v) in mean.iter_mut().zip(f) {
                *a += v as f64;
            }
        }
        mean.iter_mut().for_each(|a| *a /= n);
        let mut var = vec![0f64; m];
        for f in &frames {
            for ((a, &v), mu) in var.iter_mut().zip(f).zip(&mean) {
                *a += (v as f64 - mu).powi(2);
            }
        }
        mean.iter().map(|&v| v as f32).chain(var.iter().map(|&v| (v / n).sqrt() as f32)).collect()
    }
}

pub fn dim(spec: &FeatureSpec) -> usize {
    match spec {
        FeatureSpec::Functionals(f) => functionals::FunctionalSet::dim(f),
        FeatureSpec::LogMelStats(c) => 2 * c.n_mels,
        // The file decides; nothing computes imported vectors.
        FeatureSpec::Imported(_) => 0,
    }
}

/// Names of the feature dimensions, in order (Parquet metadata `sertool.feature_names`).
pub fn names(spec: &FeatureSpec) -> Vec<String> {
    match spec {
        FeatureSpec::Functionals(f) => functionals::FunctionalSet::names(f),
        FeatureSpec::LogMelStats(c) => {
            ["mean", "std"].iter().flat_map(|s| (0..c.n_mels).map(move |b| format!("logmel{b}_{s}"))).collect()
        }
        FeatureSpec::Imported(_) => Vec::new(),
    }
}

/// Contiguous blocks of the feature vector (name, width), the blocks MB-PLS treats separately. Empty for
/// imported features (one block of whatever width the file has).
pub fn blocks(spec: &FeatureSpec) -> Vec<(String, usize)> {
    match spec {
        FeatureSpec::Functionals(c) => {
            let f = functionals::FUNCTIONALS.len();
            vec![
                ("logmel".into(), 2 * c.logmel.n_mels),
                ("mfcc".into(), 3 * c.n_mfcc),
                ("delta_mfcc".into(), 2 * c.n_mfcc),
                ("spectral".into(), 5 * f),
                ("f0".into(), f + 1),
            ]
        }
        FeatureSpec::Imported(_) => Vec::new(),
        FeatureSpec::LogMelStats(c) => vec![("logmel_mean".into(), c.n_mels), ("logmel_std".into(), c.n_mels)],
    }
}

/// The extractor a feature configuration names.
pub enum Extractor {
    LogMelStats(LogMel),
    Functionals(Box<functionals::FunctionalSet>),
}

impl Extractor {
    /// None for imported features, which sertool does not compute.
    pub fn new(spec: &FeatureSpec, sample_rate: u32) -> Option<Extractor> {
        match spec {
            FeatureSpec::Functionals(f) => {
                Some(Extractor::Functionals(Box::new(functionals::FunctionalSet::new(f, sample_rate))))
            }
            FeatureSpec::LogMelStats(c) => Some(Extractor::LogMelStats(LogMel::new(c, sample_rate))),
            FeatureSpec::Imported(_) => None,
        }
    }

    pub fn compute(&self, x: &[f32]) -> Vec<f32> {
        match self {
            Extractor::LogMelStats(lm) => lm.stats(x),
            Extractor::Functionals(f) => f.compute(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slaney_mel_scale_roundtrip_and_known_points() {
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        for f in [0.0, 300.0, 999.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(f)) - f).abs() < 1e-9);
        }
    }

    #[test]
    fn a_tone_lights_the_band_that_contains_it() {
        let cfg = LogMelConfig::default();
        let lm = LogMel::new(&cfg, 16_000);
        let x: Vec<f32> =
            (0..16_000).map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin()).collect();
        let frames = lm.frames(&x);
        assert_eq!(frames.len(), 1 + 16_000 / 160);
        let mid = &frames[50];
        let best = mid.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        let fb = mel_filterbank(16_000.0, 512, 64, 0.0, 8000.0);
        let bin = (1000.0 * 512.0 / 16_000.0) as usize;
        let best_fb = (0..64).max_by(|&a, &b| fb[a][bin].total_cmp(&fb[b][bin])).unwrap();
        assert_eq!(best, best_fb);
        assert_eq!(lm.stats(&x).len(), 128);
        for kind in ["logmel_stats", "functionals"] {
            let cfg = FeatureSpec::default_of(kind).unwrap();
            assert_eq!(blocks(&cfg).iter().map(|b| b.1).sum::<usize>(), dim(&cfg), "{kind}");
        }
    }
}
