//! Utterance-level features: log-mel frames (librosa conventions: periodic Hann, center=True with zero
//! padding, Slaney mel scale and area normalisation, power spectrum, 10·log10 with a 1e-10 floor) and
//! their per-band mean and standard deviation. Optionally (all off by default) a dB floor relative to the
//! utterance's maximum (`top_db`), per-utterance mean (and variance) normalisation (`cmvn`), and statistics
//! over active frames only (`active_db`).

pub mod egemaps;
pub mod functionals;
pub mod imported;
pub mod pitch;
pub mod spec;
pub mod stft;

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

/// Per-utterance normalisation of log-mel frames (`cmvn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmvn {
    None,
    Mean,
    MeanVar,
}

/// The floor of the std that `cmvn = "meanvar"` divides by.
const CMVN_STD_FLOOR: f64 = 1e-5;

/// A reusable log-mel extractor (plans and tables built once per shard).
pub struct LogMel {
    n_fft: usize,
    hop: usize,
    window: Vec<f32>,
    /// Sparse filterbank: for each band, (first bin, weights).
    bands: Vec<(usize, Vec<f32>)>,
    fft: Arc<dyn RealToComplex<f32>>,
    /// dB floor below the utterance's largest log-mel value (`top_db`).
    top_db: Option<f64>,
    cmvn: Cmvn,
    /// Statistics over frames within this many dB of the loudest (`active_db`).
    active_db: Option<f64>,
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
        // The config module admits only these three; anything else reads as "none".
        let cmvn = match cfg.cmvn.as_str() {
            "mean" => Cmvn::Mean,
            "meanvar" => Cmvn::MeanVar,
            _ => Cmvn::None,
        };
        LogMel { n_fft, hop, window, bands, fft, top_db: cfg.top_db, cmvn, active_db: cfg.active_db }
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

    /// Log-mel frames in dB (10·log10 with a 1e-10 floor), frame-major (`frames × n_mels`), then the
    /// `top_db` floor and `cmvn` ([`LogMel::normalise`]). Every frame, whatever `active_db` says.
    pub fn frames(&self, x: &[f32]) -> Vec<Vec<f32>> {
        let mut out = Vec::new();
        self.for_each_power_frame(x, |power| out.push(self.mel_db(power)));
        self.normalise(&mut out);
        out
    }

    /// The utterance-level processing of its log-mel frames ([`LogMel::mel_db`] of every frame), in place:
    /// the `top_db` floor, then `cmvn`. Nothing at the defaults.
    pub fn normalise(&self, frames: &mut [Vec<f32>]) {
        if let Some(top_db) = self.top_db {
            floor_below_max(frames, top_db);
        }
        if self.cmvn != Cmvn::None {
            normalise_bands(frames, self.cmvn == Cmvn::MeanVar);
        }
    }

    /// Which frames the statistics use, from each frame's energy ([`frame_energy`] of its power
    /// spectrum): None (all of them) unless `active_db` is set; then those within `active_db` dB of the
    /// loudest frame and above zero ([`crate::audio::mix::active_frames`], the rule of `[mix] snr_mode =
    /// "active"`), or None again when no frame qualifies.
    pub fn active_mask(&self, energies: &[f64]) -> Option<Vec<bool>> {
        let gate_db = self.active_db?;
        let mask = crate::audio::mix::active_frames(energies, gate_db);
        if mask.iter().any(|&a| a) {
            Some(mask)
        } else {
            None
        }
    }

    /// Whether the statistics gate frames on energy (`active_db` set), i.e. whether
    /// [`LogMel::active_mask`] needs the frame energies.
    pub fn gates_frames(&self) -> bool {
        self.active_db.is_some()
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

    /// Per-band mean then per-band standard deviation (population), `2 · n_mels` values, of the frames
    /// [`LogMel::frames`] gives, over the active ones under `active_db`.
    pub fn stats(&self, x: &[f32]) -> Vec<f32> {
        let gated = self.gates_frames();
        let (mut frames, mut energies) = (Vec::new(), Vec::new());
        self.for_each_power_frame(x, |power| {
            if gated {
                energies.push(frame_energy(power));
            }
            frames.push(self.mel_db(power));
        });
        self.normalise(&mut frames);
        let active = self.active_mask(&energies);
        band_stats(&frames, self.n_mels(), active.as_deref())
    }
}

/// A frame's energy for `active_db`: the sum of its power spectrum |X|² (f64).
pub fn frame_energy(power: &[f32]) -> f64 {
    power.iter().map(|&p| p as f64).sum()
}

/// Per-band mean then per-band population standard deviation of log-mel frames, `2 · n_mels` values, over
/// the frames `active` marks (all of them when None).
pub fn band_stats(frames: &[Vec<f32>], n_mels: usize, active: Option<&[bool]>) -> Vec<f32> {
    let used = |t: usize| match active {
        Some(a) => a[t],
        None => true,
    };
    let mut count = 0usize;
    let mut mean = vec![0f64; n_mels];
    for (t, f) in frames.iter().enumerate() {
        if used(t) {
            count += 1;
            for (a, &v) in mean.iter_mut().zip(f) {
                *a += v as f64;
            }
        }
    }
    let n = count as f64;
    mean.iter_mut().for_each(|a| *a /= n);
    let mut var = vec![0f64; n_mels];
    for (t, f) in frames.iter().enumerate() {
        if used(t) {
            for ((a, &v), mu) in var.iter_mut().zip(f).zip(&mean) {
                *a += (v as f64 - mu).powi(2);
            }
        }
    }
    mean.iter().map(|&v| v as f32).chain(var.iter().map(|&v| (v / n).sqrt() as f32)).collect()
}

/// librosa's `power_to_db(top_db=...)` on dB frames: raise every value below (the largest value over all
/// frames and bands − `top_db`) to it.
fn floor_below_max(frames: &mut [Vec<f32>], top_db: f64) {
    let max = frames.iter().flatten().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    if !max.is_finite() {
        return;
    }
    let floor = (max as f64 - top_db) as f32;
    for v in frames.iter_mut().flatten() {
        *v = v.max(floor);
    }
}

/// Subtract each band's mean over the frames from every frame; with `var`, also divide by the band's
/// population std, floored at [`CMVN_STD_FLOOR`].
fn normalise_bands(frames: &mut [Vec<f32>], var: bool) {
    let Some(n_mels) = frames.first().map(|f| f.len()) else { return };
    let n = frames.len() as f64;
    let mut mean = vec![0f64; n_mels];
    for f in frames.iter() {
        for (a, &v) in mean.iter_mut().zip(f) {
            *a += v as f64;
        }
    }
    mean.iter_mut().for_each(|a| *a /= n);
    if !var {
        for f in frames.iter_mut() {
            for (v, mu) in f.iter_mut().zip(&mean) {
                *v = (*v as f64 - mu) as f32;
            }
        }
        return;
    }
    let mut std = vec![0f64; n_mels];
    for f in frames.iter() {
        for ((a, &v), mu) in std.iter_mut().zip(f).zip(&mean) {
            *a += (v as f64 - mu).powi(2);
        }
    }
    std.iter_mut().for_each(|a| *a = (*a / n).sqrt().max(CMVN_STD_FLOOR));
    for f in frames.iter_mut() {
        for ((v, mu), sd) in f.iter_mut().zip(&mean).zip(&std) {
            *v = ((*v as f64 - mu) / sd) as f32;
        }
    }
}

pub fn dim(spec: &FeatureSpec) -> usize {
    match spec {
        FeatureSpec::Functionals(f) => functionals::FunctionalSet::dim(f),
        FeatureSpec::LogMelStats(c) => 2 * c.n_mels,
        // The file decides; nothing computes imported vectors.
        FeatureSpec::Imported(_) => 0,
        FeatureSpec::Egemaps(_) => egemaps::EGEMAPS_NAMES.len(),
        FeatureSpec::Gemaps(_) => egemaps::GEMAPS_NAMES.len(),
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
        FeatureSpec::Egemaps(_) => egemaps::EGEMAPS_NAMES.iter().map(|n| n.to_string()).collect(),
        FeatureSpec::Gemaps(_) => egemaps::GEMAPS_NAMES.iter().map(|n| n.to_string()).collect(),
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
        FeatureSpec::Egemaps(_) => egemaps::blocks(&egemaps::EGEMAPS_NAMES),
        FeatureSpec::Gemaps(_) => egemaps::blocks(&egemaps::GEMAPS_NAMES),
    }
}

/// The extractor a feature configuration names.
pub enum Extractor {
    LogMelStats(LogMel),
    Functionals(Box<functionals::FunctionalSet>),
    /// eGeMAPS (88) or, with `gemaps`, GeMAPS (62).
    Egemaps {
        extractor: Box<egemaps::Egemaps>,
        gemaps: bool,
    },
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
            FeatureSpec::Egemaps(c) | FeatureSpec::Gemaps(c) => Some(Extractor::Egemaps {
                extractor: Box::new(egemaps::Egemaps::new(sample_rate).with_jitter(c.jitter)),
                gemaps: matches!(spec, FeatureSpec::Gemaps(_)),
            }),
        }
    }

    pub fn compute(&self, x: &[f32]) -> Vec<f32> {
        match self {
            Extractor::LogMelStats(lm) => lm.stats(x),
            Extractor::Functionals(f) => f.compute(x),
            Extractor::Egemaps { extractor, gemaps } => {
                let v = if *gemaps { extractor.gemaps(x) } else { extractor.functionals(x) };
                v.into_iter().map(|v| v as f32).collect()
            }
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

    fn tone(n: usize, hz: f32, amp: f32) -> Vec<f32> {
        (0..n).map(|i| amp * (2.0 * std::f32::consts::PI * hz * i as f32 / 16_000.0).sin()).collect()
    }

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut r = crate::rng::Rng::new(seed);
        (0..n).map(|_| (r.normal() * 0.1) as f32).collect()
    }

    fn with(f: impl FnOnce(&mut LogMelConfig)) -> LogMel {
        let mut cfg = LogMelConfig::default();
        f(&mut cfg);
        LogMel::new(&cfg, 16_000)
    }

    /// Per-band mean and population std of frames, in f64.
    fn band_moments(frames: &[Vec<f32>]) -> Vec<(f64, f64)> {
        let n = frames.len() as f64;
        (0..frames[0].len())
            .map(|b| {
                let mean = frames.iter().map(|f| f[b] as f64).sum::<f64>() / n;
                let var = frames.iter().map(|f| (f[b] as f64 - mean).powi(2)).sum::<f64>() / n;
                (mean, var.sqrt())
            })
            .collect()
    }

    #[test]
    fn defaults_leave_frames_and_stats_as_they_were() {
        // The defaults take no new path: frames are the plain dB frames and stats their plain moments.
        let lm = LogMel::new(&LogMelConfig::default(), 16_000);
        let mut x = tone(8000, 440.0, 0.5);
        x.extend(noise(8000, 7));
        let raw: Vec<Vec<f32>> = lm.power_frames(&x).iter().map(|p| lm.mel_db(p)).collect();
        assert_eq!(lm.frames(&x), raw);
        assert_eq!(lm.stats(&x), band_stats(&raw, lm.n_mels(), None));
    }

    #[test]
    fn top_db_floors_at_the_utterance_maximum_minus_top_db() {
        // A tone, then digital silence (−100 dB in every band before the floor).
        let mut x = tone(8000, 1000.0, 0.5);
        x.extend(vec![0.0; 8000]);
        let raw = LogMel::new(&LogMelConfig::default(), 16_000).frames(&x);
        let floored = with(|c| c.top_db = Some(60.0)).frames(&x);
        let max = raw.iter().flatten().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let floor = (max as f64 - 60.0) as f32;
        assert!(raw.iter().flatten().any(|&v| v < floor), "the test signal has values below the floor");
        for (r, f) in raw.iter().flatten().zip(floored.iter().flatten()) {
            assert_eq!(*f, r.max(floor));
        }
        let min = floored.iter().flatten().fold(f32::INFINITY, |m, &v| m.min(v));
        assert_eq!(min, floor);
        assert_eq!(floored.iter().flatten().fold(f32::NEG_INFINITY, |m, &v| m.max(v)), max);
    }

    #[test]
    fn cmvn_mean_centres_and_meanvar_also_scales_each_band() {
        let mut x = tone(8000, 700.0, 0.3);
        x.extend(noise(8000, 11));
        let raw = LogMel::new(&LogMelConfig::default(), 16_000).frames(&x);
        let raw_moments = band_moments(&raw);
        let mean = with(|c| c.cmvn = "mean".into());
        let frames = mean.frames(&x);
        for (b, ((m, s), (_, s_raw))) in band_moments(&frames).into_iter().zip(&raw_moments).enumerate() {
            assert!(m.abs() < 1e-4, "band {b}: mean {m}");
            assert!((s - s_raw).abs() < 1e-4, "band {b}: std {s} (was {s_raw})");
        }
        let stats = mean.stats(&x);
        assert!(stats[..64].iter().all(|m| m.abs() < 1e-4), "{:?}", &stats[..64]);
        let meanvar = with(|c| c.cmvn = "meanvar".into());
        let frames = meanvar.frames(&x);
        for (b, ((m, s), (_, s_raw))) in band_moments(&frames).into_iter().zip(&raw_moments).enumerate() {
            assert!(m.abs() < 1e-4, "band {b}: mean {m}");
            if *s_raw > 1e-3 {
                assert!((s - 1.0).abs() < 1e-4, "band {b}: std {s}");
            }
        }
        let stats = meanvar.stats(&x);
        assert!(stats[64..].iter().all(|s| (s - 1.0).abs() < 1e-4), "{:?}", &stats[64..]);
        // top_db comes first: cmvn normalises the floored frames.
        let both = with(|c| {
            c.top_db = Some(30.0);
            c.cmvn = "mean".into();
        });
        let mut expected = with(|c| c.top_db = Some(30.0)).frames(&x);
        let moments = band_moments(&expected);
        for f in expected.iter_mut() {
            for (v, (m, _)) in f.iter_mut().zip(&moments) {
                *v = (*v as f64 - m) as f32;
            }
        }
        assert_eq!(both.frames(&x), expected);
    }

    #[test]
    fn active_gating_ignores_digital_silence() {
        // 1 s of tone, then 1 s of digital silence.
        let alone = tone(16_000, 1000.0, 0.5);
        let mut gapped = alone.clone();
        gapped.extend(vec![0.0; 16_000]);
        let plain = LogMel::new(&LogMelConfig::default(), 16_000);
        let gated = with(|c| c.active_db = Some(40.0));
        let (whole, active, tone_only) = (plain.stats(&gapped), gated.stats(&gapped), plain.stats(&alone));
        let max_diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
        // The silent second raises nothing but drags every band's mean towards −100 dB.
        assert!(max_diff(&whole[..64], &tone_only[..64]) > 20.0);
        assert!(max_diff(&active[..64], &tone_only[..64]) < 1.5, "{}", max_diff(&active[..64], &tone_only[..64]));
        // The frames that touch the tone are exactly what the gate keeps: the tone with the zeros its last
        // frame reaches into (center=True framing), the silent rest left out.
        let mut touching = alone.clone();
        touching.extend(vec![0.0; 256]);
        assert_eq!(with(|c| c.active_db = Some(200.0)).stats(&gapped), plain.stats(&touching));
        // A tighter gate drops the frames that barely touch it too: the tone alone, to the bit.
        assert_eq!(with(|c| c.active_db = Some(20.0)).stats(&gapped), tone_only);
        // Gating affects the statistics only: the frame sequence stays complete.
        assert_eq!(gated.frames(&gapped), plain.frames(&gapped));
        // All silent: no frame qualifies, so all frames count.
        let silent = vec![0.0f32; 4000];
        assert_eq!(gated.stats(&silent), plain.stats(&silent));
    }
}
