"""The Python path a user would otherwise take for sertool's report stage, on the demo's finished run:
read every predictions.parquet named in reports/demo/results.csv (pyarrow); per-seed UAR recomputed with
sklearn's balanced_accuracy_score, mean and sample std over seeds, noise-robustness tables (models x
conditions per train -> test pair) as Markdown, booktabs LaTeX and CSV; the 72 tests against `mlp` (McNemar
exact on the seed ensembles, scipy.stats.binomtest; paired bootstrap of the seed-mean UAR difference, 1000
resamples, vectorised in numpy); matplotlib plots (Agg; UAR vs SNR per pair, clean / 0 dB confusion matrices
per model and pair; SVG + PNG, dpi 100). One process, one thread; phases timed with time.perf_counter(),
best of --repeat runs after an untimed warm-up figure; imports reported apart. The naive bootstrap users
commonly write (a loop of balanced_accuracy_score per resample, seed and system) is timed on one comparison
and multiplied by 72. Compared with the report stage of `sertool run --jobs 1` with only that stage stale
(docs/benchmarks.md). Writes to target/bench_report_py/.

    python3 -m venv tools/.venv
    tools/.venv/bin/pip install numpy scipy scikit-learn pandas pyarrow matplotlib
    target/release/sertool run pipelines/demo.toml -q      # the results and predictions it reads
    tools/.venv/bin/python tools/bench_report.py [--repeat 3]
"""

import os
import time

T_IMPORT = time.perf_counter()
os.environ.update(dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1"))
import argparse, io, pathlib, warnings  # noqa: E401, E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import scipy.stats  # noqa: E402
import sklearn  # noqa: E402
from sklearn.metrics import balanced_accuracy_score  # noqa: E402

IMPORTS = time.perf_counter() - T_IMPORT

CLASSES = ["neutral", "happy", "angry", "sad"]
C = len(CLASSES)
SNRS = [20, 10, 5, 0, -5]
CONDS = ["clean"] + [f"synth_noise.snr{s}" for s in SNRS]
LABELS = ["clean"] + [f"{s} dB" for s in SNRS]
REF, R = "mlp", 1000
warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")


def read(results_csv, cache):
    res = pd.read_csv(results_csv)
    data = {}
    for key in res.eval_key:
        t = pq.read_table(cache / key / "predictions.parquet")
        probs = t["probabilities"].combine_chunks().flatten().to_numpy().reshape(-1, C)
        y = pc.index_in(t["true"], value_set=pa.array(CLASSES)).to_numpy()
        p = pc.index_in(t["predicted"], value_set=pa.array(CLASSES)).to_numpy()
        data[key] = (t["id"].to_numpy(), y, p, probs)
    return res, data


def tables(res, data, out):
    rows = res[["model", "train", "test", "condition", "seed", "eval_key"]].copy()
    rows["uar"] = [balanced_accuracy_score(data[k][1], data[k][2]) for k in rows.eval_key]
    g = rows.groupby(["model", "train", "test", "condition"], sort=False)["uar"].agg(["mean", "std"]).reset_index()
    g.to_csv(out / "uar_by_condition.csv", index=False)
    models = list(dict.fromkeys(res.model))
    md, tex = [], ["% needs \\usepackage{booktabs}"]
    for tr, te in dict.fromkeys(zip(res.train, res.test)):
        sub = g[(g.train == tr) & (g.test == te)]
        mean, std = (sub.pivot(index="model", columns="condition", values=v).reindex(index=models, columns=CONDS)
                     for v in ("mean", "std"))
        pd.concat({"mean": mean, "std": std}, axis=1).to_csv(out / f"robustness_{tr}_to_{te}.csv")
        best = mean.eq(mean.max())
        md += [f"\n## {tr} → {te}\n", "| model | " + " | ".join(LABELS) + " |", "|---" + "|---:" * len(CONDS) + "|"]
        tex += ["\\begin{table}[htbp]\n\\centering\\small",
                f"\\caption{{Noise robustness, {tr} $\\rightarrow$ {te}: UAR, mean $\\pm$ std.}}".replace("_", "\\_"),
                "\\begin{tabular}{l" + "r" * len(CONDS) + "}\n\\toprule",
                "model & " + " & ".join(LABELS).replace("-", "$-$") + " \\\\\n\\midrule"]
        for m in models:
            v = [(f"{a:.3f}", f"{s:.3f}", b) for a, s, b in zip(mean.loc[m], std.loc[m], best.loc[m])]
            md.append(f"| {m} | " + " | ".join(f"**{a} ± {s}**" if b else f"{a} ± {s}" for a, s, b in v) + " |")
            tex.append(m.replace("_", "\\_") + " & " + " & ".join(
                f"$\\mathbf{{{a} \\pm {s}}}$" if b else f"${a} \\pm {s}$" for a, s, b in v) + " \\\\")
        tex += ["\\bottomrule\n\\end{tabular}\n\\end{table}\n"]
    (out / "tables.md").write_text("# UAR, mean ± std over seeds; bold: best in column\n" + "\n".join(md) + "\n")
    (out / "tables.tex").write_text("\n".join(tex))
    return rows, g


def boot_deltas(y, correct, n_model, idx):
    """Seed-mean UAR of the model minus the reference, on the full set (row 0) and on each resample.

    correct: (S, n) bool, the model's seeds first. idx: (R, n) resampled utterance indices."""
    r, n = idx.shape
    w = np.bincount((np.arange(r)[:, None] * n + idx).ravel(), minlength=r * n).reshape(r, n)
    w = np.vstack([np.ones(n), w])  # times each utterance is drawn; row 0 = the full set
    ind = np.eye(C)[y][:, None, :] * np.vstack([np.ones(n), correct]).T[:, :, None]  # (n, S+1, C)
    counts = (w @ ind.reshape(n, -1)).reshape(r + 1, -1, C)
    tot, corr = counts[:, 0], counts[:, 1:]
    present = tot > 0
    uar = np.where(present[:, None], corr / np.maximum(tot, 1)[:, None], 0).sum(-1) / present.sum(-1)[:, None]
    return uar[:, :n_model].mean(1) - uar[:, n_model:].mean(1)


def comparisons(res, data):
    keys = res.groupby(["train", "test", "condition", "model"], sort=False).eval_key.agg(list)
    for (tr, te, cond, m), mk in keys.items():
        if m == REF:
            continue
        rk = keys[(tr, te, cond, REF)]
        assert all((data[k][0] == data[mk[0]][0]).all() for k in mk + rk), "utterance order differs"
        yield tr, te, cond, m, mk, rk


def significance(res, data, rng, out):
    rows = []
    for tr, te, cond, m, mk, rk in comparisons(res, data):
        y = data[mk[0]][1]
        ens = [np.mean([data[k][3] for k in ks], axis=0).argmax(1) == y for ks in (mk, rk)]
        b, c = int(np.sum(ens[0] & ~ens[1])), int(np.sum(~ens[0] & ens[1]))
        p_mc = scipy.stats.binomtest(min(b, c), b + c, 0.5).pvalue if b + c else 1.0
        correct = np.stack([data[k][2] == y for k in mk + rk])
        d = boot_deltas(y, correct, len(mk), rng.integers(0, len(y), size=(R, len(y))))
        lo, hi = np.percentile(d[1:], [2.5, 97.5])
        p_bs = min(1.0, 2 * min(np.mean(d[1:] <= 0), np.mean(d[1:] >= 0)))
        rows.append((m, REF, tr, te, cond, len(y), b, c, p_mc, d[0], lo, hi, p_bs))
    cols = "model reference train test condition utterances mcnemar_b mcnemar_c mcnemar_p_exact delta ci_low ci_high"
    sig = pd.DataFrame(rows, columns=cols.split() + ["bootstrap_p"])
    sig.to_csv(out / "significance.csv", index=False)
    return sig


def naive_one(res, data, rng, check):
    """The common way: one balanced_accuracy_score call per resample, seed and system (one comparison)."""
    tr, te, cond, m, mk, rk = next(comparisons(res, data))
    y = data[mk[0]][1]
    idx = rng.integers(0, len(y), size=(R, len(y)))
    t0 = time.perf_counter()
    d = np.zeros(R)
    for ks, sign in ((mk, 1), (rk, -1)):
        d += sign * np.array([np.mean([balanced_accuracy_score(y[i], data[k][2][i]) for k in ks]) for i in idx])
    _ = np.percentile(d, [2.5, 97.5]), min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0)))
    took = time.perf_counter() - t0
    if check:  # the vectorised bootstrap gives the same deltas on the same resamples
        fast = boot_deltas(y, np.stack([data[k][2] == y for k in mk + rk]), len(mk), idx)[1:]
        assert np.allclose(fast, d, atol=1e-12), "vectorised bootstrap disagrees with sklearn"
    return took


def plots(res, data, g, out):
    models = list(dict.fromkeys(res.model))
    for tr, te in dict.fromkeys(zip(res.train, res.test)):
        fig, ax = plt.subplots(figsize=(7.6, 4.7))
        for m in models:
            s = g[(g.model == m) & (g.train == tr) & (g.test == te)].set_index("condition").reindex(CONDS)
            ax.errorbar(range(len(CONDS)), s["mean"], yerr=s["std"], marker="o", capsize=3, label=m)
        ax.axhline(1 / C, ls="--", color="grey", label="chance")
        ax.set(xticks=range(len(CONDS)), xticklabels=LABELS, xlabel="condition", ylabel="UAR", ylim=(0, 1),
               title=f"UAR vs SNR, {tr} → {te}")
        ax.legend()
        fig.tight_layout()
        for ext in ("svg", "png"):
            fig.savefig(out / f"uar_vs_snr_{tr}_to_{te}.{ext}", dpi=100)
        plt.close(fig)
        for m in models:
            fig, axes = plt.subplots(1, 2, figsize=(7.8, 4.3))
            for ax, cond, name in zip(axes, ("clean", "synth_noise.snr0"), ("clean", "0 dB")):
                sel = (res.model == m) & (res.train == tr) & (res.test == te) & (res.condition == cond)
                cm = sum(np.bincount(data[k][1] * C + data[k][2], minlength=C * C) for k in res.eval_key[sel])
                cm = cm.reshape(C, C) / np.maximum(cm.reshape(C, C).sum(1, keepdims=True), 1)
                ax.imshow(cm, vmin=0, vmax=1, cmap="Blues")
                for i, j in np.ndindex(C, C):
                    ax.text(j, i, f"{cm[i, j]:.2f}", ha="center", va="center", color="white" if cm[i, j] > 0.5 else "k")
                ax.set(xticks=range(C), yticks=range(C), xticklabels=CLASSES, yticklabels=CLASSES,
                       xlabel="predicted", ylabel="true", title=f"{name}")
            fig.suptitle(f"{m}, {tr} → {te}")
            fig.tight_layout()
            for ext in ("svg", "png"):
                fig.savefig(out / f"confusion_{m}_{tr}_to_{te}.{ext}", dpi=100)
            plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default="reports/demo/results.csv")
    ap.add_argument("--cache", default="cache/eval")
    ap.add_argument("--out", default="target/bench_report_py")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    cache, out = pathlib.Path(a.cache), pathlib.Path(a.out)
    missing = [k for k in pd.read_csv(a.results).eval_key if not (cache / k / "predictions.parquet").exists()]
    if missing:
        raise SystemExit(f"{len(missing)} eval keys missing under {cache}: run "
                         "`target/release/sertool run pipelines/demo.toml -q` first")
    out.mkdir(parents=True, exist_ok=True)
    print(f"numpy {np.__version__}, scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, pandas "
          f"{pd.__version__}, pyarrow {pa.__version__}, matplotlib {matplotlib.__version__}; 1 thread")
    fig, ax = plt.subplots()  # untimed warm-up: matplotlib's first figure and first PNG/SVG writes
    ax.imshow(np.eye(C)), ax.text(0, 0, "x"), ax.errorbar([0, 1], [0, 1], yerr=[0.1, 0.1])
    for ext in ("svg", "png"):
        fig.savefig(io.BytesIO(), format=ext, dpi=100)
    plt.close(fig)
    runs = []
    for rep in range(a.repeat):
        rng = np.random.default_rng(rep)
        t = {}
        res, data = timed(t, "read", read, a.results, cache)
        rows, g = timed(t, "tables", tables, res, data, out)
        sig = timed(t, "significance", significance, res, data, rng, out)
        t["naive"] = naive_one(res, data, rng, check=rep == 0) * len(sig)
        timed(t, "plots", plots, res, data, g, out)
        if rep == 0:
            assert np.allclose(rows.uar, res.uar, atol=1e-9), "UAR from predictions differs from results.csv"
        runs.append(t)
        print(f"run {rep + 1}: " + line(t))
    best = {k: min(r[k] for r in runs) for k in runs[0]}
    print(f"best of {a.repeat} per phase, total = sum of bests (all runs after an untimed matplotlib "
          f"first-figure warm-up): " + line(best))
    print(f"{len(sig)} comparisons, {R} resamples; outputs in {out}/")


def timed(t, name, f, *args):
    t0 = time.perf_counter()
    result = f(*args)
    t[name] = time.perf_counter() - t0
    return result


def line(t):
    total = t["read"] + t["tables"] + t["significance"] + t["plots"]
    return (f"read {t['read']:.3f} s | tables {t['tables']:.3f} s | significance {t['significance']:.3f} s "
            f"(naive sklearn loop, estimated: {t['naive']:.1f} s) | plots {t['plots']:.3f} s | "
            f"total {total:.3f} s (imports {IMPORTS:.2f} s)")


if __name__ == "__main__":
    main()
