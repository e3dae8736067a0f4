//! Noise sources and pools: every WAV under a folder, split by file into disjoint train and test pools
//! with a seeded hash, so test noise is never heard in training.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::rng::stable_u64;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NoiseFile {
    /// Path relative to the noise source's root, with `/`.
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NoisePools {
    pub train: Vec<NoiseFile>,
    pub test: Vec<NoiseFile>,
}

/// Every `*.wav` under `root` (recursively, sorted, macOS `._*` litter skipped), relative paths.
pub fn list_wavs(root: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            let name = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if p.is_dir() {
                stack.push(p);
            } else if name.to_ascii_lowercase().ends_with(".wav") && !name.starts_with("._") {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Split files into pools: order by a seeded hash of the path, the first `test_fraction` go to test.
/// Each pool gets at least one file when there are two or more.
pub fn split_pools(files: &[NoiseFile], test_fraction: f64, seed: u64) -> NoisePools {
    let mut order: Vec<&NoiseFile> = files.iter().collect();
    order.sort_by_key(|f| (stable_u64(seed, &["noise-pool", &f.path]), f.path.clone()));
    let n = order.len();
    let mut n_test = (n as f64 * test_fraction).round() as usize;
    if n >= 2 {
        n_test = n_test.clamp(1, n - 1);
    }
    let mut test: Vec<NoiseFile> = order[..n_test].iter().map(|f| (*f).clone()).collect();
    let mut train: Vec<NoiseFile> = order[n_test..].iter().map(|f| (*f).clone()).collect();
    test.sort_by(|a, b| a.path.cmp(&b.path));
    train.sort_by(|a, b| a.path.cmp(&b.path));
    NoisePools { train, test }
}

pub fn resolve(root: &Path, f: &NoiseFile) -> PathBuf {
    root.join(&f.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_disjoint_and_cover_all() {
        let files: Vec<NoiseFile> =
            (0..11).map(|i| NoiseFile { path: format!("n{i}.wav"), sha256: format!("{i}") }).collect();
        let p = split_pools(&files, 0.5, 3);
        assert_eq!(p.train.len() + p.test.len(), 11);
        assert!(p.train.iter().all(|f| !p.test.contains(f)));
        assert_eq!(p, split_pools(&files, 0.5, 3));
        assert_ne!(p, split_pools(&files, 0.5, 4));
    }
}
