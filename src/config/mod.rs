//! The pipeline TOML: schema, every default (in one place per section), path resolution, `${VAR}`
//! expansion and validation. Errors name the file, line, column, table and key, in the form the
//! conventions ask for.
//!
//! One file per section (`pipeline.rs`, `corpora.rs`, `noise.rs`, `mix.rs`, `features.rs`, `models.rs`,
//! `experiments.rs`, `report.rs`), the naming rule (`names.rs`), and where problems are and how they are
//! worded (`source.rs`). Model kinds come from `models::KINDS`, feature kinds from `features::FeatureSpec`.

mod corpora;
pub mod executor;
mod experiments;
mod features;
mod mix;
mod models;
pub mod names;
mod noise;
mod pipeline;
mod report;
mod source;
mod sweep;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use self::corpora::{default_label_map, split_methods, Corpus, SplitConfig, CORPUS_KINDS};
pub use self::executor::ExecutorSection;
pub use self::experiments::Experiment;
pub use self::mix::MixSection;
pub use self::models::DEFAULT_MODEL_KIND;
pub use self::noise::NOISE_KINDS;
pub use self::pipeline::{LabelsSection, PipelineSection};
pub use self::report::{ReportSection, METRICS};
pub use self::sweep::{Sweep, Variant};
pub use crate::audio::noise::{NoiseSelect, NoiseSource};
pub use crate::features::imported::ImportedFeatures;
pub use crate::features::FeatureSpec;
pub use crate::models::ModelSpec;

use self::source::{describe_toml_error, Source};
use crate::error::user_error;

/// The whole pipeline file, as written (before resolution). Kind-dependent tables (`[features]`,
/// `[models.*]`) stay TOML tables until their kind is known.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    pipeline: PipelineSection,
    #[serde(default)]
    labels: LabelsSection,
    corpora: BTreeMap<String, corpora::RawCorpus>,
    #[serde(default)]
    noise: BTreeMap<String, noise::RawNoise>,
    /// Absent: the default SNR grid when there is noise, none when there is not.
    #[serde(default)]
    mix: Option<MixSection>,
    #[serde(default)]
    features: Option<toml::Table>,
    #[serde(default)]
    models: BTreeMap<String, toml::Table>,
    /// No experiments: the pipeline only ingests its corpora (manifests) and makes no report.
    #[serde(default)]
    experiments: Vec<experiments::RawExperiment>,
    #[serde(default)]
    report: ReportSection,
    /// Grids over model keys, expanded into variants (`config::sweep`).
    #[serde(default)]
    sweep: BTreeMap<String, toml::Table>,
    #[serde(default)]
    executor: ExecutorSection,
}

/// A resolved, validated pipeline.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Pipeline {
    /// The TOML file as given on the command line.
    pub file: PathBuf,
    /// SHA-256 of the file's bytes without its `[executor…]` tables (for the report's
    /// reproducibility line).
    pub file_sha256: String,
    pub pipeline: PipelineSection,
    pub labels: LabelsSection,
    pub corpora: BTreeMap<String, Corpus>,
    pub noise: BTreeMap<String, NoiseSource>,
    pub mix: MixSection,
    pub features: FeatureSpec,
    /// The resolved files of `[features] kind = "imported"`.
    pub imported: Option<ImportedFeatures>,
    /// The features of each sweep variant with feature keys (every other model reads `features`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub model_features: BTreeMap<String, FeatureSpec>,
    pub models: BTreeMap<String, ModelSpec>,
    pub experiments: Vec<Experiment>,
    pub report: ReportSection,
    /// The sweeps, expanded: their variants are entries of `models` (the swept models are not).
    #[serde(default)]
    pub sweeps: Vec<Sweep>,
    /// Where stages run (`[executor.slurm]`); never part of a key.
    #[serde(default, skip_serializing_if = "ExecutorSection::is_default")]
    pub executor: ExecutorSection,
}

/// The pipeline text without its `[executor…]` tables and the blank lines that set them apart: what
/// the pipeline's SHA-256 covers, since where stages run changes no result (adding an
/// `[executor.slurm]` table to a file hashes as the file without it). A file without one hashes as
/// its bytes.
fn without_executor(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut skipping = false;
    // Blank lines at the end of an executor table: kept only if another table follows.
    let mut blanks = String::new();
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with('[') {
            let name = t.trim_start_matches('[').split(']').next().unwrap_or_default().trim();
            let exec = name == "executor" || name.starts_with("executor.");
            if exec && !skipping {
                while out.ends_with("\n\n") || out == "\n" {
                    out.pop();
                }
            }
            if !exec && skipping {
                out.push_str(&blanks);
            }
            blanks.clear();
            skipping = exec;
        }
        if !skipping {
            out.push_str(line);
        } else if line.trim().is_empty() {
            blanks.push_str(line);
        } else {
            blanks.clear();
        }
    }
    out
}

/// Every name of a section follows [`names::RULE`], and no two differ only by case.
fn check_names<'a>(
    src: &Source,
    (section, what): (&str, &str),
    all: impl Iterator<Item = &'a String> + Clone,
) -> anyhow::Result<()> {
    if let Some(bad) = all.clone().find(|n| !names::is_valid(n)) {
        return Err(
            src.error(src.name_offset(section, bad), format!("{what} name \"{bad}\" is not allowed ({})", names::RULE))
        );
    }
    if let Some((a, b)) = names::case_collision(all.map(String::as_str)) {
        return Err(src.error(
            src.name_offset(section, b),
            format!("{what} names \"{a}\" and \"{b}\" differ only by case (they would name the same files)"),
        ));
    }
    Ok(())
}

/// Resolve each sweep variant's `[features]` table; an error names the sweep's line. Only a model
/// that reads feature vectors can sweep them (sequence kinds compute their own frames, ensembles read
/// predictions), and imported features are not computed, so they have no keys to sweep.
fn sweep_features(
    sweeps: &[Sweep],
    tables: &BTreeMap<String, toml::Table>,
    models: &BTreeMap<String, ModelSpec>,
    imported: bool,
    section: &PipelineSection,
    src: &Source,
) -> anyhow::Result<BTreeMap<String, FeatureSpec>> {
    let mut out = BTreeMap::new();
    for s in sweeps {
        let Some(key) = s.keys.iter().find(|k| k.starts_with("features.")) else { continue };
        let at = |msg: String| {
            src.error(src.key_offset(&format!("sweep.{}", s.name), key), format!("[sweep.{}] {msg}", s.name))
        };
        let needs = models[&s.variants[0].name].kind.needs();
        if imported {
            return Err(at(format!(
                "{key}: [features] kind = \"imported\" is read from a file, not computed; nothing to sweep"
            )));
        }
        if needs.frames || needs.combines {
            let what = if needs.frames {
                "computes its own frame sequences from the audio"
            } else {
                "fuses its members' predictions"
            };
            return Err(at(format!(
                "{key}: model \"{}\" (kind \"{}\") {what} and reads no [features]",
                s.model,
                models[&s.variants[0].name].kind_name()
            )));
        }
        for v in &s.variants {
            let (spec, _) =
                features::resolve_features(tables.get(&v.name), section.sample_rate_hz, src).map_err(|e| {
                    // The message without its location: that of [features] would point at the wrong line.
                    let text = e.to_string();
                    let file = format!("{}:", src.file.display());
                    let msg =
                        text.strip_prefix(&file).and_then(|r| r.split_once(": ")).map_or(text.as_str(), |(_, m)| m);
                    at(format!("variant \"{}\": {msg}", v.name))
                })?;
            out.insert(v.name.clone(), spec);
        }
    }
    Ok(out)
}

impl Pipeline {
    /// Read, parse, resolve and validate a pipeline file.
    pub fn load(file: &Path) -> anyhow::Result<Pipeline> {
        let bytes = std::fs::read(file)
            .map_err(|e| user_error(format!("{}: cannot read pipeline file: {e}", file.display())))?;
        let text =
            String::from_utf8(bytes.clone()).map_err(|_| user_error(format!("{}: not UTF-8 text", file.display())))?;
        let file_sha256 = crate::engine::key::sha256_hex(without_executor(&text).as_bytes());
        let src = Source { file, text: &text };
        let raw: RawPipeline = toml::from_str(&text).map_err(|e| describe_toml_error(&src, &e))?;

        pipeline::check_pipeline(&raw.pipeline, &src)?;
        pipeline::check_labels(&raw.labels, &src)?;
        check_names(&src, ("corpora", "corpus"), raw.corpora.keys())?;
        let corpora = corpora::resolve_corpora(&raw.corpora, &raw.labels.classes, &src)?;
        check_names(&src, ("noise", "noise source"), raw.noise.keys())?;
        let noise = noise::resolve_noise(&raw.noise, &src)?;
        let mix = mix::resolve_mix(&raw.mix, &noise, &src)?;
        let (features, imported) =
            features::resolve_features(raw.features.as_ref(), raw.pipeline.sample_rate_hz, &src)?;
        check_names(&src, ("models", "model"), raw.models.keys())?;
        let train_noise =
            models::TrainNoise { noise: mix.noise.as_deref().unwrap_or_default(), imported: imported.is_some() };
        let mut raw_models = raw.models.clone();
        let expanded = sweep::expand(&raw.sweep, &mut raw_models, raw.features.as_ref(), &src)?;
        let sweeps = expanded.sweeps;
        check_names(&src, ("models", "model"), raw_models.keys())?;
        let mut models = models::resolve_models(&raw_models, &train_noise, &src)?;
        let model_features =
            sweep_features(&sweeps, &expanded.features, &models, imported.is_some(), &raw.pipeline, &src)?;
        let mut experiments = experiments::resolve_experiments(&raw.experiments, &corpora, &models, &src)?;
        // A swept model is replaced by its variants, where it stood.
        for s in &sweeps {
            models.remove(&s.model);
            for e in &mut experiments {
                let mut list = Vec::new();
                for m in &e.models {
                    let names = if *m == s.model {
                        s.variants.iter().map(|v| v.name.clone()).collect()
                    } else {
                        vec![m.clone()]
                    };
                    for n in names {
                        if !list.contains(&n) {
                            list.push(n);
                        }
                    }
                }
                e.models = list;
            }
            let variants = || s.variants.iter().map(|v| v.name.as_str()).collect::<Vec<_>>().join(", ");
            for (name, m) in models.iter().filter(|(_, m)| m.kind.needs().combines) {
                let members = m.params["members"].as_array().cloned().unwrap_or_default();
                if members.iter().any(|x| x.as_str() == Some(s.model.as_str())) {
                    return Err(src.error(
                        src.key_offset(&format!("models.{name}"), "members"),
                        format!(
                            "model \"{name}\": member \"{}\" is swept by [sweep.{}]; name its variants instead ({})",
                            s.model,
                            s.name,
                            variants()
                        ),
                    ));
                }
            }
            if raw.report.reference.as_deref() == Some(s.model.as_str()) {
                return Err(src.error(
                    src.key_offset("report", "reference"),
                    format!(
                        "[report] reference \"{}\" is swept by [sweep.{}]; name one of its variants ({})",
                        s.model,
                        s.name,
                        s.variants.iter().map(|v| v.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        let report = report::resolve_report(raw.report, &models, &mix.snr_db, &src)?;
        executor::check_executor(&raw.executor, &src)?;

        Ok(Pipeline {
            file: file.to_path_buf(),
            file_sha256,
            pipeline: raw.pipeline,
            labels: raw.labels,
            corpora,
            noise,
            mix,
            features,
            imported,
            model_features,
            models,
            experiments,
            report,
            sweeps,
            executor: raw.executor,
        })
    }

    /// A pipeline of one corpus and nothing else, for `sertool ingest`.
    pub fn single_corpus(kind: &str, root: &Path, name: &str, strict: bool) -> anyhow::Result<Pipeline> {
        if !CORPUS_KINDS.contains(&kind) {
            return Err(user_error(format!(
                "unknown corpus kind \"{kind}\" (expected one of: {})",
                CORPUS_KINDS.join(", ")
            )));
        }
        if !root.is_dir() {
            return Err(user_error(format!("{}: not a directory", root.display())));
        }
        if !names::is_valid(name) {
            return Err(user_error(format!("--name \"{name}\" is not allowed ({})", names::RULE)));
        }
        let labels = LabelsSection::default();
        let split = SplitConfig { method: Some(split_methods(kind)[0].to_string()), ..SplitConfig::default() };
        let corpus = Corpus {
            name: name.to_string(),
            kind: kind.to_string(),
            root: root.to_path_buf(),
            label_map: default_label_map(kind, &labels.classes),
            split,
            label_source: "acted".into(),
            strict,
            // CREMA-D re-distributions often ship only AudioMP3.
            audio: if kind == "cremad" && !root.join("AudioWAV").is_dir() && root.join("AudioMP3").is_dir() {
                "mp3".into()
            } else {
                "wav".into()
            },
        };
        Ok(Pipeline {
            file: PathBuf::from(format!("<ingest {}>", root.display())),
            file_sha256: String::new(),
            pipeline: PipelineSection {
                name: name.to_string(),
                sample_rate_hz: pipeline::default_sample_rate(),
                shards: pipeline::default_shards(),
                channels: pipeline::default_channel_policy(),
            },
            labels,
            corpora: [(name.to_string(), corpus)].into_iter().collect(),
            noise: BTreeMap::new(),
            mix: MixSection { snr_db: Vec::new(), noise: Some(Vec::new()), ..MixSection::default() },
            features: FeatureSpec::default(),
            imported: None,
            model_features: BTreeMap::new(),
            models: BTreeMap::new(),
            experiments: Vec::new(),
            report: ReportSection::default(),
            sweeps: Vec::new(),
            executor: ExecutorSection::default(),
        })
    }

    /// The feature settings a model reads: its sweep variant's, or `[features]`.
    pub fn features_of(&self, model: &str) -> &FeatureSpec {
        self.model_features.get(model).unwrap_or(&self.features)
    }

    /// The resolved configuration with every default filled in (`sertool plan --show-config`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "pipeline": self.pipeline,
            "labels": self.labels,
            "corpora": self.corpora.values().map(|c| (c.name.clone(), serde_json::json!({
                "kind": c.kind, "root": c.root.display().to_string(), "label_map": c.label_map, "split": c.split,
                "label_source": c.label_source, "strict": c.strict, "audio": c.audio,
            }))).collect::<serde_json::Map<_, _>>(),
            "noise": self.noise.values().map(|n| (n.name.clone(), serde_json::json!({
                "kind": n.kind, "root": n.root.display().to_string(), "test_fraction": n.test_fraction, "seed": n.seed,
                "select": n.select,
            }))).collect::<serde_json::Map<_, _>>(),
            "mix": self.mix,
            "features": self.features,
            "model_features": self.model_features,
            "models": self.models.iter().map(|(name, m)| (name.clone(), m.to_json())).collect::<serde_json::Map<_, _>>(),
            "experiments": self.experiments.iter().map(|e| serde_json::json!({
                "name": e.name, "train": e.train, "test": e.test, "models": e.models,
            })).collect::<Vec<_>>(),
            "report": self.report,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pipeline_hash_leaves_out_only_the_executor_tables() {
        let plain = "[pipeline]\nname = \"x\"\n\n[mix]\nsnr_db = [5]\n";
        assert_eq!(super::without_executor(plain), plain);
        let with = "[pipeline]\nname = \"x\"\n\n[executor.slurm]\npartition = \"gpu\"\n\n[executor.slurm.kinds.train]\ngres = \"gpu:1\"\n\n[mix]\nsnr_db = [5]\n";
        assert_eq!(super::without_executor(with), "[pipeline]\nname = \"x\"\n\n[mix]\nsnr_db = [5]\n");
        assert_ne!(super::without_executor("[executors]\na = 1\n"), "");
        // Appended at the end, or between two tables: the hash of the file without it.
        let base = "[pipeline]\nname = \"x\"\n\n[mix]\nsnr_db = [5]\n";
        let end = format!("{base}\n[executor.slurm]\nmax_parallel = 2\n\n");
        assert_eq!(super::without_executor(&end), base);
        let middle = "[pipeline]\nname = \"x\"\n\n[executor.slurm]\nmax_parallel = 2\n\n[mix]\nsnr_db = [5]\n";
        assert_eq!(super::without_executor(middle), base);
    }
}
