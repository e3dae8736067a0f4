//! `noise/<source>`: one noise corpus split into disjoint train and test pools (pool.json). Its key
//! covers the split settings and every listed noise file's content hash.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{hash_serialized, read_json, write_json, Work};
use crate::audio::noise::{split_pools, NoiseFile, NoisePools};
use crate::config::NoiseSource;
use crate::engine::fingerprint::Fingerprints;
use crate::engine::{StageCtx, StageSpec};
use crate::error::{user_error, Fault, UserError};

pub const KIND: &str = "noise_pool";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
pub struct Job {
    files: Vec<NoiseFile>,
    source: NoiseSource,
}

/// List and fingerprint the source's files, and check that both pools will hold some.
pub fn spec(n: &NoiseSource, fp: &Fingerprints) -> anyhow::Result<StageSpec> {
    let name = &n.name;
    let listed = crate::audio::noise::list_source(n)?;
    let paths: Vec<_> = listed.iter().map(|(r, _, _)| n.root.join(r)).collect();
    let files: Vec<NoiseFile> = listed
        .into_iter()
        .zip(fp.content_hashes(&paths))
        .map(|((path, category, group), h)| {
            h.map(|sha256| {
                let decoder = crate::audio::Format::of(Path::new(&path)).and_then(|f| f.decoder()).map(String::from);
                NoiseFile { path: path.clone(), sha256, category, group, decoder }
            })
            .map_err(|e| user_error(format!("noise \"{name}\": {}: {e}", n.root.join(&path).display())))
        })
        .collect::<anyhow::Result<_>>()?;
    let split = split_pools(&files, n);
    anyhow::ensure!(
        !split.test.is_empty() && !split.train.is_empty(),
        UserError(format!(
            "noise \"{name}\": {} file(s) under {} make an empty {} pool (need files on both sides: check test_fraction, test_folds or test_categories)",
            files.len(),
            n.root.display(),
            if split.test.is_empty() { "test" } else { "train" }
        ))
    );
    let mut inputs = BTreeMap::new();
    inputs.insert("files".to_string(), hash_serialized(&files));
    Ok(StageSpec {
        id: format!("noise/{name}"),
        kind: KIND,
        version: VERSION,
        params: json!({ "kind": n.kind, "test_fraction": n.test_fraction, "seed": n.seed, "select": n.select }),
        inputs,
        deps: vec![],
        job: Box::new(Job { files, source: n.clone() }),
    })
}

impl Work for Job {
    fn run(&self, ctx: &StageCtx) -> anyhow::Result<Vec<Fault>> {
        write_json(&ctx.out.join("pool.json"), &split_pools(&self.files, &self.source))?;
        Ok(Vec::new())
    }
}

pub fn read_pools(dir: &Path) -> anyhow::Result<NoisePools> {
    read_json(&dir.join("pool.json"))
}
