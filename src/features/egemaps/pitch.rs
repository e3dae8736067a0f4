//! F0 of eGeMAPS (docs/egemaps.md §3): subharmonic summation (openSMILE cSpecScale → cPitchShs) on the
//! 60 ms Gaussian frames, the Viterbi smoother (cPitchSmootherViterbi) with its quirks, and the energy
//! gate (cValbasedSelector on the frame RMS). Ported from the numpy re-implementation that matched
//! openSMILE 3.0.1 frame by frame; arithmetic is f64 where openSMILE uses float.

use super::{frame_count, gaussian, samples, Spectrum, STEP_S};
use crate::util::lanes;

/// 60 ms analysis frames (§1).
const FRAME_S: f64 = 0.060;
/// cSpecScale minF (Hz); maxF is the Nyquist frequency.
const SCALE_MIN_HZ: f64 = 25.0;
/// cPitchShs nHarmonics.
const N_HARMONICS: usize = 15;
/// cPitchShs compressionFactor.
const COMPRESSION: f64 = 0.85;
/// cPitchShs / cPitchBase minPitch, maxPitch (Hz).
const MIN_PITCH: f64 = 55.0;
const MAX_PITCH: f64 = 1000.0;
/// cPitchShs nCandidates (= voiced Viterbi states).
const N_CAND: usize = 6;
/// cPitchShs voicingCutoff (also the Viterbi's voicing threshold).
const VOICING_CUTOFF: f64 = 0.70;
/// Energy gate threshold on the Gaussian-windowed frame RMS (gemapsv01b_volmerge).
const ENERGY_THRESHOLD: f64 = 0.001;

/// Viterbi weights (cPitchSmootherViterbi). **QUIRK**: `setWeights()` copies wTvv into wTvvd, so the
/// delta-of-change weight is 10, not the configured 5.
const W_TVV: f64 = 10.0;
const W_TVVD: f64 = W_TVV;
const W_TVUV: f64 = 10.0;
const W_THR: f64 = 4.0;
const W_LOCAL: f64 = 2.0;
const W_RANGE: f64 = 1.0;
/// **QUIRK**: the u→u branch (`i == j == nStates-1`) is never taken in C, so u→u costs the fall-through
/// 1.0 instead of wTuu = 0.
const COST_UU: f64 = 1.0;
/// Cost of a voiced↔voiced transition involving an empty candidate slot.
const COST_EMPTY: f64 = 999.0;
/// Frames whose log-frequency splines are solved together (SplinePlan::eval_lanes).
const SPLINE_LANES: usize = 4;
/// Viterbi states: N_CAND candidate slots, then "unvoiced".
const N_STATES: usize = N_CAND + 1;
const UNVOICED: usize = N_CAND;

/// The F0 contour of one utterance and the 60 ms magnitude spectra it was computed from (§3).
pub struct Pitch {
    /// |X| of each 60 ms Gaussian frame (frame_count(n, 0.060 fs, 0.010 fs) frames, 1024-point FFT at 16 kHz → 513 bins).
    pub magnitudes: Vec<Vec<f64>>,
    /// F0 in Hz per 60 ms frame after the Viterbi smoother and the energy gate; 0 = unvoiced.
    pub f0_hz: Vec<f64>,
}

/// One SHS pitch candidate: frequency (Hz, 0 = empty slot), score (SS vertex value) and voicing.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Candidate {
    f0: f64,
    score: f64,
    voicing: f64,
}

/// The F0 tracker of §3, with everything that depends only on the sample rate precomputed.
pub struct PitchTracker {
    spectrum: Spectrum,
    frame_len: usize,
    hop: usize,
    /// The spline from the FFT bins (knots: log2 of each bin's frequency, knot 0 extrapolated, see
    /// `new`) onto the target grid, equally spaced in log2 f from log2 25 to log2 Nyquist.
    spline: SplinePlan,
    /// Auditory weighting per target point.
    weights: Vec<f64>,
    /// Shift (in target points) of harmonic h = 1..=15: floor(ppo · log2 h).
    shifts: Vec<usize>,
    /// Grid step on the log2 axis and its origin (for the candidates' parabolic interpolation).
    log_step: f64,
    log_min: f64,
}

impl PitchTracker {
    /// Builds the tracker for sample rate `fs` (Hz).
    pub fn new(fs: f64) -> PitchTracker {
        let frame_len = samples(FRAME_S, fs).max(2);
        let hop = samples(STEP_S, fs).max(1);
        // openSMILE's FFT pads each frame to the next power of two (960 → 1024 at 16 kHz).
        let n_fft = frame_len.next_power_of_two();
        let spectrum = Spectrum::new(gaussian(frame_len), n_fft);
        let n_mag = n_fft / 2 + 1;
        let df = fs / n_fft as f64;

        // Knot 0 (DC) cannot be log2(0): cSpecScale puts it one knot spacing of bins 1→2 below bin 1,
        // i.e. 2·log2(df) − log2(2 df).
        let mut knots = vec![0.0; n_mag];
        for (k, v) in knots.iter_mut().enumerate().skip(1) {
            *v = (k as f64 * df).log2();
        }
        knots[0] = 2.0 * df.log2() - (2.0 * df).log2();

        // nPointsTarget = 0 → as many target points as source bins; maxF = −1 → Nyquist.
        let log_min = SCALE_MIN_HZ.log2();
        let log_max = (fs / 2.0).log2();
        let log_step = (log_max - log_min) / (n_mag as f64 - 1.0);
        let target: Vec<f64> = (0..n_mag).map(|i| log_min + i as f64 * log_step).collect();
        let spline = SplinePlan::new(&knots, &target);

        // Auditory weighting: an arctan ramp centred around 65/50 octaves above minF (points per octave ppo).
        let ppo = n_mag as f64 / (fs / 2.0 / SCALE_MIN_HZ).log2();
        let atan_s = ppo * (65.0f64 / 50.0).log2() - 1.0;
        let weights =
            (0..n_mag).map(|i| 0.5 + (3.0 * (i as f64 + 1.0 - atan_s) / ppo).atan() / std::f64::consts::PI).collect();
        let shifts = (1..=N_HARMONICS).map(|h| (ppo * (h as f64).log2()).floor() as usize).collect();

        PitchTracker { spectrum, frame_len, hop, spline, weights, shifts, log_step, log_min }
    }

    /// The FFT length of the 60 ms frames (the magnitudes have n_fft / 2 + 1 bins).
    pub fn n_fft(&self) -> usize {
        self.spectrum.n_fft
    }

    /// Tracks F0 over `x` (openSMILE scale q / 32767): one value per complete 60 ms frame, 10 ms apart.
    #[inline(always)]
    pub fn track(&self, x: &[f64]) -> Pitch {
        let n_frames = frame_count(x.len(), self.frame_len, self.hop);
        let mut magnitudes = Vec::with_capacity(n_frames);
        let mut loud = Vec::with_capacity(n_frames);
        let mut fft = self.spectrum.buffers();
        for i in 0..n_frames {
            let frame = &x[i * self.hop..i * self.hop + self.frame_len];
            magnitudes.push(self.spectrum.magnitudes_in(frame, &mut fft));
            // Energy gate input: RMS of the Gaussian-windowed frame (cEnergy on winG60).
            let e = lanes::windowed_energy(frame, &self.spectrum.window);
            loud.push((e / self.frame_len as f64).sqrt() > ENERGY_THRESHOLD);
        }
        // The spline of SPLINE_LANES frames is solved at once: each frame's sweep is a chain of
        // dependent multiply-adds, and interleaving frames keeps the core busy during each one's latency.
        let mut candidates = Vec::with_capacity(n_frames);
        for group in magnitudes.chunks(SPLINE_LANES) {
            let smoothed: Vec<Vec<f64>> = group.iter().map(|m| spec_smooth(&spec_enhance(m))).collect();
            let refs: Vec<&[f64]> = smoothed.iter().map(|y| y.as_slice()).collect();
            for scaled in self.spline.eval_lanes(&refs) {
                candidates.push(self.candidates(&self.weighted(scaled)));
            }
        }
        let states = viterbi(&candidates);
        let f0_hz = states
            .iter()
            .zip(&candidates)
            .zip(&loud)
            .map(|((&s, c), &loud)| if s < N_CAND && loud { c[s].f0 } else { 0.0 })
            .collect();
        Pitch { magnitudes, f0_hz }
    }

    /// cSpecScale's last step, the auditory weighting of the splined spectrum (negative values to 0).
    #[inline(always)]
    fn weighted(&self, splined: Vec<f64>) -> Vec<f64> {
        splined.into_iter().zip(&self.weights).map(|(v, &w)| if v > 0.0 { v * w } else { 0.0 }).collect()
    }

    /// cPitchShs + cPitchBase on the scaled spectrum `sp` (cSpecScale: enhanced, smoothed, splined onto
    /// the log2 grid, weighted): the subharmonic sum, its top 6 peaks, range filter, best-first swap.
    #[inline(always)]
    fn candidates(&self, sp: &[f64]) -> [Candidate; N_CAND] {
        let n = sp.len();
        let mut ss = vec![0.0; n];
        let mut weight = 1.0;
        for &sh in &self.shifts {
            for j in 0..n.saturating_sub(sh) {
                ss[j] += weight * sp[j + sh];
            }
            weight *= COMPRESSION;
        }
        for v in ss.iter_mut() {
            *v /= N_HARMONICS as f64;
            if *v < 0.0 {
                *v = 0.0;
            }
        }
        let mean = ss.iter().sum::<f64>() / n as f64;

        // Greedy top-6 of the strict local maxima: a peak goes before the first slot that is empty or
        // scores less (ties keep the earlier peak first), the list is cut to 6.
        let mut top: Vec<(f64, usize)> = Vec::with_capacity(N_CAND + 1);
        // The maxima are gathered first without a branch per bin (as in spec_enhance), then ranked.
        // The list stays sorted, so once it is full only a peak above its last entry can enter.
        let mut maxima = vec![0; n];
        let mut count = 0;
        for j in 1..n.saturating_sub(1) {
            maxima[count] = j;
            count += ((ss[j - 1] < ss[j]) & (ss[j] > ss[j + 1])) as usize;
        }
        let mut floor = f64::NEG_INFINITY;
        for &j in &maxima[..count] {
            if ss[j] > floor {
                if let Some(k) = (0..N_CAND).find(|&k| k >= top.len() || top[k].0 == 0.0 || top[k].0 < ss[j]) {
                    top.insert(k, (ss[j], j));
                    top.truncate(N_CAND);
                    if top.len() == N_CAND && top[N_CAND - 1].0 != 0.0 {
                        floor = top[N_CAND - 1].0;
                    }
                }
            }
        }

        let mut out = [Candidate::default(); N_CAND];
        let mut n_out = 0;
        for &(_, j) in &top {
            let xj = |m: usize| self.log_min + m as f64 * self.log_step;
            let (xv, yv) = parabola_vertex(xj(j - 1), ss[j - 1], xj(j), ss[j], xj(j + 1), ss[j + 1]);
            let f0 = xv.exp2();
            let voicing = if yv > 0.0 && yv > mean { 1.0 - mean / yv } else { 0.0 };
            // cPitchBase drops out-of-range candidates, keeping the order of the others.
            if (MIN_PITCH..=MAX_PITCH).contains(&f0) {
                out[n_out] = Candidate { f0, score: yv, voicing };
                n_out += 1;
            }
        }
        // A swap of the best-scoring candidate into slot 0, not a sort: the slot order is what the
        // Viterbi's states see.
        let mut best = 0;
        for k in 1..N_CAND {
            if out[k].score > out[best].score {
                best = k;
            }
        }
        out.swap(0, best);
        out
    }
}

/// F0 in semitones from 27.5 Hz as openSMILE's F0finalLog: 12 log2(f / 27.5) above 29.136 Hz, 1 for 0 < f ≤ 29.136, 0 unvoiced.
pub fn semitones(f0_hz: f64) -> f64 {
    if f0_hz > 29.136 {
        12.0 * (f0_hz / 27.5).log2()
    } else if f0_hz > 0.0 {
        1.0
    } else {
        0.0
    }
}

/// smileDsp_specEnhanceSHS: keep ±2 bins around each local maximum, zero the valleys between maxima.
#[inline(always)]
fn spec_enhance(a: &[f64]) -> Vec<f64> {
    let n = a.len();
    let mut out = a.to_vec();
    if n < 2 {
        return out;
    }
    // The maxima's positions, gathered without a branch per bin (a data-dependent branch there
    // mispredicted on every other bin of a speech spectrum).
    let mut pos = vec![0; n];
    let mut count = 0;
    pos[count] = 0;
    count += (a[0] > a[1]) as usize;
    for i in 1..n - 1 {
        pos[count] = i;
        count += ((a[i] > a[i - 1]) & (a[i] >= a[i + 1])) as usize;
    }
    pos[count] = n - 1;
    count += (a[n - 1] > a[n - 2]) as usize;
    // With a single maximum openSMILE reads past its list (a bug never hit on real spectra); leave as is.
    for w in pos[..count].windows(2) {
        let (lo, hi) = (w[0] + 3, w[1].saturating_sub(3));
        for v in out.iter_mut().take(hi + 1).skip(lo) {
            *v = 0.0;
        }
    }
    out
}

/// cSpecScale specSmooth: (a[i−1] + 2a[i] + a[i+1]) / 4 with a[−1] = 0; the last bin is left untouched.
#[inline(always)]
fn spec_smooth(a: &[f64]) -> Vec<f64> {
    let mut out = a.to_vec();
    let mut prev = 0.0;
    for i in 0..a.len().saturating_sub(1) {
        out[i] = (prev + 2.0 * a[i] + a[i + 1]) / 4.0;
        prev = a[i];
    }
    out
}

/// A natural cubic spline (Numerical Recipes `spline` / `splint`; scipy's `CubicSpline(bc_type =
/// "natural")`) over fixed knots, evaluated at fixed points: what does not depend on the values —
/// the tridiagonal elimination factors and each point's interval weights — is computed once, so a
/// frame costs a few multiply-adds per knot and per point instead of divisions.
struct SplinePlan {
    /// Per knot i (interior ones used), with sig_i = (x_i − x_{i−1}) / (x_{i+1} − x_{i−1}) and
    /// p_i = sig_i · c_{i−1} + 2: the back-substitution factor c_i = (sig_i − 1) / p_i, 1 / (x_{i+1} − x_i).
    /// The forward sweep u_i = alpha_i d_i − beta_i u_{i−1} with alpha_i = 6 / (x_{i+1} − x_{i−1}) / p_i
    /// and beta_i = sig_i / p_i (one multiply-subtract on the sweep's dependency chain).
    alpha: Vec<f64>,
    beta: Vec<f64>,
    c: Vec<f64>,
    inv_h: Vec<f64>,
    /// Per evaluation point: interval k, a, b, (a³ − a) h² / 6, (b³ − b) h² / 6.
    points: Vec<(usize, f64, f64, f64, f64)>,
}

impl SplinePlan {
    /// Knots `x` (increasing, at least 2) and evaluation points `t` (each in or beyond the knots).
    fn new(x: &[f64], t: &[f64]) -> SplinePlan {
        let n = x.len();
        let (mut alpha, mut beta, mut c) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let inv_h: Vec<f64> = (0..n).map(|i| if i + 1 < n { 1.0 / (x[i + 1] - x[i]) } else { 0.0 }).collect();
        for i in 1..n.saturating_sub(1) {
            let sig = (x[i] - x[i - 1]) / (x[i + 1] - x[i - 1]);
            let p = sig * c[i - 1] + 2.0;
            c[i] = (sig - 1.0) / p;
            alpha[i] = 6.0 / (x[i + 1] - x[i - 1]) / p;
            beta[i] = sig / p;
        }
        let mut k = 0usize;
        let points = t
            .iter()
            .map(|&t| {
                while k + 2 < n && x[k + 1] < t {
                    k += 1;
                }
                let h = x[k + 1] - x[k];
                let (a, b) = ((x[k + 1] - t) / h, (t - x[k]) / h);
                (k, a, b, (a * a * a - a) * h * h / 6.0, (b * b * b - b) * h * h / 6.0)
            })
            .collect();
        SplinePlan { alpha, beta, c, inv_h, points }
    }

    /// The spline through (x_i, y_i) at every evaluation point.
    #[cfg(test)]
    fn eval(&self, y: &[f64]) -> Vec<f64> {
        self.eval_lanes(&[y]).remove(0)
    }

    /// The splines through up to SPLINE_LANES value sets at once (each as `eval` would compute it, to
    /// the bit): the lanes' sweeps run interleaved.
    #[inline(always)]
    fn eval_lanes(&self, ys: &[&[f64]]) -> Vec<Vec<f64>> {
        assert!(ys.len() <= SPLINE_LANES, "more value sets than lanes");
        let n = self.inv_h.len();
        let mut y = vec![[0.0; SPLINE_LANES]; n];
        for (l, values) in ys.iter().enumerate() {
            assert_eq!(values.len(), n, "values at other knots");
            for (yi, &v) in y.iter_mut().zip(values.iter()) {
                yi[l] = v;
            }
        }
        let (mut m2, mut u) = (vec![[0.0; SPLINE_LANES]; n], vec![[0.0; SPLINE_LANES]; n]);
        for i in 1..n.saturating_sub(1) {
            for l in 0..SPLINE_LANES {
                let d = (y[i + 1][l] - y[i][l]) * self.inv_h[i] - (y[i][l] - y[i - 1][l]) * self.inv_h[i - 1];
                u[i][l] = self.alpha[i] * d - self.beta[i] * u[i - 1][l];
            }
        }
        for k in (0..n.saturating_sub(1)).rev() {
            for l in 0..SPLINE_LANES {
                m2[k][l] = self.c[k] * m2[k + 1][l] + u[k][l];
            }
        }
        (0..ys.len())
            .map(|l| {
                self.points
                    .iter()
                    .map(|&(k, a, b, ca, cb)| a * y[k][l] + b * y[k + 1][l] + ca * m2[k][l] + cb * m2[k + 1][l])
                    .collect()
            })
            .collect()
    }
}

/// Vertex (x, y) of the parabola through three points (smileMath_quadFrom3pts), in coordinates
/// relative to x2 for accuracy; a degenerate parabola returns the middle point.
pub(crate) fn parabola_vertex(x1: f64, y1: f64, x2: f64, y2: f64, x3: f64, y3: f64) -> (f64, f64) {
    let (u1, u3) = (x1 - x2, x3 - x2);
    // y = a u² + b u + y2 through (u1, y1) and (u3, y3).
    let den = u1 * u3 * (u1 - u3);
    if den == 0.0 {
        return (x2, y2);
    }
    let a = (u3 * (y1 - y2) - u1 * (y3 - y2)) / den;
    let b = (u1 * u1 * (y3 - y2) - u3 * u3 * (y1 - y2)) / den;
    if a == 0.0 {
        return (x2, y2);
    }
    let v = -b / (2.0 * a);
    (x2 + v, y2 + b * v / 2.0)
}

/// fw(f): the range cost of a candidate frequency (wRange term).
fn range_cost(f: f64) -> f64 {
    if f > 0.0 && f < 100.0 {
        1.0 - f / 100.0
    } else if (100.0..350.0).contains(&f) {
        0.0
    } else if (350.0..600.0).contains(&f) {
        (f - 350.0) / 250.0
    } else if f >= 600.0 {
        1.2
    } else {
        2.0
    }
}

/// Local (emission) cost of state `i` in a frame.
fn local_cost(i: usize, c: &[Candidate; N_CAND]) -> f64 {
    if i < N_CAND {
        let pv = c[i].voicing.clamp(0.01, 1.0);
        let thr = if pv < VOICING_CUTOFF { W_THR } else { 0.0 };
        (-pv.ln() + thr) * W_LOCAL + range_cost(c[i].f0) * W_RANGE
    } else {
        let any_voiced = c.iter().any(|c| c.voicing >= VOICING_CUTOFF);
        W_LOCAL * if any_voiced { W_THR } else { 0.0 }
    }
}

/// Transition cost prev state `j` → current state `i`. **QUIRK**: `last_change` is one shared value
/// (initially 1.0) that every evaluation of a voiced→voiced or voiced↔unvoiced transition overwrites,
/// in the decoder's loop order, across frames.
fn transition_cost(
    i: usize,
    j: usize,
    prev: &[Candidate; N_CAND],
    cur: &[Candidate; N_CAND],
    last_change: &mut f64,
) -> f64 {
    match (i < N_CAND, j < N_CAND) {
        (true, true) => {
            let (f0, f1) = (prev[j].f0, cur[i].f0);
            if f0 == 0.0 || f1 == 0.0 {
                return COST_EMPTY;
            }
            let r = (f1 / f0).ln();
            let cost = W_TVV * r.abs() + W_TVVD * (r - *last_change).abs();
            *last_change = r;
            cost
        }
        (false, false) => COST_UU,
        _ => {
            *last_change = 0.0;
            W_TVUV
        }
    }
}

/// Minimum-cost state sequence over the whole utterance (first index wins ties). openSMILE decodes
/// with a 40-frame buffer and early output where all paths agree; a full-utterance decode reproduced
/// it on every file tested (docs/egemaps.md §3).
fn viterbi(frames: &[[Candidate; N_CAND]]) -> Vec<usize> {
    let Some(first) = frames.first() else {
        return Vec::new();
    };
    let mut cost: Vec<f64> = (0..N_STATES).map(|i| local_cost(i, first)).collect();
    let mut back: Vec<[u8; N_STATES]> = Vec::with_capacity(frames.len());
    let mut last_change = 1.0;
    for t in 1..frames.len() {
        let (prev, cur) = (&frames[t - 1], &frames[t]);
        let mut new_cost = [0.0; N_STATES];
        let mut bp = [0u8; N_STATES];
        // Loop order matters (shared last_change): current state outer, previous state inner.
        for i in 0..N_STATES {
            let mut best = f64::INFINITY;
            let mut best_j = 0;
            for (j, &prev_cost) in cost.iter().enumerate() {
                let c = transition_cost(i, j, prev, cur, &mut last_change) + prev_cost;
                if c < best {
                    best = c;
                    best_j = j;
                }
            }
            new_cost[i] = best + local_cost(i, cur);
            bp[i] = best_j as u8;
        }
        cost = new_cost.to_vec();
        back.push(bp);
    }
    let mut s = 0;
    for i in 1..N_STATES {
        if cost[i] < cost[s] {
            s = i;
        }
    }
    let mut states = vec![UNVOICED; frames.len()];
    states[frames.len() - 1] = s;
    for t in (1..frames.len()).rev() {
        s = back[t - 1][s] as usize;
        states[t - 1] = s;
    }
    states
}

#[cfg(test)]
mod tests {
    use super::*;

    const FS: f64 = 16000.0;

    /// A harmonic complex with 1/h amplitudes (peak about 0.5).
    fn harmonic_complex(f0: f64, seconds: f64) -> Vec<f64> {
        let n = (seconds * FS) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / FS;
                let mut s = 0.0;
                let mut h = 1.0;
                while h * f0 < 4000.0 {
                    s += (2.0 * std::f64::consts::PI * h * f0 * t + 0.3 * h).sin() / h;
                    h += 1.0;
                }
                0.2 * s
            })
            .collect()
    }

    #[test]
    fn semitone_scale() {
        assert!((semitones(55.0) - 12.0).abs() < 1e-12);
        assert!((semitones(27.5 * 4.0) - 24.0).abs() < 1e-12);
        assert_eq!(semitones(29.0), 1.0);
        assert_eq!(semitones(0.0), 0.0);
    }

    #[test]
    fn spline_reproduces_a_line_and_the_knots() {
        let x = [0.0, 1.0, 2.5, 3.0, 5.0];
        let y: Vec<f64> = x.iter().map(|v| 2.0 * v - 1.0).collect();
        assert!((SplinePlan::new(&x, &[2.75]).eval(&y)[0] - 4.5).abs() < 1e-12);
        let y = [0.0, 1.0, 0.0, 2.0, 1.0];
        let at_knots = SplinePlan::new(&x, &x).eval(&y);
        for k in 0..5 {
            assert!((at_knots[k] - y[k]).abs() < 1e-12, "knot {k}: {}", at_knots[k]);
        }
        // scipy CubicSpline(x, y, bc_type='natural')(1.7) on these points.
        assert!((SplinePlan::new(&x, &[1.7]).eval(&y)[0] + 0.085_102_222_222_222_08).abs() < 1e-9);
    }

    #[test]
    fn parabola_vertex_is_exact() {
        // y = −2 (x − 1.3)² + 5
        let f = |x: f64| -2.0 * (x - 1.3) * (x - 1.3) + 5.0;
        let (xv, yv) = parabola_vertex(1.0, f(1.0), 1.5, f(1.5), 2.0, f(2.0));
        assert!((xv - 1.3).abs() < 1e-12 && (yv - 5.0).abs() < 1e-12);
    }

    #[test]
    fn tracks_a_200_hz_harmonic_complex() {
        let x = harmonic_complex(200.0, 0.5);
        let p = PitchTracker::new(FS).track(&x);
        assert_eq!(p.f0_hz.len(), frame_count(x.len(), 960, 160));
        assert_eq!(p.magnitudes[0].len(), 513);
        for &f in &p.f0_hz {
            assert!((f / 200.0 - 1.0).abs() < 0.01, "F0 {f}");
            // egf0.py gives 200.40376 Hz in every frame (the SHS grid's upward bias, §3 sanity).
            assert!((f - 200.403_763).abs() < 2e-3, "F0 {f}");
        }
    }

    #[test]
    fn silence_and_quiet_signals_are_unvoiced() {
        let tracker = PitchTracker::new(FS);
        assert!(tracker.track(&vec![0.0; 4000]).f0_hz.iter().all(|&f| f == 0.0));
        // A 200 Hz complex at 1/1000 of the level is below the energy gate (RMS ≤ 0.001).
        let quiet: Vec<f64> = harmonic_complex(200.0, 0.3).iter().map(|v| v * 1e-3).collect();
        assert!(tracker.track(&quiet).f0_hz.iter().all(|&f| f == 0.0));
        assert!(tracker.track(&vec![0.1; 500]).f0_hz.is_empty());
    }

    #[test]
    fn matches_the_numpy_port_on_a_glide() {
        // egf0.py (the numpy port verified against openSMILE) on a 0.6 s glide 120 → 180 Hz with 1/h
        // harmonics: mean voiced F0 of the tracked frames (see the report for the generator).
        let n = (0.6 * FS) as usize;
        let mut phase = 0.0;
        let x: Vec<f64> = (0..n)
            .map(|i| {
                let f = 120.0 + 60.0 * i as f64 / n as f64;
                phase += 2.0 * std::f64::consts::PI * f / FS;
                (1..=20).map(|h| (h as f64 * phase).sin() / h as f64).sum::<f64>() * 0.2
            })
            .collect();
        let p = PitchTracker::new(FS).track(&x);
        let voiced: Vec<f64> = p.f0_hz.iter().copied().filter(|&f| f > 0.0).collect();
        assert_eq!(p.f0_hz.len(), 55);
        assert_eq!(voiced.len(), p.f0_hz.len());
        let mean = voiced.iter().sum::<f64>() / voiced.len() as f64;
        assert!((mean - GLIDE_MEAN_F0).abs() < 0.05, "mean F0 {mean}");
    }

    /// egf0.f0_contour (numpy, float32 spectra) on the same signal: 55 frames, all voiced.
    const GLIDE_MEAN_F0: f64 = 150.238_908;
}
