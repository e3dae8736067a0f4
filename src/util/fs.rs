//! Directory listings, the one way sertool walks a folder it reads: sorted, so every scan is
//! deterministic, and with macOS `._*` litter skipped where files are searched for.

use std::path::Path;

/// Every file under `root/dir` whose name ends in `ext` (case-insensitive), recursively, relative to
/// `root` with `/`, sorted; macOS `._*` litter skipped. Folders that cannot be read are passed over.
pub fn find_files(root: &Path, dir: &str, ext: &str) -> Vec<String> {
    find_files_where(root, dir, |name| name.to_ascii_lowercase().ends_with(ext))
}

/// [`find_files`] for the file names `keep` accepts.
pub fn find_files_where(root: &Path, dir: &str, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.join(dir)];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                stack.push(p);
            } else if keep(&name) && !name.starts_with("._") {
                // Always under `root` unless `dir` is absolute; such a file keeps its full path.
                let rel = p.strip_prefix(root).unwrap_or(&p);
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

/// Which entries of a folder [`list_dir`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entries {
    All,
    Files,
    Dirs,
}

/// The names of the entries of `dir` (not recursive), sorted. Entries that cannot be read are passed
/// over; the error is the folder's own (missing, not a folder, no permission).
pub fn list_dir(dir: &Path, which: Entries) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .flatten()
        .filter(|e| match which {
            Entries::All => true,
            Entries::Files => e.path().is_file(),
            Entries::Dirs => e.path().is_dir(),
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_recursively_sorted_without_litter() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in ["b/2.WAV", "b/1.wav", "a.wav", "b/._1.wav", "c/notes.txt"] {
            std::fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
            std::fs::write(root.join(f), b"").unwrap();
        }
        assert_eq!(find_files(root, "", ".wav"), ["a.wav", "b/1.wav", "b/2.WAV"]);
        assert_eq!(find_files(root, "b", ".wav"), ["b/1.wav", "b/2.WAV"]);
        assert!(find_files(root, "missing", ".wav").is_empty());
        assert_eq!(list_dir(root, Entries::All).unwrap(), ["a.wav", "b", "c"]);
        assert_eq!(list_dir(root, Entries::Files).unwrap(), ["a.wav"]);
        assert_eq!(list_dir(root, Entries::Dirs).unwrap(), ["b", "c"]);
        assert!(list_dir(&root.join("missing"), Entries::All).is_err());
    }
}
