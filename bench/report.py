#!/usr/bin/env python3
"""Turn one bench/run.sh results directory into docs/benchmarks.md (stdout).

  python3 bench/report.py bench/results/<stamp> > docs/benchmarks.md

Reads meta.tsv (machine, versions, notes, RSS), <server>.<scenario>.txt (raw
wrk output ending with a BENCH_JSON line from bench/wrk/bench.lua) and
startup.{fresh,reuse}.txt (milliseconds, one run per line); the sections of
report_curves.py, report_tenants.py, report_keycloak_realms.py and
report_operator.py read their own files. Stdlib only.
"""

import json
import os
import statistics
import sys

import report_operator
import report_tenants

# Project targets.
CC_RPS = 20_000
CC_RATIO = 6.0
INTROSPECT_RPS = 30_000
REFRESH_RATIO = 2.0
REFRESH_PG_RPS = 5_000
RSS_MIB = 40
STARTUP_MS = 500


def load_meta(path):
    meta, notes = {}, []
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("\t")
            if key == "note":
                notes.append(value)
            else:
                meta[key] = value
    return meta, notes


def load_one(out, stem):
    path = os.path.join(out, f"{stem}.txt")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        for line in f:
            if line.startswith("BENCH_JSON "):
                r = json.loads(line[len("BENCH_JSON "):])
                s = r["socket_errors"]
                r["errors"] = (r["non2xx"] + s["connect"] + s["read"] + s["write"]
                               + s["timeout"] + r["starved"] + r["unparsed"])
                cpu_path = os.path.join(out, f"{stem}.cpu.json")
                if os.path.exists(cpu_path):
                    with open(cpu_path) as c:
                        r["cpu"] = json.load(c)
                r["file"] = f"{stem}.txt"
                return r
    return None


def load_run(out, name):
    """The measured run of NAME; when run.sh measured again because other
    processes were busy (NAME.attemptN.txt), the least disturbed attempt."""
    runs = [load_one(out, f"{name}.attempt{i}") for i in range(1, 10)] + [load_one(out, name)]
    runs = [r for r in runs if r]
    if not runs:
        return None
    best = min(reversed(runs), key=lambda r: r.get("cpu", {}).get("other_s", 0))
    best["attempts"] = len(runs)
    return best


def load_ms(out, name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [float(x) for x in f.read().split()]


def rate(r):
    """Requests/s; for the code round trip, round trips/s."""
    return r["roundtrips_per_s"] if r.get("mode") == "code" else r["rps"]


def rps(r):
    return f"{rate(r):,.0f}"


def hash_fields(h):
    """`argon2id v=19 m=19456 t=2 p=1 len=32` (helpers.py) -> ("argon2id", {"m": "19456", ...})."""
    alg, *params = (h or "?").split()
    return alg, dict(x.partition("=")[::2] for x in params)


def hash_text(h):
    alg, f = hash_fields(h)
    if not f.get("m", "").isdigit():
        return h or "?"
    return (f"{alg}, {int(f['m']):,} KiB memory, {f.get('t', '?')} iterations, "
            f"parallelism {f.get('p', '?')}, {f.get('len', '?')}-byte hash")


def short_hash(h):
    alg, f = hash_fields(h)
    return f"{alg} m={f.get('m', '?')} KiB t={f.get('t', '?')} p={f.get('p', '?')}"


def ms(us):
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us} µs"


def errors(r):
    if r["errors"] == 0:
        return "0"
    parts = []
    if r["non2xx"]:
        parts.append(", ".join(f"{n}× HTTP {code}" for code, n in sorted(r["statuses"].items())))
    s = r["socket_errors"]
    for k in ("connect", "read", "write", "timeout"):
        if s[k]:
            parts.append(f"{s[k]} {k}")
    if r["starved"]:
        parts.append(f"{r['starved']} sent without a live refresh token")
    if r["unparsed"]:
        parts.append(f"{r['unparsed']} redirects without a code" if r.get("mode") == "code"
                     else f"{r['unparsed']} 2xx without refresh_token")
    return f"**{r['errors']:,}** ({'; '.join(parts)})"


# Other processes may use this much of one core (%) before a run is flagged.
OTHER_CPU_LIMIT = 10


def pct(r, key):
    c = r["cpu"]
    return 100 * c[key] / c["wall_s"] if c["wall_s"] > 0 else 0


def skewed(r):
    return r is not None and "cpu" in r and pct(r, "other_s") > OTHER_CPU_LIMIT


def cpu(r):
    if "cpu" not in r:
        return ""
    server = f"{pct(r, 'server_s'):.0f}%"
    trees = r["cpu"].get("trees_s", [])
    if len(trees) > 1 and r["cpu"]["wall_s"] > 0:
        # The server, then its PostgreSQL and Redis.
        parts = [f"{100 * t / r['cpu']['wall_s']:.0f}%" for t in trees]
        server += f" ({' + '.join(parts)})"
    text = f"{server} / {pct(r, 'wrk_s'):.0f}% / {pct(r, 'other_s'):.0f}%"
    return f"{text} ⚠" if skewed(r) else text


def verdict(ok, run=None, *others):
    if run is not None and run["errors"]:
        return "invalid: the run had errors"
    text = "**met**" if ok else "**missed**"
    if any(skewed(r) for r in (run, *others)):
        text += " (other load during the run ⚠)"
    return text


SCENARIOS = [
    ("client_credentials", "Client credentials token"),
    ("introspection", "Introspection"),
    ("password", "Password grant"),
    ("refresh", "Refresh (rotating)"),
    ("code", "Authorization code round trip (authorize + token), round trips/s"),
]


def server_rows(key, meta, workers):
    """(server, scenario, label) rows of one scenario of the throughput table."""
    kc = f"Keycloak {meta.get('keycloak', '')}".strip()
    tg_hash = short_hash(meta.get("tollgate_password_hash"))
    if key == "password":
        return [
            ("tollgate", key, f"Tollgate ({tg_hash}, its only setting)"),
            ("peer", key, "oidc-provider, 1 process (no hash: server.js compares the password)"),
            ("keycloak", key, f"{kc} (set to {short_hash(meta.get('keycloak_password_hash'))})"),
            ("keycloak", "password_default", f"{kc}, its default hash "
             f"({short_hash(meta.get('keycloak_password_hash_default'))})"),
        ]
    rows = [("tollgate", key, "Tollgate" + (" (`dev`: SQLite + in-process)" if key == "refresh" else "")),
            ("peer", key, "oidc-provider, 1 process")]
    if key == "client_credentials":
        rows.append(("peer-cluster", key, f"oidc-provider, node:cluster ×{workers}"))
    return rows + [("keycloak", key, kc + (" (PostgreSQL)" if key == "refresh" else ""))]


def keycloak_method(w, meta):
    if "keycloak" not in meta:
        return
    w(f"- **Keycloak** {meta['keycloak']}: the distribution the test command provisions "
      "(`scripts/provision/saml-idp.sh`, from Maven Central), in a home of its own built for "
      f"PostgreSQL (`kc.sh build {meta.get('keycloak_build', '?')}`) and run in production mode "
      "(`kc.sh start --optimized`, http enabled on 127.0.0.1 only, `--hostname` = its "
      f"http://127.0.0.1 URL). Its database `{meta.get('keycloak_db', 'keycloak')}` is on the "
      "same PostgreSQL as Tollgate's PostgreSQL run (durable commits). JVM heap `JAVA_OPTS_KC_HEAP="
      f"{meta.get('keycloak_heap', '?')}` (Keycloak's own default outside containers is "
      "`-Xms64m -Xmx512m`); every other JVM and server setting is Keycloak's default. Its "
      f"warm-up before each run is {meta.get('keycloak_warmup', '?')} s instead of "
      f"{meta.get('warmup', '?')} s: the JVM compiles its hot paths during the first tens of "
      "seconds under load. One realm "
      "`demo`, created through the admin REST API: default signature algorithm ES256 with an "
      "`ecdsa-generated` P-256 key provider, access tokens valid 3600 s (as oidc-provider's), "
      "\"Revoke Refresh Token\" on with maximum reuse 0, password policy "
      "`hashAlgorithm(argon2)`; one confidential client (`client-secret` authenticator, service "
      "accounts, direct access grants and standard flow on, consent off, redirect URI "
      "`<base>/callback`, an audience mapper that puts the client in its tokens' audience, "
      "without which Keycloak refuses to introspect them for it); one user with first and "
      "last name and a verified e-mail (so no profile page interrupts the sign-in). Access "
      "tokens are Keycloak's default JWTs.")


def password_method(w, meta):
    w("- **Password grant**: `grant_type=password` with the user's name and password, client "
      "authenticated with Basic; every request verifies the password against its stored hash. "
      "Tollgate's brute-force lockout, which admits 5 attempts in flight per user and address, "
      "is lifted (`TOLLGATE_LOCKOUT_THRESHOLD`) like its per-address rate limit, since all load "
      "comes from one address for one user; Keycloak's brute-force detection is off by default. "
      f"Tollgate's stored hash (read from its database): {hash_text(meta.get('tollgate_password_hash'))}; "
      "Tollgate has no setting for it (`store/src/secrets.rs` hashes with the argon2 crate's "
      "defaults). So Keycloak, for "
      "the equal-cost run, is given Tollgate's parameters "
      f"(`{meta.get('keycloak_hash_options', '?')}`) before the user's password is set, and its "
      f"stored credential then reads: {hash_text(meta.get('keycloak_password_hash'))}. Keycloak's "
      "default is measured after a restart without those options and a password reset: "
      f"{hash_text(meta.get('keycloak_password_hash_default'))}. oidc-provider has no password "
      "grant and no user store: the grant `bench/peer/server.js` registers (the one that seeds "
      "the refresh scenario) compares the password with `timingSafeEqual`, no hash; its figure is "
      "the cost of the grant without any password hashing.")


def code_method(w, meta):
    w("- **Authorization code round trip**: before the run the script signs in once through each "
      "server's own sign-in form (`helpers.py signin`: Tollgate's `/ui/auth/sign-in`, Keycloak's "
      "login page, oidc-provider's interaction page in `server.js`, which also grants the client "
      "its scopes so that no consent page follows; Tollgate's demo client and Keycloak's client "
      "ask for no consent). `bench/wrk/bench.lua` then alternates, per wrk thread: `GET` the "
      "authorization endpoint with that browser session's cookies (`response_type=code`, PKCE "
      "S256, the server answers 302 with a code) and `POST` the token endpoint redeeming the "
      "code (Basic auth, `code_verifier`). A round trip counts when the token response is 2xx; "
      "p50 and p99 are per request, the two kinds mixed. Scope `openid` (oidc-provider: `openid "
      "api`, its JWT resource's scope); the token responses carry: Tollgate "
      f"`{meta.get('tollgate.code_response', '?')}`, oidc-provider "
      f"`{meta.get('peer.code_response', '?')}`, Keycloak `{meta.get('keycloak.code_response', '?')}`.")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    import report_curves  # here, not at the top: they import this module
    import report_keycloak_realms
    meta, notes = load_meta(os.path.join(out, "meta.tsv"))
    runs = {}
    for server in ("tollgate", "peer", "peer-cluster", "keycloak"):
        for scenario in ("client_credentials", "introspection", "client_credentials_opaque",
                         "introspection_opaque", "password", "password_default", "refresh",
                         "refresh_pg", "code"):
            r = load_run(out, f"{server}.{scenario}")
            if r:
                runs[(server, scenario)] = r
    fresh = load_ms(out, "startup.fresh.txt")
    reuse = load_ms(out, "startup.reuse.txt")
    workers = meta.get("peer_cluster_workers", "2")

    p = []
    w = p.append
    w("# Benchmarks")
    w("")
    w(f"Generated by `bench/run.sh` from the run of {meta.get('started', '?')}; "
      "do not edit by hand, rerun the script (see `bench/README.md`). "
      "Benchmarks are run by hand, never in CI.")
    w("")
    w("## Machine and versions")
    w("")
    mem = int(meta.get("memory_kb", "0")) / 1024 / 1024
    w(f"- CPU: {meta.get('cpu', '?')}, {meta.get('nproc', '?')} cores (`nproc`); "
      f"memory {mem:.1f} GiB; {meta.get('kernel', '?')}")
    if "tollgate_rev" in meta:
        w(f"- Tollgate `{meta['tollgate_rev']}` ({meta.get('tollgate_version', '?')}), release build")
    else:
        w("- Tollgate: not measured")
    if "oidc_provider" in meta:
        w(f"- oidc-provider {meta['oidc_provider']} on Node.js {meta.get('node', '?')}, "
          "`NODE_ENV=production`")
    else:
        w("- oidc-provider: not measured")
    if "keycloak" in meta:
        w(f"- Keycloak {meta['keycloak']} on {meta.get('java', 'Java ?')}, production mode "
          f"(`kc.sh build {meta.get('keycloak_build', '?')}`, then `kc.sh start --optimized`)")
    else:
        w("- Keycloak: not measured")
    w(f"- wrk {meta.get('wrk', '?')}")
    w(f"- Load average (1, 5, 15 min) at start: {meta.get('loadavg_start', '?')}; "
      f"at the end: {meta.get('loadavg_end', '?')} (the benchmark's own load included)")
    if "pg_provisioned" in meta:
        w(f"- PostgreSQL + Redis: {meta['pg_provisioned']}")
    if "fsync_rate" in meta:
        w(f"- Disk under PostgreSQL's data directory: 8 kB write + `fdatasync` {meta['fsync_rate']}, "
          "one writer; this bounds durable commits per connection")
    w("")
    w("## Method")
    w("")
    w(f"- One run of `bench/run.sh` measures the three servers on this machine, one server at a "
      f"time, over loopback (127.0.0.1). wrk shares the {meta.get('nproc', '?')} cores with "
      "the server under test, the same way for all.")
    w(f"- Each scenario: {meta.get('warmup', '?')} s warm-up, then, once the server has worked "
      f"off the requests the warm-up left in flight, {meta.get('duration', '?')} s "
      f"measured with wrk, {meta.get('threads', '?')} threads, {meta.get('connections', '?')} "
      f"connections, HTTP/1.1 keep-alive, wrk timeout {meta.get('wrk_timeout', '2s')} per request. "
      "Latencies are wrk's (coordinated omission not corrected).")
    w("- CPU = CPU time used during the measured run by the server (its whole process tree) / "
      "by wrk / by anything else on the machine, in % of one core "
      f"({meta.get('nproc', '?')} cores = {100 * int(meta.get('nproc', '1'))}%). "
      f"For the PostgreSQL + Redis run, PostgreSQL's and Redis's processes count as the server "
      f"(in parentheses: Tollgate + PostgreSQL + Redis), and for Keycloak its PostgreSQL "
      f"(Keycloak + PostgreSQL). "
      f"Before each run the script waits for the machine to be idle, and measures again (up to "
      f"3 times) when other processes used more than {OTHER_CPU_LIMIT}% of a core meanwhile; "
      "the least disturbed attempt is reported, and ⚠ marks one that stayed skewed.")
    w("- Errors = non-2xx responses + socket errors + refresh requests that had no live "
      "token to send. A run with errors is reported as such and does not count for a target.")
    w("- All three servers have one confidential client with HTTP Basic (`client_secret_basic`) "
      "auth and one user (`demo\\<user>`; in Keycloak `<user>` in realm `demo`) with the same "
      "password, and sign access tokens as ES256 JWTs "
      f"(Tollgate's header: `{meta.get('tollgate_access_token_header', '?')}`, "
      f"oidc-provider's: `{meta.get('peer_access_token_header', '?')}`, "
      f"Keycloak's: `{meta.get('keycloak_access_token_header', '?')}`).")
    keycloak_method(w, meta)
    w("- **Client credentials**: `POST` token endpoint, `grant_type=client_credentials`. "
      "oidc-provider issues JWT access tokens for this grant only through resource indicators: "
      "`features.resourceIndicators` with a default resource whose `accessTokenFormat` is "
      "`jwt` signed with ES256.")
    w("- **Introspection**: `POST` introspection endpoint with one valid access token obtained "
      "beforehand, client authenticated with Basic. Tollgate introspects its JWT access token. "
      "oidc-provider refuses to introspect JWT access tokens (`unsupported_token_type`), so its "
      "run introspects an opaque access token issued for a second resource indicator "
      "(a lookup in its in-process store).")
    w("- **Opaque tokens** (Tollgate only): the same two scenarios with the demo client set to "
      "`accessTokenFormat: opaque`: issuing writes the claims to the in-process store and a "
      "SQLite row; introspection finds them in the in-process store.")
    password_method(w, meta)
    code_method(w, meta)
    w("- **Refresh**: every refresh rotates the refresh token. `bench/wrk/bench.lua` keeps a "
      "FIFO of live refresh tokens per wrk thread, seeded before the run with the password "
      "grant (more tokens than the thread's connections); each response's new "
      "`refresh_token` goes back into the queue. oidc-provider has no password grant: "
      "`bench/peer/server.js` registers one for seeding; its refresh grant is the built-in "
      "one with `rotateRefreshToken: true` (reuse revokes the grant, as Tollgate revokes the "
      "family). Keycloak: \"Revoke Refresh Token\" on with maximum reuse 0, so a refresh token "
      "is good for one use and a second use is refused; its refresh tokens belong to the user "
      "session the password grant created.")
    w("- Storage: Tollgate scenarios run on `tollgate dev` (SQLite + in-process store, log level "
      "`warn`) unless marked PostgreSQL + Redis: that one is `tollgate serve all` (log level "
      "`info`, JSON lines to a file) on a PostgreSQL database migrated with `tollgate migrate`, "
      "into which the demo records `dev` created are copied (there is no API for contact "
      "centers and users yet). Refresh tokens are durable rows in both. "
      + ("Runs on PostgreSQL (Tollgate's and Keycloak's) `ANALYZE` the database after the "
         "warm-up, as a production database has statistics. " if meta.get("pg_analyze") else
         "The PostgreSQL runs had no `ANALYZE` before measuring (run.sh did not do it yet): "
         "their tables were young, with the statistics of empty tables. ")
      + "oidc-provider keeps "
      "everything in an unbounded in-process Map (`bench/peer/server.js`; its bundled memory "
      "adapter is a 1000-entry LRU).")
    w(f"- Node.js runs JavaScript on one thread (its helper threads for GC and crypto add a "
      f"little, see the CPU column), so one oidc-provider process uses about one of the cores; "
      f"Tollgate uses all of them. For fairness the client-credentials scenario "
      f"also runs against a `node:cluster` of {workers} oidc-provider workers (stateless JWTs, so "
      f"workers need no shared store), reported separately; the ×6 target is against the "
      f"single process, as specified.")
    w(f"- Idle RSS: `VmRSS` from `/proc/PID/status` of a fresh process, {meta.get('idle_seconds', '?')} s "
      "after it answered its readiness check, before any load. "
      f"`tollgate serve all` runs on {meta.get('tollgate_serve_store', '?')}. MiB = 1024² bytes.")
    w(f"- `tollgate dev` startup: time from exec until `GET /health/ready` on the management "
      f"listener answers 200, polled every 2 ms; {meta.get('startup_runs', '?')} runs each with "
      "an empty data directory (first start: schema, keys, demo data) and with the data "
      "directory of a previous run; median reported.")
    w("")

    w("## Throughput and latency")
    w("")
    w("| Scenario | Server | Requests/s | p50 | p99 | Errors | CPU: server / wrk / other | Tollgate ÷ this |")
    w("|---|---|---:|---:|---:|---|---:|---:|")

    def row(label, server_label, r, ratio_to=None):
        if r is None:
            w(f"| {label} | {server_label} | not measured | | | | | |")
            return
        if r["requests"] == 0:
            w(f"| {label} | {server_label} | 0: no response within the {r['duration_us'] / 1e6:.0f} s "
              f"| | | {errors(r)} | {cpu(r)} | |")
            return
        ratio = ""
        if ratio_to is not None and rate(r) > 0:
            x = rate(ratio_to) / rate(r)
            ratio = f"×{x:.2f}" if x < 1 else f"×{x:.1f}"
        w(f"| {label} | {server_label} | {rps(r)} | {ms(r['latency_us']['p50'])} | "
          f"{ms(r['latency_us']['p99'])} | {errors(r)} | {cpu(r)} | {ratio} |")

    for key, label in SCENARIOS:
        tg = runs.get(("tollgate", key))
        for server, key2, name in server_rows(key, meta, workers):
            if server == "peer-cluster" and (server, key2) not in runs:
                continue
            row(label, name, runs.get((server, key2)), None if server == "tollgate" else tg)
    row("Client credentials, opaque token", "Tollgate", runs.get(("tollgate", "client_credentials_opaque")))
    row("Introspection, opaque token", "Tollgate", runs.get(("tollgate", "introspection_opaque")))
    row("Refresh (rotating)", "Tollgate `serve all` on PostgreSQL + Redis", runs.get(("tollgate", "refresh_pg")))
    w("")

    w("## Footprint")
    w("")
    w("| Measure | Tollgate | oidc-provider |")
    w("|---|---:|---:|")
    tg_rss = meta.get("rss_kb.tollgate_serve_all")
    peer_rss = meta.get("rss_kb.peer")

    def mib(kb):
        return f"{int(kb) / 1024:.1f} MiB" if kb else "not measured"

    w(f"| Idle RSS (`serve all` / one node process) | {mib(tg_rss)} | {mib(peer_rss)} |")
    if fresh:
        w(f"| `dev` ready, empty data dir, median of {len(fresh)} | {statistics.median(fresh):.0f} ms "
          f"({', '.join(f'{x:.0f}' for x in fresh)}) | |")
    if reuse:
        w(f"| `dev` ready, existing data dir, median of {len(reuse)} | {statistics.median(reuse):.0f} ms "
          f"({', '.join(f'{x:.0f}' for x in reuse)}) | |")
    w("")

    w("## Targets")
    w("")
    w("| Target | Measured | Verdict |")
    w("|---|---:|---|")
    nm = "not measured"
    cc = runs.get(("tollgate", "client_credentials"))
    peer_cc = runs.get(("peer", "client_credentials"))
    w(f"| Client credentials ≥ {CC_RPS:,} tokens/s | {rps(cc) + '/s' if cc else nm} | "
      f"{verdict(cc['rps'] >= CC_RPS, cc) if cc else nm} |")
    if cc and peer_cc:
        ratio = cc["rps"] / peer_cc["rps"]
        first = peer_cc if peer_cc["errors"] and not cc["errors"] else cc
        w(f"| Client credentials ≥ {CC_RATIO:.0f}× oidc-provider (1 process) | ×{ratio:.2f} | "
          f"{verdict(ratio >= CC_RATIO, first, peer_cc if first is cc else cc)} |")
    else:
        w(f"| Client credentials ≥ {CC_RATIO:.0f}× oidc-provider (1 process) | {nm} | {nm} |")
    it = runs.get(("tollgate", "introspection"))
    w(f"| Introspection ≥ {INTROSPECT_RPS:,}/s | {rps(it) + '/s' if it else nm} | "
      f"{verdict(it['rps'] >= INTROSPECT_RPS, it) if it else nm} |")
    rf = runs.get(("tollgate", "refresh"))
    peer_rf = runs.get(("peer", "refresh"))
    if rf and peer_rf:
        ratio = rf["rps"] / peer_rf["rps"]
        w(f"| Refresh on `dev` ≥ {REFRESH_RATIO:.0f}× oidc-provider (1 process) | ×{ratio:.2f} | "
          f"{verdict(ratio >= REFRESH_RATIO, rf, peer_rf)} |")
    else:
        w(f"| Refresh on `dev` ≥ {REFRESH_RATIO:.0f}× oidc-provider (1 process) | {nm} | {nm} |")
    rp = runs.get(("tollgate", "refresh_pg"))
    w(f"| Refresh on PostgreSQL + Redis ≥ {REFRESH_PG_RPS:,}/s | {rps(rp) + '/s' if rp else nm} | "
      f"{verdict(rp['rps'] >= REFRESH_PG_RPS, rp) if rp else nm} |")
    w(f"| Idle RSS of `serve all` ≤ {RSS_MIB} MiB | {mib(tg_rss)} | "
      f"{verdict(int(tg_rss) / 1024 <= RSS_MIB) if tg_rss else nm} |")
    if fresh:
        med = statistics.median(fresh)
        w(f"| `dev` ready ≤ {STARTUP_MS} ms (empty data dir, median) | {med:.0f} ms | "
          f"{verdict(med <= STARTUP_MS)} |")
    else:
        w(f"| `dev` ready ≤ {STARTUP_MS} ms | {nm} | {nm} |")
    report_curves.targets(out, w)
    w("")
    report_curves.sections(out, meta, w)

    tenants = report_tenants.section(out)
    if tenants and "plot.tenants" in meta:
        tenants[2:2] = [f"![Throughput and RSS against tenants]({meta['plot.tenants']})", ""]
    p.extend(tenants)
    p.extend(report_keycloak_realms.section(out, meta))
    p.extend(report_operator.section(out))
    if notes:
        w("## Notes from this run")
        w("")
        for n in notes:
            w(f"- {n}")
        w("")
    w("Raw wrk output of this run: `bench/results/<timestamp>/` (not committed).")
    print("\n".join(p))


if __name__ == "__main__":
    main()
