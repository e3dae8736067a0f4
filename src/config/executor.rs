//! `[executor.slurm]`: how `sertool run --executor slurm` submits (partition, account, time, memory,
//! CPUs and GPUs per task, throttle, extra sbatch arguments) and, under `[executor.slurm.kinds.<kind>]`,
//! the same settings for one stage kind (e.g. a GPU `gres` for `train`). Never part of a key: where a
//! stage runs does not change what it writes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::source::Source;
use crate::engine::executor::slurm::Resources;

/// The stage kinds a `[executor.slurm.kinds.<kind>]` table may name (`stages::tests` keeps this
/// list equal to the stage kinds).
pub const STAGE_KINDS: &[&str] = &["manifest", "noise_pool", "mix", "features", "train", "eval", "report"];

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExecutorSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<SlurmSection>,
}

impl ExecutorSection {
    pub fn is_default(&self) -> bool {
        self == &ExecutorSection::default()
    }
}

/// sbatch settings; every one optional (Slurm's own defaults apply).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlurmSettings {
    pub partition: Option<String>,
    pub account: Option<String>,
    /// `--time`, e.g. "02:00:00".
    pub time: Option<String>,
    /// `--mem`, e.g. "8G".
    pub mem: Option<String>,
    pub cpus_per_task: Option<u32>,
    /// `--gres`, e.g. "gpu:1".
    pub gres: Option<String>,
    /// At most this many tasks of one array at once (`--array=…%N`).
    pub max_parallel: Option<usize>,
    /// Stages one array task runs in turn (default 1): Slurm takes about half a second to start a
    /// task, so stages of milliseconds are cheaper in groups.
    pub stages_per_task: Option<usize>,
    /// More sbatch arguments, one word each, e.g. ["--qos=short"].
    #[serde(default)]
    pub extra_args: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlurmSection {
    /// The sertool binary the compute nodes run (default: this one; it must be on a path they see).
    pub sertool: Option<PathBuf>,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub time: Option<String>,
    pub mem: Option<String>,
    pub cpus_per_task: Option<u32>,
    pub gres: Option<String>,
    pub max_parallel: Option<usize>,
    pub stages_per_task: Option<usize>,
    #[serde(default)]
    pub extra_args: Vec<String>,
    /// Per stage kind: settings that replace the ones above for that kind's arrays.
    #[serde(default)]
    pub kinds: BTreeMap<String, SlurmSettings>,
}

impl SlurmSettings {
    pub fn resources(&self) -> Resources {
        Resources {
            partition: self.partition.clone(),
            account: self.account.clone(),
            time: self.time.clone(),
            mem: self.mem.clone(),
            cpus_per_task: self.cpus_per_task,
            gres: self.gres.clone(),
            max_parallel: self.max_parallel,
            stages_per_task: self.stages_per_task,
            extra_args: self.extra_args.clone(),
        }
    }
}

impl SlurmSection {
    pub fn resources(&self) -> Resources {
        SlurmSettings {
            partition: self.partition.clone(),
            account: self.account.clone(),
            time: self.time.clone(),
            mem: self.mem.clone(),
            cpus_per_task: self.cpus_per_task,
            gres: self.gres.clone(),
            max_parallel: self.max_parallel,
            stages_per_task: self.stages_per_task,
            extra_args: self.extra_args.clone(),
        }
        .resources()
    }

    pub fn per_kind(&self) -> BTreeMap<String, Resources> {
        self.kinds.iter().map(|(k, v)| (k.clone(), v.resources())).collect()
    }
}

pub(super) fn check_executor(e: &ExecutorSection, src: &Source) -> anyhow::Result<()> {
    let Some(s) = &e.slurm else { return Ok(()) };
    for kind in s.kinds.keys() {
        if !STAGE_KINDS.contains(&kind.as_str()) {
            return Err(src.error(
                src.name_offset("executor.slurm.kinds", kind),
                format!(
                    "[executor.slurm.kinds]: unknown stage kind \"{kind}\" (expected one of {})",
                    STAGE_KINDS.join(", ")
                ),
            ));
        }
    }
    for key in ["max_parallel", "stages_per_task"] {
        let get = |k: &SlurmSettings| if key == "max_parallel" { k.max_parallel } else { k.stages_per_task };
        let top = if key == "max_parallel" { s.max_parallel } else { s.stages_per_task };
        if std::iter::once(top).chain(s.kinds.values().map(get)).flatten().any(|p| p == 0) {
            return Err(
                src.error(src.key_offset("executor.slurm", key), format!("[executor.slurm]: {key} must be at least 1"))
            );
        }
    }
    Ok(())
}
