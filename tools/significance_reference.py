"""Reference values for sertool's significance tests (tests/significance_reference.rs).

The Rust test compares report::significance against this file within 1e-12. Computed here with scipy,
numpy and scikit-learn:

- McNemar on paired correctness, b = items A got right and B wrong, c = the reverse:
  p_exact = scipy.stats.binomtest(min(b, c), b + c, 0.5).pvalue (two-sided), chi2 = max(0, |b - c| - 1)^2
  / (b + c) (Edwards' continuity correction), p_chi2 = scipy.stats.chi2.sf(chi2, df=1); when b + c == 0,
  p_exact = p_chi2 = 1 and chi2 = 0.
- Paired bootstrap of a metric (uar = balanced_accuracy_score, wa = accuracy_score, macro_f1 =
  f1_score(average="macro", zero_division=0)) averaged over the seeds of each system: delta = M(A) - M(B);
  resample r draws n indices with SplitMix64 below(n) (replicated bit-exactly here, see SplitMix64), shared
  by every seed of both systems; ci = numpy.percentile(deltas, [100(1-conf)/2, 100(1+conf)/2]) (linear);
  p = min(1, 2 min(#(delta_r <= 0), #(delta_r >= 0)) / R). "first_indices" are the first 5 indices of
  resample 0 and "rng_check" the first three next_u64() of SplitMix64::new(42). Each M is the metric of
  each seed summed left to right, then divided by the number of seeds; in wa_absent_class some resample
  deltas are exactly 0 or +-1.1e-16 in that order, so its p holds only for the same summation order.

Writes tests/data/significance_reference.json (a few KB, one case per line).

    python3 -m venv tools/.venv && tools/.venv/bin/pip install numpy scipy scikit-learn
    tools/.venv/bin/python tools/significance_reference.py
"""

import json
import pathlib
import warnings

import numpy as np
import scipy
import sklearn
from scipy.stats import binomtest, chi2
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


class SplitMix64:
    """The generator sertool's bootstrap uses, with Python integers masked to 64 bits."""

    def __init__(self, seed):
        self.state = (seed ^ GOLDEN) & MASK

    def next_u64(self):
        self.state = (self.state + GOLDEN) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        assert n > 0
        return (self.next_u64() * n) >> 64


def splitmix_of_state(state):
    """One SplitMix64 output for a given (already advanced) state, for the sanity check below."""
    z = state & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


MCNEMAR_CASES = [
    ("none", 0, 0),
    ("tie", 5, 5),
    ("small", 3, 10),
    ("one_sided", 0, 12),
    ("mid", 20, 45),
    ("large", 200, 260),
    ("very_large", 1000, 1100),
    ("huge_close", 5000, 5050),
    ("lopsided", 1, 30),
]


def mcnemar(name, b, c):
    n = b + c
    if n == 0:
        p_exact, stat, p_chi2 = 1.0, 0.0, 1.0
    else:
        p_exact = float(binomtest(min(b, c), n, 0.5, alternative="two-sided").pvalue)
        stat = max(0, abs(b - c) - 1) ** 2 / n
        p_chi2 = float(chi2.sf(stat, df=1))
    return {"name": name, "b": b, "c": c, "p_exact": p_exact, "chi2": float(stat), "p_chi2": p_chi2}


METRICS = {
    "uar": balanced_accuracy_score,
    "wa": accuracy_score,
    "macro_f1": lambda t, p: f1_score(t, p, average="macro", zero_division=0),
}


def mean_metric(metric, truth, system, idx):
    t = truth[idx]
    return sum(float(metric(t, pred[idx])) for pred in system) / len(system)


def bootstrap(name, n_classes, metric_name, truth, a, b, resamples, confidence, seed):
    metric = METRICS[metric_name]
    t = np.asarray(truth)
    sa = [np.asarray(p) for p in a]
    sb = [np.asarray(p) for p in b]
    n = len(truth)
    assert all(len(p) == n for p in a + b)
    everything = np.arange(n)
    delta = mean_metric(metric, t, sa, everything) - mean_metric(metric, t, sb, everything)
    rng = SplitMix64(seed)
    deltas, first_indices = [], None
    for r in range(resamples):
        idx = [rng.below(n) for _ in range(n)]
        if r == 0:
            first_indices = idx[:5]
        idx = np.asarray(idx)
        deltas.append(mean_metric(metric, t, sa, idx) - mean_metric(metric, t, sb, idx))
    deltas = np.asarray(deltas)
    ci_low, ci_high = np.percentile(deltas, [100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2])
    le = int(np.sum(deltas <= 0))
    ge = int(np.sum(deltas >= 0))
    p = min(1.0, 2 * min(le, ge) / resamples)
    return {
        "name": name, "n_classes": n_classes, "metric": metric_name, "seed": seed,
        "resamples": resamples, "confidence": confidence,
        "truth": [int(x) for x in truth], "a": [[int(x) for x in s] for s in a],
        "b": [[int(x) for x in s] for s in b],
        "delta": float(delta), "ci_low": float(ci_low), "ci_high": float(ci_high), "p": float(p),
        "first_indices": first_indices,
    }, deltas


def predictions(rng, truth, n_classes, q, seeds):
    """Per seed: the true class with probability q, else a uniformly random class in 0..n_classes-1."""
    out = []
    for _ in range(seeds):
        keep = rng.random(len(truth)) < q
        out.append(np.where(keep, truth, rng.integers(0, n_classes, len(truth))).tolist())
    return out


def bootstrap_cases():
    rng = np.random.default_rng(20240611)
    truth = rng.integers(0, 4, 80)
    yield ("uar_3v3", 4, "uar", truth.tolist(), predictions(rng, truth, 4, 0.7, 3),
           predictions(rng, truth, 4, 0.55, 3), 200, 0.95, 7)
    truth = rng.integers(0, 4, 60)
    yield ("uar_1v1", 4, "uar", truth.tolist(), predictions(rng, truth, 4, 0.6, 1),
           predictions(rng, truth, 4, 0.6, 1), 300, 0.95, 11)
    truth = rng.integers(0, 4, 40)
    same = predictions(rng, truth, 4, 0.6, 2)
    yield "identical", 4, "uar", truth.tolist(), same, [list(s) for s in same], 100, 0.95, 3
    truth = rng.integers(0, 4, 70)
    yield ("macro_f1_3v2", 4, "macro_f1", truth.tolist(), predictions(rng, truth, 4, 0.65, 3),
           predictions(rng, truth, 4, 0.5, 2), 200, 0.90, 5)
    # Class 4 of 5 never occurs in truth but is sometimes predicted.
    truth = rng.integers(0, 4, 50)
    a = predictions(rng, truth, 5, 0.6, 2)
    b = predictions(rng, truth, 5, 0.5, 2)
    assert 4 not in truth and all(4 in s for s in a + b)
    yield "wa_absent_class", 5, "wa", truth.tolist(), a, b, 150, 0.95, 9
    yield "uar_absent_class", 5, "uar", truth.tolist(), a, b, 150, 0.95, 13


def main():
    # Absent classes make sklearn warn (y_pred classes not in y_true); expected here.
    warnings.simplefilter("ignore", UserWarning)

    assert SplitMix64(0).next_u64() == splitmix_of_state(GOLDEN + GOLDEN)
    check = SplitMix64(42)
    rng_check = {"seed": 42, "first": [check.next_u64() for _ in range(3)]}

    mcnemar_rows = [json.dumps(mcnemar(*case)) for case in MCNEMAR_CASES]
    boot_rows = []
    for case in bootstrap_cases():
        row, deltas = bootstrap(*case)
        # p counts delta_r <= 0 and >= 0 exactly, so resample deltas at or within rounding of 0 make p
        # depend on summing in the same order as here (left to right over seeds, then / seeds).
        ties = int(np.sum(deltas == 0))
        near = int(np.sum((deltas != 0) & (np.abs(deltas) < 1e-12)))
        if (ties or near) and row["name"] != "identical":
            print(f"note: {row['name']}: {ties} resample deltas exactly 0, {near} within 1e-12 of 0")
        boot_rows.append(json.dumps(row))

    text = (f'{{"scipy": "{scipy.__version__}", "numpy": "{np.__version__}", '
            f'"sklearn": "{sklearn.__version__}",\n"rng_check": {json.dumps(rng_check)},\n'
            '"mcnemar": [\n' + ",\n".join(mcnemar_rows) + "\n],\n"
            '"bootstrap": [\n' + ",\n".join(boot_rows) + "\n]}\n")
    json.loads(text)
    path = pathlib.Path(__file__).resolve().parent.parent / "tests/data/significance_reference.json"
    path.write_text(text)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
