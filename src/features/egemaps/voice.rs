//! Voice-quality descriptors of eGeMAPS (docs/egemaps.md §4–§6): HNR from the autocorrelation of the
//! 60 ms power spectrum (openSMILE cHarmonics), the harmonic differences H1-H2 / H1-A3 and the F1–F3
//! amplitudes relative to F0's harmonic (cHarmonics), and jitter / shimmer from the raw waveform
//! (cPitchJitter). HNR and the harmonics follow the numpy ports verified against openSMILE 3.0.1;
//! jitter and shimmer are written from the description in §4 only.

use super::pitch::parabola_vertex;
use super::samples;

/// Harmonics searched (cHarmonics nHarmonics).
const N_HARMONICS: usize = 100;
/// Floors and clamps of the harmonic levels (dB).
const REL_FLOOR_DB: f64 = -200.0;
const REL_MISSING_DB: f64 = -201.0;
const DIFF_LIMIT_DB: f64 = 201.0;
/// HNR ratio limits (10e−10 and 10e10 in openSMILE → −90 and 110 dB).
const HNR_MIN_RATIO: f64 = 10e-10;
const HNR_MAX_RATIO: f64 = 10e10;
/// cPitchJitter searchRangeRel and minCC.
const SEARCH_RANGE_REL: f64 = 0.1;
const MIN_CC: f64 = 0.5;

/// cos(2π m / N), m = 0..N: the ACF's inverse-DFT kernel for an N-point spectrum, built once. N is a
/// power of two (every FFT here pads to one), so m mod N is m & (N − 1).
pub struct CosTable(Vec<f64>);

impl CosTable {
    pub fn new(n: usize) -> CosTable {
        assert!(n.is_power_of_two(), "a cosine table of {n} points");
        CosTable((0..n).map(|m| (2.0 * std::f64::consts::PI * m as f64 / n as f64).cos()).collect())
    }
}

/// HNR in dB from the ACF of the 60 ms frame's power spectrum; 0 when f0_hz == 0. `cos` is the
/// table of the frame's FFT length (2 (magnitudes.len() − 1)).
///
/// HNRdBACF: 10 log10(r[T0] / (r[0] − r[T0])) with T0 = floor(fs / F0) moved to the nearest local
/// peak of the ACF, clamped to [−90, 110] dB; docs/egemaps.md §5; openSMILE cHarmonics. No window
/// correction of the ACF (unlike Praat), which is why clean vowels give only ~9–14 dB.
#[inline(always)]
pub fn hnr_db(magnitudes: &[f64], f0_hz: f64, fs: f64, cos: &CosTable) -> f64 {
    let n_mag = magnitudes.len();
    if f0_hz.is_nan() || f0_hz <= 0.0 || n_mag < 3 {
        return 0.0;
    }
    let n_fft = 2 * (n_mag - 1);
    assert_eq!(cos.0.len(), n_fft, "a cosine table of another FFT length");
    let power: Vec<f64> = magnitudes.iter().map(|m| m * m).collect();
    // ACF lag τ = |unnormalised inverse real DFT of the power spectrum| / n_mag (Ooura's rdft
    // inverse: halved DC and Nyquist terms). Only the few lags the peak search looks at are needed,
    // so they are summed directly (cos(2π τ k / N) from the table) instead of running a full inverse FFT.
    let (table, mask) = (&cos.0[..n_fft], n_fft - 1);
    // The peak search revisits lags; the few computed are kept (a whole-spectrum cache was
    // filled for every frame).
    let mut cache: Vec<(usize, f64)> = Vec::with_capacity(8);
    let mut acf = |tau: usize| -> f64 {
        if let Some(&(_, v)) = cache.iter().find(|(t, _)| *t == tau) {
            return v;
        }
        let nyq = if tau.is_multiple_of(2) { power[n_mag - 1] } else { -power[n_mag - 1] };
        // Four partial sums (as util::lanes), lane l at bins 4c + l + 1; cos index τ k mod N.
        let inner = &power[1..n_mag - 1];
        let mut m = [tau, 2 * tau, 3 * tau, 4 * tau];
        let mut acc = [0.0; 4];
        let chunks = inner.chunks_exact(4);
        let rest = chunks.remainder();
        for c in chunks {
            for l in 0..4 {
                acc[l] += c[l] * table[m[l] & mask];
                m[l] += 4 * tau;
            }
        }
        let mut s = 0.5 * (power[0] + nyq) + ((acc[0] + acc[1]) + (acc[2] + acc[3]));
        let mut m = m[0];
        for p in rest {
            s += p * table[m & mask];
            m += tau;
        }
        let v = s.abs() / n_mag as f64;
        cache.push((tau, v));
        v
    };
    let t0 = ((fs / f0_hz).floor() as usize).clamp(1, n_mag - 2);
    // Nearest local peak: T0, T0 − 1, T0 + 1, T0 − 2, … (lags with both neighbours only).
    let mut lag = None;
    for d in 0..n_mag {
        let mut tried = false;
        for cand in [t0.checked_sub(d), if d > 0 { Some(t0 + d) } else { None }].into_iter().flatten() {
            if cand >= 1 && cand + 1 < n_mag {
                tried = true;
                let r = acf(cand);
                if r > acf(cand - 1) && r > acf(cand + 1) {
                    lag = Some(cand);
                    break;
                }
            }
        }
        if lag.is_some() || !tried {
            break;
        }
    }
    // No peak in the whole range (e.g. a monotone ACF): keep T0 itself.
    let lag = lag.unwrap_or(t0);
    let r0 = acf(0);
    let rt = acf(lag);
    let den = r0 - rt;
    let ratio = if den > 0.0 { rt / den } else { HNR_MAX_RATIO };
    10.0 * ratio.clamp(HNR_MIN_RATIO, HNR_MAX_RATIO).log10()
}

/// Harmonic differences and formant amplitudes of one 60 ms frame (docs/egemaps.md §6).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Harmonics {
    /// logRelF0-H1-H2: **QUIRK** rel[1] − rel[2], i.e. 20 log10(Â(2F0) / Â(3F0)) (openSMILE's parser
    /// is off by one against the paper's H1 − H2), clamped to ±201 dB; docs/egemaps.md §6; openSMILE cHarmonics.
    pub h1_h2: f64,
    /// logRelF0-H1-A3: rel[1] − rel[a3], a3 = strongest harmonic within ±20 % of F3 (rel[1] − 201 if none),
    /// clamped to ±201 dB; docs/egemaps.md §6; openSMILE cHarmonics.
    pub h1_a3: f64,
    /// F1–F3 amplitude relative to F0's harmonic, dB (F{1,2,3}amplitudeLogRelF0: rel of the strongest
    /// harmonic within ±20 % of the formant, 0 if none); docs/egemaps.md §6; openSMILE cHarmonics.
    pub formant_amplitude: [f64; 3],
}

impl Harmonics {
    fn unvoiced() -> Harmonics {
        Harmonics { h1_h2: 0.0, h1_a3: 0.0, formant_amplitude: [REL_MISSING_DB; 3] }
    }
}

/// One located harmonic: its peak bin, raw magnitude and the parabola-interpolated magnitude and frequency.
#[derive(Clone, Copy, Debug, Default)]
struct Harmonic {
    bin: usize,
    mag: f64,
    mag_interp: f64,
    freq_interp: f64,
}

/// Harmonic differences and formant amplitudes; unvoiced (f0_hz == 0): h1_h2 = h1_a3 = 0, formant
/// amplitudes −201 (docs/egemaps.md §2, §6).
#[inline(always)]
pub fn harmonics(magnitudes: &[f64], f0_hz: f64, formant_hz: [f64; 3], fs: f64) -> Harmonics {
    let n_bins = magnitudes.len();
    if f0_hz.is_nan() || f0_hz <= 0.0 || n_bins < 3 {
        return Harmonics::unvoiced();
    }
    let df = fs / (2.0 * (n_bins - 1) as f64);
    let frq = |b: usize| b as f64 * df;
    // First bin ≥ `from` above f, then the nearer of it and its left neighbour; 0 if f is past the end.
    let freq_to_bin = |f: f64, from: usize| -> usize {
        // The bin just above f, found from f / df and corrected for rounding, not by a scan.
        let start = from.max(1);
        let mut b = start.max((f / df).floor().clamp(0.0, n_bins as f64) as usize);
        while b > start && frq(b - 1) > f {
            b -= 1;
        }
        while b < n_bins && frq(b) <= f {
            b += 1;
        }
        if b >= n_bins {
            return 0;
        }
        if frq(b) - f > f - frq(b - 1) {
            b - 1
        } else {
            b
        }
    };
    let m = magnitudes;
    let is_peak = |n: usize| -> bool {
        if n >= n_bins {
            false
        } else if n + 1 < n_bins {
            if n > 0 {
                m[n] > m[n - 1] && m[n] > m[n + 1]
            } else {
                m[0] > m[1]
            }
        } else {
            n > 0 && m[n] > m[n - 1]
        }
    };

    let mut found: Vec<Option<Harmonic>> = Vec::with_capacity(N_HARMONICS);
    let mut last = freq_to_bin(0.5 * f0_hz, 1);
    let first = freq_to_bin(0.5 * f0_hz, last);
    // Only harmonics 1–2 and those within ±20 % of a formant are reported. Harmonic h's peak is
    // searched from the bin of the previous one on, so once h F0 is 3 bins past 1.2 × the highest
    // formant no later harmonic can be reported, and none of the earlier entries depends on them.
    let reach = 1.2 * formant_hz.iter().fold(0.0f64, |a, &f| a.max(f)) + 3.0 * df;
    for h in 0..N_HARMONICS {
        if h >= 3 && h as f64 * f0_hz > reach {
            break;
        }
        let hf = (h + 1) as f64 * f0_hz;
        let cb = freq_to_bin(hf, last);
        if cb == 0 && h > 0 {
            found.push(None);
            continue;
        }
        let mut peak = None;
        if is_peak(cb) {
            peak = Some(cb);
        } else {
            // Alternate right, then left, within half a harmonic spacing.
            let lo = freq_to_bin((h as f64 + 0.5) * f0_hz, last) as isize;
            let up = freq_to_bin((h as f64 + 1.5) * f0_hz, cb);
            let mut l = cb as isize - 1;
            let mut r = cb + 1;
            while peak.is_none() && (l >= lo || r <= up) {
                if r <= up {
                    if is_peak(r) {
                        peak = Some(r);
                        break;
                    }
                    r += 1;
                }
                if l >= lo && l >= 0 && is_peak(l as usize) {
                    peak = Some(l as usize);
                    break;
                }
                l -= 1;
            }
        }
        let entry = match peak {
            Some(p) if p >= first && p + 1 < n_bins && p >= 1 => {
                let (fi, mi) = parabola_vertex(frq(p - 1), m[p - 1], frq(p), m[p], frq(p + 1), m[p + 1]);
                Harmonic { bin: p, mag: m[p], mag_interp: mi, freq_interp: fi }
            }
            _ => Harmonic { bin: cb, ..Harmonic::default() },
        };
        found.push(Some(entry));
        last = cb;
    }

    let mag0 = found.first().copied().flatten().map_or(0.0, |h| h.mag);
    if mag0.is_nan() || mag0 <= 0.0 {
        // No F0 harmonic to refer to (not seen in practice): report the frame as unvoiced.
        return Harmonics::unvoiced();
    }
    // The same bin as the previous harmonic (F0 too low for the resolution): no harmonic here, and
    // the entry is cleared so it can neither match a formant nor the next harmonic's bin.
    let mut cleared = vec![false; found.len()];
    for h in 1..found.len() {
        if let (Some(cur), Some(prev)) = (found[h], found[h - 1]) {
            if cur.bin == prev.bin {
                cleared[h] = true;
                found[h] = Some(Harmonic::default());
            }
        }
    }
    // Level relative to F0's harmonic, dB; computed only for the few harmonics reported.
    let log0 = mag0.log10();
    let rel = |h: usize| -> f64 {
        match found[h] {
            _ if h == 0 => 0.0,
            None => REL_MISSING_DB,
            Some(_) if cleared[h] => REL_MISSING_DB,
            Some(cur) if cur.mag_interp > 0.0 => (20.0 * (cur.mag_interp.log10() - log0)).max(REL_FLOOR_DB),
            Some(_) => REL_FLOOR_DB,
        }
    };
    // The strongest (raw magnitude) harmonic whose interpolated frequency is within ±20 % of fc.
    let near = |fc: f64| -> Option<usize> {
        let mut best = None;
        let mut best_mag = 0.0;
        for (h, e) in found.iter().enumerate() {
            if let Some(e) = e {
                if e.freq_interp >= 0.8 * fc && e.freq_interp <= 1.2 * fc && e.mag > best_mag {
                    best = Some(h);
                    best_mag = e.mag;
                }
            }
        }
        best
    };
    let clamp = |v: f64| v.clamp(-DIFF_LIMIT_DB, DIFF_LIMIT_DB);
    let h1_h2 = clamp(rel(1) - rel(2));
    let h1_a3 = match near(formant_hz[2]) {
        Some(k) => clamp(rel(1) - rel(k)),
        None => clamp(rel(1) + REL_MISSING_DB),
    };
    let mut formant_amplitude = [0.0; 3];
    for (a, &fc) in formant_amplitude.iter_mut().zip(&formant_hz) {
        *a = near(fc).map_or(0.0, rel);
    }
    Harmonics { h1_h2, h1_a3, formant_amplitude }
}

/// Pearson correlation of two equally long slices; 0 if either is constant.
fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    if a.is_empty() {
        return 0.0;
    }
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    let d = (saa * sbb).sqrt();
    if d > 0.0 {
        sab / d
    } else {
        0.0
    }
}

/// cc[i] = pearson(m[..l], m[l..2l]) with l = lo + i, each to the bit as `pearson` computes it, four
/// lags at a time: a correlation is five sequential sums, each addition waiting on the one before,
/// and four independent lags keep the core busy meanwhile (this search was a tenth of the
/// extractor's time). `m` holds at least 2 (lo + cc.len() − 1) samples.
#[inline(always)]
fn lag_correlations(m: &[f64], lo: usize, cc: &mut [f64]) {
    const LANES: usize = 4;
    let full = cc.len() / LANES * LANES;
    for g in (0..full).step_by(LANES) {
        let l0 = lo + g;
        // Lane q's a = m[..l0 + q] and b = m[l0 + q..2 (l0 + q)]; the first l0 terms are shared.
        let mut sa = [0.0; LANES];
        let mut sb = [0.0; LANES];
        let mut run = 0.0;
        for &v in &m[..l0] {
            run += v;
        }
        for (q, s) in sa.iter_mut().enumerate() {
            *s = run;
            if q + 1 < LANES {
                run += m[l0 + q];
            }
        }
        for j in 0..l0 {
            for q in 0..LANES {
                sb[q] += m[l0 + q + j];
            }
        }
        for q in 1..LANES {
            for j in l0..l0 + q {
                sb[q] += m[l0 + q + j];
            }
        }
        let mut ma = [0.0; LANES];
        let mut mb = [0.0; LANES];
        for q in 0..LANES {
            ma[q] = sa[q] / (l0 + q) as f64;
            mb[q] = sb[q] / (l0 + q) as f64;
        }
        let (mut sab, mut saa, mut sbb) = ([0.0; LANES], [0.0; LANES], [0.0; LANES]);
        for j in 0..l0 {
            for q in 0..LANES {
                let (dx, dy) = (m[j] - ma[q], m[l0 + q + j] - mb[q]);
                sab[q] += dx * dy;
                saa[q] += dx * dx;
                sbb[q] += dy * dy;
            }
        }
        for q in 0..LANES {
            for j in l0..l0 + q {
                let (dx, dy) = (m[j] - ma[q], m[l0 + q + j] - mb[q]);
                sab[q] += dx * dy;
                saa[q] += dx * dx;
                sbb[q] += dy * dy;
            }
            let d = (saa[q] * sbb[q]).sqrt();
            cc[g + q] = if d > 0.0 { sab[q] / d } else { 0.0 };
        }
    }
    for (i, c) in cc.iter_mut().enumerate().skip(full) {
        let l = lo + i;
        *c = pearson(&m[..l], &m[l..2 * l]);
    }
}

/// Peak-to-peak amplitude of a slice.
fn peak_to_peak(x: &[f64]) -> f64 {
    let (lo, hi) = x.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if hi >= lo {
        hi - lo
    } else {
        0.0
    }
}

/// jitterLocal and shimmerLocaldB per 60 ms F0 frame, from the raw waveform (docs/egemaps.md §4;
/// openSMILE cPitchJitter): 0 where unvoiced.
///
/// Frame k reads the waveform from where the previous frame's period search stopped (its leftover
/// `mis` samples) to 10 ms past frame k's start, at least two periods' search range, and searches it
/// for periods with the frame's own F0: at each position the lag L in [0.9 T0, 1.1 T0] whose Pearson
/// correlation of two adjacent L-sample windows is the largest local peak (the last interior lag is not
/// searched), refined by a parabola and accepted when its vertex exceeds 0.5; the position then moves by
/// the integer lag (accepted or not), or by T0 where there is no peak. jitterLocal = mean |T_k − T_{k−1}|
/// / mean T (clipped to 1; T_{k−1} may come from an earlier frame of the voiced run); **QUIRK**
/// shimmerLocaldB = 20 log10(1 + Σ|A0 − A1| / Σ (A0 + A1)/2) of the peak-to-peak amplitudes of the two
/// windows (without their first and last samples), not Praat's mean dB ratio. A voiced frame without
/// an accepted period repeats the last values (0 after an unvoiced frame); one with a single period
/// since the run began reports jitter 0. A port of this rule reproduced openSMILE's unsmoothed values on
/// every voiced frame of the six synth clips of tests/data/egemaps_reference.json.
#[inline(always)]
pub fn jitter_shimmer(x: &[f64], f0_hz: &[f64], fs: f64) -> (Vec<f64>, Vec<f64>) {
    let frame_len = samples(0.060, fs);
    let hop = samples(0.010, fs).max(1);
    let mut jitter = vec![0.0; f0_hz.len()];
    let mut shimmer = vec![0.0; f0_hz.len()];
    // Where the next read starts, and how many samples before the current frame's start it reaches
    // back (the previous search's unused tail): idx + mis is always the frame's first sample.
    let (mut idx, mut mis) = (0usize, 0usize);
    // The last accepted period (s) of the voiced run, and the last reported values.
    let mut last_period = 0.0;
    let (mut last_jitter, mut last_shimmer) = (0.0, 0.0);
    for (k, &f0) in f0_hz.iter().enumerate() {
        let r0 = hop + mis;
        if f0.is_nan() || f0 <= 0.0 {
            idx += r0;
            mis = 0;
            last_period = 0.0;
            last_jitter = 0.0;
            last_shimmer = 0.0;
            continue;
        }
        let t0 = fs / f0;
        let lo = ((1.0 - SEARCH_RANGE_REL) * t0).floor().max(1.0) as usize;
        let hi = (((1.0 + SEARCH_RANGE_REL) * t0).ceil() as usize).max(lo + 3);
        let read = r0.max(2 * hi + 2).min(mis + frame_len);
        let end = (idx + read).min(x.len());
        let m = &x[idx.min(end)..end];
        let n = m.len();
        let n_lags = hi - lo + 1;
        let mut cc = vec![0.0; n_lags];
        let (mut pos, mut last) = (0usize, 0usize);
        let (mut n_periods, mut sum_t) = (0usize, 0.0);
        let (mut n_diff, mut sum_diff) = (0usize, 0.0);
        let (mut sum_amp, mut sum_amp_diff) = (0.0, 0.0);
        while pos + 2 * hi + 1 < n {
            lag_correlations(&m[pos..], lo, &mut cc);
            // The largest strict local peak over lags 1 ..= n_lags − 3, the first of equals.
            let mut best: Option<usize> = None;
            for i in 1..n_lags - 2 {
                if cc[i - 1] < cc[i] && cc[i] > cc[i + 1] && best.is_none_or(|b| cc[i] > cc[b]) {
                    best = Some(i);
                }
            }
            match best {
                None => pos += (t0.round() as usize).max(1),
                Some(b) => {
                    let p = lo + b;
                    let a0 = peak_to_peak(&m[pos + 1..pos + p - 1]);
                    let a1 = peak_to_peak(&m[pos + p + 1..pos + 2 * p - 1]);
                    pos += p;
                    let (v, c) = parabola_vertex(b as f64 - 1.0, cc[b - 1], b as f64, cc[b], b as f64 + 1.0, cc[b + 1]);
                    if c > MIN_CC {
                        let period = (lo as f64 + v) / fs;
                        n_periods += 1;
                        sum_t += period;
                        if last_period > 0.0 {
                            sum_diff += (last_period - period).abs();
                            n_diff += 1;
                        }
                        last_period = period;
                        sum_amp += 0.5 * (a0 + a1);
                        sum_amp_diff += (a0 - a1).abs();
                    }
                }
            }
            if pos + 1 < r0 {
                last = pos;
            }
        }
        mis = r0 - last;
        idx += last;
        jitter[k] = if n_periods > 0 && n_diff > 0 {
            last_jitter = (sum_diff / n_diff as f64 / (sum_t / n_periods as f64)).min(1.0);
            last_jitter
        } else if n_periods == 0 {
            last_jitter
        } else {
            0.0
        };
        if n_periods > 0 {
            last_shimmer = if sum_amp > 0.0 { sum_amp_diff / sum_amp } else { 0.0 };
        }
        shimmer[k] = 20.0 * (1.0 + last_shimmer.min(1.0)).log10();
    }
    (jitter, shimmer)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::features::egemaps::{gaussian, Spectrum};
    use crate::rng::Rng;

    const FS: f64 = 16000.0;

    fn complex_200(n: usize) -> Vec<f64> {
        // Harmonics h = 1..=10 of 200 Hz with amplitudes 1/h, phases 0.3 h.
        (0..n)
            .map(|i| {
                let t = i as f64 / FS;
                (1..=10)
                    .map(|h| (2.0 * std::f64::consts::PI * 200.0 * h as f64 * t + 0.3 * h as f64).sin() / h as f64)
                    .sum::<f64>()
                    * 0.2
            })
            .collect()
    }

    fn mags(x: &[f64]) -> Vec<f64> {
        Spectrum::new(gaussian(960), 1024).magnitudes(&x[..960])
    }

    #[test]
    fn hnr_separates_harmonic_from_noise() {
        let m = mags(&complex_200(960));
        let h = hnr_db(&m, 200.0, FS, &CosTable::new(1024));
        assert!((h - HNR_COMPLEX_DB).abs() < 1e-3, "HNR {h}");
        let mut rng = Rng::new(7);
        let noise: Vec<f64> = (0..960).map(|_| rng.uniform() - 0.5).collect();
        let h_noise = hnr_db(&mags(&noise), 200.0, FS, &CosTable::new(1024));
        // numpy: −9.75 dB for this noise.
        assert!((h_noise + 9.751_875_947_518_963).abs() < 1e-3 && h_noise < h - 10.0, "noise HNR {h_noise}");
        assert_eq!(hnr_db(&m, 0.0, FS, &CosTable::new(1024)), 0.0);
    }

    #[test]
    fn harmonic_levels_of_a_known_complex() {
        let m = mags(&complex_200(960));
        let hm = harmonics(&m, 200.0, [600.0, 1000.0, 1600.0], FS);
        // Â(2F0)/Â(3F0) = (1/2)/(1/3) → ≈ 3.52 dB (the parabolic interpolation is not exact).
        assert!((hm.h1_h2 - 20.0 * 1.5f64.log10()).abs() < 0.3, "H1-H2 {}", hm.h1_h2);
        assert!((hm.h1_h2 - H1_H2_DB).abs() < 1e-3);
        assert!((hm.h1_a3 - H1_A3_DB).abs() < 1e-3);
        for (a, e) in hm.formant_amplitude.iter().zip(FORMANT_AMPS_DB) {
            assert!((a - e).abs() < 1e-3, "{a} vs {e}");
        }
        let u = harmonics(&m, 0.0, [600.0, 1000.0, 1600.0], FS);
        assert_eq!(u, Harmonics { h1_h2: 0.0, h1_a3: 0.0, formant_amplitude: [-201.0; 3] });
    }

    /// A jitter / shimmer method: waveform, F0 per frame, sample rate → per-frame values.
    pub(crate) type JitterFn = fn(&[f64], &[f64], f64) -> (Vec<f64>, Vec<f64>);

    /// `method` reads a strictly periodic complex tone as neither jittered nor shimmered, and an
    /// unvoiced frame as 0.
    pub(crate) fn assert_periodic_reads_none(method: JitterFn) {
        let x = complex_200(8000);
        let n = super::super::frame_count(x.len(), 960, 160);
        let mut f0 = vec![200.0; n];
        f0[10] = 0.0;
        let (j, s) = method(&x, &f0, FS);
        assert_eq!(j.len(), n);
        assert_eq!((j[10], s[10]), (0.0, 0.0));
        for k in 0..n {
            assert!(j[k] < 1e-3, "jitter {} at {k}", j[k]);
            assert!(s[k] < 0.05, "shimmer {} at {k}", s[k]);
        }
    }

    /// Decaying-sine pulses with periods alternating 80 and 84 samples (true jitterLocal 4/82 ≈ 4.9 %),
    /// and `method`'s per-frame jitter of them with F0 at the mean period.
    pub(crate) fn jitter_of_alternating_pulses(method: JitterFn) -> Vec<f64> {
        let mut x = vec![0.0; 8000];
        let mut t = 0usize;
        let mut k = 0;
        while t < x.len() {
            for (n, v) in x.iter_mut().skip(t).take(80).enumerate() {
                *v += 0.5 * (-(n as f64) / 15.0).exp() * (2.0 * std::f64::consts::PI * 800.0 * n as f64 / FS).sin();
            }
            t += if k % 2 == 0 { 80 } else { 84 };
            k += 1;
        }
        let n = super::super::frame_count(x.len(), 960, 160);
        method(&x, &vec![FS / 82.0; n], FS).0
    }

    #[test]
    fn lag_correlations_are_pearsons_to_the_bit() {
        let mut rng = Rng::new(3);
        let m: Vec<f64> = (0..400).map(|i| (i as f64 * 0.21).sin() + 0.3 * rng.normal()).collect();
        for (lo, n_lags) in [(1, 3), (5, 4), (60, 17), (71, 9)] {
            let mut cc = vec![f64::NAN; n_lags];
            lag_correlations(&m, lo, &mut cc);
            for (i, c) in cc.iter().enumerate() {
                let l = lo + i;
                assert_eq!(c.to_bits(), pearson(&m[..l], &m[l..2 * l]).to_bits(), "lag {l}");
            }
        }
    }

    #[test]
    fn periodic_signal_has_no_jitter_or_shimmer() {
        assert_periodic_reads_none(jitter_shimmer);
    }

    #[test]
    fn alternating_periods_show_jitter() {
        let j = jitter_of_alternating_pulses(jitter_shimmer);
        let mean = j.iter().sum::<f64>() / j.len() as f64;
        // A numpy mirror of this function gives 0.0433 (the integer-lag search pulls it below 4.9 %).
        assert!(mean > 0.01 && mean < 0.08, "jitter {mean}");
    }

    /// From a numpy port of `hnr_db` / `harmonics` (the verify_h.py logic) on the same 960 samples.
    /// (numpy rfft/irfft; harmonics a_i at indices 2, 4, 6: 600, 1000 and 1400 Hz.)
    const HNR_COMPLEX_DB: f64 = 13.419_621_231_970_904;
    const H1_H2_DB: f64 = 3.547_579_529_412_142_4;
    const H1_A3_DB: f64 = 10.848_532_059_730_456;
    const FORMANT_AMPS_DB: [f64; 3] = [-9.773_332_749_753_29, -13.754_246_619_791_408, -17.074_285_280_071_603];
}
