"""Reference values from librosa for sertool's feature tests (tests/features_librosa.rs).

The test signals are defined by formulas both sides compute (chirp, a 32-bit LCG noise, a harmonic
vowel), in float64 then rounded to float32, so only the features need to be stored. Writes
tests/data/librosa_reference.json (small: a few frames of each feature).

    python3 -m venv tools/.venv && tools/.venv/bin/pip install numpy librosa
    tools/.venv/bin/python tools/librosa_reference.py
"""

import json
import pathlib

import librosa
import numpy as np

SR = 16_000
N = 8_000  # 0.5 s
N_FFT, WIN, HOP = 512, 400, 160


def signals():
    t = np.arange(N, dtype=np.float64) / SR
    # Linear chirp 100 Hz -> 7 kHz.
    chirp = 0.5 * np.sin(2 * np.pi * (100 * t + (7000 - 100) / (2 * 0.5) * t**2))
    # LCG noise: state = (1664525 * state + 1013904223) mod 2^32, value = state / 2^32 - 0.5.
    state, vals = 12345, []
    for _ in range(N):
        state = (1664525 * state + 1013904223) % 2**32
        vals.append(state / 2**32 - 0.5)
    noise = 0.5 * np.array(vals)
    # Vowel: 150 Hz harmonics with formant-like amplitudes.
    vowel = sum((1.0 / k) * (1.0 + 2.0 * np.exp(-((k * 150 - 700) ** 2) / 2e4) + np.exp(-((k * 150 - 1200) ** 2) / 2e4))
                * np.sin(2 * np.pi * k * 150 * t) for k in range(1, 40))
    vowel = 0.3 * vowel / np.max(np.abs(vowel))
    return {"chirp": chirp.astype(np.float32), "noise": noise.astype(np.float32), "vowel": vowel.astype(np.float32)}


FRAMES = [0, 7, 25, 50]


def main():
    out = {"sr": SR, "n_fft": N_FFT, "win_length": WIN, "hop_length": HOP, "frames": FRAMES,
           "librosa": librosa.__version__, "signals": {}}
    for htk, norm in [(False, "slaney"), (True, None)]:
        fb = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=40, fmin=0.0, fmax=8000.0, htk=htk, norm=norm)
        nz = np.nonzero(fb)
        out[f"mel_{'htk' if htk else 'slaney'}"] = [[int(i), int(j), float(fb[i, j])] for i, j in zip(*nz)]
    for name, x in signals().items():
        x = x.astype(np.float32)
        S = np.abs(librosa.stft(x, n_fft=N_FFT, hop_length=HOP, win_length=WIN, window="hann", center=True, pad_mode="constant"))
        mel = librosa.feature.melspectrogram(S=S**2, sr=SR, n_mels=40, fmin=0.0, fmax=8000.0)
        logmel = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
        mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=13, dct_type=2, norm="ortho", lifter=0)
        mfcc_l = librosa.feature.mfcc(S=logmel, n_mfcc=13, dct_type=2, norm="ortho", lifter=22)
        out["signals"][name] = {
            "n_frames": int(S.shape[1]),
            "stft_mag": [S[:, f].tolist() for f in FRAMES],
            "logmel": [logmel[:, f].tolist() for f in FRAMES],
            "mfcc": [mfcc[:, f].tolist() for f in FRAMES],
            "mfcc_lifter22": [mfcc_l[:, f].tolist() for f in FRAMES],
        }
    path = pathlib.Path(__file__).resolve().parent.parent / "tests/data/librosa_reference.json"
    path.write_text(json.dumps(out, separators=(",", ":")))
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
