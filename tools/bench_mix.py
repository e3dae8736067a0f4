"""The Python path a user would otherwise take for decode + resample + mix, on the same files as
`sertool bench mix`: soundfile to decode, librosa.resample (soxr_hq, its default) to 16 kHz, and the same
whole-utterance SNR formula in numpy. Prints audio hours per CPU-second (process time, one process).

    python3 -m venv tools/.venv && tools/.venv/bin/pip install numpy soundfile librosa
    tools/.venv/bin/python tools/bench_mix.py data/synth/cremad_b/AudioWAV data/synth/musan/noise
"""

import json
import pathlib
import sys
import time

import librosa
import numpy as np
import soundfile as sf

RATE = 16_000
SNR_DB = 5.0


def load(path):
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != RATE:
        x = librosa.resample(x, orig_sr=sr, target_sr=RATE)
    return x


def main(speech_dir, noise_dir):
    speech = sorted(pathlib.Path(speech_dir).rglob("*.wav"))
    noises = [load(p) for p in sorted(pathlib.Path(noise_dir).rglob("*.wav"))]
    rng = np.random.default_rng(1)
    load(speech[0])  # warm-up: first-call imports and caches
    start = time.process_time()
    samples = 0
    for p in speech:
        x = load(p).astype(np.float64)
        if len(x) == 0:
            continue
        n = noises[rng.integers(len(noises))].astype(np.float64)
        if len(n) > len(x):
            off = rng.integers(len(n) - len(x) + 1)
            seg = n[off : off + len(x)]
        else:
            seg = np.resize(n, len(x))
        ps, pn = np.mean(x**2), np.mean(seg**2)
        if ps < 1e-10 or pn < 1e-10:
            continue
        gain = np.sqrt(ps / (pn * 10 ** (SNR_DB / 10)))
        y = x + gain * seg
        peak = np.max(np.abs(y))
        if peak > 0.999:
            y *= 0.999 / peak
        samples += len(y.astype(np.float32))
    cpu = time.process_time() - start
    hours = samples / RATE / 3600
    print(json.dumps({"files": len(speech), "audio_hours": hours, "cpu_s": cpu, "audio_hours_per_cpu_s": hours / cpu}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
