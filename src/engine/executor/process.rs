//! Each stage runs in a fresh child process from its job document (`sertool exec-stage JOB`), so
//! nothing but the document and the cache passes between planner and worker: the seam a cluster
//! executor builds on. The document is written beside the stage's temporary output and removed after.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::Context;

use super::Executor;
use crate::engine::{job, Graph, JobDoc, StageCtx};

pub struct Process {
    /// The program and leading arguments that run a job document, e.g. `sertool exec-stage`.
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Threads each child may use (the scheduler runs `--jobs` children at once).
    pub threads: usize,
}

impl Executor for Process {
    fn name(&self) -> &'static str {
        "process"
    }

    fn run(&self, graph: &Graph, idx: usize, ctx: &StageCtx) -> anyhow::Result<usize> {
        let doc = JobDoc::new(graph, idx, ctx, self.threads)?;
        // Absolute, like every path in the document: the child may run elsewhere.
        let path = PathBuf::from(format!("{}.job.json", doc.out.display()));
        std::fs::write(&path, serde_json::to_vec(&doc)?).with_context(|| format!("writing {}", path.display()))?;
        let out = Command::new(&self.program)
            .args(&self.args)
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("starting {}", self.program.display()));
        let _ = std::fs::remove_file(&path);
        let out = out?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let said: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            let said = said.iter().rev().take(3).rev().copied().collect::<Vec<_>>().join(" | ");
            let said = said.strip_prefix("error: ").unwrap_or(&said).to_string();
            let msg = format!(
                "{} ({}): {}",
                describe(&out.status),
                self.name(),
                if said.is_empty() { "no message" } else { &said }
            );
            // exec-stage exits 2 on bad input, as every verb does.
            return Err(if out.status.code() == Some(2) {
                crate::error::user_error(msg)
            } else {
                anyhow::anyhow!(msg)
            });
        }
        if !stderr.trim().is_empty() {
            eprint!("{stderr}");
        }
        job::count_faults(&ctx.out)
    }
}

fn describe(status: &std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("the stage's process was killed by signal {sig}");
        }
    }
    format!("the stage's process exited with {}", status.code().map_or("no code".to_string(), |c| c.to_string()))
}
