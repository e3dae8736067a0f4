//! The shape of the crate: arrows between the top-level rooms of src/ point one way. Each file belongs to
//! the room named by its first path component under src/ (`audio/noise.rs` → `audio`, `table.rs` →
//! `table`; main.rs and lib.rs belong to none), and a `crate::<room>` anywhere in it is an arrow to that
//! room, except after `#[cfg(test)] mod tests {`: unit tests may reach anywhere. This mirrors
//! shared/hooks/module_cycles.py, so the test and the hook always agree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|e| e.unwrap_or_else(|e| panic!("listing {}: {e}", dir.display())).path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The text before the first `#[cfg(test)]<ws>mod tests<ws>{` (the unit tests are left out).
fn without_unit_tests(text: &str) -> &str {
    let b = text.as_bytes();
    for (at, _) in text.match_indices("#[cfg(test)]") {
        let i = skip_ws(b, at + "#[cfg(test)]".len());
        if !text[i..].starts_with("mod tests") {
            continue;
        }
        let i = skip_ws(b, i + "mod tests".len());
        if b.get(i) == Some(&b'{') {
            return &text[..at];
        }
    }
    text
}

/// Every room named by a `crate::<name>` in `text`, where `<name>` starts with a lower-case letter or
/// `_` (so `crate::TOOL_VERSION` names no room).
fn crate_refs(text: &str) -> BTreeSet<String> {
    let b = text.as_bytes();
    let mut out = BTreeSet::new();
    for (at, m) in text.match_indices("crate::") {
        if at > 0 && is_word(b[at - 1]) {
            continue;
        }
        let start = at + m.len();
        if !b.get(start).is_some_and(|c| c.is_ascii_lowercase() || *c == b'_') {
            continue;
        }
        let end = (start..b.len()).find(|&i| !(b[i].is_ascii_lowercase() || b[i].is_ascii_digit() || b[i] == b'_'));
        out.insert(text[start..end.unwrap_or(b.len())].to_string());
    }
    out
}

/// Room → the rooms it refers to (never itself).
fn room_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(!files.is_empty(), "no .rs files under {}", src.display());
    let mut graph = Graph::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap_or(&f);
        let first = rel.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
        let room = first.strip_suffix(".rs").unwrap_or(&first).to_string();
        if room == "main" || room == "lib" {
            continue;
        }
        let bytes = std::fs::read(&f).unwrap_or_else(|e| panic!("reading {}: {e}", f.display()));
        let text = String::from_utf8_lossy(&bytes);
        let refs = crate_refs(without_unit_tests(&text));
        let out = graph.entry(room.clone()).or_default();
        out.extend(refs.into_iter().filter(|r| *r != room));
    }
    graph
}

/// The strongly connected components of more than one room, each sorted, in a stable order (Tarjan).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    comp.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    self.out.push(comp);
                }
            }
        }
    }
    let rooms: BTreeSet<&str> =
        graph.keys().map(String::as_str).chain(graph.values().flatten().map(String::as_str)).collect();
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in rooms {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.out.sort();
    t.out
}

#[test]
fn no_cycles_among_the_rooms_of_src() {
    let graph = room_graph();
    let found = cycles(&graph);
    let lines: Vec<String> = found.iter().map(|c| format!("cycle: {}", c.join(" <-> "))).collect();
    assert!(found.is_empty(), "{} cycle(s) among the rooms of src/:\n{}", found.len(), lines.join("\n"));
}

/// The engine knows nothing of audio, corpora or the pipeline: it may use `error` and nothing else.
#[test]
fn engine_imports_nothing_but_error() {
    let graph = room_graph();
    let engine = graph.get("engine").expect("src/engine/ exists");
    let other: Vec<&String> = engine.iter().filter(|r| *r != "error").collect();
    assert!(other.is_empty(), "engine refers to {other:?}; it may refer to crate::error only");
}

#[test]
fn the_graph_reader_sees_what_the_hook_sees() {
    let text = "use crate::config::Corpus;\nuse crate::TOOL_VERSION;\n$crate::rng::x();\nmycrate::table::y();\n\
                #[cfg(test)]\nmod tests {\n    use crate::report::x;\n}\n";
    assert_eq!(crate_refs(without_unit_tests(text)), BTreeSet::from(["config".into(), "rng".into()]));
    // Only a `mod tests` block ends the scan; other cfg(test) items still count.
    let text = "#[cfg(test)]\nfn helper() { crate::bench::run(); }\n";
    assert_eq!(crate_refs(without_unit_tests(text)), BTreeSet::from(["bench".into()]));
    let graph: Graph = [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec!["a", "e"]), ("e", vec!["d"])]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
        .collect();
    assert_eq!(cycles(&graph), [vec!["a", "b", "c"], vec!["d", "e"]]);
    assert!(cycles(&Graph::from([("x".into(), BTreeSet::from(["y".into()]))])).is_empty());
}
