//! Parquet in and out (arrow-rs), for every table sertool writes: manifests, recipes, features,
//! predictions. Small helpers so stage code reads as "these columns", not as builder plumbing.

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use arrow_array::builder::{FixedSizeListBuilder, Float32Builder};
use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, Float64Array, Int64Array, RecordBatch, RecordBatchReader,
    StringArray, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
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

    pub fn batch(self) -> anyhow::Result<RecordBatch> {
        Ok(RecordBatch::try_new(Arc::new(Schema::new(self.fields)), self.arrays)?)
    }
}

/// Write one batch as a zstd-compressed Parquet file, with key/value metadata.
pub fn write_parquet(path: &Path, batch: &RecordBatch, metadata: &[(&str, String)]) -> anyhow::Result<()> {
    let kv = metadata.iter().map(|(k, v)| parquet::file::metadata::KeyValue::new(k.to_string(), v.clone())).collect();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_key_value_metadata(Some(kv))
        .build();
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props))?;
    w.write(batch)?;
    w.close()?;
    Ok(())
}

/// Read a whole Parquet file into one batch.
pub fn read_parquet(path: &Path) -> anyhow::Result<RecordBatch> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{}: not a Parquet file", path.display()))?
        .build()?;
    let schema = reader.schema();
    let batches: Vec<RecordBatch> =
        reader.collect::<Result<_, _>>().with_context(|| format!("reading {}", path.display()))?;
    Ok(arrow_select::concat::concat_batches(&schema, &batches)?)
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

pub fn i64s(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<i64>> {
    Ok(column::<Int64Array>(batch, name)?.values().to_vec())
}

pub fn vectors(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<Vec<f32>>> {
    let a = column::<FixedSizeListArray>(batch, name)?;
    let dim = a.value_length() as usize;
    let values = a
        .values()
        .as_any()
        .downcast_ref::<Float32Array>()
        .ok_or_else(|| anyhow!("column \"{name}\" does not hold f32 values"))?;
    let v = values.values();
    Ok((0..a.len()).map(|i| v[i * dim..(i + 1) * dim].to_vec()).collect())
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
}
