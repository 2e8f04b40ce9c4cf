#!/usr/bin/env python3
"""The operator section of docs/benchmarks.md, from operator.json and
operator.settings.json in a results directory (bench/operator.sh writes them).

  python3 bench/report_operator.py RESULTS_DIR     # the section alone
  report_operator.section(RESULTS_DIR)             # from bench/report.py: a
                                                   # list of lines, [] without data
"""

import json
import os
import sys

# Project targets: seconds until all Ready, and peak RSS (10,000 only).
TARGETS = {1_000: (30, None), 10_000: (300, 128)}


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def secs(s):
    return f"{s:.1f} s" if s is not None else "not all Ready"


def target_rows(rows):
    by_count = {r["count"]: r for r in rows}
    out = []
    for count, (max_s, max_mib) in TARGETS.items():
        label = f"{count:,} Ready ≤ {max_s} s" + (f" with peak RSS ≤ {max_mib} MiB" if max_mib else "")
        r = by_count.get(count)
        if r is None:
            out.append(f"| {label} | not measured | not measured |")
            continue
        ok = r["ready_s"] is not None and r["ready_s"] <= max_s
        measured = secs(r["ready_s"])
        if max_mib:
            ok = ok and r["peak_rss_kib"] / 1024 <= max_mib
            measured += f", {mib(r['peak_rss_kib'])}"
        out.append(f"| {label} | {measured} | {'**met**' if ok else '**missed**'} |")
    return out


def section(out):
    path = os.path.join(out, "operator.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        rows = sorted(json.load(f), key=lambda r: r["count"])
    if not rows:
        return []
    s = {}
    spath = os.path.join(out, "operator.settings.json")
    if os.path.exists(spath):
        with open(spath) as f:
            s = json.load(f)
    p = ["## Operator at scale", ""]
    w = p.append
    w(f"`bench/operator.sh`: etcd and kube-apiserver {s.get('kube_apiserver', '?')} (built by "
      f"`scripts/provision/kube.sh`) and PostgreSQL {s.get('postgresql', '?')} (`scripts/provision/"
      "postgres.sh`: the test provisioning, durability off) on this machine; "
      f"`{s.get('operator_version', '?')}` (`{s.get('operator_bin', '?')}`) on one namespace, no leader "
      "election, log level `warn`. For each count: a fresh database migrated with `tollgate migrate`, a "
      "fresh namespace and operator process, one `Environment` (Ready first), then the `ContactCenter`s "
      f"(builtin users, one CORS origin each) sent as server-side applies (`bench/operator_load.py`, "
      f"{s.get('apply_parallel', '?')} requests in flight; `kubectl apply` sends one object at a time). "
      "Ready time runs from the start of the apply until a "
      "watch has seen every one `Ready=True`; peak RSS is the operator's `VmHWM`. "
      f"Load average at the start: {' '.join(s.get('loadavg_start', ['?']))}.")
    w("")
    w("| ContactCenters | Apply | All Ready | Ready after the apply ended | Ready / rows in PostgreSQL "
      "| Peak RSS | RSS at the end |")
    w("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        after = f"{r['ready_s'] - r['apply_s']:.1f} s" if r["ready_s"] is not None else "–"
        w(f"| {r['count']:,} | {r['apply_s']:.1f} s | {secs(r['ready_s'])} | {after} | "
          f"{r['ready']:,} / {r['rows']:,} | {mib(r['peak_rss_kib'])} | {mib(r['end_rss_kib'])} |")
    w("")
    w("| Target | Measured | Verdict |")
    w("|---|---:|---|")
    p.extend(target_rows(rows))
    w("")
    return p


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    lines = section(sys.argv[1])
    if not lines:
        sys.exit(f"report_operator.py: no operator.json in {sys.argv[1]}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
