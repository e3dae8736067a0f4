"""Reference values for sertool's enhancement-quality metrics (src/audio/quality.rs): STOI from
pystoi, and SI-SDR and segmental SNR from the definitions below, on generated signals.

Writes tests/data/enhance_reference.json:

    python3 -m venv tools/.venv && tools/.venv/bin/pip install numpy scipy pystoi
    tools/.venv/bin/python tools/enhance_reference.py

Signals are generated, never stored; tests/enhance_reference.rs regenerates them from the stored
parameters. Every sample is computed in float64 (Python floats, `math.sin` = the C library's sin,
which is what Rust's f64::sin calls on Linux) and then cast to float32; the metrics are computed in
float64 from those float32 values, as the Rust functions do.

    lcg_noise(n, seed): state = seed (u64); per sample
        state = (state * 6364136223846793005 + 1442695040888963407) mod 2^64
        value = ((state >> 11) / 2^53) * 2 - 1                     (in [-1, 1))
    tone(i, fs, f, am_hz) = sin(2*pi*f*i/fs) * (0.6 + 0.4*sin(2*pi*am_hz*i/fs))
        (both arguments evaluated left to right: ((2*pi)*f)*i / fs)
    clean[i] = amp * sum over tones of tone(i, ...)   (the sum taken in the listed order, starting
               from 0.0), and exactly 0.0 for gap_start <= i < gap_end (digital silence)
    processed[i] = direct * clean[i] + delay_gain * clean[i - delay] + noise_gain * noise[i]
               (clean[j] = 0 for j < 0; the terms added left to right, all in float64, before the
               float32 cast; clean[] here is the float64 value, before its own cast)

Metrics (all on float64 copies of the float32 signals, over the shorter length):

STOI: pystoi.stoi(clean, processed, fs, extended=False) (Taal et al. 2011).

SI-SDR (Le Roux et al. 2019): subtract each signal's mean; alpha = <s_hat, s> / <s, s>;
    SI-SDR = 10 log10(|alpha s|^2 / |alpha s - s_hat|^2)        (s = clean, s_hat = processed)

Segmental SNR, the definition sertool adopts (the pysepm / Hansen & Pellom form, without window):
    frame length L = round(0.03 * fs) samples, hop = L // 4 (75 % overlap), no window, only full
    frames (starts 0, hop, 2 hop, ... while start + L <= n); per frame
        snr = 10 log10(sum s^2 / (sum (s - s_hat)^2 + 1e-10) + 1e-10),
    each frame clamped to [-10, 35] dB, and the mean over frames.
    (pysepm's SNRseg differs in two ways we do not copy: it applies a Hann window and drops the
    last frame, and uses eps = 2.2e-16.)

Besides the three values each case stores intermediate quantities of pystoi's pipeline, computed
by an independent numpy transcription below (checked against pystoi to 1e-12): the resampler's
filter and padding, the resampled length, the silent-frame mask, STFT frame and segment counts.
"""

import json
import math
import os
import warnings

import numpy as np
import pystoi
import scipy
import scipy.signal
from pystoi import utils as pu

MASK64 = (1 << 64) - 1


def lcg_noise(n, seed):
    state = seed & MASK64
    out = [0.0] * n
    for i in range(n):
        state = (state * 6364136223846793005 + 1442695040888963407) & MASK64
        out[i] = ((state >> 11) / 9007199254740992.0) * 2.0 - 1.0
    return out


def tone(n, fs, f, am_hz):
    return [math.sin(2.0 * math.pi * f * i / fs) * (0.6 + 0.4 * math.sin(2.0 * math.pi * am_hz * i / fs))
            for i in range(n)]


def generate(p):
    """(clean, processed) as float32 arrays from a case's parameters."""
    n, fs = p["n"], p["fs"]
    clean = [0.0] * n
    for t in p["tones"]:
        tt = tone(n, fs, t["f"], t["am_hz"])
        for i in range(n):
            clean[i] += tt[i]
    clean = [p["amp"] * v for v in clean]
    for i in range(p["gap_start"], p["gap_end"]):
        clean[i] = 0.0
    noise = lcg_noise(n, p["seed"])
    d = p["delay"]
    proc = [p["direct"] * clean[i] + p["delay_gain"] * (clean[i - d] if i >= d else 0.0) + p["noise_gain"] * noise[i]
            for i in range(n)]
    return np.array(clean, dtype=np.float32), np.array(proc, dtype=np.float32)


def si_sdr(s, s_hat):
    s = s.astype(np.float64)
    s_hat = s_hat.astype(np.float64)
    s = s - s.mean()
    s_hat = s_hat - s_hat.mean()
    alpha = np.dot(s_hat, s) / np.dot(s, s)
    target = alpha * s
    return float(10 * np.log10(np.sum(target ** 2) / np.sum((target - s_hat) ** 2)))


def segmental_snr(s, s_hat, fs):
    s = s.astype(np.float64)
    s_hat = s_hat.astype(np.float64)
    L = int(round(0.03 * fs))
    hop = L // 4
    vals = []
    for start in range(0, len(s) - L + 1, hop):
        a = s[start:start + L]
        e = a - s_hat[start:start + L]
        snr = 10 * np.log10(np.sum(a ** 2) / (np.sum(e ** 2) + 1e-10) + 1e-10)
        vals.append(min(max(snr, -10.0), 35.0))
    return float(np.mean(vals)), len(vals), L, hop


# ---- an independent transcription of pystoi's pipeline, structured as the Rust port is ----

def kaiser_fir(p, q):
    """pystoi's _resample_window_oct (Octave's resample filter), normalised to unit sum."""
    g = math.gcd(p, q)
    p, q = p // g, q // g
    fc = 1.0 / (2 * max(p, q))
    roll = fc / 10
    rej = 60.0
    L = math.ceil((rej - 8) / (28.714 * roll))
    beta = 0.1102 * (rej - 8.7)
    t = np.arange(-L, L + 1)
    m = 2 * L + 1
    k = np.arange(m)
    win = np.i0(beta * np.sqrt(1 - (2 * k / (m - 1) - 1) ** 2)) / np.i0(beta)
    h = win * 2 * p * fc * np.sinc(2 * fc * t)
    return h / h.sum(), L, beta


def resample_direct(x, p, q):
    """scipy.signal.resample_poly(x, p, q, window=h) by its definition: y[m] = sum_i x[i] up*h[k] with
    k = (m + pre_remove) * down - i * up - pre_pad, 0 <= k < len(h)."""
    h, _, _ = kaiser_fir(p, q)
    g = math.gcd(p, q)
    up, down = p // g, q // g
    half = (len(h) - 1) // 2
    pre_pad = down - half % down
    pre_remove = (half + pre_pad) // down
    n_out = -(-len(x) * up // down)
    y = np.zeros(n_out)
    for m in range(n_out):
        t = (m + pre_remove) * down - pre_pad
        # i with 0 <= t - i*up < len(h):  i in (t - len(h))/up < i <= t/up
        i_hi = min(t // up, len(x) - 1)
        i_lo = max(0, -(-(t - len(h) + 1) // up))
        acc = 0.0
        for i in range(i_lo, i_hi + 1):
            acc += x[i] * h[t - i * up]
        y[m] = acc * up
    return y, dict(up=up, down=down, taps=len(h), half_len=half, pre_pad=pre_pad, pre_remove=pre_remove)


def hann_inner(n):
    """np.hanning(n + 2)[1:-1]: the periodic-looking Hann of MATLAB's hanning(n)."""
    k = np.arange(1, n + 1)
    return 0.5 - 0.5 * np.cos(2 * np.pi * k / (n + 1))


def frame_starts(n, size, hop):
    """pystoi's range(0, n - size, hop): note the strict bound, a frame ending exactly at n is left out."""
    return list(range(0, max(n - size, 0), hop))


def my_stoi(x, y, fs):
    info = {}
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    if fs != 10000:
        x, rinfo = resample_direct(x, 10000, fs)
        y, _ = resample_direct(y, 10000, fs)
        info["resample"] = rinfo
    info["resampled_len"] = len(x)
    w = hann_inner(256)
    starts = frame_starts(len(x), 256, 128)
    e = np.array([20 * np.log10(np.linalg.norm(w * x[s:s + 256]) + np.finfo(float).eps) for s in starts])
    thr = e.max() - 40
    keep = [s for s, en in zip(starts, e) if en > thr]
    info["vad_frames"] = len(starts)
    info["vad_kept"] = len(keep)
    info["vad_margin_db"] = float(np.min(np.abs(e - thr)))
    n_sil = (len(keep) - 1) * 128 + 256
    xs = np.zeros(n_sil)
    ys = np.zeros(n_sil)
    for j, s in enumerate(keep):
        xs[j * 128:j * 128 + 256] += w * x[s:s + 256]
        ys[j * 128:j * 128 + 256] += w * y[s:s + 256]
    info["silence_removed_len"] = n_sil
    st = frame_starts(n_sil, 256, 128)
    info["stft_frames"] = len(st)
    if len(st) < 30:
        return 1e-5, info
    # 1/3-octave bands on the 257 bins of a 512-point FFT at 10 kHz.
    f = np.arange(257) * 10000 / 512
    edges = []
    for k in range(15):
        lo = 150 * 2.0 ** ((2 * k - 1) / 6)
        hi = 150 * 2.0 ** ((2 * k + 1) / 6)
        edges.append((int(np.argmin((f - lo) ** 2)), int(np.argmin((f - hi) ** 2))))
    X = np.array([np.abs(np.fft.rfft(w * xs[s:s + 256], 512)) ** 2 for s in st])  # T x 257
    Y = np.array([np.abs(np.fft.rfft(w * ys[s:s + 256], 512)) ** 2 for s in st])
    xb = np.array([[math.sqrt(X[t, a:b].sum()) for t in range(len(st))] for a, b in edges])  # 15 x T
    yb = np.array([[math.sqrt(Y[t, a:b].sum()) for t in range(len(st))] for a, b in edges])
    eps = np.finfo(float).eps
    c = 10 ** (15 / 20)
    total = 0.0
    J = len(st) - 30 + 1
    for m in range(30, len(st) + 1):
        for band in range(15):
            xv = xb[band, m - 30:m]
            yv = yb[band, m - 30:m]
            yv = yv * (np.linalg.norm(xv) / (np.linalg.norm(yv) + eps))
            yv = np.minimum(yv, xv * (1 + c))
            yv = yv - yv.mean()
            xv = xv - xv.mean()
            total += np.dot(yv / (np.linalg.norm(yv) + eps), xv / (np.linalg.norm(xv) + eps))
    info["segments"] = J
    info["band_edges"] = edges
    return total / (J * 15), info


TONES = [dict(f=300.0, am_hz=3.0), dict(f=1100.0, am_hz=4.0), dict(f=2500.0, am_hz=5.0)]


def case(name, fs, seed, direct=1.0, delay=0, delay_gain=0.0, noise_gain=0.3, tones=TONES, amp=0.3, secs=1.5,
         gap=True):
    n = int(round(secs * fs))
    gap_start = int(round(0.6 * fs)) if gap else 0
    gap_len = int(round(0.3 * fs)) if gap else 0
    return dict(name=name, fs=fs, n=n, gap_start=gap_start, gap_end=gap_start + gap_len,
                tones=tones, amp=amp, seed=seed, direct=direct, delay=delay, delay_gain=delay_gain,
                noise_gain=noise_gain)


CASES = [
    case("noisy_10k", 10000, seed=1),
    case("noisy_16k", 16000, seed=2),
    case("echo_16k", 16000, seed=3, direct=0.5, delay=3, delay_gain=0.5, noise_gain=0.1),
    case("scaled_16k", 16000, seed=4, direct=0.7, noise_gain=0.0),
    case("very_noisy_16k", 16000, seed=5, noise_gain=1.0,
         tones=[dict(f=450.0, am_hz=3.5), dict(f=1700.0, am_hz=4.5), dict(f=3300.0, am_hz=2.5)]),
    # 0.3 s: fewer than 30 STFT frames, pystoi warns and returns 1e-5.
    case("too_short_10k", 10000, seed=6, secs=0.3, gap=False),
]


def main():
    # The resampler transcription against scipy itself, on a short noise burst (cheap).
    x = np.array(lcg_noise(3001, 99))
    for fs in (16000, 8000, 22050):
        ours, _ = resample_direct(x, 10000, fs)
        theirs = pu.resample_oct(x, 10000, fs)
        assert ours.shape == theirs.shape and np.max(np.abs(ours - theirs)) < 1e-12, fs
        h, _, _ = kaiser_fir(10000, fs)
        assert np.max(np.abs(h - pu._resample_window_oct(10000, fs) / pu._resample_window_oct(10000, fs).sum())) < 1e-15

    out_cases = []
    for p in CASES:
        clean, proc = generate(p)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            stoi = float(pystoi.stoi(clean.astype(np.float64), proc.astype(np.float64), p["fs"], extended=False))
        # Only the case meant to be too short may take pystoi's "not enough frames" exit.
        assert (len(caught) > 0) == p["name"].startswith("too_short"), (p["name"], caught)
        c64, p64 = clean.astype(np.float64), proc.astype(np.float64)
        mine, info = my_stoi(clean, proc, p["fs"])
        # A checksum of the resampler's output (pystoi's own), to tell resampler bugs from later ones.
        x10 = c64 if p["fs"] == 10000 else pu.resample_oct(c64, 10000, p["fs"])
        info["resampled_clean_energy"] = float(np.sum(x10 ** 2))
        assert abs(mine - stoi) < 1e-12, (p["name"], mine, stoi)
        seg, seg_frames, seg_len, seg_hop = segmental_snr(clean, proc, p["fs"])
        entry = dict(p)
        entry.update(
            stoi=stoi,
            si_sdr=si_sdr(clean, proc),
            segmental_snr=seg,
            debug=dict(
                clean_sum=float(c64.sum()), clean_sumsq=float((c64 ** 2).sum()),
                processed_sum=float(p64.sum()), processed_sumsq=float((p64 ** 2).sum()),
                segsnr_frames=seg_frames, segsnr_frame_len=seg_len, segsnr_hop=seg_hop, **info),
        )
        out_cases.append(entry)
        print(f"{p['name']:>15}: stoi={stoi:.6f} si_sdr={entry['si_sdr']:.4f} segsnr={seg:.4f} "
              f"len10k={info['resampled_len']} kept={info['vad_kept']}/{info['vad_frames']} "
              f"stft={info['stft_frames']} margin={info['vad_margin_db']:.3g} dB")

    doc = dict(numpy=np.__version__, scipy=scipy.__version__, pystoi=getattr(pystoi, "__version__", "0.4.1"),
               cases=out_cases)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "enhance_reference.json")
    with open(path, "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    print("wrote", os.path.normpath(path), os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
