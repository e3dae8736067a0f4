//! Noise corpora and pools. Each kind is read in its native layout (MUSAN, DEMAND, ESC-50, WHAM!, or
//! any folder of WAVs) and split into train and test pools that share no file: by a seeded hash of the
//! file (folder, MUSAN, DEMAND), by ESC-50 fold, by WHAM!'s own tr/cv/tt split, or by holding out whole
//! categories so test noise is unseen in type too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::decode::find_audio_files;
use crate::error::user_error;
use crate::rng::stable_u64;
use crate::util::csv;
use crate::util::fs::{list_dir, Entries};

/// A noise source of the pipeline (`[noise.<name>]`), resolved: its layout, root and pool split.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoiseSource {
    pub name: String,
    pub kind: String,
    pub root: PathBuf,
    pub test_fraction: f64,
    pub seed: u64,
    pub select: NoiseSelect,
}

/// Which files of a noise corpus to use and how to split them into train and test pools.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NoiseSelect {
    /// MUSAN: which of noise, music, speech (default: noise).
    #[serde(default)]
    pub subsets: Option<Vec<String>>,
    /// DEMAND: which environments (default: all found).
    #[serde(default)]
    pub environments: Option<Vec<String>>,
    /// DEMAND: which microphone channel file (chNN.wav; default 1).
    #[serde(default)]
    pub channel: Option<u32>,
    /// ESC-50: keep only these categories (default: all).
    #[serde(default)]
    pub categories: Option<Vec<String>>,
    /// ESC-50: the folds of the test pool (default: [5]).
    #[serde(default)]
    pub test_folds: Option<Vec<u32>>,
    /// Any kind: these whole categories form the test pool, so test noise is unseen in type too.
    #[serde(default)]
    pub test_categories: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NoiseFile {
    /// Path relative to the noise source's root, with `/`.
    pub path: String,
    pub sha256: String,
    /// The file's type: MUSAN "<subset>/<source>", DEMAND environment, ESC-50 category, a folder's
    /// sub-folder, WHAM! "wham".
    #[serde(default)]
    pub category: String,
    /// ESC-50 fold, WHAM! split ("tr", "cv", "tt").
    #[serde(default)]
    pub group: String,
    /// The decoder of a file that is not WAV (`Format::decoder`), so it is part of the pool's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NoisePools {
    pub train: Vec<NoiseFile>,
    pub test: Vec<NoiseFile>,
}

/// Every audio file under `root` (recursively, sorted, macOS `._*` litter skipped), relative paths.
pub fn list_audio(root: &Path) -> std::io::Result<Vec<String>> {
    if !root.is_dir() {
        return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"));
    }
    Ok(find_audio_files(root, ""))
}

/// A file of a source before hashing: (relative path, category, group).
type Listed = (String, String, String);

fn first_dir(rel: &str) -> String {
    rel.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default()
}

/// The files a noise source selects, in its native layout.
pub fn list_source(src: &NoiseSource) -> anyhow::Result<Vec<Listed>> {
    let root = &src.root;
    let sel = &src.select;
    let err = |m: String| user_error(format!("noise \"{}\": {m}", src.name));
    let listed: Vec<Listed> = match src.kind.as_str() {
        "musan" => {
            let subsets = sel.subsets.clone().unwrap_or_else(|| vec!["noise".into()]);
            let mut out = Vec::new();
            for s in &subsets {
                if !root.join(s).is_dir() {
                    return Err(err(format!("{} has no {s}/ folder (is this MUSAN?)", root.display())));
                }
                for rel in find_audio_files(root, s) {
                    // musan/<subset>/<source>/<file>.wav
                    let source = rel.split('/').nth(1).unwrap_or("").to_string();
                    out.push((rel, format!("{s}/{source}"), String::new()));
                }
            }
            out
        }
        "demand" => {
            let channel = format!("ch{:02}.wav", sel.channel.unwrap_or(1));
            let mut envs = list_dir(root, Entries::Dirs).map_err(|e| err(format!("{}: {e}", root.display())))?;
            if let Some(wanted) = &sel.environments {
                for w in wanted {
                    if !envs.contains(w) {
                        return Err(err(format!(
                            "environment {w} not found under {} (found: {})",
                            root.display(),
                            envs.join(", ")
                        )));
                    }
                }
                envs.retain(|e| wanted.contains(e));
            }
            envs.into_iter()
                .filter(|e| root.join(e).join(&channel).is_file())
                .map(|e| (format!("{e}/{channel}"), e, String::new()))
                .collect()
        }
        "esc50" => {
            let meta = root.join("meta/esc50.csv");
            let text = std::fs::read_to_string(&meta)
                .map_err(|e| err(format!("{}: {e} (is this ESC-50?)", meta.display())))?;
            let table = csv::parse(&text, &meta).map_err(|e| err(format!("{e:#}")))?;
            let (header, col) = (&table.header, |n: &str| table.column(n));
            let (Some(c_file), Some(c_fold), Some(c_cat)) = (col("filename"), col("fold"), col("category")) else {
                return Err(err(format!("{}:1: expected columns filename, fold, category", meta.display())));
            };
            let mut out = Vec::new();
            for row in &table.rows {
                let f = &row.fields;
                if f.len() < header.len() {
                    return Err(err(format!(
                        "{}:{}: {} fields, the header has {}",
                        meta.display(),
                        row.line,
                        f.len(),
                        header.len()
                    )));
                }
                if sel.categories.as_ref().is_some_and(|c| !c.contains(&f[c_cat])) {
                    continue;
                }
                out.push((format!("audio/{}", f[c_file]), f[c_cat].clone(), f[c_fold].clone()));
            }
            out
        }
        "wham" => {
            let mut out = Vec::new();
            for split in ["tr", "cv", "tt"] {
                for rel in find_audio_files(root, &format!("wham_noise/{split}")) {
                    out.push((rel, "wham".to_string(), split.to_string()));
                }
            }
            if out.is_empty() {
                return Err(err(format!("no wham_noise/{{tr,cv,tt}}/*.wav under {}", root.display())));
            }
            out
        }
        _ => list_audio(root)
            .map_err(|e| err(format!("listing {}: {e}", root.display())))?
            .into_iter()
            .map(|rel| {
                let cat = first_dir(&rel);
                (rel, cat, String::new())
            })
            .collect(),
    };
    if listed.is_empty() {
        return Err(err(format!("no noise files selected under {}", root.display())));
    }
    Ok(listed)
}

/// Split files into disjoint pools by the source's rule.
pub fn split_pools(files: &[NoiseFile], src: &NoiseSource) -> NoisePools {
    let (mut test, mut train): (Vec<NoiseFile>, Vec<NoiseFile>) = if let Some(cats) = &src.select.test_categories {
        files.iter().cloned().partition(|f| cats.contains(&f.category))
    } else if src.kind == "esc50" {
        let folds: Vec<String> =
            src.select.test_folds.clone().unwrap_or_else(|| vec![5]).iter().map(|f| f.to_string()).collect();
        files.iter().cloned().partition(|f| folds.contains(&f.group))
    } else if src.kind == "wham" {
        files.iter().cloned().partition(|f| f.group == "tt")
    } else {
        split_by_hash(files, src.test_fraction, src.seed)
    };
    test.sort_by(|a, b| a.path.cmp(&b.path));
    train.sort_by(|a, b| a.path.cmp(&b.path));
    NoisePools { train, test }
}

/// Order by a seeded hash of the path; the first `test_fraction` go to test. Each pool gets at least one
/// file when there are two or more.
fn split_by_hash(files: &[NoiseFile], test_fraction: f64, seed: u64) -> (Vec<NoiseFile>, Vec<NoiseFile>) {
    let mut order: Vec<&NoiseFile> = files.iter().collect();
    order.sort_by_key(|f| (stable_u64(seed, &["noise-pool", &f.path]), f.path.clone()));
    let n = order.len();
    let mut n_test = (n as f64 * test_fraction).round() as usize;
    if n >= 2 {
        n_test = n_test.clamp(1, n - 1);
    }
    let test = order[..n_test].iter().map(|f| (*f).clone()).collect();
    let train = order[n_test..].iter().map(|f| (*f).clone()).collect();
    (test, train)
}

/// Files per category in a pool (for the report).
pub fn categories(pool: &[NoiseFile]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for f in pool {
        *m.entry(f.category.clone()).or_insert(0) += 1;
    }
    m
}

pub fn resolve(root: &Path, f: &NoiseFile) -> PathBuf {
    root.join(&f.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(kind: &str, select: NoiseSelect) -> NoiseSource {
        NoiseSource { name: "n".into(), kind: kind.into(), root: PathBuf::new(), test_fraction: 0.5, seed: 3, select }
    }

    fn files(n: usize) -> Vec<NoiseFile> {
        (0..n)
            .map(|i| NoiseFile {
                path: format!("c{}/n{i}.wav", i % 3),
                sha256: format!("{i}"),
                category: format!("c{}", i % 3),
                group: format!("{}", 1 + i % 5),
                decoder: None,
            })
            .collect()
    }

    #[test]
    fn pools_are_disjoint_and_cover_all() {
        let fs = files(11);
        let p = split_pools(&fs, &source("folder", NoiseSelect::default()));
        assert_eq!(p.train.len() + p.test.len(), 11);
        assert!(p.train.iter().all(|f| !p.test.contains(f)));
        assert_eq!(p, split_pools(&fs, &source("folder", NoiseSelect::default())));
        let mut other = source("folder", NoiseSelect::default());
        other.seed = 4;
        assert_ne!(p, split_pools(&fs, &other));
    }

    #[test]
    fn held_out_categories_and_folds() {
        let fs = files(15);
        let sel = NoiseSelect { test_categories: Some(vec!["c1".into()]), ..Default::default() };
        let p = split_pools(&fs, &source("folder", sel));
        assert!(p.test.iter().all(|f| f.category == "c1"));
        assert!(p.train.iter().all(|f| f.category != "c1"));
        assert_eq!(p.test.len(), 5);
        let p = split_pools(&fs, &source("esc50", NoiseSelect::default()));
        assert!(p.test.iter().all(|f| f.group == "5") && p.train.iter().all(|f| f.group != "5"));
    }
}
