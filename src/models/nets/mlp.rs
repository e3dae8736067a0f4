//! A plain multilayer perceptron in candle (CPU), trained with AdamW and class-balanced cross-entropy,
//! with the epoch chosen by UAR on the source dev split. Weights are initialised and batches shuffled
//! from our own seeded generator, so a seed gives the same model on every run.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use crate::models::common::{self, to_tensor, weighted_cross_entropy, Schedule, TrainLog};
use crate::rng::Rng;

pub struct Mlp {
    /// (weight out×in, bias out) per layer.
    layers: Vec<(Var, Var)>,
}

impl Mlp {
    /// He-uniform initialisation from a seeded generator.
    pub fn init(dims: &[usize], seed: u64) -> anyhow::Result<Mlp> {
        Mlp::init_from(dims, &mut Rng::derived(seed, &["mlp-init"]))
    }

    /// He-uniform initialisation drawing from `rng` (networks made of several MLPs share one).
    pub fn init_from(dims: &[usize], rng: &mut Rng) -> anyhow::Result<Mlp> {
        let mut layers = Vec::new();
        for w in dims.windows(2) {
            let (n_in, n_out) = (w[0], w[1]);
            let bound = (6.0 / n_in as f64).sqrt();
            let weights: Vec<f32> = (0..n_in * n_out).map(|_| rng.range(-bound, bound) as f32).collect();
            let wt = Tensor::from_vec(weights, (n_out, n_in), &Device::Cpu)?;
            let bt = Tensor::zeros(n_out, DType::F32, &Device::Cpu)?;
            layers.push((Var::from_tensor(&wt)?, Var::from_tensor(&bt)?));
        }
        Ok(Mlp { layers })
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        Ok(self.forward_with_hidden(x)?.1)
    }

    /// The last hidden layer's activations (the input itself for a single layer) and the output.
    pub fn forward_with_hidden(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let (mut h, mut hidden) = (x.clone(), x.clone());
        for (i, (w, b)) in self.layers.iter().enumerate() {
            h = h.matmul(&w.as_tensor().t()?)?.broadcast_add(b.as_tensor())?;
            if i + 1 < self.layers.len() {
                h = h.relu()?;
                hidden = h.clone();
            }
        }
        Ok((hidden, h))
    }

    pub(crate) fn vars(&self) -> Vec<Var> {
        self.layers.iter().flat_map(|(w, b)| [w.clone(), b.clone()]).collect()
    }

    pub(crate) fn snapshot(&self) -> anyhow::Result<Vec<(Tensor, Tensor)>> {
        Ok(self
            .layers
            .iter()
            .map(|(w, b)| Ok((w.as_tensor().copy()?, b.as_tensor().copy()?)))
            .collect::<candle_core::Result<_>>()?)
    }

    pub(crate) fn restore(&self, snap: &[(Tensor, Tensor)]) -> anyhow::Result<()> {
        for ((w, b), (sw, sb)) in self.layers.iter().zip(snap) {
            w.set(sw)?;
            b.set(sb)?;
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut map: HashMap<String, Tensor> = HashMap::new();
        self.insert_tensors(&mut map, "");
        candle_core::safetensors::save(&map, path).with_context(|| format!("writing {}", path.display()))
    }

    /// Add the layers to a tensor map as `{prefix}layerN.weight` / `.bias` (one file can hold several MLPs).
    pub fn insert_tensors(&self, map: &mut HashMap<String, Tensor>, prefix: &str) {
        for (i, (w, b)) in self.layers.iter().enumerate() {
            map.insert(format!("{prefix}layer{i}.weight"), w.as_tensor().clone());
            map.insert(format!("{prefix}layer{i}.bias"), b.as_tensor().clone());
        }
    }

    /// Load the layers saved by [`Mlp::save`] (as many as the file holds).
    pub fn load(path: &Path) -> anyhow::Result<Mlp> {
        let map = candle_core::safetensors::load(path, &Device::Cpu)
            .with_context(|| format!("reading {}", path.display()))?;
        Mlp::from_tensors(&map, "").with_context(|| path.display().to_string())
    }

    /// The layers [`Mlp::insert_tensors`] wrote under `prefix`.
    pub fn from_tensors(map: &HashMap<String, Tensor>, prefix: &str) -> anyhow::Result<Mlp> {
        let mut layers = Vec::new();
        while let (Some(w), Some(b)) = (
            map.get(&format!("{prefix}layer{}.weight", layers.len())),
            map.get(&format!("{prefix}layer{}.bias", layers.len())),
        ) {
            layers.push((Var::from_tensor(w)?, Var::from_tensor(b)?));
        }
        anyhow::ensure!(!layers.is_empty(), "no {prefix}layer0.weight / {prefix}layer0.bias tensors");
        Ok(Mlp { layers })
    }

    /// Class probabilities for each row.
    pub fn predict_proba(&self, x: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f32>>> {
        if x.is_empty() {
            return Ok(Vec::new());
        }
        let t = to_tensor(x)?;
        let p = candle_nn::ops::softmax(&self.forward(&t)?, 1)?;
        Ok(p.to_vec2::<f32>()?)
    }
}

/// Train on (x, y); choose the epoch with the best dev UAR (the last epoch when there is no dev set).
#[allow(clippy::too_many_arguments)]
pub fn train(
    hidden: &[usize],
    cfg: &Schedule,
    seed: u64,
    x: &[Vec<f32>],
    y: &[usize],
    dev_x: &[Vec<f32>],
    dev_y: &[usize],
    n_classes: usize,
) -> anyhow::Result<(Mlp, TrainLog)> {
    anyhow::ensure!(!x.is_empty(), "no training utterances");
    let mut dims = vec![x[0].len()];
    dims.extend(hidden);
    dims.push(n_classes);
    let model = Mlp::init(&dims, seed)?;
    let mut opt =
        AdamW::new(model.vars(), ParamsAdamW { lr: cfg.lr, weight_decay: cfg.weight_decay, ..ParamsAdamW::default() })?;
    let class_w = common::class_weights(y, n_classes);
    let batch_loss = |chunk: &[usize]| -> anyhow::Result<common::BatchLoss> {
        let bx: Vec<Vec<f32>> = chunk.iter().map(|&i| x[i].clone()).collect();
        let targets = common::index_tensor(&chunk.iter().map(|&i| y[i]).collect::<Vec<_>>())?;
        let weights =
            Tensor::from_vec(chunk.iter().map(|&i| class_w[y[i]]).collect::<Vec<_>>(), chunk.len(), &Device::Cpu)?;
        Ok(weighted_cross_entropy(&model.forward(&to_tensor(&bx)?)?, &targets, &weights)?.into())
    };
    let dev_uar = || common::dev_uar(dev_x, dev_y, n_classes, |d| model.predict_proba(d));
    let (best, log) =
        common::run_epochs(cfg, seed, "mlp-epoch", x.len(), &mut opt, batch_loss, dev_uar, || model.snapshot())?;
    model.restore(&best)?;
    Ok((model, log))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_separable_blobs_deterministically() {
        let mut rng = Rng::new(5);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..200 {
            let c = i % 3;
            x.push(vec![c as f32 * 2.0 + rng.normal() as f32 * 0.3, rng.normal() as f32]);
            y.push(c);
        }
        let cfg = Schedule { epochs: 30, batch_size: 32, lr: 1e-2, weight_decay: 0.0, ..Schedule::default() };
        let (m1, _) = train(&[16], &cfg, 1, &x, &y, &x, &y, 3).unwrap();
        let (m2, _) = train(&[16], &cfg, 1, &x, &y, &x, &y, 3).unwrap();
        let p1 = m1.predict_proba(&x).unwrap();
        assert_eq!(p1, m2.predict_proba(&x).unwrap());
        let pred: Vec<usize> = p1.iter().map(|p| common::argmax(p)).collect();
        assert!(crate::models::metrics::compute(&y, &pred, 3).uar > 0.95);
    }
}
