//! Imported embeddings: per-utterance vectors computed outside sertool (WavLM, HuBERT, … in Python), read
//! from Parquet or from an NPY matrix plus an ids file, and joined to the manifest by utterance id and
//! condition. This is how SSL features enter a pipeline without sertool running Python.
//!
//! Parquet: a string column `id`, an optional string column `condition` (absent: every row is "clean"),
//! and a vector column (FixedSizeList or List of float32/float64). NPY: a 2-D float32/float64 C-order
//! matrix; the ids file has one line per row, `id` or `id<TAB>condition`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context};

use crate::table;

/// The resolved files of `[features] kind = "imported"` (paths made absolute by the config module).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ImportedFeatures {
    pub file: std::path::PathBuf,
    pub ids: Option<std::path::PathBuf>,
    pub column: String,
}

/// Validated rows of an imported file: every row has `dim` finite values and (id, condition) is unique.
pub struct Embeddings {
    pub dim: usize,
    rows: HashMap<(String, String), Vec<f32>>,
    samples: Vec<(String, String)>,
}

impl Embeddings {
    /// Every row of the file.
    pub fn load(src: &ImportedFeatures) -> anyhow::Result<Embeddings> {
        Self::load_where(src, |_| true)
    }

    /// Only the rows `keep` selects: the keys (id, condition) are read for the whole file, the vectors
    /// only for the selected rows (Parquet row selection, NPY seeks), so a feature stage holds its
    /// shard's vectors, never the whole file.
    pub fn load_where(src: &ImportedFeatures, keep: impl Fn(&(String, String)) -> bool) -> anyhow::Result<Embeddings> {
        let file = &src.file;
        let npy = src.ids.as_ref().filter(|_| file.extension().is_some_and(|e| e == "npy"));
        let keys = match npy {
            Some(ids) => {
                let (n, _) = npy_shape(file)?;
                let keys = read_ids(ids)?;
                if keys.len() != n {
                    bail!("{}: {} id line(s), but {} has {n} row(s)", ids.display(), keys.len(), file.display());
                }
                keys
            }
            None => read_parquet_keys(file)?,
        };
        let at = |i: usize, key: &(String, String)| {
            format!("{}: row {i} (id \"{}\", condition \"{}\")", file.display(), key.0, key.1)
        };
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            if !seen.insert(key) {
                bail!("{} repeats an (id, condition) pair seen on an earlier row", at(i, key));
            }
        }
        drop(seen);
        let selected: Vec<usize> = (0..keys.len()).filter(|&i| keep(&keys[i])).collect();
        let vectors = match npy {
            Some(_) => {
                let (_, d, values) = read_npy_rows(file, &selected)?;
                values.chunks_exact(d.max(1)).map(|v| Some(v.to_vec())).collect()
            }
            None => {
                let b = table::read_parquet_rows(file, &[src.column.as_str()], &selected)?;
                table::float_rows(&b, &src.column).with_context(|| format!("{}", file.display()))?
            }
        };
        // What an id-format mismatch error shows; only a stage that selected nothing needs it.
        let samples = if selected.is_empty() {
            let mut sorted: Vec<&(String, String)> = keys.iter().collect();
            sorted.sort();
            sorted.into_iter().take(2).cloned().collect()
        } else {
            Vec::new()
        };
        let mut rows = HashMap::with_capacity(selected.len());
        let mut dim = None;
        for (&i, v) in selected.iter().zip(vectors) {
            let key = &keys[i];
            let Some(v) = v else { bail!("{} has a null vector", at(i, key)) };
            let d = *dim.get_or_insert(v.len());
            if v.len() != d || d == 0 {
                bail!(
                    "{} has {} value(s); the first row has {d} (every row needs the same dimension)",
                    at(i, key),
                    v.len()
                );
            }
            if let Some(j) = v.iter().position(|x| !x.is_finite()) {
                bail!("{}: value {j} is {} (expected a finite number)", at(i, key), v[j]);
            }
            rows.insert(key.clone(), v);
        }
        if keys.is_empty() {
            bail!("{}: no rows", file.display());
        }
        Ok(Embeddings { dim: dim.unwrap_or(0), rows, samples })
    }

    /// The first keys of the file (sorted), kept only when nothing was selected: what an id-format
    /// mismatch error shows.
    pub fn sample_keys(&self, n: usize) -> Vec<(String, String)> {
        self.samples.iter().take(n).cloned().collect()
    }

    pub fn get(&self, id: &str, condition: &str) -> Option<&[f32]> {
        self.rows.get(&(id.to_string(), condition.to_string())).map(|v| v.as_slice())
    }
}

/// (id, condition) of every row; "clean" where the file has no condition column.
fn read_parquet_keys(file: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let names = table::parquet_column_names(file)?;
    let with_condition = names.iter().any(|n| n == "condition");
    let wanted: &[&str] = if with_condition { &["id", "condition"] } else { &["id"] };
    let b = table::read_parquet_columns(file, Some(wanted))?;
    let ids = table::strings(&b, "id").with_context(|| format!("{}: column \"id\"", file.display()))?;
    let conditions = if with_condition {
        table::strings(&b, "condition").with_context(|| format!("{}: column \"condition\"", file.display()))?
    } else {
        vec!["clean".to_string(); ids.len()]
    };
    Ok(ids.into_iter().zip(conditions).collect())
}

fn read_ids(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let mut parts = line.trim_end_matches('\r').split('\t');
            let id = parts.next().unwrap_or_default();
            let condition = parts.next().unwrap_or("clean");
            if id.is_empty() || parts.next().is_some() {
                bail!("{}:{}: expected `id` or `id<TAB>condition`, got {line:?}", path.display(), i + 1);
            }
            Ok((id.to_string(), condition.to_string()))
        })
        .collect()
}

/// A 2-D little-endian float32/float64 C-order NPY matrix: (rows, columns, values as f32).
/// The rows `selected` (sorted row indices) of an NPY float matrix, read by seeking, as one flat
/// vector; with the matrix's (rows, dimension).
pub fn read_npy_rows(path: &Path, selected: &[usize]) -> anyhow::Result<(usize, usize, Vec<f32>)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let size = f.metadata()?.len();
    let mut head = Vec::new();
    (&mut f).take(1 << 16).read_to_end(&mut head)?;
    let (n, d, width, offset) = npy_header(&head, size, path)?;
    let mut out = Vec::with_capacity(selected.len() * d);
    let mut row = vec![0u8; d * width];
    for &i in selected {
        anyhow::ensure!(i < n, "{}: row {i} of {n}", path.display());
        f.seek(SeekFrom::Start(offset + (i * d * width) as u64))?;
        f.read_exact(&mut row).with_context(|| format!("{}: reading row {i}", path.display()))?;
        if width == 4 {
            out.extend(row.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        } else {
            out.extend(row.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8-byte chunk")) as f32));
        }
    }
    Ok((n, d, out))
}

/// An NPY matrix's (rows, dimension), from its header.
pub fn npy_shape(path: &Path) -> anyhow::Result<(usize, usize)> {
    read_npy_rows(path, &[]).map(|(n, d, _)| (n, d))
}

/// An NPY file's (rows, dimension, bytes per value, offset of the data), checked against its size.
fn npy_header(bytes: &[u8], size: u64, path: &Path) -> anyhow::Result<(usize, usize, usize, u64)> {
    let bad = |what: &str| anyhow::anyhow!("{}: not a usable NPY file: {what}", path.display());
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing the \\x93NUMPY magic"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(bad(&format!("format version {v}"))),
    };
    let header = bytes.get(start..start + header_len).ok_or_else(|| bad("truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text"))?;
    let field = |key: &str| -> Option<&str> {
        let at = header.find(&format!("'{key}'"))? + key.len() + 2;
        Some(header[at..].trim_start().strip_prefix(':')?.trim_start())
    };
    let descr = field("descr").and_then(|v| v.split('\'').nth(1)).ok_or_else(|| bad("no descr"))?;
    let width = match descr {
        "<f4" => 4,
        "<f8" => 8,
        other => return Err(bad(&format!("dtype {other} (expected little-endian float32 <f4 or float64 <f8)"))),
    };
    if !field("fortran_order").is_some_and(|v| v.starts_with("False")) {
        return Err(bad("Fortran order (save with np.ascontiguousarray)"));
    }
    let shape = field("shape")
        .and_then(|v| v.strip_prefix('('))
        .and_then(|v| v.split(')').next())
        .ok_or_else(|| bad("no shape"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("unreadable shape"))?;
    let [n, d] = dims[..] else {
        return Err(bad(&format!("shape ({shape}) (expected a 2-D matrix: rows × dimension)")));
    };
    let offset = (start + header_len) as u64;
    let data = size.saturating_sub(offset);
    if data != (n * d * width) as u64 {
        return Err(bad(&format!("{data} data bytes for shape ({n}, {d}) of {descr}")));
    }
    Ok((n, d, width, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An NPY v1 file as numpy writes it.
    pub fn npy_bytes(n: usize, d: usize, values: &[f32]) -> Vec<u8> {
        let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, {d}), }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        values.iter().for_each(|v| out.extend(v.to_le_bytes()));
        out
    }

    #[test]
    fn npy_with_ids_joins_by_id_and_condition() {
        let dir = tempfile::tempdir().unwrap();
        let (npy, ids) = (dir.path().join("e.npy"), dir.path().join("ids.txt"));
        std::fs::write(&npy, npy_bytes(3, 2, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])).unwrap();
        std::fs::write(&ids, "a\nb\na\tnoise.snr5\n").unwrap();
        let src = ImportedFeatures { file: npy.clone(), ids: Some(ids.clone()), column: "embedding".into() };
        let e = Embeddings::load(&src).unwrap();
        assert_eq!(e.dim, 2);
        assert_eq!(e.get("a", "clean"), Some(&[1.0, 2.0][..]));
        assert_eq!(e.get("a", "noise.snr5"), Some(&[5.0, 6.0][..]));
        assert_eq!(e.get("b", "noise.snr5"), None);

        std::fs::write(&ids, "a\nb\n").unwrap();
        let err = Embeddings::load(&src).err().unwrap().to_string();
        assert!(err.contains("2 id line(s), but") && err.contains("3 row(s)"), "{err}");
        std::fs::write(&ids, "a\nb\nb\n").unwrap();
        let err = Embeddings::load(&src).err().unwrap().to_string();
        assert!(err.contains("row 2 (id \"b\", condition \"clean\") repeats"), "{err}");
        std::fs::write(&npy, b"not numpy").unwrap();
        assert!(Embeddings::load(&src).err().unwrap().to_string().contains("not a usable NPY file"));
    }

    #[test]
    fn parquet_list_rows_of_unequal_length_are_an_error() {
        use arrow_array::builder::{Float64Builder, ListBuilder};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.parquet");
        // A List<f64> column, as pandas writes a column of numpy arrays.
        let write = |rows: &[&[f64]]| {
            let mut b = ListBuilder::new(Float64Builder::new());
            for r in rows {
                b.values().append_slice(r);
                b.append(true);
            }
            let ids = arrow_array::StringArray::from_iter_values(["a", "b"]);
            let batch = arrow_array::RecordBatch::try_from_iter([
                ("id", Arc::new(ids) as arrow_array::ArrayRef),
                ("embedding", Arc::new(b.finish()) as arrow_array::ArrayRef),
            ])
            .unwrap();
            table::write_parquet(&p, &batch, &[]).unwrap();
        };
        let src = ImportedFeatures { file: p.clone(), ids: None, column: "embedding".into() };
        write(&[&[1.0, 2.0], &[3.0, 4.0]]);
        assert_eq!(Embeddings::load(&src).unwrap().get("b", "clean"), Some(&[3.0, 4.0][..]));
        write(&[&[1.0, 2.0], &[3.0, 4.0, 5.0]]);
        let err = Embeddings::load(&src).err().unwrap().to_string();
        assert!(err.contains("row 1 (id \"b\", condition \"clean\") has 3 value(s); the first row has 2"), "{err}");
        let wrong = ImportedFeatures { column: "wavlm".into(), ..src };
        assert!(Embeddings::load(&wrong).err().unwrap().to_string().contains("no column \"wavlm\""));
    }
}
