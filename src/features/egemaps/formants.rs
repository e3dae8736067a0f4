//! Formants F1–F3 of eGeMAPS (docs/egemaps.md §7): openSMILE's cSpecResample → cLpc → cFormantLpc
//! chain on the 20 ms Hamming frames, with its two quirks kept for parity — the resampler's 3.4 kHz
//! band limit (it keeps only the first 220 packed FFT coefficients) and the sign-flipped polynomial
//! whose roots are taken as the formants. Ported from the numpy re-implementation that matched
//! openSMILE 3.0.1 (median 1.6e-5 relative).
//!
//! Root finder: Aberth–Ehrlich simultaneous iteration on the monic polynomial, then a Newton polish
//! of each root. It was chosen over companion-matrix QR because it is short, needs no balancing or
//! deflation bookkeeping, converges cubically for the simple roots LPC polynomials have, and keeps
//! complex conjugate pairs accurate; for degree 11 it is as accurate as eigenvalue methods.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner};

use super::{frame_count, hamming, samples, Spectrum, STEP_S};
use crate::util::lanes::dot;

/// 20 ms analysis frames (§1).
const FRAME_S: f64 = 0.020;
/// cSpecResample targetFs (Hz).
const TARGET_FS: f64 = 11000.0;
/// cLpc p.
const LPC_ORDER: usize = 11;
/// cFormantLpc nFormants, minF, maxF.
const N_FORMANTS: usize = 5;
const MIN_F: f64 = 50.0;
const MAX_F: f64 = 5450.0;

/// F1–F3 of one 20 ms frame (docs/egemaps.md §7; openSMILE cFormantLpc).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Formants {
    /// F1–F3 centre frequency in Hz (F{1,2,3}frequency), 0 where missing.
    pub freq: [f64; 3],
    /// F1–F3 bandwidth −ln|z| · fs / π in Hz (F{1,2,3}bandwidth), 0 where missing.
    pub bandwidth: [f64; 3],
}

/// The formant tracker of §7, with the resampling kernel precomputed for one sample rate.
pub struct FormantTracker {
    spectrum: Spectrum,
    frame_len: usize,
    hop: usize,
    /// Output samples of the resampler (220 at 16 kHz).
    n_out: usize,
    /// Highest FFT bin the resampler keeps (109 at 16 kHz).
    k_top: usize,
    /// The inverse real FFT of the resampler's period nI (352 at 16 kHz).
    inverse: Arc<dyn ComplexToReal<f64>>,
    /// Scale of the inverse transform: 1 / (n_fft / 2).
    scale: f64,
}

impl FormantTracker {
    pub fn new(fs: f64) -> FormantTracker {
        let frame_len = samples(FRAME_S, fs).max(2);
        let hop = samples(STEP_S, fs).max(1);
        let n_fft = frame_len.next_power_of_two();
        let spectrum = Spectrum::new(hamming(frame_len), n_fft);
        // **QUIRK** (cSpecResample): nI = n_fft · 11000 / fs is the "period" of the inverse DFT, but only
        // Nout = frame length · 11000 / fs outputs are produced and only min(n_fft, Nout) packed
        // coefficients (DC plus bins 1 .. Nout/2 − 1) are used: a 3.4 kHz band limit at 16 kHz, and
        // the LPC sees the first 320 samples of the padded buffer (96 zeros + 224 windowed samples).
        let ratio = TARGET_FS / fs;
        let n_period = ((n_fft as f64 * ratio).round() as usize).max(1);
        let n_out = ((frame_len as f64 * ratio).round() as usize).max(LPC_ORDER + 1);
        let k_max = n_fft.min(n_out);
        let k_top = (k_max / 2).saturating_sub(1).min(n_fft / 2 - 1);
        let n_period = n_period.max(n_out);
        let k_top = k_top.min((n_period - 1) / 2);
        let inverse = RealFftPlanner::<f64>::new().plan_fft_inverse(n_period);
        let scale = 2.0 / n_fft as f64;
        FormantTracker { spectrum, frame_len, hop, n_out, k_top, inverse, scale }
    }

    /// One per 20 ms Hamming frame: frame_count(n, 0.020 fs, 0.010 fs).
    pub fn track(&self, x: &[f64]) -> Vec<Formants> {
        let n = frame_count(x.len(), self.frame_len, self.hop);
        let (mut fft, mut state) = (self.spectrum.buffers(), self.state());
        (0..n)
            .map(|i| {
                let frame = &x[i * self.hop..i * self.hop + self.frame_len];
                self.of_spectrum(self.spectrum.complex_in(frame, &mut fft), &mut state)
            })
            .collect()
    }

    /// Whether frames of `frame_len` samples every `hop` through `spectrum` are this tracker's, so
    /// that their spectra can be shared (the spectral descriptors' 20 ms frames are).
    pub fn frames_like(&self, frame_len: usize, hop: usize, spectrum: &Spectrum) -> bool {
        (frame_len, hop, spectrum.n_fft) == (self.frame_len, self.hop, self.spectrum.n_fft)
            && spectrum.window == self.spectrum.window
    }

    /// The state a frame loop carries: see [`FormantState`].
    pub fn state(&self) -> FormantState {
        FormantState {
            warm: Vec::new(),
            half: self.inverse.make_input_vec(),
            y: self.inverse.make_output_vec(),
            scratch: self.inverse.make_scratch_vec(),
        }
    }

    /// F1–F3 of one frame from its complex spectrum through this tracker's window and FFT, the
    /// frames in order (`state` carries the previous frame's roots).
    #[inline(always)]
    pub fn of_spectrum(&self, spec: &[Complex<f64>], state: &mut FormantState) -> Formants {
        self.resample(spec, state);
        formants_of(&state.y[..self.n_out], &mut state.warm)
    }

    /// The band-limited 11 kHz signal the LPC analyses, into `state.y[..n_out]`.
    fn resample(&self, spec: &[Complex<f64>], state: &mut FormantState) {
        // y[i] = Re0 + Σ_{k=1}^{k_top} (Re_k cos θ − Im_k sin θ), θ = 2π k i / nI (Ooura's packed
        // imaginary part is −Im of realfft's): the inverse real FFT of length nI of (Re0, X_k / 2, 0…),
        // of which the first n_out samples are kept.
        let half = &mut state.half;
        half[0] = Complex::new(spec[0].re, 0.0);
        for (h, c) in half.iter_mut().zip(spec).skip(1).take(self.k_top) {
            *h = c * 0.5;
        }
        // The transform overwrites its input, so the zeros above k_top are written every frame.
        half[self.k_top + 1..].fill(Complex::new(0.0, 0.0));
        // Lengths match by construction, so the FFT cannot fail.
        let _ = self.inverse.process_with_scratch(half, &mut state.y, &mut state.scratch);
        state.y[..self.n_out].iter_mut().for_each(|v| *v *= self.scale);
    }
}

/// What a formant frame loop carries from frame to frame: the previous frame's roots (where the next
/// root search starts) and the resampler's buffers.
pub struct FormantState {
    warm: Vec<Complex<f64>>,
    half: Vec<Complex<f64>>,
    y: Vec<f64>,
    scratch: Vec<Complex<f64>>,
}

/// Autocorrelation r[0..=p] (no window), as cLpc method=acf.
pub(super) fn autocorrelation(y: &[f64], p: usize) -> Vec<f64> {
    (0..=p).map(|l| if l < y.len() { dot(y, &y[l..]) } else { 0.0 }).collect()
}

/// Levinson–Durbin: A(z) = 1 + Σ a_i z^−i (a[0] = 1) from r[0..=p]; stops early (higher a_i = 0)
/// if the prediction error vanishes.
pub(super) fn levinson(r: &[f64], p: usize) -> Vec<f64> {
    let mut a = vec![0.0; p + 1];
    a[0] = 1.0;
    let mut prev = a.clone();
    let mut e = r.first().copied().unwrap_or(0.0);
    for m in 1..=p.min(r.len().saturating_sub(1)) {
        if e <= 0.0 {
            break;
        }
        let acc: f64 = r[m] + (1..m).map(|j| a[j] * r[m - j]).sum::<f64>();
        let k = -acc / e;
        prev.copy_from_slice(&a);
        for j in 1..=m {
            a[j] = prev[j] + k * prev[m - j];
        }
        e *= 1.0 - k * k;
    }
    a
}

/// F1–F3 from one resampled frame: LPC, roots of the sign-flipped polynomial, frequency filter, sort.
/// `warm` holds the previous frame's roots (the root search's start) and receives this frame's.
fn formants_of(y: &[f64], warm: &mut Vec<Complex<f64>>) -> Formants {
    let r = autocorrelation(y, LPC_ORDER);
    if r[0].is_nan() || r[0] <= 0.0 {
        return Formants::default();
    }
    let a = levinson(&r, LPC_ORDER);
    // **QUIRK** (cFormantLpc): the polynomial solved is lpc[i] = −a[p − i] (ascending), lpc[p] = 1,
    // i.e. z^p − a1 z^(p−1) − … − a_p, not A(z).
    let mut poly = vec![0.0; LPC_ORDER + 1];
    for (i, c) in poly.iter_mut().enumerate().take(LPC_ORDER) {
        *c = -a[LPC_ORDER - i];
    }
    poly[LPC_ORDER] = 1.0;
    let mut cands: Vec<(f64, f64)> = Vec::with_capacity(N_FORMANTS);
    *warm = poly_roots(&poly, warm);
    for &z in warm.iter() {
        // Roots outside the unit circle are reflected inside (1 / conj z).
        let z = if z.norm_sqr() > 1.0 { z / z.norm_sqr() } else { z };
        if z.im < 0.0 {
            continue;
        }
        let f = z.im.atan2(z.re).abs() * TARGET_FS / (2.0 * std::f64::consts::PI);
        if (MIN_F..=MAX_F).contains(&f) && cands.len() < N_FORMANTS {
            cands.push((f, -0.5 * z.norm_sqr().ln() * TARGET_FS / std::f64::consts::PI));
        }
    }
    cands.sort_by(|p, q| p.0.total_cmp(&q.0));
    let mut out = Formants::default();
    for (k, &(f, b)) in cands.iter().take(3).enumerate() {
        out.freq[k] = f;
        out.bandwidth[k] = b;
    }
    out
}

/// p(z) and p'(z) by Horner, coefficients ascending.
fn horner(c: &[f64], z: Complex<f64>) -> (Complex<f64>, Complex<f64>) {
    let n = c.len() - 1;
    let mut p = Complex::new(c[n], 0.0);
    let mut dp = Complex::new(0.0, 0.0);
    for i in (0..n).rev() {
        dp = dp * z + p;
        p = p * z + c[i];
    }
    (p, dp)
}

/// All complex roots of the real polynomial Σ c_i z^i (ascending coefficients) by Aberth–Ehrlich
/// iteration plus a Newton polish. Zero roots are split off exactly; the order is the solver's.
/// `start`, when it holds as many values as there are nonzero roots (a neighbouring frame's roots),
/// is where the iteration starts; if that does not converge quickly it restarts from the circle.
pub(crate) fn poly_roots(coeffs: &[f64], start: &[Complex<f64>]) -> Vec<Complex<f64>> {
    let mut c: Vec<f64> = coeffs.to_vec();
    while c.len() > 1 && c[c.len() - 1] == 0.0 {
        c.pop();
    }
    let mut roots = Vec::new();
    while c.len() > 1 && c[0] == 0.0 {
        roots.push(Complex::new(0.0, 0.0));
        c.remove(0);
    }
    let n = c.len().saturating_sub(1);
    if n == 0 || c.iter().any(|v| !v.is_finite()) {
        return roots;
    }
    let lead = c[n];
    let b: Vec<f64> = c.iter().map(|v| v / lead).collect();
    let warm = start.len() == n && start.iter().all(|z| z.re.is_finite() && z.im.is_finite() && z.norm_sqr() > 0.0);
    let mut z: Vec<Complex<f64>> = Vec::new();
    if warm {
        // Rotated by distinct tiny angles: a conjugate-symmetric start stays symmetric under the
        // iteration, and a pair could then never split into two real roots.
        z = start.iter().enumerate().map(|(k, s)| s * Complex::from_polar(1.0, 1e-6 * (k + 1) as f64)).collect();
    }
    if !warm || !aberth(&b, &mut z, 30) {
        // Start on a circle of the roots' geometric-mean radius, rotated off the real axis so that no
        // two starting points are conjugates (the iteration would keep them symmetric).
        let radius = b[0].abs().powf(1.0 / n as f64);
        z = (0..n)
            .map(|k| Complex::from_polar(radius, 2.0 * std::f64::consts::PI * k as f64 / n as f64 + 0.4))
            .collect();
        aberth(&b, &mut z, 500);
    }
    // Newton polish on the original polynomial, kept only where it lowers |p|.
    for zk in z.iter_mut() {
        for _ in 0..3 {
            let (p, dp) = horner(&c, *zk);
            if dp.norm_sqr() == 0.0 {
                break;
            }
            let next = *zk - p / dp;
            if horner(&c, next).0.norm_sqr() < p.norm_sqr() {
                *zk = next;
            } else {
                break;
            }
        }
    }
    roots.extend(z);
    roots
}

/// Aberth–Ehrlich iteration on the monic polynomial `b` (ascending) from `z`, at most `iterations`
/// sweeps; whether every root's relative step fell below 1e-8 (convergence is cubic, so the root is
/// then good to far more digits, and the Newton polish takes the rest). A root whose step fell below
/// that is not moved again (the others still see it), so a sweep costs only the unconverged roots.
fn aberth(b: &[f64], z: &mut [Complex<f64>], iterations: usize) -> bool {
    let n = z.len();
    let mut done = vec![false; n];
    for _ in 0..iterations {
        let mut all_done = true;
        for k in 0..n {
            if done[k] {
                continue;
            }
            let (p, dp) = horner(b, z[k]);
            if p.norm_sqr() == 0.0 {
                done[k] = true;
                continue;
            }
            if dp.norm_sqr() == 0.0 {
                // A stationary point: nudge off it.
                z[k] = z[k] * Complex::new(1.0, 1e-7) + Complex::new(1e-9, 1e-9);
                all_done = false;
                continue;
            }
            let ratio = p / dp;
            let mut s = Complex::new(0.0, 0.0);
            for j in 0..n {
                let d = z[k] - z[j];
                let d2 = d.norm_sqr();
                if j != k && d2 > 0.0 {
                    // 1 / d as conj(d) / |d|², one division instead of num-complex's two.
                    s += d.conj() * (1.0 / d2);
                }
            }
            let w = ratio / (Complex::new(1.0, 0.0) - ratio * s);
            if w.re.is_finite() && w.im.is_finite() {
                z[k] -= w;
                // Squared, relative: no square roots in the inner loop.
                done[k] = w.norm_sqr() / z[k].norm_sqr().max(1.0) < 1e-16;
            }
            all_done &= done[k];
        }
        if all_done {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn has_root(roots: &[Complex<f64>], re: f64, im: f64, tol: f64) -> bool {
        roots.iter().any(|z| (z - Complex::new(re, im)).norm() < tol)
    }

    #[test]
    fn root_finder_on_known_polynomials() {
        // (z − 0.5)(z + 0.3)(z² − 1.2z + 0.72): z⁴ − 1.4z³ + 0.81z² + 0.036z − 0.108.
        let coeffs = expand(&[(0.5, 0.0), (-0.3, 0.0), (0.6, 0.6), (0.6, -0.6)]);
        let r = poly_roots(&coeffs, &[]);
        assert_eq!(r.len(), 4);
        for (re, im) in [(0.5, 0.0), (-0.3, 0.0), (0.6, 0.6), (0.6, -0.6)] {
            assert!(has_root(&r, re, im, 1e-10), "{r:?}");
        }
        // Degree 11 with roots inside and outside the unit circle, plus exact zero roots.
        let want = [
            (0.9, 0.2),
            (0.9, -0.2),
            (-0.7, 0.5),
            (-0.7, -0.5),
            (0.1, 0.95),
            (0.1, -0.95),
            (1.5, 0.0),
            (-0.2, 0.0),
            (0.3, 0.0),
            (0.0, 1.2),
            (0.0, -1.2),
        ];
        let r = poly_roots(&expand(&want), &[]);
        assert_eq!(r.len(), 11);
        for (re, im) in want {
            assert!(has_root(&r, re, im, 1e-8), "({re}, {im}) not in {r:?}");
        }
        let mut with_zero = vec![0.0, 0.0];
        with_zero.extend(expand(&[(2.0, 0.0), (3.0, 0.0)]));
        let r = poly_roots(&with_zero, &[]);
        assert_eq!(r.len(), 4);
        assert!(has_root(&r, 0.0, 0.0, 1e-300) && has_root(&r, 2.0, 0.0, 1e-10) && has_root(&r, 3.0, 0.0, 1e-10));
    }

    /// Real coefficients (ascending) of Π (z − r) for roots given as (re, im) with conjugates listed.
    fn expand(roots: &[(f64, f64)]) -> Vec<f64> {
        let mut c = vec![Complex::new(1.0, 0.0)];
        for &(re, im) in roots {
            let r = Complex::new(re, im);
            let mut next = vec![Complex::new(0.0, 0.0); c.len() + 1];
            for (i, &ci) in c.iter().enumerate() {
                next[i + 1] += ci;
                next[i] -= ci * r;
            }
            c = next;
        }
        c.iter().map(|v| v.re).collect()
    }

    #[test]
    fn lpc_finds_an_ar2_resonance() {
        // x[n] = 2 ρ cos θ x[n−1] − ρ² x[n−2] + e[n], ρ = 0.95, θ = 2π · 1000 / 16000.
        let (rho, theta) = (0.95f64, 2.0 * std::f64::consts::PI * 1000.0 / 16000.0);
        let (a1, a2) = (-2.0 * rho * theta.cos(), rho * rho);
        let mut rng = Rng::new(3);
        let mut x = vec![0.0; 40000];
        for n in 2..x.len() {
            x[n] = -a1 * x[n - 1] - a2 * x[n - 2] + rng.uniform() - 0.5;
        }
        let a = levinson(&autocorrelation(&x, 2), 2);
        assert!((a[1] - a1).abs() < 0.02 && (a[2] - a2).abs() < 0.02, "{a:?}");
        let roots = poly_roots(&[a[2], a[1], 1.0], &[]);
        let f =
            roots.iter().map(|z| z.im.atan2(z.re).abs() * 16000.0 / (2.0 * std::f64::consts::PI)).fold(0.0, f64::max);
        assert!((f - 1000.0).abs() < 20.0, "{f}");
        // Higher orders of an AR(2) process add (almost) nothing.
        let a4 = levinson(&autocorrelation(&x, 4), 4);
        assert!(a4[3].abs() < 0.03 && a4[4].abs() < 0.03, "{a4:?}");
    }

    #[test]
    fn formants_of_a_synthetic_frame_match_numpy() {
        // Sum of three sines (numpy port of §7, verify_formants.py's '220 sym flip' path, frame 0 and 5).
        let fs = 16000.0;
        let x: Vec<f64> = (0..2000)
            .map(|n| {
                let t = n as f64 / fs;
                let w = 2.0 * std::f64::consts::PI;
                0.3 * (w * 500.0 * t).sin() + 0.2 * (w * 1500.0 * t + 0.3).sin() + 0.1 * (w * 2500.0 * t + 1.1).sin()
            })
            .collect();
        let tracker = FormantTracker::new(fs);
        let f = tracker.track(&x);
        assert_eq!(f.len(), frame_count(2000, 320, 160));
        for (got, (freq, bw)) in [f[0], f[5]].iter().zip(NUMPY_FORMANTS) {
            for k in 0..3 {
                assert!((got.freq[k] - freq[k]).abs() < 1e-3 * freq[k].max(1.0), "{got:?} vs {freq:?}");
                assert!((got.bandwidth[k] - bw[k]).abs() < 1e-3 * bw[k].abs().max(1.0), "{got:?} vs {bw:?}");
            }
        }
        assert!(tracker.track(&vec![0.0; 1000]).iter().all(|f| *f == Formants::default()));
        assert!(tracker.track(&[0.0; 100]).is_empty());
    }

    /// (freq, bandwidth) of frames 0 and 5, from numpy (np.roots on the flipped polynomial).
    const NUMPY_FORMANTS: [([f64; 3], [f64; 3]); 2] = [
        (
            [198.04089683585354, 1257.7592329231968, 2339.7706705039946],
            [1389.8471791576255, 784.7112828323939, 616.1876286096629],
        ),
        (
            [198.04089683246553, 1257.7592329228603, 2339.770670504331],
            [1389.847179161522, 784.7112828327499, 616.1876286094065],
        ),
    ];
}
