//! From a pipeline file to a stage graph. Planning scans every corpus and noise folder (file names,
//! label files and fingerprints; no audio is decoded), so the whole graph, with every key, is known
//! before anything runs and `plan` can say exactly what `run` would do. What each stage kind's key
//! covers, how it runs and what it writes is in its own file under `stages/`; this room decides which
//! instances exist and wires their named inputs, then publishes results to the user-facing folders.
//!
//! Shards hold the utterances whose stable id hash falls in them, and their keys depend on those
//! utterances' content hashes only, so editing one WAV reruns one shard per condition.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use crate::config::Pipeline;
use crate::corpus::{self, shard_of, Scan, Utterance};
use crate::engine::fingerprint::Fingerprints;
use crate::engine::{Cache, Graph};
use crate::records::{Condition, EvalInfo, TrainInfo};
use crate::stages::{self, hash_serialized};

pub struct Planned {
    pub pipeline: Arc<Pipeline>,
    pub graph: Graph,
    pub scans: BTreeMap<String, Arc<Scan>>,
    pub manifests: BTreeMap<String, usize>,
    /// None for `sertool ingest`, which plans manifests only.
    pub report: Option<usize>,
    /// Every mix stage: (stage, corpus, condition).
    pub mixes: Vec<(usize, String, Condition)>,
    /// Every train stage.
    pub trains: BTreeMap<TrainInfo, usize>,
    pub fingerprints: Arc<Fingerprints>,
}

/// Content identity of a set of utterances (ids and audio hashes), for shard keys.
fn audio_identity<'a>(utts: impl Iterator<Item = &'a Utterance>) -> String {
    let v: Vec<(&str, std::borrow::Cow<str>)> = utts.map(|u| (u.id.as_str(), u.audio_key())).collect();
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
        let idx = graph.add(stages::manifest::spec(p, c, scan.clone()))?;
        manifests.insert(name.clone(), idx);
        scans.insert(name.clone(), scan);
    }
    fp.save()?;
    Ok((scans, manifests))
}

fn load_fingerprints(cache: &Cache) -> anyhow::Result<Fingerprints> {
    let t = std::time::Instant::now();
    let fp = Fingerprints::load(&cache.fingerprint_path())?;
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
    check_protocol(&p, &scans)?;

    // Noise pools.
    let mut pools = BTreeMap::new();
    for (name, n) in &p.noise {
        pools.insert(name.clone(), graph.add(stages::noise_pool::spec(n, &fp)?)?);
    }
    fp.save()?;

    // Which corpora need which conditions: sources need clean features of every split;
    // targets need every condition, for their test split only.
    let conds = p.mix.conditions();
    let audio = p.pipeline.audio_in();
    let mode = p.mix.snr_mode(rate);
    let audio_params =
        json!({ "sample_rate_hz": rate, "channels": p.pipeline.channels, "resampler": crate::audio::RESAMPLER });
    let sets = FeatureSets::new(&p, &audio_params);
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
    // What to compute, per corpus: clean features of every split, every noisy test condition for the
    // test split, and each noisy condition a model trains on for the source's train and dev splits.
    // The flag: whether a model reads the features of those shards (sequence kinds read only the mixes);
    // the last field, which feature set they hold (`[features]`'s for every used corpus, a sweep
    // variant's for the corpora of its experiments).
    let portion_of = |cond: &Condition| if cond.noise.is_none() { Portion::Every } else { Portion::Test };
    let mut wanted: Vec<(&String, Condition, Portion, bool, usize)> = Vec::new();
    for &name in &used {
        for cond in &conds {
            wanted.push((name, cond.clone(), portion_of(cond), true, 0));
        }
    }
    for e in &p.experiments {
        for m in &e.models {
            for c in p.models[m].train_conditions.iter().filter(|c| *c != "clean") {
                let cond = p.mix.train_condition(c).ok_or_else(|| {
                    crate::error::user_error(format!("[models.{m}] train_conditions: no noise source makes \"{c}\""))
                })?;
                for s in &e.train {
                    let reads_features = !p.models[m].kind.needs().frames;
                    let set = if reads_features { sets.of(m) } else { 0 };
                    match wanted.iter_mut().find(|w| w.0 == s && w.1 == cond && w.2 == Portion::TrainDev && w.4 == set)
                    {
                        Some(w) => w.3 |= reads_features,
                        None => wanted.push((s, cond.clone(), Portion::TrainDev, reads_features, set)),
                    }
                }
            }
        }
        // A sweep variant's own features: clean ones of its train and test corpora, noisy ones of its tests.
        for m in &e.models {
            let set = sets.of(m);
            for c in e.train.iter().chain(&e.test).filter(|_| set != 0) {
                for cond in conds.iter().filter(|cond| cond.noise.is_none() || e.test.contains(c)) {
                    if !wanted.iter().any(|w| w.0 == c && w.1 == *cond && w.2 == portion_of(cond) && w.4 == set) {
                        wanted.push((c, cond.clone(), portion_of(cond), true, set));
                    }
                }
            }
        }
    }
    // features[(feature set, corpus, condition label)] = the shard stages
    let mut features: BTreeMap<(usize, String, String), Vec<usize>> = BTreeMap::new();
    // recipes[(corpus, noisy condition label)] = its mix stages and noise corpus (sequence kinds read them)
    let mut recipes: BTreeMap<(String, String), (Vec<usize>, std::path::PathBuf)> = BTreeMap::new();
    // (stage, corpus, condition) of every test mix stage, for the report's noise section.
    let mut mixes: Vec<(usize, String, Condition)> = Vec::new();
    // Each (corpus, portion, shard)'s utterances and audio identity, made once and shared by every
    // condition (at MSP-Podcast scale, cloning and hashing them per condition was most of a no-op plan).
    let mut by_shard: BTreeMap<&str, Vec<Vec<&Utterance>>> = BTreeMap::new();
    let mut shard_utts: HashMap<(&str, Portion, u32), SharedShard> = HashMap::new();
    for (name, cond, portion, reads_features, set) in &wanted {
        let (name, scan) = (*name, &scans[*name]);
        let lists = by_shard.entry(name.as_str()).or_insert_with(|| {
            let mut lists = vec![Vec::new(); shards as usize];
            for u in scan.labeled() {
                lists[shard_of(&u.id, shards) as usize].push(u);
            }
            lists
        });
        // Training mixtures are labelled apart: their ids, keys and noise draws never meet the test ones.
        let label = match portion {
            Portion::TrainDev => format!("train-{}", cond.name),
            _ => cond.name.clone(),
        };
        let mut stage_ids = Vec::new();
        for k in 0..shards {
            let (utts, identity) = shard_utts
                .entry((name.as_str(), *portion, k))
                .or_insert_with(|| {
                    let utts: Arc<[Utterance]> =
                        lists[k as usize].iter().filter(|u| portion.holds(&u.split)).map(|&u| u.clone()).collect();
                    let identity = audio_identity(utts.iter());
                    (utts, identity)
                })
                .clone();
            if utts.is_empty() {
                continue;
            }
            let mut inputs = BTreeMap::new();
            inputs.insert("audio".to_string(), identity);
            if let Some(h) = &imported_hash {
                // No mix stage names the condition here, so the key must.
                inputs.insert("imported".to_string(), format!("{h} {label}"));
            }
            let mut mix = None;
            if let (Some(noise), Some(snr), None) = (&cond.noise, cond.snr_db, &p.imported) {
                let noise_root = p.noise[noise].root.as_path();
                let settings = stages::mix::MixSettings {
                    condition: &label,
                    snr_db: snr,
                    seed: p.mix.seed,
                    audio,
                    audio_params: &audio_params,
                    snr_mode: &p.mix.snr_mode,
                    active_gate_db: p.mix.active_gate_db,
                    mode,
                    noise_root,
                    train_pool: *portion == Portion::TrainDev,
                };
                let id = format!("mix/{name}/{label}/{}", shard_name(k));
                // Made once, whichever feature sets read it.
                let m = match graph.find(&id) {
                    Some(m) => m,
                    None => {
                        let m = graph.add(stages::mix::spec(
                            id,
                            Arc::clone(&utts),
                            inputs.clone(),
                            pools[noise],
                            &settings,
                        ))?;
                        if *portion != Portion::TrainDev {
                            mixes.push((m, name.clone(), cond.clone()));
                        }
                        let entry = recipes
                            .entry((name.clone(), label.clone()))
                            .or_insert((Vec::new(), noise_root.to_path_buf()));
                        entry.0.push(m);
                        m
                    }
                };
                mix = Some((m, noise_root));
            }
            if !reads_features {
                continue;
            }
            let fs = &sets.sets[*set];
            let shard = stages::features::Shard {
                id: sets.stage_id(*set, name, &label, k),
                utterances: utts,
                inputs,
                condition: &label,
                features: fs.spec,
                mix,
            };
            stage_ids.push(graph.add(stages::features::spec(&p, fs.params.clone(), audio, shard))?);
        }
        features.insert((*set, name.clone(), label), stage_ids);
    }

    // Training: one per (model, train corpora, seed), shared by the experiments that use it; a
    // domain-adaptation kind has one per target corpus outside its sources as well.
    let classes = &p.labels.classes;
    let mut trains: BTreeMap<TrainInfo, usize> = BTreeMap::new();
    let mut unlabeled = UnlabeledShards { sets: &sets, imported: &imported_hash, audio, made: BTreeMap::new() };
    let mut evals: Vec<(usize, EvalInfo)> = Vec::new();
    for e in &p.experiments {
        let train_set = e.train.join("+");
        for m in e.models.iter().filter(|m| !p.models[*m].kind.needs().combines) {
            let adapt_splits = p.models[m].adaptation_splits();
            for &seed in &p.models[m].seeds {
                for t in &e.test {
                    let target = adapt_splits.filter(|_| !e.train.contains(t)).map(|_| t.clone());
                    let info = TrainInfo { model: m.clone(), train: train_set.clone(), target, seed };
                    let train_idx = match trains.get(&info) {
                        Some(&i) => i,
                        None => {
                            let target = match &info.target {
                                Some(t) => {
                                    let splits = adapt_splits.unwrap_or_default();
                                    let shards = unlabeled.shards(&p, &mut graph, &scans[t], splits, sets.of(m))?;
                                    if shards.is_empty() {
                                        return Err(crate::error::user_error(format!(
                                            "[models.{m}] adapts to corpus {t}, which has no utterances in its {} \
                                             split (check [corpora.{t}] split, or set transductive = true)",
                                            splits.join(" or ")
                                        )));
                                    }
                                    shards
                                }
                                None => Vec::new(),
                            };
                            let inputs = stages::train::TrainInputs {
                                sources: &e.train,
                                manifests: e.train.iter().map(|c| manifests[c]).collect(),
                                // Clean, and each noisy condition the model trains on (train pool); a
                                // sequence kind reads audio and recipes instead.
                                features: if p.models[m].kind.needs().frames {
                                    Vec::new()
                                } else {
                                    e.train
                                        .iter()
                                        .flat_map(|c| {
                                            p.models[m].train_conditions.iter().flat_map(|t| {
                                                let label = if t == "clean" { t.clone() } else { format!("train-{t}") };
                                                features[&(sets.of(m), c.clone(), label)].clone()
                                            })
                                        })
                                        .collect()
                                },
                                target,
                                sequences: sequence_sources(&p, m, &e.train, &recipes)?,
                            };
                            let i = graph.add(stages::train::spec(&p, &info, inputs, audio)?)?;
                            trains.insert(info, i);
                            i
                        }
                    };
                    for cond in &conds {
                        let info = EvalInfo::new(m, &train_set, t, &cond.name, seed);
                        let id = info.stage_id();
                        if graph.find(&id).is_some() {
                            continue;
                        }
                        let reads_frames = p.models[m].kind.needs().frames;
                        let fs: &[usize] =
                            if reads_frames { &[] } else { &features[&(sets.of(m), t.clone(), cond.name.clone())] };
                        let seq = reads_frames.then(|| {
                            let (mixes, root) = recipes.get(&(t.clone(), cond.name.clone())).cloned().unzip();
                            let mixes = mixes.unwrap_or_default();
                            let noisy = root.map(|r| (cond.name.clone(), r, mixes.len())).into_iter().collect();
                            let roots = [(t.clone(), p.corpora[t].root.clone())].into_iter().collect();
                            (stages::sequences::SeqSources { roots, clean: cond.noise.is_none(), noisy }, audio, mixes)
                        });
                        let i = graph.add(stages::eval::spec(id, classes, cond, train_idx, manifests[t], fs, seq))?;
                        evals.push((i, info));
                    }
                }
            }
        }
    }

    plan_ensembles(&p, &mut graph, &conds, &mut evals)?;

    if p.experiments.is_empty() {
        return Ok(Planned { pipeline: p, graph, scans, manifests, report: None, mixes, trains, fingerprints: fp });
    }
    let inputs = stages::report::ReportInputs {
        evals,
        mixes: mixes.iter().map(|(i, c, n)| (*i, c.clone(), n.name.clone())).collect(),
        pools: pools.iter().map(|(n, &i)| (i, n.clone())).collect(),
        trains: trains.iter().map(|(t, &i)| (i, t.clone())).collect(),
        // The manifests of the corpora the experiments use, for the label map and split sizes.
        manifests: manifests.iter().filter(|(c, _)| used.contains(c)).map(|(c, &i)| (i, c.clone())).collect(),
    };
    let report = graph.add(stages::report::spec(&p, &conds, inputs))?;
    Ok(Planned { pipeline: p, graph, scans, manifests, report: Some(report), mixes, trains, fingerprints: fp })
}

/// One ensemble stage per (ensemble, train set, seed, test corpus, condition), reading its members'
/// eval stages of the same cell, each an eval of the report.
fn plan_ensembles(
    p: &Pipeline,
    graph: &mut Graph,
    conds: &[Condition],
    evals: &mut Vec<(usize, EvalInfo)>,
) -> anyhow::Result<()> {
    for e in &p.experiments {
        let train_set = e.train.join("+");
        for m in e.models.iter().filter(|m| p.models[*m].kind.needs().combines) {
            let spec = &p.models[m];
            let members: Vec<String> = serde_json::from_value(spec.params["members"].clone())?;
            let rule = spec.params["rule"].as_str().unwrap_or("mean");
            for &seed in &spec.seeds {
                for t in &e.test {
                    for cond in conds {
                        let info = EvalInfo::new(m, &train_set, t, &cond.name, seed);
                        let inputs = members
                            .iter()
                            .map(|x| match graph.find(&EvalInfo { model: x.clone(), ..info.clone() }.stage_id()) {
                                Some(i) => Ok((x.clone(), i)),
                                None => Err(crate::error::user_error(format!(
                                    "{}: ensemble \"{m}\" of experiment \"{}\" needs member \"{x}\" evaluated there \
                                     (add \"{x}\" to the experiment's models)",
                                    p.file.display(),
                                    e.name
                                ))),
                            })
                            .collect::<anyhow::Result<Vec<_>>>()?;
                        let id = info.stage_id();
                        if graph.find(&id).is_some() {
                            continue;
                        }
                        let i = graph.add(stages::ensemble::spec(id, &p.labels.classes, cond, rule, &inputs))?;
                        evals.push((i, info));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Where a sequence kind's train examples come from: its sources' roots, and the mix stages of each
/// noisy train condition (in `train_conditions` order). None for the other kinds.
#[allow(clippy::type_complexity)]
fn sequence_sources(
    p: &Pipeline,
    model: &str,
    sources: &[String],
    recipes: &BTreeMap<(String, String), (Vec<usize>, std::path::PathBuf)>,
) -> anyhow::Result<Option<(stages::sequences::SeqSources, Vec<usize>)>> {
    let spec = &p.models[model];
    if !spec.kind.needs().frames {
        return Ok(None);
    }
    if p.imported.is_some() {
        return Err(crate::error::user_error(format!(
            "[models.{model}] kind = \"{}\" reads frame sequences computed from the audio, which [features] kind = \"imported\" does not provide",
            spec.kind_name()
        )));
    }
    let (mut noisy, mut stages) = (Vec::new(), Vec::new());
    for c in spec.train_conditions.iter().filter(|c| *c != "clean") {
        for s in sources {
            let label = format!("train-{c}");
            if let Some((mixes, root)) = recipes.get(&(s.clone(), label.clone())) {
                noisy.push((label, root.clone(), mixes.len()));
                stages.extend(mixes);
            }
        }
    }
    let roots = sources.iter().map(|s| (s.clone(), p.corpora[s].root.clone())).collect();
    let clean = spec.train_conditions.iter().any(|c| c == "clean");
    Ok(Some((stages::sequences::SeqSources { roots, clean, noisy }, stages)))
}

/// The labelled utterances of a corpus by split, as "train 40, dev 10, test 12".
fn split_counts(scan: &Scan) -> String {
    let mut n: BTreeMap<&str, usize> = BTreeMap::new();
    for u in scan.labeled() {
        *n.entry(u.split.as_str()).or_default() += 1;
    }
    if n.is_empty() {
        return "none".into();
    }
    n.iter().map(|(s, c)| format!("{s} {c}")).collect::<Vec<_>>().join(", ")
}

/// Whether a split name is one sertool uses: train, dev, test, a further test set (test2...), or
/// unassigned (an empty split column).
fn known_split(s: &str) -> bool {
    matches!(s, "train" | "dev" | "test" | "unassigned")
        || s.strip_prefix("test").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Before anything runs: every experiment's train corpora have labelled train utterances and its test
/// corpora labelled test utterances, and no corpus an experiment uses has a split name sertool does
/// not know (a typo in a split column would otherwise drop those rows without a word).
fn check_protocol(p: &Pipeline, scans: &Scans) -> anyhow::Result<()> {
    let origin = |c: &str| {
        let corpus = &p.corpora[c];
        let files: Vec<String> = scans[c].metadata_hashes.keys().cloned().collect();
        format!(
            "split method \"{}\" over {}{}",
            corpus.split.method.as_deref().unwrap_or("speakers"),
            corpus.root.display(),
            if files.is_empty() { String::new() } else { format!(" ({})", files.join(", ")) }
        )
    };
    for e in &p.experiments {
        for c in e.train.iter().chain(&e.test) {
            let scan = &scans[c];
            let unknown: BTreeSet<&str> =
                scan.utterances.iter().map(|u| u.split.as_str()).filter(|s| !known_split(s)).collect();
            if let Some(s) = unknown.first() {
                return Err(crate::error::user_error(format!(
                    "{}: corpus \"{c}\" has split \"{s}\", which is not train, dev, test or test2, test3...; \
                     fix the corpus's split names ({}; labelled utterances by split: {})",
                    p.file.display(),
                    origin(c),
                    split_counts(scan)
                )));
            }
        }
        for (list, split, role) in [(&e.train, "train", "trains on"), (&e.test, "test", "tests on")] {
            for c in list {
                let scan = &scans[c];
                if !scan.labeled().any(|u| u.split == split) {
                    return Err(crate::error::user_error(format!(
                        "{}: experiment \"{}\" {role} corpus \"{c}\", which has no labelled utterance in its {split} \
                         split ({}; labelled utterances by split: {})",
                        p.file.display(),
                        e.name,
                        origin(c),
                        split_counts(scan)
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The feature settings the models read: `[features]` first (its shards keep their plain ids), then each
/// distinct setting of the sweep variants with feature keys, whose shards carry the variant's tag
/// (`features/<corpus>/<condition>/n_mels-40/shardNN`). Settings equal to one already here share its
/// shards, so a sweep point at `[features]`'s own values computes nothing new.
struct FeatureSets<'a> {
    sets: Vec<FeatureSet<'a>>,
    of_model: BTreeMap<&'a str, usize>,
}

struct FeatureSet<'a> {
    /// None for `[features]`.
    tag: Option<String>,
    spec: &'a crate::features::FeatureSpec,
    /// What its stages' keys cover.
    params: serde_json::Value,
}

impl<'a> FeatureSets<'a> {
    fn new(p: &'a Pipeline, audio_params: &serde_json::Value) -> FeatureSets<'a> {
        let set = |tag, spec| FeatureSet { tag, spec, params: stages::features::params(spec, audio_params) };
        let mut sets = vec![set(None, &p.features)];
        let mut of_model = BTreeMap::new();
        for v in p.sweeps.iter().flat_map(|s| &s.variants) {
            let Some(spec) = p.model_features.get(&v.name) else { continue };
            let i = match sets.iter().position(|x| x.params == stages::features::params(spec, audio_params)) {
                Some(i) => i,
                None => {
                    let mut tag = v.features_tag.clone().unwrap_or_else(|| v.name.clone());
                    if sets.iter().any(|x| x.tag.as_deref() == Some(tag.as_str())) {
                        tag = format!("{tag}.{}", sets.len());
                    }
                    sets.push(set(Some(tag), spec));
                    sets.len() - 1
                }
            };
            of_model.insert(v.name.as_str(), i);
        }
        FeatureSets { sets, of_model }
    }

    /// The feature set model `m` reads.
    fn of(&self, m: &str) -> usize {
        self.of_model.get(m).copied().unwrap_or(0)
    }

    fn stage_id(&self, set: usize, corpus: &str, label: &str, k: u32) -> String {
        match &self.sets[set].tag {
            None => format!("features/{corpus}/{label}/{}", shard_name(k)),
            Some(tag) => format!("features/{corpus}/{label}/{tag}/{}", shard_name(k)),
        }
    }
}

/// A shard's utterances and their audio identity, shared by the conditions that use them.
type SharedShard = (Arc<[Utterance]>, String);

/// Which utterances of a corpus a condition's shards hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Portion {
    /// Every split (clean features: training, selection and the clean test).
    Every,
    /// The test split (noisy test conditions).
    Test,
    /// The train and dev splits (a noisy condition a model trains on).
    TrainDev,
}

impl Portion {
    fn holds(self, split: &str) -> bool {
        match self {
            Portion::Every => true,
            Portion::Test => split == "test",
            Portion::TrainDev => split == "train" || split == "dev",
        }
    }
}

/// The feature shards of one split of a corpus with every label removed: the unlabeled audio a
/// domain-adaptation model adapts on. They hold every speech utterance of the split, labeled or dropped
/// alike, so which utterances they hold follows the split (speakers or the corpus's own partition) and
/// never the labels: relabelling the target moves no key of a model adapted to it. Made once per
/// (corpus, split) and shared by every model adapted to it.
struct UnlabeledShards<'a> {
    sets: &'a FeatureSets<'a>,
    imported: &'a Option<String>,
    audio: crate::audio::AudioIn,
    made: BTreeMap<(usize, String, String), Vec<usize>>,
}

impl UnlabeledShards<'_> {
    /// The shard stages of these splits of the scanned corpus, in feature set `set`.
    fn shards(
        &mut self,
        p: &Pipeline,
        graph: &mut Graph,
        scan: &Scan,
        splits: &[&str],
        set: usize,
    ) -> anyhow::Result<Vec<usize>> {
        let mut out = Vec::new();
        for &split in splits {
            let key = (set, scan.corpus.clone(), split.to_string());
            if !self.made.contains_key(&key) {
                let made = self.add(p, graph, scan, split, set)?;
                self.made.insert(key.clone(), made);
            }
            out.extend(&self.made[&key]);
        }
        Ok(out)
    }

    fn add(&self, p: &Pipeline, graph: &mut Graph, scan: &Scan, split: &str, set: usize) -> anyhow::Result<Vec<usize>> {
        let shards = p.pipeline.shards;
        let mut out = Vec::new();
        for k in 0..shards {
            let utts: Arc<[Utterance]> = scan
                .utterances
                .iter()
                .filter(|u| u.split == split && shard_of(&u.id, shards) == k)
                .filter(|u| u.drop_reason.as_deref() != Some(corpus::NOT_SPEECH))
                .map(Utterance::without_labels)
                .collect();
            if utts.is_empty() {
                continue;
            }
            let mut inputs = BTreeMap::new();
            inputs.insert("audio".to_string(), audio_identity(utts.iter()));
            if let Some(h) = self.imported {
                inputs.insert("imported".to_string(), format!("{h} clean"));
            }
            let fs = &self.sets.sets[set];
            let shard = stages::features::Shard {
                id: self.sets.stage_id(set, &scan.corpus, &format!("unlabeled-{split}"), k),
                utterances: utts,
                inputs,
                condition: "clean",
                features: fs.spec,
                mix: None,
            };
            out.push(graph.add(stages::features::spec(p, fs.params.clone(), self.audio, shard))?);
        }
        Ok(out)
    }
}

/// Copy a cached file to a user-facing folder, atomically, only when its content differs.
fn publish_file(src: &Path, dest: &Path) -> anyhow::Result<()> {
    publish_bytes(&std::fs::read(src)?, dest)
}

fn publish_bytes(bytes: &[u8], dest: &Path) -> anyhow::Result<()> {
    if std::fs::read(dest).ok().as_deref() == Some(bytes) {
        return Ok(());
    }
    crate::engine::atomic::write_atomic(dest, bytes)
}

/// The files of a report entry that are published to reports/<name>/ (plots/ and tensorboard/ as well).
const REPORT_FILES: [&str; 11] = [
    "protocol.json",
    "report.md",
    "report.tex",
    "tables.tex",
    "results.csv",
    "results.json",
    "results.parquet",
    "significance.csv",
    "training.md",
    "adaptation.csv",
    "enhancement.csv",
];

/// Mirror a folder of the report (plots/, tensorboard/, recursively): copy what changed and remove
/// what a previous report wrote that this one does not (a model or pair left the pipeline). Only files
/// `ours` recognises as the report's (.svg and .png plots, TensorBoard event files) are ever removed.
fn publish_dir(src: &Path, dest: &Path, ours: fn(&str) -> bool) -> anyhow::Result<Vec<String>> {
    let mut names = std::collections::BTreeSet::new();
    let mut written = Vec::new();
    if src.is_dir() {
        for e in std::fs::read_dir(src)?.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if e.path().is_dir() {
                written.extend(publish_dir(&e.path(), &dest.join(&name), ours)?);
            } else {
                publish_file(&e.path(), &dest.join(&name))?;
                written.push(dest.join(&name).display().to_string());
            }
            names.insert(name);
        }
    }
    if dest.is_dir() {
        for e in std::fs::read_dir(dest)?.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if names.contains(&name) {
                continue;
            }
            if e.path().is_dir() {
                publish_dir(&src.join(&name), &e.path(), ours)?;
                let _ = std::fs::remove_dir(e.path()); // only when nothing else is left in it
            } else if ours(&name) {
                std::fs::remove_file(e.path())?;
            }
        }
    }
    written.sort();
    Ok(written)
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
        let faults = crate::engine::job::read_faults(&dir)?;
        let dest = manifest_faults_path(workdir, name);
        publish_bytes(faults_csv(faults.iter().map(|f| (st.id.as_str(), f))).as_bytes(), &dest)?;
        written.push(dest.display().to_string());
    }
    // Checkpoints, for `sertool predict`: models/<pipeline>/<model>/<train corpora>[/to-<target>]/seed<N>/.
    for (info, &idx) in &planned.trains {
        let st = &planned.graph.stages[idx];
        if !cache.is_complete(st.kind, &st.key) {
            continue;
        }
        let dir = cache.entry_dir(st.kind, &st.key);
        let dest = workdir.join("models").join(&planned.pipeline.pipeline.name).join(info.path());
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
        written.extend(publish_dir(&dir.join("plots"), &dest.join("plots"), |n| {
            n.ends_with(".svg") || n.ends_with(".png")
        })?);
        written.extend(publish_dir(&dir.join("tensorboard"), &dest.join("tensorboard"), |n| {
            n.starts_with("events.out.tfevents.")
        })?);
        // Every fault of every stage of the pipeline, in graph order.
        let mut rows = Vec::new();
        for s in &planned.graph.stages {
            if cache.is_complete(s.kind, &s.key) {
                for f in crate::engine::job::read_faults(&cache.entry_dir(s.kind, &s.key))? {
                    rows.push((s.id.clone(), f));
                }
            }
        }
        let path = report_faults_path(workdir, &planned.pipeline.pipeline.name);
        publish_bytes(faults_csv(rows.iter().map(|(s, f)| (s.as_str(), f))).as_bytes(), &path)?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

/// `faults.csv` of (stage id, fault) rows: stage, corpus, utterance, file, what, detail.
fn faults_csv<'a>(rows: impl IntoIterator<Item = (&'a str, &'a crate::error::Fault)>) -> String {
    crate::util::csv::write(
        &["stage", "corpus", "utterance", "file", "what", "detail"],
        rows.into_iter().map(|(stage, f)| {
            vec![stage.into(), f.corpus.clone(), f.utterance.clone(), f.file.clone(), f.what.clone(), f.detail.clone()]
        }),
    )
}

/// Where every fault of a pipeline is published: reports/<name>/faults.csv.
pub fn report_faults_path(workdir: &Path, name: &str) -> PathBuf {
    workdir.join("reports").join(name).join("faults.csv")
}

/// Where a corpus's ingest faults are published: manifests/<corpus>.faults.csv.
pub fn manifest_faults_path(workdir: &Path, corpus: &str) -> PathBuf {
    workdir.join("manifests").join(format!("{corpus}.faults.csv"))
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
                let recipes = stages::mix::read_recipes(&entry)?;
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
