//! Executors: where a stage's work runs. The scheduler decides *when* a stage runs (its inputs are
//! committed) and commits what it wrote; an executor only does the work, into the stage's temporary
//! output directory. Adding an executor is a new file here implementing [`Executor`]; a batch system
//! that takes many stages at once and commits them itself (Slurm job arrays) has its own driver
//! ([`slurm::execute`]) over the same job documents, claims and commits.

mod local;
mod process;
pub mod slurm;

pub use local::Local;
pub use process::Process;

use super::{Graph, StageCtx};

pub trait Executor: Sync {
    /// Shown in logs and errors.
    fn name(&self) -> &'static str;

    /// Do the work of stage `idx` of `graph` into `ctx.out`, leaving `faults.json` there when there
    /// are faults; return how many. The caller commits `ctx.out`, or removes it on an error.
    fn run(&self, graph: &Graph, idx: usize, ctx: &StageCtx) -> anyhow::Result<usize>;
}
