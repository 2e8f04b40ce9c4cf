"""The "Keycloak with N realms" section of docs/benchmarks.md, for
bench/report.py (stdlib only).

Reads what `keycloak_realms` in bench/run.sh leaves in a results directory:
keycloak.realms.{client_credentials,password}.txt, beside the 1-realm runs
keycloak.{client_credentials,password}.txt, and the meta.tsv keys
keycloak_realms (N), keycloak_realms_create_s, rss_kb.keycloak_{1_realm,realms}_{loaded,idle}
and keycloak_ready_ms.{keycloak-1-realm,keycloak-realms}; for the comparison
with Tollgate, tenants.json (bench/tenants.sh).
"""

import json
import os

from report import errors, load_run, ms, rate, rps, short_hash, skewed

SCENARIOS = [
    ("client_credentials", "Client credentials"),
    ("password", "Password grant"),
]


def mib(kb):
    return f"{int(kb) / 1024:.0f} MiB" if kb else "not measured"


def change(one, n):
    return f"{100 * (n / one - 1):+.0f}%" if one and n is not None else ""


def run_cell(r):
    if r is None:
        return "not measured"
    text = f"{rps(r)}/s (p99 {ms(r['latency_us']['p99'])})"
    if r["errors"]:
        text += f", errors: {errors(r)}"
    return text + (" ⚠" if skewed(r) else "")


def kept(one, n):
    """% of the 1-realm (1-tenant) rate kept at N, or None."""
    return 100 * n / one if one and n is not None else None


def tollgate_sentence(out, n, kc_kept):
    """One sentence on Tollgate's tenant scaling beside Keycloak's realms."""
    path = os.path.join(out, "tenants.json")
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            rows = json.load(f)
    base = next((r for r in rows if r["tenants"] == 1), None)
    more = [r for r in rows if r["tenants"] > 1]
    if base is None or not more:
        return "Tollgate's tenant scaling was not measured in this run, so there is nothing to compare with."
    # The same count as Keycloak's realms when the tenant run has it, else its largest.
    top = next((r for r in more if r["tenants"] == n), max(more, key=lambda r: r["tenants"]))
    tg = [kept(base[k], top[k]) for k in ("client_credentials_rps", "password_rps")]
    tg_text = " and ".join(f"{x:.0f}%" if x is not None else "?" for x in tg)
    if None in kc_kept:
        kc_text = "Keycloak's figures at many realms are missing from this run"
    else:
        kc_text = (f"Keycloak with {n:,} realms keeps {kc_kept[0]:.0f}% and {kc_kept[1]:.0f}% of its "
                   "1-realm figures")
    return (f"For comparison, Tollgate (tenant scaling above, `tollgate dev`) keeps {tg_text} of its "
            f"1-tenant client-credentials and password-grant throughput at {top['tenants']:,} tenants; "
            f"{kc_text}.")


def section(out, meta):
    """The section's lines; says "not measured" when the run has no realm results."""
    n = int(meta.get("keycloak_realms") or 0)
    one = {k: load_run(out, f"keycloak.{k}") for k, _ in SCENARIOS}
    many = {k: load_run(out, f"keycloak.realms.{k}") for k, _ in SCENARIOS}
    # The count, until a run says otherwise.
    p = [f"## Keycloak with {n if n > 1 else 100:,} realms", ""]
    w = p.append
    if n <= 1 or not any(many.values()):
        w("Not measured in this run" + (" (see the notes below)." if n > 1 else "."))
        w("")
        w(tollgate_sentence(out, n, [None, None]))
        w("")
        return p
    idle = meta.get("idle_seconds", "?")
    w(f"`keycloak_realms` in `bench/run.sh`, on the Keycloak above, after its scenarios on realm "
      f"`demo`: RSS (`VmRSS` of the JVM, {idle} s after the last run), then a restart on its "
      "database (time from exec until `/health/ready` on the management port answers 200; idle "
      f"RSS {idle} s later). Then realms `demo-2` .. `demo-{n}` are created one after another "
      "through the admin REST API, each like `demo` (the same client and secret, the same user "
      "and password, an ES256 key provider), and measured with the same wrk settings and warm-up "
      f"({meta.get('keycloak_warmup', '?')} s): client credentials and the password grant "
      f"({short_hash(meta.get('keycloak_password_hash'))}), every request to the token endpoint of "
      f"a realm picked at random among all {n:,} (`bench/wrk/tenants.lua`). Last, RSS after that "
      "load and a restart on the "
      f"{n:,} realms. The 1-realm figures are Keycloak's rows of the throughput table; its "
      "client-credentials run there is, as here, the first after a start. The default-hash "
      f"password grant above ran after this, on the database with {n:,} realms.")
    w("")
    w(f"| Measure | 1 realm | {n:,} realms | Change |")
    w("|---|---:|---:|---:|")
    for key, label in SCENARIOS:
        a, b = one[key], many[key]
        w(f"| {label}, requests/s | {run_cell(a)} | {run_cell(b)} | "
          f"{change(rate(a), rate(b)) if a and b else ''} |")
    for key, label in (("loaded", "RSS after the load"), ("idle", f"RSS idle after a restart ({idle} s)")):
        a, b = meta.get(f"rss_kb.keycloak_1_realm_{key}"), meta.get(f"rss_kb.keycloak_realms_{key}")
        diff = f"{(int(b) - int(a)) / 1024:+.0f} MiB" if a and b else ""
        w(f"| {label} | {mib(a)} | {mib(b)} | {diff} |")
    a, b = meta.get("keycloak_ready_ms.keycloak-1-realm"), meta.get("keycloak_ready_ms.keycloak-realms")
    w(f"| Restart until ready | {f'{int(a) / 1000:.1f} s' if a else 'not measured'} | "
      f"{f'{int(b) / 1000:.1f} s' if b else 'not measured'} | "
      f"{change(int(a), int(b)) if a and b else ''} |")
    created = meta.get("keycloak_realms_create_s")
    per = f" ({1000 * float(created) / (n - 1):,.0f} ms each)" if created and float(created) > 0 else ""
    w(f"| Creating realms 2..{n:,} | | {f'{float(created):,.1f} s{per}' if created else 'not measured'} | |")
    w("")
    kc_kept = [kept(rate(one[k]), rate(many[k])) if one[k] and many[k] else None for k, _ in SCENARIOS]
    w(tollgate_sentence(out, n, kc_kept))
    w("")
    return p
