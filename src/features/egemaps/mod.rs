//! eGeMAPS v02 (Eyben et al., IEEE TAC 2016): 88 utterance functionals over 25 low-level descriptors,
//! computed the way openSMILE 3.0.1's eGeMAPSv02 configuration computes them, so that tables made with
//! sertool compare with the literature. docs/egemaps.md is the specification (framing, each descriptor,
//! the smoothing, the voiced / unvoiced sets and every functional, with the places where openSMILE's
//! behaviour differs from the paper); each file here implements its sections:
//!
//! - `spectral.rs`: the 20 ms Hamming-frame descriptors (loudness, alpha ratio, Hammarberg index,
//!   spectral slopes, spectral flux, MFCC 1–4) and the frame energies of the equivalent sound level;
//! - `pitch.rs`: F0 by subharmonic summation on 60 ms Gaussian frames, Viterbi smoothing, energy gate;
//! - `voice.rs`: HNR, harmonic differences and formant amplitudes, jitter and shimmer;
//! - `formants.rs`: F1–F3 frequency and bandwidth by LPC;
//! - `functionals.rs`: 3-frame smoothing, means, percentiles, rising / falling slopes, segments.
//!
//! Signals are handled in openSMILE's scale (16-bit PCM q / 32767) and in f64.

pub mod cycles;
pub mod formants;
pub mod functionals;
pub mod pitch;
pub mod spectral;
pub mod voice;

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

pub use crate::features::spec::JitterMethod;

/// The frame step of every descriptor: 10 ms.
pub const STEP_S: f64 = 0.010;

/// `sec` seconds in samples at `fs` Hz, rounded (20 ms → 320, 60 ms → 960 at 16 kHz).
pub fn samples(sec: f64, fs: f64) -> usize {
    (sec * fs).round() as usize
}

/// Number of complete frames of `size` samples every `hop` samples (no padding: openSMILE drops
/// incomplete frames and aligns frame i's first sample at i · hop).
pub fn frame_count(n_samples: usize, size: usize, hop: usize) -> usize {
    if n_samples < size {
        0
    } else {
        (n_samples - size) / hop + 1
    }
}

/// A window and the real FFT of its zero-padded length: the magnitude spectrum of a frame with the
/// frame placed in the middle of the FFT buffer ((n_fft − size) / 2 zeros before it), as openSMILE pads.
pub struct Spectrum {
    pub window: Vec<f64>,
    pub n_fft: usize,
    fft: Arc<dyn RealToComplex<f64>>,
}

/// A frame loop's transform buffers, reused from frame to frame (three allocations per frame cost
/// more than the 320-point windowing).
pub struct FftBuffers {
    input: Vec<f64>,
    scratch: Vec<Complex<f64>>,
    output: Vec<Complex<f64>>,
}

impl Spectrum {
    pub fn new(window: Vec<f64>, n_fft: usize) -> Spectrum {
        assert!(window.len() <= n_fft, "a frame longer than its FFT");
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n_fft);
        Spectrum { window, n_fft, fft }
    }

    /// Buffers for [`Spectrum::complex_in`].
    pub fn buffers(&self) -> FftBuffers {
        FftBuffers {
            input: self.fft.make_input_vec(),
            scratch: self.fft.make_scratch_vec(),
            output: self.fft.make_output_vec(),
        }
    }

    /// The complex spectrum (n_fft / 2 + 1 bins) of `frame` (window length), windowed and padded,
    /// computed in `b`.
    #[inline]
    pub fn complex_in<'b>(&self, frame: &[f64], b: &'b mut FftBuffers) -> &'b [Complex<f64>] {
        let pad = (self.n_fft - self.window.len()) / 2;
        // The transform overwrites its input, so the padding is zeroed again every frame.
        b.input[..pad].fill(0.0);
        b.input[pad + self.window.len()..].fill(0.0);
        for ((v, x), w) in b.input[pad..].iter_mut().zip(frame).zip(&self.window) {
            *v = x * w;
        }
        // Lengths match by construction, so the FFT cannot fail.
        let _ = self.fft.process_with_scratch(&mut b.input, &mut b.output, &mut b.scratch);
        &b.output
    }

    /// |X_k|, k = 0..=n_fft / 2 (no 1 / N scaling), computed in `b`.
    #[inline]
    pub fn magnitudes_in(&self, frame: &[f64], b: &mut FftBuffers) -> Vec<f64> {
        magnitudes(self.complex_in(frame, b))
    }

    /// [`Spectrum::magnitudes_in`] in buffers of its own.
    pub fn magnitudes(&self, frame: &[f64]) -> Vec<f64> {
        self.magnitudes_in(frame, &mut self.buffers())
    }
}

/// |X_k| of a complex spectrum.
#[inline]
pub fn magnitudes(spectrum: &[Complex<f64>]) -> Vec<f64> {
    // sqrt(re² + im²) rather than `norm` (hypot): the same to rounding here, and hypot was a quarter
    // of the extractor's time.
    spectrum.iter().map(|c| (c.re * c.re + c.im * c.im).sqrt()).collect()
}

/// Hamming window 0.54 − 0.46 cos(2πn / (N − 1)).
pub fn hamming(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.54 - 0.46 * (2.0 * std::f64::consts::PI * i as f64 / (n as f64 - 1.0)).cos()).collect()
}

/// Gaussian window exp(−½ ((n − (N − 1)/2) / (σ (N − 1)/2))²), σ = 0.4.
pub fn gaussian(n: usize) -> Vec<f64> {
    let half = (n as f64 - 1.0) / 2.0;
    (0..n).map(|i| (-0.5 * ((i as f64 - half) / (0.4 * half)).powi(2)).exp()).collect()
}

/// The 88 eGeMAPS v02 functionals, openSMILE's names in its order.
pub const EGEMAPS_NAMES: [&str; 88] = [
    "F0semitoneFrom27.5Hz_sma3nz_amean",
    "F0semitoneFrom27.5Hz_sma3nz_stddevNorm",
    "F0semitoneFrom27.5Hz_sma3nz_percentile20.0",
    "F0semitoneFrom27.5Hz_sma3nz_percentile50.0",
    "F0semitoneFrom27.5Hz_sma3nz_percentile80.0",
    "F0semitoneFrom27.5Hz_sma3nz_pctlrange0-2",
    "F0semitoneFrom27.5Hz_sma3nz_meanRisingSlope",
    "F0semitoneFrom27.5Hz_sma3nz_stddevRisingSlope",
    "F0semitoneFrom27.5Hz_sma3nz_meanFallingSlope",
    "F0semitoneFrom27.5Hz_sma3nz_stddevFallingSlope",
    "loudness_sma3_amean",
    "loudness_sma3_stddevNorm",
    "loudness_sma3_percentile20.0",
    "loudness_sma3_percentile50.0",
    "loudness_sma3_percentile80.0",
    "loudness_sma3_pctlrange0-2",
    "loudness_sma3_meanRisingSlope",
    "loudness_sma3_stddevRisingSlope",
    "loudness_sma3_meanFallingSlope",
    "loudness_sma3_stddevFallingSlope",
    "spectralFlux_sma3_amean",
    "spectralFlux_sma3_stddevNorm",
    "mfcc1_sma3_amean",
    "mfcc1_sma3_stddevNorm",
    "mfcc2_sma3_amean",
    "mfcc2_sma3_stddevNorm",
    "mfcc3_sma3_amean",
    "mfcc3_sma3_stddevNorm",
    "mfcc4_sma3_amean",
    "mfcc4_sma3_stddevNorm",
    "jitterLocal_sma3nz_amean",
    "jitterLocal_sma3nz_stddevNorm",
    "shimmerLocaldB_sma3nz_amean",
    "shimmerLocaldB_sma3nz_stddevNorm",
    "HNRdBACF_sma3nz_amean",
    "HNRdBACF_sma3nz_stddevNorm",
    "logRelF0-H1-H2_sma3nz_amean",
    "logRelF0-H1-H2_sma3nz_stddevNorm",
    "logRelF0-H1-A3_sma3nz_amean",
    "logRelF0-H1-A3_sma3nz_stddevNorm",
    "F1frequency_sma3nz_amean",
    "F1frequency_sma3nz_stddevNorm",
    "F1bandwidth_sma3nz_amean",
    "F1bandwidth_sma3nz_stddevNorm",
    "F1amplitudeLogRelF0_sma3nz_amean",
    "F1amplitudeLogRelF0_sma3nz_stddevNorm",
    "F2frequency_sma3nz_amean",
    "F2frequency_sma3nz_stddevNorm",
    "F2bandwidth_sma3nz_amean",
    "F2bandwidth_sma3nz_stddevNorm",
    "F2amplitudeLogRelF0_sma3nz_amean",
    "F2amplitudeLogRelF0_sma3nz_stddevNorm",
    "F3frequency_sma3nz_amean",
    "F3frequency_sma3nz_stddevNorm",
    "F3bandwidth_sma3nz_amean",
    "F3bandwidth_sma3nz_stddevNorm",
    "F3amplitudeLogRelF0_sma3nz_amean",
    "F3amplitudeLogRelF0_sma3nz_stddevNorm",
    "alphaRatioV_sma3nz_amean",
    "alphaRatioV_sma3nz_stddevNorm",
    "hammarbergIndexV_sma3nz_amean",
    "hammarbergIndexV_sma3nz_stddevNorm",
    "slopeV0-500_sma3nz_amean",
    "slopeV0-500_sma3nz_stddevNorm",
    "slopeV500-1500_sma3nz_amean",
    "slopeV500-1500_sma3nz_stddevNorm",
    "spectralFluxV_sma3nz_amean",
    "spectralFluxV_sma3nz_stddevNorm",
    "mfcc1V_sma3nz_amean",
    "mfcc1V_sma3nz_stddevNorm",
    "mfcc2V_sma3nz_amean",
    "mfcc2V_sma3nz_stddevNorm",
    "mfcc3V_sma3nz_amean",
    "mfcc3V_sma3nz_stddevNorm",
    "mfcc4V_sma3nz_amean",
    "mfcc4V_sma3nz_stddevNorm",
    "alphaRatioUV_sma3nz_amean",
    "hammarbergIndexUV_sma3nz_amean",
    "slopeUV0-500_sma3nz_amean",
    "slopeUV500-1500_sma3nz_amean",
    "spectralFluxUV_sma3nz_amean",
    "loudnessPeaksPerSec",
    "VoicedSegmentsPerSec",
    "MeanVoicedSegmentLengthSec",
    "StddevVoicedSegmentLengthSec",
    "MeanUnvoicedSegmentLength",
    "StddevUnvoicedSegmentLength",
    "equivalentSoundLevel_dBp",
];

/// Indices into [`EGEMAPS_NAMES`] of the 26 that GeMAPS v01b lacks (its 62 are the rest, in order, with
/// the same values).
const EGEMAPS_ONLY: [usize; 26] =
    [20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 48, 49, 54, 55, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 80, 87];

/// The 25 low-level descriptors, openSMILE's names in its order.
pub const LLD_NAMES: [&str; 25] = [
    "Loudness_sma3",
    "alphaRatio_sma3",
    "hammarbergIndex_sma3",
    "slope0-500_sma3",
    "slope500-1500_sma3",
    "spectralFlux_sma3",
    "mfcc1_sma3",
    "mfcc2_sma3",
    "mfcc3_sma3",
    "mfcc4_sma3",
    "F0semitoneFrom27.5Hz_sma3nz",
    "jitterLocal_sma3nz",
    "shimmerLocaldB_sma3nz",
    "HNRdBACF_sma3nz",
    "logRelF0-H1-H2_sma3nz",
    "logRelF0-H1-A3_sma3nz",
    "F1frequency_sma3nz",
    "F1bandwidth_sma3nz",
    "F1amplitudeLogRelF0_sma3nz",
    "F2frequency_sma3nz",
    "F2bandwidth_sma3nz",
    "F2amplitudeLogRelF0_sma3nz",
    "F3frequency_sma3nz",
    "F3bandwidth_sma3nz",
    "F3amplitudeLogRelF0_sma3nz",
];

/// The 62 GeMAPS v01b functionals, openSMILE's names in its order.
pub const GEMAPS_NAMES: [&str; 62] = [
    "F0semitoneFrom27.5Hz_sma3nz_amean",
    "F0semitoneFrom27.5Hz_sma3nz_stddevNorm",
    "F0semitoneFrom27.5Hz_sma3nz_percentile20.0",
    "F0semitoneFrom27.5Hz_sma3nz_percentile50.0",
    "F0semitoneFrom27.5Hz_sma3nz_percentile80.0",
    "F0semitoneFrom27.5Hz_sma3nz_pctlrange0-2",
    "F0semitoneFrom27.5Hz_sma3nz_meanRisingSlope",
    "F0semitoneFrom27.5Hz_sma3nz_stddevRisingSlope",
    "F0semitoneFrom27.5Hz_sma3nz_meanFallingSlope",
    "F0semitoneFrom27.5Hz_sma3nz_stddevFallingSlope",
    "loudness_sma3_amean",
    "loudness_sma3_stddevNorm",
    "loudness_sma3_percentile20.0",
    "loudness_sma3_percentile50.0",
    "loudness_sma3_percentile80.0",
    "loudness_sma3_pctlrange0-2",
    "loudness_sma3_meanRisingSlope",
    "loudness_sma3_stddevRisingSlope",
    "loudness_sma3_meanFallingSlope",
    "loudness_sma3_stddevFallingSlope",
    "jitterLocal_sma3nz_amean",
    "jitterLocal_sma3nz_stddevNorm",
    "shimmerLocaldB_sma3nz_amean",
    "shimmerLocaldB_sma3nz_stddevNorm",
    "HNRdBACF_sma3nz_amean",
    "HNRdBACF_sma3nz_stddevNorm",
    "logRelF0-H1-H2_sma3nz_amean",
    "logRelF0-H1-H2_sma3nz_stddevNorm",
    "logRelF0-H1-A3_sma3nz_amean",
    "logRelF0-H1-A3_sma3nz_stddevNorm",
    "F1frequency_sma3nz_amean",
    "F1frequency_sma3nz_stddevNorm",
    "F1bandwidth_sma3nz_amean",
    "F1bandwidth_sma3nz_stddevNorm",
    "F1amplitudeLogRelF0_sma3nz_amean",
    "F1amplitudeLogRelF0_sma3nz_stddevNorm",
    "F2frequency_sma3nz_amean",
    "F2frequency_sma3nz_stddevNorm",
    "F2amplitudeLogRelF0_sma3nz_amean",
    "F2amplitudeLogRelF0_sma3nz_stddevNorm",
    "F3frequency_sma3nz_amean",
    "F3frequency_sma3nz_stddevNorm",
    "F3amplitudeLogRelF0_sma3nz_amean",
    "F3amplitudeLogRelF0_sma3nz_stddevNorm",
    "alphaRatioV_sma3nz_amean",
    "alphaRatioV_sma3nz_stddevNorm",
    "hammarbergIndexV_sma3nz_amean",
    "hammarbergIndexV_sma3nz_stddevNorm",
    "slopeV0-500_sma3nz_amean",
    "slopeV0-500_sma3nz_stddevNorm",
    "slopeV500-1500_sma3nz_amean",
    "slopeV500-1500_sma3nz_stddevNorm",
    "alphaRatioUV_sma3nz_amean",
    "hammarbergIndexUV_sma3nz_amean",
    "slopeUV0-500_sma3nz_amean",
    "slopeUV500-1500_sma3nz_amean",
    "loudnessPeaksPerSec",
    "VoicedSegmentsPerSec",
    "MeanVoicedSegmentLengthSec",
    "StddevVoicedSegmentLengthSec",
    "MeanUnvoicedSegmentLength",
    "StddevUnvoicedSegmentLength",
];

/// The eGeMAPS parameter group of a functional (Eyben et al. 2016, §3): frequency (F0, jitter,
/// formant frequencies and bandwidths), energy / amplitude (shimmer, loudness, HNR, the equivalent sound
/// level), spectral balance (alpha ratio, Hammarberg index, slopes, harmonic differences, formant
/// amplitudes, MFCC, flux) and temporal (rates and segment lengths).
fn group(name: &str) -> &'static str {
    let temporal =
        ["loudnessPeaksPerSec", "VoicedSegments", "MeanVoiced", "StddevVoiced", "MeanUnvoiced", "StddevUnvoiced"];
    if temporal.iter().any(|t| name.starts_with(t)) {
        "temporal"
    } else if name.starts_with("F0semitone")
        || name.starts_with("jitter")
        || (name.starts_with('F') && (name.contains("frequency") || name.contains("bandwidth")))
    {
        "frequency"
    } else if name.starts_with("loudness")
        || name.starts_with("shimmer")
        || name.starts_with("HNR")
        || name.starts_with("equivalent")
    {
        "energy"
    } else {
        "spectral"
    }
}

/// MB-PLS blocks of a functional vector: each run of consecutive functionals of one parameter group,
/// named after the group and its first descriptor (`frequency.F0semitoneFrom27.5Hz`). The groups
/// interleave in openSMILE's order, which the vector keeps, so a group spans several blocks.
pub fn blocks(names: &[&str]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize, &str)> = Vec::new();
    for name in names {
        let g = group(name);
        match out.last_mut() {
            Some((_, width, last)) if *last == g => *width += 1,
            _ => {
                let descriptor = name.split("_sma").next().unwrap_or(name);
                out.push((format!("{g}.{descriptor}"), 1, g));
            }
        }
    }
    out.into_iter().map(|(n, w, _)| (n, w)).collect()
}

/// The extractor, built once per sample rate (its FFT plans, filterbanks and weights).
pub struct Egemaps {
    fs: f64,
    spectral: spectral::SpectralAnalyser,
    pitch: pitch::PitchTracker,
    formants: formants::FormantTracker,
    /// The HNR's inverse-DFT kernel for the 60 ms frames' FFT length.
    acf_cos: voice::CosTable,
    jitter: JitterMethod,
}

/// Every descriptor of one utterance, per frame, unsmoothed: the 20 ms set (n25 frames) and the F0 set
/// (n60 frames; formants are 20 ms frames, index-aligned with the F0 frames: frame i starts at i · 10 ms).
struct Descriptors {
    spectral: spectral::SpectralFrames,
    f0_hz: Vec<f64>,
    semitones: Vec<f64>,
    jitter: Vec<f64>,
    shimmer: Vec<f64>,
    hnr: Vec<f64>,
    harmonics: Vec<voice::Harmonics>,
    formants: Vec<formants::Formants>,
}

impl Descriptors {
    fn n60(&self) -> usize {
        self.f0_hz.len()
    }

    /// Whether F0 frame i is voiced (openSMILE's selector: semitones > 1e-6).
    fn voiced(&self, i: usize) -> bool {
        self.semitones[i] > 1e-6
    }
}

/// What a voiced (or unvoiced) functional is computed over: `values` with the frames that fail `keep`
/// set to 0 (openSMILE's value-based selector), sma3nz-smoothed over all of them, then the first
/// `n` frames (the smoothing ran before the end of input dropped the rest) without the zeros.
fn selected(values: &[f64], n: usize, keep: impl Fn(usize) -> bool) -> Vec<f64> {
    let smoothed = functionals::sma3nz(&selected_frames(values, keep));
    smoothed.into_iter().take(n).filter(|&v| v != 0.0).collect()
}

impl Egemaps {
    pub fn new(sample_rate: u32) -> Egemaps {
        let fs = sample_rate as f64;
        let pitch = pitch::PitchTracker::new(fs);
        let spectral = spectral::SpectralAnalyser::new(fs);
        let formants = formants::FormantTracker::new(fs);
        assert!(formants.frames_like(spectral.frame, spectral.hop, &spectral.spectrum), "formant frames of their own");
        Egemaps {
            fs,
            spectral,
            acf_cos: voice::CosTable::new(pitch.n_fft()),
            pitch,
            formants,
            jitter: JitterMethod::Opensmile,
        }
    }

    /// The same extractor measuring jitter and shimmer by `method` (docs/egemaps.md §4).
    pub fn with_jitter(mut self, method: JitterMethod) -> Egemaps {
        self.jitter = method;
        self
    }

    /// The shortest input with a value: one 60 ms frame.
    fn min_samples(&self) -> usize {
        samples(0.060, self.fs)
    }

    /// Every descriptor of `x`; formants only in frames with an F0 unless `all_formants` (the
    /// functionals see them only there: frequency and bandwidth are gated by voicing, and the formant
    /// amplitudes read them only where there are harmonics).
    fn descriptors(&self, x: &[f32], all_formants: bool) -> Descriptors {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.descriptors_avx2(x, all_formants) };
        }
        self.descriptors_any(x, all_formants)
    }

    /// [`Egemaps::descriptors`] compiled for AVX2, the frame loops inlined into it: their element-wise
    /// loops run on four f64 lanes instead of SSE2's two. The same operations in the same order (Rust
    /// never fuses a multiply and an add), so every value is the same to the bit.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn descriptors_avx2(&self, x: &[f32], all_formants: bool) -> Descriptors {
        self.descriptors_any(x, all_formants)
    }

    #[inline(always)]
    fn descriptors_any(&self, x: &[f32], all_formants: bool) -> Descriptors {
        // openSMILE reads 16-bit PCM as q / 32767; sertool decodes it as q / 32768.
        let x: Vec<f64> = x.iter().map(|&v| v as f64 * (32768.0 / 32767.0)).collect();
        let pitch = self.pitch.track(&x);
        // The formants analyse the spectral descriptors' 20 ms frames (checked in `new`).
        let mut formants = Vec::new();
        let mut state = self.formants.state();
        let spectral = self.spectral.frames_with(&x, |t, spec| {
            let wanted = all_formants || pitch.f0_hz.get(t).is_some_and(|&f| f > 0.0);
            formants.push(if wanted { self.formants.of_spectrum(spec, &mut state) } else { Default::default() });
        });
        let n60 = pitch.f0_hz.len();
        let (jitter, shimmer) = match self.jitter {
            JitterMethod::Opensmile => voice::jitter_shimmer(&x, &pitch.f0_hz, self.fs),
            JitterMethod::Cycles => cycles::jitter_shimmer(&x, &pitch.f0_hz, self.fs),
        };
        let mut hnr = Vec::with_capacity(n60);
        let mut harmonics = Vec::with_capacity(n60);
        for i in 0..n60 {
            let f0 = pitch.f0_hz[i];
            hnr.push(voice::hnr_db(&pitch.magnitudes[i], f0, self.fs, &self.acf_cos));
            let formant_hz = formants.get(i).map_or([0.0; 3], |f| f.freq);
            harmonics.push(voice::harmonics(&pitch.magnitudes[i], f0, formant_hz, self.fs));
        }
        let semitones = pitch.f0_hz.iter().map(|&f| pitch::semitones(f)).collect();
        Descriptors { spectral, f0_hz: pitch.f0_hz, semitones, jitter, shimmer, hnr, harmonics, formants }
    }

    /// The 88 functionals of a mono signal (sertool's scale: 16-bit PCM as q / 32768), in
    /// [`EGEMAPS_NAMES`] order; all NaN for a signal shorter than 60 ms, as openSMILE.
    pub fn functionals(&self, x: &[f32]) -> Vec<f64> {
        if x.len() < self.min_samples() {
            return vec![f64::NAN; EGEMAPS_NAMES.len()];
        }
        let d = self.descriptors(x, false);
        let s = &d.spectral;
        let n25 = s.loudness.len();
        // The F0-set functionals see every F0 frame but the last (docs/egemaps.md §1: openSMILE's end of
        // input loses it), and the 20 ms descriptors gated by F0 the same frames.
        let n60 = d.n60().min(n25);
        let n_f0 = n60.saturating_sub(1);
        let voiced = |i: usize| d.voiced(i);
        let unvoiced = |i: usize| !d.voiced(i);
        let mut out = Vec::with_capacity(EGEMAPS_NAMES.len());
        let ten = |out: &mut Vec<f64>, v: &[f64]| {
            let sl = functionals::slopes(v, STEP_S);
            out.extend([functionals::amean(v), functionals::stddev_norm(v)]);
            out.extend(functionals::percentiles(v));
            out.extend([sl.mean_rising, sl.std_rising, sl.mean_falling, sl.std_falling]);
        };
        let two = |out: &mut Vec<f64>, v: &[f64]| out.extend([functionals::amean(v), functionals::stddev_norm(v)]);

        // F0 (voiced frames, concatenated).
        ten(&mut out, &selected(&d.semitones[..n60], n_f0, voiced));
        // Loudness, flux, MFCC 1–4: every 20 ms frame.
        let loudness = functionals::sma3(&s.loudness);
        ten(&mut out, &loudness);
        two(&mut out, &functionals::sma3(&s.flux));
        for m in &s.mfcc {
            two(&mut out, &functionals::sma3(m));
        }
        // Voice quality and harmonics: zero where unvoiced by construction, gated all the same.
        for v in [&d.jitter, &d.shimmer, &d.hnr] {
            two(&mut out, &selected(&v[..n60], n_f0, voiced));
        }
        let h1h2: Vec<f64> = d.harmonics.iter().map(|h| h.h1_h2).collect();
        let h1a3: Vec<f64> = d.harmonics.iter().map(|h| h.h1_a3).collect();
        two(&mut out, &selected(&h1h2[..n60], n_f0, voiced));
        two(&mut out, &selected(&h1a3[..n60], n_f0, voiced));
        // Formants: frequency and bandwidth gated by voicing; the amplitudes are not (−201 where
        // unvoiced, so a wholly unvoiced signal has amplitude −201, as openSMILE reports).
        for k in 0..3 {
            let freq: Vec<f64> = d.formants.iter().map(|f| f.freq[k]).collect();
            let bw: Vec<f64> = d.formants.iter().map(|f| f.bandwidth[k]).collect();
            let amp: Vec<f64> = d.harmonics.iter().map(|h| h.formant_amplitude[k]).collect();
            two(&mut out, &selected(&freq[..n60], n_f0, voiced));
            two(&mut out, &selected(&bw[..n60], n_f0, voiced));
            two(&mut out, &selected(&amp[..n60], n_f0, |_| true));
        }
        // The 20 ms spectral descriptors over voiced frames, then their means over unvoiced frames.
        let spectral_v = [&s.alpha_ratio, &s.hammarberg, &s.slope_0_500, &s.slope_500_1500, &s.flux];
        for v in spectral_v {
            two(&mut out, &selected(&v[..n60], n_f0, voiced));
        }
        for m in &s.mfcc {
            two(&mut out, &selected(&m[..n60], n_f0, voiced));
        }
        for v in spectral_v {
            out.push(functionals::amean(&selected(&v[..n60], n_f0, unvoiced)));
        }
        // Rates and segments.
        out.push(functionals::slopes(&loudness, STEP_S).peaks as f64 / (n25 as f64 * STEP_S));
        let f0_contour: Vec<f64> =
            functionals::sma3nz(&selected_frames(&d.semitones[..n60], voiced)).into_iter().take(n_f0).collect();
        let seg = functionals::segments(&f0_contour, STEP_S);
        out.extend([seg.voiced_per_sec, seg.mean_voiced_s, seg.std_voiced_s, seg.mean_unvoiced_s, seg.std_unvoiced_s]);
        let energy = functionals::amean(&s.energy);
        out.push(10.0 * energy.max(1e-12).log10());
        debug_assert_eq!(out.len(), EGEMAPS_NAMES.len());
        out
    }

    /// The 62 GeMAPS v01b functionals, in [`GEMAPS_NAMES`] order: the eGeMAPS values without its extras.
    pub fn gemaps(&self, x: &[f32]) -> Vec<f64> {
        let all = self.functionals(x);
        all.into_iter().enumerate().filter(|(i, _)| !EGEMAPS_ONLY.contains(i)).map(|(_, v)| v).collect()
    }

    /// The 25 smoothed LLDs per F0 frame, in [`LLD_NAMES`] order (frame i starts at i · 10 ms): the 20 ms
    /// descriptors sma3-smoothed over all their frames, the F0 set sma3nz-smoothed ungated (formants are
    /// reported in unvoiced frames too), as openSMILE's LowLevelDescriptors output.
    pub fn llds(&self, x: &[f32]) -> Vec<[f64; 25]> {
        if x.len() < self.min_samples() {
            return Vec::new();
        }
        let d = self.descriptors(x, true);
        let s = &d.spectral;
        let e: Vec<Vec<f64>> = [&s.loudness, &s.alpha_ratio, &s.hammarberg, &s.slope_0_500, &s.slope_500_1500, &s.flux]
            .into_iter()
            .chain(s.mfcc.iter())
            .map(|v| functionals::sma3(v))
            .collect();
        let n = d.n60().min(s.loudness.len()).min(d.formants.len());
        let mut f: Vec<Vec<f64>> = vec![
            d.semitones.clone(),
            d.jitter.clone(),
            d.shimmer.clone(),
            d.hnr.clone(),
            d.harmonics.iter().map(|h| h.h1_h2).collect(),
            d.harmonics.iter().map(|h| h.h1_a3).collect(),
        ];
        for k in 0..3 {
            f.push(d.formants[..n].iter().map(|x| x.freq[k]).collect());
            f.push(d.formants[..n].iter().map(|x| x.bandwidth[k]).collect());
            f.push(d.harmonics.iter().map(|h| h.formant_amplitude[k]).collect());
        }
        let f: Vec<Vec<f64>> = f.iter().map(|v| functionals::sma3nz(&v[..n])).collect();
        (0..n)
            .map(|i| {
                let mut row = [0.0; 25];
                for (j, v) in e.iter().chain(f.iter()).enumerate() {
                    row[j] = v[i];
                }
                row
            })
            .collect()
    }
}

/// `values` with the frames that fail `keep` set to 0, all frames kept (the segment statistics need
/// the unvoiced stretches).
fn selected_frames(values: &[f64], keep: impl Fn(usize) -> bool) -> Vec<f64> {
    values.iter().enumerate().map(|(i, &v)| if keep(i) { v } else { 0.0 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_every_functional_in_runs_of_one_group() {
        for names in [&EGEMAPS_NAMES[..], &GEMAPS_NAMES[..]] {
            let b = blocks(names);
            assert_eq!(b.iter().map(|(_, w)| w).sum::<usize>(), names.len());
            assert!(b.windows(2).all(|w| w[0].0.split('.').next() != w[1].0.split('.').next()), "{b:?}");
        }
        let b = blocks(&EGEMAPS_NAMES);
        assert_eq!(b[0], ("frequency.F0semitoneFrom27.5Hz".to_string(), 10));
        assert_eq!(b[1], ("energy.loudness".to_string(), 10));
        assert_eq!(b.last(), Some(&("energy.equivalentSoundLevel_dBp".to_string(), 1)));
    }

    #[test]
    fn gemaps_names_are_the_egemaps_names_without_its_extras() {
        let rest: Vec<&str> =
            EGEMAPS_NAMES.iter().enumerate().filter(|(i, _)| !EGEMAPS_ONLY.contains(i)).map(|(_, n)| *n).collect();
        assert_eq!(rest, GEMAPS_NAMES);
    }
}
