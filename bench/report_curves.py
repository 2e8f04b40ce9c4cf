"""The ceiling probes and the curves of a bench/run.sh results directory, as
markdown for bench/report.py (stdlib only), and their loader for bench/plots.py.

Reads ceiling.{token,introspect}.txt (bench/ceiling under the same wrk
settings), curve.<scenario>.c<connections>.txt (run.sh's `curve`), and the
`plot.*` lines bench/plots.py adds to meta.tsv (PNG file names beside the doc).
"""

import os
import re

from report import cpu, errors, load_run, ms, rps, verdict

# Tollgate's share of the ceiling probe the project aims for, in %.
CEILING_PCT = 80

# (Tollgate's run, the probe's run, label) for the Targets table.
PAIRS = [
    ("tollgate.client_credentials", "ceiling.token", "Client credentials"),
    ("tollgate.introspection", "ceiling.introspect", "Introspection"),
]

CURVES = [
    ("client_credentials", "Client credentials, `dev`"),
    ("refresh", "Refresh, `dev`"),
    ("refresh_pg", "Refresh, `serve all` on PostgreSQL + Redis"),
]


def load_curves(out):
    """{scenario: [(connections, run), ...] by connections} of the curve runs."""
    found = {}
    for name in os.listdir(out):
        m = re.fullmatch(r"curve\.(\w+)\.c(\d+)\.txt", name)
        if m:
            found.setdefault(m.group(1), set()).add(int(m.group(2)))
    curves = {}
    for scenario, conns in found.items():
        points = [(c, load_run(out, f"curve.{scenario}.c{c}")) for c in sorted(conns)]
        curves[scenario] = [(c, r) for c, r in points if r]
    return curves


def share(tg, probe):
    return 100 * tg["rps"] / probe["rps"] if probe["rps"] > 0 else 0


def targets(out, w):
    """Rows of the Targets table: Tollgate ÷ ceiling probe."""
    for tg_name, probe_name, label in PAIRS:
        tg, probe = load_run(out, tg_name), load_run(out, probe_name)
        target = f"{label} ≥ {CEILING_PCT}% of the ceiling probe (`{probe_name}`)"
        if not tg or not probe:
            w(f"| {target} | not measured | not measured |")
            continue
        pct = share(tg, probe)
        # An error in either run voids the ratio.
        first, other = (probe, tg) if probe["errors"] and not tg["errors"] else (tg, probe)
        w(f"| {target} | {pct:.0f}% ({rps(tg)}/s of {rps(probe)}/s) | "
          f"{verdict(pct >= CEILING_PCT, first, other)} |")


def sections(out, meta, w):
    """The Ceiling probes and Curves sections."""
    ceiling(out, meta, w)
    curves(out, meta, w)


def ceiling(out, meta, w):
    w("## Ceiling probes")
    w("")
    w("`bench/ceiling` is the least a token endpoint can cost on this machine: axum on one "
      "tokio multi-thread runtime; `POST /token` parses the form, signs an ES256 JWT access "
      "token with aws-lc-rs (as Tollgate does) and answers JSON; `POST /introspect` parses the "
      "form, verifies one with jsonwebtoken (as Tollgate does) and answers JSON. No client "
      "authentication, storage or logging. It runs in the same run with the same wrk settings "
      f"(header: `{meta.get('ceiling_access_token_header', '?')}`). The introspection "
      "scenario sends one token over and over: Tollgate remembers tokens it verified "
      "(`core/src/tokens/verified.rs`), the probe verifies the signature every time, so that "
      "ratio can exceed 100%.")
    w("")
    w("| Probe | Requests/s | p50 | p99 | Errors | CPU: server / wrk / other | Tollgate ÷ probe |")
    w("|---|---:|---:|---:|---|---:|---:|")
    for tg_name, probe_name, label in PAIRS:
        tg, probe = load_run(out, tg_name), load_run(out, probe_name)
        if not probe:
            w(f"| `{probe_name}` ({label.lower()}) | not measured | | | | | |")
            continue
        ratio = f"{share(tg, probe):.0f}%" if tg else ""
        w(f"| `{probe_name}` ({label.lower()}) | {rps(probe)} | {ms(probe['latency_us']['p50'])} | "
          f"{ms(probe['latency_us']['p99'])} | {errors(probe)} | {cpu(probe)} | {ratio} |")
    w("")


def curves(out, meta, w):
    found = load_curves(out)
    if not found:
        return
    w("## Curves")
    w("")
    w(f"Throughput and p99 against wrk connections ({meta.get('curve_connections', '?')}; "
      "wrk threads = min(2, connections)), same warm-up and duration as above; a fresh "
      "`tollgate dev` for the `dev` curves; refresh tokens seeded per thread for each count.")
    w("")
    if "plot.curves" in meta:
        w(f"![Throughput and p99 against connections]({meta['plot.curves']})")
        w("")
    w("| Scenario | Connections | Requests/s | p50 | p99 | Errors | CPU: server / wrk / other |")
    w("|---|---:|---:|---:|---:|---|---:|")
    for scenario, label in CURVES:
        for c, r in found.get(scenario, []):
            w(f"| {label} | {c} | {rps(r)} | {ms(r['latency_us']['p50'])} | "
              f"{ms(r['latency_us']['p99'])} | {errors(r)} | {cpu(r)} |")
    w("")
