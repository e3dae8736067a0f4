//! The 20 ms Hamming-frame descriptors of eGeMAPS v02 (docs/egemaps.md §1, §8–§11): loudness,
//! alpha ratio, Hammarberg index, spectral slopes, spectral flux, MFCC 1–4, and the frame energies
//! of the equivalent sound level. Values are unsmoothed; `functionals::sma3` smooths them.

use realfft::num_complex::Complex;

use super::{frame_count, hamming, magnitudes, samples, Spectrum, STEP_S};
use crate::util::lanes;

/// Mel bands of the loudness / MFCC filterbank (§8, §10).
const N_MEL: usize = 26;
const MEL_LO_HZ: f64 = 20.0;
const MEL_HI_HZ: f64 = 8000.0;
/// cPlp's floor on band energies before the equal-loudness weighting (§8).
const PLP_FLOOR: f64 = 9.3e-10;
/// Stevens' power law exponent of cPlp (§8).
const PLP_COMPRESSION: f64 = 0.33;
/// htkcompatible=1 scales powers to int16 units before the log (§10).
const HTK_POWER_SCALE: f64 = 32767.0 * 32767.0;
/// cMfcc's cepLifter (§10).
const CEP_LIFTER: f64 = 22.0;
/// specFloor 1e-7 on magnitudes = 1e-14 on powers (§9).
const POWER_FLOOR: f64 = 1e-14;

/// The 20 ms Hamming-frame descriptors, one value per frame (frame_count(n, 0.020 fs, 0.010 fs) frames), unsmoothed.
pub struct SpectralFrames {
    pub loudness: Vec<f64>,
    pub alpha_ratio: Vec<f64>,
    pub hammarberg: Vec<f64>,
    pub slope_0_500: Vec<f64>,
    pub slope_500_1500: Vec<f64>,
    pub flux: Vec<f64>,
    pub mfcc: [Vec<f64>; 4],
    /// Mean of x² over each unwindowed frame (the equivalent sound level's input).
    pub energy: Vec<f64>,
}

/// One bin's contribution to one mel band: band += weight · P[bin].
struct MelTap {
    bin: usize,
    band: usize,
    weight: f64,
}

/// A least-squares band of the spectral slope: bins `lo..=hi` with openSMILE's N = hi − lo.
struct SlopeBand {
    lo: usize,
    hi: usize,
}

/// Everything that depends only on the sample rate, built once: the Hamming spectrum, the mel
/// filterbank, the equal-loudness weights, the liftered DCT rows and the band limits in bins.
pub struct SpectralAnalyser {
    pub(super) spectrum: Spectrum,
    pub(super) frame: usize,
    pub(super) hop: usize,
    /// Bin frequencies k · fs / n_fft, k = 0..=n_fft / 2.
    freqs: Vec<f64>,
    mel_taps: Vec<MelTap>,
    /// Hermansky's equal-loudness weight at each mel band's centre.
    equal_loudness: [f64; N_MEL],
    /// sqrt(2/26) cos(π i (m + ½)/26) · (1 + 11 sin(π i / 22)), i = 1..=4.
    dct: [[f64; N_MEL]; 4],
    slope_low: SlopeBand,
    slope_high: SlopeBand,
}

/// HTK mel scale 1127 ln(1 + f / 700).
fn mel(f: f64) -> f64 {
    1127.0 * (1.0 + f / 700.0).ln()
}

fn mel_to_hz(m: f64) -> f64 {
    700.0 * ((m / 1127.0).exp() - 1.0)
}

/// Hermansky's PLP equal-loudness curve (non-HTK variant of cPlp), f in Hz (§8).
fn equal_loudness(f: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * f;
    let w2 = w * w;
    let c = w2 + 6.3e6;
    1e32 * (w2 + 56.8e6) * w2 * w2 / (c * c * (w2 + 0.38e9) * (w2 * w2 * w2 * w + 1.7e31))
}

/// 10 log10(num / den), or 0 when either is not positive (openSMILE outputs 0 for digital silence).
fn ratio_db(num: f64, den: f64) -> f64 {
    if num > 0.0 && den > 0.0 {
        10.0 * (num / den).log10()
    } else {
        0.0
    }
}

impl SpectralAnalyser {
    pub fn new(fs: f64) -> SpectralAnalyser {
        // Half-up rounding: at 22.05 kHz openSMILE's hop is 221 samples (checked against opensmile).
        let frame = samples(0.020, fs).max(2);
        let hop = samples(STEP_S, fs).max(1);
        let n_fft = frame.next_power_of_two();
        let df = fs / n_fft as f64;
        let n_bins = n_fft / 2 + 1;
        let freqs: Vec<f64> = (0..n_bins).map(|k| k as f64 * df).collect();

        // HTK-style triangles: 28 edges equally spaced in mel from 20 Hz to 8 kHz; bins strictly
        // between round(lo / df) and round(hi / df) (verified at 16 kHz: 2..=255; 22.05 kHz: 1..=185).
        let mel_lo = mel(MEL_LO_HZ);
        let mel_step = (mel(MEL_HI_HZ) - mel_lo) / (N_MEL + 1) as f64;
        let edges: Vec<f64> = (0..N_MEL + 2).map(|m| mel_lo + m as f64 * mel_step).collect();
        let first_bin = (MEL_LO_HZ / df).round() as usize + 1;
        let end_bin = ((MEL_HI_HZ / df).round() as usize).min(n_bins);
        let mut mel_taps = Vec::new();
        for (bin, &f) in freqs.iter().enumerate().take(end_bin).skip(first_bin) {
            let m = mel(f);
            // k: the first edge ≥ m, so edges[k − 1] < m ≤ edges[k].
            let Some(k) = (1..edges.len()).find(|&k| edges[k] >= m && edges[k - 1] < m) else {
                continue;
            };
            let w = (edges[k] - m) / (edges[k] - edges[k - 1]);
            if k >= 2 {
                mel_taps.push(MelTap { bin, band: k - 2, weight: w });
            }
            if k - 1 < N_MEL {
                mel_taps.push(MelTap { bin, band: k - 1, weight: 1.0 - w });
            }
        }

        let mut equal = [0.0; N_MEL];
        for (m, e) in equal.iter_mut().enumerate() {
            // Band m's centre is edge m + 1.
            *e = equal_loudness(mel_to_hz(edges[m + 1]));
        }

        let mut dct = [[0.0; N_MEL]; 4];
        for (row, coeffs) in dct.iter_mut().enumerate() {
            let i = (row + 1) as f64;
            let lifter = 1.0 + CEP_LIFTER / 2.0 * (std::f64::consts::PI * i / CEP_LIFTER).sin();
            for (m, c) in coeffs.iter_mut().enumerate() {
                let arg = std::f64::consts::PI * i * (m as f64 + 0.5) / N_MEL as f64;
                *c = (2.0 / N_MEL as f64).sqrt() * arg.cos() * lifter;
            }
        }

        // Slope bands in bins, both ends included. Exact at 16 kHz (0..=16, 16..=48); at other
        // rates openSMILE weights the edge bins in a way not reproduced here (docs/egemaps.md §9).
        let bin_of = |f: f64| ((f / df).round() as usize).min(n_bins - 1);
        let slope_low = SlopeBand { lo: bin_of(0.0), hi: bin_of(500.0) };
        let slope_high = SlopeBand { lo: bin_of(500.0), hi: bin_of(1500.0) };

        SpectralAnalyser {
            spectrum: Spectrum::new(hamming(frame), n_fft),
            frame,
            hop,
            freqs,
            mel_taps: {
                // Band by band, stably: bins stay in order within a band (mel_bands' summation order).
                mel_taps.sort_by_key(|t| t.band);
                mel_taps
            },
            equal_loudness: equal,
            dct,
            slope_low,
            slope_high,
        }
    }

    /// All descriptors of `x` (openSMILE scale, q / 32767), one value per complete 20 ms frame.
    pub fn frames(&self, x: &[f64]) -> SpectralFrames {
        self.frames_with(x, |_, _| {})
    }

    /// [`SpectralAnalyser::frames`], handing each frame's complex spectrum (Hamming window, zero
    /// padded) to `each` with the frame's index: the formant tracker analyses the same frames.
    #[inline(always)]
    pub fn frames_with(&self, x: &[f64], mut each: impl FnMut(usize, &[Complex<f64>])) -> SpectralFrames {
        let n = frame_count(x.len(), self.frame, self.hop);
        let mut out = SpectralFrames {
            loudness: Vec::with_capacity(n),
            alpha_ratio: Vec::with_capacity(n),
            hammarberg: Vec::with_capacity(n),
            slope_0_500: Vec::with_capacity(n),
            slope_500_1500: Vec::with_capacity(n),
            flux: Vec::with_capacity(n),
            mfcc: std::array::from_fn(|_| Vec::with_capacity(n)),
            energy: Vec::with_capacity(n),
        };
        let mut previous: Option<Vec<f64>> = None;
        let mut fft = self.spectrum.buffers();
        for t in 0..n {
            let frame = &x[t * self.hop..t * self.hop + self.frame];
            let spec = self.spectrum.complex_in(frame, &mut fft);
            each(t, spec);
            let mags = magnitudes(spec);
            let power: Vec<f64> = mags.iter().map(|m| m * m).collect();

            let bands = self.mel_bands(&power);
            out.loudness.push(self.loudness(&bands));
            let mfcc = self.mfcc(&bands);
            for (series, value) in out.mfcc.iter_mut().zip(mfcc) {
                series.push(value);
            }
            out.alpha_ratio.push(self.alpha_ratio(&power));
            out.hammarberg.push(self.hammarberg(&power));
            out.slope_0_500.push(self.slope(&power, &self.slope_low));
            out.slope_500_1500.push(self.slope(&power, &self.slope_high));
            out.flux.push(match &previous {
                Some(prev) => self.flux(prev, &mags),
                None => 0.0,
            });
            out.energy.push(lanes::dot(frame, frame) / frame.len() as f64);
            previous = Some(mags);
        }
        out
    }

    /// The 26 mel band powers (no int16 scaling) of a power spectrum; docs/egemaps.md §8; openSMILE cMelspec.
    fn mel_bands(&self, power: &[f64]) -> [f64; N_MEL] {
        let mut bands = [0.0; N_MEL];
        // The taps go band by band (bins in order within each), so a band's sum stays in a register
        // instead of being stored and reloaded for every tap.
        for taps in self.mel_taps.chunk_by(|a, b| a.band == b.band) {
            let mut sum = 0.0;
            for tap in taps {
                sum += tap.weight * power[tap.bin];
            }
            bands[taps[0].band] = sum;
        }
        bands
    }

    /// Loudness: mean over bands of (max(E, 9.3e-10) · eql)^0.33; docs/egemaps.md §8; openSMILE cPlp + cVectorOperation.
    /// The floor makes digital silence 0.00103…, not 0.
    fn loudness(&self, bands: &[f64; N_MEL]) -> f64 {
        let sum: f64 =
            bands.iter().zip(&self.equal_loudness).map(|(e, w)| (e.max(PLP_FLOOR) * w).powf(PLP_COMPRESSION)).sum();
        sum / N_MEL as f64
    }

    /// MFCC 1–4: liftered DCT-II of ln(max(32767² E, 1)); docs/egemaps.md §10; openSMILE cMfcc (htkcompatible).
    fn mfcc(&self, bands: &[f64; N_MEL]) -> [f64; 4] {
        // htkcompatible: int16-scale powers and a melfloor of 1, so silence gives exactly 0.
        let log_e: Vec<f64> = bands.iter().map(|e| (e * HTK_POWER_SCALE).max(1.0).ln()).collect();
        self.dct.map(|row| row.iter().zip(&log_e).map(|(c, l)| c * l).sum::<f64>())
    }

    /// Alpha ratio: 10 log10(Σ P over 1–5 kHz / Σ P below 1 kHz) in dB; docs/egemaps.md §9; openSMILE cSpectral.
    /// The low band starts at DC. High over low (openSMILE's LLDs confirm this orientation; §9's
    /// formula text has it inverted). 0 when either sum is 0.
    fn alpha_ratio(&self, power: &[f64]) -> f64 {
        let mut low = 0.0;
        let mut high = 0.0;
        for (p, &f) in power.iter().zip(&self.freqs) {
            if f < 1000.0 {
                low += p;
            } else if f <= 5000.0 {
                high += p;
            }
        }
        ratio_db(high, low)
    }

    /// Hammarberg index: 10 log10(max P below 2 kHz / max P over 2–5 kHz); docs/egemaps.md §9; openSMILE cSpectral.
    /// 0 when either maximum is 0 (digital silence).
    fn hammarberg(&self, power: &[f64]) -> f64 {
        let mut low = 0.0_f64;
        let mut high = 0.0_f64;
        for (&p, &f) in power.iter().zip(&self.freqs) {
            if f < 2000.0 {
                low = low.max(p);
            } else if f <= 5000.0 {
                high = high.max(p);
            }
        }
        ratio_db(low, high)
    }

    /// Spectral slope (dB/Hz) of 10 log10(max(P, 1e-14)) over a band; docs/egemaps.md §9; openSMILE cSpectral.
    fn slope(&self, power: &[f64], band: &SlopeBand) -> f64 {
        let (mut sf, mut sff, mut sy, mut sfy) = (0.0, 0.0, 0.0, 0.0);
        for (&f, &p) in self.freqs[band.lo..=band.hi].iter().zip(&power[band.lo..=band.hi]) {
            let y = 10.0 * p.max(POWER_FLOOR).log10();
            sf += f;
            sff += f * f;
            sy += y;
            sfy += f * y;
        }
        // QUIRK: openSMILE's N is hi − lo, one less than the number of points summed (which is
        // why digital silence, a flat −140 dB, has a positive slope: 0.112 dB/Hz over 0–500 Hz).
        let n = (band.hi - band.lo) as f64;
        let den = n * sff - sf * sf;
        if den == 0.0 {
            0.0
        } else {
            (n * sfy - sf * sy) / den
        }
    }

    /// Spectral flux: RMS difference of magnitudes (not powers) below 5 kHz between consecutive frames,
    /// unnormalised; docs/egemaps.md §9; openSMILE cSpectral (normBandEnergies has no effect in code).
    fn flux(&self, previous: &[f64], current: &[f64]) -> f64 {
        let mut sum = 0.0;
        let mut count = 0usize;
        for ((a, b), &f) in current.iter().zip(previous).zip(&self.freqs) {
            if f < 5000.0 {
                sum += (a - b) * (a - b);
                count += 1;
            }
        }
        if count == 0 {
            0.0
        } else {
            (sum / count as f64).sqrt()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FS: f64 = 16000.0;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-12)
    }

    /// 640 samples, 3 frames: 0.3 sin(440 Hz) + 0.1 sin(2.5 kHz + 0.3) + 0.05 cos(90 Hz)·n/640.
    fn test_signal() -> Vec<f64> {
        let tau = 2.0 * std::f64::consts::PI;
        (0..640)
            .map(|i| {
                let n = i as f64;
                0.3 * (tau * 440.0 * n / FS).sin()
                    + 0.1 * (tau * 2500.0 * n / FS + 0.3).sin()
                    + 0.05 * (tau * 90.0 * n / FS).cos() * (n / 640.0)
            })
            .collect()
    }

    fn sine(f: f64, amp: f64, n: usize) -> Vec<f64> {
        (0..n).map(|i| amp * (2.0 * std::f64::consts::PI * f * i as f64 / FS).sin()).collect()
    }

    #[test]
    fn frame_sizes_follow_the_sample_rate() {
        let a = SpectralAnalyser::new(16000.0);
        assert_eq!((a.frame, a.hop, a.spectrum.n_fft), (320, 160, 512));
        assert_eq!(a.freqs.len(), 257);
        let b = SpectralAnalyser::new(22050.0);
        assert_eq!((b.frame, b.hop, b.spectrum.n_fft), (441, 221, 512));
        assert_eq!(a.frames(&vec![0.0; 16000]).loudness.len(), 99);
        assert!(a.frames(&[0.0; 100]).loudness.is_empty());
    }

    #[test]
    fn mel_filterbank_covers_bins_2_to_255() {
        let a = SpectralAnalyser::new(FS);
        let first = a.mel_taps.iter().map(|t| t.bin).min();
        let last = a.mel_taps.iter().map(|t| t.bin).max();
        assert_eq!((first, last), (Some(2), Some(255)));
        assert!(a.mel_taps.iter().all(|t| t.band < N_MEL && (0.0..=1.0).contains(&t.weight)));
    }

    #[test]
    fn digital_silence() {
        let f = SpectralAnalyser::new(FS).frames(&vec![0.0; 960]);
        assert_eq!(f.loudness.len(), 5);
        // numpy: mean((9.3e-10 · eql(f_m))^0.33); openSMILE prints 0.0010339657.
        assert!(f.loudness.iter().all(|&l| close(l, 0.0010339658542717512, 1e-12)));
        assert!(f.alpha_ratio.iter().chain(&f.hammarberg).chain(&f.flux).chain(&f.energy).all(|&v| v == 0.0));
        assert!(f.mfcc.iter().flatten().all(|&v| v == 0.0));
        // Constant −140 dB with N one short: 140 Σf / (N Σf² − (Σf)²) = 0.112 (openSMILE: 0.11200001).
        assert!(f.slope_0_500.iter().all(|&s| close(s, 0.112, 1e-12)));
        assert!(f.slope_500_1500.iter().all(|&s| close(s, 0.07636363636363636, 1e-9)));
    }

    #[test]
    fn sine_energy_lands_in_the_expected_band() {
        let a = SpectralAnalyser::new(FS);
        let low = a.frames(&sine(500.0, 0.5, 320));
        let high = a.frames(&sine(3000.0, 0.5, 320));
        // numpy: −47.362 / 48.126 dB (alpha), 64.652 / −52.501 dB (Hammarberg).
        assert!(close(low.alpha_ratio[0], -47.36222246635756, 1e-8));
        assert!(close(high.alpha_ratio[0], 48.125808879412865, 1e-8));
        assert!(close(low.hammarberg[0], 64.65237806888884, 1e-8));
        assert!(close(high.hammarberg[0], -52.50098807385336, 1e-8));
    }

    #[test]
    fn matches_numpy_on_a_mixture() {
        // Expected values: numpy f64 port of docs/egemaps.md §8–§11 (the one verified against openSMILE).
        let f = SpectralAnalyser::new(FS).frames(&test_signal());
        let tol = 1e-8;
        let expect = |got: &[f64], want: [f64; 3], name: &str| {
            assert_eq!(got.len(), 3, "{name}");
            for (g, w) in got.iter().zip(want) {
                // close() is relative; the first flux value is exactly 0.
                assert!(close(*g, w, tol) || (*g == 0.0 && w == 0.0), "{name}: {g} vs {w}");
            }
        };
        expect(&f.loudness, [1.169269781274068, 1.186976408015803, 1.203799024057873], "loudness");
        expect(&f.alpha_ratio, [-9.54665984164697, -9.567774737719494, -9.604652154379107], "alpha");
        expect(&f.hammarberg, [9.507990867340311, 9.509994839114954, 9.509919831417701], "hammarberg");
        expect(&f.slope_0_500, [0.07691200909981352, 0.08778513256652314, 0.058092844695305464], "slope0-500");
        expect(
            &f.slope_500_1500,
            [-0.015851136423880342, -0.01225376512724001, -0.013548346281434632],
            "slope500-1500",
        );
        expect(&f.energy, [0.0503097184781518, 0.049643453338601526, 0.04983670529379139], "energy");
        expect(&f.flux, [0.0, 0.12880799683910618, 0.1253335079256453], "flux");
        let mfcc = [
            [27.753468176696174, 30.67899516411371, 29.464803857038216],
            [2.639990901710332, 1.6833259395080669, 5.405800301528149],
            [33.44112121402663, 32.258232053746376, 35.032842132474485],
            [-12.556329363581423, -4.900922741973234, -5.143212360179605],
        ];
        for (i, want) in mfcc.into_iter().enumerate() {
            expect(&f.mfcc[i], want, "mfcc");
        }
    }
}
