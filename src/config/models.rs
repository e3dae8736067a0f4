//! `[models.<name>]`: a kind from the model registry (`models::KINDS`), its seeds, and that kind's own
//! options. Nothing here names a kind: their keys and defaults come from the registry.

use std::collections::BTreeMap;

use super::source::{parse_kind_options, take_string, Source};
use crate::models::{self, ModelSpec};

/// The kind a `[models.*]` table without `kind` gets.
pub const DEFAULT_MODEL_KIND: &str = "mlp";

pub(crate) fn resolve_models(
    raw: &BTreeMap<String, toml::Table>,
    src: &Source,
) -> anyhow::Result<BTreeMap<String, ModelSpec>> {
    let mut out = BTreeMap::new();
    for (name, table) in raw {
        out.insert(name.clone(), resolve_model(name, table, src)?);
    }
    Ok(out)
}

fn resolve_model(name: &str, table: &toml::Table, src: &Source) -> anyhow::Result<ModelSpec> {
    let path = format!("models.{name}");
    let label = format!("[models.{name}]");
    let at = |key: &str, msg: String| src.error(src.key_offset(&path, key), format!("model \"{name}\": {msg}"));
    let mut options = table.clone();
    let kind_name =
        take_string(src, &mut options, (&path, &label), "kind")?.unwrap_or_else(|| DEFAULT_MODEL_KIND.to_string());
    let Some(kind) = models::kind(&kind_name) else {
        return Err(at(
            "kind",
            format!("unknown kind \"{kind_name}\" (expected one of: {})", models::kind_names().join(", ")),
        ));
    };
    let seeds = match options.remove("seeds") {
        None => vec![1],
        Some(v) => v.try_into::<Vec<u64>>().map_err(|e| {
            src.error(src.key_offset(&path, "seeds"), format!("key \"seeds\" in {label}: {}", e.message().trim()))
        })?,
    };
    if seeds.is_empty() {
        return Err(at("seeds", "seeds must list at least one seed".into()));
    }
    let mut keys: Vec<String> = match kind.defaults() {
        serde_json::Value::Object(m) => m.keys().cloned().collect(),
        _ => Vec::new(),
    };
    keys.extend(["kind".to_string(), "seeds".to_string()]);
    keys.sort();
    let params = parse_kind_options(src, &options, (&path, &label, &kind_name), &keys, |m| kind.parse(m))?;
    kind.check(&params).map_err(|(key, msg)| at(key, msg))?;
    Ok(ModelSpec { kind, seeds, params })
}
