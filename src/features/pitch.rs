//! F0 by YIN (de Cheveigné & Kawahara, 2002): the cumulative-mean-normalised difference function, an
//! absolute threshold for voicing, and parabolic interpolation of the chosen lag. The difference
//! function is computed as two energies minus twice a cross-correlation, the latter by FFT, which makes
//! a frame O(N log N) instead of O(window × lags).

use realfft::RealFftPlanner;

/// Settings of the F0 tracker.
#[derive(Debug, Clone, Copy)]
pub struct Yin {
    pub sample_rate: u32,
    pub fmin_hz: f64,
    pub fmax_hz: f64,
    pub hop: usize,
    /// Voicing threshold on the normalised difference (0.1 in the paper; librosa's pyin uses a range).
    pub threshold: f64,
}

impl Yin {
    pub fn new(sample_rate: u32) -> Yin {
        Yin { sample_rate, fmin_hz: 60.0, fmax_hz: 500.0, hop: (sample_rate / 100) as usize, threshold: 0.1 }
    }

    fn max_lag(&self) -> usize {
        (self.sample_rate as f64 / self.fmin_hz).ceil() as usize
    }

    /// Integration window: long enough for two periods of the lowest F0.
    fn window(&self) -> usize {
        2 * self.max_lag()
    }

    /// F0 in Hz per frame (frame t starts at t·hop), None where the frame is unvoiced.
    pub fn track(&self, x: &[f32]) -> Vec<Option<f64>> {
        let (w, max_lag) = (self.window(), self.max_lag());
        let min_lag = ((self.sample_rate as f64 / self.fmax_hz).floor() as usize).max(2);
        if x.len() < w + max_lag + 1 {
            return Vec::new();
        }
        let n_frames = (x.len() - w - max_lag - 1) / self.hop + 1;
        // Prefix sums of squares (f64) give every window energy Σ x²[i..i+w) at once, for every frame.
        let mut sq = Vec::with_capacity(x.len() + 1);
        sq.push(0.0f64);
        for &v in x {
            sq.push(sq.last().unwrap() + (v as f64) * (v as f64));
        }
        // Linear (not circular) correlation for lags up to max_lag + 1 needs n ≥ w + max_lag + 2. The FFTs
        // run in f32 (twice the speed of f64); their rounding is ~1e-7 of the frame energy, far below the
        // difference values the voicing threshold compares.
        let n = (w + max_lag + 2).next_power_of_two();
        let mut planner = RealFftPlanner::<f32>::new();
        let (fwd, inv) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
        let (mut a, mut b) = (fwd.make_input_vec(), fwd.make_input_vec());
        let (mut fa, mut fb) = (fwd.make_output_vec(), fwd.make_output_vec());
        let mut corr = inv.make_output_vec();
        let (mut fwd_scratch, mut inv_scratch) = (fwd.make_scratch_vec(), inv.make_scratch_vec());
        let mut d = vec![0f64; max_lag + 2];
        (0..n_frames)
            .map(|t| {
                let start = t * self.hop;
                let frame = &x[start..start + w + max_lag + 1];
                let energy = |from: usize| sq[start + from + w] - sq[start + from];
                let e0 = energy(0);
                // Silence has no pitch (and would make the normalisation 0/0).
                if e0 < 1e-8 * w as f64 {
                    return None;
                }
                // The transforms use their inputs as scratch: refill both, zero tails included.
                a[..w].copy_from_slice(&frame[..w]);
                a[w..].fill(0.0);
                b[..frame.len()].copy_from_slice(frame);
                b[frame.len()..].fill(0.0);
                fwd.process_with_scratch(&mut a, &mut fa, &mut fwd_scratch).expect("sizes from the plan");
                fwd.process_with_scratch(&mut b, &mut fb, &mut fwd_scratch).expect("sizes from the plan");
                for (p, q) in fa.iter_mut().zip(&fb) {
                    *p = p.conj() * q;
                }
                inv.process_with_scratch(&mut fa, &mut corr, &mut inv_scratch).expect("sizes from the plan");
                for tau in 1..max_lag + 2 {
                    let r = corr[tau] as f64 / n as f64;
                    d[tau] = (e0 + energy(tau) - 2.0 * r).max(0.0);
                }
                // Cumulative-mean-normalised difference, computed as the search walks up the lags.
                let mut running: f64 = d[1..min_lag].iter().sum();
                let cmnd = |tau: usize, running: f64| if running > 0.0 { d[tau] * tau as f64 / running } else { 1.0 };
                let mut tau = min_lag;
                while tau <= max_lag {
                    running += d[tau];
                    let here = cmnd(tau, running);
                    if here < self.threshold {
                        // Walk down to the local minimum.
                        let mut best = here;
                        while tau < max_lag {
                            let next = cmnd(tau + 1, running + d[tau + 1]);
                            if next >= best {
                                break;
                            }
                            running += d[tau + 1];
                            best = next;
                            tau += 1;
                        }
                        break;
                    }
                    tau += 1;
                }
                if tau > max_lag {
                    return None;
                }
                // Parabolic interpolation on the raw difference function.
                let (p, q, r) = (d[tau - 1], d[tau], d[tau + 1]);
                let denom = p - 2.0 * q + r;
                let shift = if denom.abs() > 1e-12 { (0.5 * (p - r) / denom).clamp(-1.0, 1.0) } else { 0.0 };
                Some(self.sample_rate as f64 / (tau as f64 + shift))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vowel-like tone: harmonics of f0 shaped by two formants, with a little noise.
    fn vowel(f0: f64, sr: u32, secs: f64) -> Vec<f32> {
        let mut rng = crate::rng::Rng::new(f0 as u64);
        let n = (secs * sr as f64) as usize;
        let harmonics: Vec<(f64, f64)> = (1..)
            .map(|k| k as f64 * f0)
            .take_while(|&f| f < sr as f64 / 2.0)
            .map(|f| (f, (-(f - 700.0).powi(2) / 8e4).exp() + 0.6 * (-(f - 1200.0).powi(2) / 1e5).exp() + 0.05))
            .collect();
        (0..n)
            .map(|i| {
                let t = i as f64 / sr as f64;
                (harmonics.iter().map(|(f, a)| a * (2.0 * std::f64::consts::PI * f * t).sin()).sum::<f64>() * 0.2
                    + 0.002 * rng.normal()) as f32
            })
            .collect()
    }

    #[test]
    fn f0_of_synthesised_vowels_is_within_two_percent() {
        let yin = Yin::new(16_000);
        for f0 in [80.0, 110.0, 150.0, 220.0, 300.0, 400.0] {
            let track = yin.track(&vowel(f0, 16_000, 1.0));
            let voiced: Vec<f64> = track.iter().flatten().copied().collect();
            assert!(
                voiced.len() as f64 >= 0.9 * track.len() as f64,
                "{f0} Hz: {} of {} voiced",
                voiced.len(),
                track.len()
            );
            for v in voiced {
                assert!((v - f0).abs() / f0 < 0.02, "{f0} Hz: frame at {v}");
            }
        }
    }

    #[test]
    fn silence_and_white_noise_are_unvoiced() {
        let yin = Yin::new(16_000);
        assert!(yin.track(&vec![0.0; 16_000]).iter().all(Option::is_none));
        let mut rng = crate::rng::Rng::new(3);
        let noise: Vec<f32> = (0..16_000).map(|_| (0.3 * rng.normal()) as f32).collect();
        let track = yin.track(&noise);
        let voiced = track.iter().filter(|v| v.is_some()).count();
        assert!(voiced * 10 < track.len(), "{voiced} of {} noise frames voiced", track.len());
    }
}
