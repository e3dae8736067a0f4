//! Per-entry claims, so that runs sharing a cache — several drivers, or Slurm tasks on many hosts —
//! never compute one key at the same time, without a lock that every filesystem would have to make
//! coherent. A claim is a file `leases/<key>` created with `O_EXCL` (atomic on local filesystems and
//! NFSv3+, Lustre, BeeGFS), holding its owner (host, pid, nonce, job). While the work runs a thread
//! refreshes the file's mtime (the heartbeat); a claim whose owner is a dead process of this host, or
//! whose heartbeat is older than the time to live, is broken by renaming it away (one breaker wins).
//!
//! The cache stays correct even if a claim is lost (a partition, a clock jump): entries are committed
//! by rename and the first complete one wins, so the worst case is work done twice, never a torn entry.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::host;
use super::Cache;

/// Who holds a claim (the lease file's content).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    pub nonce: String,
    /// The Slurm job (`<job>_<index>`) the owner runs in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    pub since_unix_s: u64,
}

/// How long a claim lives without a heartbeat: `SERTOOL_LEASE_TTL_S`, default 120 s. The heartbeat
/// comes every quarter of it.
pub fn ttl() -> Duration {
    let s = std::env::var("SERTOOL_LEASE_TTL_S").ok().and_then(|v| v.parse::<f64>().ok()).unwrap_or(120.0);
    Duration::from_secs_f64(s.max(0.2))
}

/// A claim this process holds; dropping it stops the heartbeat and removes the file.
pub struct Lease {
    path: PathBuf,
    holder: Holder,
    /// Its claim is in the claim log (so its release goes there too).
    logged: bool,
    stop: Arc<(Mutex<bool>, Condvar)>,
    beat: Option<std::thread::JoinHandle<()>>,
}

/// What [`claim`] found.
pub enum Claim {
    /// This process may compute the entry.
    Mine(Lease),
    /// The entry is complete (another run made it while we waited, or before).
    Done,
}

fn lease_path(cache: &Cache, key: &str) -> PathBuf {
    cache.root.join("leases").join(key)
}

fn read_holder(path: &Path) -> Option<Holder> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// A claim nobody is keeping alive: its owner is a dead process of this host, or its heartbeat is
/// older than [`ttl`].
fn is_stale(path: &Path, holder: Option<&Holder>) -> bool {
    if let Some(h) = holder {
        if h.host == host::host() && !host::pid_alive(h.pid) {
            return true;
        }
    }
    let age = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default();
    age > ttl()
}

/// Whether a live claim on `key` is held by the writer `host.pid` (used by `clean_tmp` to keep the
/// temporary directories of work in progress on other hosts).
pub fn held_by(cache: &Cache, key: &str, host: &str, pid: u32) -> bool {
    let path = lease_path(cache, key);
    match read_holder(&path) {
        Some(h) => h.host == host && h.pid == pid && !is_stale(&path, Some(&h)),
        None => false,
    }
}

/// Whether any live claim exists (then `gc` must not delete: someone is computing).
pub fn any_live(cache: &Cache) -> anyhow::Result<Vec<Holder>> {
    let mut live = Vec::new();
    let Ok(rd) = std::fs::read_dir(cache.root.join("leases")) else { return Ok(live) };
    for e in rd.flatten() {
        let path = e.path();
        let holder = read_holder(&path);
        if !is_stale(&path, holder.as_ref()) {
            if let Some(h) = holder {
                live.push(h);
            }
        }
    }
    Ok(live)
}

/// Take the claim on entry `kind/key`, waiting while another live owner holds it. Returns
/// [`Claim::Done`] as soon as the entry is complete, so a caller never recomputes finished work.
pub fn claim(cache: &Cache, kind: &str, key: &str, job: Option<String>) -> anyhow::Result<Claim> {
    let mut wait = Duration::from_millis(50);
    loop {
        if let Some(c) = try_claim(cache, kind, key, job.clone())? {
            return Ok(c);
        }
        std::thread::sleep(wait);
        wait = (wait * 2).min(Duration::from_secs(2));
    }
}

/// One attempt at [`claim`]: `None` while another live owner holds the claim (a stale claim is
/// broken and the attempt made again).
pub fn try_claim(cache: &Cache, kind: &str, key: &str, job: Option<String>) -> anyhow::Result<Option<Claim>> {
    let path = lease_path(cache, key);
    let dir = path.parent().expect("a lease path has a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    loop {
        if cache.is_complete(kind, key) {
            return Ok(Some(Claim::Done));
        }
        let holder = Holder {
            host: host::host().to_string(),
            pid: std::process::id(),
            nonce: host::nonce(),
            job: job.clone(),
            since_unix_s: host::unix_s(),
        };
        match std::fs::File::options().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                f.write_all(&serde_json::to_vec(&holder)?)?;
                f.sync_all()?;
                let lease = Lease::start(path.clone(), holder);
                // The previous owner may have committed and released between our check and our create.
                if cache.is_complete(kind, key) {
                    drop(lease);
                    return Ok(Some(Claim::Done));
                }
                let mut lease = lease;
                log_claim("claim", key, &lease.holder);
                lease.logged = true;
                return Ok(Some(Claim::Mine(lease)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let other = read_holder(&path);
                if !is_stale(&path, other.as_ref()) {
                    return Ok(None);
                }
                break_stale(&path, other.as_ref())?;
            }
            Err(e) => return Err(e).with_context(|| format!("creating lease {}", path.display())),
        }
    }
}

/// Move a stale claim out of the way. If what we moved turns out not to be the claim we judged stale
/// (someone broke it and claimed, perhaps not yet written, between our look and our rename), put it
/// back. A claim that is gone already is fine; any other failure is an error, not a retry loop.
fn break_stale(path: &Path, judged: Option<&Holder>) -> anyhow::Result<()> {
    let aside = path.with_file_name(format!(
        ".{}.broken.{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        host::nonce()
    ));
    match std::fs::rename(path, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            let who = judged.map(|h| format!(" (held by {} pid {})", h.host, h.pid)).unwrap_or_default();
            return Err(e).with_context(|| format!("breaking the stale lease {}{who}", path.display()));
        }
    }
    let moved = read_holder(&aside);
    if moved.as_ref() != judged {
        let _ = std::fs::hard_link(&aside, path);
    } else if let Some(h) = &moved {
        log_claim("broke", path.file_name().unwrap_or_default().to_str().unwrap_or_default(), h);
    }
    let _ = std::fs::remove_file(&aside);
    Ok(())
}

impl Lease {
    fn start(path: PathBuf, holder: Holder) -> Lease {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let (p, h, s) = (path.clone(), holder.clone(), stop.clone());
        let beat = std::thread::Builder::new().name("lease-heartbeat".into()).spawn(move || heartbeat(&p, &h, &s)).ok();
        Lease { path, holder, logged: false, stop, beat }
    }
}

fn heartbeat(path: &Path, holder: &Holder, stop: &(Mutex<bool>, Condvar)) {
    let every = ttl() / 4;
    let (lock, cv) = stop;
    let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        // Checked before waiting too: a stop that came before this thread first waited is not lost.
        if *stopped {
            return;
        }
        let (guard, _) = cv.wait_timeout(stopped, every).unwrap_or_else(|e| e.into_inner());
        stopped = guard;
        if *stopped {
            return;
        }
        // Only our own claim: a broken-and-retaken lease belongs to someone else now.
        if read_holder(path).as_ref() == Some(holder) {
            if let Ok(f) = std::fs::File::options().write(true).open(path) {
                let _ = f.set_modified(SystemTime::now());
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        {
            let (lock, cv) = &*self.stop;
            *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
            cv.notify_all();
        }
        if let Some(t) = self.beat.take() {
            let _ = t.join();
        }
        if read_holder(&self.path).as_ref() == Some(&self.holder) {
            if self.logged {
                log_claim(
                    "release",
                    self.path.file_name().unwrap_or_default().to_str().unwrap_or_default(),
                    &self.holder,
                );
            }
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// `SERTOOL_CLAIM_LOG=FILE` appends one line per claim event (`claim|release|broke key host.pid.nonce
/// unix_ms`): an audit trail of who computed what, and when (the concurrency tests read it).
fn log_claim(event: &str, key: &str, h: &Holder) {
    let Some(file) = std::env::var_os("SERTOOL_CLAIM_LOG") else { return };
    let ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let line = format!("{event} {key} {}.{}.{} {ms}\n", h.host, h.pid, h.nonce);
    if let Ok(mut f) = std::fs::File::options().create(true).append(true).open(file) {
        let _ = f.write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_lease(cache: &Cache, key: &str, host: &str, pid: u32, age_s: u64) -> PathBuf {
        let path = lease_path(cache, key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let h = Holder { host: host.into(), pid, nonce: "n0".into(), job: None, since_unix_s: 0 };
        std::fs::write(&path, serde_json::to_vec(&h).unwrap()).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(age_s)).unwrap();
        path
    }

    #[test]
    fn a_live_claim_keeps_others_out_and_a_dead_or_silent_one_is_broken() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        // Another host, heartbeat fresh: busy.
        write_lease(&cache, "k1", "elsewhere", 4242, 0);
        assert!(try_claim(&cache, "train", "k1", None).unwrap().is_none());
        assert!(held_by(&cache, "k1", "elsewhere", 4242));
        assert_eq!(any_live(&cache).unwrap().len(), 1);
        // Another host, silent for longer than the time to live: broken and taken.
        write_lease(&cache, "k2", "elsewhere", 4242, 100_000);
        let Some(Claim::Mine(lease)) = try_claim(&cache, "train", "k2", None).unwrap() else { panic!("not claimed") };
        assert_eq!(read_holder(&lease_path(&cache, "k2")).unwrap().pid, std::process::id());
        // A second claim by anyone while we hold it: busy. Released on drop.
        assert!(try_claim(&cache, "train", "k2", None).unwrap().is_none());
        drop(lease);
        assert!(!lease_path(&cache, "k2").exists());
        // This host, a pid that is not running: broken at once, however fresh.
        write_lease(&cache, "k3", host::host(), u32::MAX - 1, 0);
        assert!(matches!(try_claim(&cache, "train", "k3", None).unwrap(), Some(Claim::Mine(_))));
    }

    #[test]
    fn a_complete_entry_is_never_claimed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        std::fs::create_dir_all(cache.entry_dir("eval", "k")).unwrap();
        std::fs::write(cache.entry_dir("eval", "k").join("meta.json"), "{}").unwrap();
        assert!(matches!(claim(&cache, "eval", "k", None).unwrap(), Claim::Done));
        assert!(!lease_path(&cache, "k").exists());
    }
}
