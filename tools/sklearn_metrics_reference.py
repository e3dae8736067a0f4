"""Reference values from scikit-learn for sertool's metrics test (tests/metrics_sklearn.rs).

Each case stores truth and predictions (ints 0..n_classes-1) with the values scikit-learn computes:
uar = balanced_accuracy_score, wa = accuracy_score, macro_f1 = f1_score(average="macro",
zero_division=0) over the labels present in truth or predictions, micro_f1, the confusion matrix and
the per-class recall over all n_classes. Writes tests/data/sklearn_metrics.json (a few KB).

    python3 -m venv tools/.venv && tools/.venv/bin/pip install numpy scikit-learn
    tools/.venv/bin/python tools/sklearn_metrics_reference.py
"""

import json
import pathlib
import warnings

import numpy as np
import sklearn
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    recall_score,
)


def cases():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 4, 60)
    keep = rng.random(60) < 0.6
    pred = np.where(keep, truth, rng.integers(0, 4, 60))
    yield "random", 4, truth.tolist(), pred.tolist()
    yield ("absent_from_pred", 4,
           [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3],
           [0, 0, 1, 1, 1, 2, 2, 2, 0, 0, 1, 2])
    yield ("absent_from_truth", 4,
           [0, 0, 0, 1, 1, 1, 3, 3, 3, 0, 1, 3],
           [0, 2, 0, 1, 1, 2, 3, 3, 2, 0, 1, 3])
    yield ("absent_from_both", 5,
           [0, 0, 1, 1, 2, 2, 3, 3, 0, 2],
           [0, 1, 1, 1, 2, 3, 3, 0, 0, 2])
    yield "perfect", 4, [0, 1, 2, 3, 3, 2, 1, 0, 1], [0, 1, 2, 3, 3, 2, 1, 0, 1]
    yield "all_one_class", 4, [0, 1, 2, 3, 3, 2, 1, 0, 1, 1], [1] * 10


def reference(name, n_classes, truth, pred):
    labels = list(range(n_classes))
    return {
        "name": name,
        "n_classes": n_classes,
        "truth": truth,
        "pred": pred,
        "uar": float(balanced_accuracy_score(truth, pred)),
        "wa": float(accuracy_score(truth, pred)),
        "macro_f1": float(f1_score(truth, pred, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(truth, pred, average="micro")),
        "confusion": confusion_matrix(truth, pred, labels=labels).tolist(),
        "per_class_recall": recall_score(truth, pred, labels=labels, average=None, zero_division=0).tolist(),
    }


def main():
    # Absent classes make sklearn warn (undefined recall, y_pred classes not in y_true); expected here.
    warnings.simplefilter("ignore", UserWarning)
    rows = [json.dumps(reference(*case)) for case in cases()]
    text = f'{{"sklearn": "{sklearn.__version__}", "cases": [\n' + ",\n".join(rows) + "\n]}\n"
    path = pathlib.Path(__file__).resolve().parent.parent / "tests/data/sklearn_metrics.json"
    path.write_text(text)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
