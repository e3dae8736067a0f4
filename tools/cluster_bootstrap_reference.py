"""Reference values for sertool's speaker-aware statistics (tests/cluster_bootstrap_reference.rs).

The Rust test compares report::significance against this file within 1e-12. Computed here with numpy,
scipy and scikit-learn, on fixed cases whose items carry known speakers:

- Cluster bootstrap: the clusters are the distinct speaker keys in sorted order, each holding its items
  in item order. Resample r draws k = #clusters cluster indices with SplitMix64 below(k) (the generator
  of tools/significance_reference.py) and concatenates their items; every seed of both systems is scored
  on that resample (scikit-learn: uar = balanced_accuracy_score, wa = accuracy_score, macro_f1 =
  f1_score(average="macro", zero_division=0)), averaged over seeds left to right. Each system's interval
  is numpy.percentile(values, [100(1-conf)/2, 100(1+conf)/2]); the paired difference's interval and p as
  in significance_reference.py.
- Sign-flip test on two prediction vectors (the seed ensembles): resample r draws one next_u64() per
  cluster, in cluster order; where its top bit is 1 the two systems' predictions are swapped on that
  cluster's items. p = (1 + #{|delta_r| >= |delta| - 1e-12}) / (1 + R).
- Minimum detectable difference: (norm.ppf(1 - alpha/2) + norm.ppf(power)) * sqrt(2 p (1 - p) / n_eff),
  p = mean correctness, n_eff = n / (1 + (n/k - 1) rho), rho the one-way ANOVA intraclass correlation of
  correctness over clusters, (MSB - MSW) / (MSB + (m0 - 1) MSW), m0 = (n - sum m_j^2 / n) / (k - 1),
  clamped to [0, 1]; rho = 0 when k < 2 or every cluster is one item.

Writes tests/data/cluster_bootstrap_reference.json (a few KB).

    python3 -m venv tools/.venv && tools/.venv/bin/pip install numpy scipy scikit-learn
    tools/.venv/bin/python tools/cluster_bootstrap_reference.py
"""

import json
import pathlib
import sys
import warnings

import numpy as np
import scipy
import sklearn
from scipy.stats import norm

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from significance_reference import METRICS, SplitMix64  # noqa: E402


def clusters_of(keys):
    order = sorted(set(keys))
    return [[i for i, k in enumerate(keys) if k == key] for key in order]


def mean_metric(metric, t, system, idx):
    return sum(float(metric(t[idx], p[idx])) for p in system) / len(system)


def bootstrap(case):
    metric = METRICS[case["metric"]]
    t = np.asarray(case["truth"])
    systems = [[np.asarray(p) for p in case["a"]], [np.asarray(p) for p in case["b"]]]
    clusters = clusters_of(case["keys"])
    k = len(clusters)
    rng = SplitMix64(case["seed"])
    values = [[], []]
    first = None
    for r in range(case["resamples"]):
        drawn = [rng.below(k) for _ in range(k)]
        if r == 0:
            first = drawn[:5]
        idx = np.asarray([i for j in drawn for i in clusters[j]])
        for s, out in zip(systems, values):
            out.append(mean_metric(metric, t, s, idx))
    conf = case["confidence"]
    q = [100 * (1 - conf) / 2, 100 * (1 + conf) / 2]
    everything = np.arange(len(t))
    observed = [mean_metric(metric, t, s, everything) for s in systems]
    deltas = np.asarray(values[0]) - np.asarray(values[1])
    le, ge = int(np.sum(deltas <= 0)), int(np.sum(deltas >= 0))
    a_lo, a_hi = np.percentile(values[0], q)
    b_lo, b_hi = np.percentile(values[1], q)
    d_lo, d_hi = np.percentile(deltas, q)
    return {
        "first_clusters": first,
        "a_interval": [float(a_lo), float(a_hi)],
        "b_interval": [float(b_lo), float(b_hi)],
        "delta": observed[0] - observed[1],
        "delta_interval": [float(d_lo), float(d_hi)],
        "bootstrap_p": min(1.0, 2 * min(le, ge) / case["resamples"]),
    }


def sign_flip(case):
    metric = METRICS[case["metric"]]
    t = np.asarray(case["truth"])
    a = np.asarray(case["a_ensemble"])
    b = np.asarray(case["b_ensemble"])
    clusters = clusters_of(case["keys"])
    delta = float(metric(t, a)) - float(metric(t, b))
    rng = SplitMix64(case["flip_seed"])
    extreme = 0
    for _ in range(case["resamples"]):
        sa, sb = a.copy(), b.copy()
        for members in clusters:
            if rng.next_u64() >> 63 == 1:
                sa[members], sb[members] = b[members], a[members]
        if abs(float(metric(t, sa)) - float(metric(t, sb))) >= abs(delta) - 1e-12:
            extreme += 1
    return {"flip_delta": delta, "flip_p": (1 + extreme) / (1 + case["resamples"])}


def mdd(correct, keys, alpha, power):
    y = np.asarray(correct, dtype=float)
    clusters = clusters_of(keys)
    n, k = len(y), len(clusters)
    grand = y.mean()
    if k < 2 or n == k:
        rho = 0.0
    else:
        sizes = np.asarray([len(m) for m in clusters], dtype=float)
        means = np.asarray([y[m].mean() for m in clusters])
        msb = float(np.sum(sizes * (means - grand) ** 2)) / (k - 1)
        msw = float(sum(np.sum((y[m] - y[m].mean()) ** 2) for m in clusters)) / (n - k)
        m0 = (n - float(np.sum(sizes ** 2)) / n) / (k - 1)
        denom = msb + (m0 - 1) * msw
        rho = min(1.0, max(0.0, (msb - msw) / denom)) if denom > 0 else 0.0
    deff = 1 + (n / k - 1) * rho
    n_eff = n / deff
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return {"n": n, "clusters": k, "p": float(grand), "icc": rho, "design_effect": deff,
            "n_effective": n_eff, "mdd": float(z * np.sqrt(2 * grand * (1 - grand) / n_eff))}


def speaker_case(rng, name, n_classes, metric, sizes, q_a, q_b, seeds_a, seeds_b, resamples, seed, spread):
    """Speakers of the given sizes, each with its own difficulty (spread), so correctness clusters."""
    keys, truth = [], []
    for s, m in enumerate(sizes):
        keys += [f"spk{s:02d}"] * m
        truth += rng.integers(0, n_classes, m).tolist()
    truth = np.asarray(truth)
    difficulty = {f"spk{s:02d}": rng.uniform(-spread, spread) for s in range(len(sizes))}
    shift = np.asarray([difficulty[k] for k in keys])

    def system(q, seeds):
        out = []
        for _ in range(seeds):
            keep = rng.random(len(truth)) < np.clip(q + shift, 0.05, 0.95)
            out.append(np.where(keep, truth, rng.integers(0, n_classes, len(truth))).tolist())
        return out

    return {
        "name": name, "n_classes": n_classes, "metric": metric, "keys": keys,
        "truth": truth.tolist(), "a": system(q_a, seeds_a), "b": system(q_b, seeds_b),
        "a_ensemble": system(q_a, 1)[0], "b_ensemble": system(q_b, 1)[0],
        "resamples": resamples, "confidence": 0.95, "seed": seed, "flip_seed": seed + 100,
    }


def cases():
    rng = np.random.default_rng(20261202)
    yield speaker_case(rng, "uar_12_speakers", 4, "uar", [3, 5, 8, 4, 10, 6, 7, 3, 9, 5, 4, 6], 0.65, 0.5,
                       3, 2, 200, 7, 0.25)
    yield speaker_case(rng, "wa_one_big_speaker", 4, "wa", [40, 3, 4, 2, 5, 3], 0.6, 0.55, 2, 2, 300, 11, 0.3)
    yield speaker_case(rng, "macro_f1_8_speakers", 4, "macro_f1", [6, 6, 6, 6, 6, 6, 6, 6], 0.7, 0.45, 1, 3,
                       200, 5, 0.2)
    same = speaker_case(rng, "identical", 4, "uar", [5, 5, 5, 5, 5], 0.6, 0.6, 2, 2, 100, 3, 0.1)
    same["b"] = [list(s) for s in same["a"]]
    same["b_ensemble"] = list(same["a_ensemble"])
    yield same
    # Every utterance its own unit: the utterance bootstrap, one item per cluster.
    u = speaker_case(rng, "utterance_unit", 4, "uar", [1] * 60, 0.65, 0.55, 2, 2, 200, 13, 0.0)
    u["keys"] = [f"u{i:03d}" for i in range(60)]
    yield u


def mdd_cases():
    rng = np.random.default_rng(7)
    keys = [f"s{s}" for s, m in enumerate([10, 20, 5, 15, 30, 8, 12]) for _ in range(m)]
    skill = {k: rng.uniform(0.2, 0.9) for k in sorted(set(keys))}
    correct = [bool(rng.random() < skill[k]) for k in keys]
    yield "clustered", correct, keys, 0.05, 0.8
    yield "clustered_alpha_0.01", correct, keys, 0.01, 0.8
    yield "as_utterances", correct, [f"u{i}" for i in range(len(keys))], 0.05, 0.8
    # Speakers that do not differ: the estimator goes below 0 and is clamped.
    flat = [i % 2 == 0 for i in range(60)]
    yield "no_speaker_effect", flat, [f"s{i // 10}" for i in range(60)], 0.05, 0.8
    # 5,000 utterances at accuracy 0.5: about 2.8 points, the figure oruk-bench quotes. Written to the
    # JSON as "alternating": item i correct when i is even, every item its own unit.
    yield "five_thousand", [i % 2 == 0 for i in range(5000)], [f"u{i}" for i in range(5000)], 0.05, 0.8


def main():
    warnings.simplefilter("ignore", UserWarning)
    rows = []
    for case in cases():
        case.update(bootstrap(case))
        case.update(sign_flip(case))
        rows.append(json.dumps(case))
    mdd_rows = []
    for name, correct, keys, alpha, power in mdd_cases():
        row = {"name": name, "correct": correct, "keys": keys, "alpha": alpha, "power": power}
        row.update(mdd(correct, keys, alpha, power))
        if len(correct) > 1000:
            row["alternating"] = row.pop("n")
            del row["correct"], row["keys"]
            row["n"] = row["alternating"]
        mdd_rows.append(json.dumps(row))
    quantiles = [{"q": q, "z": float(norm.ppf(q))} for q in [0.975, 0.8, 0.995, 0.6, 0.2, 0.5, 0.999]]
    text = (f'{{"scipy": "{scipy.__version__}", "numpy": "{np.__version__}", '
            f'"sklearn": "{sklearn.__version__}",\n"quantiles": {json.dumps(quantiles)},\n'
            '"cases": [\n' + ",\n".join(rows) + "\n],\n"
            '"mdd": [\n' + ",\n".join(mdd_rows) + "\n]}\n")
    json.loads(text)
    path = pathlib.Path(__file__).resolve().parent.parent / "tests/data/cluster_bootstrap_reference.json"
    path.write_text(text)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
