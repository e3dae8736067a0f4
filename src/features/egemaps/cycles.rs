//! Jitter and shimmer from glottal cycles (docs/egemaps.md §4b), the `jitter = "cycles"` option of
//! the eGeMAPS kinds; the default follows openSMILE (`voice::jitter_shimmer`), for comparability.
//!
//! Why another method: openSMILE's cPitchJitter correlates two adjacent windows of one lag, which
//! averages two unequal periods (a true 1 % / 3 % jitter reads 0.76 % / 2.43 %), and it takes amplitudes as
//! peak-to-peak of the formant-filtered waveform, whose ringing outlasts a short period (5 % source
//! shimmer at 220 Hz reads a fifth of its value). Here each cycle is found at its excitation in the
//! LPC residual, where the vocal-tract ringing is removed: periods are the distances between
//! consecutive excitations (sub-sample by correlation), amplitudes the residual energy around each
//! excitation (Praat-style local jitter and shimmer, on the source rather than the waveform).

use super::formants::{autocorrelation, levinson};
use super::pitch::parabola_vertex;
use super::{hamming, samples};

/// Length of the inverse filter's analysis window (Hamming), centred on the F0 frame.
const LPC_WINDOW_S: f64 = 0.030;
/// White-noise correction r[0] ·= 1 + ε: keeps the inverse filter from amplifying the noise floor
/// (16-bit quantisation) above the steeply falling glottal spectrum.
const WHITE_NOISE_CORRECTION: f64 = 1e-4;
/// The next excitation is searched in [0.8, 1.2] × the frame's F0 period after the last one.
const SEARCH_LO: f64 = 0.8;
const SEARCH_HI: f64 = 1.2;
/// Half-width (in periods) of the residual windows correlated for the sub-sample period.
const ALIGN_HALF: f64 = 0.1;
/// Half-width (in periods) of the residual window whose energy is a cycle's amplitude.
const ENERGY_HALF: f64 = 0.49;
/// A period counts when its two excitations correlate above this (cPitchJitter's minCC).
const MIN_CC: f64 = 0.5;
/// ... and the waveform's periods around its two excitations above this (noise at voicing edges
/// correlates by chance over the short residual windows, rarely over a whole period).
const MIN_WAVE_CC: f64 = 0.8;
/// Praat's limits: a period whose two cycles' amplitudes differ by more than this factor (an onset
/// or offset ramp) does not count, nor a difference of two periods whose ratio exceeds 1.3.
const MAX_AMPLITUDE_FACTOR: f64 = 1.6;
const MAX_PERIOD_FACTOR: f64 = 1.3;

/// jitterLocal and shimmerLocaldB per F0 frame (0 where unvoiced), from the waveform `x` and the
/// unsmoothed F0 track (one value per 10 ms hop of 60 ms frames).
///
/// Per voiced run: the LPC residual (order fs/1000 + 2, 30 ms Hamming window per frame, each frame's
/// filter applied to the frame's central 10 ms), sign-flipped so its skew is positive; excitations
/// are its maxima, the first within one period of the run's start, each next one in [0.8, 1.2] T0
/// after the last. A period is the lag (±2 samples around the distance of two excitations, refined
/// by a parabola) that best correlates ±0.1 T0 of residual around the first with the same around the
/// second; it counts when that correlation exceeds 0.5, the waveform's periods around the two
/// excitations correlate above 0.8 and the two cycles' amplitudes differ by at most a factor 1.6.
/// The amplitudes are the residual energies (square root) over ±0.49 T0 around each excitation, both
/// filtered by the frame's filter, so a filter change between frames is not read as shimmer. A frame (the one whose central 10 ms holds
/// the period's first excitation) reports jitterLocal = min(1, mean |T_i − T_{i−1}| / mean T_i), the
/// differences over consecutive counted periods at most a factor 1.3 apart (the predecessor may lie
/// in an earlier frame), and
/// shimmerLocaldB = 20 log10(1 + min(1, Σ |A − B| / Σ (A + B)/2)) (openSMILE's dB definition). A
/// voiced frame without a counted period repeats the run's last values (0 at its start); one with
/// periods but no predecessor reports jitter 0.
pub fn jitter_shimmer(x: &[f64], f0_hz: &[f64], fs: f64) -> (Vec<f64>, Vec<f64>) {
    let n = f0_hz.len();
    let mut jitter = vec![0.0; n];
    let mut shimmer = vec![0.0; n];
    let voiced = |k: usize| f0_hz[k] > 0.0;
    let analysis = Analysis::new(fs);
    let mut k = 0;
    while k < n {
        if !voiced(k) {
            k += 1;
            continue;
        }
        let k0 = k;
        while k < n && voiced(k) {
            k += 1;
        }
        analysis.run(x, f0_hz, k0..k, &mut jitter, &mut shimmer);
    }
    (jitter, shimmer)
}

/// The sample-rate dependent sizes and the LPC window.
struct Analysis {
    fs: f64,
    hop: usize,
    /// Start of a frame's central hop relative to the frame's start.
    centre: usize,
    order: usize,
    window: Vec<f64>,
    /// Start of the LPC window relative to the frame's start.
    window_start: usize,
}

/// One counted period: its length (samples) and the amplitudes of its two cycles.
struct Period {
    frame: usize,
    samples: f64,
    amps: (f64, f64),
}

impl Analysis {
    fn new(fs: f64) -> Analysis {
        let hop = samples(0.010, fs).max(1);
        let frame_len = samples(0.060, fs);
        let lpc_len = samples(LPC_WINDOW_S, fs).min(frame_len);
        Analysis {
            fs,
            hop,
            centre: (frame_len - hop) / 2,
            order: (fs / 1000.0).round() as usize + 2,
            window: hamming(lpc_len),
            window_start: (frame_len - lpc_len) / 2,
        }
    }

    /// Measures the voiced run of frames `frames` into `jitter` / `shimmer`.
    fn run(&self, x: &[f64], f0_hz: &[f64], frames: std::ops::Range<usize>, jitter: &mut [f64], shimmer: &mut [f64]) {
        let (k0, k1) = (frames.start, frames.end);
        let filters: Vec<Vec<f64>> = frames.clone().map(|k| self.inverse_filter(x, k)).collect();
        let frame_of = |s: usize| (s.saturating_sub(self.centre) / self.hop).clamp(k0, k1 - 1);
        let period = |s: usize| self.fs / f0_hz[frame_of(s)];
        let start = (k0 * self.hop + self.centre).min(x.len());
        let end = ((k1 - 1) * self.hop + self.centre + self.hop).min(x.len());
        // The residual over the run plus half a period of margin (for the correlation windows).
        let margin = (0.5 * period(end.saturating_sub(1)).max(period(start))).ceil() as usize + 3;
        let base = start.saturating_sub(margin);
        let top = (end + margin).min(x.len());
        let mut y: Vec<f64> = (base..top).map(|s| residual_at(x, &filters[frame_of(s) - k0], s)).collect();
        let skew: f64 = y[start - base..end - base].iter().map(|v| v * v * v).sum();
        if skew < 0.0 {
            y.iter_mut().for_each(|v| *v = -*v);
        }
        let at = |s: usize| y[s - base];
        let marks = self.excitations(&y, base, start, end, &period);
        let mut periods = Vec::with_capacity(marks.len());
        for w in marks.windows(2) {
            let (a, b) = (w[0], w[1]);
            let t0 = period(a);
            let half = (ALIGN_HALF * t0) as usize;
            let lag = b - a;
            if a < base + half || b + 2 + half >= top || lag < 3 {
                periods.push(None);
                continue;
            }
            let u: Vec<f64> = (a - half..=a + half).map(at).collect();
            let cc: Vec<f64> = (lag - 2..=lag + 2)
                .map(|l| {
                    let v: Vec<f64> = (a - half + l..=a + half + l).map(at).collect();
                    normalised_dot(&u, &v)
                })
                .collect();
            let j = (1..4).fold(1, |best, i| if cc[i] > cc[best] { i } else { best });
            let (mut offset, mut peak) = (0.0, cc[j]);
            if cc[j] >= cc[j - 1] && cc[j] >= cc[j + 1] {
                let (v, c) = parabola_vertex(-1.0, cc[j - 1], 0.0, cc[j], 1.0, cc[j + 1]);
                (offset, peak) = (v, c);
            }
            let energy_half = (ENERGY_HALF * t0) as usize;
            let frame = frame_of(a);
            let filter = &filters[frame - k0];
            let amps = match (cycle_energy(x, filter, a, energy_half), cycle_energy(x, filter, b, energy_half)) {
                (Some(ea), Some(eb)) => (ea.sqrt(), eb.sqrt()),
                _ => {
                    periods.push(None);
                    continue;
                }
            };
            let samples = (lag - 2 + j) as f64 + offset;
            // The residual's short windows can correlate by chance in noise; the waveform's periods
            // around the two excitations must correlate too.
            let wave_half = (0.5 * t0) as usize;
            let wave_cc = if a >= wave_half && b + wave_half <= x.len() {
                normalised_dot(&x[a - wave_half..a + wave_half], &x[b - wave_half..b + wave_half])
            } else {
                0.0
            };
            let steady = amps.0.max(amps.1) <= MAX_AMPLITUDE_FACTOR * amps.0.min(amps.1);
            periods.push((peak > MIN_CC && wave_cc > MIN_WAVE_CC && steady).then_some(Period { frame, samples, amps }));
        }
        self.report(&periods, frames, jitter, shimmer);
    }

    /// The excitations of a run: residual maxima (first of equals), the first in the run's first
    /// period, then each in [0.8, 1.2] T0 after the previous, while that range stays inside the run.
    fn excitations(
        &self,
        y: &[f64],
        base: usize,
        start: usize,
        end: usize,
        period: &dyn Fn(usize) -> f64,
    ) -> Vec<usize> {
        let argmax =
            |lo: usize, hi: usize| (lo + 1..hi).fold(lo, |best, s| if y[s - base] > y[best - base] { s } else { best });
        let first_end = (start + period(start) as usize).min(end);
        if first_end <= start {
            return Vec::new();
        }
        let mut marks = vec![argmax(start, first_end)];
        loop {
            let c = marks[marks.len() - 1];
            let t0 = period(c);
            let (lo, hi) = (c + (SEARCH_LO * t0) as usize, c + (SEARCH_HI * t0).ceil() as usize);
            if hi + 2 >= end {
                break;
            }
            marks.push(argmax(lo, hi + 1));
        }
        marks
    }

    /// Per-frame jitter and shimmer of a run from its periods (None: not counted).
    fn report(
        &self,
        periods: &[Option<Period>],
        frames: std::ops::Range<usize>,
        jitter: &mut [f64],
        shimmer: &mut [f64],
    ) {
        let k0 = frames.start;
        #[derive(Clone, Default)]
        struct Sums {
            periods: usize,
            sum_t: f64,
            diffs: usize,
            sum_dt: f64,
            sum_amp: f64,
            sum_damp: f64,
        }
        let mut sums = vec![Sums::default(); frames.len()];
        let mut previous: Option<f64> = None;
        for p in periods {
            let Some(p) = p else {
                previous = None;
                continue;
            };
            let s = &mut sums[p.frame - k0];
            s.periods += 1;
            s.sum_t += p.samples;
            if let Some(t) = previous.filter(|&t| t.max(p.samples) <= MAX_PERIOD_FACTOR * t.min(p.samples)) {
                s.diffs += 1;
                s.sum_dt += (p.samples - t).abs();
            }
            previous = Some(p.samples);
            s.sum_amp += 0.5 * (p.amps.0 + p.amps.1);
            s.sum_damp += (p.amps.0 - p.amps.1).abs();
        }
        let (mut last_jitter, mut last_shimmer) = (0.0, 0.0);
        for (k, s) in frames.zip(&sums) {
            jitter[k] = if s.diffs > 0 {
                last_jitter = (s.sum_dt / s.diffs as f64 / (s.sum_t / s.periods as f64)).min(1.0);
                last_jitter
            } else if s.periods == 0 {
                last_jitter
            } else {
                0.0
            };
            if s.periods > 0 {
                let local = if s.sum_amp > 0.0 { s.sum_damp / s.sum_amp } else { 0.0 };
                last_shimmer = 20.0 * (1.0 + local.min(1.0)).log10();
            }
            shimmer[k] = last_shimmer;
        }
    }

    /// A(z) of frame k: LPC of its 30 ms Hamming-windowed centre, with the white-noise correction.
    fn inverse_filter(&self, x: &[f64], k: usize) -> Vec<f64> {
        let start = k * self.hop + self.window_start;
        let windowed: Vec<f64> = match x.get(start..start + self.window.len()) {
            Some(seg) => seg.iter().zip(&self.window).map(|(v, w)| v * w).collect(),
            None => return vec![1.0],
        };
        let mut r = autocorrelation(&windowed, self.order);
        r[0] *= 1.0 + WHITE_NOISE_CORRECTION;
        levinson(&r, self.order)
    }
}

/// e[s] = Σ_i a_i x[s − i] (samples before the start count as 0).
fn residual_at(x: &[f64], a: &[f64], s: usize) -> f64 {
    a.iter().take(s + 1).enumerate().map(|(i, c)| c * x[s - i]).sum()
}

/// Σ e² over [c − half, c + half] with one filter; None if the window leaves the signal.
fn cycle_energy(x: &[f64], a: &[f64], c: usize, half: usize) -> Option<f64> {
    if c < half || c + half >= x.len() {
        return None;
    }
    Some((c - half..=c + half).map(|s| residual_at(x, a, s).powi(2)).sum())
}

/// u·v / (|u| |v|), 0 when either is silent.
fn normalised_dot(u: &[f64], v: &[f64]) -> f64 {
    let (mut uv, mut uu, mut vv) = (0.0, 0.0, 0.0);
    for (a, b) in u.iter().zip(v) {
        uv += a * b;
        uu += a * a;
        vv += b * b;
    }
    let d = (uu * vv).sqrt();
    if d > 0.0 {
        uv / d
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::egemaps::voice::tests::{assert_periodic_reads_none, jitter_of_alternating_pulses};

    #[test]
    fn periodic_signal_has_no_jitter_or_shimmer() {
        assert_periodic_reads_none(jitter_shimmer);
    }

    #[test]
    fn alternating_periods_read_their_true_jitter() {
        let j = jitter_of_alternating_pulses(jitter_shimmer);
        let voiced: Vec<f64> = j.iter().copied().filter(|&v| v > 0.0).collect();
        let mean = voiced.iter().sum::<f64>() / voiced.len() as f64;
        assert!((mean - 4.0 / 82.0).abs() < 0.1 * 4.0 / 82.0, "jitter {mean}");
    }
}
