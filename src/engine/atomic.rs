//! Atomic file I/O: a file is replaced whole (temp + fsync + rename), never seen torn, and a directory's
//! entry table is flushed after a rename into it. The cache and the fingerprint state both write
//! through here.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;

/// Flush a directory's entry table (after a rename into it).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Write a file so that readers see the old or the new content, never a torn one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // `.<name>.tmp.<host>.<pid>.<n>`: `Cache::clean_tmp` removes only a dead writer's, and only this
    // host can tell (the cache may be shared).
    let tmp = dir.join(format!(
        ".{}.tmp.{}.{}.{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        super::host::host(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    {
        let mut f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}
