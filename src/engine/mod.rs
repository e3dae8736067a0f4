//! The engine: a graph of stage instances with content keys, a content-addressed cache, and a
//! scheduler that runs what is stale on a rayon pool. It knows nothing about audio or emotions;
//! `pipeline` builds the graph from a pipeline file.
//!
//! Why not dagx: it is an in-memory async executor with no caching or persistence, a task takes at most
//! 8 typed inputs (a report fans in hundreds of evaluations) and every output stays in RAM. Our graph is
//! data-driven from TOML: petgraph checks it for cycles and orders it, rayon runs ready stages, and the
//! cache decides what runs at all.

pub mod atomic;
pub mod cache;
pub mod executor;
pub mod explain;
pub mod fingerprint;
pub mod host;
pub mod job;
pub mod key;
pub mod lease;
mod schedule;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use cache::Cache;
pub use executor::{Executor, Local, Process};
pub use job::{JobDoc, StageJob};
pub use schedule::{execute, RunOptions, StageOutcome, Status, Summary};

/// What a stage's work sees: where to write, and the committed directories of its inputs by name.
pub struct StageCtx {
    /// The (temporary) directory this stage writes into; renamed into the cache when the work succeeds.
    pub out: PathBuf,
    /// Input name → the committed entries of the stages declared under that name, in declared order.
    pub inputs: BTreeMap<String, Vec<PathBuf>>,
}

impl StageCtx {
    /// The one entry declared under `name`.
    pub fn input(&self, name: &str) -> anyhow::Result<&Path> {
        match self.inputs.get(name).map(Vec::as_slice) {
            Some([one]) => Ok(one),
            Some(many) => anyhow::bail!("input \"{name}\" has {} entries, expected one", many.len()),
            None => anyhow::bail!("this stage has no input \"{name}\""),
        }
    }

    /// Every entry declared under `name` (none when the stage declared none).
    pub fn inputs(&self, name: &str) -> &[PathBuf] {
        self.inputs.get(name).map_or(&[], Vec::as_slice)
    }
}

/// A stage instance as the planner declares it.
pub struct StageSpec {
    /// Human-readable, unique, stable name, e.g. `features/synth_a/clean/shard03`.
    pub id: String,
    pub kind: &'static str,
    /// Bump when the stage's code changes what it writes: old entries then no longer match.
    pub version: u32,
    /// What the key covers besides inputs: every setting that changes the output.
    pub params: serde_json::Value,
    /// External inputs by name → content hash (dependency keys are added by [`Graph::add`]).
    pub inputs: BTreeMap<String, String>,
    /// Upstream stages, each under an input name (several stages may share one name).
    pub deps: Vec<(&'static str, usize)>,
    /// The work, with everything it needs; it can travel as a job document.
    pub job: Box<dyn StageJob>,
}

/// A stage instance with its key.
pub struct Stage {
    pub id: String,
    pub kind: &'static str,
    pub version: u32,
    pub params: serde_json::Value,
    pub inputs: BTreeMap<String, String>,
    pub deps: Vec<(&'static str, usize)>,
    pub key: String,
    pub job: Box<dyn StageJob>,
}

impl Stage {
    /// The indices of the stages this one reads.
    pub fn dep_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.deps.iter().map(|&(_, d)| d)
    }
}

#[derive(Default)]
pub struct Graph {
    pub stages: Vec<Stage>,
    ids: BTreeMap<String, usize>,
}

impl Graph {
    /// Add a stage; its key covers its kind, version, parameters, external inputs and the keys of its
    /// dependencies (named by their stage ids, so `explain` can say which one changed). Two stages with
    /// one id are a planning bug (names are validated before planning), reported as an error.
    pub fn add(&mut self, spec: StageSpec) -> anyhow::Result<usize> {
        anyhow::ensure!(!self.ids.contains_key(&spec.id), "internal error: two stages are named {}", spec.id);
        let mut inputs = spec.inputs;
        for &(_, d) in &spec.deps {
            inputs.insert(self.stages[d].id.clone(), self.stages[d].key.clone());
        }
        let key = key::stage_key(spec.kind, spec.version, &spec.params, &inputs);
        let idx = self.stages.len();
        self.ids.insert(spec.id.clone(), idx);
        self.stages.push(Stage {
            id: spec.id,
            kind: spec.kind,
            version: spec.version,
            params: spec.params,
            inputs,
            deps: spec.deps,
            key,
            job: spec.job,
        });
        Ok(idx)
    }

    /// The context a stage's work runs in: its committed inputs by name, and `out`.
    pub fn context(&self, idx: usize, cache: &Cache, out: PathBuf) -> StageCtx {
        let mut inputs: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        for &(name, d) in &self.stages[idx].deps {
            let dep = &self.stages[d];
            inputs.entry(name.to_string()).or_default().push(cache.entry_dir(dep.kind, &dep.key));
        }
        StageCtx { out, inputs }
    }

    pub fn find(&self, id: &str) -> Option<usize> {
        self.ids.get(id).copied()
    }

    /// Stage indices in an order where every stage follows its dependencies (petgraph's toposort;
    /// `add` only accepts existing dependencies, so a cycle would be a bug).
    pub fn topological_order(&self) -> Vec<usize> {
        let mut g = petgraph::graph::DiGraph::<(), ()>::with_capacity(self.stages.len(), 0);
        let nodes: Vec<_> = self.stages.iter().map(|_| g.add_node(())).collect();
        for (i, s) in self.stages.iter().enumerate() {
            for d in s.dep_indices() {
                g.add_edge(nodes[d], nodes[i], ());
            }
        }
        let order = petgraph::algo::toposort(&g, None).expect("the stage graph has no cycles");
        order.into_iter().map(|n| n.index()).collect()
    }

    /// Graphviz DOT of the graph, stale stages filled (`sertool plan --dot`).
    pub fn to_dot(&self, cache: &Cache) -> String {
        let mut s = String::from("digraph sertool {\n  rankdir=LR;\n  node [shape=box, fontsize=10];\n");
        for (i, st) in self.stages.iter().enumerate() {
            let fill = if cache.is_complete(st.kind, &st.key) { "white" } else { "lightsalmon" };
            s.push_str(&format!("  n{i} [label=\"{}\", style=filled, fillcolor={fill}];\n", st.id));
        }
        for (i, st) in self.stages.iter().enumerate() {
            for d in st.dep_indices() {
                s.push_str(&format!("  n{d} -> n{i};\n"));
            }
        }
        s.push_str("}\n");
        s
    }

    /// Why a stage is stale, in words (see [`explain::Explainer`], which `plan` keeps for every stage).
    pub fn explain(&self, idx: usize, cache: &Cache) -> Vec<String> {
        explain::Explainer::new(self, cache).explain(idx)
    }
}
