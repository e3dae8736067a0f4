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
pub const STAGE_KINDS: &[&str] = &["manifest", "noise_pool", "mix", "features", "train", "eval", "ensemble", "report"];

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
    pub kinds: BTreeMap<String, Resources>,
}

impl SlurmSection {
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

    pub fn per_kind(&self) -> BTreeMap<String, Resources> {
        self.kinds.clone()
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
    let tables = std::iter::once(("executor.slurm".to_string(), s.resources()))
        .chain(s.kinds.iter().map(|(k, r)| (format!("executor.slurm.kinds.{k}"), r.clone())));
    for (table, r) in tables {
        let zero = [
            ("max_parallel", r.max_parallel.map(|v| v as u64)),
            ("stages_per_task", r.stages_per_task.map(|v| v as u64)),
            ("cpus_per_task", r.cpus_per_task.map(u64::from)),
        ];
        if let Some((key, _)) = zero.iter().find(|(_, v)| *v == Some(0)) {
            return Err(src.error(src.key_offset(&table, key), format!("[{table}]: {key} must be at least 1")));
        }
    }
    Ok(())
}
