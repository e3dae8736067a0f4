//! The pieces domain adaptation is made of (method.md, "Emo-DNA"), shared by the `emo-dna`, `dann` and
//! `mmd` kinds: a multi-bandwidth RBF MMD, a gradient-reversal layer and its DANN ramp, a supervised-
//! contrastive loss with extra negatives, an orthogonality penalty, and the FreeMatch-style
//! self-adaptive threshold for pseudo-labels. Each is checked against a numpy transcription
//! (tools/uda_reference.py, tests/uda_reference.rs).

use candle_core::Tensor;

/// Rows scaled to unit length (a zero row stays zero).
pub fn normalize_rows(x: &Tensor) -> candle_core::Result<Tensor> {
    x.broadcast_div(&x.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(1e-12)?)
}

/// Squared Euclidean distances between every row of `a` and every row of `b`.
fn sq_distances(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let na = a.sqr()?.sum_keepdim(1)?;
    let nb = b.sqr()?.sum_keepdim(1)?.t()?;
    na.broadcast_add(&nb)?.broadcast_sub(&(a.matmul(&b.t()?)? * 2.0)?)?.maximum(0.0)
}

/// MMD² (the biased estimator: every pair of each block, diagonal included) between the rows of `x` and
/// `y` under a sum of five Gaussian kernels exp(−‖a−b‖²/b_k), b_k = base · 2^k for k = −2..2, where base is
/// the mean squared distance between distinct rows of x and y together. The bandwidths follow the data
/// but carry no gradient (as in DAN, Long et al. 2015).
pub fn mmd(x: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
    let (m, n) = (x.dims2()?.0, y.dims2()?.0);
    let z = Tensor::cat(&[x, y], 0)?;
    let d = sq_distances(&z, &z)?;
    let total = (m + n) as f64;
    let mut base = d.detach().sum_all()?.to_scalar::<f32>()? as f64 / (total * total - total).max(1.0);
    if base <= 0.0 || !base.is_finite() {
        base = 1.0;
    }
    let mut k = (d.clone() * 0.0)?;
    for p in -2..=2 {
        k = (k + (&d * (-1.0 / (base * 2f64.powi(p))))?.exp()?)?;
    }
    let xx = k.narrow(0, 0, m)?.narrow(1, 0, m)?.mean_all()?;
    let yy = k.narrow(0, m, n)?.narrow(1, m, n)?.mean_all()?;
    let xy = k.narrow(0, 0, m)?.narrow(1, m, n)?.mean_all()?;
    (xx + yy)? - (xy * 2.0)?
}

/// The identity forward; backward multiplies the gradient by −`coeff` (Ganin & Lempitsky 2015). Written
/// as detach(x) + (−coeff)·(x − detach(x)): the second term is exactly zero in value, so the forward
/// pass is bit-identical to x.
pub fn reverse_gradient(x: &Tensor, coeff: f64) -> candle_core::Result<Tensor> {
    let fixed = x.detach();
    fixed.clone() + ((x - &fixed)? * (-coeff))?
}

/// DANN's schedule for the reversal coefficient: 2 / (1 + e^(−10p)) − 1 at training progress p ∈ [0, 1].
pub fn dann_coefficient(progress: f64) -> f64 {
    2.0 / (1.0 + (-10.0 * progress.clamp(0.0, 1.0)).exp()) - 1.0
}

/// Supervised-contrastive loss (Khosla et al. 2020, the L_out form) on the rows of `e` with their
/// `labels`, after normalising rows, at temperature `tau`; the rows of `extra` (normalised too) join
/// every denominator as negatives only. Anchors without a positive are skipped; 0 without any anchor.
pub fn supervised_contrastive(
    e: &Tensor,
    labels: &[usize],
    extra: Option<&Tensor>,
    tau: f64,
) -> candle_core::Result<Tensor> {
    let n = labels.len();
    let dev = e.device();
    // Anchor weights 1 / (|P(i)| · anchors) and the positive mask, from the labels.
    let (mut pos, mut weight) = (vec![0f32; n * n], vec![0f32; n]);
    for i in 0..n {
        let p: Vec<usize> = (0..n).filter(|&j| j != i && labels[j] == labels[i]).collect();
        for &j in &p {
            pos[i * n + j] = 1.0;
        }
        weight[i] = if p.is_empty() { 0.0 } else { 1.0 / p.len() as f32 };
    }
    let anchors = weight.iter().filter(|&&w| w > 0.0).count();
    if anchors == 0 {
        return Tensor::zeros((), e.dtype(), dev);
    }
    weight.iter_mut().for_each(|w| *w /= anchors as f32);
    let en = normalize_rows(e)?;
    let eye = Tensor::eye(n, e.dtype(), dev)?;
    let sim = (en.matmul(&en.t()?)? / tau)?;
    let cs = match extra.filter(|c| c.dims()[0] > 0) {
        Some(c) => Some((en.matmul(&normalize_rows(c)?.t()?)? / tau)?),
        None => None,
    };
    // Shift each row by its largest term of the denominator (no gradient; it cancels), so at least
    // one exp is 1 and a small τ cannot underflow every term to 0.
    let mut shift = (&sim - (&eye * 1e30)?)?.max_keepdim(1)?;
    if let Some(cs) = &cs {
        shift = shift.maximum(&cs.max_keepdim(1)?)?;
    }
    let shift = shift.detach();
    let sim = sim.broadcast_sub(&shift)?;
    // Self-similarity is left out of the denominator by sending it to exp(−∞) (a product with 0 would
    // give NaN once the shifted self term overflows).
    let mut denom = (&sim - (&eye * 1e30)?)?.exp()?.sum_keepdim(1)?;
    if let Some(cs) = &cs {
        denom = (denom + cs.broadcast_sub(&shift)?.exp()?.sum_keepdim(1)?)?;
    }
    let log_prob = sim.broadcast_sub(&denom.log()?)?;
    let pos = Tensor::from_vec(pos, (n, n), dev)?;
    let per_anchor = (log_prob * pos)?.sum(1)?;
    (per_anchor * Tensor::from_vec(weight, n, dev)?)?.sum_all()?.neg()
}

/// ‖Âᵀ B̂ / n‖²_F for row-normalised codes A, B of n rows (DSN's difference loss, Bousmalis et al.
/// 2016, divided by n inside the norm so its scale does not grow with the batch): zero when the two
/// codes are uncorrelated across the batch.
pub fn orthogonality(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let n = a.dims2()?.0 as f64;
    (normalize_rows(a)?.t()?.matmul(&normalize_rows(b)?)? / n)?.sqr()?.sum_all()
}

/// Self-adaptive pseudo-label threshold (FreeMatch, Wang et al. 2023): a global threshold τ tracked as an
/// EMA of the model's mean confidence on unlabeled batches, scaled per class by an EMA of the mean class
/// probabilities p̃ (τ_c = τ · p̃_c / max p̃). A sample keeps its pseudo-label when its confidence reaches
/// its class's threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveThreshold {
    momentum: f64,
    pub tau: f64,
    pub ptilde: Vec<f64>,
}

impl AdaptiveThreshold {
    /// τ and every p̃_c start at 1 / C.
    pub fn new(classes: usize, momentum: f64) -> AdaptiveThreshold {
        let start = 1.0 / classes.max(1) as f64;
        AdaptiveThreshold { momentum, tau: start, ptilde: vec![start; classes] }
    }

    /// Fold one batch of class probabilities into τ and p̃.
    pub fn update(&mut self, probs: &[Vec<f32>]) {
        if probs.is_empty() {
            return;
        }
        let (l, b) = (self.momentum, probs.len() as f64);
        let conf = probs.iter().map(|p| p.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v)) as f64).sum::<f64>() / b;
        self.tau = l * self.tau + (1.0 - l) * conf;
        for (c, pt) in self.ptilde.iter_mut().enumerate() {
            let mean = probs.iter().map(|p| p[c] as f64).sum::<f64>() / b;
            *pt = l * *pt + (1.0 - l) * mean;
        }
    }

    /// τ_c for every class.
    pub fn thresholds(&self) -> Vec<f64> {
        let max = self.ptilde.iter().fold(f64::MIN_POSITIVE, |a, &v| a.max(v));
        self.ptilde.iter().map(|p| self.tau * p / max).collect()
    }

    /// Each row's pseudo-label (its argmax) when its confidence reaches that class's threshold.
    pub fn select(&self, probs: &[Vec<f32>]) -> Vec<Option<usize>> {
        let t = self.thresholds();
        probs
            .iter()
            .map(|p| {
                let c = crate::models::argmax(p);
                (p[c] as f64 >= t[c]).then_some(c)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn reversal_is_the_identity_forward_and_flips_the_gradient() {
        let x = Var::from_tensor(&Tensor::new(&[[0.5f32, -1.25], [2.0, 3.0]], &Device::Cpu).unwrap()).unwrap();
        let w = Tensor::new(&[[1.0f32, -2.0], [0.25, 4.0]], &Device::Cpu).unwrap();
        let y = reverse_gradient(x.as_tensor(), 0.7).unwrap();
        assert_eq!(y.to_vec2::<f32>().unwrap(), x.as_tensor().to_vec2::<f32>().unwrap());
        let grads = (y * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let g = grads.get(x.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
        let want = (w * -0.7).unwrap().to_vec2::<f32>().unwrap();
        for (a, b) in g.iter().flatten().zip(want.iter().flatten()) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        // Without reversal the gradient is +w: the sign is what the layer changes.
        assert!(g[0][1] > 0.0 && g[1][1] < 0.0);
    }

    #[test]
    fn contrastive_loss_stays_finite_at_a_tiny_temperature() {
        // Opposite rows: with a fixed shift of 1/τ every other term would underflow to 0 and log(0) = −∞.
        let e = Tensor::new(&[[1.0f32, 0.0], [-1.0, 0.0], [-1.0, 0.001]], &Device::Cpu).unwrap();
        let v = supervised_contrastive(&e, &[0, 0, 1], None, 0.005).unwrap().to_scalar::<f32>().unwrap();
        // Anchors 0 and 1 (class 0) are opposite: their loss is large, and must stay finite.
        assert!(v.is_finite() && v > 0.0, "{v}");
    }

    #[test]
    fn dann_ramp_runs_from_zero_to_one() {
        assert_eq!(dann_coefficient(0.0), 0.0);
        assert!((dann_coefficient(1.0) - 0.999909).abs() < 1e-6);
        assert!(dann_coefficient(0.5) > 0.98 && dann_coefficient(0.1) < 0.47);
    }
}
