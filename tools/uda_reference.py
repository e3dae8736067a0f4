"""Reference values for sertool's domain-adaptation tests, computed with plain numpy.

Covers three pieces: the multi-bandwidth RBF MMD, the supervised contrastive loss with extra
negatives, and the FreeMatch-style self-adaptive threshold. The inputs come from numpy's random
generator (fixed seeds), which Rust cannot reproduce, so they are stored in the JSON next to the
expected outputs. Every stored input is drawn (or computed) in float64 and then cast to float32, so
it is exactly representable in f32; everything else is computed in float64 from those f32 values.
Writes tests/data/uda_reference.json:

    python3 -m venv tools/.venv && tools/.venv/bin/pip install numpy
    tools/.venv/bin/python tools/uda_reference.py

Layout: {"numpy": version, "mmd": [case...], "supcon": [case...], "threshold": [case...]}, every
case has a "name" and a "seed".

MMD ("mmd"; biased estimator). X (m x d), Y (n x d), Z = vstack(X, Y), N = m + n,
  D_ij = |z_i - z_j|^2, base = sum(D) / (N^2 - N)   (a constant: no gradient flows through it),
  b_k = base * 2^k for k in {-2, -1, 0, 1, 2},   K_ij = sum_k exp(-D_ij / b_k),
  MMD^2 = mean(K_XX) + mean(K_YY) - 2 mean(K_XY), each mean over all pairs of its block, diagonal
  included. With W_ij = 1/m^2 (both in X), 1/n^2 (both in Y), -1/(mn) (one in each) and
  G_ij = dK_ij/dD_ij = -sum_k exp(-D_ij / b_k) / b_k, A = W * G (elementwise, symmetric):
  dMMD^2/dz_i = 4 sum_j A_ij (z_i - z_j). Keys: x, y, base, value, grad_x, grad_y.

SupCon ("supcon"; Khosla et al. 2020, L_out form, with extra negatives). e (N x d), labels (N),
  extra (M x d, possibly M = 0: stored as [] with extra_dim = d), tau.
  e^_i = e_i / |e_i|, c^_k = extra_k / |extra_k|, s_ia = e^_i . e^_a / tau,
  u_ik = e^_i . c^_k / tau,
  P(i) = {p != i : labels_p = labels_i}, anchors = {i : P(i) non-empty},
  denom_i = sum_{a != i} exp(s_ia) + sum_k exp(u_ik),
  L_i = -(1/|P(i)|) sum_{p in P(i)} [s_ip - log denom_i],
  loss = mean of L_i over the anchors (0.0 if there are none). Keys: e, labels, extra, extra_dim,
  tau, value, grad_e (gradient w.r.t. the unnormalised e; extra is treated as a constant).

Threshold ("threshold"; FreeMatch self-adaptive threshold). C classes, momentum lam;
  tau = 1/C, ptilde = [1/C] * C initially. Per batch Q (B x C, rows = float32 softmax outputs, used
  as they are, not renormalised): FIRST tau <- lam tau + (1 - lam) mean_b max_c Q_bc and
  ptilde <- lam ptilde + (1 - lam) mean_b Q_b; THEN t_c = tau ptilde_c / max(ptilde),
  pseudo_b = argmax_c Q_bc (first index among equals), mask_b = (max_c Q_bc >= t_{pseudo_b}).
  Keys: classes, momentum, batches (list of B x C), expected (one entry per batch, the state after
  that batch: tau, ptilde, thresholds, pseudo, mask).

The script checks both analytic gradients against central finite differences (MMD with base held
at its unperturbed value) and rejects threshold seeds whose argmax or mask decisions sit within 1e-5
of a tie, or that mask out no row at all.
"""

import json
import pathlib

import numpy as np

EXPONENTS = [-2, -1, 0, 1, 2]
FD_STEP = 1e-6
FD_TOL = 1e-6
DECISION_MARGIN = 1e-5


def f32(a):
    """Cast to float32 and back to float64: the exact values that go into the JSON."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def central_diff(f, x):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += FD_STEP
        xm[idx] -= FD_STEP
        g[idx] = (f(xp) - f(xm)) / (2 * FD_STEP)
    return g


def check_grad(name, analytic, numeric):
    err = np.max(np.abs(analytic - numeric)) if analytic.size else 0.0
    assert err < FD_TOL, f"{name}: analytic vs finite-difference gradient differ by {err:.3g}"
    return err


# ---------------------------------------------------------------------------------------------
# MMD


def sq_dists(z):
    diff = z[:, None, :] - z[None, :, :]
    return np.sum(diff * diff, axis=-1)


def mmd_base(x, y):
    z = np.vstack([x, y])
    n = z.shape[0]
    return np.sum(sq_dists(z)) / (n * n - n)


def mmd_weights(m, n):
    w = np.full((m + n, m + n), -1.0 / (m * n))
    w[:m, :m] = 1.0 / (m * m)
    w[m:, m:] = 1.0 / (n * n)
    return w


def mmd_value(x, y, base):
    z = np.vstack([x, y])
    d = sq_dists(z)
    k = sum(np.exp(-d / (base * 2.0**e)) for e in EXPONENTS)
    m = x.shape[0]
    return k[:m, :m].mean() + k[m:, m:].mean() - 2.0 * k[:m, m:].mean()


def mmd_grad(x, y, base):
    z = np.vstack([x, y])
    m, n = x.shape[0], y.shape[0]
    d = sq_dists(z)
    g = -sum(np.exp(-d / (base * 2.0**e)) / (base * 2.0**e) for e in EXPONENTS)
    a = mmd_weights(m, n) * g
    grad = 4.0 * (a.sum(axis=1)[:, None] * z - a @ z)
    return grad[:m], grad[m:]


def mmd_case(name, seed, m, n, d, x_scale=1.0, y_scale=1.0, y_shift=0.0):
    rng = np.random.default_rng(seed)
    x = f32(x_scale * rng.normal(size=(m, d)))
    y = f32(y_scale * rng.normal(size=(n, d)) + y_shift)
    base = mmd_base(x, y)
    value = mmd_value(x, y, base)
    gx, gy = mmd_grad(x, y, base)
    ex = check_grad(f"{name} grad_x", gx, central_diff(lambda v: mmd_value(v, y, base), x))
    ey = check_grad(f"{name} grad_y", gy, central_diff(lambda v: mmd_value(x, v, base), y))
    print(f"mmd {name}: value {value:.6g}, base {base:.6g}, fd errors {ex:.2g} / {ey:.2g}")
    return {
        "name": name,
        "seed": seed,
        "x": x.tolist(),
        "y": y.tolist(),
        "base": base,
        "value": value,
        "grad_x": gx.tolist(),
        "grad_y": gy.tolist(),
    }


# ---------------------------------------------------------------------------------------------
# Supervised contrastive loss


def normalise_rows(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def supcon_parts(e, labels, extra, tau):
    """Loss and gradient w.r.t. the normalised rows e^ (extra is a constant)."""
    eh = normalise_rows(e)
    ch = normalise_rows(extra) if extra.shape[0] else extra
    n = eh.shape[0]
    s = eh @ eh.T / tau
    u = eh @ ch.T / tau
    not_self = ~np.eye(n, dtype=bool)
    pos = (labels[:, None] == labels[None, :]) & not_self
    npos = pos.sum(axis=1)
    anchors = npos > 0
    if not anchors.any():
        return 0.0, np.zeros_like(eh)
    # softmax over the denominator terms (other samples, then extras), stabilised by the row max
    s_masked = np.where(not_self, s, -np.inf)
    row_max = np.maximum(s_masked.max(axis=1), u.max(axis=1) if u.shape[1] else -np.inf)
    es = np.where(not_self, np.exp(s_masked - row_max[:, None]), 0.0)
    eu = np.exp(u - row_max[:, None])
    denom = es.sum(axis=1) + eu.sum(axis=1)
    log_denom = np.log(denom) + row_max
    mean_pos = np.where(anchors, (s * pos).sum(axis=1) / np.maximum(npos, 1), 0.0)
    losses = log_denom - mean_pos
    value = losses[anchors].mean()
    # dL/ds_ij and dL/du_ik for anchor rows, each scaled by 1/|anchors|
    ds = (es / denom[:, None] - pos / np.maximum(npos, 1)[:, None]) * anchors[:, None]
    du = (eu / denom[:, None]) * anchors[:, None]
    na = anchors.sum()
    ds, du = ds / na, du / na
    grad_eh = (ds @ eh + ds.T @ eh + du @ ch) / tau
    return value, grad_eh


def supcon_value(e, labels, extra, tau):
    return supcon_parts(e, labels, extra, tau)[0]


def supcon_grad(e, labels, extra, tau):
    _, g_eh = supcon_parts(e, labels, extra, tau)
    norms = np.linalg.norm(e, axis=1, keepdims=True)
    eh = e / norms
    return (g_eh - np.sum(g_eh * eh, axis=1, keepdims=True) * eh) / norms


def supcon_case(name, seed, labels, d, m_extra, tau, e_scale=1.0, extra_scale=1.0):
    rng = np.random.default_rng(seed)
    labels = np.array(labels, dtype=np.int64)
    e = f32(e_scale * rng.normal(size=(labels.size, d)))
    extra = f32(extra_scale * rng.normal(size=(m_extra, d)))
    value = supcon_value(e, labels, extra, tau)
    grad = supcon_grad(e, labels, extra, tau)
    err = check_grad(f"{name} grad_e", grad,
                     central_diff(lambda v: supcon_value(v, labels, extra, tau), e))
    print(f"supcon {name}: value {value:.6g}, fd error {err:.2g}")
    return {
        "name": name,
        "seed": seed,
        "e": e.tolist(),
        "labels": labels.tolist(),
        "extra": extra.tolist(),
        "extra_dim": d,
        "tau": tau,
        "value": float(value),
        "grad_e": grad.tolist(),
    }


# ---------------------------------------------------------------------------------------------
# FreeMatch self-adaptive threshold


def softmax(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def threshold_run(batches, classes, lam):
    tau = 1.0 / classes
    ptilde = np.full(classes, 1.0 / classes)
    expected, margin = [], np.inf
    for q in batches:
        conf = q.max(axis=1)
        tau = lam * tau + (1.0 - lam) * conf.mean()
        ptilde = lam * ptilde + (1.0 - lam) * q.mean(axis=0)
        thresholds = tau * ptilde / ptilde.max()
        pseudo = np.argmax(q, axis=1)
        mask = conf >= thresholds[pseudo]
        top2 = np.sort(q, axis=1)[:, -2:]
        margin = min(margin, np.min(top2[:, 1] - top2[:, 0]),
                     np.min(np.abs(conf - thresholds[pseudo])))
        expected.append({
            "tau": float(tau),
            "ptilde": ptilde.tolist(),
            "thresholds": thresholds.tolist(),
            "pseudo": pseudo.tolist(),
            "mask": mask.tolist(),
        })
    return expected, margin


def threshold_case(name, seed, classes, lam, sizes, scales, dominated):
    """One batch per entry of sizes/scales. Logits = scale * r_b * N(0, 1), r_b log-uniform in
    [0.02, 1) per row; batch `dominated` gets +3 on the last class's logits, so it dominates there.
    The softmax is cast to float32 and those values are the inputs."""
    while True:
        rng = np.random.default_rng(seed)
        batches = []
        for i, (b, scale) in enumerate(zip(sizes, scales)):
            # per-row spread so every batch mixes confident and unconfident rows
            spread = np.exp(rng.uniform(np.log(0.02), 0.0, size=(b, 1)))
            logits = scale * spread * rng.normal(size=(b, classes))
            if i == dominated:
                logits[:, classes - 1] += 3.0
            batches.append(f32(softmax(logits)))
        expected, margin = threshold_run(batches, classes, lam)
        dropped = sum(x["mask"].count(False) for x in expected)
        if margin >= DECISION_MARGIN and dropped > 0:
            break
        print(f"threshold {name}: seed {seed} rejected (decision margin {margin:.3g}, "
              f"{dropped} rows masked out)")
        seed += 1
    kept = [int(np.sum(x["mask"])) for x in expected]
    print(f"threshold {name}: seed {seed}, decision margin {margin:.3g}, masks kept {kept}")
    return {
        "name": name,
        "seed": seed,
        "classes": classes,
        "momentum": lam,
        "batches": [q.tolist() for q in batches],
        "expected": expected,
    }


def main():
    mmd = [
        mmd_case("same_distribution", 11, m=6, n=5, d=3),
        mmd_case("shifted", 12, m=8, n=8, d=4, y_shift=1.5),
        mmd_case("different_scales", 13, m=4, n=7, d=2, x_scale=0.5, y_scale=2.0),
        mmd_case("single_source", 14, m=1, n=4, d=3),
    ]
    supcon = [
        supcon_case("basic_tau0.1", 21, [0, 0, 1, 1, 2, 2, 0, 1], d=4, m_extra=5, tau=0.1),
        supcon_case("singletons_tau0.5", 22, [0, 0, 0, 1, 1, 2, 3], d=3, m_extra=4, tau=0.5,
                    e_scale=3.0, extra_scale=0.5),
        supcon_case("no_extra_tau0.1", 23, [0, 1, 0, 1, 2, 2], d=3, m_extra=0, tau=0.1),
        supcon_case("no_positives_tau0.5", 24, [0, 1, 2, 3, 4], d=3, m_extra=3, tau=0.5),
        supcon_case("one_class_tau0.5", 25, [1, 1, 1, 1], d=2, m_extra=2, tau=0.5),
    ]
    threshold = [
        threshold_case("c4_m0.9", 31, classes=4, lam=0.9, sizes=[6, 5, 8, 7, 6, 8],
                       scales=[1.0, 2.0, 4.0, 6.0, 8.0, 10.0], dominated=3),
        threshold_case("c3_m0.5", 32, classes=3, lam=0.5, sizes=[5, 7, 6, 8, 5, 6],
                       scales=[0.5, 1.0, 1.5, 2.5, 4.0, 6.0], dominated=2),
    ]
    out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "uda_reference.json"
    doc = {"numpy": np.__version__, "mmd": mmd, "supcon": supcon, "threshold": threshold}
    out.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote tests/data/{out.name} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
