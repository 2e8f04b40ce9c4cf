#!/usr/bin/env python3
"""PNG plots of one bench/run.sh results directory (needs matplotlib; run.sh
runs this with the venv it keeps in ~/.cache/tollgate/bench-venv).

  plots.py RESULTS_DIR OUT_DIR

Writes into OUT_DIR (the doc's directory) and records each PNG's file name in
RESULTS_DIR/meta.tsv as `plot.<name>`, which bench/report.py embeds:

- benchmarks-curves.png: throughput and p99 against wrk connections (log x
  axis) of the curve.<scenario>.c<connections>.txt runs, when there are any.
- benchmarks-tenants.png: client-credentials throughput and idle RSS against
  tenants, when RESULTS_DIR/tenants.json exists (written by bench/tenants.py:
  a list of objects with at least "tenants", "client_credentials_rps" and
  "idle_rss_kib", one per tenant count).
"""

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator  # noqa: E402

from report_curves import CURVES, load_curves  # noqa: E402


def plot_curves(curves, path):
    """curves: {scenario: [(connections, run)]} as report_curves.load_curves."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7.5), sharex=True)
    peak = 0
    for scenario, label in CURVES:
        points = curves.get(scenario)
        if not points:
            continue
        conns = [c for c, _ in points]
        label = label.replace("`", "")
        top.plot(conns, [r["rps"] for _, r in points], marker="o", label=label)
        peak = max([peak] + [r["rps"] for _, r in points])
        bottom.plot(conns, [r["latency_us"]["p99"] / 1000 for _, r in points], marker="o", label=label)
    top.set_ylabel("requests/s")
    top.set_ylim(0, peak * 1.15)
    bottom.set_ylabel("p99 latency (ms)")
    # Latencies span decades: log scale, labelled 1-2-5 in plain milliseconds.
    bottom.set_yscale("log")
    bottom.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    bottom.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    bottom.yaxis.set_minor_formatter(NullFormatter())
    bottom.set_xscale("log", base=2)
    bottom.xaxis.set_minor_locator(NullLocator())
    bottom.set_xlabel("wrk connections")
    xs = sorted({c for points in curves.values() for c, _ in points})
    bottom.set_xticks(xs, [str(x) for x in xs])
    for ax in (top, bottom):
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("Tollgate: throughput and p99 against connections")
    # Below the axes: inside, it would hide points of one curve or another.
    fig.legend(*top.get_legend_handles_labels(), loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_tenants(points, path, label="Tollgate"):
    """points: [(tenants, requests per second, RSS in kB)], any order."""
    points = sorted(points)
    tenants = [t for t, _, _ in points]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    top.plot(tenants, [r for _, r, _ in points], marker="o", label=label)
    top.set_ylabel("requests/s")
    top.set_ylim(0, max(r for _, r, _ in points) * 1.15)
    top.legend(loc="lower left")
    bottom.plot(tenants, [kb / 1024 for _, _, kb in points], marker="o", color="tab:orange")
    bottom.set_ylabel("RSS (MiB)")
    bottom.set_ylim(0, max(kb for _, _, kb in points) / 1024 * 1.15)
    bottom.set_xscale("log")
    bottom.xaxis.set_minor_locator(NullLocator())
    bottom.set_xticks(tenants, [f"{t:,}" for t in tenants])
    bottom.set_xlabel("tenants (contact centers)")
    for ax in (top, bottom):
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("Tollgate: throughput and RSS against tenants")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load_tenants(path):
    with open(path) as f:
        rows = json.load(f)
    points = [(r["tenants"], r["client_credentials_rps"], r["idle_rss_kib"]) for r in rows]
    return points, "client credentials, tollgate dev"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    results, out_dir = sys.argv[1], sys.argv[2]
    written = []
    curves = load_curves(results)
    if curves:
        plot_curves(curves, os.path.join(out_dir, "benchmarks-curves.png"))
        written.append(("plot.curves", "benchmarks-curves.png"))
    tenants = os.path.join(results, "tenants.json")
    if os.path.exists(tenants):
        points, label = load_tenants(tenants)
        plot_tenants(points, os.path.join(out_dir, "benchmarks-tenants.png"), label)
        written.append(("plot.tenants", "benchmarks-tenants.png"))
    with open(os.path.join(results, "meta.tsv"), "a") as meta:
        for key, name in written:
            meta.write(f"{key}\t{name}\n")
            print(f"wrote {os.path.join(out_dir, name)}")


if __name__ == "__main__":
    main()
