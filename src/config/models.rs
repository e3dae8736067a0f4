//! `[models.<name>]`: a kind from the model registry (`models::KINDS`), its seeds, the conditions it
//! trains on, and that kind's own options. Nothing here names a kind: their keys and defaults come from the registry.

use std::collections::BTreeMap;

use super::source::{parse_kind_options, take_string, Source};
use crate::models::{self, ModelSpec};

/// The kind a `[models.*]` table without `kind` gets.
pub const DEFAULT_MODEL_KIND: &str = "mlp";

/// What a model's `train_conditions` may name: the noise sources `[mix]` mixes, and whether features
/// are imported (then nothing is mixed for training either).
pub(crate) struct TrainNoise<'a> {
    pub noise: &'a [String],
    pub imported: bool,
}

pub(crate) fn resolve_models(
    raw: &BTreeMap<String, toml::Table>,
    train_noise: &TrainNoise,
    src: &Source,
) -> anyhow::Result<BTreeMap<String, ModelSpec>> {
    let mut out = BTreeMap::new();
    for (name, table) in raw {
        out.insert(name.clone(), resolve_model(name, table, train_noise, src)?);
    }
    check_ensembles(raw, &mut out, src)?;
    Ok(out)
}

/// An ensemble's members are other, non-ensemble `[models.*]` entries; without `seeds` it fuses every
/// seed all of its members have.
fn check_ensembles(
    raw: &BTreeMap<String, toml::Table>,
    models: &mut BTreeMap<String, ModelSpec>,
    src: &Source,
) -> anyhow::Result<()> {
    let ensembles: Vec<String> =
        models.iter().filter(|(_, m)| m.kind.needs().combines).map(|(n, _)| n.clone()).collect();
    for name in ensembles {
        let at = |key: &str, msg: String| {
            src.error(src.key_offset(&format!("models.{name}"), key), format!("model \"{name}\": {msg}"))
        };
        let members: Vec<String> = serde_json::from_value(models[&name].params["members"].clone()).unwrap_or_default();
        let mut common: Option<Vec<u64>> = None;
        for m in &members {
            let Some(spec) = models.get(m) else {
                let names = models.keys().filter(|k| **k != name).cloned().collect::<Vec<_>>().join(", ");
                return Err(at(
                    "members",
                    format!("member \"{m}\" is not a [models.*] entry (expected one of: {names})"),
                ));
            };
            if spec.kind.needs().combines {
                return Err(at("members", format!("member \"{m}\" is an ensemble itself; list its members instead")));
            }
            common = Some(match common {
                None => spec.seeds.clone(),
                Some(c) => c.into_iter().filter(|s| spec.seeds.contains(s)).collect(),
            });
        }
        let common = common.unwrap_or_default();
        if !raw[&name].contains_key("seeds") {
            if common.is_empty() {
                return Err(at(
                    "members",
                    "its members share no seed, so there is nothing to fuse; give them a common seed".into(),
                ));
            }
            models.get_mut(&name).expect("listed above").seeds = common;
        } else if let Some(s) = models[&name].seeds.iter().find(|s| !common.contains(s)) {
            return Err(at("seeds", format!("seed {s} is not a seed of every member ({})", members.join(", "))));
        }
    }
    Ok(())
}

/// `train_conditions` as condition names: "clean", "snr<dB>" (every noise source of `[mix]` at that SNR,
/// from its train pool) or "<noise>.snr<dB>" (one source), in the order given, without repeats.
fn train_conditions(list: &[String], noise: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    let snr = |s: &str, entry: &str| -> Result<f64, String> {
        s.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
            format!("train_conditions entry \"{entry}\": \"{s}\" is not an SNR in dB (expected e.g. \"snr10\")")
        })
    };
    for entry in list {
        let names: Vec<String> = if entry == "clean" {
            vec!["clean".into()]
        } else if let Some(db) = entry.strip_prefix("snr") {
            let db = snr(db, entry)?;
            noise.iter().map(|n| crate::records::Condition::noisy(n, db).name).collect()
        } else if let Some((n, db)) = entry.split_once(".snr") {
            if !noise.iter().any(|m| m == n) {
                return Err(format!(
                    "train_conditions entry \"{entry}\": \"{n}\" is not a noise source [mix] mixes (expected one of: {})",
                    noise.join(", ")
                ));
            }
            vec![crate::records::Condition::noisy(n, snr(db, entry)?).name]
        } else {
            return Err(format!(
                "train_conditions entry \"{entry}\" (expected \"clean\", \"snr<dB>\" or \"<noise>.snr<dB>\")"
            ));
        };
        for n in names {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    if out.is_empty() {
        return Err("train_conditions must list at least one condition (e.g. [\"clean\", \"snr10\"])".into());
    }
    Ok(out)
}

fn resolve_model(name: &str, table: &toml::Table, train_noise: &TrainNoise, src: &Source) -> anyhow::Result<ModelSpec> {
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
    if train_noise.imported && kind.needs().frames {
        return Err(at(
            "kind",
            format!(
                "kind \"{kind_name}\" reads audio frames, not feature vectors, and an imported-features pipeline \
                 mixes no audio for its noisy conditions; give this model a pipeline with computed features"
            ),
        ));
    }
    let seeds = match options.remove("seeds") {
        None => vec![1],
        Some(v) => v.try_into::<Vec<u64>>().map_err(|e| {
            src.error(src.key_offset(&path, "seeds"), format!("key \"seeds\" in {label}: {}", e.message().trim()))
        })?,
    };
    if seeds.is_empty() {
        return Err(at("seeds", "seeds must list at least one seed".into()));
    }
    let train_conditions = match options.remove("train_conditions") {
        None => vec!["clean".to_string()],
        Some(v) => {
            let list = v.try_into::<Vec<String>>().map_err(|e| {
                src.error(
                    src.key_offset(&path, "train_conditions"),
                    format!("key \"train_conditions\" in {label}: {}", e.message().trim()),
                )
            })?;
            let names = train_conditions(&list, train_noise.noise).map_err(|m| at("train_conditions", m))?;
            if train_noise.imported && names != ["clean"] {
                return Err(at(
                    "train_conditions",
                    "train_conditions needs audio to mix; with [features] kind = \"imported\" it can only be [\"clean\"]"
                        .into(),
                ));
            }
            names
        }
    };
    let mut keys: Vec<String> = match kind.defaults() {
        serde_json::Value::Object(m) => m.keys().cloned().collect(),
        _ => Vec::new(),
    };
    keys.extend(["kind".to_string(), "seeds".to_string(), "train_conditions".to_string()]);
    keys.sort();
    let params = parse_kind_options(src, &options, (&path, &label, &kind_name), &keys, |m| kind.parse(m))?;
    kind.check(&params).map_err(|(key, msg)| at(key, msg))?;
    Ok(ModelSpec { kind, seeds, train_conditions, params })
}
