//! `[sweep.NAME]`: a Cartesian grid over one model's keys and the `[features]` it reads, e.g.
//! `models.edrl_mea.components = [4, 8, 16]` or `features.n_mels = [40, 64]` (with `model = "mlp"`
//! naming the model when no `models.*` line does), expanded into named variants (`edrl_mea.components-8`,
//! `mlp.n_mels-40`), each an ordinary `[models.*]` entry that replaces the swept model in every
//! experiment; a variant of feature keys reads its own `[features]` table. Upstream stages are shared
//! because keys hold only what a stage reads: a variant whose values are the swept model's own keeps its
//! trained models (its evals rerun: keys name inputs by stage id), and feature settings equal to
//! `[features]` read its shards. The report selects a variant per training set on the source dev split
//! only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::names;
use super::source::Source;

/// One sweep, expanded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    pub name: String,
    pub model: String,
    /// The swept keys in grid order: the model's own (`hidden`) and `[features]` ones (`features.n_mels`).
    pub keys: Vec<String>,
    pub variants: Vec<Variant>,
}

/// One grid point: its model name and the value of each swept key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    pub name: String,
    pub values: Vec<serde_json::Value>,
    /// With feature keys: their `key-value` segments (`n_mels-40`), which name its feature shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features_tag: Option<String>,
}

/// The sweeps, and the `[features]` table of every variant that sweeps feature keys.
pub(crate) struct Expanded {
    pub sweeps: Vec<Sweep>,
    pub features: BTreeMap<String, toml::Table>,
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
/// experiments to be checked against; the caller replaces it), and each variant with feature keys gets
/// a copy of `features` with its values.
pub(crate) fn expand(
    raw: &BTreeMap<String, toml::Table>,
    models: &mut BTreeMap<String, toml::Table>,
    features: Option<&toml::Table>,
    src: &Source,
) -> anyhow::Result<Expanded> {
    let mut sweeps: Vec<Sweep> = Vec::new();
    let mut variant_features = BTreeMap::new();
    for (name, table) in raw {
        let table_name = format!("sweep.{name}");
        let at = |msg: String| src.error(src.name_offset("sweep", name), format!("[sweep.{name}]: {msg}"));
        let at_key =
            |key: &str, msg: String| src.error(src.key_offset(&table_name, key), format!("[sweep.{name}] {msg}"));
        if !names::is_valid(name) {
            return Err(at(format!("sweep name \"{name}\" is not allowed ({})", names::RULE)));
        }
        let mut grid = Vec::new();
        leaves("", table, &mut grid);
        // `model = "<name>"` names the model a sweep of feature keys alone varies.
        let named = match grid.iter().position(|(path, _)| path == "model") {
            Some(i) => match grid.remove(i).1 {
                toml::Value::String(m) => Some(m),
                _ => return Err(at_key("model", "model: expected a model name, e.g. model = \"mlp\"".into())),
            },
            None => None,
        };
        if grid.is_empty() {
            return Err(at("no keys to sweep (expected e.g. models.mlp.hidden = [[64], [128]])".into()));
        }
        let mut model: Option<String> = named.clone();
        let mut keys = Vec::new();
        let mut axes: Vec<Vec<toml::Value>> = Vec::new();
        for (path, values) in &grid {
            let parts: Vec<&str> = path.splitn(3, '.').collect();
            let (m, key) = match parts.as_slice() {
                ["models", m, key] if !key.contains('.') => (*m, *key),
                ["features", key] => {
                    if *key == "kind"
                        && values.as_array().is_some_and(|a| a.iter().any(|v| v.as_str() == Some("imported")))
                    {
                        return Err(at_key(
                            path,
                            format!("{path}: imported features cannot be swept (they are not computed)"),
                        ));
                    }
                    keys.push(path.clone());
                    let Some(values) = values.as_array().filter(|a| !a.is_empty()) else {
                        return Err(at_key(
                            path,
                            format!("{path}: expected a non-empty list of values, e.g. [40, 64]"),
                        ));
                    };
                    axes.push(values.clone());
                    continue;
                }
                _ => {
                    return Err(at_key(
                        path,
                        format!("{path}: expected models.<model>.<key> = [values] or features.<key> = [values]"),
                    ))
                }
            };
            if !models.contains_key(m) {
                let names = models.keys().cloned().collect::<Vec<_>>().join(", ");
                return Err(at_key(
                    path,
                    format!("{path}: \"{m}\" is not a [models.*] entry (expected one of: {names})"),
                ));
            }
            if let Some(x) = model.as_deref().filter(|x| *x != m) {
                let why = if named.is_some() { "model = " } else { "this sweep already varies " };
                return Err(at_key(path, format!("{path}: a sweep varies one model; {why}\"{x}\"")));
            }
            if ["kind", "seeds"].contains(&key) {
                return Err(at_key(path, format!("{path}: \"{key}\" cannot be swept (sweep the kind's options)")));
            }
            let Some(values) = values.as_array().filter(|a| !a.is_empty()) else {
                return Err(at_key(path, format!("{path}: expected a non-empty list of values, e.g. [4, 8, 16]")));
            };
            model = Some(m.to_string());
            keys.push(key.to_string());
            axes.push(values.clone());
        }
        let Some(model) = model else {
            return Err(at(
                "a sweep of [features] keys alone names the model that reads them (expected model = \"<name>\")".into(),
            ));
        };
        if !models.contains_key(&model) {
            let names = models.keys().cloned().collect::<Vec<_>>().join(", ");
            return Err(at_key(
                "model",
                format!("model = \"{model}\" is not a [models.*] entry (expected one of: {names})"),
            ));
        }
        if sweeps.iter().any(|s| s.model == model) {
            return Err(at(format!("model \"{model}\" is swept by another [sweep.*] already")));
        }
        // The Cartesian product, the first key varying slowest.
        let mut points: Vec<Vec<toml::Value>> = vec![Vec::new()];
        for axis in &axes {
            points =
                points.iter().flat_map(|p| axis.iter().map(move |v| [p.clone(), vec![v.clone()]].concat())).collect();
        }
        let mut variants = Vec::new();
        for (i, point) in points.iter().enumerate() {
            let segment =
                |k: &str, v: &toml::Value| format!("{}-{}", k.strip_prefix("features.").unwrap_or(k), value_text(v));
            let mut variant = model.clone();
            for (k, v) in keys.iter().zip(point) {
                variant.push_str(&format!(".{}", segment(k, v)));
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
            let (mut t, mut f) = (models[&model].clone(), features.cloned().unwrap_or_default());
            let mut tag = Vec::new();
            for (k, v) in keys.iter().zip(point) {
                match k.strip_prefix("features.") {
                    Some(fk) => {
                        f.insert(fk.to_string(), v.clone());
                        tag.push(segment(k, v));
                    }
                    None => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
            models.insert(variant.clone(), t);
            let features_tag = (!tag.is_empty()).then(|| tag.join("."));
            if features_tag.is_some() {
                variant_features.insert(variant.clone(), f);
            }
            let values = point.iter().map(|v| serde_json::to_value(v).unwrap_or_default()).collect();
            variants.push(Variant { name: variant, values, features_tag });
        }
        sweeps.push(Sweep { name: name.clone(), model, keys, variants });
    }
    Ok(Expanded { sweeps, features: variant_features })
}
