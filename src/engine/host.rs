//! Who is writing: this host's short name, liveness of a process on it, and nonces. Shared-cache
//! bookkeeping (temporary directories, leases) names its writer by `host.pid.nonce`, because a pid alone
//! means nothing on a filesystem that several machines mount.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// This machine's short host name, with anything outside `[A-Za-z0-9_-]` replaced by `_` (so it can sit
/// between dots in a file name).
pub fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let raw = read_hostname();
        let short = raw.split('.').next().unwrap_or_default();
        let clean: String =
            short.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        if clean.is_empty() {
            "localhost".to_string()
        } else {
            clean
        }
    })
}

fn read_hostname() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or truncates.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            return String::from_utf8_lossy(&buf[..end]).into_owned();
        }
    }
    std::env::var("HOSTNAME").unwrap_or_default()
}

/// Whether process `pid` of *this* host is alive. Where there is no /proc, assume it is.
pub fn pid_alive(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// 12 hex digits that no other writer, here or on another host, will pick: a hash of the host, the
/// pid, the clock and a counter.
pub fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let seed = format!("{}.{}.{now}.{}", host(), std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    super::key::sha256_hex(seed.as_bytes())[..12].to_string()
}

/// `host.pid.nonce`: the writer's name in temporary directories and leases.
pub fn writer_tag() -> String {
    format!("{}.{}.{}", host(), std::process::id(), nonce())
}

/// Seconds since the Unix epoch.
pub fn unix_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
