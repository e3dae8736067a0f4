//! What every model kind shares: the training schedule and the one training loop (`run_epochs`: AdamW
//! steps, learning-rate schedule, dev-UAR epoch selection with patience), class weights, the class-weighted
//! cross-entropy, the z-score `Standardizer`, and small tensor helpers.

use std::collections::BTreeMap;

use candle_core::{Device, Tensor, D};
use candle_nn::{AdamW, Optimizer};
use serde::{Deserialize, Serialize};

use super::metrics;
use crate::rng::Rng;

/// The knobs of [`run_epochs`], as a kind's keys give them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default = "default_lr")]
    pub lr: f64,
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    /// "constant" or "cosine" (from lr down to 0 over the epochs).
    #[serde(default = "default_lr_schedule")]
    pub lr_schedule: String,
    /// Stop after this many epochs without a better dev UAR (0: run every epoch).
    #[serde(default)]
    pub patience: usize,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            epochs: default_epochs(),
            batch_size: default_batch(),
            lr: default_lr(),
            weight_decay: default_weight_decay(),
            lr_schedule: default_lr_schedule(),
            patience: 0,
        }
    }
}

impl Schedule {
    /// The checks every kind's schedule passes: (key, problem).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.epochs == 0 || self.batch_size == 0 {
            return Err(("seeds", "seeds, epochs and batch_size must be non-empty / ≥ 1".into()));
        }
        if !["constant", "cosine"].contains(&self.lr_schedule.as_str()) {
            return Err((
                "lr_schedule",
                format!("lr_schedule = \"{}\" (expected constant or cosine)", self.lr_schedule),
            ));
        }
        Ok(())
    }
}

pub(crate) fn default_epochs() -> usize {
    60
}
fn default_batch() -> usize {
    64
}
pub(crate) fn default_lr() -> f64 {
    1e-3
}
fn default_weight_decay() -> f64 {
    1e-2
}
fn default_lr_schedule() -> String {
    "constant".into()
}

/// How a training run went (in model.json).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainLog {
    pub epochs_run: usize,
    pub best_epoch: usize,
    /// None when there was no dev set (the last epoch is kept).
    pub best_dev_uar: Option<f64>,
    pub final_train_loss: f64,
    pub seconds: f64,
    /// Every epoch: what TensorBoard shows (the report writes it as event files).
    #[serde(default)]
    pub history: Vec<EpochLog>,
}

/// One epoch of training: its learning rate, the mean loss over its batches and of each named term
/// (unweighted; over the batches that had it), and the dev UAR that selection read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub lr: f64,
    pub loss: f64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub terms: BTreeMap<String, f64>,
    pub dev_uar: Option<f64>,
    /// The phase of a kind that trains in phases (pre-training, fine-tuning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
}

/// A batch's loss: the total AdamW steps on, and its named terms for the log.
pub struct BatchLoss {
    pub total: Tensor,
    pub terms: Vec<(&'static str, Tensor)>,
}

impl From<Tensor> for BatchLoss {
    fn from(total: Tensor) -> Self {
        BatchLoss { total, terms: Vec::new() }
    }
}

impl BatchLoss {
    /// The same loss with one more named term logged (not added to the total).
    pub fn term(mut self, name: &'static str, value: &Tensor) -> Self {
        self.terms.push((name, value.clone()));
        self
    }
}

/// Sums of named terms over an epoch's batches, for their means.
#[derive(Default)]
pub struct TermMeans(BTreeMap<String, (f64, usize)>);

impl TermMeans {
    pub fn add(&mut self, name: &str, value: f64) {
        let e = self.0.entry(name.to_string()).or_default();
        e.0 += value;
        e.1 += 1;
    }

    pub fn means(&self) -> BTreeMap<String, f64> {
        self.0.iter().map(|(k, (s, n))| (k.clone(), s / *n as f64)).collect()
    }
}

/// Class-balanced loss weights n / (k · count_c) over the k classes present (0 for absent classes).
pub fn class_weights(y: &[usize], n_classes: usize) -> Vec<f32> {
    let mut counts = vec![0usize; n_classes];
    y.iter().for_each(|&c| counts[c] += 1);
    let present = counts.iter().filter(|&&c| c > 0).count().max(1);
    counts.iter().map(|&c| if c > 0 { y.len() as f32 / (present as f32 * c as f32) } else { 0.0 }).collect()
}

/// The learning rate of an epoch under the configured schedule.
pub fn epoch_lr(cfg: &Schedule, lr: f64, epochs: usize, epoch: usize) -> f64 {
    match cfg.lr_schedule.as_str() {
        "cosine" => 0.5 * lr * (1.0 + (std::f64::consts::PI * epoch as f64 / epochs.max(1) as f64).cos()),
        _ => lr,
    }
}

/// Keeps the epoch with the best dev score, and says when `patience` epochs passed without one.
pub struct Selector<S> {
    pub best_score: f64,
    pub best_epoch: usize,
    pub best: Option<S>,
    patience: usize,
}

impl<S> Selector<S> {
    pub fn new(patience: usize) -> Self {
        Selector { best_score: f64::NEG_INFINITY, best_epoch: 0, best: None, patience }
    }

    /// Record an epoch's score; `snapshot` is taken only when it is the best so far.
    pub fn offer(
        &mut self,
        epoch: usize,
        score: f64,
        snapshot: impl FnOnce() -> anyhow::Result<S>,
    ) -> anyhow::Result<()> {
        if score > self.best_score {
            self.best_score = score;
            self.best_epoch = epoch;
            self.best = Some(snapshot()?);
        }
        Ok(())
    }

    pub fn should_stop(&self, epoch: usize) -> bool {
        self.patience > 0 && epoch >= self.best_epoch + self.patience
    }
}

/// The one training loop of every candle model: per epoch, set the scheduled learning rate, shuffle with
/// a generator derived from (seed, `tag`, epoch), take an AdamW step on the loss `batch_loss` gives each
/// batch of row indices, then score the epoch by `dev_uar` (None without a dev set: the last epoch wins)
/// and keep the best `snapshot`. Returns the best snapshot and the log; the caller restores it.
#[allow(clippy::too_many_arguments)]
pub fn run_epochs<S>(
    cfg: &Schedule,
    seed: u64,
    tag: &str,
    n_rows: usize,
    opt: &mut AdamW,
    mut batch_loss: impl FnMut(&[usize]) -> anyhow::Result<BatchLoss>,
    mut dev_uar: impl FnMut() -> anyhow::Result<Option<f64>>,
    mut snapshot: impl FnMut() -> anyhow::Result<S>,
) -> anyhow::Result<(S, TrainLog)> {
    let started = std::time::Instant::now();
    let mut order: Vec<usize> = (0..n_rows).collect();
    let mut select = Selector::new(cfg.patience);
    let (mut last_loss, mut epochs_run, mut has_dev) = (0.0, 0, false);
    let mut history = Vec::new();
    for epoch in 0..cfg.epochs {
        let lr = epoch_lr(cfg, cfg.lr, cfg.epochs, epoch);
        opt.set_learning_rate(lr);
        Rng::derived(seed, &[tag, &epoch.to_string()]).shuffle(&mut order);
        let (mut loss_sum, mut batches) = (0.0, 0);
        let mut terms = TermMeans::default();
        for chunk in order.chunks(cfg.batch_size) {
            let loss = batch_loss(chunk)?;
            opt.backward_step(&loss.total)?;
            loss_sum += loss.total.to_scalar::<f32>()? as f64;
            for (name, t) in &loss.terms {
                terms.add(name, t.to_scalar::<f32>()? as f64);
            }
            batches += 1;
        }
        last_loss = loss_sum / batches as f64;
        epochs_run = epoch + 1;
        anyhow::ensure!(last_loss.is_finite(), "training diverged at epoch {epoch} (loss {last_loss}); lower lr");
        let dev = dev_uar()?;
        history.push(EpochLog { epoch, lr, loss: last_loss, terms: terms.means(), dev_uar: dev, phase: None });
        let score = match dev {
            Some(uar) => {
                has_dev = true;
                uar
            }
            None => epoch as f64,
        };
        select.offer(epoch, score, &mut snapshot)?;
        if select.should_stop(epoch) {
            break;
        }
    }
    let log = TrainLog {
        epochs_run,
        best_epoch: select.best_epoch,
        best_dev_uar: has_dev.then_some(select.best_score),
        final_train_loss: last_loss,
        seconds: started.elapsed().as_secs_f64(),
        history,
    };
    let best = select.best.ok_or_else(|| anyhow::anyhow!("no training epoch ran (epochs = {})", cfg.epochs))?;
    Ok((best, log))
}

/// UAR of `predict_proba` on a dev set, None when there is no dev set.
pub fn dev_uar(
    dev_x: &[Vec<f32>],
    dev_y: &[usize],
    n_classes: usize,
    predict_proba: impl Fn(&[Vec<f32>]) -> anyhow::Result<Vec<Vec<f32>>>,
) -> anyhow::Result<Option<f64>> {
    if dev_x.is_empty() {
        return Ok(None);
    }
    let pred: Vec<usize> = predict_proba(dev_x)?.iter().map(|p| argmax(p)).collect();
    Ok(Some(metrics::compute(dev_y, &pred, n_classes).uar))
}

pub fn to_tensor(x: &[Vec<f32>]) -> anyhow::Result<Tensor> {
    let dim = x[0].len();
    let flat: Vec<f32> = x.iter().flat_map(|r| r.iter().copied()).collect();
    Ok(Tensor::from_vec(flat, (x.len(), dim), &Device::Cpu)?)
}

/// Softmax rows of logits as plain vectors (no gradient).
pub fn probabilities(logits: &Tensor) -> candle_core::Result<Vec<Vec<f32>>> {
    candle_nn::ops::softmax(&logits.detach(), D::Minus1)?.to_vec2::<f32>()
}

/// A 1-D u32 tensor of class indices.
pub fn index_tensor(v: &[usize]) -> candle_core::Result<Tensor> {
    Tensor::from_vec(v.iter().map(|&c| c as u32).collect::<Vec<_>>(), v.len(), &Device::Cpu)
}

/// Index of the largest value, the first of equals.
pub fn argmax(p: &[f32]) -> usize {
    p.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0
}

/// Class-weighted cross-entropy: Σ w_i · (−log p_i[y_i]) / Σ w_i.
pub fn weighted_cross_entropy(logits: &Tensor, targets: &Tensor, weights: &Tensor) -> candle_core::Result<Tensor> {
    let logp = candle_nn::ops::log_softmax(logits, 1)?.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?;
    (logp * weights)?.sum_all()?.neg()? / weights.sum_all()?.to_scalar::<f32>()? as f64
}

/// Per-feature mean and standard deviation of the (clean) training set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Standardizer {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Standardizer {
    pub fn fit(x: &[Vec<f32>]) -> Standardizer {
        let d = x[0].len();
        let n = x.len() as f64;
        let mut mean = vec![0f64; d];
        for r in x {
            for (m, &v) in mean.iter_mut().zip(r) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0f64; d];
        for r in x {
            for ((s, &v), m) in var.iter_mut().zip(r).zip(&mean) {
                *s += (v as f64 - m).powi(2);
            }
        }
        Standardizer {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: var.iter().map(|&s| ((s / n).sqrt().max(1e-6)) as f32).collect(),
        }
    }

    pub fn apply(&self, x: &[Vec<f32>]) -> Vec<Vec<f32>> {
        x.iter().map(|r| r.iter().zip(&self.mean).zip(&self.std).map(|((v, m), s)| (v - m) / s).collect()).collect()
    }
}

/// Target-row batches beside the source batches of [`run_epochs`]: each call takes the next `len` rows of
/// a shuffled order of the target rows, reshuffled (from seed, tag and pass) each time it runs out, so
/// every source batch meets a target batch of its size however the two sets compare in size.
pub struct TargetBatches {
    order: Vec<usize>,
    next: usize,
    pass: usize,
    seed: u64,
    tag: &'static str,
}

impl TargetBatches {
    pub fn new(rows: usize, seed: u64, tag: &'static str) -> TargetBatches {
        TargetBatches { order: (0..rows).collect(), next: rows, pass: 0, seed, tag }
    }

    /// The next `len` target rows (empty without target rows).
    pub fn take(&mut self, len: usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len && !self.order.is_empty() {
            if self.next == self.order.len() {
                Rng::derived(self.seed, &[self.tag, &self.pass.to_string()]).shuffle(&mut self.order);
                self.pass += 1;
                self.next = 0;
            }
            out.push(self.order[self.next]);
            self.next += 1;
        }
        out
    }
}

/// The rows of `x` at `idx`, as a tensor.
pub fn rows_tensor(x: &[Vec<f32>], idx: &[usize]) -> anyhow::Result<Tensor> {
    let rows: Vec<Vec<f32>> = idx.iter().map(|&i| x[i].clone()).collect();
    to_tensor(&rows)
}
