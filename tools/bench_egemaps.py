"""Speed of openSMILE's eGeMAPSv02 functionals (the reference for sertool's native extractor), one thread.

Runs opensmile.Smile(eGeMAPSv02, Functionals).process_file on every WAV under a folder (default
data/synth/cremad_a/AudioWAV, after `sertool synth data/synth`), one file after another in this process
(openSMILE itself is single-threaded), after one warm-up file. Reports the audio duration, wall and CPU
seconds, and real-time factors = audio seconds / seconds (per core: / CPU seconds). Each process_file
includes reading the WAV and openSMILE's per-call setup (it parses the config for every call), which is
also reported alone (CPU ms per call on a 0.1 s signal).

With --sertool CMD it also times a sertool command on the same files: {list} in CMD is replaced by a
file listing the WAVs (one path a line), {files} by the paths themselves; with neither, the paths are
appended. The command's CPU time is that of its child processes (getrusage), so its per-core figure is
comparable even if it uses several threads.

    tools/.venv/bin/python tools/bench_egemaps.py [--dir DIR] [--limit N]
        [--sertool "target/release/sertool ... {list}"]
"""

import argparse
import json
import os
import pathlib
import platform
import resource
import shlex
import subprocess
import tempfile
import time
import wave

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")
import numpy as np  # noqa: E402
import opensmile  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def cpu_model():
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def duration(path):
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


def bench_opensmile(files):
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    smile.process_file(str(files[0]))  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    for f in files:
        smile.process_file(str(f))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    short = np.zeros(1600, dtype=np.float32)  # 0.1 s: almost only the per-call setup
    setup = time.process_time()
    for _ in range(20):
        smile.process_signal(short, 16_000)
    return wall, cpu, (time.process_time() - setup) / 20


def bench_sertool(cmd, files):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as lst:
        lst.write("".join(f"{f}\n" for f in files))
    try:
        paths = [str(f) for f in files]
        if "{list}" in cmd or "{files}" in cmd:
            argv = []
            for tok in shlex.split(cmd):
                if tok == "{files}":
                    argv += paths
                else:
                    argv.append(tok.replace("{list}", lst.name))
        else:
            argv = shlex.split(cmd) + paths
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        subprocess.run(argv, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu
    finally:
        os.unlink(lst.name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="data/synth/cremad_a/AudioWAV")
    ap.add_argument("--limit", type=int, default=0, help="only the first N files (sorted)")
    ap.add_argument("--sertool", default=None, help="a sertool command to time on the same files")
    args = ap.parse_args()
    files = sorted((ROOT / args.dir).rglob("*.wav"))
    if args.limit:
        files = files[: args.limit]
    if not files:
        raise SystemExit(f"no WAVs under {args.dir} (run `sertool synth data/synth` first)")
    audio = sum(duration(f) for f in files)
    out = {"dir": args.dir, "files": len(files), "audio_s": round(audio, 3), "cpu": cpu_model(),
           "cpus": os.cpu_count(), "loadavg_before": os.getloadavg()[0], "opensmile": opensmile.__version__}
    wall, cpu, setup = bench_opensmile(files)
    out["opensmile_egemaps"] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "rtf_wall": round(audio / wall, 1),
                                "rtf_per_core": round(audio / cpu, 1), "ms_per_file": round(1000 * wall / len(files), 2),
                                "setup_cpu_ms_per_call": round(1000 * setup, 2)}
    if args.sertool:
        wall, cpu = bench_sertool(args.sertool, files)
        out["sertool"] = {"cmd": args.sertool, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                          "rtf_wall": round(audio / wall, 1), "rtf_per_core": round(audio / cpu, 1) if cpu > 0 else None}
    out["loadavg_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
