//! EDRL, emotion-disentangled representation learning (method.md §2), in candle on the CPU: one
//! intra-class encoder per emotion class and one inter-class encoder shared by all, each
//! Linear → ReLU → Linear to a `code_dim` code; a classification head over the concatenated class codes;
//! a decoder that rebuilds x from [E_y(x), E_s(x)] for the true class y. Loss = class-weighted
//! cross-entropy + λ_rec · reconstruction MSE + λ_diff · ‖Aᵀ B / n‖²_F (A, B: batch-centred shared and
//! true-class codes) + λ_sim · mean over classes of ‖class mean of E_s − mean of E_s‖² (keeps the shared
//! code free of class information).
//!
//! The C + 1 encoders are one batched matmul over stacked weights (E × in × out), not C + 1 separate
//! layers: small networks in candle are bound by per-op overhead, so fewer, larger ops is what counts.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use crate::models::common::{self, to_tensor, weighted_cross_entropy, BatchLoss, Schedule, TrainLog};
use crate::rng::Rng;

/// The weights of the three auxiliary losses (the cross-entropy has weight 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossWeights {
    pub recon: f64,
    pub diff: f64,
    pub sim: f64,
}

/// The network's shape and losses, and its training schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Hidden width of every encoder and of the decoder.
    pub encoder_hidden: usize,
    /// Size of each class-specific code and of the shared code.
    pub code_dim: usize,
    pub loss: LossWeights,
    pub schedule: Schedule,
}

const NAMES: [&str; 10] =
    ["enc.w1", "enc.b1", "enc.w2", "enc.b2", "cls.w", "cls.b", "dec.w1", "dec.b1", "dec.w2", "dec.b2"];

pub struct Edrl {
    /// In NAMES order. Encoders: w1 (E, d, h), b1 (E, 1, h), w2 (E, h, z), b2 (E, 1, z) with E = C + 1, the
    /// shared encoder last. Head: w (C·z, C), b (C). Decoder: w1 (2z, h), b1 (h), w2 (h, d), b2 (d).
    params: Vec<Var>,
    n_classes: usize,
}

/// Uniform(−√(6/fan_in), +√(6/fan_in)) weights of a shape, from the seeded generator.
fn he_uniform(rng: &mut Rng, shape: &[usize], fan_in: usize) -> anyhow::Result<Var> {
    let bound = (6.0 / fan_in as f64).sqrt();
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.range(-bound, bound) as f32).collect();
    Ok(Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu)?)?)
}

fn zeros(shape: &[usize]) -> anyhow::Result<Var> {
    Ok(Var::from_tensor(&Tensor::zeros(shape, DType::F32, &Device::Cpu)?)?)
}

impl Edrl {
    pub fn init(d: usize, n_classes: usize, h: usize, z: usize, seed: u64) -> anyhow::Result<Edrl> {
        let mut rng = Rng::derived(seed, &["edrl-init"]);
        let e = n_classes + 1;
        let params = vec![
            he_uniform(&mut rng, &[e, d, h], d)?,
            zeros(&[e, 1, h])?,
            he_uniform(&mut rng, &[e, h, z], h)?,
            zeros(&[e, 1, z])?,
            he_uniform(&mut rng, &[n_classes * z, n_classes], n_classes * z)?,
            zeros(&[n_classes])?,
            he_uniform(&mut rng, &[2 * z, h], 2 * z)?,
            zeros(&[h])?,
            he_uniform(&mut rng, &[h, d], h)?,
            zeros(&[d])?,
        ];
        Ok(Edrl { params, n_classes })
    }

    fn p(&self, i: usize) -> &Tensor {
        self.params[i].as_tensor()
    }

    pub fn code_dim(&self) -> usize {
        self.p(2).dims()[2]
    }

    /// Codes of every encoder: (E, n, z), class encoders first, the shared one last.
    fn codes(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let e = self.n_classes + 1;
        let (n, d) = x.dims2()?;
        let xb = x.unsqueeze(0)?.broadcast_as((e, n, d))?.contiguous()?;
        let h = xb.matmul(self.p(0))?.broadcast_add(self.p(1))?.relu()?;
        h.matmul(self.p(2))?.broadcast_add(self.p(3))
    }

    /// Class codes side by side (n, C·z): the input of the classification head.
    fn class_codes_flat(&self, codes: &Tensor) -> candle_core::Result<Tensor> {
        let (_, n, z) = codes.dims3()?;
        codes.narrow(0, 0, self.n_classes)?.transpose(0, 1)?.contiguous()?.reshape((n, self.n_classes * z))
    }

    fn logits(&self, codes: &Tensor) -> candle_core::Result<Tensor> {
        self.class_codes_flat(codes)?.matmul(self.p(4))?.broadcast_add(self.p(5))
    }

    /// The training loss of a batch.
    pub(crate) fn loss(
        &self,
        w: &LossWeights,
        x: &Tensor,
        onehot: &Tensor,
        targets: &Tensor,
        weights: &Tensor,
        present: &Tensor,
    ) -> candle_core::Result<BatchLoss> {
        let codes = self.codes(x)?;
        let n = codes.dims3()?.1;
        let ce = weighted_cross_entropy(&self.logits(&codes)?, targets, weights)?;
        let shared = codes.get(self.n_classes)?;
        // E_y(x): the code of each utterance's own class.
        let by_class = codes.narrow(0, 0, self.n_classes)?.transpose(0, 1)?; // (n, C, z)
        let own = by_class.broadcast_mul(&onehot.unsqueeze(2)?)?.sum(1)?; // (n, z)
        let h = Tensor::cat(&[&own, &shared], 1)?.matmul(self.p(6))?.broadcast_add(self.p(7))?.relu()?;
        let recon = (h.matmul(self.p(8))?.broadcast_add(self.p(9))? - x)?.sqr()?.mean_all()?;
        let a = shared.broadcast_sub(&shared.mean_keepdim(0)?)?;
        let b = own.broadcast_sub(&own.mean_keepdim(0)?)?;
        let diff = (a.t()?.matmul(&b)? / n as f64)?.sqr()?.sum_all()?;
        // Class-conditional means of the shared code against its overall mean (classes in the batch only).
        let counts = onehot.sum(0)?; // (C)
        let means = onehot.t()?.matmul(&shared)?.broadcast_div(&counts.maximum(1.0)?.unsqueeze(1)?)?; // (C, z)
        let spread = means.broadcast_sub(&shared.mean_keepdim(0)?)?.sqr()?.sum(D::Minus1)?; // (C)
        let sim = ((spread * present)?.sum_all()? / present.sum_all()?.to_scalar::<f32>()?.max(1.0) as f64)?;
        let total = (((&ce + (&recon * w.recon)?)? + (&diff * w.diff)?)? + (&sim * w.sim)?)?;
        Ok(BatchLoss::from(total).term("ce", &ce).term("recon", &recon).term("diff", &diff).term("sim", &sim))
    }

    pub fn predict_proba(&self, x: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f32>>> {
        if x.is_empty() {
            return Ok(Vec::new());
        }
        let logits = self.logits(&self.codes(&to_tensor(x)?)?)?;
        Ok(candle_nn::ops::softmax(&logits, 1)?.to_vec2::<f32>()?)
    }

    /// Every encoder's code side by side per row, class encoders first, shared last: the MEA blocks.
    pub fn block_rows(&self, x: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f64>>> {
        if x.is_empty() {
            return Ok(Vec::new());
        }
        let codes = self.codes(&to_tensor(x)?)?; // (E, n, z)
        let (e, n, z) = codes.dims3()?;
        let flat = codes.transpose(0, 1)?.contiguous()?.reshape((n, e * z))?;
        Ok(flat.to_vec2::<f32>()?.into_iter().map(|r| r.into_iter().map(f64::from).collect()).collect())
    }

    pub(crate) fn vars(&self) -> Vec<Var> {
        self.params.clone()
    }

    fn snapshot(&self) -> anyhow::Result<Vec<Tensor>> {
        Ok(self.params.iter().map(|v| v.as_tensor().copy()).collect::<candle_core::Result<_>>()?)
    }

    fn restore(&self, snap: &[Tensor]) -> anyhow::Result<()> {
        for (v, t) in self.params.iter().zip(snap) {
            v.set(t)?;
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let map: HashMap<String, Tensor> =
            NAMES.iter().zip(&self.params).map(|(n, v)| (n.to_string(), v.as_tensor().clone())).collect();
        candle_core::safetensors::save(&map, path).with_context(|| format!("writing {}", path.display()))
    }

    pub fn load(path: &Path, n_classes: usize) -> anyhow::Result<Edrl> {
        let map = candle_core::safetensors::load(path, &Device::Cpu)
            .with_context(|| format!("reading {}", path.display()))?;
        let params = NAMES
            .iter()
            .map(|n| {
                let t = map.get(*n).with_context(|| format!("{}: no tensor {n}", path.display()))?;
                Ok(Var::from_tensor(t)?)
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Edrl { params, n_classes })
    }
}

/// Train EDRL on (x, y) with AdamW; keep the epoch with the best dev UAR of the classification head.
pub fn train(
    s: &Settings,
    seed: u64,
    x: &[Vec<f32>],
    y: &[usize],
    dev_x: &[Vec<f32>],
    dev_y: &[usize],
    n_classes: usize,
) -> anyhow::Result<(Edrl, TrainLog)> {
    anyhow::ensure!(!x.is_empty(), "no training utterances");
    let cfg = &s.schedule;
    let model = Edrl::init(x[0].len(), n_classes, s.encoder_hidden, s.code_dim, seed)?;
    let mut opt = AdamW::new(
        model.params.clone(),
        ParamsAdamW { lr: cfg.lr, weight_decay: cfg.weight_decay, ..ParamsAdamW::default() },
    )?;
    let class_w = common::class_weights(y, n_classes);
    let dev = Device::Cpu;
    let batch_loss = |chunk: &[usize]| -> anyhow::Result<BatchLoss> {
        let bx: Vec<Vec<f32>> = chunk.iter().map(|&i| x[i].clone()).collect();
        let mut onehot = vec![0f32; chunk.len() * n_classes];
        let mut present = vec![0f32; n_classes];
        for (r, &i) in chunk.iter().enumerate() {
            onehot[r * n_classes + y[i]] = 1.0;
            present[y[i]] = 1.0;
        }
        let onehot = Tensor::from_vec(onehot, (chunk.len(), n_classes), &dev)?;
        let targets = common::index_tensor(&chunk.iter().map(|&i| y[i]).collect::<Vec<_>>())?;
        let weights = Tensor::from_vec(chunk.iter().map(|&i| class_w[y[i]]).collect::<Vec<_>>(), chunk.len(), &dev)?;
        let present = Tensor::from_vec(present, n_classes, &dev)?;
        Ok(model.loss(&s.loss, &to_tensor(&bx)?, &onehot, &targets, &weights, &present)?)
    };
    let dev_uar = || common::dev_uar(dev_x, dev_y, n_classes, |d| model.predict_proba(d));
    let (best, log) =
        common::run_epochs(cfg, seed, "edrl-epoch", x.len(), &mut opt, batch_loss, dev_uar, || model.snapshot())?;
    model.restore(&best)?;
    Ok((model, log))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::common::argmax;

    #[test]
    fn learns_blobs_deterministically_and_round_trips_through_safetensors() {
        let mut rng = Rng::new(9);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in 0..240 {
            let c = i % 4;
            x.push((0..6).map(|j| if j == c { 2.0 } else { 0.0 } + rng.normal() as f32 * 0.5).collect::<Vec<f32>>());
            y.push(c);
        }
        let cfg = Settings {
            encoder_hidden: 64,
            code_dim: 16,
            loss: LossWeights { recon: 1.0, diff: 0.1, sim: 0.1 },
            schedule: Schedule { epochs: 20, lr: 3e-3, ..Schedule::default() },
        };
        let (a, _) = train(&cfg, 1, &x, &y, &x, &y, 4).unwrap();
        let (b, _) = train(&cfg, 1, &x, &y, &x, &y, 4).unwrap();
        let pa = a.predict_proba(&x).unwrap();
        assert_eq!(pa, b.predict_proba(&x).unwrap());
        let pred: Vec<usize> = pa.iter().map(|p| argmax(p)).collect();
        assert!(crate::models::metrics::compute(&y, &pred, 4).uar > 0.9);
        let dir = tempfile::tempdir().unwrap();
        a.save(&dir.path().join("e.safetensors")).unwrap();
        let back = Edrl::load(&dir.path().join("e.safetensors"), 4).unwrap();
        assert_eq!(back.predict_proba(&x).unwrap(), pa);
        assert_eq!(back.block_rows(&x[..2]).unwrap()[0].len(), 5 * cfg.code_dim);
    }
}
