#!/usr/bin/env python3
"""The tenant-scaling section of docs/benchmarks.md, from tenants.json and
tenants.settings.json in a results directory (bench/tenants.sh writes them).

  python3 bench/report_tenants.py RESULTS_DIR      # the section alone
  report_tenants.section(RESULTS_DIR)              # from bench/report.py: a
                                                   # list of lines, [] without data
"""

import json
import os
import sys

# Project targets: at 10,000 tenants against 1.
TARGET_TENANTS = 10_000
MAX_LOSS = 0.10
MAX_EXTRA_RSS_MIB = 50


def mib(kib):
    return f"{kib / 1024:.1f} MiB" if kib is not None else "–"


def rate(x):
    # A password-grant run shorter than the argon2 queue at its connections gets no answer.
    return f"{x:,.0f}/s" if x > 0 else "0/s (no answer within the run)"


# Other processes may use this much of one core (%) before a run is flagged (as in report.py).
OTHER_CPU_LIMIT = 10


def cpu(c):
    """Server / other CPU of a wrk run in % of one core; ⚠ when other load skewed it."""
    if not c or c["wall_s"] <= 0:
        return "–"
    server, other = (100 * c[k] / c["wall_s"] for k in ("server_s", "other_s"))
    return f"{server:.0f}% / {other:.0f}%" + (" ⚠" if other > OTHER_CPU_LIMIT else "")


def errors(r):
    n = r.get("client_credentials_errors", 0) + r.get("password_errors", 0)
    return "0" if n == 0 else f"**{n:,}**"


def target_rows(rows):
    base = next((r for r in rows if r["tenants"] == 1), None)
    top = next((r for r in rows if r["tenants"] == TARGET_TENANTS), None)
    nm = "not measured"
    if base is None or top is None:
        largest = max(rows, key=lambda r: r["tenants"])
        why = (f"{nm} ({TARGET_TENANTS:,} tenants not in this run; largest: {largest['tenants']:,})"
               if base else f"{nm} (1 tenant not in this run)")
        return [f"| Throughput and RSS at {TARGET_TENANTS:,} tenants against 1 | {why} | {nm} |"]
    out = []
    for key, label in (("client_credentials_rps", "Client credentials"), ("password_rps", "Password grant")):
        ratio = top[key] / base[key] if base[key] else 0
        ok = ratio >= 1 - MAX_LOSS
        errs = top.get(key.replace("_rps", "_errors"), 0) + base.get(key.replace("_rps", "_errors"), 0)
        verdict = "invalid: the runs had errors" if errs else ("**met**" if ok else "**missed**")
        if any("⚠" in cpu(r.get(key.replace("_rps", "_cpu"))) for r in (base, top)):
            verdict += " (other load during the run ⚠)"
        out.append(f"| {label} at {TARGET_TENANTS:,} tenants ≥ {100 * (1 - MAX_LOSS):.0f}% of 1 tenant | "
                   f"{rate(top[key])} against {rate(base[key])}: {100 * ratio:.0f}% | {verdict} |")
    extra = (top["idle_rss_kib"] - base["idle_rss_kib"]) / 1024
    out.append(f"| Idle RSS at {TARGET_TENANTS:,} tenants ≤ 1 tenant's + {MAX_EXTRA_RSS_MIB} MiB | "
               f"{mib(top['idle_rss_kib'])} against {mib(base['idle_rss_kib'])}: {extra:+.1f} MiB | "
               f"{'**met**' if extra <= MAX_EXTRA_RSS_MIB else '**missed**'} |")
    if top.get("cc_rss_kib") and base.get("cc_rss_kib"):
        extra = (top["cc_rss_kib"] - base["cc_rss_kib"]) / 1024
        out.append(f"| The same after the client-credentials load | {mib(top['cc_rss_kib'])} against "
                   f"{mib(base['cc_rss_kib'])}: {extra:+.1f} MiB | "
                   f"{'**met**' if extra <= MAX_EXTRA_RSS_MIB else '**missed**'} |")
    return out


def section(out):
    path = os.path.join(out, "tenants.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        rows = sorted(json.load(f), key=lambda r: r["tenants"])
    if not rows:
        return []
    settings = {}
    spath = os.path.join(out, "tenants.settings.json")
    if os.path.exists(spath):
        with open(spath) as f:
            settings = json.load(f)
    s = settings.get
    sample = int(s("BENCH_TENANT_SAMPLE") or 0)
    spread = (f"a fixed sample of {sample} tenants spread evenly over all of them (all of them when "
              f"there are fewer)" if sample > 0 else "all tenants")
    p = ["## Tenant scaling", ""]
    w = p.append
    w(f"`bench/tenants.sh`, `tollgate dev` (SQLite + in-process store; {s('tollgate_version') or '?'}). "
      "For each count a fresh data directory is provisioned the way an operator does it: per tenant a "
      "contact center (Environment API, `POST /environment/v3/contact-centers`, built-in users), a "
      "confidential client bound to it (ops API, `POST /auth/v3/ops/clients` with `contactCenterIds`, "
      "grants `client_credentials` and `password`) and one built-in user `tN\\agent` (Environment API), "
      f"{s('BENCH_TENANT_WORKERS') or '?'} requests in flight from Python threads, under the operator's "
      "Basic credentials. The server hashes every client secret and every password with argon2id "
      "(the `argon2` crate's defaults: m = 19,456 KiB, t = 2, p = 1, what Tollgate uses for both), "
      "which is most of the provisioning time.")
    w("")
    w("The server is then stopped and started again on that data (a fresh process): start-up is the time "
      "from exec until `GET /health/ready` on the management listener answers 200; idle RSS is `VmRSS` "
      f"{s('BENCH_IDLE_SECONDS') or '?'} s later. Each sampled client then gets one client-credentials grant "
      "(after a restart a client's first request verifies its secret with argon2, later ones a cached "
      f"keyed digest), and wrk ({s('BENCH_THREADS') or '?'} threads, {s('BENCH_CONNECTIONS') or '?'} "
      f"connections, {s('BENCH_WARMUP') or '?'} s warm-up, {s('BENCH_DURATION') or '?'} s measured) sends "
      f"token requests spread over {spread}, each request a random tenant's "
      "(`bench/wrk/tenants.lua`): first client credentials (Basic auth), then the password grant "
      "(`tN\\agent`, argon2id-bound: every grant verifies the password, so its rate is cores ÷ hash "
      "time). RSS is read again after the first grant of each sampled client and after each wrk run. "
      "RSS after load is not tenant data alone: each argon2 hash holds 19 MiB while it runs, and glibc "
      "keeps much of what the hashes freed (per-thread arenas), so it grows with the hashes run "
      "concurrently and with the sample, not with the tenants; the target is on idle RSS. CPU is the "
      "server's and everything else's (not wrk's) during the measured run, in % of one core; ⚠ marks a "
      f"run where other processes used more than {OTHER_CPU_LIMIT}% of a core.")
    w("")
    w("| Tenants | Provisioning | Start-up | Idle RSS | RSS after first grants | Client credentials | "
      "CPU: server / other | RSS after | Password grant | CPU: server / other | RSS after | Errors |")
    w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        prov = f"{r['provision_s']:.1f} s ({r['tenants'] / r['provision_s']:.0f}/s)" if r["provision_s"] else "–"
        w(f"| {r['tenants']:,} | {prov} | {r['startup_ms']:.0f} ms | {mib(r['idle_rss_kib'])} | "
          f"{mib(r.get('warm_rss_kib'))} | {rate(r['client_credentials_rps'])} | {cpu(r.get('client_credentials_cpu'))} | "
          f"{mib(r.get('cc_rss_kib'))} | {rate(r['password_rps'])} | {cpu(r.get('password_cpu'))} | "
          f"{mib(r['loaded_rss_kib'])} | {errors(r)} |")
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
        sys.exit(f"report_tenants.py: no tenants.json in {sys.argv[1]}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
