"""Read the TensorBoard event files sertool writes with TensorBoard's own reader and check them against the
training log in the model.json of the same run: every (tag, step) of the log must be in the event file with
the same value (to float32, which is what an event stores), and the event file must hold nothing else. Shows
that the files sertool encodes by hand (src/util/tensorboard.rs) are ones TensorBoard reads, and that they
say what model.json says.

    python3 -m venv tools/.venv && tools/.venv/bin/pip install tensorboard
    tools/.venv/bin/python tools/tensorboard_check.py reports/demo models/demo

Checks `REPORTS/tensorboard/<run>/events.out.tfevents.*` against `MODELS/<run>/model.json`, where <run> is
`<model>/<train>[/to-<target>]/seedN`. Tags, per epoch of `log.history` (and of `encoder_log.history`, with
the prefix "encoder/"): loss/total, loss/<term> for each term, dev/uar (when there is a dev set), lr.
Exits 1 on any mismatch, or when no event file is found.
"""

import glob
import json
import math
import os
import sys

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator


def expected_points(card_path):
    """{(tag, step): float32} from the training logs of a model.json."""
    with open(card_path) as f:
        card = json.load(f)
    points = {}
    for prefix, log in [("", card.get("log")), ("encoder/", card.get("encoder_log"))]:
        for epoch in (log or {}).get("history", []):
            step = int(epoch["epoch"])
            scalars = {"loss/total": epoch["loss"], "lr": epoch["lr"], "dev/uar": epoch.get("dev_uar")}
            scalars.update({f"loss/{k}": v for k, v in epoch.get("terms", {}).items()})
            for tag, value in scalars.items():
                if value is not None:
                    points[(prefix + tag, step)] = np.float32(value)
    return points


def event_points(event_path, errors):
    """{(tag, step): float32} of an event file, as TensorBoard reads it; duplicates go to `errors`."""
    # Keep every scalar (size guidance 0) and keep steps that go backwards, so nothing in the file is hidden.
    acc = EventAccumulator(event_path, size_guidance={SCALARS: 0}, purge_orphaned_data=False)
    acc.Reload()
    points = {}
    for tag in acc.Tags()[SCALARS]:
        for ev in acc.Scalars(tag):
            key = (tag, ev.step)
            if key in points:
                errors.append(f"{event_path}: {tag} at step {ev.step} written more than once")
            points[key] = np.float32(ev.value)
    return points


def same(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


def check(event_path, reports, models):
    """The list of mismatches of one event file against its model.json; prints the ok line when none."""
    errors = []
    run = os.path.relpath(os.path.dirname(event_path), os.path.join(reports, "tensorboard"))
    history_path = os.path.join(models, run, "model.json")
    if not os.path.isfile(history_path):
        return [f"{event_path}: no {history_path}"]
    want = expected_points(history_path)
    got = event_points(event_path, errors)
    for key in sorted(want.keys() - got.keys()):
        errors.append(f"{event_path}: {key[0]} at step {key[1]} is in model.json but not in the event file")
    for key in sorted(got.keys() - want.keys()):
        errors.append(f"{event_path}: {key[0]} at step {key[1]} is in the event file but not in model.json")
    for key in sorted(want.keys() & got.keys()):
        if not same(want[key], got[key]):
            errors.append(
                f"{event_path}: {key[0]} at step {key[1]}: event file {got[key]}, model.json {want[key]}"
            )
    if not errors:
        tags = sorted({tag for tag, _ in got})
        print(f"ok  {event_path}: {len(got)} scalars, tags {', '.join(tags)}")
    return errors


def main():
    if len(sys.argv) != 3:
        raise SystemExit(f"usage: {sys.argv[0]} REPORTS_DIR MODELS_DIR   (e.g. reports/demo models/demo)")
    reports, models = sys.argv[1], sys.argv[2]
    pattern = os.path.join(reports, "tensorboard", "**", "events.out.tfevents.*")
    files = sorted(glob.glob(pattern, recursive=True))
    if not files:
        raise SystemExit(f"no event file matches {pattern}")
    errors = [e for path in files for e in check(path, reports, models)]
    for e in errors:
        print(f"MISMATCH  {e}", file=sys.stderr)
    if errors:
        raise SystemExit(f"{len(errors)} mismatch(es) in {len(files)} event file(s)")


if __name__ == "__main__":
    main()
