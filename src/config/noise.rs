//! `[noise.<name>]`: a noise corpus in its layout and how it is split into pools.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::source::{expand_env, Source};
use crate::audio::noise::{NoiseSelect, NoiseSource};

/// The kinds of noise source this version reads.
pub const NOISE_KINDS: &[&str] = &["folder", "musan", "demand", "esc50", "wham"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNoise {
    kind: Spanned<String>,
    root: Spanned<String>,
    #[serde(default = "default_test_fraction")]
    test_fraction: f64,
    #[serde(default = "super::corpora::default_seed")]
    seed: u64,
    #[serde(default)]
    subsets: Option<Vec<String>>,
    #[serde(default)]
    environments: Option<Vec<String>>,
    #[serde(default)]
    channel: Option<u32>,
    #[serde(default)]
    categories: Option<Vec<String>>,
    #[serde(default)]
    test_folds: Option<Vec<u32>>,
    #[serde(default)]
    test_categories: Option<Vec<String>>,
}

impl RawNoise {
    fn select(&self) -> NoiseSelect {
        NoiseSelect {
            subsets: self.subsets.clone(),
            environments: self.environments.clone(),
            channel: self.channel,
            categories: self.categories.clone(),
            test_folds: self.test_folds.clone(),
            test_categories: self.test_categories.clone(),
        }
    }
}

fn default_test_fraction() -> f64 {
    0.5
}

pub(crate) fn resolve_noise(
    raw: &BTreeMap<String, RawNoise>,
    src: &Source,
) -> anyhow::Result<BTreeMap<String, NoiseSource>> {
    let at = |offset: usize, msg: String| src.error(offset, msg);
    let mut noise = BTreeMap::new();
    for (name, n) in raw {
        let kind = n.kind.get_ref();
        if !NOISE_KINDS.contains(&kind.as_str()) {
            return Err(at(
                n.kind.span().start,
                format!("noise \"{name}\": unknown kind \"{kind}\" (expected one of: {})", NOISE_KINDS.join(", ")),
            ));
        }
        let root = src.resolve(&expand_env(src, &n.root)?);
        if !root.is_dir() {
            return Err(at(
                n.root.span().start,
                format!(
                    "noise \"{name}\": root \"{}\" is not a directory (resolved to {})",
                    n.root.get_ref(),
                    root.display()
                ),
            ));
        }
        let sel = &n.select();
        let only = |field: &str, set: bool, kinds: &[&str]| -> anyhow::Result<()> {
            if set && !kinds.contains(&kind.as_str()) {
                return Err(at(
                    src.key_offset(&format!("noise.{name}"), field),
                    format!("noise \"{name}\": {field} applies to {} only, not {kind}", kinds.join(", ")),
                ));
            }
            Ok(())
        };
        only("subsets", sel.subsets.is_some(), &["musan"])?;
        only("environments", sel.environments.is_some(), &["demand"])?;
        only("channel", sel.channel.is_some(), &["demand"])?;
        only("categories", sel.categories.is_some(), &["esc50"])?;
        only("test_folds", sel.test_folds.is_some(), &["esc50"])?;
        if let Some(bad) = sel.subsets.iter().flatten().find(|s| !["noise", "music", "speech"].contains(&s.as_str())) {
            return Err(at(
                src.key_offset(&format!("noise.{name}"), "subsets"),
                format!("noise \"{name}\": MUSAN subset \"{bad}\" (expected noise, music or speech)"),
            ));
        }
        if !(n.test_fraction > 0.0 && n.test_fraction < 1.0) {
            return Err(at(n.kind.span().start, format!("noise \"{name}\": test_fraction must be in (0, 1)")));
        }
        noise.insert(
            name.clone(),
            NoiseSource {
                name: name.clone(),
                kind: kind.clone(),
                root,
                test_fraction: n.test_fraction,
                seed: n.seed,
                select: n.select(),
            },
        );
    }
    Ok(noise)
}
