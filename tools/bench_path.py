"""The whole per-utterance path in Python, on the same files as `sertool bench path`: soundfile to decode,
librosa.resample (soxr_hq) to 16 kHz, the same whole-utterance 5 dB mix formula in numpy, then librosa's
STFT / melspectrogram / power_to_db / MFCC / zero-crossing rate / spectral centroid and roll-off / YIN
(60-500 Hz, 10 ms hop) and numpy statistics (mean, std, 10/50/90th percentiles, min, max, slope): the
functionals set sertool computes. One process, one thread; CPU time after a warm-up call (librosa's first
calls pay numba's compilation). `--processes 2` runs two worker processes to measure scaling.

    python3 -m venv tools/.venv && tools/.venv/bin/pip install numpy soundfile librosa
    tools/.venv/bin/python tools/bench_path.py data/synth/cremad_a/AudioWAV data/synth/cremad_b/AudioWAV \
        --noise data/synth/musan/noise [--processes 2]
"""

import argparse
import json
import os
import pathlib
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "1")
import librosa  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

RATE = 16_000
SNR_DB = 5.0
N_FFT, WIN, HOP = 512, 400, 160


def load(path):
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != RATE:
        x = librosa.resample(x, orig_sr=sr, target_sr=RATE)
    return x


def mix(x, noise, rng):
    if x is None or len(x) == 0:
        return None
    x = x.astype(np.float64)
    n = noise.astype(np.float64)
    if len(n) > len(x):
        off = rng.integers(len(n) - len(x) + 1)
        seg = n[off : off + len(x)]
    else:
        seg = np.resize(n, len(x))
    ps, pn = np.mean(x**2), np.mean(seg**2)
    if ps < 1e-10 or pn < 1e-10:
        return None
    y = x + np.sqrt(ps / (pn * 10 ** (SNR_DB / 10))) * seg
    peak = np.max(np.abs(y))
    if peak > 0.999:
        y *= 0.999 / peak
    return y.astype(np.float32)


def functionals(tracks):
    """8 statistics per row of a (descriptors x frames) matrix."""
    t = np.arange(tracks.shape[1], dtype=np.float64)
    tc = t - t.mean()
    slope = (tracks - tracks.mean(axis=1, keepdims=True)) @ tc / max(np.sum(tc**2), 1e-12)
    p10, p50, p90 = np.percentile(tracks, [10, 50, 90], axis=1)
    return np.stack([tracks.mean(1), tracks.std(1), p10, p50, p90, tracks.min(1), tracks.max(1), slope], axis=1)


def features(y):
    power = np.abs(librosa.stft(y, n_fft=N_FFT, win_length=WIN, hop_length=HOP, center=True, pad_mode="constant")) ** 2
    logmel = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=RATE, n_mels=64), amin=1e-10, top_db=None)
    mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=13)
    dmfcc = np.gradient(mfcc, axis=1) if mfcc.shape[1] > 1 else np.zeros_like(mfcc)
    mag = np.sqrt(power)
    energy = 10 * np.log10(np.maximum(power.mean(axis=0), 1e-10))
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=WIN, hop_length=HOP)[0]
    centroid = librosa.feature.spectral_centroid(S=power, sr=RATE, n_fft=N_FFT)[0]
    rolloff = librosa.feature.spectral_rolloff(S=power, sr=RATE, n_fft=N_FFT, roll_percent=0.85)[0]
    norm = mag / np.maximum(np.linalg.norm(mag, axis=0, keepdims=True), 1e-12)
    flux = np.concatenate([[0.0], np.linalg.norm(np.diff(norm, axis=1), axis=0)])
    f0 = librosa.yin(y, fmin=60, fmax=500, sr=RATE, frame_length=2 * int(np.ceil(RATE / 60)), hop_length=HOP)
    voiced = f0[f0 < 499]
    semitones = 12 * np.log2(voiced / 440) if len(voiced) else np.zeros(1)
    lld = np.stack([energy, zcr[: len(energy)], centroid, rolloff, flux])
    return np.concatenate([
        functionals(logmel)[:, :2].T.ravel(),
        functionals(mfcc)[:, [0, 1, 7]].T.ravel(),
        functionals(dmfcc)[:, :2].T.ravel(),
        functionals(lld).ravel(),
        functionals(semitones[None, :]).ravel(),
        [len(voiced) / max(len(f0), 1)],
    ])


def work(paths, noise_dir):
    noises = [load(p) for p in sorted(pathlib.Path(noise_dir).rglob("*.wav"))]
    rng = np.random.default_rng(1)
    features(mix(load(paths[0]), noises[0], rng))  # warm-up: numba compilation and caches
    start = time.process_time()
    samples = 0
    for p in paths:
        try:
            x = load(p)
        except Exception:  # the synthesised corpora include broken files on purpose; sertool skips them too
            continue
        y = mix(x, noises[rng.integers(len(noises))], rng)
        if y is None:
            continue
        features(y)
        samples += len(y)
    return samples, time.process_time() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("speech", nargs="+")
    ap.add_argument("--noise", required=True)
    ap.add_argument("--processes", type=int, default=1)
    a = ap.parse_args()
    paths = sorted(p for d in a.speech for p in pathlib.Path(d).rglob("*.wav"))
    wall = time.perf_counter()
    if a.processes == 1:
        results = [work(paths, a.noise)]
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(a.processes) as ex:
            results = list(ex.map(work, [paths[i :: a.processes] for i in range(a.processes)], [a.noise] * a.processes))
    wall = time.perf_counter() - wall
    samples = sum(r[0] for r in results)
    cpu = sum(r[1] for r in results)
    hours = samples / RATE / 3600
    print(json.dumps({"files": len(paths), "audio_hours": hours, "processes": a.processes, "cpu_s": cpu,
                      "wall_s_including_startup": wall, "audio_hours_per_cpu_s": hours / cpu,
                      "real_time_per_core": hours * 3600 / cpu, "librosa": librosa.__version__}))


if __name__ == "__main__":
    main()
