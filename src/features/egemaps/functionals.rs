//! Contour smoothing and the utterance functionals of eGeMAPS v02 (docs/egemaps.md §2, §12, §13):
//! openSMILE's cContourSmoother (sma3 / sma3nz), cFunctionals' means, percentiles, Peaks2 slopes
//! and segment statistics.
//!
//! Empty input: every functional here returns 0 (openSMILE writes 0, not NaN, for a set with no
//! frames, e.g. the F0 functionals of white noise and silence in tests/data/egemaps_reference.json).

/// 3-frame moving average with the first / last frame repeated at the edges (sma3, noZeroSma=0);
/// docs/egemaps.md §2; openSMILE cContourSmoother.
pub fn sma3(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    (0..n)
        .map(|i| {
            let prev = x[i.saturating_sub(1)];
            let next = x[(i + 1).min(n - 1)];
            (prev + x[i] + next) / 3.0
        })
        .collect()
}

/// 3-frame average that keeps zeros (unvoiced / missing) at 0 and averages only the nonzero values
/// among the neighbours, edges repeated (sma3nz, noZeroSma=1); docs/egemaps.md §2; openSMILE cContourSmoother.
pub fn sma3nz(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    (0..n)
        .map(|i| {
            if x[i] == 0.0 {
                return 0.0;
            }
            let window = [x[i.saturating_sub(1)], x[i], x[(i + 1).min(n - 1)]];
            let (sum, count) = window.iter().filter(|v| **v != 0.0).fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
            sum / count as f64
        })
        .collect()
}

/// Arithmetic mean; 0 for empty input. docs/egemaps.md §13.
pub fn amean(x: &[f64]) -> f64 {
    if x.is_empty() {
        0.0
    } else {
        x.iter().sum::<f64>() / x.len() as f64
    }
}

/// Population standard deviation over the (signed) mean, the mean taken as 1 when it is 0;
/// 0 for empty input, a single value or zero variance (stddevNorm=2). docs/egemaps.md §13.
pub fn stddev_norm(x: &[f64]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let mean = amean(x);
    let variance = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / x.len() as f64;
    if variance <= 0.0 {
        return 0.0;
    }
    let scale = if mean == 0.0 { 1.0 } else { mean };
    variance.sqrt() / scale
}

/// p20, p50, p80 and |p80 − p20| (linear interpolation, idx = p (n − 1)).
/// All 0 for empty input; a single value gives [v, v, v, 0]. docs/egemaps.md §13.
pub fn percentiles(x: &[f64]) -> [f64; 4] {
    if x.is_empty() {
        return [0.0; 4];
    }
    let mut sorted = x.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| {
        let idx = p * (sorted.len() - 1) as f64;
        let lo = idx.floor() as usize;
        let hi = idx.ceil() as usize;
        if lo == hi {
            sorted[lo]
        } else {
            sorted[lo] * (hi as f64 - idx) + sorted[hi] * (idx - lo as f64)
        }
    };
    let (p20, p50, p80) = (at(0.2), at(0.5), at(0.8));
    [p20, p50, p80, (p80 - p20).abs()]
}

/// Rising / falling slope statistics of cFunctionalPeaks2 (units per second) and the peak count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slopes {
    pub mean_rising: f64,
    pub std_rising: f64,
    pub mean_falling: f64,
    pub std_falling: f64,
    /// maxima after filtering
    pub peaks: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Extremum {
    is_max: bool,
    value: f64,
    pos: usize,
}

/// Removes the extremum at `pos` from `list`, if it is still there.
fn remove_at_pos(list: &mut Vec<Extremum>, pos: Option<usize>) {
    if let Some(pos) = pos {
        if let Some(i) = list.iter().position(|e| e.pos == pos) {
            list.remove(i);
        }
    }
}

/// openSMILE's peaks2 rising / falling slopes, `period_s` = 0.01.
///
/// docs/egemaps.md §13 (relThresh=0.1, dynRelThresh=0, norm=seconds); ported from the numpy version
/// that matched openSMILE. Empty input or a single value: all 0. No extrema: the whole-contour
/// slope (last − first) / n, *not* divided by the period, counted as rising or falling by its sign.
pub fn slopes(x: &[f64], period_s: f64) -> Slopes {
    let n = x.len();
    let mut result = Slopes { mean_rising: 0.0, std_rising: 0.0, mean_falling: 0.0, std_falling: 0.0, peaks: 0 };
    if n == 0 {
        return result;
    }
    let (lo, hi) = x.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let abs_thresh = 0.1 * (hi - lo);
    let below = |d: f64| d < abs_thresh;

    // Strict local extrema, two frames away from either end.
    let mut list: Vec<Extremum> = Vec::new();
    for i in 2..n.saturating_sub(2) {
        let v = x[i];
        if v > x[i - 1] && v > x[i + 1] {
            list.push(Extremum { is_max: true, value: v, pos: i });
        } else if v < x[i - 1] && v < x[i + 1] {
            list.push(Extremum { is_max: false, value: v, pos: i });
        }
    }

    // Pass 1: drop maxima that rise too little above the previous extremum / the last minimum;
    // a clearly higher (> 1.05 ×) close maximum replaces the last one.
    let mut kept = Vec::with_capacity(list.len());
    let (mut last_val, mut last_min, mut last_max) = (x[0], x[0], x[0]);
    let mut after_min = false;
    let mut last_max_pos: Option<usize> = None;
    for el in list {
        let mut keep = true;
        if el.is_max {
            if below((el.value - last_val).abs()) {
                if below(el.value - last_min) {
                    keep = false;
                } else {
                    if el.value > last_max * 1.05 {
                        remove_at_pos(&mut kept, last_max_pos);
                        last_max = el.value;
                        last_max_pos = Some(el.pos);
                    } else if after_min {
                        last_max = el.value;
                        last_max_pos = Some(el.pos);
                    } else {
                        keep = false;
                    }
                    after_min = false;
                }
            } else {
                after_min = false;
                last_max = el.value;
                last_max_pos = Some(el.pos);
            }
        } else if !below((el.value - last_val).abs()) {
            after_min = true;
            last_min = el.value;
        }
        last_val = el.value;
        if keep {
            kept.push(el);
        }
    }

    // Pass 2: drop minima less than the threshold below the last maximum.
    let mut last_max = x[0];
    let list: Vec<Extremum> = kept
        .into_iter()
        .filter(|el| {
            if el.is_max {
                last_max = el.value;
                true
            } else {
                !below(last_max - el.value)
            }
        })
        .collect();

    // Pass 3: enforce alternation, keeping the higher of two maxima / the lower of two minima.
    let mut alternating: Vec<Extremum> = Vec::with_capacity(list.len());
    let mut after_min = false;
    let mut first = true;
    let (mut last_min, mut last_max) = (0.0, 0.0);
    let (mut last_min_pos, mut last_max_pos): (Option<usize>, Option<usize>) = (None, None);
    for el in list {
        if el.is_max {
            if !(after_min || first) {
                if el.value <= last_max {
                    continue;
                }
                remove_at_pos(&mut alternating, last_max_pos);
            }
            last_max = el.value;
            last_max_pos = Some(el.pos);
            after_min = false;
        } else {
            if after_min && !first {
                if el.value >= last_min {
                    continue;
                }
                remove_at_pos(&mut alternating, last_min_pos);
            }
            last_min = el.value;
            last_min_pos = Some(el.pos);
            after_min = true;
        }
        first = false;
        alternating.push(el);
    }
    result.peaks = alternating.iter().filter(|e| e.is_max).count();

    // Slopes between consecutive extrema, starting from (x[0], 0) as both last minimum and maximum.
    let mut rising = Vec::new();
    let mut falling = Vec::new();
    let (mut last_max, mut last_min) = (x[0], x[0]);
    let (mut max_pos, mut min_pos) = (0usize, 0usize);
    let mut last_was_max: Option<bool> = None;
    for el in &alternating {
        if el.is_max {
            last_max = el.value;
            max_pos = el.pos;
            if max_pos > min_pos {
                rising.push((last_max - last_min) / ((max_pos - min_pos) as f64 * period_s));
                last_was_max = Some(true);
            }
        } else {
            last_min = el.value;
            min_pos = el.pos;
            if min_pos > max_pos {
                // Positive: a falling slope's magnitude.
                falling.push((last_max - last_min) / ((min_pos - max_pos) as f64 * period_s));
                last_was_max = Some(false);
            }
        }
    }
    // One more slope to the last frame. QUIRK: it is signed (a final falling slope is ≤ 0), and it
    // counts in the denominators of mean and std but not in the std's sum of squares.
    let last = n - 1;
    let mut extra_rising = None;
    let mut extra_falling = None;
    match last_was_max {
        Some(true) if last > max_pos => {
            extra_falling = Some((x[last] - last_max) / ((last - max_pos) as f64 * period_s));
        }
        Some(false) if last > min_pos => {
            extra_rising = Some((x[last] - last_min) / ((last - min_pos) as f64 * period_s));
        }
        None => {
            // QUIRK: divided by the frame count, not by its duration.
            let s = (x[last] - x[0]) / n as f64;
            if s > 0.0 {
                extra_rising = Some(s);
            } else if s < 0.0 {
                extra_falling = Some(s);
            }
        }
        _ => {}
    }
    (result.mean_rising, result.std_rising) = slope_stats(&rising, extra_rising);
    (result.mean_falling, result.std_falling) = slope_stats(&falling, extra_falling);
    result
}

/// Mean over `slopes` plus `extra`, and sqrt(Σ_slopes (s − mean)² / count) with count including `extra`.
fn slope_stats(slopes: &[f64], extra: Option<f64>) -> (f64, f64) {
    let count = slopes.len() + usize::from(extra.is_some());
    if count == 0 {
        return (0.0, 0.0);
    }
    let mean = (slopes.iter().sum::<f64>() + extra.unwrap_or(0.0)) / count as f64;
    let squares: f64 = slopes.iter().map(|s| (s - mean) * (s - mean)).sum::<f64>() / count as f64;
    (mean, if squares > 0.0 { squares.sqrt() } else { 0.0 })
}

/// Voiced / unvoiced segment statistics in seconds (and voiced segments per second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segments {
    pub voiced_per_sec: f64,
    pub mean_voiced_s: f64,
    pub std_voiced_s: f64,
    pub mean_unvoiced_s: f64,
    pub std_unvoiced_s: f64,
}

/// Lengths (in frames) of the segments where `qualifies` holds: a segment starts after 3 consecutive
/// qualifying frames and ends after 2 non-qualifying ones (segMinLng 3, pauseMinLng 2).
/// QUIRK: a recorded length is last qualifying index − first index, one frame short.
fn segment_lengths(n: usize, qualifies: impl Fn(usize) -> bool) -> Vec<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Outside,
        Starting,
        Inside,
    }
    let mut lengths = Vec::new();
    let mut state = State::Outside;
    let (mut run, mut gap, mut start) = (0usize, 0usize, 0usize);
    for i in 0..n {
        if qualifies(i) {
            match state {
                State::Outside => {
                    run += 1;
                    start = i;
                    state = State::Starting;
                }
                State::Starting => {
                    // A single non-qualifying frame while starting does not reset the run.
                    gap = 0;
                    run += 1;
                    if run >= 3 {
                        run = 0;
                        state = State::Inside;
                    }
                }
                State::Inside => gap = 0,
            }
        } else {
            match state {
                State::Inside => {
                    run = 0;
                    gap += 1;
                    if gap >= 2 {
                        state = State::Outside;
                        lengths.push((i - gap).saturating_sub(start));
                        gap = 0;
                    }
                }
                State::Starting => {
                    gap += 1;
                    if gap >= 2 {
                        state = State::Outside;
                        gap = 0;
                        run = 0;
                    }
                }
                State::Outside => {}
            }
        }
    }
    if state == State::Inside {
        lengths.push((n - (gap + 1)).saturating_sub(start));
    }
    lengths
}

/// Mean and population std of segment lengths in seconds; (0, 0) with no segment, std 0 with one.
fn length_stats(lengths: &[usize], period_s: f64) -> (f64, f64) {
    let seconds: Vec<f64> = lengths.iter().map(|&l| l as f64 * period_s).collect();
    let mean = amean(&seconds);
    if seconds.len() < 2 {
        return (mean, 0.0);
    }
    let variance = seconds.iter().map(|s| (s - mean) * (s - mean)).sum::<f64>() / seconds.len() as f64;
    (mean, variance.sqrt())
}

/// Voiced / unvoiced segment statistics of an F0 contour (0 = unvoiced), segMinLng 3, pauseMinLng 2.
///
/// docs/egemaps.md §13 (cFunctionalSegments nonX / eqX with X = 0). `f0` is every F0-branch frame
/// passed to the functionals (the caller applies the n60 − 1 rule); leading / trailing unvoiced
/// stretches count as unvoiced segments. Empty input: all 0; no segment of a kind: mean and std 0.
pub fn segments(f0: &[f64], period_s: f64) -> Segments {
    let n = f0.len();
    if n == 0 {
        return Segments {
            voiced_per_sec: 0.0,
            mean_voiced_s: 0.0,
            std_voiced_s: 0.0,
            mean_unvoiced_s: 0.0,
            std_unvoiced_s: 0.0,
        };
    }
    let voiced = segment_lengths(n, |i| f0[i] != 0.0);
    let unvoiced = segment_lengths(n, |i| f0[i] == 0.0);
    let (mean_voiced_s, std_voiced_s) = length_stats(&voiced, period_s);
    let (mean_unvoiced_s, std_unvoiced_s) = length_stats(&unvoiced, period_s);
    Segments {
        voiced_per_sec: voiced.len() as f64 / (n as f64 * period_s),
        mean_voiced_s,
        std_voiced_s,
        mean_unvoiced_s,
        std_unvoiced_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn sma3_repeats_the_edges() {
        let y = sma3(&[3.0, 6.0, 0.0, 9.0]);
        let want = [4.0, 3.0, 5.0, 6.0];
        assert!(y.iter().zip(want).all(|(a, b)| close(*a, b)), "{y:?}");
        assert_eq!(sma3(&[2.5]), vec![2.5]);
        assert!(sma3(&[]).is_empty());
    }

    #[test]
    fn sma3nz_keeps_zeros_and_skips_them() {
        let y = sma3nz(&[0.0, 3.0, 6.0, 0.0, 9.0, 0.0, 4.0, 8.0]);
        // [0, mean(3,6), mean(3,6), 0, 9, 0, mean(4,8), mean(4,8,8)] (the last frame repeated)
        let want = [0.0, 4.5, 4.5, 0.0, 9.0, 0.0, 6.0, 20.0 / 3.0];
        assert!(y.iter().zip(want).all(|(a, b)| close(*a, b)), "{y:?}");
        assert!(sma3nz(&[]).is_empty());
    }

    #[test]
    fn means_and_percentiles() {
        let x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        assert!(close(amean(&x), 3.875));
        // numpy: x.std() / x.mean(); np.percentile(x, [20, 50, 80]) = [1.4, 3.5, 5.6].
        assert!(close(stddev_norm(&x), 0.6634504452001011));
        let p = percentiles(&x);
        let want = [1.4, 3.5, 5.6, 4.2];
        assert!(p.iter().zip(want).all(|(a, b)| close(*a, b)), "{p:?}");
        assert_eq!(percentiles(&[7.0]), [7.0, 7.0, 7.0, 0.0]);
        assert_eq!(percentiles(&[]), [0.0; 4]);
        assert_eq!((amean(&[]), stddev_norm(&[]), stddev_norm(&[2.0, 2.0])), (0.0, 0.0, 0.0));
        // A zero mean divides by 1.
        assert!(close(stddev_norm(&[-1.0, 1.0]), 1.0));
        assert!(close(stddev_norm(&[-1.0, -3.0]), -0.5));
    }

    #[test]
    fn slopes_between_known_extrema() {
        // Max 4 @3, min 0.5 @6, max 6 @9, end 0 @12 (T = 0.01 s): rising 400/3, 550/3; falling 350/3
        // and the final signed −600/3; the std of falling omits the final slope but divides by 2.
        let s = slopes(&[0.0, 1.0, 2.0, 4.0, 2.0, 1.0, 0.5, 1.0, 3.0, 6.0, 3.0, 1.0, 0.0], 0.01);
        assert_eq!(s.peaks, 2);
        assert!(close(s.mean_rising, 475.0 / 3.0));
        assert!(close(s.std_rising, 25.0));
        assert!(close(s.mean_falling, -125.0 / 3.0));
        assert!(close(s.std_falling, ((350.0 / 3.0 + 125.0 / 3.0_f64).powi(2) / 2.0).sqrt()));
    }

    #[test]
    fn slopes_filter_small_wiggles() {
        // peaks2.py: only the max 10 @2 survives; rising 10 / 0.02, final falling −10 / 0.12.
        let s = slopes(&[0.0, 0.0, 10.0, 0.0, 0.0, 5.0, 5.25, 5.0, 5.5, 5.0, 6.0, 0.0, 0.0, 1.0, 0.0], 0.01);
        assert_eq!(s.peaks, 1);
        assert!(close(s.mean_rising, 500.0) && s.std_rising == 0.0);
        assert!(close(s.mean_falling, -250.0 / 3.0) && s.std_falling == 0.0);
    }

    #[test]
    fn slopes_without_extrema_and_degenerate_input() {
        // (last − first) / n, not divided by the period.
        let s = slopes(&[1.0, 2.0, 3.0, 4.0], 0.01);
        assert_eq!(s.peaks, 0);
        assert!(close(s.mean_rising, 0.75));
        assert_eq!((s.std_rising, s.mean_falling, s.std_falling), (0.0, 0.0, 0.0));
        let zero = Slopes { mean_rising: 0.0, std_rising: 0.0, mean_falling: 0.0, std_falling: 0.0, peaks: 0 };
        assert_eq!(slopes(&[], 0.01), zero);
        assert_eq!(slopes(&[3.0], 0.01), zero);
        assert_eq!(slopes(&[1.0; 10], 0.01), zero);
    }

    #[test]
    fn segments_of_a_contour() {
        let v = |bits: &[u8]| bits.iter().map(|&b| f64::from(b) * 200.0).collect::<Vec<f64>>();
        // Voiced runs 0..=4, 8..=10, 13..=19 → lengths 4, 2, 6 frames; unvoiced 5..=7 → 2.
        let s = segments(&v(&[1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1]), 0.01);
        assert!(close(s.voiced_per_sec, 3.0 / 0.2));
        assert!(close(s.mean_voiced_s, 0.04));
        assert!(close(s.std_voiced_s, (8.0f64 / 3.0).sqrt() * 0.01));
        assert!(close(s.mean_unvoiced_s, 0.02) && s.std_unvoiced_s == 0.0);
        // A one-frame gap does not split (2..=9 → 7); 12..=13 is too short; the trailing unvoiced
        // 14..=16 is a segment (2).
        let s = segments(&v(&[0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0]), 0.01);
        assert!(close(s.voiced_per_sec, 1.0 / 0.17));
        assert!(close(s.mean_voiced_s, 0.07) && s.std_voiced_s == 0.0);
        assert!(close(s.mean_unvoiced_s, 0.02));
    }

    #[test]
    fn segments_of_silence_and_empty_input() {
        // All unvoiced, 94 frames: one unvoiced segment of 93 frames (openSMILE, white noise: 0.93 s).
        let s = segments(&[0.0; 94], 0.01);
        assert_eq!((s.voiced_per_sec, s.mean_voiced_s, s.std_voiced_s), (0.0, 0.0, 0.0));
        assert!(close(s.mean_unvoiced_s, 0.93) && s.std_unvoiced_s == 0.0);
        let e = segments(&[], 0.01);
        assert_eq!((e.voiced_per_sec, e.mean_voiced_s, e.mean_unvoiced_s), (0.0, 0.0, 0.0));
    }
}
