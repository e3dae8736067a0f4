"""Reference eGeMAPSv02 / GeMAPSv01b values from openSMILE for sertool's native eGeMAPS extractor.

openSMILE (through audEERING's `opensmile` Python wrapper, which bundles the openSMILE 3.0.1 library
and the eGeMAPSv02 / GeMAPSv01b configs) is run on (1) synthetic 16 kHz mono signals defined by the
formulas below, which a Rust test regenerates, and (2) six clips of sertool's own synthetic CREMA-D
corpus (`sertool synth data/synth`, deterministic). Writes tests/data/egemaps_reference.json (about
100 KB): the 88 eGeMAPSv02 functionals and 62 GeMAPSv01b functionals of every signal and clip, in
openSMILE's order, and the 25 eGeMAPSv02 LLDs (6 significant digits) of two of them.

    python3 -m venv tools/.venv && tools/.venv/bin/pip install opensmile numpy scipy
    tools/.venv/bin/python tools/egemaps_reference.py     # from the repository root, after sertool synth

Signals (all float64; fs = 16000; N = round(duration * fs) samples; t_n = n / fs for n = 0..N-1; every t^2
below is t * t; sums are evaluated left to right as written):

- Vowels ("kind": "vowel"). A glottal source made of Rosenberg pulses, differentiated, then passed
  through a cascade of second-order formant resonators, then scaled to peak `peak`:
  * Cycle onsets t_0 = 0, t_{k+1} = t_k + T_k (summed left to right in float64) until t_k >= duration.
    Constant F0:  T_k = (1 / f0) * (1 + jitter/2 * (+1 if k even else -1)); jitter = 0 for clean vowels.
    F0 glide ("f0_end" present): the phase is phi(t) = f0 t + (f0_end - f0) t^2 / (2 duration) cycles
    and t_k = (-f0 + sqrt(f0^2 + 2 k c)) / c with c = (f0_end - f0) / duration; T_k = t_{k+1} - t_k.
  * Cycle amplitudes A_k = 1 + shimmer/2 * (+1 if k even else -1) (shimmer = 0: A_k = 1).
  * Rosenberg pulse: for sample n in cycle k (the k with t_k <= t_n < t_{k+1}, found by advancing k
    while t_n >= t_{k+1}), tau = (t_n - t_k) / P_k and g[n] = A_k * r(tau) with tp = 0.40, tn = 0.16,
    r(tau) = 0.5 (1 - cos(pi tau / tp)) if tau < tp; cos(pi (tau - tp) / (2 tn)) if tau < tp + tn; 0 else.
    The pulse's time scale P_k is the nominal period 1 / f0 at constant F0 (so the pulse shape does not
    follow the jitter and the glottal closures, t_k + 0.56 P_k, are exactly T_k apart) and T_k in the glide.
  * Source e[n] = g[n] - g[n-1] (g[-1] = 0).
  * Each formant (F, B) in order is a resonator y[n] = a x[n] + b y[n-1] + c y[n-2] (y[-1] = y[-2] = 0)
    with r = exp(-pi B / fs), b = 2 r cos(2 pi F / fs), c = -r^2, a = 1 - b - c (unit gain at DC).
  * v = output of the last resonator; x[n] = peak * v[n] / max_n |v[n]|.
  * Gated vowel ("gates" present): x[n] = peak * v[n] / max|v| * w(t_n) + noise_amp * (2 u_n - 1), w = 0
    outside the listed [a, b) voiced segments and inside min(1, h((t - a) / ramp), h((b - t) / ramp))
    with h(u) = 0.5 (1 - cos(pi u)) for u < 1 else 1; u_n the SplitMix64 uniforms below.
- Chirp: x[n] = amp * sin(2 pi (f0 t + (f1 - f0) t^2 / (2 duration))), t = t_n.
- Noise: x[n] = amp * (2 u_n - 1).
- Silence: x[n] = 0.
SplitMix64 is sertool's rng::Rng::new(seed): state = seed ^ 0x9E3779B97F4A7C15; next: state += 0x9E37...15
(mod 2^64), z = state, z = (z ^ z>>30) * 0xBF58476D1CE4E5B9, z = (z ^ z>>27) * 0x94D049BB133111EB,
z ^= z>>31; u = (z >> 11) * 2^-53 (Rng::uniform), one draw per sample in sample order.

Quantisation: q[n] = sign(x) floor(|x| 32768 + 0.5) (round half away from zero), clipped to
[-32768, 32767], written as 16-bit PCM WAV. The JSON holds each recipe, the sha256 of the little-endian
int16 samples and their sum, so a Rust test can check its regeneration before comparing features.
Note: the wrapper reads q / 32768, multiplies by 32768 and casts to int16 (exact), and openSMILE's
external source turns int16 into float as q / 32767.

"true" holds the values implied by the recipe over the complete cycles (t_{k+1} <= duration): mean F0 =
1 / mean T, its semitones 12 log2(F0 / 27.5) (for the glide also the time mean of the semitone contour),
local jitter = mean |T_k - T_{k-1}| / mean T, local shimmer = mean |A_k - A_{k-1}| / mean A, shimmer in dB
= mean |20 log10(A_k / A_{k-1})| (Praat's definition) and 20 log10(1 + local shimmer) (the definition of
openSMILE's shimmerLocalDB), all of the source pulses (the formant filter's ringing changes the waveform's
peak-to-peak amplitudes, which openSMILE measures).
"""

import hashlib
import json
import math
import os
import pathlib
import struct
import sys
import tempfile
import wave

import numpy as np
import opensmile

ROOT = pathlib.Path(__file__).resolve().parent.parent
SR = 16_000
MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
TP, TN = 0.40, 0.16

A_MALE = [[700.0, 130.0], [1220.0, 70.0], [2600.0, 160.0]]  # /a/, as in the issue
E_FEMALE = [[610.0, 90.0], [2330.0, 110.0], [2990.0, 170.0]]  # /E/, Peterson & Barney female means

SIGNALS = [
    {"name": "vowel_a_120", "kind": "vowel", "duration": 1.2, "f0": 120.0, "formants": A_MALE, "peak": 0.5},
    {"name": "vowel_e_220", "kind": "vowel", "duration": 1.2, "f0": 220.0, "formants": E_FEMALE, "peak": 0.5},
    {"name": "vowel_a_120_jitter1", "kind": "vowel", "duration": 1.2, "f0": 120.0, "jitter": 0.01,
     "formants": A_MALE, "peak": 0.5},
    {"name": "vowel_a_120_jitter3", "kind": "vowel", "duration": 1.2, "f0": 120.0, "jitter": 0.03,
     "formants": A_MALE, "peak": 0.5},
    {"name": "vowel_a_120_shimmer5", "kind": "vowel", "duration": 1.2, "f0": 120.0, "shimmer": 0.05,
     "formants": A_MALE, "peak": 0.5},
    {"name": "vowel_a_120_shimmer10", "kind": "vowel", "duration": 1.2, "f0": 120.0, "shimmer": 0.10,
     "formants": A_MALE, "peak": 0.5},
    {"name": "vowel_e_220_jitter1_shimmer5", "kind": "vowel", "duration": 1.2, "f0": 220.0, "jitter": 0.01,
     "shimmer": 0.05, "formants": E_FEMALE, "peak": 0.5},
    {"name": "glide_a_100_250", "kind": "vowel", "duration": 1.5, "f0": 100.0, "f0_end": 250.0,
     "formants": A_MALE, "peak": 0.5},
    {"name": "vowel_a_150_gaps", "kind": "vowel", "duration": 1.6, "f0": 150.0, "formants": A_MALE, "peak": 0.5,
     "gates": [[0.2, 0.5], [0.7, 1.1], [1.25, 1.45]], "ramp": 0.01, "noise_amp": 0.001, "seed": 7},
    {"name": "chirp_200_4000", "kind": "chirp", "duration": 1.5, "f0": 200.0, "f1": 4000.0, "amp": 0.5},
    {"name": "noise_white", "kind": "noise", "duration": 1.0, "amp": 0.5, "seed": 1},
    {"name": "silence", "kind": "silence", "duration": 0.5},
]

SPEECH = [f"data/synth/cremad_a/AudioWAV/{n}.wav" for n in
          ["1001_DFA_ANG_XX", "1002_IEO_HAP_HI", "1003_ITS_SAD_XX", "1004_TIE_NEU_XX", "1005_DFA_FEA_XX",
           "1006_IEO_DIS_MD"]]

LLD_FOR = ["vowel_e_220_jitter1_shimmer5", SPEECH[0]]


class SplitMix64:
    """sertool's rng::Rng with Python integers masked to 64 bits."""

    def __init__(self, seed):
        self.state = (seed ^ GOLDEN) & MASK

    def next_u64(self):
        self.state = (self.state + GOLDEN) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self):
        return (self.next_u64() >> 11) * 2.0**-53


def cycles(spec):
    """Cycle onsets t_k (k = 0..K, the last one >= duration), periods and amplitudes."""
    dur, f0 = spec["duration"], spec["f0"]
    jit, shim = spec.get("jitter", 0.0), spec.get("shimmer", 0.0)
    onsets, periods, amps = [0.0], [], []
    k = 0
    while onsets[-1] < dur:
        if "f0_end" in spec:
            c = (spec["f0_end"] - f0) / dur
            nxt = (-f0 + math.sqrt(f0 * f0 + 2.0 * (k + 1) * c)) / c
            periods.append(nxt - onsets[-1])
            onsets.append(nxt)
        else:
            period = (1.0 / f0) * (1.0 + jit / 2.0 * (1.0 if k % 2 == 0 else -1.0))
            periods.append(period)
            onsets.append(onsets[-1] + period)
        amps.append(1.0 + shim / 2.0 * (1.0 if k % 2 == 0 else -1.0))
        k += 1
    return onsets, periods, amps


def rosenberg(tau):
    if tau < TP:
        return 0.5 * (1.0 - math.cos(math.pi * tau / TP))
    if tau < TP + TN:
        return math.cos(math.pi * (tau - TP) / (2.0 * TN))
    return 0.0


def vowel(spec):
    n = round(spec["duration"] * SR)
    onsets, periods, amps = cycles(spec)
    g, k = [], 0
    for i in range(n):
        t = i / SR
        while t >= onsets[k + 1]:
            k += 1
        scale = periods[k] if "f0_end" in spec else 1.0 / spec["f0"]
        g.append(amps[k] * rosenberg((t - onsets[k]) / scale))
    x = [g[0]] + [g[i] - g[i - 1] for i in range(1, n)]
    for f, bw in spec["formants"]:
        r = math.exp(-math.pi * bw / SR)
        b = 2.0 * r * math.cos(2.0 * math.pi * f / SR)
        c = -r * r
        a = 1.0 - b - c
        y1 = y2 = 0.0
        y = []
        for v in x:
            y0 = a * v + b * y1 + c * y2
            y.append(y0)
            y2, y1 = y1, y0
        x = y
    m = max(abs(v) for v in x)
    x = [spec["peak"] * v / m for v in x]
    if "gates" in spec:
        ramp, rng = spec["ramp"], SplitMix64(spec["seed"])

        def h(u):
            return 0.5 * (1.0 - math.cos(math.pi * u)) if u < 1.0 else 1.0

        out = []
        for i in range(n):
            t = i / SR
            w = 0.0
            for a, b in spec["gates"]:
                if a <= t < b:
                    w = min(1.0, h((t - a) / ramp), h((b - t) / ramp))
            out.append(x[i] * w + spec["noise_amp"] * (2.0 * rng.uniform() - 1.0))
        x = out
    return x


def generate(spec):
    n = round(spec["duration"] * SR)
    if spec["kind"] == "vowel":
        return vowel(spec)
    if spec["kind"] == "chirp":
        d, f0, f1 = spec["duration"], spec["f0"], spec["f1"]
        return [spec["amp"] * math.sin(2.0 * math.pi * (f0 * (i / SR) + (f1 - f0) * (i / SR) ** 2 / (2.0 * d)))
                for i in range(n)]
    if spec["kind"] == "noise":
        rng = SplitMix64(spec["seed"])
        return [spec["amp"] * (2.0 * rng.uniform() - 1.0) for _ in range(n)]
    return [0.0] * n


def quantise(x):
    q = []
    for v in x:
        s = math.floor(abs(v) * 32768.0 + 0.5)
        s = s if v >= 0 else -s
        q.append(max(-32768, min(32767, int(s))))
    return q


def true_values(spec):
    onsets, periods, amps = cycles(spec)
    full = [k for k in range(len(periods)) if onsets[k + 1] <= spec["duration"]]
    T = [periods[k] for k in full]
    A = [amps[k] for k in full]
    mean_t = sum(T) / len(T)
    f0 = 1.0 / mean_t
    out = {"n_cycles": len(T), "mean_f0_hz": f0, "mean_f0_semitones": 12.0 * math.log2(f0 / 27.5),
           "jitter_local": sum(abs(T[i] - T[i - 1]) for i in range(1, len(T))) / (len(T) - 1) / mean_t,
           "shimmer_local": sum(abs(A[i] - A[i - 1]) for i in range(1, len(A))) / (len(A) - 1) / (sum(A) / len(A)),
           "shimmer_local_db": sum(abs(20.0 * math.log10(A[i] / A[i - 1])) for i in range(1, len(A))) / (len(A) - 1)}
    out["shimmer_db_opensmile_definition"] = 20.0 * math.log10(1.0 + out["shimmer_local"])
    if "f0_end" in spec:
        f0, f1 = spec["f0"], spec["f0_end"]
        out["f0_semitones_start_end"] = [12.0 * math.log2(f0 / 27.5), 12.0 * math.log2(f1 / 27.5)]
        # time average of 12 log2(f(t) / 27.5) for f(t) linear in t from f0 to f1
        out["f0_semitones_time_mean"] = (12.0 / math.log(2.0) * ((f1 * math.log(f1) - f1) - (f0 * math.log(f0) - f0))
                                         / (f1 - f0) - 12.0 * math.log2(27.5))
    if "gates" in spec:
        lens = [b - a for a, b in spec["gates"]]
        m = sum(lens) / len(lens)
        out["voiced_segments_per_sec"] = len(lens) / spec["duration"]
        out["mean_voiced_segment_sec"] = m
        out["stddev_voiced_segment_sec"] = math.sqrt(sum((v - m) ** 2 for v in lens) / len(lens))
    return out


def write_wav(path, q):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(struct.pack(f"<{len(q)}h", *q))


def f32(v):
    """A float32 value as its shortest round-tripping decimal (NaN as null)."""
    v = np.float32(v)
    return None if not np.isfinite(v) else float(str(v))


def g6(v):
    return None if not np.isfinite(v) else float(f"{float(v):.6g}")


def main():
    os.chdir(ROOT)
    smiles = {
        "egemaps": opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                   feature_level=opensmile.FeatureLevel.Functionals),
        "gemaps": opensmile.Smile(feature_set=opensmile.FeatureSet.GeMAPSv01b,
                                  feature_level=opensmile.FeatureLevel.Functionals),
        "lld": opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                               feature_level=opensmile.FeatureLevel.LowLevelDescriptors),
    }
    lib = next((ROOT / "tools/.venv").glob("lib/python*/site-packages/opensmile/core/bin/*/libSMILEapi.so"), None)
    smile_version = "unknown"
    if lib is not None:
        strs = lib.read_bytes().split(b"\0")
        hits = [s.decode() for s in strs if s[:2] == b"3." and s.count(b".") == 2 and len(s) < 10]
        smile_version = hits[0] if hits else "unknown"
    out = {
        "sr": SR,
        "opensmile_python": opensmile.__version__,
        "opensmile_library": smile_version,
        "quantisation": "q = sign(x) floor(|x| 32768 + 0.5), clipped to [-32768, 32767]; openSMILE sees q / 32767",
        "rosenberg": {"tp": TP, "tn": TN},
        "rng": "sertool rng::Rng::new(seed).uniform(), one draw per sample",
        "names": {k: list(s.feature_names) for k, s in smiles.items()},
        "signals": [],
        "files": [],
    }

    def extract(path, key):
        entry = {}
        for k in ("egemaps", "gemaps"):
            df = smiles[k].process_file(str(path))
            entry[k] = [f32(v) for v in df.iloc[0].to_numpy()]
        if key in LLD_FOR:
            df = smiles["lld"].process_file(str(path))
            starts = df.index.get_level_values("start").total_seconds()
            ends = df.index.get_level_values("end").total_seconds()
            entry["lld"] = {"n_frames": int(df.shape[0]), "first_start_s": float(starts[0]),
                            "first_end_s": float(ends[0]), "last_start_s": float(starts[-1]),
                            "step_s": float(round(starts[1] - starts[0], 6)),
                            "rows": [[g6(v) for v in row] for row in df.to_numpy()]}
        return entry

    with tempfile.TemporaryDirectory() as tmp:
        for spec in SIGNALS:
            q = quantise(generate(spec))
            path = pathlib.Path(tmp) / f"{spec['name']}.wav"
            write_wav(path, q)
            pcm = struct.pack(f"<{len(q)}h", *q)
            entry = {"recipe": spec, "n_samples": len(q), "pcm_sha256": hashlib.sha256(pcm).hexdigest(),
                     "pcm_sum": sum(q), "pcm_first": q[:8], "clipped": sum(1 for v in q if v in (-32768, 32767))}
            if spec["kind"] == "vowel":
                entry["true"] = true_values(spec)
            entry.update(extract(path, spec["name"]))
            out["signals"].append(entry)
            print(f"{spec['name']}: {len(q)} samples", file=sys.stderr)
    for rel in SPEECH:
        path = ROOT / rel
        with wave.open(str(path), "rb") as w:
            params = {"sample_rate": w.getframerate(), "channels": w.getnchannels(), "sample_width": w.getsampwidth(),
                      "n_samples": w.getnframes()}
        entry = {"path": rel, **params, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        entry.update(extract(path, rel))
        out["files"].append(entry)
        print(f"{rel}: {params}", file=sys.stderr)
    dest = ROOT / "tests/data/egemaps_reference.json"
    with dest.open("w") as f:
        f.write("{\n")
        items = list(out.items())
        for i, (k, v) in enumerate(items):
            if k in ("signals", "files"):
                body = ",\n".join(json.dumps(e, separators=(",", ":")) for e in v)
                f.write(f"{json.dumps(k)}:[\n{body}\n]")
            else:
                f.write(f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'))}")
            f.write(",\n" if i + 1 < len(items) else "\n")
        f.write("}\n")
    json.loads(dest.read_text())
    print(f"wrote {dest} ({dest.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
