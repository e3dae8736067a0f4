//! Fingerprint cheaply, hash surely: external files are known by (size, mtime, ctime, inode); their
//! SHA-256 is remembered in `cache/fingerprints/<host>.tsv` and recomputed only when that changes. A `touch`
//! thus costs one re-hash and never a rerun, and a no-op run over a large corpus costs one `stat` per file.
//!
//! Like git's "racy" check, a hash taken less than two seconds after the file's last change is not
//! trusted next time (a same-size rewrite within one timestamp tick would otherwise go unseen).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use rayon::prelude::*;

use super::atomic::write_atomic;
use super::key::hash_file;

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    inode: u64,
    /// When the hash was taken (ns since the epoch).
    hashed_ns: i128,
    sha256: String,
}

/// The state file is one line per file, `path<TAB>size<TAB>mtime<TAB>ctime<TAB>inode<TAB>hashed<TAB>sha256`,
/// sorted by path: at 200,000 files it loads in a fraction of the time JSON takes. A line that does not
/// parse is dropped (the file is simply re-hashed).
fn parse_state(text: &str) -> BTreeMap<String, Entry> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let path = f.next()?.to_string();
            let e = Entry {
                size: f.next()?.parse().ok()?,
                mtime_ns: f.next()?.parse().ok()?,
                ctime_ns: f.next()?.parse().ok()?,
                inode: f.next()?.parse().ok()?,
                hashed_ns: f.next()?.parse().ok()?,
                sha256: f.next().filter(|h| h.len() == 64)?.to_string(),
            };
            Some((path, e))
        })
        .collect()
}

const RACY_NS: i128 = 2_000_000_000;

fn now_ns() -> i128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0)
}

/// The remembered fingerprints, loaded once per run and saved atomically.
#[derive(Debug, Default)]
pub struct Fingerprints {
    path: PathBuf,
    entries: Mutex<BTreeMap<String, Entry>>,
    dirty: Mutex<bool>,
}

/// (size, mtime, ctime, inode) of a file.
fn stat(path: &Path) -> std::io::Result<(u64, i128, i128, u64)> {
    let md = std::fs::metadata(path)?;
    let mtime = md.modified()?;
    let mtime_ns = match mtime.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    #[cfg(unix)]
    let (ctime_ns, inode) = {
        use std::os::unix::fs::MetadataExt;
        (md.ctime() as i128 * 1_000_000_000 + md.ctime_nsec() as i128, md.ino())
    };
    #[cfg(not(unix))]
    let (ctime_ns, inode) = (0, 0);
    Ok((md.len(), mtime_ns, ctime_ns, inode))
}

impl Fingerprints {
    pub fn load(path: &Path) -> anyhow::Result<Fingerprints> {
        let entries = match std::fs::read(path) {
            Ok(bytes) => parse_state(&String::from_utf8_lossy(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(Fingerprints { path: path.to_path_buf(), entries: Mutex::new(entries), dirty: Mutex::new(false) })
    }

    /// Content hash of one file, re-hashing only when its (size, mtime, inode) changed.
    pub fn content_hash(&self, path: &Path) -> std::io::Result<String> {
        let key = path.to_string_lossy().into_owned();
        let (size, mtime_ns, ctime_ns, inode) = stat(path)?;
        if let Some(e) = self.entries.lock().unwrap().get(&key) {
            let same = e.size == size && e.mtime_ns == mtime_ns && e.ctime_ns == ctime_ns && e.inode == inode;
            let racy = e.hashed_ns - mtime_ns.max(ctime_ns) < RACY_NS;
            if same && !racy {
                return Ok(e.sha256.clone());
            }
        }
        let hashed_ns = now_ns();
        let sha256 = hash_file(path)?;
        self.entries
            .lock()
            .unwrap()
            .insert(key, Entry { size, mtime_ns, ctime_ns, inode, hashed_ns, sha256: sha256.clone() });
        *self.dirty.lock().unwrap() = true;
        Ok(sha256)
    }

    /// Hashes of many files in parallel; each result is that file's hash or its I/O error.
    pub fn content_hashes(&self, paths: &[PathBuf]) -> Vec<std::io::Result<String>> {
        paths.par_iter().map(|p| self.content_hash(p)).collect()
    }

    /// Write the state file atomically (temp + rename), if anything changed.
    pub fn save(&self) -> anyhow::Result<()> {
        let mut dirty = self.dirty.lock().unwrap();
        if !*dirty {
            return Ok(());
        }
        let entries = self.entries.lock().unwrap();
        let mut out = String::with_capacity(entries.len() * 160);
        for (p, e) in entries.iter().filter(|(p, _)| !p.contains(['\t', '\n'])) {
            use std::fmt::Write;
            let _ = writeln!(
                out,
                "{p}\t{}\t{}\t{}\t{}\t{}\t{}",
                e.size, e.mtime_ns, e.ctime_ns, e.inode, e.hashed_ns, e.sha256
            );
        }
        write_atomic(&self.path, out.as_bytes())?;
        *dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_keeps_hash_and_edit_changes_it() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.bin");
        std::fs::write(&f, b"hello").unwrap();
        let fp = Fingerprints::load(&dir.path().join("state.json")).unwrap();
        let h1 = fp.content_hash(&f).unwrap();
        // Same content, new mtime: same hash.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options().write(true).open(&f).unwrap().set_modified(later).unwrap();
        assert_eq!(fp.content_hash(&f).unwrap(), h1);
        std::fs::write(&f, b"hellO").unwrap();
        assert_ne!(fp.content_hash(&f).unwrap(), h1);
        fp.save().unwrap();
        let again = Fingerprints::load(&dir.path().join("state.json")).unwrap();
        assert_eq!(again.entries.lock().unwrap().len(), 1);
    }
}
