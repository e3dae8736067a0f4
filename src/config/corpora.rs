//! `[corpora.<name>]`: kind, root, label map, split.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::source::{expand_env, Source};

/// The kinds of corpus this version reads.
pub const CORPUS_KINDS: &[&str] = &["iemocap", "cremad", "msp_podcast", "ravdess", "emodb", "csv"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCorpus {
    kind: Spanned<String>,
    root: Spanned<String>,
    /// Native code → unified label; codes not listed are dropped. Default: the corpus kind's 4-class map.
    #[serde(default)]
    label_map: Option<BTreeMap<String, String>>,
    #[serde(default)]
    split: SplitConfig,
    /// CREMA-D: "acted" (the file name's emotion, default) or "voice_vote" (perceived, summaryTable.csv).
    #[serde(default)]
    label_source: Option<Spanned<String>>,
    /// Make every ingest problem (missing or unlabeled file, unreadable audio) fatal.
    #[serde(default)]
    strict: bool,
    /// CREMA-D: which of its audio folders to read, "wav" (AudioWAV, default) or "mp3" (AudioMP3).
    #[serde(default)]
    audio: Option<Spanned<String>>,
}

/// How utterances are split into train / dev / test. Every method is speaker-independent.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    /// "speakers": speakers ordered by a seeded hash and cut by `train` / `dev` fractions (default for
    /// CREMA-D, RAVDESS, EmoDB); "sessions": IEMOCAP's sessions (`test_session`, `dev_session`);
    /// "official": MSP-Podcast's Split_Set; "column": the generic CSV's split column.
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default = "default_train_fraction")]
    pub train: f64,
    #[serde(default = "default_dev_fraction")]
    pub dev: f64,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// IEMOCAP fold: the session held out for test (leave-one-session-out uses 1..5 in turn).
    #[serde(default = "default_test_session")]
    pub test_session: u32,
    /// IEMOCAP: the session used for model selection (0 = none).
    #[serde(default = "default_dev_session")]
    pub dev_session: u32,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            method: None,
            train: default_train_fraction(),
            dev: default_dev_fraction(),
            seed: default_seed(),
            test_session: default_test_session(),
            dev_session: default_dev_session(),
        }
    }
}

fn default_test_session() -> u32 {
    5
}
fn default_dev_session() -> u32 {
    4
}

/// The split methods each corpus kind supports; the first is its default.
pub fn split_methods(kind: &str) -> &'static [&'static str] {
    match kind {
        "iemocap" => &["sessions", "speakers"],
        "msp_podcast" => &["official", "speakers"],
        "csv" => &["column", "speakers"],
        _ => &["speakers"],
    }
}

fn default_train_fraction() -> f64 {
    0.7
}
fn default_dev_fraction() -> f64 {
    0.1
}
pub(crate) fn default_seed() -> u64 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Corpus {
    pub name: String,
    pub kind: String,
    pub root: PathBuf,
    pub label_map: BTreeMap<String, String>,
    pub split: SplitConfig,
    /// CREMA-D label source: "acted" or "voice_vote".
    pub label_source: String,
    pub strict: bool,
    /// CREMA-D: "wav" (AudioWAV) or "mp3" (AudioMP3).
    pub audio: String,
}

/// The 4-class default mapping for a corpus kind (method.md, "Unified label space").
pub fn default_label_map(kind: &str, classes: &[String]) -> BTreeMap<String, String> {
    let pairs: &[(&str, &str)] = match kind {
        "iemocap" => &[("neu", "neutral"), ("hap", "happy"), ("exc", "happy"), ("ang", "angry"), ("sad", "sad")],
        "cremad" => &[("NEU", "neutral"), ("HAP", "happy"), ("ANG", "angry"), ("SAD", "sad")],
        "msp_podcast" => &[("N", "neutral"), ("H", "happy"), ("A", "angry"), ("S", "sad")],
        "ravdess" => &[("neutral", "neutral"), ("happy", "happy"), ("angry", "angry"), ("sad", "sad")],
        "emodb" => &[("N", "neutral"), ("F", "happy"), ("W", "angry"), ("T", "sad")],
        // A generic CSV already speaks the unified labels.
        _ => return classes.iter().map(|c| (c.clone(), c.clone())).collect(),
    };
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// Resolve and check every corpus, in file order (so the first problem reported is the first in the file).
pub(crate) fn resolve_corpora(
    raw: &BTreeMap<String, RawCorpus>,
    classes: &[String],
    src: &Source,
) -> anyhow::Result<BTreeMap<String, Corpus>> {
    let at = |offset: usize, msg: String| src.error(offset, msg);
    let mut corpora = BTreeMap::new();
    // Validate in file order, so the first problem reported is the first one in the file.
    let mut in_order: Vec<(&String, &RawCorpus)> = raw.iter().collect();
    in_order.sort_by_key(|(_, c)| c.kind.span().start);
    for (name, c) in in_order {
        let kind = c.kind.get_ref();
        if !CORPUS_KINDS.contains(&kind.as_str()) {
            return Err(at(
                c.kind.span().start,
                format!("corpus \"{name}\": unknown kind \"{kind}\" (expected one of: {})", CORPUS_KINDS.join(", ")),
            ));
        }
        let root = src.resolve(&expand_env(src, &c.root)?);
        if !root.is_dir() {
            return Err(at(
                c.root.span().start,
                format!(
                    "corpus \"{name}\": root \"{}\" is not a directory (resolved to {})\n\
                     hint: for the built-in synthetic corpora run `sertool synth data/synth` first",
                    c.root.get_ref(),
                    root.display()
                ),
            ));
        }
        let label_map = c.label_map.clone().unwrap_or_else(|| default_label_map(kind, classes));
        for (code, label) in &label_map {
            if !classes.contains(label) {
                return Err(at(
                    c.kind.span().start,
                    format!(
                        "corpus \"{name}\": label_map sends \"{code}\" to \"{label}\", which is not in [labels] classes ({})",
                        classes.join(", ")
                    ),
                ));
            }
        }
        let mut split = c.split.clone();
        let methods = split_methods(kind);
        let method = split.method.get_or_insert_with(|| methods[0].to_string()).clone();
        if !methods.contains(&method.as_str()) {
            return Err(at(
                src.key_offset(&format!("corpora.{name}.split"), "method"),
                format!(
                    "corpus \"{name}\": split method \"{method}\" does not apply to {kind} (expected one of: {})",
                    methods.join(", ")
                ),
            ));
        }
        if method == "speakers" && !(split.train > 0.0 && split.dev >= 0.0 && split.train + split.dev < 1.0) {
            return Err(at(
                c.kind.span().start,
                format!(
                    "corpus \"{name}\": split fractions train = {}, dev = {} must leave a test portion",
                    split.train, split.dev
                ),
            ));
        }
        if method == "sessions"
            && (!(1..=5).contains(&split.test_session)
                || split.dev_session > 5
                || split.dev_session == split.test_session)
        {
            return Err(at(
                c.kind.span().start,
                format!(
                    "corpus \"{name}\": test_session = {} and dev_session = {} must be different sessions 1..5 (dev_session 0 = none)",
                    split.test_session, split.dev_session
                ),
            ));
        }
        let label_source = match &c.label_source {
            None => "acted".to_string(),
            Some(ls) => {
                let v = ls.get_ref();
                if kind != "cremad" || !["acted", "voice_vote"].contains(&v.as_str()) {
                    return Err(at(
                        ls.span().start,
                        format!("corpus \"{name}\": label_source \"{v}\" (expected \"acted\" or \"voice_vote\", CREMA-D only)"),
                    ));
                }
                v.clone()
            }
        };
        let audio = match &c.audio {
            None => "wav".to_string(),
            Some(a) => {
                let v = a.get_ref();
                if kind != "cremad" || !["wav", "mp3"].contains(&v.as_str()) {
                    return Err(at(
                        a.span().start,
                        format!("corpus \"{name}\": audio \"{v}\" (expected \"wav\" or \"mp3\", CREMA-D only)"),
                    ));
                }
                v.clone()
            }
        };
        corpora.insert(
            name.clone(),
            Corpus {
                name: name.clone(),
                kind: kind.clone(),
                root,
                label_map,
                split,
                label_source,
                strict: c.strict,
                audio,
            },
        );
    }
    Ok(corpora)
}
