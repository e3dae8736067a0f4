//! `[report]`: the metric, the reference model, significance and bootstrap settings, plots.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::source::Source;
use crate::models::ModelSpec;

pub const METRICS: &[&str] = &["uar", "wa", "macro_f1", "micro_f1"];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSection {
    /// The metric in the table cells: uar, wa, macro_f1 or micro_f1.
    #[serde(default = "default_metric")]
    pub metric: String,
    /// More metrics, each with its own noise-robustness tables beside `metric`'s (e.g. ["macro_f1",
    /// "micro_f1"]). Empty (the default) stays out of the report's key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<String>,
    /// The model every other model is tested against (McNemar and paired bootstrap). Default: the
    /// first model of kind "mlp" by name, else the first model by name.
    #[serde(default)]
    pub reference: Option<String>,
    /// Significance level of the marks in the tables.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Bootstrap resamples per table cell (every cell's interval and every paired difference) and
    /// sign-flip draws per comparison; 0 turns both off (no intervals, no ties, no ‡).
    #[serde(default = "default_resamples")]
    pub bootstrap_resamples: usize,
    /// Level of the bootstrap intervals: each cell's, and of each difference to the reference.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// What a bootstrap resample draws with replacement within the test set: whole speakers
    /// ("speaker", the default: utterances of one speaker are not independent) or utterances. The
    /// paired sign-flip test swaps systems on the same units.
    #[serde(default = "default_unit")]
    pub bootstrap_unit: String,
    /// Seed of the bootstrap resamples.
    #[serde(default = "super::corpora::default_seed")]
    pub seed: u64,
    /// The SNR of the noisy cross-corpus matrix. Default: 0 dB if in the grid, else the lowest SNR.
    #[serde(default)]
    pub matrix_snr_db: Option<f64>,
    /// Draw the plots (SVG and PNG).
    #[serde(default = "default_true")]
    pub plots: bool,
}

impl Default for ReportSection {
    fn default() -> Self {
        ReportSection {
            metric: default_metric(),
            metrics: Vec::new(),
            reference: None,
            alpha: default_alpha(),
            bootstrap_resamples: default_resamples(),
            confidence: default_confidence(),
            bootstrap_unit: default_unit(),
            seed: super::corpora::default_seed(),
            matrix_snr_db: None,
            plots: true,
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_alpha() -> f64 {
    0.05
}
fn default_resamples() -> usize {
    1000
}
fn default_confidence() -> f64 {
    0.95
}
fn default_unit() -> String {
    "speaker".into()
}
pub const BOOTSTRAP_UNITS: &[&str] = &["speaker", "utterance"];
fn default_metric() -> String {
    "uar".into()
}

/// Check the `[report]` keys and fill the defaults that depend on the rest of the file: the reference
/// model and the SNR of the noisy cross-corpus matrix.
pub(crate) fn resolve_report(
    mut r: ReportSection,
    models: &BTreeMap<String, ModelSpec>,
    snrs: &[f64],
    src: &Source,
) -> anyhow::Result<ReportSection> {
    let at_key = |key: &str, msg: String| Err(src.error(src.key_offset("report", key), msg));
    if !METRICS.contains(&r.metric.as_str()) {
        return at_key("metric", format!("[report] metric \"{}\" (expected one of: {})", r.metric, METRICS.join(", ")));
    }
    if let Some(m) = r.metrics.iter().find(|m| !METRICS.contains(&m.as_str())) {
        return at_key("metrics", format!("[report] metrics: \"{m}\" (expected each of: {})", METRICS.join(", ")));
    }
    match &r.reference {
        Some(m) if !models.contains_key(m) => {
            let names = models.keys().cloned().collect::<Vec<_>>().join(", ");
            return at_key(
                "reference",
                format!("[report] reference \"{m}\" is not a [models.*] entry (expected one of: {names})"),
            );
        }
        Some(_) => {}
        None => {
            r.reference = models
                .iter()
                .find(|(_, c)| c.kind_name() == "mlp")
                .or_else(|| models.iter().next())
                .map(|(name, _)| name.clone());
        }
    }
    if !BOOTSTRAP_UNITS.contains(&r.bootstrap_unit.as_str()) {
        return at_key(
            "bootstrap_unit",
            format!(
                "[report] bootstrap_unit \"{}\" (expected one of: {})",
                r.bootstrap_unit,
                BOOTSTRAP_UNITS.join(", ")
            ),
        );
    }
    if !(r.alpha > 0.0 && r.alpha < 1.0) {
        return at_key("alpha", format!("[report] alpha = {} (expected a level between 0 and 1, e.g. 0.05)", r.alpha));
    }
    if !(r.confidence > 0.0 && r.confidence < 1.0) {
        return at_key(
            "confidence",
            format!("[report] confidence = {} (expected a level between 0 and 1, e.g. 0.95)", r.confidence),
        );
    }
    match r.matrix_snr_db {
        Some(s) if !snrs.contains(&s) => {
            let grid = snrs.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
            return at_key("matrix_snr_db", format!("[report] matrix_snr_db = {s} is not in [mix] snr_db ({grid})"));
        }
        Some(_) => {}
        None => {
            r.matrix_snr_db = if snrs.contains(&0.0) { Some(0.0) } else { snrs.iter().cloned().reduce(f64::min) };
        }
    }
    Ok(r)
}
