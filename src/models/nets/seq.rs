//! The sequence network of the SE+SER kinds (method.md §5), in plain candle: a shared encoder over log1p
//! STFT magnitude frames and two heads on it.
//!
//! - **Encoder**: per-bin normalisation (statistics of the training set), a strided conv stem (kernel 2,
//!   stride 2: two 10 ms frames per step), sinusoidal positions, then `layers` pre-norm self-attention
//!   blocks with padding masks. Each task reads a softmax-weighted sum of the stem and block outputs, as
//!   SER heads read SSL layers.
//! - **Enhancement head**: a sigmoid mask over the noisy log1p magnitude, one per 10 ms frame (each
//!   encoder step predicts two), trained by L1 to the clean log1p magnitude.
//! - **Emotion head**: attentive statistics pooling (weighted mean and std over valid steps) → MLP →
//!   classes, trained by class-weighted cross-entropy.
//!
//! Freezing is by detaching: `forward(.., trainable_from)` detaches every encoder output below that
//! depth, so a frozen part costs no backward pass (cascade unfreezing, [`train_cascade`]).

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::models::common::{self, weighted_cross_entropy, Selector, TrainLog};
use crate::models::{Crop, SeqExample, SequenceSet};
use crate::rng::Rng;

/// The architecture and optimiser options every sequence kind shares (flattened into its table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeqOptions {
    /// Width of the encoder.
    #[serde(default = "default_dim")]
    pub dim: usize,
    /// Self-attention blocks.
    #[serde(default = "default_layers")]
    pub layers: usize,
    #[serde(default = "default_heads")]
    pub heads: usize,
    /// Hidden width of the heads' MLPs and the blocks' feed-forward layers.
    #[serde(default = "default_hidden")]
    pub hidden: usize,
    /// Training crops: at most this many 10 ms frames per utterance and step (a random window).
    #[serde(default = "default_crop")]
    pub crop_frames: usize,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default = "default_lr")]
    pub lr: f64,
    #[serde(default = "default_wd")]
    pub weight_decay: f64,
}

impl Default for SeqOptions {
    fn default() -> Self {
        SeqOptions {
            dim: default_dim(),
            layers: default_layers(),
            heads: default_heads(),
            hidden: default_hidden(),
            crop_frames: default_crop(),
            batch_size: default_batch(),
            lr: default_lr(),
            weight_decay: default_wd(),
        }
    }
}

impl SeqOptions {
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.dim == 0 || self.heads == 0 || !self.dim.is_multiple_of(self.heads) {
            return Err(("dim", format!("dim = {} must be a positive multiple of heads = {}", self.dim, self.heads)));
        }
        if self.batch_size == 0 || self.crop_frames < 2 || self.hidden == 0 {
            return Err(("batch_size", "batch_size, hidden ≥ 1 and crop_frames ≥ 2".into()));
        }
        Ok(())
    }
}

fn default_dim() -> usize {
    32
}
fn default_layers() -> usize {
    2
}
fn default_heads() -> usize {
    4
}
fn default_hidden() -> usize {
    64
}
fn default_crop() -> usize {
    128
}
fn default_batch() -> usize {
    16
}
fn default_lr() -> f64 {
    2e-3
}
fn default_wd() -> f64 {
    1e-2
}

/// Which heads a network has.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heads {
    pub enhance: bool,
    pub emotion: bool,
}

struct Linear {
    w: Var,
    b: Var,
}

impl Linear {
    /// Uniform ±1/√in (PyTorch's default for linear layers), from our generator.
    fn new(rng: &mut Rng, n_in: usize, n_out: usize) -> candle_core::Result<Linear> {
        let bound = 1.0 / (n_in as f64).sqrt();
        let w: Vec<f32> = (0..n_in * n_out).map(|_| rng.range(-bound, bound) as f32).collect();
        let b: Vec<f32> = (0..n_out).map(|_| rng.range(-bound, bound) as f32).collect();
        Ok(Linear {
            w: Var::from_tensor(&Tensor::from_vec(w, (n_out, n_in), &Device::Cpu)?)?,
            b: Var::from_tensor(&Tensor::from_vec(b, n_out, &Device::Cpu)?)?,
        })
    }

    /// Over the last dimension of a tensor of any rank.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dims = x.dims().to_vec();
        let n_in = dims[dims.len() - 1];
        let rows = x.elem_count() / n_in;
        let y = x.reshape((rows, n_in))?.matmul(&self.w.as_tensor().t()?)?.broadcast_add(self.b.as_tensor())?;
        let mut out = dims;
        let last = out.len() - 1;
        out[last] = self.b.as_tensor().dim(0)?;
        y.reshape(out)
    }

    fn vars(&self) -> Vec<Var> {
        vec![self.w.clone(), self.b.clone()]
    }
}

struct Norm {
    g: Var,
    b: Var,
}

impl Norm {
    fn new(n: usize) -> candle_core::Result<Norm> {
        Ok(Norm {
            g: Var::from_tensor(&Tensor::ones(n, DType::F32, &Device::Cpu)?)?,
            b: Var::from_tensor(&Tensor::zeros(n, DType::F32, &Device::Cpu)?)?,
        })
    }
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm_slow(x, self.g.as_tensor(), self.b.as_tensor(), 1e-5)
    }
    fn vars(&self) -> Vec<Var> {
        vec![self.g.clone(), self.b.clone()]
    }
}

/// A pre-norm self-attention block: x + MHA(LN x), then x + FFN(LN x).
struct Block {
    norm1: Norm,
    qkv: Linear,
    out: Linear,
    norm2: Norm,
    ff1: Linear,
    ff2: Linear,
    heads: usize,
}

impl Block {
    fn new(rng: &mut Rng, dim: usize, hidden: usize, heads: usize) -> candle_core::Result<Block> {
        Ok(Block {
            norm1: Norm::new(dim)?,
            qkv: Linear::new(rng, dim, 3 * dim)?,
            out: Linear::new(rng, dim, dim)?,
            norm2: Norm::new(dim)?,
            ff1: Linear::new(rng, dim, hidden)?,
            ff2: Linear::new(rng, hidden, dim)?,
            heads,
        })
    }

    /// `x`: (B, T, d); `key_bias`: (B, 1, 1, T), 0 for valid steps and a large negative for padding.
    fn forward(&self, x: &Tensor, key_bias: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let dh = d / self.heads;
        let qkv = self.qkv.forward(&self.norm1.forward(x)?)?;
        let split = |i: usize| -> candle_core::Result<Tensor> {
            qkv.narrow(2, i * d, d)?.reshape((b, t, self.heads, dh))?.transpose(1, 2)?.contiguous()
        };
        let (q, k, v) = (split(0)?, split(1)?, split(2)?);
        let scores = (q.matmul(&k.t()?.contiguous()?)? / (dh as f64).sqrt())?.broadcast_add(key_bias)?;
        let attn = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let ctx = attn.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((b, t, d))?;
        let x = (x + self.out.forward(&ctx)?)?;
        let ff = self.ff2.forward(&self.ff1.forward(&self.norm2.forward(&x)?)?.relu()?)?;
        x + ff
    }

    fn vars(&self) -> Vec<Var> {
        [
            &self.norm1.vars()[..],
            &self.qkv.vars(),
            &self.out.vars(),
            &self.norm2.vars(),
            &self.ff1.vars(),
            &self.ff2.vars(),
        ]
        .concat()
    }
}

/// A padded batch: inputs, masks and targets as tensors.
pub struct Batch {
    /// (B, T, F) log1p magnitudes of the input, T even.
    pub noisy: Tensor,
    /// (B, T, F) clean targets.
    pub clean: Tensor,
    /// (B, T) 1 for real frames.
    pub frame_mask: Tensor,
    /// (B, T/2) 1 for encoder steps that cover a real frame.
    pub step_mask: Tensor,
    /// (B, 1, 1, T/2) attention bias.
    pub key_bias: Tensor,
}

impl Batch {
    /// Pad to one even length.
    pub fn new(examples: &[SeqExample], bins: usize) -> anyhow::Result<Batch> {
        let t = examples.iter().map(|e| e.noisy.len()).max().unwrap_or(0).max(2).div_ceil(2) * 2;
        let b = examples.len();
        let (mut noisy, mut clean) = (vec![0f32; b * t * bins], vec![0f32; b * t * bins]);
        let (mut fmask, mut smask) = (vec![0f32; b * t], vec![0f32; b * t / 2]);
        for (i, e) in examples.iter().enumerate() {
            for j in 0..e.noisy.len() {
                let at = (i * t + j) * bins;
                noisy[at..at + bins].copy_from_slice(&e.noisy[j]);
                clean[at..at + bins].copy_from_slice(&e.clean[j]);
                fmask[i * t + j] = 1.0;
                smask[i * t / 2 + j / 2] = 1.0;
            }
        }
        let bias: Vec<f32> = smask.iter().map(|&m| if m > 0.0 { 0.0 } else { -1e4 }).collect();
        let dev = &Device::Cpu;
        Ok(Batch {
            noisy: Tensor::from_vec(noisy, (b, t, bins), dev)?,
            clean: Tensor::from_vec(clean, (b, t, bins), dev)?,
            frame_mask: Tensor::from_vec(fmask, (b, t), dev)?,
            step_mask: Tensor::from_vec(smask, (b, t / 2), dev)?,
            key_bias: Tensor::from_vec(bias, (b, 1, 1, t / 2), dev)?,
        })
    }
}

/// What one forward pass gives.
pub struct Output {
    /// (B, T, F) estimated clean log1p magnitude (mask ⊙ noisy), with an enhancement head.
    pub enhanced: Option<Tensor>,
    /// (B, C) emotion logits, with an emotion head.
    pub logits: Option<Tensor>,
}

pub struct SeqNet {
    bins: usize,
    /// Per-bin mean and std of the training inputs (constants).
    mean: Tensor,
    std: Tensor,
    stem: Linear,
    stem_norm: Norm,
    blocks: Vec<Block>,
    /// Softmax weights over the stem and block outputs, per head.
    enhance_layers: Var,
    emotion_layers: Var,
    enhance: Option<(Linear, Linear)>,
    /// Attention scorer (two layers) and the classifier MLP (two layers).
    emotion: Option<(Linear, Linear, Linear, Linear)>,
    /// Sinusoidal positions of the first [`POSITIONS`] steps, made once.
    positions: Tensor,
}

/// Encoder steps (20 ms each) whose positions are precomputed; longer inputs compute theirs.
const POSITIONS: usize = 1024;

impl SeqNet {
    pub fn init(
        o: &SeqOptions,
        heads: Heads,
        bins: usize,
        classes: usize,
        stats: (Vec<f32>, Vec<f32>),
        seed: u64,
    ) -> anyhow::Result<SeqNet> {
        let mut rng = Rng::derived(seed, &["seq-init"]);
        let d = o.dim;
        let blocks = (0..o.layers).map(|_| Block::new(&mut rng, d, o.hidden, o.heads)).collect::<Result<_, _>>()?;
        let zeros = || Var::from_tensor(&Tensor::zeros(o.layers + 1, DType::F32, &Device::Cpu)?);
        Ok(SeqNet {
            bins,
            mean: Tensor::from_vec(stats.0, bins, &Device::Cpu)?,
            std: Tensor::from_vec(stats.1, bins, &Device::Cpu)?,
            stem: Linear::new(&mut rng, 2 * bins, d)?,
            stem_norm: Norm::new(d)?,
            blocks,
            enhance_layers: zeros()?,
            emotion_layers: zeros()?,
            enhance: if heads.enhance {
                Some((Linear::new(&mut rng, d, o.hidden)?, Linear::new(&mut rng, o.hidden, 2 * bins)?))
            } else {
                None
            },
            emotion: if heads.emotion {
                Some((
                    Linear::new(&mut rng, d, o.hidden)?,
                    Linear::new(&mut rng, o.hidden, 1)?,
                    Linear::new(&mut rng, 2 * d, o.hidden)?,
                    Linear::new(&mut rng, o.hidden, classes)?,
                ))
            } else {
                None
            },
            positions: positions(POSITIONS, d)?,
        })
    }

    fn positions(&self, t: usize) -> candle_core::Result<Tensor> {
        if t <= POSITIONS {
            self.positions.narrow(0, 0, t)
        } else {
            positions(t, self.positions.dim(1)?)
        }
    }

    pub fn bins(&self) -> usize {
        self.bins
    }

    pub fn has_enhancer(&self) -> bool {
        self.enhance.is_some()
    }

    /// Encoder step outputs (stem, then each block), those below `trainable_from` detached; `mask_frames`
    /// zeroes the normalised input where it is 0 (masked-frame reconstruction).
    fn encode(
        &self,
        b: &Batch,
        trainable_from: usize,
        mask_frames: Option<&Tensor>,
    ) -> candle_core::Result<Vec<Tensor>> {
        let (n, t, f) = b.noisy.dims3()?;
        let mut x = b.noisy.broadcast_sub(&self.mean)?.broadcast_div(&self.std)?;
        if let Some(m) = mask_frames {
            x = x.broadcast_mul(&m.unsqueeze(2)?)?;
        }
        let x = x.reshape((n, t / 2, 2 * f))?;
        let mut h = self.stem_norm.forward(&self.stem.forward(&x)?.relu()?)?;
        h = h.broadcast_add(&self.positions(t / 2)?)?;
        let mut outs = Vec::with_capacity(self.blocks.len() + 1);
        let keep = |h: Tensor, depth: usize| if depth < trainable_from { h.detach() } else { h };
        h = keep(h, 0);
        outs.push(h.clone());
        for (i, block) in self.blocks.iter().enumerate() {
            h = keep(block.forward(&h, &b.key_bias)?, i + 1);
            outs.push(h.clone());
        }
        Ok(outs)
    }

    fn mix(outs: &[Tensor], weights: &Var) -> candle_core::Result<Tensor> {
        let w = candle_nn::ops::softmax(weights.as_tensor(), 0)?;
        let stacked = Tensor::stack(outs, 0)?;
        stacked.broadcast_mul(&w.reshape((outs.len(), 1, 1, 1))?)?.sum(0)
    }

    pub fn forward(
        &self,
        b: &Batch,
        trainable_from: usize,
        mask_frames: Option<&Tensor>,
    ) -> candle_core::Result<Output> {
        let outs = self.encode(b, trainable_from, mask_frames)?;
        let enhanced = match &self.enhance {
            Some((l1, l2)) => {
                let h = Self::mix(&outs, &self.enhance_layers)?;
                let (n, t2, _) = h.dims3()?;
                let m = candle_nn::ops::sigmoid(&l2.forward(&l1.forward(&h)?.relu()?)?)?;
                let m = m.reshape((n, 2 * t2, self.bins))?;
                Some((m * &b.noisy)?)
            }
            None => None,
        };
        let logits = match &self.emotion {
            Some((a1, a2, c1, c2)) => {
                let h = Self::mix(&outs, &self.emotion_layers)?;
                let score = a2.forward(&a1.forward(&h)?.tanh()?)?.squeeze(2)?;
                let bias = ((&b.step_mask - 1.0)? * 1e4)?;
                let w = candle_nn::ops::softmax(&(score + bias)?, 1)?.unsqueeze(2)?;
                let mean = h.broadcast_mul(&w)?.sum(1)?;
                let sq = h.sqr()?.broadcast_mul(&w)?.sum(1)?;
                let std = (sq - mean.sqr()?)?.clamp(1e-5, f64::MAX)?.sqrt()?;
                let pooled = Tensor::cat(&[mean, std], 1)?;
                Some(c2.forward(&c1.forward(&pooled)?.relu()?)?)
            }
            None => None,
        };
        Ok(Output { enhanced, logits })
    }

    /// Trainable variables: the heads with their layer weights, then blocks from `from` (1-based depth;
    /// 0 includes the stem).
    fn vars_from(&self, from: usize) -> Vec<Var> {
        let mut v = Vec::new();
        if let Some((a, b)) = &self.enhance {
            v.extend([a.vars(), b.vars()].concat());
            v.push(self.enhance_layers.clone());
        }
        if let Some((a, b, c, d)) = &self.emotion {
            v.extend([a.vars(), b.vars(), c.vars(), d.vars()].concat());
            v.push(self.emotion_layers.clone());
        }
        for (i, block) in self.blocks.iter().enumerate() {
            if i + 1 >= from {
                v.extend(block.vars());
            }
        }
        if from == 0 {
            v.extend([self.stem.vars(), self.stem_norm.vars()].concat());
        }
        v
    }

    /// Every trainable variable (for `sertool bench train`).
    pub fn all_vars(&self) -> Vec<Var> {
        self.vars_from(0)
    }

    fn named(&self) -> Vec<(String, Var)> {
        let mut out = vec![
            ("stem.w".to_string(), self.stem.w.clone()),
            ("stem.b".into(), self.stem.b.clone()),
            ("stem_norm.g".into(), self.stem_norm.g.clone()),
            ("stem_norm.b".into(), self.stem_norm.b.clone()),
            ("enhance_layers".into(), self.enhance_layers.clone()),
            ("emotion_layers".into(), self.emotion_layers.clone()),
        ];
        for (i, blk) in self.blocks.iter().enumerate() {
            let names = [
                "norm1.g", "norm1.b", "qkv.w", "qkv.b", "out.w", "out.b", "norm2.g", "norm2.b", "ff1.w", "ff1.b",
                "ff2.w", "ff2.b",
            ];
            out.extend(names.iter().zip(blk.vars()).map(|(n, v)| (format!("block{i}.{n}"), v)));
        }
        if let Some((a, b)) = &self.enhance {
            let vars = [a.vars(), b.vars()].concat();
            out.extend(["se1.w", "se1.b", "se2.w", "se2.b"].iter().zip(vars).map(|(n, v)| (n.to_string(), v)));
        }
        if let Some((a, b, c, d)) = &self.emotion {
            let vars = [a.vars(), b.vars(), c.vars(), d.vars()].concat();
            let names = ["att1.w", "att1.b", "att2.w", "att2.b", "cls1.w", "cls1.b", "cls2.w", "cls2.b"];
            out.extend(names.iter().zip(vars).map(|(n, v)| (n.to_string(), v)));
        }
        out
    }

    fn snapshot(&self) -> anyhow::Result<Vec<Tensor>> {
        Ok(self.named().iter().map(|(_, v)| v.as_tensor().copy()).collect::<candle_core::Result<_>>()?)
    }

    fn restore(&self, snap: &[Tensor]) -> anyhow::Result<()> {
        for ((_, v), t) in self.named().iter().zip(snap) {
            v.set(t)?;
        }
        Ok(())
    }

    pub fn insert_tensors(&self, map: &mut HashMap<String, Tensor>, prefix: &str) {
        for (n, v) in self.named() {
            map.insert(format!("{prefix}{n}"), v.as_tensor().clone());
        }
        map.insert(format!("{prefix}input_mean"), self.mean.clone());
        map.insert(format!("{prefix}input_std"), self.std.clone());
    }

    /// Rebuild a saved network (`o`, `heads` and `classes` as at training).
    pub fn from_tensors(
        o: &SeqOptions,
        heads: Heads,
        classes: usize,
        map: &HashMap<String, Tensor>,
        prefix: &str,
    ) -> anyhow::Result<SeqNet> {
        let get = |n: &str| map.get(&format!("{prefix}{n}")).with_context(|| format!("checkpoint lacks {prefix}{n}"));
        let mean = get("input_mean")?.clone();
        let bins = mean.dim(0)?;
        let net = SeqNet::init(o, heads, bins, classes, (vec![0.0; bins], vec![1.0; bins]), 0)?;
        for (n, v) in net.named() {
            let t = get(&n)?;
            anyhow::ensure!(
                t.dims() == v.as_tensor().dims(),
                "{prefix}{n}: shape {:?} in the checkpoint, {:?} expected",
                t.dims(),
                v.as_tensor().dims()
            );
            v.set(t)?;
        }
        Ok(SeqNet { mean, std: get("input_std")?.clone(), ..net })
    }

    /// The enhanced log1p magnitude of one utterance (`frames × bins`).
    pub fn enhance_one(&self, noisy: &[Vec<f32>]) -> anyhow::Result<Vec<Vec<f32>>> {
        let e = SeqExample { noisy: noisy.to_vec(), clean: noisy.to_vec() };
        let b = Batch::new(std::slice::from_ref(&e), self.bins)?;
        let out = self.forward(&b, usize::MAX, None)?.enhanced.context("this network has no enhancement head")?;
        Ok(out.squeeze(0)?.narrow(0, 0, noisy.len())?.to_vec2::<f32>()?)
    }

    /// Class probabilities of one utterance.
    pub fn classify_one(&self, noisy: &[Vec<f32>]) -> anyhow::Result<Vec<f32>> {
        let e = SeqExample { noisy: noisy.to_vec(), clean: noisy.to_vec() };
        let b = Batch::new(std::slice::from_ref(&e), self.bins)?;
        let logits = self.forward(&b, usize::MAX, None)?.logits.context("this network has no emotion head")?;
        Ok(common::probabilities(&logits)?.remove(0))
    }
}

/// Fixed sinusoidal positions (T, d).
fn positions(t: usize, d: usize) -> candle_core::Result<Tensor> {
    let mut v = vec![0f32; t * d];
    for p in 0..t {
        for i in 0..d {
            let rate = 1.0 / 10_000f64.powf((2 * (i / 2)) as f64 / d as f64);
            let a = p as f64 * rate;
            v[p * d + i] = if i % 2 == 0 { a.sin() } else { a.cos() } as f32;
        }
    }
    Tensor::from_vec(v, (t, d), &Device::Cpu)
}

/// Per-bin mean and std of the inputs of the first (up to 256) training examples, in order.
pub fn input_stats(set: &dyn SequenceSet) -> anyhow::Result<(Vec<f32>, Vec<f32>)> {
    let n = set.len().min(256);
    let examples: Vec<SeqExample> = (0..n).into_par_iter().map(|i| set.get(i, None)).collect::<anyhow::Result<_>>()?;
    let bins = examples.first().and_then(|e| e.noisy.first()).map_or(0, Vec::len);
    anyhow::ensure!(bins > 0, "no training frames");
    let (mut sum, mut sq, mut count) = (vec![0f64; bins], vec![0f64; bins], 0f64);
    for f in examples.iter().flat_map(|e| &e.noisy) {
        for (k, &v) in f.iter().enumerate() {
            sum[k] += v as f64;
            sq[k] += (v as f64).powi(2);
        }
        count += 1.0;
    }
    let mean: Vec<f32> = sum.iter().map(|s| (s / count) as f32).collect();
    let std = sq.iter().zip(&sum).map(|(q, s)| ((q / count - (s / count).powi(2)).max(0.0).sqrt().max(1e-3)) as f32);
    Ok((mean, std.collect()))
}

/// One phase of training: which losses, what trains, for how many epochs.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: &'static str,
    pub epochs: usize,
    /// Depth from which the encoder trains (0: all, layers: the top block, layers + 1: frozen).
    pub trainable_from: usize,
    /// Weight of the L1 enhancement loss (0: none).
    pub se_weight: f64,
    /// Whether the emotion loss counts (and dev UAR selects the epoch).
    pub emotion: bool,
    /// Fraction of input frames zeroed (masked-frame reconstruction; 0: none).
    pub mask_prob: f64,
}

/// Per-phase record (in the model card's log).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseLog {
    pub phase: String,
    pub epochs: usize,
    pub final_loss: f64,
}

/// Turns a training example into what the network reads (identity, or the frozen enhancer of
/// `se-then-ser`).
pub type Prepare<'a> = &'a (dyn Fn(SeqExample) -> anyhow::Result<SeqExample> + Sync);

/// The network reads examples as they come.
pub fn identity(e: SeqExample) -> anyhow::Result<SeqExample> {
    Ok(e)
}

/// Train `net` through `phases` on `train` (streamed: each step computes its batch), choosing the
/// emotion epoch by UAR on `dev` (each utterance whole). Returns the emotion log (None when no phase
/// trains emotion) and each phase's record.
#[allow(clippy::too_many_arguments)]
pub fn train_phases(
    net: &SeqNet,
    phases: &[Phase],
    o: &SeqOptions,
    seed: u64,
    train: &dyn SequenceSet,
    dev: &dyn SequenceSet,
    classes: usize,
    prepare: Prepare,
) -> anyhow::Result<(Option<TrainLog>, Vec<PhaseLog>)> {
    let started = std::time::Instant::now();
    let labels: Vec<usize> = (0..train.len()).map(|i| train.label(i)).collect();
    let class_w = common::class_weights(&labels, classes);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut select: Selector<Vec<Tensor>> = Selector::new(0);
    let (mut logs, mut emotion_epochs, mut last_loss) = (Vec::new(), 0, 0.0);
    let mut epoch_no = 0usize;
    let mut history = Vec::new();
    for ph in phases.iter().filter(|p| p.epochs > 0) {
        let vars = net.vars_from(ph.trainable_from);
        let mut opt =
            AdamW::new(vars, ParamsAdamW { lr: o.lr, weight_decay: o.weight_decay, ..ParamsAdamW::default() })?;
        for epoch in 0..ph.epochs {
            let tag = format!("{}-{epoch}", ph.name);
            Rng::derived(seed, &["seq-epoch", &tag]).shuffle(&mut order);
            let (mut loss_sum, mut steps) = (0.0, 0);
            let mut terms = common::TermMeans::default();
            for (s, chunk) in order.chunks(o.batch_size).enumerate() {
                let mut rng = Rng::derived(seed, &["seq-crop", &tag, &s.to_string()]);
                let crops: Vec<Crop> =
                    chunk.iter().map(|_| Crop { frames: o.crop_frames, draw: rng.next_u64() }).collect();
                let examples: Vec<SeqExample> = chunk
                    .par_iter()
                    .zip(&crops)
                    .map(|(&i, &c)| train.get(i, Some(c)).and_then(prepare))
                    .collect::<anyhow::Result<_>>()?;
                let batch = Batch::new(&examples, net.bins)?;
                let mask = (ph.mask_prob > 0.0).then(|| frame_dropout(&batch, ph.mask_prob, &mut rng)).transpose()?;
                let out = net.forward(&batch, ph.trainable_from, mask.as_ref())?;
                let mut loss = Tensor::zeros((), DType::F32, &Device::Cpu)?;
                if ph.emotion {
                    let logits = out.logits.as_ref().context("no emotion head")?;
                    let y: Vec<usize> = chunk.iter().map(|&i| labels[i]).collect();
                    let w = Tensor::from_vec(y.iter().map(|&c| class_w[c]).collect::<Vec<_>>(), y.len(), &Device::Cpu)?;
                    let ce = weighted_cross_entropy(logits, &common::index_tensor(&y)?, &w)?;
                    terms.add("ce", ce.to_scalar::<f32>()? as f64);
                    loss = (loss + ce)?;
                }
                if ph.se_weight > 0.0 {
                    let est = out.enhanced.as_ref().context("no enhancement head")?;
                    let l1 = l1_loss(est, &batch)?;
                    terms.add("se_l1", l1.to_scalar::<f32>()? as f64);
                    loss = (loss + (l1 * ph.se_weight)?)?;
                }
                opt.backward_step(&loss)?;
                loss_sum += loss.to_scalar::<f32>()? as f64;
                steps += 1;
            }
            last_loss = loss_sum / steps.max(1) as f64;
            anyhow::ensure!(
                last_loss.is_finite(),
                "{} diverged at epoch {epoch} (loss {last_loss}); lower lr",
                ph.name
            );
            let mut uar = None;
            if ph.emotion {
                uar = dev_uar(net, dev, classes, prepare)?;
                select.offer(epoch_no, uar.unwrap_or(epoch_no as f64), || net.snapshot())?;
                emotion_epochs += 1;
            }
            history.push(common::EpochLog {
                epoch: epoch_no,
                lr: o.lr,
                loss: last_loss,
                terms: terms.means(),
                dev_uar: uar,
                phase: Some(ph.name.to_string()),
            });
            epoch_no += 1;
        }
        logs.push(PhaseLog { phase: ph.name.to_string(), epochs: ph.epochs, final_loss: last_loss });
    }
    if emotion_epochs == 0 {
        return Ok((None, logs));
    }
    let best = select.best.take().context("no emotion epoch ran")?;
    net.restore(&best)?;
    let log = TrainLog {
        epochs_run: epoch_no,
        best_epoch: select.best_epoch,
        best_dev_uar: (!dev.is_empty()).then_some(select.best_score),
        final_train_loss: last_loss,
        seconds: started.elapsed().as_secs_f64(),
        history,
    };
    Ok((Some(log), logs))
}

/// Mean |est − clean| over real frames and bins.
pub fn l1_loss(est: &Tensor, b: &Batch) -> candle_core::Result<Tensor> {
    let bins = est.dim(2)? as f64;
    let diff = (est - &b.clean)?.abs()?.sum(2)?;
    (diff * &b.frame_mask)?.sum_all()? / (b.frame_mask.sum_all()?.to_scalar::<f32>()? as f64 * bins).max(1.0)
}

/// (B, T) keep-mask: each real frame dropped with probability `p`.
fn frame_dropout(b: &Batch, p: f64, rng: &mut Rng) -> candle_core::Result<Tensor> {
    let (n, t) = b.frame_mask.dims2()?;
    let v: Vec<f32> = (0..n * t).map(|_| if rng.uniform() < p { 0.0 } else { 1.0 }).collect();
    Tensor::from_vec(v, (n, t), &Device::Cpu)
}

/// UAR on the dev set, one utterance at a time (None without a dev set).
pub fn dev_uar(net: &SeqNet, dev: &dyn SequenceSet, classes: usize, prepare: Prepare) -> anyhow::Result<Option<f64>> {
    if dev.is_empty() {
        return Ok(None);
    }
    let pred: Vec<usize> = (0..dev.len())
        .into_par_iter()
        .map(|i| Ok(common::argmax(&net.classify_one(&prepare(dev.get(i, None)?)?.noisy)?)))
        .collect::<anyhow::Result<_>>()?;
    let truth: Vec<usize> = (0..dev.len()).map(|i| dev.label(i)).collect();
    Ok(Some(crate::models::metrics::compute(&truth, &pred, classes).uar))
}

pub fn save(map: &HashMap<String, Tensor>, path: &Path) -> anyhow::Result<()> {
    candle_core::safetensors::save(map, path).with_context(|| format!("writing {}", path.display()))
}

pub fn load(path: &Path) -> anyhow::Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load(path, &Device::Cpu).with_context(|| format!("reading {}", path.display()))
}
