//! Why a stage is stale, in words: its parameters and inputs against the last committed run of the
//! same stage id — or, for an id that is new because a name in it changed (an SNR is part of a
//! condition's name), against the run of the id it replaces. Structured parameters are compared down
//! to the element that changed (`conditions[3].snr_db: 10 → 7`); long lists are summarised.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use super::cache::{Cache, Meta};
use super::Graph;

/// At most this many changed elements of one list are listed one by one.
const ELEMENTS_LISTED: usize = 3;

/// Explains the stages of one graph; remembers what it read of the cache's run records.
pub struct Explainer<'a> {
    graph: &'a Graph,
    cache: &'a Cache,
    ids: HashSet<&'a str>,
    /// kind → (stage id, key) of every last committed run of that kind.
    last: RefCell<HashMap<String, Vec<(String, String)>>>,
}

impl<'a> Explainer<'a> {
    pub fn new(graph: &'a Graph, cache: &'a Cache) -> Explainer<'a> {
        let ids = graph.stages.iter().map(|s| s.id.as_str()).collect();
        Explainer { graph, cache, ids, last: RefCell::default() }
    }

    pub fn explain(&self, idx: usize) -> Vec<String> {
        let st = &self.graph.stages[idx];
        if self.cache.is_complete(st.kind, &st.key) {
            return vec!["cached: an entry with this key exists".into()];
        }
        let mut why = Vec::new();
        let last = match self.cache.last_meta(&st.id, st.kind) {
            Some(m) => m,
            None => match self.replaced(&st.id, st.kind) {
                Some((old_id, m)) => {
                    why.push(format!("new stage id; compared with the last run of {old_id}, which it replaces"));
                    m
                }
                None => return vec!["new: no earlier run of this stage is cached".into()],
            },
        };
        if last.version != st.version {
            why.push(format!("stage code version changed ({} → {})", last.version, st.version));
        }
        diff_json("", &last.params, &st.params, &mut why);
        diff_inputs(&last.inputs, &st.inputs, &mut why);
        if why.is_empty() {
            why.push("key changed but no parameter or input differs (tool version?)".into());
        }
        why
    }

    /// The one earlier stage of this kind whose id differs from `id` in one `/` segment and that is
    /// not in the graph any more: the stage `id` took the place of. Only for ids of three segments or
    /// more: `report/<name>` and `manifest/<corpus>` of another pipeline sharing the cache are no
    /// predecessors.
    fn replaced(&self, id: &str, kind: &str) -> Option<(String, Meta)> {
        if id.split('/').count() < 3 {
            return None;
        }
        let mut last = self.last.borrow_mut();
        let runs = last.entry(kind.to_string()).or_insert_with(|| self.cache.last_runs(kind));
        let mut found = runs.iter().filter(|(old, _)| !self.ids.contains(old.as_str()) && one_segment_apart(old, id));
        let (old, key) = found.next()?;
        if found.next().is_some() {
            return None;
        }
        Some((old.clone(), self.cache.read_meta(kind, key).ok()?))
    }
}

fn one_segment_apart(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('/').collect(), b.split('/').collect());
    a.len() == b.len() && a.iter().zip(&b).filter(|(x, y)| x != y).count() == 1
}

/// Inputs (dependency stage id → key) added, removed, replaced (an id one segment apart) or changed.
fn diff_inputs(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>, out: &mut Vec<String>) {
    let mut added: Vec<&String> = new.keys().filter(|k| !old.contains_key(*k)).collect();
    let mut removed: Vec<&String> = old.keys().filter(|k| !new.contains_key(*k)).collect();
    let changed: Vec<String> = new
        .iter()
        .filter_map(|(k, v)| {
            old.get(k).filter(|o| *o != v).map(|o| format!("input {k} changed ({} → {})", short_key(o), short_key(v)))
        })
        .collect();
    // A renamed dependency (its condition's name changed) reads as one replacement, not two lines.
    let mut replaced = Vec::new();
    removed.retain(|r| match added.iter().position(|a| one_segment_apart(r, a)) {
        Some(i) => {
            replaced.push(format!("input {r} → {}", added.remove(i)));
            false
        }
        None => true,
    });
    let lines = |what: &str, items: Vec<String>, out: &mut Vec<String>| {
        if items.len() <= ELEMENTS_LISTED {
            out.extend(items);
        } else {
            out.push(format!("{} inputs {what} (first: {})", items.len(), items[0]));
        }
    };
    lines("replaced", replaced, out);
    lines("changed", changed, out);
    lines("added", added.iter().map(|a| format!("new input {a}")).collect(), out);
    lines("removed", removed.iter().map(|r| format!("input {r} removed")).collect(), out);
}

fn short_key(k: &str) -> &str {
    &k[..k.len().min(12)]
}

/// Human-readable differences between two parameter documents: `mix.snr_db: 10 → 7`,
/// `conditions[3].snr_db: 10 → 7`, `evals: 48 of 96 elements changed (first: …)`, `models: +1 −0`.
pub(crate) fn diff_json(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    let at = |k: &str| if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff_json(&at(k), x, y, out),
                    (None, Some(y)) => out.push(format!("parameter {} added ({})", at(k), short(y))),
                    (Some(x), None) => out.push(format!("parameter {} removed (was {})", at(k), short(x))),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a != b => {
            let p = if path.is_empty() { "params" } else { path };
            let differing: Vec<usize> = (0..a.len().min(b.len())).filter(|&i| a[i] != b[i]).collect();
            if a.len() == b.len() && differing.len() <= ELEMENTS_LISTED {
                for i in differing {
                    diff_json(&format!("{p}[{i}]"), &a[i], &b[i], out);
                }
            } else if a.len() == b.len() {
                let mut first = Vec::new();
                diff_json(&format!("{p}[{}]", differing[0]), &a[differing[0]], &b[differing[0]], &mut first);
                out.push(format!(
                    "parameter {p}: {} of {} elements changed (first: {})",
                    differing.len(),
                    a.len(),
                    first.first().map_or("", |s| s.trim_start_matches("parameter "))
                ));
            } else {
                let plus = b.iter().filter(|x| !a.contains(x)).count();
                let minus = a.iter().filter(|x| !b.contains(x)).count();
                let example = b.iter().find(|x| !a.contains(x)).or_else(|| a.iter().find(|x| !b.contains(x)));
                out.push(format!(
                    "parameter {p}: +{plus} −{minus} elements ({} → {}{})",
                    a.len(),
                    b.len(),
                    example.map_or(String::new(), |e| format!("; e.g. {}", short(e)))
                ));
            }
        }
        _ if old != new => {
            let p = if path.is_empty() { "params" } else { path };
            out.push(format!("parameter {p} changed ({} → {})", short(old), short(new)));
        }
        _ => {}
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}…", &s[..s.char_indices().nth(57).map_or(s.len(), |(i, _)| i)])
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn diff(a: Value, b: Value) -> Vec<String> {
        let mut out = Vec::new();
        diff_json("", &a, &b, &mut out);
        out
    }

    #[test]
    fn lists_are_compared_to_the_element() {
        let c = |snr: i64| json!({"name": format!("n.snr{snr}"), "noise": "n", "snr_db": snr});
        let old = json!({"conditions": [c(20), c(10), c(5)], "models": ["a", "b"]});
        let new = json!({"conditions": [c(20), c(7), c(5)], "models": ["a", "b", "c"]});
        assert_eq!(
            diff(old, new),
            [
                "parameter conditions[1].name changed (\"n.snr10\" → \"n.snr7\")",
                "parameter conditions[1].snr_db changed (10 → 7)",
                "parameter models: +1 −0 elements (2 → 3; e.g. \"c\")",
            ]
        );
        let old = json!({"evals": (0..10).map(|i| json!({"c": i % 2})).collect::<Vec<_>>()});
        let new = json!({"evals": (0..10).map(|_| json!({"c": 0})).collect::<Vec<_>>()});
        assert_eq!(diff(old, new), ["parameter evals: 5 of 10 elements changed (first: evals[1].c changed (1 → 0))"]);
    }

    #[test]
    fn renamed_inputs_read_as_replacements() {
        let m = |pairs: &[(&str, &str)]| pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        let mut out = Vec::new();
        diff_inputs(
            &m(&[("mix/a/n.snr10/shard01", "k1"), ("manifest/a", "k2")]),
            &m(&[("mix/a/n.snr7/shard01", "k3"), ("manifest/a", "k2"), ("noise/n", "k4")]),
            &mut out,
        );
        assert_eq!(out, ["input mix/a/n.snr10/shard01 → mix/a/n.snr7/shard01", "new input noise/n"]);
        assert!(one_segment_apart("eval/m/a/b/n.snr7/seed1", "eval/m/a/b/n.snr10/seed1"));
        assert!(!one_segment_apart("eval/m/a/b/n.snr7/seed1", "eval/m/a/c/n.snr10/seed1"));
    }
}
