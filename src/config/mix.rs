//! `[mix]`: the SNR grid, which noise sources, and how speech power is measured.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::source::Source;
use crate::audio::mix::SnrMode;
use crate::audio::noise::NoiseSource;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MixSection {
    /// The SNR grid in dB; "clean" is always evaluated as well.
    #[serde(default = "default_snrs")]
    pub snr_db: Vec<f64>,
    /// Which noise sources to mix (default: all).
    #[serde(default)]
    pub noise: Option<Vec<String>>,
    #[serde(default = "super::corpora::default_seed")]
    pub seed: u64,
    /// "whole": speech power over the whole utterance (the field's usual definition); "active": over
    /// its active frames only (20 ms frames within `active_gate_db` of the loudest).
    #[serde(default = "default_snr_mode")]
    pub snr_mode: String,
    #[serde(default = "default_active_gate")]
    pub active_gate_db: f64,
}

fn default_snr_mode() -> String {
    "whole".into()
}
fn default_active_gate() -> f64 {
    40.0
}

impl Default for MixSection {
    fn default() -> Self {
        MixSection {
            snr_db: default_snrs(),
            noise: None,
            seed: super::corpora::default_seed(),
            snr_mode: default_snr_mode(),
            active_gate_db: default_active_gate(),
        }
    }
}

fn default_snrs() -> Vec<f64> {
    vec![20.0, 10.0, 5.0, 0.0, -5.0]
}

impl MixSection {
    /// The conditions of a pipeline in table order: clean, then each noise source × each SNR.
    pub fn conditions(&self) -> Vec<crate::records::Condition> {
        crate::records::Condition::grid(self.noise.as_deref().unwrap_or_default(), &self.snr_db)
    }

    /// The condition a model's `train_conditions` entry names (`<noise>.snr<dB>`, as the config wrote
    /// it); None for "clean" or a name of no noise source.
    pub fn train_condition(&self, name: &str) -> Option<crate::records::Condition> {
        self.noise.as_deref().unwrap_or_default().iter().find_map(|n| {
            let db: f64 = name.strip_prefix(n.as_str())?.strip_prefix(".snr")?.parse().ok()?;
            Some(crate::records::Condition::noisy(n, db))
        })
    }

    /// The SNR definition at the pipeline's sample rate.
    pub fn snr_mode(&self, rate: u32) -> SnrMode {
        SnrMode::new(self.snr_mode == "active", self.active_gate_db, rate)
    }
}

/// Fill the defaults that depend on the noise sources and check the section.
pub(crate) fn resolve_mix(
    raw: &Option<MixSection>,
    noise: &BTreeMap<String, NoiseSource>,
    src: &Source,
) -> anyhow::Result<MixSection> {
    let at = |offset: usize, msg: String| src.error(offset, msg);
    let mut mix = match (raw, noise.is_empty()) {
        (Some(m), _) => m.clone(),
        (None, true) => MixSection { snr_db: Vec::new(), ..MixSection::default() },
        (None, false) => MixSection::default(),
    };
    let selected = mix.noise.clone().unwrap_or_else(|| noise.keys().cloned().collect());
    for n in &selected {
        if !noise.contains_key(n) {
            return Err(at(
                src.key_offset("mix", "noise"),
                format!("[mix] noise names \"{n}\", which is not a [noise.*] source"),
            ));
        }
    }
    if !mix.snr_db.is_empty() && selected.is_empty() {
        return Err(at(
            src.key_offset("mix", "snr_db"),
            "[mix] snr_db is set but no [noise.*] source is defined".into(),
        ));
    }
    let mut distinct: Vec<String> = mix.snr_db.iter().map(|v| v.to_string()).collect();
    distinct.sort();
    distinct.dedup();
    if distinct.len() != mix.snr_db.len() {
        return Err(at(src.key_offset("mix", "snr_db"), "[mix] snr_db lists the same SNR twice".into()));
    }
    let mut names = selected.clone();
    names.sort();
    names.dedup();
    if names.len() != selected.len() {
        return Err(at(src.key_offset("mix", "noise"), "[mix] noise lists the same source twice".into()));
    }
    if let Some(bad) = mix.snr_db.iter().find(|v| !v.is_finite()) {
        return Err(at(
            src.key_offset("mix", "snr_db"),
            format!("[mix] snr_db contains {bad}, expected finite numbers"),
        ));
    }
    mix.noise = Some(selected);
    if !["whole", "active"].contains(&mix.snr_mode.as_str()) || mix.active_gate_db.is_nan() || mix.active_gate_db <= 0.0
    {
        return Err(at(
            src.key_offset("mix", "snr_mode"),
            format!("[mix] snr_mode = \"{}\" (expected \"whole\" or \"active\"; active_gate_db > 0)", mix.snr_mode),
        ));
    }
    Ok(mix)
}
