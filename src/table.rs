//! Parquet in and out (arrow-rs), for every table sertool writes: manifests, recipes, features,
//! predictions. Small helpers so stage code reads as "these columns", not as builder plumbing.

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use arrow_array::builder::{FixedSizeListBuilder, Float32Builder, ListBuilder};
use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, Float64Array, Int64Array, ListArray, RecordBatch,
    RecordBatchReader, StringArray, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// Columns under construction, in order.
#[derive(Default)]
pub struct Columns {
    fields: Vec<Field>,
    arrays: Vec<ArrayRef>,
}

impl Columns {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn strings<S: AsRef<str>>(mut self, name: &str, values: impl IntoIterator<Item = S>) -> Self {
        let a = StringArray::from_iter_values(values);
        self.fields.push(Field::new(name, DataType::Utf8, false));
        self.arrays.push(Arc::new(a));
        self
    }

    pub fn opt_strings(mut self, name: &str, values: impl IntoIterator<Item = Option<String>>) -> Self {
        let a: StringArray = values.into_iter().collect();
        self.fields.push(Field::new(name, DataType::Utf8, true));
        self.arrays.push(Arc::new(a));
        self
    }

    pub fn opt_f64s(mut self, name: &str, values: impl IntoIterator<Item = Option<f64>>) -> Self {
        let a: Float64Array = values.into_iter().collect();
        self.fields.push(Field::new(name, DataType::Float64, true));
        self.arrays.push(Arc::new(a));
        self
    }

    pub fn opt_u32s(mut self, name: &str, values: impl IntoIterator<Item = Option<u32>>) -> Self {
        let a: UInt32Array = values.into_iter().collect();
        self.fields.push(Field::new(name, DataType::UInt32, true));
        self.arrays.push(Arc::new(a));
        self
    }

    pub fn f64s(mut self, name: &str, values: impl IntoIterator<Item = f64>) -> Self {
        self.fields.push(Field::new(name, DataType::Float64, false));
        self.arrays.push(Arc::new(Float64Array::from_iter_values(values)));
        self
    }

    pub fn i64s(mut self, name: &str, values: impl IntoIterator<Item = i64>) -> Self {
        self.fields.push(Field::new(name, DataType::Int64, false));
        self.arrays.push(Arc::new(Int64Array::from_iter_values(values)));
        self
    }

    pub fn u32s(mut self, name: &str, values: impl IntoIterator<Item = u32>) -> Self {
        self.fields.push(Field::new(name, DataType::UInt32, false));
        self.arrays.push(Arc::new(UInt32Array::from_iter_values(values)));
        self
    }

    /// A FixedSizeList<f32> column of `dim` values per row.
    pub fn vectors(mut self, name: &str, dim: usize, rows: &[Vec<f32>]) -> Self {
        let mut b = FixedSizeListBuilder::with_capacity(
            Float32Builder::with_capacity(rows.len() * dim),
            dim as i32,
            rows.len(),
        );
        for r in rows {
            assert_eq!(r.len(), dim, "vector length must equal the column's dimension");
            b.values().append_slice(r);
            b.append(true);
        }
        let a = b.finish();
        self.fields.push(Field::new(name, a.data_type().clone(), false));
        self.arrays.push(Arc::new(a));
        self
    }

    /// A List<FixedSizeList<f32>> column: per row, a sequence of `dim`-value frames (frame-level features).
    pub fn sequences(mut self, name: &str, dim: usize, rows: &[Vec<Vec<f32>>]) -> Self {
        let inner = FixedSizeListBuilder::new(Float32Builder::new(), dim as i32);
        let mut b = ListBuilder::with_capacity(inner, rows.len());
        for seq in rows {
            for frame in seq {
                assert_eq!(frame.len(), dim, "frame length must equal the column's dimension");
                b.values().values().append_slice(frame);
                b.values().append(true);
            }
            b.append(true);
        }
        let a = b.finish();
        self.fields.push(Field::new(name, a.data_type().clone(), false));
        self.arrays.push(Arc::new(a));
        self
    }

    pub fn batch(self) -> anyhow::Result<RecordBatch> {
        Ok(RecordBatch::try_new(Arc::new(Schema::new(self.fields)), self.arrays)?)
    }
}

/// A Parquet file written batch by batch (one row group each), so a stage's memory is bounded by a batch,
/// not by its whole output. The caller writes into its stage's tmp/ folder; the cache commits by rename.
pub struct ParquetSink {
    writer: ArrowWriter<std::fs::File>,
}

impl ParquetSink {
    pub fn create(path: &Path, schema: SchemaRef, metadata: &[(&str, String)]) -> anyhow::Result<ParquetSink> {
        let kv =
            metadata.iter().map(|(k, v)| parquet::file::metadata::KeyValue::new(k.to_string(), v.clone())).collect();
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
            .set_key_value_metadata(Some(kv))
            .build();
        let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(ParquetSink { writer: ArrowWriter::try_new(file, schema, Some(props))? })
    }

    /// Write a batch and flush it as its own row group.
    pub fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        self.writer.write(batch)?;
        self.writer.flush()?;
        Ok(())
    }

    pub fn close(self) -> anyhow::Result<()> {
        self.writer.close()?;
        Ok(())
    }
}

/// Write one batch as a zstd-compressed Parquet file, with key/value metadata.
pub fn write_parquet(path: &Path, batch: &RecordBatch, metadata: &[(&str, String)]) -> anyhow::Result<()> {
    let mut sink = ParquetSink::create(path, batch.schema(), metadata)?;
    sink.write(batch)?;
    sink.close()
}

/// Read a whole Parquet file into one batch.
pub fn read_parquet(path: &Path) -> anyhow::Result<RecordBatch> {
    read_parquet_columns(path, None)
}

/// Read only the named columns (Parquet projection: the others are never decoded), or all with `None`.
pub fn read_parquet_columns(path: &Path, columns: Option<&[&str]>) -> anyhow::Result<RecordBatch> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{}: not a Parquet file", path.display()))?;
    if let Some(names) = columns {
        let available: Vec<&str> = builder.schema().fields().iter().map(|f| f.name().as_str()).collect();
        if let Some(missing) = names.iter().find(|n| !available.contains(n)) {
            anyhow::bail!("{}: no column \"{missing}\" (columns: {})", path.display(), available.join(", "));
        }
        let mask = ProjectionMask::columns(builder.parquet_schema(), names.iter().copied());
        builder = builder.with_projection(mask);
    }
    let reader = builder.build()?;
    let schema = reader.schema();
    let batches: Vec<RecordBatch> =
        reader.collect::<Result<_, _>>().with_context(|| format!("reading {}", path.display()))?;
    Ok(arrow_select::concat::concat_batches(&schema, &batches)?)
}

/// Only the rows at `rows` (sorted indices) of the named columns: Parquet row selection, so pages that
/// hold none of them are skipped and the rest is never materialised.
pub fn read_parquet_rows(path: &Path, columns: &[&str], rows: &[usize]) -> anyhow::Result<RecordBatch> {
    use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{}: not a Parquet file", path.display()))?;
    let available: Vec<&str> = builder.schema().fields().iter().map(|f| f.name().as_str()).collect();
    if let Some(missing) = columns.iter().find(|n| !available.contains(n)) {
        anyhow::bail!("{}: no column \"{missing}\" (columns: {})", path.display(), available.join(", "));
    }
    let total = builder.metadata().file_metadata().num_rows() as usize;
    let mut selectors = Vec::new();
    let mut at = 0;
    for &r in rows {
        anyhow::ensure!(r >= at && r < total, "{}: row {r} out of order or past {total} rows", path.display());
        if r > at {
            selectors.push(RowSelector::skip(r - at));
        }
        selectors.push(RowSelector::select(1));
        at = r + 1;
    }
    if total > at {
        selectors.push(RowSelector::skip(total - at));
    }
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    let reader = builder.with_projection(mask).with_row_selection(RowSelection::from(selectors)).build()?;
    let schema = reader.schema();
    let batches: Vec<RecordBatch> =
        reader.collect::<Result<_, _>>().with_context(|| format!("reading {}", path.display()))?;
    Ok(arrow_select::concat::concat_batches(&schema, &batches)?)
}

/// The column names of a Parquet file (its schema only; no data is read).
pub fn parquet_column_names(path: &Path) -> anyhow::Result<Vec<String>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{}: not a Parquet file", path.display()))?;
    Ok(builder.schema().fields().iter().map(|f| f.name().clone()).collect())
}

/// The key/value metadata of a Parquet file.
pub fn parquet_metadata(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{}: not a Parquet file", path.display()))?;
    let kv = builder.metadata().file_metadata().key_value_metadata().cloned().unwrap_or_default();
    Ok(kv.into_iter().map(|k| (k.key, k.value.unwrap_or_default())).collect())
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> anyhow::Result<&'a T> {
    batch
        .column_by_name(name)
        .ok_or_else(|| anyhow!("missing column \"{name}\""))?
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| anyhow!("column \"{name}\" has an unexpected type"))
}

pub fn strings(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<String>> {
    let a = column::<StringArray>(batch, name)?;
    Ok((0..a.len()).map(|i| a.value(i).to_string()).collect())
}

pub fn opt_strings(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<Option<String>>> {
    let a = column::<StringArray>(batch, name)?;
    Ok((0..a.len()).map(|i| if a.is_null(i) { None } else { Some(a.value(i).to_string()) }).collect())
}

pub fn f64s(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<f64>> {
    Ok(column::<Float64Array>(batch, name)?.values().to_vec())
}

pub fn u32s(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<u32>> {
    Ok(column::<arrow_array::UInt32Array>(batch, name)?.values().to_vec())
}

pub fn i64s(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<i64>> {
    Ok(column::<Int64Array>(batch, name)?.values().to_vec())
}

pub fn vectors(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<Vec<f32>>> {
    vectors_of(column::<FixedSizeListArray>(batch, name)?, name)
}

fn vectors_of(a: &FixedSizeListArray, name: &str) -> anyhow::Result<Vec<Vec<f32>>> {
    let dim = a.value_length() as usize;
    let values = a
        .values()
        .as_any()
        .downcast_ref::<Float32Array>()
        .ok_or_else(|| anyhow!("column \"{name}\" does not hold f32 values"))?;
    let v = values.values();
    Ok((0..a.len()).map(|i| v[i * dim..(i + 1) * dim].to_vec()).collect())
}

/// A List<FixedSizeList<f32>> column as per-row frame sequences.
pub fn sequences(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<Vec<Vec<f32>>>> {
    let a = column::<ListArray>(batch, name)?;
    (0..a.len())
        .map(|i| {
            let row = a.value(i);
            let frames = row
                .as_any()
                .downcast_ref::<FixedSizeListArray>()
                .ok_or_else(|| anyhow!("column \"{name}\" is not a list of fixed-size lists"))?;
            vectors_of(frames, name)
        })
        .collect()
}

/// Rows of a numeric vector column of any of the layouts other tools write: FixedSizeList or List of f32 or
/// f64. `None` for a null row; rows may differ in length (the caller checks).
pub fn float_rows(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<Option<Vec<f32>>>> {
    let a = batch.column_by_name(name).ok_or_else(|| anyhow!("missing column \"{name}\""))?;
    let row = |i: usize| -> anyhow::Result<Option<Vec<f32>>> {
        if a.is_null(i) {
            return Ok(None);
        }
        let values: ArrayRef = if let Some(l) = a.as_any().downcast_ref::<FixedSizeListArray>() {
            l.value(i)
        } else if let Some(l) = a.as_any().downcast_ref::<ListArray>() {
            l.value(i)
        } else {
            anyhow::bail!("column \"{name}\" is {}, expected a list of floats", a.data_type());
        };
        if let Some(v) = values.as_any().downcast_ref::<Float32Array>() {
            Ok(Some(v.values().to_vec()))
        } else if let Some(v) = values.as_any().downcast_ref::<Float64Array>() {
            Ok(Some(v.values().iter().map(|&x| x as f32).collect()))
        } else {
            anyhow::bail!("column \"{name}\" holds {}, expected float32 or float64", values.data_type())
        }
    };
    (0..a.len()).map(row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parquet_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.parquet");
        let b = Columns::new()
            .strings("id", ["a", "b"])
            .opt_strings("label", [Some("x".to_string()), None])
            .f64s("v", [1.5, 2.5])
            .vectors("f", 3, &[vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]])
            .batch()
            .unwrap();
        write_parquet(&p, &b, &[("sertool.test", "1".into())]).unwrap();
        let r = read_parquet(&p).unwrap();
        assert_eq!(strings(&r, "id").unwrap(), vec!["a", "b"]);
        assert_eq!(opt_strings(&r, "label").unwrap(), vec![Some("x".into()), None]);
        assert_eq!(f64s(&r, "v").unwrap(), vec![1.5, 2.5]);
        assert_eq!(vectors(&r, "f").unwrap()[1], vec![4.0, 5.0, 6.0]);
        assert!(strings(&r, "nope").is_err());
    }

    #[test]
    fn sequences_roundtrip_with_projection() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.parquet");
        let seqs = vec![vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]], vec![], vec![vec![7.0, 8.0]]];
        let b = Columns::new().strings("id", ["a", "b", "c"]).sequences("frames", 2, &seqs).batch().unwrap();
        write_parquet(&p, &b, &[]).unwrap();
        let r = read_parquet_columns(&p, Some(&["frames"])).unwrap();
        assert_eq!(r.num_columns(), 1);
        assert_eq!(sequences(&r, "frames").unwrap(), seqs);
        assert!(read_parquet_columns(&p, Some(&["nope"])).unwrap_err().to_string().contains("no column \"nope\""));
    }
}
