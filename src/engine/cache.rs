//! The content-addressed store. Layout under the cache root:
//!
//! ```text
//! lock                      flock of a local run (`--lock flock`, the default) and of `gc`
//! fingerprints/<host>.tsv   (size, mtime, ctime, inode) → SHA-256 of external files, one per host
//! tmp/<key>.<host>.<pid>.<nonce>/  stage outputs being written, each made exclusively by its writer
//! leases/<key>              the claim of the one writer computing that key (`lease.rs`)
//! slurm/<run>/              job documents, task lists, sbatch scripts and logs of Slurm runs
//! <kind>/<key>/             committed entries: output files + meta.json
//! last/<kind>/<id-hash>     the key of the last committed run of a stage id (for `explain`)
//! ```
//!
//! A stage writes into `tmp/` and the finished directory is renamed into place, so an entry is either
//! complete or absent: a killed run leaves only `tmp/` litter, which a later run removes once it knows
//! the writer is dead. The first complete entry of a key wins; an existing destination is never
//! deleted by a commit (damage is for `cache verify` and `gc`), so hosts sharing the cache cannot
//! destroy each other's work.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::atomic::{sync_dir, write_atomic};
use super::key::hash_file;

const TAG_FILE: &str = "CACHEDIR.TAG";
const TAG: &str =
    "Signature: 8a477f597d28d172789f06886806bc55\n# This is a sertool cache (content-addressed stage outputs).\n";

fn is_key(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileRecord {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// meta.json of a committed entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub key: String,
    pub stage: String,
    pub kind: String,
    pub version: u32,
    pub params: serde_json::Value,
    pub inputs: BTreeMap<String, String>,
    pub tool_version: String,
    pub finished_unix_s: u64,
    pub seconds: f64,
    pub faults: usize,
    pub files: Vec<FileRecord>,
}

impl Meta {
    /// The record of a stage that started at `started` and finished now (`files` is filled by
    /// [`Cache::commit`]).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        stage: &str,
        kind: &str,
        version: u32,
        key: &str,
        params: &serde_json::Value,
        inputs: &BTreeMap<String, String>,
        started: std::time::Instant,
        faults: usize,
    ) -> Meta {
        Meta {
            key: key.to_string(),
            stage: stage.to_string(),
            kind: kind.to_string(),
            version,
            params: params.clone(),
            inputs: inputs.clone(),
            tool_version: crate::TOOL_VERSION.to_string(),
            finished_unix_s: super::host::unix_s(),
            seconds: started.elapsed().as_secs_f64(),
            faults,
            files: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Cache {
    pub root: PathBuf,
}

/// Held for the whole of a run that writes to the cache; dropping it releases the lock.
pub struct CacheLock {
    _file: File,
}

impl Cache {
    pub fn open(root: &Path) -> anyhow::Result<Cache> {
        std::fs::create_dir_all(root.join("tmp")).with_context(|| format!("creating cache {}", root.display()))?;
        let tag = root.join(TAG_FILE);
        if !tag.exists() {
            // The standard cache-directory tag (backup tools skip it), and our proof that this folder is a
            // sertool cache before `gc` deletes anything in it.
            write_atomic(&tag, TAG.as_bytes())?;
        }
        Ok(Cache { root: root.to_path_buf() })
    }

    /// Refuse to delete in a folder that sertool did not create as a cache.
    fn ensure_is_cache(&self) -> anyhow::Result<()> {
        let ok = std::fs::read_to_string(self.root.join(TAG_FILE)).is_ok_and(|t| t.starts_with(TAG));
        anyhow::ensure!(
            ok,
            "{} is not a sertool cache (no {TAG_FILE}); refusing to delete anything in it",
            self.root.display()
        );
        Ok(())
    }

    /// The lock if nobody holds it, else None (for read-only checks that must not wait).
    pub fn try_lock(&self) -> anyhow::Result<Option<CacheLock>> {
        let file = File::options().create(true).truncate(false).read(true).write(true).open(self.root.join("lock"))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(CacheLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }

    /// Take the cache's write lock. If another run holds it, say so on stderr and wait for it.
    pub fn lock(&self, wait: bool) -> anyhow::Result<CacheLock> {
        let path = self.root.join("lock");
        let mut file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                let who = if holder.is_empty() { String::new() } else { format!(" ({holder})") };
                if !wait {
                    anyhow::bail!(
                        "cache {} is in use by another sertool run{who}; not waiting (--no-wait)",
                        self.root.display()
                    );
                }
                eprintln!(
                    "sertool: cache {} is in use by another sertool run{who}; waiting for it to finish",
                    self.root.display()
                );
                file.lock().with_context(|| format!("locking {}", path.display()))?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
        file.set_len(0)?;
        write!(file, "pid {}", std::process::id())?;
        file.flush()?;
        Ok(CacheLock { _file: file })
    }

    /// Remove what killed runs left half-written: temporary directories whose writer is a dead
    /// process of this host, or a writer elsewhere that holds no live claim on the key. Safe without
    /// the lock: live writers, here or on other hosts, keep their directories.
    pub fn clean_tmp(&self) -> anyhow::Result<usize> {
        let tmp = self.root.join("tmp");
        let mut n = 0;
        if let Ok(rd) = std::fs::read_dir(&tmp) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !self.tmp_is_abandoned(&name) {
                    continue;
                }
                let p = e.path();
                let gone = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                match gone {
                    Ok(()) => n += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e).with_context(|| format!("removing {}", p.display())),
                }
            }
        }
        // Temporary files of an atomic write that was killed (fingerprints, say). Processes that do
        // not take the lock (`plan`) write these too, so only a dead writer's files are removed.
        for dir in [self.root.clone(), self.root.join("fingerprints")] {
            let Ok(rd) = std::fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                // `.<name>.tmp.<host>.<pid>.<n>`, or `.<name>.tmp.<pid>.<n>` from an older sertool.
                let mut rest = name.split(".tmp.").nth(1).unwrap_or_default().split('.');
                let first = rest.next().unwrap_or_default();
                let pid = match first.parse::<u32>() {
                    Ok(pid) => Some(pid),
                    Err(_) if first == super::host::host() => rest.next().and_then(|p| p.parse::<u32>().ok()),
                    Err(_) => None,
                };
                if pid.is_some_and(|p| !super::host::pid_alive(p)) && e.path().is_file() {
                    std::fs::remove_file(e.path())?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// A `tmp/` name `<key>.<host>.<pid>.<nonce>[.job.json]` whose writer is gone. Names in any other
    /// form are litter of an older sertool, which emptied tmp/ at every start itself: abandoned.
    fn tmp_is_abandoned(&self, name: &str) -> bool {
        let base = name.strip_suffix(".job.json").unwrap_or(name);
        let parts: Vec<&str> = base.split('.').collect();
        match parts.as_slice() {
            [key, host, pid, _nonce] => {
                let Ok(pid) = pid.parse::<u32>() else { return false };
                if *host == super::host::host() {
                    !super::host::pid_alive(pid)
                } else {
                    !super::lease::held_by(self, key, host, pid)
                }
            }
            _ => true,
        }
    }
    /// Take an entry out of the cache: rename it into tmp/ (atomic), then delete it there, so a killed
    /// removal never leaves a half-deleted entry in place.
    fn remove_entry(&self, kind: &str, key: &str) -> anyhow::Result<()> {
        let dir = self.entry_dir(kind, key);
        let doomed = self.begin(&format!("removed-{key}"))?;
        std::fs::remove_dir(&doomed)?;
        std::fs::rename(&dir, &doomed).with_context(|| format!("moving {} out of the cache", dir.display()))?;
        std::fs::remove_dir_all(&doomed)?;
        Ok(())
    }

    /// This host's fingerprint state: each host keeps its own, so drivers on two machines never
    /// overwrite each other's (inode and ctime mean nothing across hosts anyway).
    pub fn fingerprint_path(&self) -> PathBuf {
        self.root.join("fingerprints").join(format!("{}.tsv", super::host::host()))
    }

    pub fn entry_dir(&self, kind: &str, key: &str) -> PathBuf {
        self.root.join(kind).join(key)
    }

    pub fn is_complete(&self, kind: &str, key: &str) -> bool {
        self.entry_dir(kind, key).join("meta.json").is_file()
    }

    /// Whether `dest` holds a complete entry, asked by opening its meta.json (which revalidates a
    /// network filesystem's cached lookups, unlike a stat) a few times over a second: another host's
    /// commit that made our rename fail may not be visible here at once.
    fn appears_complete(&self, dest: &Path) -> bool {
        for attempt in 0..5 {
            if File::open(dest.join("meta.json")).is_ok() {
                return true;
            }
            if attempt < 4 {
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
        }
        false
    }

    pub fn read_meta(&self, kind: &str, key: &str) -> anyhow::Result<Meta> {
        let p = self.entry_dir(kind, key).join("meta.json");
        let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", p.display()))
    }

    /// A fresh temporary directory for a stage to write into, `tmp/<key>.<host>.<pid>.<nonce>`,
    /// created exclusively: no other writer, on any host, can be handed the same one.
    pub fn begin(&self, key: &str) -> anyhow::Result<PathBuf> {
        let tmp = self.root.join("tmp");
        std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        loop {
            let dir = tmp.join(format!("{key}.{}", super::host::writer_tag()));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(dir),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
            }
        }
    }

    /// Hash the outputs, write meta.json, and rename the directory into place. The first complete
    /// entry of a key wins: a later one with the same key (same content) is discarded. Something
    /// incomplete in the way is never deleted here (on a shared cache it may be another host's view
    /// of a rename in flight); the commit fails and says what to run.
    pub fn commit(&self, tmp: &Path, mut meta: Meta) -> anyhow::Result<()> {
        meta.files = list_files(tmp)?;
        let bytes = serde_json::to_vec_pretty(&meta)?;
        write_atomic(&tmp.join("meta.json"), &bytes)?;
        let dest = self.entry_dir(&meta.kind, &meta.key);
        let parent = dest.parent().expect("an entry has a kind directory");
        std::fs::create_dir_all(parent)?;
        if self.is_complete(&meta.kind, &meta.key) {
            std::fs::remove_dir_all(tmp)?;
        } else if let Err(e) = std::fs::rename(tmp, &dest) {
            if !self.appears_complete(&dest) {
                let what = if dest.is_dir() {
                    "an incomplete entry (no meta.json) is in the way; it is left as it is: `sertool gc \
                     PIPELINE…` removes it while no run is active"
                } else {
                    "the rename failed"
                };
                return Err(e).with_context(|| format!("committing {}: {what}", dest.display()));
            }
            std::fs::remove_dir_all(tmp)?;
        }
        sync_dir(parent);
        self.record_last(&meta.stage, &meta.kind, &meta.key)
    }

    fn last_path(&self, stage: &str, kind: &str) -> PathBuf {
        let id = &super::key::sha256_hex(stage.as_bytes())[..24];
        self.root.join("last").join(kind).join(format!("{id}.json"))
    }

    pub fn record_last(&self, stage: &str, kind: &str, key: &str) -> anyhow::Result<()> {
        let doc = serde_json::json!({ "stage": stage, "key": key }).to_string();
        let path = self.last_path(stage, kind);
        // A no-op run touches every stage: skip the (fsynced) write when nothing changed.
        if std::fs::read(&path).ok().as_deref() == Some(doc.as_bytes()) {
            return Ok(());
        }
        write_atomic(&path, doc.as_bytes())
    }

    /// (stage id, key) of the last committed run of every stage of `kind`.
    pub fn last_runs(&self, kind: &str) -> Vec<(String, String)> {
        let Ok(rd) = std::fs::read_dir(self.root.join("last").join(kind)) else { return Vec::new() };
        let mut out: Vec<(String, String)> = rd
            .flatten()
            .filter_map(|e| {
                let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
                Some((doc.get("stage")?.as_str()?.to_string(), doc.get("key")?.as_str()?.to_string()))
            })
            .collect();
        out.sort();
        out
    }

    /// The meta of the last committed run of this stage id, if its entry still exists.
    pub fn last_meta(&self, stage: &str, kind: &str) -> Option<Meta> {
        let bytes = std::fs::read(self.last_path(stage, kind)).ok()?;
        let doc: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let key = doc.get("key")?.as_str()?;
        self.read_meta(kind, key).ok()
    }

    /// Every committed entry as (kind, key).
    pub fn entries(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for kind in std::fs::read_dir(&self.root)?.flatten() {
            let name = kind.file_name().to_string_lossy().into_owned();
            if !kind.path().is_dir() || ["tmp", "last", "leases", "slurm", "fingerprints"].contains(&name.as_str()) {
                continue;
            }
            for e in std::fs::read_dir(kind.path())?.flatten() {
                // Only directories named by a key are entries; anything else is not ours to judge.
                if e.path().is_dir() && is_key(&e.file_name().to_string_lossy()) {
                    out.push((name.clone(), e.file_name().to_string_lossy().into_owned()));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Check every entry: meta.json parses, names its own key and kind, and every listed file exists
    /// with its recorded size and hash. Returns one line per problem.
    pub fn verify(&self) -> anyhow::Result<(usize, Vec<String>)> {
        // Entries appear by rename and are never edited, so checking them needs no lock; tmp/ only
        // counts as litter when its writer is gone.
        let entries = self.entries()?;
        let problems: Vec<String> = {
            use rayon::prelude::*;
            entries.par_iter().flat_map_iter(|(kind, key)| self.verify_entry(kind, key)).collect()
        };
        let mut problems = problems;
        let tmp_litter = std::fs::read_dir(self.root.join("tmp"))
            .map(|r| r.flatten().filter(|e| self.tmp_is_abandoned(&e.file_name().to_string_lossy())).count())
            .unwrap_or(0);
        if tmp_litter > 0 {
            problems.push(format!(
                "tmp/: {tmp_litter} unfinished stage output(s) from an interrupted run (removed by the next run)"
            ));
        }
        Ok((entries.len(), problems))
    }

    fn verify_entry(&self, kind: &str, key: &str) -> Vec<String> {
        let dir = self.entry_dir(kind, key);
        let meta = match self.read_meta(kind, key) {
            Ok(m) => m,
            Err(e) => return vec![format!("{kind}/{key}: {e:#}")],
        };
        let mut problems = Vec::new();
        if meta.key != key || meta.kind != kind {
            problems.push(format!("{kind}/{key}: meta.json names {}/{}", meta.kind, meta.key));
        }
        for f in &meta.files {
            let p = dir.join(&f.name);
            match std::fs::metadata(&p) {
                Err(_) => problems.push(format!("{kind}/{key}: missing file {}", f.name)),
                Ok(md) if md.len() != f.size => {
                    problems.push(format!("{kind}/{key}: {} has {} bytes, meta says {}", f.name, md.len(), f.size))
                }
                Ok(_) => match hash_file(&p) {
                    Ok(h) if h == f.sha256 => {}
                    Ok(_) => problems.push(format!("{kind}/{key}: {} does not match its recorded SHA-256", f.name)),
                    Err(e) => problems.push(format!("{kind}/{key}: reading {}: {e}", f.name)),
                },
            }
        }
        let listed: BTreeSet<&str> = meta.files.iter().map(|f| f.name.as_str()).collect();
        if let Ok(found) = list_names(&dir) {
            for name in found {
                if name != "meta.json" && !listed.contains(name.as_str()) {
                    problems.push(format!("{kind}/{key}: unlisted file {name}"));
                }
            }
        }
        problems
    }

    /// Remove every entry not in `keep`, and incomplete entries (no meta.json) of any key; returns how
    /// many were removed. Refused while any stage is being computed (a live claim), here or on another
    /// host: call it holding the lock.
    pub fn gc(&self, keep: &BTreeSet<(String, String)>) -> anyhow::Result<usize> {
        self.ensure_is_cache()?;
        let live = super::lease::any_live(self)?;
        if let Some(h) = live.first() {
            anyhow::bail!(
                "{} stage(s) of this cache are being computed (e.g. by {} pid {}{}); gc runs when no run is active",
                live.len(),
                h.host,
                h.pid,
                h.job.as_ref().map(|j| format!(", Slurm job {j}")).unwrap_or_default()
            );
        }
        let mut removed = 0;
        for (kind, key) in self.entries()? {
            if !keep.contains(&(kind.clone(), key.clone())) || !self.is_complete(&kind, &key) {
                self.remove_entry(&kind, &key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Names of the regular files under `dir`, recursively, as relative paths with `/`.
fn list_names(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)?.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn list_files(dir: &Path) -> anyhow::Result<Vec<FileRecord>> {
    list_names(dir)?
        .into_iter()
        .filter(|n| n != "meta.json")
        .map(|name| {
            let p = dir.join(&name);
            // On disk before the entry is renamed into place: a power cut must not commit empty files.
            File::open(&p)?.sync_all()?;
            let size = std::fs::metadata(&p)?.len();
            let sha256 = hash_file(&p)?;
            Ok(FileRecord { name, size, sha256 })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(key: &str) -> Meta {
        Meta::new("s", "eval", 1, key, &serde_json::json!({}), &BTreeMap::new(), std::time::Instant::now(), 0)
    }

    #[test]
    fn a_commit_never_deletes_what_is_in_its_way_and_the_first_entry_wins() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let key = "a".repeat(64);
        // Something incomplete at the destination (another host's rename in flight, or damage).
        let dest = cache.entry_dir("eval", &key);
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(dest.join("partial.bin"), b"x").unwrap();
        let tmp = cache.begin(&key).unwrap();
        std::fs::write(tmp.join("out.txt"), b"mine").unwrap();
        let err = cache.commit(&tmp, meta(&key)).unwrap_err();
        assert!(format!("{err:#}").contains("incomplete"), "{err:#}");
        assert!(dest.join("partial.bin").is_file(), "the commit deleted the destination");
        // gc removes it (no live claim), then the first complete entry wins.
        cache.gc(&BTreeSet::from([("eval".to_string(), key.clone())])).unwrap();
        assert!(!dest.exists());
        cache.commit(&tmp, meta(&key)).unwrap();
        let second = cache.begin(&key).unwrap();
        std::fs::write(second.join("out.txt"), b"later").unwrap();
        cache.commit(&second, meta(&key)).unwrap();
        assert_eq!(std::fs::read(dest.join("out.txt")).unwrap(), b"mine");
        assert!(!second.exists());
    }

    #[test]
    fn temporary_directories_are_exclusive_and_only_dead_writers_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let key = "b".repeat(64);
        let (one, two) = (cache.begin(&key).unwrap(), cache.begin(&key).unwrap());
        assert_ne!(one, two);
        let host = super::super::host::host();
        let dead = cache.root.join("tmp").join(format!("{key}.{host}.{}.abc", u32::MAX - 1));
        let elsewhere = cache.root.join("tmp").join(format!("{key}.otherhost.77.abc"));
        for d in [&dead, &elsewhere] {
            std::fs::create_dir(d).unwrap();
        }
        // A live claim keeps the other host's directory.
        std::fs::create_dir_all(cache.root.join("leases")).unwrap();
        let h = super::super::lease::Holder {
            host: "otherhost".into(),
            pid: 77,
            nonce: "n".into(),
            job: None,
            since_unix_s: 0,
        };
        std::fs::write(cache.root.join("leases").join(&key), serde_json::to_vec(&h).unwrap()).unwrap();
        assert_eq!(cache.clean_tmp().unwrap(), 1);
        assert!(one.exists() && two.exists() && elsewhere.exists() && !dead.exists());
        // Without it, the other host's directory is abandoned.
        std::fs::remove_file(cache.root.join("leases").join(&key)).unwrap();
        assert_eq!(cache.clean_tmp().unwrap(), 1);
        assert!(!elsewhere.exists() && one.exists());
    }
}
