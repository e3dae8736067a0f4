//! From a pipeline file to a stage graph. Planning scans every corpus and noise folder (file names,
//! label files and fingerprints; no audio is decoded), so the whole graph, with every key, is known
//! before anything runs and `plan` can say exactly what `run` would do.
//!
//! Stage kinds and what their keys cover:
//!
//! ```text
//! manifest/<corpus>                        label map, split, the scanned rows (ids, labels, content hashes)
//! noise/<source>                           pool split settings, the noise files' content hashes
//! mix/<corpus>/<cond>/shardNN              SNR, seed, rate, the shard's test utterances, the noise pool
//! features/<corpus>/<cond>/shardNN         feature settings, rate, the shard's utterances (+ its recipes)
//! train/<model>/<train corpora>/seedN      model settings, seed, train manifests and clean features
//! eval/<model>/<train>/seedN/<test>/<cond> the model, the test manifest, the condition's features
//! report/<pipeline>                        every eval
//! ```
//!
//! Shards hold the utterances whose stable id hash falls in them, and their keys depend on those
//! utterances' content hashes only, so editing one WAV reruns one shard per condition.

pub mod stages;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use crate::audio::noise::NoiseFile;
use crate::config::Pipeline;
use crate::corpus::{self, shard_of, Scan, Utterance};
use crate::engine::fingerprint::Fingerprints;
use crate::engine::{Cache, Graph, StageSpec};

/// A test condition: clean, or one noise source at one SNR.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Condition {
    pub name: String,
    pub noise: Option<String>,
    pub snr_db: Option<f64>,
}

impl Condition {
    pub fn clean() -> Condition {
        Condition { name: "clean".into(), noise: None, snr_db: None }
    }

    pub fn noisy(noise: &str, snr: f64) -> Condition {
        Condition { name: format!("{noise}.snr{snr}"), noise: Some(noise.into()), snr_db: Some(snr) }
    }
}

pub struct Planned {
    pub pipeline: Arc<Pipeline>,
    pub graph: Graph,
    pub scans: BTreeMap<String, Arc<Scan>>,
    pub manifests: BTreeMap<String, usize>,
    /// None for `sertool ingest`, which plans manifests only.
    pub report: Option<usize>,
    /// Every mix stage: (stage, corpus, condition).
    pub mixes: Vec<(usize, String, Condition)>,
    /// Every train stage by (model name, train corpora joined with +, seed).
    pub trains: BTreeMap<(String, String, u64), usize>,
    pub fingerprints: Arc<Fingerprints>,
}

/// The conditions of a pipeline in table order: clean, then each noise × SNR.
pub fn conditions(p: &Pipeline) -> Vec<Condition> {
    let mut out = vec![Condition::clean()];
    for n in p.mix.noise.as_deref().unwrap_or_default() {
        for &snr in &p.mix.snr_db {
            out.push(Condition::noisy(n, snr));
        }
    }
    out
}

/// SHA-256 of anything serialisable, streamed (no JSON tree in memory: a scan can have 200,000 rows).
fn hash_serialized(v: &impl serde::Serialize) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    serde_json::to_writer(&mut h, v).expect("writing into a hasher cannot fail");
    crate::engine::key::hex(&h.finalize())
}

/// Content identity of a set of utterances (ids and audio hashes), for shard keys.
fn audio_identity<'a>(utts: impl Iterator<Item = &'a Utterance>) -> String {
    let v: Vec<(&str, &str)> = utts.map(|u| (u.id.as_str(), u.content_hash.as_str())).collect();
    hash_serialized(&v)
}

fn shard_name(k: u32) -> String {
    format!("shard{k:02}")
}

type Scans = BTreeMap<String, Arc<Scan>>;

/// Scan every corpus and add its manifest stage.
fn add_manifests(
    p: &Pipeline,
    graph: &mut Graph,
    fp: &Fingerprints,
) -> anyhow::Result<(Scans, BTreeMap<String, usize>)> {
    let mut scans = BTreeMap::new();
    let mut manifests = BTreeMap::new();
    for (name, c) in &p.corpora {
        let t = std::time::Instant::now();
        let scan = Arc::new(corpus::scan(c, fp)?);
        tracing::info!("scanned {name}: {} utterances in {:.3} s", scan.utterances.len(), t.elapsed().as_secs_f64());
        let params = json!({
            "corpus_kind": c.kind,
            "label_map": c.label_map,
            "classes": p.labels.classes,
            "split": c.split,
            "label_source": c.label_source,
            "strict": c.strict,
        });
        let mut inputs = BTreeMap::new();
        inputs.insert("scan".to_string(), hash_serialized(&(&scan.utterances, &scan.faults)));
        for (f, h) in &scan.metadata_hashes {
            inputs.insert(format!("file:{f}"), h.clone());
        }
        let (s, kind, strict) = (scan.clone(), c.kind.clone(), c.strict);
        let idx = graph.add(StageSpec {
            id: format!("manifest/{name}"),
            kind: "manifest",
            version: 1,
            params,
            inputs,
            deps: vec![],
            work: Box::new(move |ctx| stages::manifest(ctx, &s, &kind, strict)),
        });
        manifests.insert(name.clone(), idx);
        scans.insert(name.clone(), scan);
    }
    fp.save()?;
    Ok((scans, manifests))
}

fn load_fingerprints(cache: &Cache) -> anyhow::Result<Fingerprints> {
    let t = std::time::Instant::now();
    let fp = Fingerprints::load(&cache.root.join("fingerprints.tsv"))?;
    tracing::info!("loaded file fingerprints in {:.3} s", t.elapsed().as_secs_f64());
    Ok(fp)
}

/// The graph of `sertool ingest`: manifests only.
pub fn plan_ingest(p: Pipeline, cache: &Cache) -> anyhow::Result<Planned> {
    let fp = Arc::new(load_fingerprints(cache)?);
    let mut graph = Graph::default();
    let (scans, manifests) = add_manifests(&p, &mut graph, &fp)?;
    let (mixes, trains) = (Vec::new(), BTreeMap::new());
    Ok(Planned { pipeline: Arc::new(p), graph, scans, manifests, report: None, mixes, trains, fingerprints: fp })
}

/// Scan and build the graph.
pub fn plan(p: Pipeline, cache: &Cache) -> anyhow::Result<Planned> {
    let p = Arc::new(p);
    let fp = Arc::new(load_fingerprints(cache)?);
    let mut graph = Graph::default();
    let rate = p.pipeline.sample_rate_hz;
    let shards = p.pipeline.shards;
    let (scans, manifests) = add_manifests(&p, &mut graph, &fp)?;

    // Noise pools.
    let mut pools = BTreeMap::new();
    for (name, n) in &p.noise {
        let listed = crate::audio::noise::list_source(n)?;
        let paths: Vec<_> = listed.iter().map(|(r, _, _)| n.root.join(r)).collect();
        let files: Vec<NoiseFile> = listed
            .into_iter()
            .zip(fp.content_hashes(&paths))
            .map(|((path, category, group), h)| {
                h.map(|sha256| NoiseFile { path: path.clone(), sha256, category, group }).map_err(|e| {
                    crate::error::user_error(format!("noise \"{name}\": {}: {e}", n.root.join(&path).display()))
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let split = crate::audio::noise::split_pools(&files, n);
        anyhow::ensure!(
            !split.test.is_empty() && !split.train.is_empty(),
            crate::error::UserError(format!(
                "noise \"{name}\": {} file(s) under {} make an empty {} pool (need files on both sides: check test_fraction, test_folds or test_categories)",
                files.len(),
                n.root.display(),
                if split.test.is_empty() { "test" } else { "train" }
            ))
        );
        let mut inputs = BTreeMap::new();
        inputs.insert("files".to_string(), hash_serialized(&files));
        let source = n.clone();
        let idx = graph.add(StageSpec {
            id: format!("noise/{name}"),
            kind: "noise_pool",
            version: 1,
            params: json!({ "kind": n.kind, "test_fraction": n.test_fraction, "seed": n.seed, "select": n.select }),
            inputs,
            deps: vec![],
            work: Box::new(move |ctx| stages::noise_pool(ctx, &files, &source)),
        });
        pools.insert(name.clone(), idx);
    }
    fp.save()?;

    // Which corpora need which conditions: sources need clean features of every split;
    // targets need every condition, for their test split only.
    let conds = conditions(&p);
    let audio = p.pipeline.audio_in();
    let mode = p.mix.snr_mode(rate);
    let audio_params =
        json!({ "sample_rate_hz": rate, "channels": p.pipeline.channels, "resampler": crate::audio::RESAMPLER });
    let feature_params = json!({ "features": p.features.key_params(), "audio": audio_params });
    // Imported features: the file's content is an input of every feature stage, and no audio is mixed
    // (the file carries a row per noisy condition).
    let imported_hash = match &p.imported {
        Some(src) => {
            let files: Vec<std::path::PathBuf> = std::iter::once(src.file.clone()).chain(src.ids.clone()).collect();
            let hashes = fp
                .content_hashes(&files)
                .into_iter()
                .zip(&files)
                .map(|(h, f)| h.map_err(|e| crate::error::user_error(format!("[features] {}: {e}", f.display()))));
            let h = hash_serialized(&hashes.collect::<anyhow::Result<Vec<String>>>()?);
            fp.save()?;
            Some(h)
        }
        None => None,
    };
    let used: BTreeSet<&String> = p.experiments.iter().flat_map(|e| e.train.iter().chain(&e.test)).collect();
    // features[(corpus, condition)] = the shard stages
    let mut features: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    // (stage, corpus, condition) of every mix stage, for the report's noise section.
    let mut mixes: Vec<(usize, String, Condition)> = Vec::new();
    for &name in &used {
        let scan = &scans[name];
        for cond in &conds {
            let mut stage_ids = Vec::new();
            for k in 0..shards {
                let in_shard = |u: &&Utterance| shard_of(&u.id, shards) == k;
                let utts: Vec<Utterance> = match cond.noise {
                    None => scan.labeled().filter(in_shard).cloned().collect(),
                    Some(_) => scan.labeled().filter(in_shard).filter(|u| u.split == "test").cloned().collect(),
                };
                if utts.is_empty() {
                    continue;
                }
                let mut inputs = BTreeMap::new();
                inputs.insert("audio".to_string(), audio_identity(utts.iter()));
                if let Some(h) = &imported_hash {
                    // No mix stage names the condition here, so the key must.
                    inputs.insert("imported".to_string(), format!("{h} {}", cond.name));
                }
                let mut deps = Vec::new();
                let mut noise_root = None;
                if let (Some(noise), Some(snr), None) = (&cond.noise, cond.snr_db, &p.imported) {
                    let mix_params = json!({
                        "condition": cond.name, "snr_db": snr, "seed": p.mix.seed, "audio": audio_params,
                        "snr_mode": p.mix.snr_mode,
                        "active_gate_db": (p.mix.snr_mode == "active").then_some(p.mix.active_gate_db),
                    });
                    let (u2, root, cname, seed) =
                        (utts.clone(), p.noise[noise].root.clone(), cond.name.clone(), p.mix.seed);
                    let mix = graph.add(StageSpec {
                        id: format!("mix/{name}/{}/{}", cond.name, shard_name(k)),
                        kind: "mix",
                        version: 1,
                        params: mix_params,
                        inputs: inputs.clone(),
                        deps: vec![pools[noise]],
                        work: Box::new(move |ctx| stages::mix(ctx, &u2, &root, &cname, snr, seed, audio, mode)),
                    });
                    deps.push(mix);
                    mixes.push((mix, name.clone(), cond.clone()));
                    noise_root = Some(p.noise[noise].root.clone());
                }
                let (cfg, cname, imported) = (p.features.clone(), cond.name.clone(), p.imported.clone());
                let idx = graph.add(StageSpec {
                    id: format!("features/{name}/{}/{}", cond.name, shard_name(k)),
                    kind: "features",
                    version: 1,
                    params: feature_params.clone(),
                    inputs,
                    deps,
                    work: Box::new(move |ctx| {
                        let noise_root = noise_root.as_deref();
                        stages::features(ctx, &utts, &cfg, audio, noise_root, &cname, imported.as_ref())
                    }),
                });
                stage_ids.push(idx);
            }
            features.insert((name.clone(), cond.name.clone()), stage_ids);
        }
    }

    // Training: one per (model, train corpora, seed), shared by the experiments that use it.
    let classes = p.labels.classes.clone();
    let mut trains: BTreeMap<(String, String, u64), usize> = BTreeMap::new();
    let mut evals = Vec::new();
    for e in &p.experiments {
        let train_set = e.train.join("+");
        for m in &e.models {
            let mcfg = p.models[m].clone();
            for &seed in &mcfg.seeds {
                let tkey = (m.clone(), train_set.clone(), seed);
                let train_idx = match trains.get(&tkey) {
                    Some(&i) => i,
                    None => {
                        let mut deps: Vec<usize> = e.train.iter().map(|c| manifests[c]).collect();
                        let n_manifests = deps.len();
                        for c in &e.train {
                            deps.extend(&features[&(c.clone(), "clean".to_string())]);
                        }
                        let (cfg, cls) = (mcfg.clone(), classes.clone());
                        let inputs = stages::TrainInputs {
                            features: p.features.clone(),
                            audio,
                            channels: p.pipeline.channels.clone(),
                        };
                        let i = graph.add(StageSpec {
                            id: format!("train/{m}/{train_set}/seed{seed}"),
                            kind: "train",
                            version: 2,
                            params: json!({ "model": mcfg.key_params(), "seed": seed, "classes": classes }),
                            inputs: BTreeMap::new(),
                            deps,
                            work: Box::new(move |ctx| stages::train(ctx, n_manifests, &cfg, seed, &cls, &inputs)),
                        });
                        trains.insert(tkey, i);
                        i
                    }
                };
                for t in &e.test {
                    for cond in &conds {
                        let id = format!("eval/{m}/{train_set}/seed{seed}/{t}/{}", cond.name);
                        if graph.find(&id).is_some() {
                            continue;
                        }
                        let mut deps = vec![train_idx, manifests[t]];
                        deps.extend(&features[&(t.clone(), cond.name.clone())]);
                        let (cls, cname) = (classes.clone(), cond.name.clone());
                        let i = graph.add(StageSpec {
                            id,
                            kind: "eval",
                            version: 2,
                            params: json!({ "condition": cond }),
                            inputs: BTreeMap::new(),
                            deps,
                            work: Box::new(move |ctx| stages::eval(ctx, &cls, &cname)),
                        });
                        evals.push((
                            i,
                            stages::EvalInfo {
                                model: m.clone(),
                                train: train_set.clone(),
                                test: t.clone(),
                                condition: cond.name.clone(),
                                seed,
                            },
                        ));
                    }
                }
            }
        }
    }

    if p.experiments.is_empty() {
        return Ok(Planned { pipeline: p, graph, scans, manifests, report: None, mixes, trains, fingerprints: fp });
    }
    let info: Vec<stages::EvalInfo> = evals.iter().map(|(_, i)| i.clone()).collect();
    let report_params = json!({
        "pipeline_name": p.pipeline.name,
        "pipeline_sha256": p.file_sha256,
        "models": p.models.keys().collect::<Vec<_>>(),
        "report": p.report,
        "conditions": conds,
        "classes": classes,
        "experiments": p.experiments.iter().map(|e| json!({"name": e.name, "train": e.train, "test": e.test, "models": e.models})).collect::<Vec<_>>(),
        "evals": info,
    });
    let pipeline_for_report = p.clone();
    // The manifests of the corpora the experiments use, for the label map and split sizes.
    let used: Vec<String> = manifests.keys().filter(|c| used.contains(*c)).cloned().collect();
    let report_inputs = stages::ReportInputs {
        mixes: mixes.iter().map(|(_, c, n)| (c.clone(), n.name.clone())).collect(),
        pools: pools.keys().cloned().collect(),
        trains: trains.keys().cloned().collect(),
        manifests: used.clone(),
    };
    let mut deps: Vec<usize> = evals.iter().map(|(i, _)| *i).collect();
    deps.extend(mixes.iter().map(|(i, _, _)| *i));
    deps.extend(pools.values());
    deps.extend(trains.values());
    deps.extend(used.iter().map(|c| manifests[c]));
    let report = graph.add(StageSpec {
        id: format!("report/{}", p.pipeline.name),
        kind: "report",
        version: 4,
        params: report_params,
        inputs: BTreeMap::new(),
        deps,
        work: Box::new(move |ctx| stages::report(ctx, &pipeline_for_report, &info, &report_inputs)),
    });

    Ok(Planned { pipeline: p, graph, scans, manifests, report: Some(report), mixes, trains, fingerprints: fp })
}

/// Copy a cached file to a user-facing folder, atomically, only when its content differs.
fn publish_file(src: &Path, dest: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(src)?;
    if std::fs::read(dest).ok().as_deref() == Some(&bytes[..]) {
        return Ok(());
    }
    crate::engine::cache::write_atomic(dest, &bytes)
}

/// The files of a report entry that are published to reports/<name>/ (plots/ as well).
const REPORT_FILES: [&str; 8] = [
    "report.md",
    "report.tex",
    "tables.tex",
    "results.csv",
    "results.json",
    "results.parquet",
    "significance.csv",
    "training.md",
];

/// Mirror the report's plots: copy what changed and remove plots a previous report drew that this
/// one does not (a model or pair left the pipeline). Only .svg and .png files are ever removed.
fn publish_plots(src: &Path, dest: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = std::collections::BTreeSet::new();
    if src.is_dir() {
        for e in std::fs::read_dir(src)?.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            publish_file(&e.path(), &dest.join(&name))?;
            names.insert(name);
        }
    }
    if dest.is_dir() {
        for e in std::fs::read_dir(dest)?.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if (name.ends_with(".svg") || name.ends_with(".png")) && !names.contains(&name) {
                std::fs::remove_file(e.path())?;
            }
        }
    }
    Ok(names.iter().map(|n| dest.join(n).display().to_string()).collect())
}

/// Write manifests/<corpus>.{parquet,csv,ingest.json} and reports/<name>/* from the cache.
pub fn publish(planned: &Planned, cache: &Cache, workdir: &Path) -> anyhow::Result<Vec<String>> {
    let mut written = Vec::new();
    for (name, &idx) in &planned.manifests {
        let st = &planned.graph.stages[idx];
        if !cache.is_complete(st.kind, &st.key) {
            continue;
        }
        let dir = cache.entry_dir(st.kind, &st.key);
        for (src, ext) in [("manifest.parquet", "parquet"), ("manifest.csv", "csv"), ("ingest.json", "ingest.json")] {
            let dest = workdir.join("manifests").join(format!("{name}.{ext}"));
            publish_file(&dir.join(src), &dest)?;
            written.push(dest.display().to_string());
        }
    }
    // Checkpoints, for `sertool predict`: models/<pipeline>/<model>/<train corpora>/seed<N>/.
    for ((model, train, seed), &idx) in &planned.trains {
        let st = &planned.graph.stages[idx];
        if !cache.is_complete(st.kind, &st.key) {
            continue;
        }
        let dir = cache.entry_dir(st.kind, &st.key);
        let dest = workdir.join("models").join(&planned.pipeline.pipeline.name).join(model).join(train);
        let dest = dest.join(format!("seed{seed}"));
        for e in std::fs::read_dir(&dir)?.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with(".safetensors") || name == "model.json" || name == "mbpls.json" {
                publish_file(&e.path(), &dest.join(&name))?;
            }
        }
        written.push(dest.display().to_string());
    }
    let Some(report) = planned.report else { return Ok(written) };
    let st = &planned.graph.stages[report];
    if cache.is_complete(st.kind, &st.key) {
        let dir = cache.entry_dir(st.kind, &st.key);
        let dest = workdir.join("reports").join(&planned.pipeline.pipeline.name);
        for f in REPORT_FILES {
            publish_file(&dir.join(f), &dest.join(f))?;
            written.push(dest.join(f).display().to_string());
        }
        written.extend(publish_plots(&dir.join("plots"), &dest.join("plots"))?);
    }
    Ok(written)
}

/// `sertool mix --write-wav DIR`: write every mixture the pipeline's recipes describe, as 32-bit float
/// WAV (bit-exact) under `DIR/<corpus>/<condition>/<utterance>.wav`. The mix stages must be committed.
pub fn write_mixtures(
    planned: &Planned,
    cache: &Cache,
    dir: &Path,
    jobs: usize,
) -> anyhow::Result<(usize, Vec<crate::error::Fault>)> {
    use rayon::prelude::*;
    let p = &planned.pipeline;
    let audio = p.pipeline.audio_in();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs.max(1)).build()?;
    let results: Vec<anyhow::Result<(usize, Vec<crate::error::Fault>)>> = pool.install(|| {
        planned
            .mixes
            .par_iter()
            .map(|(idx, corpus, cond)| {
                let st = &planned.graph.stages[*idx];
                let entry = cache.entry_dir(st.kind, &st.key);
                let recipes = stages::read_recipes(&entry)?;
                let noise_root = &p.noise[cond.noise.as_deref().unwrap_or_default()].root;
                let by_id: BTreeMap<&str, &Utterance> =
                    planned.scans[corpus].utterances.iter().map(|u| (u.id.as_str(), u)).collect();
                let out = dir.join(corpus).join(&cond.name);
                std::fs::create_dir_all(&out)?;
                let (mut n, mut faults) = (0, Vec::new());
                for r in recipes {
                    let Some(u) = by_id.get(r.utterance.as_str()) else { continue };
                    let mixed = audio.load(&u.path).and_then(|speech| {
                        let noise = audio.load(&noise_root.join(&r.noise_file))?;
                        Ok(crate::audio::mix::apply(&speech, &noise, &r))
                    });
                    match mixed {
                        Ok(y) => {
                            let name = u.id.rsplit_once('/').map_or(u.id.as_str(), |(_, n)| n);
                            crate::audio::write_wav_f32(&out.join(format!("{name}.wav")), &y, audio.rate)?;
                            n += 1;
                        }
                        Err(e) => faults.push(crate::error::Fault {
                            corpus: corpus.clone(),
                            utterance: u.id.clone(),
                            file: u.rel_path.clone(),
                            what: "unreadable audio".into(),
                            detail: format!("{e:#}"),
                        }),
                    }
                }
                Ok((n, faults))
            })
            .collect()
    });
    let (mut total, mut faults) = (0, Vec::new());
    for r in results {
        let (n, f) = r?;
        total += n;
        faults.extend(f);
    }
    Ok((total, faults))
}
