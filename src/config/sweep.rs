//! `[sweep.NAME]`: a Cartesian grid over one model's keys, e.g. `models.edrl_mea.components = [4, 8, 16]`,
//! expanded into named variants (`edrl_mea.components-8`), each an ordinary `[models.*]` entry that
//! replaces the swept model in every experiment. Upstream stages are shared because a variant's train
//! key holds only its options: a variant whose values are the swept model's own keeps its trained
//! models (its evals rerun: keys name inputs by stage id). The report selects a variant per training
//! set on the source dev split only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::names;
use super::source::Source;

/// One sweep, expanded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    pub name: String,
    pub model: String,
    /// The swept keys of the model, in grid order.
    pub keys: Vec<String>,
    pub variants: Vec<Variant>,
}

/// One grid point: its model name and the value of each swept key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    pub name: String,
    pub values: Vec<serde_json::Value>,
}

/// "8", "64x64", "0.001", "cosine": a value as a name segment.
fn value_text(v: &toml::Value) -> String {
    let s = match v {
        toml::Value::Array(a) => a.iter().map(value_text).collect::<Vec<_>>().join("x"),
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        _ => "value".into(),
    };
    s.chars().map(|c| if c.is_ascii_alphanumeric() || "_-.".contains(c) { c } else { '_' }).collect()
}

/// Every (dotted path, values) under a sweep's table.
fn leaves(prefix: &str, t: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in t {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(inner) => leaves(&path, inner, out),
            other => out.push((path, other.clone())),
        }
    }
}

/// Expand every sweep: the variants' tables are added to `models` (the swept model stays, for the
/// experiments to be checked against; the caller replaces it).
pub(crate) fn expand(
    raw: &BTreeMap<String, toml::Table>,
    models: &mut BTreeMap<String, toml::Table>,
    src: &Source,
) -> anyhow::Result<Vec<Sweep>> {
    let mut sweeps: Vec<Sweep> = Vec::new();
    for (name, table) in raw {
        let at = |msg: String| src.error(src.key_offset("sweep", name), format!("[sweep.{name}]: {msg}"));
        if !names::is_valid(name) {
            return Err(at(format!("sweep name \"{name}\" is not allowed ({})", names::RULE)));
        }
        let mut grid = Vec::new();
        leaves("", table, &mut grid);
        if grid.is_empty() {
            return Err(at("no keys to sweep (expected e.g. models.mlp.hidden = [[64], [128]])".into()));
        }
        let mut model: Option<&str> = None;
        let mut keys = Vec::new();
        let mut axes: Vec<Vec<toml::Value>> = Vec::new();
        for (path, values) in &grid {
            let parts: Vec<&str> = path.splitn(3, '.').collect();
            let (m, key) = match parts.as_slice() {
                ["models", m, key] if !key.contains('.') => (*m, *key),
                ["features", ..] => {
                    return Err(at(format!(
                        "{path}: sweeps over [features] keys are not supported yet (expected models.<model>.<key>)"
                    )))
                }
                _ => return Err(at(format!("{path}: expected models.<model>.<key> = [values]"))),
            };
            if !models.contains_key(m) {
                let names = models.keys().cloned().collect::<Vec<_>>().join(", ");
                return Err(at(format!("{path}: \"{m}\" is not a [models.*] entry (expected one of: {names})")));
            }
            if model.is_some_and(|x| x != m) {
                return Err(at(format!(
                    "{path}: a sweep varies one model; this one already varies \"{}\"",
                    model.unwrap_or("")
                )));
            }
            if sweeps.iter().any(|s| s.model == m) {
                return Err(at(format!("{path}: model \"{m}\" is swept by another [sweep.*] already")));
            }
            if ["kind", "seeds"].contains(&key) {
                return Err(at(format!("{path}: \"{key}\" cannot be swept (sweep the kind's options)")));
            }
            let Some(values) = values.as_array().filter(|a| !a.is_empty()) else {
                return Err(at(format!("{path}: expected a non-empty list of values, e.g. [4, 8, 16]")));
            };
            model = Some(m);
            keys.push(key.to_string());
            axes.push(values.clone());
        }
        let model = model.expect("grid is not empty").to_string();
        // The Cartesian product, the first key varying slowest.
        let mut points: Vec<Vec<toml::Value>> = vec![Vec::new()];
        for axis in &axes {
            points =
                points.iter().flat_map(|p| axis.iter().map(move |v| [p.clone(), vec![v.clone()]].concat())).collect();
        }
        let mut variants = Vec::new();
        for (i, point) in points.iter().enumerate() {
            let mut variant = model.clone();
            for (k, v) in keys.iter().zip(point) {
                variant.push_str(&format!(".{k}-{}", value_text(v)));
            }
            let taken = |v: &str, variants: &[Variant]| models.contains_key(v) || variants.iter().any(|x| x.name == v);
            if !names::is_valid(&variant) || taken(&variant, &variants) {
                variant = format!("{model}.{name}{i}");
            }
            if !names::is_valid(&variant) || taken(&variant, &variants) {
                return Err(at(format!(
                    "variant {} of model \"{model}\" has no free valid name (\"{variant}\"; {})",
                    i + 1,
                    names::RULE
                )));
            }
            let mut t = models[&model].clone();
            for (k, v) in keys.iter().zip(point) {
                t.insert(k.clone(), v.clone());
            }
            models.insert(variant.clone(), t);
            let values = point.iter().map(|v| serde_json::to_value(v).unwrap_or_default()).collect();
            variants.push(Variant { name: variant, values });
        }
        sweeps.push(Sweep { name: name.clone(), model, keys, variants });
    }
    Ok(sweeps)
}
