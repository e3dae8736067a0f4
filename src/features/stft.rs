//! The short-time Fourier transform of the enhancement models and its inverse: a periodic Hann window of
//! 25 ms, hop 10 ms (400 / 160 samples at 16 kHz, the frames of the SE+SER recipe), FFT size = window,
//! centred frames with zero padding (as `LogMel`), and weighted overlap-add that divides by the summed
//! squared window, so `inverse(forward(x)) == x` wherever the window covers the signal.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

pub struct Stft {
    pub n_fft: usize,
    pub hop: usize,
    window: Vec<f32>,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
}

/// One analysed utterance: the complex frames (`frames × bins`) and the signal length.
pub struct Spectrum {
    pub frames: Vec<Vec<Complex32>>,
    pub len: usize,
}

impl Stft {
    /// The enhancement models' analysis at `rate`: 25 ms window, 10 ms hop.
    pub fn for_rate(rate: u32) -> Stft {
        let n_fft = (0.025 * rate as f64).round() as usize;
        Stft::new(n_fft, ((0.010 * rate as f64).round() as usize).max(1))
    }

    pub fn new(n_fft: usize, hop: usize) -> Stft {
        let window = (0..n_fft)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n_fft as f64).cos()) as f32)
            .collect();
        let mut planner = RealFftPlanner::<f32>::new();
        Stft { n_fft, hop, window, forward: planner.plan_fft_forward(n_fft), inverse: planner.plan_fft_inverse(n_fft) }
    }

    pub fn bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Frames of a signal of `len` samples.
    pub fn frame_count(&self, len: usize) -> usize {
        1 + len / self.hop
    }

    pub fn forward(&self, x: &[f32]) -> Spectrum {
        self.forward_frames(x, 0..self.frame_count(x.len()))
    }

    /// Only the frames in `range` (a training crop costs only its own frames); `len` stays the signal's.
    pub fn forward_frames(&self, x: &[f32], range: std::ops::Range<usize>) -> Spectrum {
        let pad = (self.n_fft / 2) as isize;
        let mut input = self.forward.make_input_vec();
        let mut scratch = self.forward.make_scratch_vec();
        let frames = range
            .map(|t| {
                let start = (t * self.hop) as isize - pad;
                for (i, v) in input.iter_mut().enumerate() {
                    let j = start + i as isize;
                    let s = if j >= 0 && (j as usize) < x.len() { x[j as usize] } else { 0.0 };
                    *v = s * self.window[i];
                }
                let mut out = self.forward.make_output_vec();
                self.forward
                    .process_with_scratch(&mut input, &mut out, &mut scratch)
                    .expect("sizes come from the plan");
                out
            })
            .collect();
        Spectrum { frames, len: x.len() }
    }

    /// Weighted overlap-add of the inverse FFT of each frame, normalised by the summed squared window.
    pub fn inverse(&self, spec: &Spectrum) -> Vec<f32> {
        let pad = self.n_fft / 2;
        let total = pad + spec.len + self.n_fft;
        let (mut acc, mut norm) = (vec![0f64; total], vec![0f64; total]);
        let mut buf = self.inverse.make_input_vec();
        let mut out = self.inverse.make_output_vec();
        let mut scratch = self.inverse.make_scratch_vec();
        for (t, frame) in spec.frames.iter().enumerate() {
            buf.copy_from_slice(frame);
            // A real signal's DC and Nyquist bins are real; realfft refuses anything else.
            buf[0].im = 0.0;
            if self.n_fft.is_multiple_of(2) {
                let last = buf.len() - 1;
                buf[last].im = 0.0;
            }
            self.inverse.process_with_scratch(&mut buf, &mut out, &mut scratch).expect("sizes come from the plan");
            let start = t * self.hop;
            for (i, (&v, &w)) in out.iter().zip(&self.window).enumerate() {
                if start + i < total {
                    acc[start + i] += v as f64 / self.n_fft as f64 * w as f64;
                    norm[start + i] += (w * w) as f64;
                }
            }
        }
        (0..spec.len)
            .map(|i| {
                let n = norm[i + pad];
                if n > 1e-8 {
                    (acc[i + pad] / n) as f32
                } else {
                    0.0
                }
            })
            .collect()
    }
}

/// log(1 + |X|) of every bin of every frame: the enhancement models' input and target. (`ln(1 + m)`
/// rather than `ln_1p`: several times faster, and exact enough at these magnitudes.)
pub fn log1p_magnitude(spec: &Spectrum) -> Vec<Vec<f32>> {
    spec.frames.iter().map(|f| f.iter().map(|c| (1.0 + c.norm_sqr().sqrt()).ln()).collect()).collect()
}

/// The spectrum with each bin's magnitude replaced by `expm1(log_mag)` and its phase kept: how an
/// estimated log1p magnitude becomes audio again.
pub fn with_magnitude(spec: &Spectrum, log_mag: &[Vec<f32>]) -> Spectrum {
    let frames = spec
        .frames
        .iter()
        .zip(log_mag)
        .map(|(f, m)| {
            f.iter()
                .zip(m)
                .map(|(c, &lm)| {
                    let mag = c.norm();
                    let target = lm.exp_m1().max(0.0);
                    if mag > 0.0 {
                        c * (target / mag)
                    } else {
                        Complex32::new(target, 0.0)
                    }
                })
                .collect()
        })
        .collect();
    Spectrum { frames, len: spec.len }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn inverse_of_forward_reconstructs_to_minus_80_db() {
        let mut rng = Rng::new(3);
        for (rate, len) in [(16_000u32, 16_000usize), (16_000, 12_345), (8_000, 999)] {
            let x: Vec<f32> = (0..len).map(|i| (0.3 * (i as f64 * 0.05).sin() + 0.2 * rng.normal()) as f32).collect();
            let stft = Stft::for_rate(rate);
            let spec = stft.forward(&x);
            assert_eq!(spec.frames[0].len(), stft.bins());
            let y = stft.inverse(&spec);
            let err: f64 = x.iter().zip(&y).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
            let sig: f64 = x.iter().map(|&a| (a as f64).powi(2)).sum();
            let db = 10.0 * (err / sig).log10();
            assert!(db < -80.0, "rate {rate}, len {len}: reconstruction error {db:.1} dB");
            // Keeping every magnitude is the identity too.
            let same = stft.inverse(&with_magnitude(&spec, &log1p_magnitude(&spec)));
            let err: f64 = x.iter().zip(&same).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
            assert!(10.0 * (err / sig).log10() < -60.0);
        }
        assert_eq!((Stft::for_rate(16_000).n_fft, Stft::for_rate(16_000).hop), (400, 160));
    }
}
