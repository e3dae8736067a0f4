//! Training and evaluation: the model kinds (`model.rs`: mlp, edrl, mbpls, edrl-mea) built from a candle
//! MLP (`mlp.rs`), the EDRL encoders (`edrl.rs`) and MB-PLS (`mbpls.rs`); metrics (`metrics.rs`); and the
//! pieces every training loop shares (class weights, learning-rate schedule, dev-UAR epoch selection).

pub mod edrl;
pub mod mbpls;
pub mod metrics;
pub mod mlp;
pub mod model;

use candle_core::Tensor;
use candle_nn::{AdamW, Optimizer};

use crate::config::ModelConfig;
use crate::rng::Rng;

/// Class-balanced loss weights n / (k · count_c) over the k classes present (0 for absent classes).
pub fn class_weights(y: &[usize], n_classes: usize) -> Vec<f32> {
    let mut counts = vec![0usize; n_classes];
    y.iter().for_each(|&c| counts[c] += 1);
    let present = counts.iter().filter(|&&c| c > 0).count().max(1);
    counts.iter().map(|&c| if c > 0 { y.len() as f32 / (present as f32 * c as f32) } else { 0.0 }).collect()
}

/// The learning rate of an epoch under the configured schedule.
pub fn epoch_lr(cfg: &ModelConfig, lr: f64, epochs: usize, epoch: usize) -> f64 {
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
    cfg: &ModelConfig,
    seed: u64,
    tag: &str,
    n_rows: usize,
    opt: &mut AdamW,
    mut batch_loss: impl FnMut(&[usize]) -> anyhow::Result<Tensor>,
    mut dev_uar: impl FnMut() -> anyhow::Result<Option<f64>>,
    mut snapshot: impl FnMut() -> anyhow::Result<S>,
) -> anyhow::Result<(S, mlp::TrainLog)> {
    let started = std::time::Instant::now();
    let mut order: Vec<usize> = (0..n_rows).collect();
    let mut select = Selector::new(cfg.patience);
    let (mut last_loss, mut epochs_run, mut has_dev) = (0.0, 0, false);
    for epoch in 0..cfg.epochs {
        opt.set_learning_rate(epoch_lr(cfg, cfg.lr, cfg.epochs, epoch));
        Rng::derived(seed, &[tag, &epoch.to_string()]).shuffle(&mut order);
        let (mut loss_sum, mut batches) = (0.0, 0);
        for chunk in order.chunks(cfg.batch_size) {
            let loss = batch_loss(chunk)?;
            opt.backward_step(&loss)?;
            loss_sum += loss.to_scalar::<f32>()? as f64;
            batches += 1;
        }
        last_loss = loss_sum / batches as f64;
        epochs_run = epoch + 1;
        anyhow::ensure!(last_loss.is_finite(), "training diverged at epoch {epoch} (loss {last_loss}); lower lr");
        let score = match dev_uar()? {
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
    let log = mlp::TrainLog {
        epochs_run,
        best_epoch: select.best_epoch,
        best_dev_uar: has_dev.then_some(select.best_score),
        final_train_loss: last_loss,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((select.best.expect("at least one epoch ran"), log))
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
    let pred: Vec<usize> = predict_proba(dev_x)?.iter().map(|p| mlp::argmax(p)).collect();
    Ok(Some(metrics::compute(dev_y, &pred, n_classes).uar))
}
