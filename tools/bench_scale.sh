#!/usr/bin/env bash
# Memory and no-op time at MSP-Podcast scale (docs/benchmarks.md, "Flat memory at scale").
# For N label rows (default: 20000 and 200000): an MSP-Podcast release with tiny audio
# (`synth --msp-rows N`), then two pipelines, each run cold and then again with nothing to do,
# under /usr/bin/time (wall s, peak RSS):
#   logmel:   ingest, a MUSAN-layout noise at 2 SNRs, log-mel statistics, one MLP;
#   imported: 1024-d embeddings for every row (an .npy + ids file, 4 KB a row), one MLP.
# Usage: tools/bench_scale.sh [ROWS...]   (run from the repository root after `cargo build --release`)
# Needs numpy (tools/.venv, see tools/librosa_reference.py) to write the embeddings.
set -euo pipefail
B="$(pwd)/target/release/sertool"
PY="$(pwd)/tools/.venv/bin/python"
WORK="${BENCH_DIR:-$(mktemp -d)}"
ROWS=("${@:-20000 200000}")
cd "$WORK"
"$B" synth data/synth --actors 3 >/dev/null
for N in ${ROWS[@]}; do
  rm -rf "n$N" && mkdir -p "n$N/pipelines" && cd "n$N"
  "$B" synth data --msp-rows "$N" >/dev/null
  ln -s "$WORK/data/synth" data/synth
  "$PY" - "$N" <<'PY'
import sys, numpy as np
n = int(sys.argv[1])
ids = [f"msp/MSP-PODCAST_{i // 1000:04d}_{i % 1000:04d}" for i in range(n)]
open("data/ids.txt", "w").write("\n".join(ids) + "\n")
rng = np.random.default_rng(0)
m = np.lib.format.open_memmap("data/emb.npy", mode="w+", dtype="<f4", shape=(n, 1024))
for s in range(0, n, 10000):
    m[s:s + 10000] = rng.standard_normal((min(10000, n - s), 1024), dtype=np.float32)
m.flush()
PY
  common='[pipeline]
name = "scale"
shards = 16

[labels]
classes = ["neutral", "happy", "angry", "sad"]

[corpora.msp]
kind = "msp_podcast"
root = "../data/msp_podcast_large"

[models.mlp]
kind = "mlp"
hidden = [16]
epochs = 1

[[experiments]]
name = "in_msp"
train = ["msp"]
test = ["msp"]
'
  printf '%s\n[noise.n]\nkind = "musan"\nroot = "../data/synth/musan"\nsubsets = ["noise"]\n\n[mix]\nsnr_db = [10, 0]\n\n[features]\nkind = "logmel_stats"\nn_mels = 16\n' "$common" > pipelines/logmel.toml
  printf '%s\n[mix]\nsnr_db = []\n\n[features]\nkind = "imported"\npath = "../data/emb.npy"\nids = "../data/ids.txt"\n' "$common" > pipelines/imported.toml
  for p in logmel imported; do
    rm -rf cache
    /usr/bin/time -f "$N rows, $p, cold run: %e s, peak RSS %M KB" "$B" run "pipelines/$p.toml" -q >/dev/null
    /usr/bin/time -f "$N rows, $p, no-op run: %e s, peak RSS %M KB" "$B" run "pipelines/$p.toml" -q >/dev/null
  done
  cd "$WORK"
done
