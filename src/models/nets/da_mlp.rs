//! The domain-adaptation baselines: an MLP (as `mlp`) whose last hidden layer is pulled towards the
//! target corpus's, on batches of labeled source rows each met by as many unlabeled target rows.
//! `mmd` (DAN, Long et al. 2015): source cross-entropy + λ · multi-bandwidth RBF MMD² between the source
//! and target activations. `dann` (Ganin & Lempitsky 2015): source cross-entropy + λ · cross-entropy of
//! a domain discriminator that reads the activations through a gradient-reversal layer whose
//! coefficient ramps as 2/(1+e^(−10p))−1 over training progress p. Without target rows (the in-corpus
//! cell) both train on the cross-entropy alone, as `mlp` does (from their own seeded initialisation, so
//! not the same weights). Only the MLP is kept: the discriminator has no use after training.

use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use super::align::{dann_coefficient, mmd, reverse_gradient};
use super::mlp::Mlp;
use crate::models::common::{
    self, index_tensor, rows_tensor, weighted_cross_entropy, BatchLoss, Schedule, TargetBatches, TrainLog,
};
use crate::models::TrainData;
use crate::rng::Rng;

/// How the hidden layer is aligned.
#[derive(Debug, Clone, PartialEq)]
pub enum Alignment {
    Mmd {
        weight: f64,
    },
    /// A discriminator with one hidden layer of `hidden` units.
    Adversarial {
        weight: f64,
        hidden: usize,
    },
}

pub struct Settings<'a> {
    pub hidden: &'a [usize],
    pub alignment: Alignment,
    pub schedule: &'a Schedule,
}

/// Train on the source rows, aligned to the target rows; keep the epoch with the best source-dev UAR.
pub fn train(s: &Settings, seed: u64, d: &TrainData) -> anyhow::Result<(Mlp, TrainLog)> {
    anyhow::ensure!(!d.x.is_empty(), "no training utterances");
    anyhow::ensure!(!s.hidden.is_empty(), "hidden must name at least one layer (the one that is aligned)");
    let (cfg, n_classes) = (s.schedule, d.classes.len());
    let mut dims = vec![d.x[0].len()];
    dims.extend(s.hidden);
    dims.push(n_classes);
    let mut rng = Rng::derived(seed, &["da-mlp-init"]);
    let model = Mlp::init_from(&dims, &mut rng)?;
    // The discriminator, for adversarial alignment.
    let disc = match s.alignment {
        Alignment::Adversarial { weight, hidden } => {
            Some((weight, Mlp::init_from(&[s.hidden[s.hidden.len() - 1], hidden, 2], &mut rng)?))
        }
        Alignment::Mmd { .. } => None,
    };
    let mut vars = model.vars();
    vars.extend(disc.iter().flat_map(|(_, m)| m.vars()));
    let mut opt =
        AdamW::new(vars, ParamsAdamW { lr: cfg.lr, weight_decay: cfg.weight_decay, ..ParamsAdamW::default() })?;
    let class_w = common::class_weights(d.y, n_classes);
    let mut target = TargetBatches::new(d.target_x.len(), seed, "da-mlp-target");
    let total_steps = (cfg.epochs * d.x.len().div_ceil(cfg.batch_size)).max(1);
    let mut step = 0usize;
    let batch_loss = |chunk: &[usize]| -> anyhow::Result<BatchLoss> {
        let b = chunk.len();
        let progress = step as f64 / total_steps as f64;
        step += 1;
        let targets = index_tensor(&chunk.iter().map(|&i| d.y[i]).collect::<Vec<_>>())?;
        let weights = Tensor::from_vec(chunk.iter().map(|&i| class_w[d.y[i]]).collect::<Vec<_>>(), b, &Device::Cpu)?;
        let t_idx = target.take(b);
        let xs = rows_tensor(d.x, chunk)?;
        if t_idx.is_empty() {
            let ce = weighted_cross_entropy(&model.forward(&xs)?, &targets, &weights)?;
            return Ok(BatchLoss::from(ce.clone()).term("ce", &ce));
        }
        let all = Tensor::cat(&[&xs, &rows_tensor(d.target_x, &t_idx)?], 0)?;
        let (h, logits) = model.forward_with_hidden(&all)?;
        let ce = weighted_cross_entropy(&logits.narrow(0, 0, b)?, &targets, &weights)?;
        let (name, raw, weight) = match (&disc, &s.alignment) {
            (Some((weight, disc)), _) => {
                let domain: Vec<usize> = (0..b + t_idx.len()).map(|r| usize::from(r >= b)).collect();
                let logits = disc.forward(&reverse_gradient(&h, dann_coefficient(progress))?)?;
                ("domain", candle_nn::loss::cross_entropy(&logits, &index_tensor(&domain)?)?, *weight)
            }
            (None, Alignment::Mmd { weight }) => {
                ("mmd", mmd(&h.narrow(0, 0, b)?, &h.narrow(0, b, t_idx.len())?)?, *weight)
            }
            (None, Alignment::Adversarial { .. }) => anyhow::bail!("adversarial alignment without a discriminator"),
        };
        let total = (&ce + (&raw * weight)?)?;
        Ok(BatchLoss::from(total).term("ce", &ce).term(name, &raw))
    };
    let dev_uar = || common::dev_uar(d.dev_x, d.dev_y, n_classes, |x| model.predict_proba(x));
    let (best, log) =
        common::run_epochs(cfg, seed, "da-mlp-epoch", d.x.len(), &mut opt, batch_loss, dev_uar, || model.snapshot())?;
    model.restore(&best)?;
    Ok((model, log))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::common::argmax;

    #[test]
    fn both_alignments_learn_deterministically_and_use_the_target() {
        let mut rng = Rng::new(4);
        let (mut x, mut y, mut t) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..180 {
            let c = i % 3;
            x.push(vec![c as f32 * 2.0 + rng.normal() as f32 * 0.3, rng.normal() as f32 * 0.3]);
            y.push(c);
            t.push(vec![c as f32 * 2.0 + 0.7 + rng.normal() as f32 * 0.3, 1.5 + rng.normal() as f32 * 0.3]);
        }
        let classes: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let corpora: Vec<String> = ["s", "t"].map(String::from).to_vec();
        let corpus = vec![0; x.len()];
        let with_target = |target: bool| TrainData {
            x: &x,
            y: &y,
            dev_x: &x,
            dev_y: &y,
            classes: &classes,
            feature_blocks: &[],
            corpus: &corpus,
            corpora: &corpora,
            target_x: if target { &t } else { &[] },
            sequences: None,
        };
        let schedule = Schedule { epochs: 40, batch_size: 32, lr: 1e-2, weight_decay: 0.0, ..Schedule::default() };
        let uar = |m: &Mlp| {
            let pred: Vec<usize> = m.predict_proba(&t).unwrap().iter().map(|p| argmax(p)).collect();
            crate::models::metrics::compute(&y, &pred, 3).uar
        };
        for alignment in [Alignment::Mmd { weight: 1.0 }, Alignment::Adversarial { weight: 1.0, hidden: 8 }] {
            let s = Settings { hidden: &[16], alignment, schedule: &schedule };
            let (m1, _) = train(&s, 1, &with_target(true)).unwrap();
            let (m2, _) = train(&s, 1, &with_target(true)).unwrap();
            let (plain, _) = train(&s, 1, &with_target(false)).unwrap();
            let p1 = m1.predict_proba(&t).unwrap();
            assert_eq!(p1, m2.predict_proba(&t).unwrap());
            assert_ne!(p1, plain.predict_proba(&t).unwrap(), "the target rows change training");
            eprintln!("{:?}: adapted {:.3} plain {:.3}", s.alignment, uar(&m1), uar(&plain));
            assert!(
                uar(&m1) > uar(&plain),
                "{:?}: alignment helps on a shift smaller than half the class spacing",
                s.alignment
            );
        }
    }
}
