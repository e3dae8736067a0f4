"""librosa's log-mel on the same signal as `sertool bench logmel`: 60 s of noise at 16 kHz (or a WAV),
64 bands, n_fft 512, 25 ms window, 10 ms hop, power_to_db with the same floor; one thread, best of N
after a warm-up (librosa's first call pays numba's compilation).

    tools/.venv/bin/python tools/bench_logmel.py [file.wav]
"""

import json
import os
import sys
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")
import librosa  # noqa: E402
import numpy as np  # noqa: E402


def main():
    if len(sys.argv) > 1:
        x, _ = librosa.load(sys.argv[1], sr=16_000)
    else:
        x = (0.1 * np.random.default_rng(1).standard_normal(60 * 16_000)).astype(np.float32)

    def run():
        m = librosa.feature.melspectrogram(y=x, sr=16_000, n_fft=512, win_length=400, hop_length=160, n_mels=64,
                                           center=True, pad_mode="constant")
        return librosa.power_to_db(m, ref=1.0, amin=1e-10, top_db=None)

    run()
    best = min(_timed(run) for _ in range(20))
    secs = len(x) / 16_000
    print(json.dumps({"audio_s": secs, "best_wall_s": best, "real_time_factor": secs / best,
                      "librosa": librosa.__version__, "numpy": np.__version__}))


def _timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
