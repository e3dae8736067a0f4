//! Training and evaluation: a candle MLP on z-scored utterance features, and the metrics.

pub mod mbpls;
pub mod metrics;
pub mod mlp;
