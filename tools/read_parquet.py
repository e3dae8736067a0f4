"""Open sertool's Parquet files with pandas, pyarrow and polars: the manifests, a feature shard, mix
recipes and predictions of a finished run, and print their shapes. Shows that the files are plain
Parquet the Python ecosystem reads without sertool.

    tools/.venv/bin/pip install pandas pyarrow polars
    tools/.venv/bin/python tools/read_parquet.py            # in the folder where `sertool run` ran
"""

import glob
import json

import pandas as pd
import polars as pl
import pyarrow.parquet as pq


def first(pattern):
    files = sorted(glob.glob(pattern, recursive=True))
    if not files:
        raise SystemExit(f"no file matches {pattern}: run the demo first")
    return files[0]


def main():
    found = {
        "manifest": first("manifests/*.parquet"),
        "features": first("cache/features/*/features.parquet"),
        "recipes": first("cache/mix/*/recipes.parquet"),
        "predictions": first("cache/eval/*/predictions.parquet"),
    }
    out = {}
    for name, path in found.items():
        table = pq.read_table(path)
        frame = pd.read_parquet(path)
        polars = pl.read_parquet(path)
        assert table.num_rows == len(frame) == polars.height
        kv = pq.ParquetFile(path).metadata.metadata or {}
        meta = {k.decode(): v.decode()[:60] for k, v in kv.items() if k.decode().startswith("sertool")}
        out[name] = {"path": path, "rows": table.num_rows, "columns": table.column_names, "sertool_metadata": meta}
    feats = pl.read_parquet(found["features"])
    out["features"]["vector_length"] = len(feats["features"][0])
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
