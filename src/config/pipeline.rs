//! `[pipeline]` and `[labels]`.

use serde::{Deserialize, Serialize};

use super::names;
use super::source::Source;
use crate::audio::{AudioIn, ChannelPolicy};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    /// Names the report folder (reports/<name>/).
    pub name: String,
    #[serde(default = "default_sample_rate")]
    pub sample_rate_hz: u32,
    /// Utterances of a corpus are split into this many shards, each its own stage instance.
    #[serde(default = "default_shards")]
    pub shards: u32,
    /// Multi-channel audio: "mean" (average the channels) or "channel:N" (keep channel N, from 0).
    #[serde(default = "default_channel_policy")]
    pub channels: String,
}

pub(crate) fn default_channel_policy() -> String {
    "mean".into()
}

pub(crate) fn default_sample_rate() -> u32 {
    16_000
}
pub(crate) fn default_shards() -> u32 {
    8
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LabelsSection {
    /// The unified label space, in the order used for class indices.
    #[serde(default = "default_classes")]
    pub classes: Vec<String>,
}

impl Default for LabelsSection {
    fn default() -> Self {
        LabelsSection { classes: default_classes() }
    }
}

fn default_classes() -> Vec<String> {
    ["neutral", "happy", "angry", "sad"].map(String::from).to_vec()
}

impl PipelineSection {
    /// How this pipeline reads audio (the channel policy was checked when the file was read).
    pub fn audio_in(&self) -> AudioIn {
        AudioIn::new(self.sample_rate_hz, ChannelPolicy::parse(&self.channels).unwrap_or(ChannelPolicy::Mean))
    }
}

pub(crate) fn check_pipeline(p: &PipelineSection, src: &Source) -> anyhow::Result<()> {
    let at = |key: &str, msg: String| Err(src.error(src.key_offset("pipeline", key), msg));
    if !names::is_valid(&p.name) {
        return at(
            "name",
            format!("[pipeline] name \"{}\" is not allowed (it names reports/<name>/; {})", p.name, names::RULE),
        );
    }
    if p.sample_rate_hz < 4000 {
        return at(
            "sample_rate_hz",
            format!("[pipeline] sample_rate_hz = {} is too low (expected ≥ 4000)", p.sample_rate_hz),
        );
    }
    if ChannelPolicy::parse(&p.channels).is_none() {
        return at(
            "channels",
            format!("[pipeline] channels = \"{}\" (expected \"mean\" or \"channel:N\")", p.channels),
        );
    }
    if p.shards == 0 {
        return at("shards", "[pipeline] shards must be ≥ 1".into());
    }
    Ok(())
}

pub(crate) fn check_labels(l: &LabelsSection, src: &Source) -> anyhow::Result<()> {
    if l.classes.len() < 2 {
        return Err(src.error(src.key_offset("labels", "classes"), "[labels] classes needs at least two classes"));
    }
    Ok(())
}
