//! Training and evaluation: the model kinds (`model.rs`: mlp, edrl, mbpls, edrl-mea) built from a candle
//! MLP (`mlp.rs`), the EDRL encoders (`edrl.rs`) and MB-PLS (`mbpls.rs`); metrics (`metrics.rs`); and the
//! pieces every training loop shares (class weights, learning-rate schedule, dev-UAR epoch selection).

pub mod edrl;
pub mod mbpls;
pub mod metrics;
pub mod mlp;
pub mod model;

use crate::config::ModelConfig;

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
