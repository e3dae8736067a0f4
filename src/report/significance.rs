//! Paired significance tests of one system against a reference on the same test utterances, and what a
//! test set can resolve: McNemar on per-utterance correctness; a bootstrap of a seed-averaged metric that
//! resamples clusters (speakers, or single utterances) for intervals and paired differences; a paired
//! sign-flip test by cluster; the minimum detectable difference. Checked against scipy, numpy and
//! scikit-learn (tests/significance_reference.rs, tests/cluster_bootstrap_reference.rs; reference values
//! from tools/significance_reference.py and tools/cluster_bootstrap_reference.py).

use serde::Serialize;

use crate::models::metrics;
use crate::rng::Rng;

/// McNemar's test on the discordant pairs: `b` = items the system got right and the reference wrong,
/// `c` = the reverse.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct McNemar {
    pub b: u64,
    pub c: u64,
    /// Exact two-sided binomial test of min(b, c) in b + c trials at 0.5 (scipy's `binomtest`).
    pub p_exact: f64,
    /// χ² with Edwards' continuity correction, max(0, |b − c| − 1)² / (b + c), and its p-value (1 dof).
    pub chi2: f64,
    pub p_chi2: f64,
}

pub fn mcnemar(system_correct: &[bool], reference_correct: &[bool]) -> McNemar {
    assert_eq!(system_correct.len(), reference_correct.len());
    let b = system_correct.iter().zip(reference_correct).filter(|(s, r)| **s && !**r).count() as u64;
    let c = system_correct.iter().zip(reference_correct).filter(|(s, r)| !**s && **r).count() as u64;
    mcnemar_counts(b, c)
}

pub fn mcnemar_counts(b: u64, c: u64) -> McNemar {
    let n = b + c;
    if n == 0 {
        return McNemar { b, c, p_exact: 1.0, chi2: 0.0, p_chi2: 1.0 };
    }
    let d = (b.abs_diff(c) as f64 - 1.0).max(0.0);
    let chi2 = d * d / n as f64;
    McNemar { b, c, p_exact: binomial_two_sided_half(b.min(c), n), chi2, p_chi2: chi2_sf_1dof(chi2) }
}

/// Two-sided exact p-value of k ≤ n/2 successes in n trials at p = 1/2: twice the lower tail, capped
/// at 1 (the distribution is symmetric, so this equals scipy's sum over outcomes no likelier than k).
/// The tail is summed downwards from pmf(k), its largest term, by the ratio pmf(i−1)/pmf(i) =
/// i/(n−i+1), so no term is computed in a large log-magnitude that would lose digits.
fn binomial_two_sided_half(k: u64, n: u64) -> f64 {
    let mut term = binomial_pmf_half(k, n);
    let mut tail = term;
    for i in (1..=k).rev() {
        term *= i as f64 / (n - i + 1) as f64;
        tail += term;
        if term < tail * 1e-18 {
            break;
        }
    }
    (2.0 * tail).min(1.0)
}

/// pmf(x; n, 1/2) by Loader's saddle-point expansion (as R's dbinom), accurate to a few ulps even when
/// n is large and the pmf is tiny.
fn binomial_pmf_half(x: u64, n: u64) -> f64 {
    if x == 0 || x == n {
        return (-(n as f64) * std::f64::consts::LN_2).exp();
    }
    let (x, n) = (x as f64, n as f64);
    let lc = stirling_error(n) - stirling_error(x) - stirling_error(n - x) - bd0(x, n / 2.0) - bd0(n - x, n / 2.0);
    let lf = (2.0 * std::f64::consts::PI).ln() + x.ln() + (-x / n).ln_1p();
    (lc - 0.5 * lf).exp()
}

/// ln(n!) − ((n + ½)·ln n − n + ½·ln 2π), for whole n ≥ 1.
fn stirling_error(n: f64) -> f64 {
    const S: [f64; 5] = [1.0 / 12.0, 1.0 / 360.0, 1.0 / 1260.0, 1.0 / 1680.0, 1.0 / 1188.0];
    if n <= 15.0 {
        let ln_factorial = (1..=n as u64).map(|i| i as f64).product::<f64>().ln();
        return ln_factorial - (n + 0.5) * n.ln() + n - 0.5 * (2.0 * std::f64::consts::PI).ln();
    }
    let nn = n * n;
    (S[0] - (S[1] - (S[2] - (S[3] - S[4] / nn) / nn) / nn) / nn) / n
}

/// x·ln(x/m) + m − x, by a series where the two sides nearly cancel (Loader 2000).
fn bd0(x: f64, m: f64) -> f64 {
    if (x - m).abs() < 0.1 * (x + m) {
        let v = (x - m) / (x + m);
        let mut s = (x - m) * v;
        let mut ej = 2.0 * x * v;
        let v2 = v * v;
        for j in 1..1000 {
            ej *= v2;
            let s1 = s + ej / (2 * j + 1) as f64;
            if s1 == s {
                return s1;
            }
            s = s1;
        }
        s
    } else {
        x * (x / m).ln() + m - x
    }
}

/// Survival function of χ² with one degree of freedom: Q(1/2, x/2), the regularised upper incomplete
/// gamma function (series below a + 1, Lentz's continued fraction above; Numerical Recipes §6.2).
fn chi2_sf_1dof(x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let (a, x) = (0.5f64, x / 2.0);
    let ln_gamma_a = 0.5 * std::f64::consts::PI.ln(); // Γ(1/2) = √π
    let prefactor = (-x + a * x.ln() - ln_gamma_a).exp();
    if x < a + 1.0 {
        let (mut ap, mut del) = (a, 1.0 / a);
        let mut sum = del;
        for _ in 0..1000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-17 {
                break;
            }
        }
        1.0 - sum * prefactor
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-17 {
                break;
            }
        }
        prefactor * h
    }
}

/// The metric of `truth` vs `pred` over the items at `idx` (repeats count as often as they occur).
fn metric_at(truth: &[usize], pred: &[usize], idx: &[usize], n_classes: usize, metric: &str) -> f64 {
    let mut cm = vec![vec![0u64; n_classes]; n_classes];
    for &i in idx {
        cm[truth[i]][pred[i]] += 1;
    }
    crate::report::metric_value(&metrics::from_confusion(cm), metric)
}

fn mean_over_seeds(truth: &[usize], seeds: &[Vec<usize>], idx: &[usize], n_classes: usize, metric: &str) -> f64 {
    seeds.iter().map(|p| metric_at(truth, p, idx, n_classes, metric)).sum::<f64>() / seeds.len() as f64
}

/// The units a bootstrap resamples: each a list of item indices. Utterances of one speaker are not
/// independent, so the report resamples whole speakers by default (`[report] bootstrap_unit`).
#[derive(Debug, Clone)]
pub struct Clusters {
    pub members: Vec<Vec<usize>>,
}

impl Clusters {
    /// One cluster per distinct key, in key order; members in item order.
    pub fn of(keys: &[&str]) -> Clusters {
        let mut by_key: std::collections::BTreeMap<&str, Vec<usize>> = std::collections::BTreeMap::new();
        for (i, k) in keys.iter().enumerate() {
            by_key.entry(k).or_default().push(i);
        }
        Clusters { members: by_key.into_values().collect() }
    }

    /// Every item its own cluster, in item order (the utterance bootstrap).
    pub fn items(n: usize) -> Clusters {
        Clusters { members: (0..n).map(|i| vec![i]).collect() }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    fn items_total(&self) -> usize {
        self.members.iter().map(Vec::len).sum()
    }
}

/// The test items of a comparison: true classes, the clusters a resample draws, and the metric.
#[derive(Clone, Copy)]
pub struct Items<'a> {
    pub truth: &'a [usize],
    pub clusters: &'a Clusters,
    pub n_classes: usize,
    pub metric: &'a str,
}

/// Per system, its metric averaged over its seeds on each of `resamples` cluster-bootstrap resamples
/// (k clusters drawn with replacement by `rng.below(k)`, their items concatenated; the same resample
/// for every system and seed), and on the full set. One set of resamples serves every system of a
/// table cell: their intervals and their paired differences. With `Clusters::items`, each resample is
/// n utterances drawn with replacement.
pub struct Resampled {
    pub observed: Vec<f64>,
    pub resampled: Vec<Vec<f64>>,
}

pub fn resample_metrics(items: &Items, systems: &[&[Vec<usize>]], resamples: usize, rng: &mut Rng) -> Resampled {
    let Items { truth, clusters, n_classes, metric } = *items;
    let all: Vec<usize> = (0..truth.len()).collect();
    let observed = systems.iter().map(|s| mean_over_seeds(truth, s, &all, n_classes, metric)).collect();
    let mut resampled = vec![Vec::with_capacity(resamples); systems.len()];
    let k = clusters.len() as u64;
    let mut idx = Vec::with_capacity(clusters.items_total());
    for _ in 0..resamples {
        idx.clear();
        for _ in 0..k {
            idx.extend_from_slice(&clusters.members[rng.below(k) as usize]);
        }
        for (s, out) in systems.iter().zip(resampled.iter_mut()) {
            out.push(mean_over_seeds(truth, s, &idx, n_classes, metric));
        }
    }
    Resampled { observed, resampled }
}

/// The percentile interval of one system's resampled metric (its table cell's interval).
pub fn interval(r: &Resampled, system: usize, confidence: f64) -> (f64, f64) {
    let mut v = r.resampled[system].clone();
    v.sort_by(f64::total_cmp);
    let tail = 100.0 * (1.0 - confidence) / 2.0;
    (percentile(&v, tail), percentile(&v, 100.0 - tail))
}

/// A paired permutation test of two systems on the same items, by cluster: each resample swaps the two
/// systems' predictions on every cluster whose coin (the top bit of `rng.next_u64()`, clusters in
/// order) comes up 1, which for a metric that is a mean over clusters is flipping the sign of each
/// cluster's difference. p = (1 + #{|Δ*| ≥ |Δ| − 1e-12}) / (1 + R): add-one smoothed, so never 0.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SignFlip {
    pub delta: f64,
    pub p: f64,
    pub resamples: usize,
}

pub fn sign_flip(items: &Items, system: &[usize], reference: &[usize], resamples: usize, rng: &mut Rng) -> SignFlip {
    let Items { truth, clusters, n_classes, metric } = *items;
    let metric_of = |cm: &[i64]| {
        let cm = cm.chunks(n_classes).map(|r| r.iter().map(|&v| v as u64).collect()).collect();
        crate::report::metric_value(&metrics::from_confusion(cm), metric)
    };
    // Confusion counts per cluster, flattened, for each system: a swap exchanges whole clusters.
    let counts = |pred: &[usize]| -> Vec<Vec<i64>> {
        clusters
            .members
            .iter()
            .map(|m| {
                let mut cm = vec![0i64; n_classes * n_classes];
                for &i in m {
                    cm[truth[i] * n_classes + pred[i]] += 1;
                }
                cm
            })
            .collect()
    };
    let (a, b) = (counts(system), counts(reference));
    let sum = |parts: &[Vec<i64>]| {
        parts.iter().fold(vec![0i64; n_classes * n_classes], |mut acc, cm| {
            acc.iter_mut().zip(cm).for_each(|(s, v)| *s += v);
            acc
        })
    };
    let (total_a, total_b) = (sum(&a), sum(&b));
    let delta = metric_of(&total_a) - metric_of(&total_b);
    let mut extreme = 0usize;
    let (mut sa, mut sb) = (total_a.clone(), total_b.clone());
    for _ in 0..resamples {
        sa.copy_from_slice(&total_a);
        sb.copy_from_slice(&total_b);
        for (ca, cb) in a.iter().zip(&b) {
            if rng.next_u64() >> 63 == 1 {
                for ((x, y), (va, vb)) in sa.iter_mut().zip(sb.iter_mut()).zip(ca.iter().zip(cb)) {
                    *x += vb - va;
                    *y += va - vb;
                }
            }
        }
        if (metric_of(&sa) - metric_of(&sb)).abs() >= delta.abs() - 1e-12 {
            extreme += 1;
        }
    }
    SignFlip { delta, p: (1 + extreme) as f64 / (1 + resamples) as f64, resamples }
}

/// The smallest true difference a paired comparison on this test set would detect with the given power
/// at level alpha (two-sided): (z₁₋α/₂ + z_power) · √(2p(1 − p) / n_eff), with p the accuracy of
/// `correct` (a reference system's per-item correctness) and n_eff = n / (1 + (m̄ − 1)ρ), m̄ the mean
/// cluster size and ρ the intraclass correlation of correctness over clusters (one-way ANOVA
/// estimator, clamped to [0, 1]; 0 when every cluster is one item). Two independent proportions, so
/// it ignores the correlation of paired systems: a conservative figure.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Mdd {
    pub n: usize,
    pub clusters: usize,
    pub p: f64,
    pub icc: f64,
    pub design_effect: f64,
    pub n_effective: f64,
    pub power: f64,
    pub alpha: f64,
    pub mdd: f64,
}

pub fn mdd(correct: &[bool], clusters: &Clusters, alpha: f64, power: f64) -> Option<Mdd> {
    let n = correct.len();
    let k = clusters.len();
    // One cluster: no between-speaker variation to estimate, so no honest figure.
    if n == 0 || k < 2 {
        return None;
    }
    let y = |i: usize| if correct[i] { 1.0 } else { 0.0 };
    let grand = (0..n).map(y).sum::<f64>() / n as f64;
    let icc = if k < 2 || n == k {
        0.0
    } else {
        let (mut ssb, mut ssw, mut sum_m2) = (0.0, 0.0, 0.0);
        for m in &clusters.members {
            let mj = m.len() as f64;
            let mean = m.iter().map(|&i| y(i)).sum::<f64>() / mj;
            ssb += mj * (mean - grand).powi(2);
            ssw += m.iter().map(|&i| (y(i) - mean).powi(2)).sum::<f64>();
            sum_m2 += mj * mj;
        }
        let msb = ssb / (k - 1) as f64;
        let msw = ssw / (n - k) as f64;
        let m0 = (n as f64 - sum_m2 / n as f64) / (k - 1) as f64;
        let denom = msb + (m0 - 1.0) * msw;
        if denom > 0.0 {
            ((msb - msw) / denom).clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    let design_effect = 1.0 + (n as f64 / k as f64 - 1.0) * icc;
    let n_effective = n as f64 / design_effect;
    let z = normal_quantile(1.0 - alpha / 2.0) + normal_quantile(power);
    let mdd = z * (2.0 * grand * (1.0 - grand) / n_effective).sqrt();
    Some(Mdd { n, clusters: k, p: grand, icc, design_effect, n_effective, power, alpha, mdd })
}

/// The standard normal quantile, q in (0, 1): solves P(|Z| > z) = 2(1 − q) (the χ²₁ survival
/// function above) by bisection to the last bit, negated below q = 1/2.
pub fn normal_quantile(q: f64) -> f64 {
    if q == 0.5 {
        return 0.0;
    }
    let tail = 2.0 * (1.0 - q.max(1.0 - q));
    let (mut lo, mut hi) = (0.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid == lo || mid == hi {
            break;
        }
        if chi2_sf_1dof(mid * mid) > tail {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let z = 0.5 * (lo + hi);
    if q < 0.5 {
        -z
    } else {
        z
    }
}

/// The paired bootstrap of system − reference: the observed difference of their seed-averaged
/// metrics, a percentile confidence interval of it, and a two-sided p-value
/// 2·min(P*(Δ ≤ 0), P*(Δ ≥ 0)), capped at 1.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bootstrap {
    pub delta: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub confidence: f64,
    pub p: f64,
    pub resamples: usize,
}

pub fn paired_bootstrap(r: &Resampled, system: usize, reference: usize, confidence: f64) -> Bootstrap {
    let mut deltas: Vec<f64> = r.resampled[system].iter().zip(&r.resampled[reference]).map(|(s, b)| s - b).collect();
    let n = deltas.len();
    let le = deltas.iter().filter(|d| **d <= 0.0).count();
    let ge = deltas.iter().filter(|d| **d >= 0.0).count();
    deltas.sort_by(f64::total_cmp);
    let tail = 100.0 * (1.0 - confidence) / 2.0;
    Bootstrap {
        delta: r.observed[system] - r.observed[reference],
        ci_low: percentile(&deltas, tail),
        ci_high: percentile(&deltas, 100.0 - tail),
        confidence,
        p: if n == 0 { 1.0 } else { (2.0 * le.min(ge) as f64 / n as f64).min(1.0) },
        resamples: n,
    }
}

/// numpy's default ("linear") percentile of sorted values, q in [0, 100].
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q / 100.0;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let t = h - lo as f64;
    // numpy's _lerp: a + (b − a)·t, computed from the upper end when t ≥ 1/2.
    let (a, b) = (sorted[lo], sorted[hi]);
    if t >= 0.5 {
        b - (b - a) * (1.0 - t)
    } else {
        a + (b - a) * t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_p_of_small_cases_by_hand() {
        // b = 0, c = 3: 2 · (1/2)³ = 0.25.
        assert!((mcnemar_counts(0, 3).p_exact - 0.25).abs() < 1e-15);
        // b = c: p = 1, χ² = 0.
        let t = mcnemar_counts(4, 4);
        assert_eq!((t.p_exact, t.chi2, t.p_chi2), (1.0, 0.0, 1.0));
        // χ² with 1 dof: P(X > 3.841458820694124) = 0.05.
        assert!((chi2_sf_1dof(3.841458820694124) - 0.05).abs() < 1e-12);
        assert!((chi2_sf_1dof(0.1) - 0.7518296340458492).abs() < 1e-12);
    }

    #[test]
    fn percentile_is_numpy_linear() {
        let v = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 100.0), 8.0);
        assert!((percentile(&v, 50.0) - 3.0).abs() < 1e-15);
        assert!((percentile(&v, 2.5) - 1.075).abs() < 1e-15);
    }
}
