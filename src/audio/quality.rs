//! Enhancement-quality metrics: STOI (Taal et al. 2011), SI-SDR (Le Roux et al. 2019) and segmental
//! SNR. Pure functions of a clean reference and a processed signal, f32 samples in, f64 arithmetic
//! throughout.
//!
//! STOI follows pystoi 0.4 (the de-facto reference implementation) step by step, so that the two agree
//! to rounding: tests/enhance_reference.rs checks all three metrics against
//! tools/enhance_reference.py. Signals of different lengths are compared over the shorter length
//! (pystoi refuses them).

use std::f64::consts::PI;

use realfft::RealFftPlanner;

use crate::util::lanes::dot;

/// numpy's float64 eps: what pystoi adds to norms to avoid dividing by zero.
const EPS: f64 = f64::EPSILON;
/// STOI works at 10 kHz; other rates are resampled first.
const STOI_RATE: u32 = 10_000;
/// Frame (and Hann window) length at 10 kHz, for both the silent-frame removal and the STFT.
const FRAME: usize = 256;
/// Hop between frames: half a frame.
const HOP: usize = FRAME / 2;
/// FFT size: each 256-sample frame is zero-padded to 512 points.
const NFFT: usize = 512;
/// Number of 1/3-octave bands, the lowest centred at `MIN_FREQ`.
const BANDS: usize = 15;
const MIN_FREQ: f64 = 150.0;
/// Frames per short-time segment (384 ms at 10 kHz): the span over which envelopes are correlated.
const SEGMENT: usize = 30;
/// Lower bound of the signal-to-distortion ratio allowed in the clipping step, in dB.
const BETA_DB: f64 = -15.0;
/// Frames more than this far below the loudest clean frame count as silence and are dropped.
const DYN_RANGE_DB: f64 = 40.0;
/// What pystoi returns (with a warning) when fewer than `SEGMENT` STFT frames survive; we return it for
/// every input that cannot be measured (empty, too short, rate 0).
pub const STOI_TOO_SHORT: f64 = 1e-5;

/// Both signals cut to the shorter length.
fn common<'a>(a: &'a [f32], b: &'a [f32]) -> (&'a [f32], &'a [f32]) {
    let n = a.len().min(b.len());
    (&a[..n], &b[..n])
}

/// Scale-invariant signal-to-distortion ratio in dB (Le Roux et al. 2019). Both signals are made zero
/// mean, the reference is scaled by the least-squares gain alpha = <estimate, reference> / <reference,
/// reference>, and SI-SDR = 10·log10(|alpha·reference|² / |alpha·reference − estimate|²).
///
/// The result is clamped to ±300 dB (an exact or exactly scaled copy would otherwise give +inf, an
/// estimate orthogonal to the reference −inf). NaN where the ratio is undefined: empty input or a
/// reference without energy once its mean is removed.
pub fn si_sdr(reference: &[f32], estimate: &[f32]) -> f64 {
    const LIMIT_DB: f64 = 300.0;
    let (s, e) = common(reference, estimate);
    if s.is_empty() {
        return f64::NAN;
    }
    let n = s.len() as f64;
    let mean_s = s.iter().map(|&v| v as f64).sum::<f64>() / n;
    let mean_e = e.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (mut ss, mut es) = (0.0, 0.0);
    for (&a, &b) in s.iter().zip(e) {
        let (a, b) = (a as f64 - mean_s, b as f64 - mean_e);
        ss += a * a;
        es += b * a;
    }
    if ss <= 0.0 {
        return f64::NAN;
    }
    let alpha = es / ss;
    let (mut target, mut residual) = (0.0, 0.0);
    for (&a, &b) in s.iter().zip(e) {
        let t = alpha * (a as f64 - mean_s);
        let r = t - (b as f64 - mean_e);
        target += t * t;
        residual += r * r;
    }
    if target <= 0.0 {
        return -LIMIT_DB;
    }
    if residual <= 0.0 {
        return LIMIT_DB;
    }
    (10.0 * (target / residual).log10()).clamp(-LIMIT_DB, LIMIT_DB)
}

/// Segmental SNR in dB, the Hansen & Pellom form used by pysepm but without a window: frames of
/// round(0.03·rate) samples every frame/4 samples (75 % overlap), only full frames; per frame
/// snr = 10·log10(Σs² / (Σ(s − ŝ)² + 1e-10) + 1e-10), clamped to [−10, 35] dB so that silent frames and
/// near-perfect frames do not dominate; the mean over frames.
///
/// NaN when the (shorter) signal holds no full frame.
pub fn segmental_snr(reference: &[f32], estimate: &[f32], rate: u32) -> f64 {
    let (s, e) = common(reference, estimate);
    let len = ((0.03 * rate as f64).round() as usize).max(1);
    let hop = (len / 4).max(1);
    let (mut sum, mut frames) = (0.0, 0usize);
    let mut start = 0;
    while start + len <= s.len() {
        let (mut signal, mut noise) = (0.0, 0.0);
        for (&a, &b) in s[start..start + len].iter().zip(&e[start..start + len]) {
            let (a, b) = (a as f64, b as f64);
            signal += a * a;
            noise += (a - b) * (a - b);
        }
        let snr = 10.0 * (signal / (noise + 1e-10) + 1e-10).log10();
        sum += snr.clamp(-10.0, 35.0);
        frames += 1;
        start += hop;
    }
    if frames == 0 {
        return f64::NAN;
    }
    sum / frames as f64
}

/// Short-time objective intelligibility (Taal et al. 2011), as pystoi computes it (`extended=False`).
/// At most 1 (processed = clean up to gain); higher means more intelligible. See [`stoi_details`].
pub fn stoi(clean: &[f32], processed: &[f32], rate: u32) -> f64 {
    stoi_details(clean, processed, rate).value
}

/// STOI together with the sizes of its intermediate steps (for checking a port step by step).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StoiDetails {
    pub value: f64,
    /// Samples per signal at 10 kHz.
    pub resampled_len: usize,
    /// Σx² of the clean signal at 10 kHz: a checksum of the resampler.
    pub resampled_clean_energy: f64,
    /// 256-sample frames examined by the silent-frame removal, and those kept.
    pub vad_frames: usize,
    pub vad_kept: usize,
    /// STFT frames of the silence-free signals.
    pub stft_frames: usize,
    /// 30-frame segments averaged over (0 when there were too few frames).
    pub segments: usize,
}

/// [`stoi`] with the intermediate sizes. The steps:
/// 1. resample both signals to 10 kHz with Octave's `resample` filter (pystoi's `resample_oct`);
/// 2. drop the frames where the clean signal is more than 40 dB below its loudest frame, and rebuild
///    both signals from the remaining Hann-windowed frames by overlap-add;
/// 3. STFT (256-sample Hann frames, hop 128, 512-point FFT) and 15 one-third-octave band envelopes;
/// 4. per band and 30-frame segment: scale the processed envelope to the clean one's energy, clip it at
///    the clean envelope plus 15 dB, and take the correlation of the two; STOI is the mean.
pub fn stoi_details(clean: &[f32], processed: &[f32], rate: u32) -> StoiDetails {
    let mut d = StoiDetails { value: STOI_TOO_SHORT, ..Default::default() };
    let (c, p) = common(clean, processed);
    if rate == 0 || c.is_empty() {
        return d;
    }
    let mut x: Vec<f64> = c.iter().map(|&v| v as f64).collect();
    let mut y: Vec<f64> = p.iter().map(|&v| v as f64).collect();
    if rate != STOI_RATE {
        let rs = OctaveResampler::new(STOI_RATE, rate);
        x = rs.apply(&x);
        y = rs.apply(&y);
    }
    d.resampled_len = x.len();
    d.resampled_clean_energy = x.iter().map(|v| v * v).sum();

    let window = hann(FRAME);
    let Some(kept) = speech_frames(&x, &window) else {
        return d;
    };
    d.vad_frames = frame_starts(x.len()).count();
    d.vad_kept = kept.len();
    let xs = overlap_add(&x, &kept, &window);
    let ys = overlap_add(&y, &kept, &window);

    let edges = third_octave_bins();
    let xb = band_envelopes(&xs, &window, &edges);
    let yb = band_envelopes(&ys, &window, &edges);
    d.stft_frames = xb.len();
    if xb.len() < SEGMENT {
        return d;
    }

    // Clipping bound: the processed envelope may exceed the clean one by at most 10^(−β/20), i.e. the
    // SDR of a time-frequency unit is not allowed below β; this keeps single badly degraded units from
    // dominating a segment.
    let clip = 1.0 + 10f64.powf(-BETA_DB / 20.0);
    let segments = xb.len() - SEGMENT + 1;
    let mut total = 0.0;
    let (mut xv, mut yv) = ([0.0; SEGMENT], [0.0; SEGMENT]);
    for first in 0..segments {
        for band in 0..BANDS {
            for (j, (a, b)) in xv.iter_mut().zip(yv.iter_mut()).enumerate() {
                *a = xb[first + j][band];
                *b = yb[first + j][band];
            }
            total += clipped_correlation(&xv, &mut yv, clip);
        }
    }
    d.segments = segments;
    d.value = total / (segments * BANDS) as f64;
    d
}

/// Correlation coefficient between a clean envelope and the processed one after scaling the latter to
/// the former's norm (so overall gain does not count) and clipping it at `clip` times the clean one.
/// Norms get pystoi's EPS, so silent segments give 0 rather than NaN.
fn clipped_correlation(x: &[f64; SEGMENT], y: &mut [f64; SEGMENT], clip: f64) -> f64 {
    fn norm(v: &[f64]) -> f64 {
        v.iter().map(|a| a * a).sum::<f64>().sqrt()
    }
    fn mean(v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len() as f64
    }
    let gain = norm(x) / (norm(y) + EPS);
    for (yj, xj) in y.iter_mut().zip(x) {
        *yj = (*yj * gain).min(xj * clip);
    }
    let (mx, my) = (mean(x), mean(y));
    let mut xc = [0.0; SEGMENT];
    for ((c, xj), yj) in xc.iter_mut().zip(x).zip(y.iter_mut()) {
        *c = xj - mx;
        *yj -= my;
    }
    let (nx, ny) = (norm(&xc) + EPS, norm(y) + EPS);
    xc.iter().zip(y.iter()).map(|(a, b)| (a / nx) * (b / ny)).sum()
}

/// The start of every 256-sample frame pystoi takes from an `n`-sample signal: `range(0, n - 256, 128)`.
/// The bound is exclusive, so a frame that would end exactly at the last sample is left out.
fn frame_starts(n: usize) -> std::iter::StepBy<std::ops::Range<usize>> {
    (0..n.saturating_sub(FRAME)).step_by(HOP)
}

/// MATLAB's `hanning(n)` (numpy's `hanning(n + 2)[1:-1]`): no zeros at the ends.
fn hann(n: usize) -> Vec<f64> {
    (1..=n).map(|k| 0.5 - 0.5 * (2.0 * PI * k as f64 / (n + 1) as f64).cos()).collect()
}

/// Starts of the frames whose windowed clean energy is within 40 dB of the loudest frame (strictly
/// above the threshold, as pystoi's mask). None when there is no frame at all (≤ 256 samples) or none
/// passes (only possible with NaN input).
fn speech_frames(x: &[f64], window: &[f64]) -> Option<Vec<usize>> {
    let energies: Vec<(usize, f64)> = frame_starts(x.len())
        .map(|s| {
            let e: f64 = x[s..s + FRAME].iter().zip(window).map(|(v, w)| (v * w) * (v * w)).sum();
            (s, 20.0 * (e.sqrt() + EPS).log10())
        })
        .collect();
    let loudest = energies.iter().map(|&(_, e)| e).fold(f64::NEG_INFINITY, f64::max);
    let kept: Vec<usize> =
        energies.iter().filter(|&&(_, e)| loudest - DYN_RANGE_DB - e < 0.0).map(|&(s, _)| s).collect();
    (!kept.is_empty()).then_some(kept)
}

/// The windowed frames of `sig` starting at `starts`, laid end to end with hop 128 and summed where
/// they overlap: (k − 1)·128 + 256 samples for k frames.
fn overlap_add(sig: &[f64], starts: &[usize], window: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; (starts.len() - 1) * HOP + FRAME];
    for (j, &s) in starts.iter().enumerate() {
        for ((o, v), w) in out[j * HOP..j * HOP + FRAME].iter_mut().zip(&sig[s..s + FRAME]).zip(window) {
            *o += v * w;
        }
    }
    out
}

/// FFT bins [lo, hi) of each 1/3-octave band at 10 kHz with a 512-point FFT: the band edges
/// 150·2^((2k ± 1)/6) Hz are each moved to the nearest bin (the first on a tie, as numpy's argmin).
fn third_octave_bins() -> [(usize, usize); BANDS] {
    let bin_hz = STOI_RATE as f64 / NFFT as f64;
    let nearest = |f: f64| {
        let mut best = (0, f64::INFINITY);
        for k in 0..=NFFT / 2 {
            let d = (k as f64 * bin_hz - f).powi(2);
            if d < best.1 {
                best = (k, d);
            }
        }
        best.0
    };
    let mut edges = [(0, 0); BANDS];
    for (k, e) in edges.iter_mut().enumerate() {
        let k = k as f64;
        let (lo, hi) = (MIN_FREQ * 2f64.powf((2.0 * k - 1.0) / 6.0), MIN_FREQ * 2f64.powf((2.0 * k + 1.0) / 6.0));
        *e = (nearest(lo), nearest(hi));
    }
    edges
}

/// Per STFT frame (Hann, 256 samples, hop 128, zero-padded to 512), the 15 band envelopes
/// sqrt(Σ_{bins in band} |X|²).
fn band_envelopes(sig: &[f64], window: &[f64], edges: &[(usize, usize); BANDS]) -> Vec<[f64; BANDS]> {
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(NFFT);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    frame_starts(sig.len())
        .map(|s| {
            // realfft may use the input as scratch: refill all of it, padding included.
            for (i, v) in input.iter_mut().enumerate() {
                *v = if i < FRAME { sig[s + i] * window[i] } else { 0.0 };
            }
            fft.process_with_scratch(&mut input, &mut spectrum, &mut scratch).expect("buffers from the plan");
            let mut bands = [0.0; BANDS];
            for (b, &(lo, hi)) in bands.iter_mut().zip(edges) {
                *b = spectrum[lo..hi].iter().map(|c| c.norm_sqr()).sum::<f64>().sqrt();
            }
            bands
        })
        .collect()
}

/// Octave's `resample(x, p, q)` as pystoi uses it: a Kaiser-windowed sinc low-pass (60 dB rejection,
/// transition width a tenth of the cutoff) applied by polyphase filtering with the semantics of
/// `scipy.signal.resample_poly(x, p, q, window=h / sum(h))`.
struct OctaveResampler {
    up: usize,
    down: usize,
    /// Taps, normalised to unit sum and then multiplied by `up` (the gain lost to zero-stuffing).
    taps: Vec<f64>,
    /// (taps − 1) / 2: the filter's delay in upsampled samples.
    half: usize,
}

impl OctaveResampler {
    /// From rate `q` to rate `p`.
    fn new(p: u32, q: u32) -> OctaveResampler {
        let g = gcd(p as u64, q as u64);
        let (up, down) = ((p as u64 / g) as usize, (q as u64 / g) as usize);
        // Evaluated in the same order as pystoi's _resample_window_oct, so the filter length (a ceil)
        // comes out the same.
        let cutoff = 1.0 / (2.0 * up.max(down) as f64);
        let roll_off = cutoff / 10.0;
        let rejection_db = 60.0;
        let half = ((rejection_db - 8.0) / (28.714 * roll_off)).ceil() as usize;
        let beta = 0.1102 * (rejection_db - 8.7);
        let len = 2 * half + 1;
        let i0_beta = bessel_i0(beta);
        let mut taps: Vec<f64> = (0..len)
            .map(|k| {
                let r = 2.0 * k as f64 / (len - 1) as f64 - 1.0;
                let kaiser = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
                kaiser * 2.0 * up as f64 * cutoff * sinc(2.0 * cutoff * (k as f64 - half as f64))
            })
            .collect();
        let sum: f64 = taps.iter().sum();
        for t in &mut taps {
            *t = *t / sum * up as f64;
        }
        OctaveResampler { up, down, taps, half }
    }

    /// resample_poly's output: ceil(n·up/down) samples, y[m] = Σ_i x[i]·taps[half + m·down − i·up] over
    /// the taps that exist (x is zero outside). resample_poly gets there by zero-stuffing, prepending
    /// `down − half % down` zeros to the filter, convolving, keeping every `down`-th sample and dropping
    /// the first (half + pre-pad)/down; the pre-pad makes half + pre-pad a multiple of `down`, so the
    /// kept samples are exactly those centred on m·down/up input samples — the formula above.
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        if x.is_empty() {
            return Vec::new();
        }
        let n_out = (x.len() * self.up).div_ceil(self.down);
        // The taps of each phase t mod up, contiguous and reversed: output t multiplies x[i] by tap
        // t − i·up, which is reversed[p.len() − 1 − (t / up) + i], so both slices run forward.
        let phases: Vec<Vec<f64>> = (0..self.up)
            .map(|p| {
                let mut v: Vec<f64> = self.taps.iter().skip(p).step_by(self.up).copied().collect();
                v.reverse();
                v
            })
            .collect();
        (0..n_out)
            .map(|m| {
                let t = m * self.down + self.half;
                let (phase, base) = (&phases[t % self.up], t / self.up);
                // 0 ≤ base − i < phase.len(), 0 ≤ i < x.len()
                let lo = (base + 1).saturating_sub(phase.len());
                let hi = base.min(x.len() - 1);
                if lo > hi {
                    return 0.0;
                }
                let start = lo + phase.len() - 1 - base;
                dot(&x[lo..=hi], &phase[start..=start + (hi - lo)])
            })
            .collect()
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// sin(πx)/(πx), 1 at 0 (numpy's sinc).
fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        (PI * x).sin() / (PI * x)
    }
}

/// Modified Bessel function of the first kind, order 0, by its power series Σ ((x/2)^k / k!)², which
/// converges quickly for the Kaiser β used here (≈ 5.65).
fn bessel_i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let (mut term, mut sum) = (1.0f64, 1.0f64);
    for k in 1..500 {
        term *= q / (k as f64 * k as f64);
        sum += term;
        if term <= sum * 1e-17 {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three AM tones plus a little deterministic noise: speech-like enough for STOI.
    fn signal(n: usize, rate: u32, noise: f64, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|i| {
                let t = i as f64 / rate as f64;
                let tones: f64 = [(300.0, 3.0), (1100.0, 4.0), (2500.0, 5.0)]
                    .iter()
                    .map(|&(f, am)| (2.0 * PI * f * t).sin() * (0.6 + 0.4 * (2.0 * PI * am * t).sin()))
                    .sum();
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let u = ((state >> 11) as f64 / 9007199254740992.0) * 2.0 - 1.0;
                (0.3 * tones + noise * u) as f32
            })
            .collect()
    }

    #[test]
    fn identical_signals_score_perfectly() {
        let x = signal(16_000, 16_000, 0.0, 1);
        assert!((stoi(&x, &x, 16_000) - 1.0).abs() < 1e-6);
        assert!(si_sdr(&x, &x) >= 299.0);
        assert_eq!(segmental_snr(&x, &x, 16_000), 35.0);
    }

    #[test]
    fn noise_lowers_every_metric() {
        let x = signal(16_000, 16_000, 0.0, 1);
        let y = signal(16_000, 16_000, 0.3, 2);
        let z = signal(16_000, 16_000, 1.0, 3);
        assert!(stoi(&x, &y, 16_000) > stoi(&x, &z, 16_000));
        assert!(si_sdr(&x, &y) > si_sdr(&x, &z));
        assert!(segmental_snr(&x, &y, 16_000) > segmental_snr(&x, &z, 16_000));
        assert!(stoi(&x, &z, 16_000) < 0.99);
    }

    #[test]
    fn si_sdr_ignores_scale_and_offset_and_has_the_textbook_value() {
        let x = signal(8000, 16_000, 0.0, 1);
        let y = signal(8000, 16_000, 0.3, 2);
        let a = si_sdr(&x, &y);
        // Powers of two scale f32 samples exactly.
        let x4: Vec<f32> = x.iter().map(|v| v * 4.0).collect();
        let y8: Vec<f32> = y.iter().map(|v| v * 0.125).collect();
        assert!((si_sdr(&x4, &y8) - a).abs() < 1e-9);
        let y_offset: Vec<f32> = y.iter().map(|v| v + 0.5).collect();
        assert!((si_sdr(&x, &y_offset) - a).abs() < 1e-4);
        // s and an orthogonal error of a quarter of its energy: 10·log10(4).
        let s = [1.0f32, -1.0, 1.0, -1.0];
        let e = [1.5f32, -0.5, 0.5, -1.5];
        assert!((si_sdr(&s, &e) - 10.0 * 4f64.log10()).abs() < 1e-12);
    }

    #[test]
    fn segmental_snr_of_a_constant_gain() {
        // rate 1000: 30-sample frames, hop 7; every frame has SNR 20 dB.
        let s = vec![0.5f32; 100];
        let e: Vec<f32> = s.iter().map(|v| v * 0.9).collect();
        assert!((segmental_snr(&s, &e, 1000) - 20.0).abs() < 1e-5);
    }

    #[test]
    fn resampler_lengths_follow_resample_poly() {
        let x = vec![0.1; 16_001];
        assert_eq!(OctaveResampler::new(10_000, 16_000).apply(&x).len(), 10_001);
        assert_eq!(OctaveResampler::new(10_000, 44_100).apply(&vec![0.1; 44_100]).len(), 10_000);
        // The taps sum to `up`: DC passes with unit gain away from the edges.
        let y = OctaveResampler::new(10_000, 16_000).apply(&vec![1.0; 16_000]);
        assert!((y[5000] - 1.0).abs() < 1e-2, "{}", y[5000]);
    }

    #[test]
    fn band_edges_match_pystoi() {
        let e = third_octave_bins();
        assert_eq!(e[0], (7, 9));
        assert_eq!(e[7], (34, 43));
        assert!(e.iter().all(|&(lo, hi)| lo < hi && hi <= NFFT / 2));
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let x = signal(16_000, 16_000, 0.0, 1);
        let y = signal(16_000, 16_000, 0.3, 2);
        // Empty.
        assert_eq!(stoi(&[], &[], 16_000), STOI_TOO_SHORT);
        assert!(si_sdr(&[], &[]).is_nan());
        assert!(segmental_snr(&[], &[], 16_000).is_nan());
        // Mismatched lengths: the shorter one counts.
        assert_eq!(stoi(&x, &y[..12_000], 16_000), stoi(&x[..12_000], &y[..12_000], 16_000));
        assert_eq!(si_sdr(&x[..9000], &y), si_sdr(&x[..9000], &y[..9000]));
        assert_eq!(segmental_snr(&x, &y[..5000], 16_000), segmental_snr(&x[..5000], &y[..5000], 16_000));
        // Too short for 30 STFT frames (0.2 s), or for a single frame.
        assert_eq!(stoi(&x[..3200], &y[..3200], 16_000), STOI_TOO_SHORT);
        assert_eq!(stoi(&x[..100], &y[..100], 16_000), STOI_TOO_SHORT);
        assert_eq!(stoi(&x, &y, 0), STOI_TOO_SHORT);
        // An all-zero reference: STOI's envelopes are zero and correlate to 0, SI-SDR is undefined,
        // every segmental-SNR frame sits at the floor.
        let zero = vec![0.0f32; 16_000];
        assert_eq!(stoi(&zero, &y, 16_000), 0.0);
        assert!(si_sdr(&zero, &y).is_nan());
        assert_eq!(segmental_snr(&zero, &y, 16_000), -10.0);
        // An all-zero estimate.
        assert_eq!(si_sdr(&x, &zero), -300.0);
        assert!(stoi(&x, &zero, 16_000).is_finite());
    }
}
