//! Sums of f64 slices in four interleaved partial sums. A plain `iter().sum()` is one chain of
//! dependent additions (a few cycles each, whatever the CPU); four independent chains let the core
//! overlap them and the compiler use SIMD lanes. The partial sums are added pairwise at the end, so
//! a result differs from the sequential sum only by rounding, and is the same on every run.

/// Σ a[i] · b[i] over the shorter length.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

/// Σ (a[i] · w[i])² over the shorter length: the energy of a windowed frame.
pub fn windowed_energy(a: &[f64], w: &[f64]) -> f64 {
    let n = a.len().min(w.len());
    let (a, w) = (&a[..n], &w[..n]);
    let mut acc = [0.0f64; 4];
    let (ca, cw) = (a.chunks_exact(4), w.chunks_exact(4));
    let (ra, rw) = (ca.remainder(), cw.remainder());
    for (x, y) in ca.zip(cw) {
        for l in 0..4 {
            let v = x[l] * y[l];
            acc[l] += v * v;
        }
    }
    let mut sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in ra.iter().zip(rw) {
        sum += (x * y) * (x * y);
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_match_the_sequential_sums_for_every_remainder() {
        for n in 0..11 {
            let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin()).collect();
            let b: Vec<f64> = (0..n).map(|i| (i as f64 * 1.3).cos()).collect();
            let d: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - d).abs() < 1e-12, "n = {n}");
            let e: f64 = a.iter().zip(&b).map(|(x, y)| (x * y) * (x * y)).sum();
            assert!((windowed_energy(&a, &b) - e).abs() < 1e-12, "n = {n}");
        }
        // Unequal lengths: the shorter one's.
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, 5.0]), 14.0);
    }
}
