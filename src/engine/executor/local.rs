//! The work runs on the calling thread (the scheduler's rayon pool: `--jobs` threads in all).

use super::Executor;
use crate::engine::{job, Graph, StageCtx};

pub struct Local;

impl Executor for Local {
    fn name(&self) -> &'static str {
        "local"
    }

    fn run(&self, graph: &Graph, idx: usize, ctx: &StageCtx) -> anyhow::Result<usize> {
        job::perform(|c| graph.stages[idx].job.run(c), ctx)
    }
}
