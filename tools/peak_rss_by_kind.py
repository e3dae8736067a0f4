"""Peak RSS of each stage kind: run `sertool run ... --executor process` (every stage in its own child
`sertool exec-stage JOB.json`) and poll /proc every 50 ms for the children's VmHWM (peak resident
set), grouped by the kind named in each child's job document. Linux only; standard library only.

    python3 tools/peak_rss_by_kind.py target/release/sertool run pipelines/scale.toml -q --executor process
"""

import json
import os
import subprocess
import sys
import time


def children_of(pid):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p))
        except (OSError, IndexError, ValueError):
            pass
    return out


def main():
    proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
    peak, kinds = {}, {}
    while proc.poll() is None:
        for c in children_of(proc.pid):
            try:
                args = open(f"/proc/{c}/cmdline").read().split("\0")
                if c not in kinds:
                    doc = next(a for a in args if a.endswith(".job.json"))
                    kinds[c] = json.load(open(doc))["kind"]
                hwm = next(int(l.split()[1]) for l in open(f"/proc/{c}/status") if l.startswith("VmHWM"))
                peak[kinds[c]] = max(peak.get(kinds[c], 0), hwm)
            except (OSError, StopIteration, ValueError, KeyError, json.JSONDecodeError):
                pass
        time.sleep(0.05)
    for kind, kb in sorted(peak.items()):
        print(f"  {kind:<10} peak RSS {kb / 1024:.0f} MB")
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
