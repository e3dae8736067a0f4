//! TensorBoard event files of every training run, from the per-epoch logs in its model.json: one file per
//! run under `tensorboard/<model>/<train>[/to-<target>]/seedN/`, so `tensorboard --logdir
//! reports/<name>/tensorboard` (or W&B's TensorBoard import) shows every loss term and the dev UAR.
//! The wall time of epoch e is e seconds: the report stays byte-reproducible, and TensorBoard's
//! relative-time axis reads as epochs.

use std::path::Path;

use anyhow::Context;

use super::TrainRun;
use crate::models::common::EpochLog;
use crate::util::tensorboard::{event_file, file_name, Scalar};

/// The tags of one epoch: loss/total, loss/<term>, dev/uar (with a dev set) and lr, behind `prefix`.
fn scalars(prefix: &str, e: &EpochLog, out: &mut Vec<Scalar>) {
    let step = e.epoch as i64;
    let mut push =
        |tag: String, value: f64| out.push(Scalar { tag: format!("{prefix}{tag}"), step, value: value as f32 });
    push("loss/total".into(), e.loss);
    for (name, v) in &e.terms {
        push(format!("loss/{name}"), *v);
    }
    if let Some(uar) = e.dev_uar {
        push("dev/uar".into(), uar);
    }
    push("lr".into(), e.lr);
}

/// Write one event file per run that logged epochs (MB-PLS alone logs none).
pub fn write(runs: &[TrainRun], out: &Path) -> anyhow::Result<()> {
    for r in runs {
        let mut points = Vec::new();
        r.log.history.iter().for_each(|e| scalars("", e, &mut points));
        for e in r.encoder_log.iter().flat_map(|l| &l.history) {
            scalars("encoder/", e, &mut points);
        }
        if points.is_empty() {
            continue;
        }
        let dir = out.join("tensorboard").join(r.info.path());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(file_name(0, "sertool"));
        std::fs::write(&path, event_file(&points, |step| step as f64))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
