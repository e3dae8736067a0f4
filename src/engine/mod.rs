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
pub mod fingerprint;
pub mod key;
mod schedule;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::Fault;
pub use cache::Cache;
pub use schedule::{execute, RunOptions, StageOutcome, Status, Summary};

/// What a stage's work function sees: where to write, and where its inputs' outputs are.
pub struct StageCtx<'a> {
    /// The (temporary) directory this stage writes into; renamed into the cache when the work succeeds.
    pub out: PathBuf,
    /// The committed directories of the stage's dependencies, in the order they were declared.
    pub inputs: Vec<PathBuf>,
    pub cache: &'a Cache,
}

/// A stage's work: write outputs into `ctx.out`, return the per-utterance faults met on the way.
pub type Work = Box<dyn Fn(&StageCtx) -> anyhow::Result<Vec<Fault>> + Send + Sync>;

/// A stage instance as the pipeline declares it.
pub struct StageSpec {
    /// Human-readable, unique, stable name, e.g. `features/synth_a/clean/shard03`.
    pub id: String,
    pub kind: &'static str,
    /// Bump when the stage's code changes what it writes: old entries then no longer match.
    pub version: u32,
    pub params: serde_json::Value,
    /// External inputs by name → content hash (dependency keys are added by [`Graph::add`]).
    pub inputs: BTreeMap<String, String>,
    pub deps: Vec<usize>,
    pub work: Work,
}

/// A stage instance with its key.
pub struct Stage {
    pub id: String,
    pub kind: &'static str,
    pub version: u32,
    pub params: serde_json::Value,
    pub inputs: BTreeMap<String, String>,
    pub deps: Vec<usize>,
    pub key: String,
    pub work: Work,
}

#[derive(Default)]
pub struct Graph {
    pub stages: Vec<Stage>,
    ids: BTreeMap<String, usize>,
}

impl Graph {
    /// Add a stage; its key covers its kind, version, parameters, external inputs and the keys of its
    /// dependencies (named by their stage ids, so `explain` can say which one changed).
    pub fn add(&mut self, spec: StageSpec) -> usize {
        assert!(!self.ids.contains_key(&spec.id), "duplicate stage id {}", spec.id);
        let mut inputs = spec.inputs;
        for &d in &spec.deps {
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
            work: spec.work,
        });
        idx
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
            for &d in &s.deps {
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
            for d in &st.deps {
                s.push_str(&format!("  n{d} -> n{i};\n"));
            }
        }
        s.push_str("}\n");
        s
    }

    /// Why a stage is stale, in words, by comparing it with the last committed run of the same stage id.
    pub fn explain(&self, idx: usize, cache: &Cache) -> Vec<String> {
        let st = &self.stages[idx];
        if cache.is_complete(st.kind, &st.key) {
            return vec!["cached: an entry with this key exists".into()];
        }
        let Some(last) = cache.last_meta(&st.id, st.kind) else {
            return vec!["new: no earlier run of this stage is cached".into()];
        };
        let mut why = Vec::new();
        if last.version != st.version {
            why.push(format!("stage code version changed ({} → {})", last.version, st.version));
        }
        diff_json("", &last.params, &st.params, &mut why);
        for (name, key) in &st.inputs {
            match last.inputs.get(name) {
                None => why.push(format!("new input {name}")),
                Some(old) if old != key => why.push(format!(
                    "input {name} changed ({} → {})",
                    &old[..old.len().min(12)],
                    &key[..key.len().min(12)]
                )),
                _ => {}
            }
        }
        for name in last.inputs.keys() {
            if !st.inputs.contains_key(name) {
                why.push(format!("input {name} removed"));
            }
        }
        if why.is_empty() {
            why.push("key changed but no parameter or input differs (tool version?)".into());
        }
        why
    }
}

/// Human-readable differences between two parameter documents: `params.mix.snr_db: 10 → 7`.
fn diff_json(path: &str, old: &serde_json::Value, new: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff_json(&p, x, y, out),
                    (None, Some(y)) => out.push(format!("parameter {p} added ({})", short(y))),
                    (Some(x), None) => out.push(format!("parameter {p} removed (was {})", short(x))),
                    (None, None) => {}
                }
            }
        }
        _ if old != new => {
            let p = if path.is_empty() { "params".to_string() } else { path.to_string() };
            out.push(format!("parameter {p} changed ({} → {})", short(old), short(new)));
        }
        _ => {}
    }
}

fn short(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}…", &s[..s.char_indices().nth(57).map_or(s.len(), |(i, _)| i)])
    } else {
        s
    }
}
