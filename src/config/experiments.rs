//! `[[experiments]]`: train corpora, test corpora and the models to run on them.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::corpora::Corpus;
use super::names;
use super::source::Source;
use crate::models::ModelSpec;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExperiment {
    name: String,
    train: Vec<Spanned<String>>,
    test: Vec<Spanned<String>>,
    #[serde(default)]
    models: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Experiment {
    pub name: String,
    pub train: Vec<String>,
    pub test: Vec<String>,
    pub models: Vec<String>,
}

pub(crate) fn resolve_experiments(
    raw: &[RawExperiment],
    corpora: &BTreeMap<String, Corpus>,
    models: &BTreeMap<String, ModelSpec>,
    src: &Source,
) -> anyhow::Result<Vec<Experiment>> {
    let at = |offset: usize, msg: String| src.error(offset, msg);
    let mut experiments = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for e in raw {
        if !names::is_valid(&e.name) {
            return Err(at(
                src.quoted_offset(&e.name),
                format!("experiment name \"{}\" is not allowed ({})", e.name, names::RULE),
            ));
        }
        if !seen.insert(e.name.to_ascii_lowercase()) {
            return Err(at(
                src.quoted_offset(&e.name),
                format!("experiment name \"{}\" is used twice (names may not differ only by case)", e.name),
            ));
        }
        for c in e.train.iter().chain(&e.test) {
            if !corpora.contains_key(c.get_ref()) {
                return Err(at(
                    c.span().start,
                    format!(
                        "experiment \"{}\" names corpus \"{}\", which is not a [corpora.*] entry",
                        e.name,
                        c.get_ref()
                    ),
                ));
            }
        }
        if let Some(twice) = e.train.iter().enumerate().find(|(i, c)| e.train[..*i].contains(c)).map(|(_, c)| c) {
            return Err(at(
                twice.span().start,
                format!("experiment \"{}\" lists train corpus \"{}\" twice", e.name, twice.get_ref()),
            ));
        }
        let models: Vec<String> = match &e.models {
            Some(ms) => {
                for m in ms {
                    if !models.contains_key(m.get_ref()) {
                        return Err(at(
                            m.span().start,
                            format!(
                                "experiment \"{}\" names model \"{}\", which is not a [models.*] entry",
                                e.name,
                                m.get_ref()
                            ),
                        ));
                    }
                }
                ms.iter().map(|m| m.get_ref().clone()).collect()
            }
            None => models.keys().cloned().collect(),
        };
        if e.train.is_empty() || e.test.is_empty() {
            return Err(at(
                src.quoted_offset(&e.name),
                format!("experiment \"{}\" needs at least one train and one test corpus", e.name),
            ));
        }
        experiments.push(Experiment {
            name: e.name.clone(),
            train: e.train.iter().map(|s| s.get_ref().clone()).collect(),
            test: e.test.iter().map(|s| s.get_ref().clone()).collect(),
            models,
        });
    }
    Ok(experiments)
}
