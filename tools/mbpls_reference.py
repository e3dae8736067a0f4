"""Reference values for sertool's multiblock PLS (MB-PLS) tests, computed with plain numpy.

The inputs come from numpy's random generator, which Rust cannot reproduce, so they are stored in
the JSON next to the expected outputs. Writes tests/data/mbpls_reference.json.

    python3 -m venv tools/.venv && tools/.venv/bin/pip install numpy
    tools/.venv/bin/python tools/mbpls_reference.py

Algorithm (the project's MB-PLS definition):
  fit: centre every column of every block and of Y; X = [X_1 .. X_B] (deflated copy).
  per component: w = top eigenvector of X^T Y Y^T X (eigh), sign so that its largest |entry| is
  positive; a_b = |w_b|^2; t_b = X_b w_b / |w_b| (0 if |w_b| < 1e-12); t = sum_b a_b t_b;
  p = X^T t / t^T t; X <- X - t p^T. Y is not deflated.
  transform: centre with the training block means, then the same t_b, t and deflation per component.
"""

import json
import pathlib

import numpy as np

EPS = 1e-12
MIN_GAP = 0.01  # relative gap between the two largest eigenvalues of every component


def block_scores(x, w, bounds):
    tb = []
    for lo, hi in bounds:
        nb = np.linalg.norm(w[lo:hi])
        tb.append(x[:, lo:hi] @ w[lo:hi] / nb if nb >= EPS else np.zeros(x.shape[0]))
    return np.array(tb)


def fit(blocks, y, k):
    sizes = [b.shape[1] for b in blocks]
    ends = np.cumsum(sizes)
    bounds = list(zip(ends - sizes, ends))
    means = [b.mean(axis=0) for b in blocks]
    x = np.hstack([b - m for b, m in zip(blocks, means)])
    yc = y - y.mean(axis=0)
    ws, as_, ps, ts, tbs, gaps = [], [], [], [], [], []
    for _ in range(k):
        a_mat = x.T @ yc
        vals, vecs = np.linalg.eigh(a_mat @ a_mat.T)
        gaps.append((vals[-1] - vals[-2]) / vals[-1])
        w = vecs[:, -1]
        if w[np.argmax(np.abs(w))] < 0:
            w = -w
        a = np.array([np.sum(w[lo:hi] ** 2) for lo, hi in bounds])
        tb = block_scores(x, w, bounds)
        t = a @ tb
        p = x.T @ t / (t @ t)
        x = x - np.outer(t, p)
        ws.append(w), as_.append(a), ps.append(p), ts.append(t), tbs.append(tb)
    model = dict(means=means, bounds=bounds, w=ws, a=as_, p=ps)
    return model, np.array(ts).T, np.array(tbs), gaps


def transform(model, blocks):
    x = np.hstack([b - m for b, m in zip(blocks, model["means"])])
    ts, tbs = [], []
    for w, a, p in zip(model["w"], model["a"], model["p"]):
        tb = block_scores(x, w, model["bounds"])
        t = a @ tb
        x = x - np.outer(t, p)
        ts.append(t), tbs.append(tb)
    return np.array(ts).T, np.array(tbs)


def sign_margin(w):
    """Relative margin between the two largest |w| entries (the sign convention needs it > 0)."""
    s = np.sort(np.abs(w))
    return (s[-1] - s[-2]) / s[-1]


def make_case(name, seed, n, sizes, q, k, m, zero_block=None):
    while True:
        rng = np.random.default_rng(seed)
        blocks = [rng.normal(size=(n, s)) for s in sizes]
        new_blocks = [rng.normal(size=(m, s)) for s in sizes]
        if zero_block is not None:
            blocks[zero_block][:] = 0.0
            new_blocks[zero_block][:] = 0.0
        x = np.hstack(blocks)
        y = x @ rng.normal(size=(x.shape[1], q)) + 0.1 * rng.normal(size=(n, q))
        model, t, tb, gaps = fit(blocks, y, k)
        margins = [sign_margin(w) for w in model["w"]]
        if min(gaps) >= MIN_GAP and min(margins) >= 0.01:
            break
        print(f"{name}: seed {seed} rejected (gaps {gaps}, sign margins {margins})")
        seed += 1
    print(f"{name}: seed {seed}, eigen gaps {[f'{g:.3g}' for g in gaps]}, "
          f"sign margins {[f'{s:.3g}' for s in margins]}")
    new_t, new_tb = transform(model, new_blocks)
    lists = lambda arrs: [a.tolist() for a in arrs]
    return {
        "name": name,
        "seed": seed,
        "blocks": lists(blocks),
        "y": y.tolist(),
        "k": k,
        "new_blocks": lists(new_blocks),
        "expected": {
            "block_means": lists(model["means"]),
            "weights": lists(model["w"]),
            "block_importance": lists(model["a"]),
            "loadings": lists(model["p"]),
            "super_scores": t.tolist(),
            "block_scores": tb.tolist(),
            "transform_super_scores": new_t.tolist(),
            "transform_block_scores": new_tb.tolist(),
            "block_importance_mean": np.mean(model["a"], axis=0).tolist(),
        },
    }


def main():
    cases = [
        make_case("three_blocks", 7, n=24, sizes=[3, 4, 2], q=5, k=3, m=5),
        make_case("zero_block", 7, n=12, sizes=[2, 3], q=2, k=2, m=5, zero_block=0),
    ]
    out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "mbpls_reference.json"
    out.write_text(json.dumps({"numpy": np.__version__, "cases": cases}, separators=(",", ":")) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
