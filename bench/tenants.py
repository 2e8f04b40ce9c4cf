#!/usr/bin/env python3
"""Tenant scaling of `tollgate dev` (driven by bench/tenants.sh; stdlib only).

  tenants.py run OUT_DIR
        for each N of BENCH_TENANTS: a fresh `tollgate dev` data directory,
        N contact centers provisioned through the product's APIs, then a
        fresh process on that data: start-up time, idle RSS, client
        credentials and password grant throughput with wrk spread over the
        tenants, RSS after the load. Appends one object per N to
        OUT_DIR/tenants.json (rewritten after each N, so a run cut short
        keeps what it measured).

Every tenant is what an operator provisions for a customer: a contact center
(Environment API, domain tN, built-in users) in the one environment `dev`
creates, a confidential client bound to it (ops API, `contactCenterIds`,
grants client_credentials and password) and one built-in user `tN\\agent`
(Environment API). The server hashes each client secret and each password
with argon2id when it stores them, which is most of the provisioning time.

Settings come from the environment (bench/tenants.sh sets the defaults).
"""

import base64
import concurrent.futures
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import post_form, ready, stop  # noqa: E402

ENVIRONMENT = "demo-environment"  # the environment `tollgate dev` creates
USER = "agent"


def env(name):
    value = os.environ.get(name)
    if value is None:
        sys.exit(f"tenants.py: {name} is not set (run bench/tenants.sh)")
    return value


def log(msg):
    print(f"{time.strftime('%H:%M:%S', time.gmtime())} {msg}", file=sys.stderr, flush=True)


class Api:
    """JSON writes under the operator's Basic credentials."""

    def __init__(self, base, user, password):
        self.base = base
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def post(self, path, data):
        body = json.dumps({"data": data}).encode()
        req = urllib.request.Request(self.base + path, data=body, method="POST")
        req.add_header("Authorization", self.auth)
        req.add_header("Content-Type", "application/json")
        for attempt in range(10):
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    return resp.status
            except urllib.error.HTTPError as e:
                # 503 is the server asking to retry (slow hashes saturated).
                if e.code != 503:
                    raise RuntimeError(f"POST {path} -> {e.code}: {e.read()[:300]!r}") from e
            time.sleep(0.2 * (attempt + 1))
        raise RuntimeError(f"POST {path}: still 503 after 10 tries")


def tenant(i):
    """Credentials of tenant i: the same names every run, fresh secrets."""
    return {"cc": f"bench-t{i}", "domain": f"t{i}", "client_id": f"tenant-{i}",
            "secret": secrets.token_urlsafe(24), "password": "Pw-" + secrets.token_urlsafe(12)}


def provision_one(api, t):
    api.post("/environment/v3/contact-centers",
             {"id": t["cc"], "domains": [t["domain"]], "environmentId": ENVIRONMENT, "auth": "builtin"})
    api.post("/auth/v3/ops/clients",
             {"client_id": t["client_id"], "client_secret": t["secret"], "clientType": "CONFIDENTIAL",
              "authorizedGrantTypes": ["client_credentials", "password"],
              "contactCenterIds": [t["cc"]], "scope": ["*"]})
    api.post(f"/environment/v3/contact-centers/{t['cc']}/users",
             {"userName": USER, "password": t["password"]})


def provision(api, n, workers):
    """Creates n tenants, `workers` requests in flight; returns them and the seconds it took."""
    tenants = [tenant(i) for i in range(1, n + 1)]
    t0 = time.monotonic()
    # The first operator login is verified with argon2 and counted against
    # the lockout until it succeeds: do it alone, so concurrent ones that
    # follow take the cached check instead of locking the credentials.
    provision_one(api, tenants[0])
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for done, _ in enumerate(pool.map(lambda t: provision_one(api, t), tenants[1:]), 2):
            if done % 1000 == 0:
                log(f"    {done}/{n} tenants")
    return tenants, time.monotonic() - t0


def sample(tenants, size):
    """Evenly spread over all tenants (size 0: all of them)."""
    if size <= 0 or size >= len(tenants):
        return tenants
    step = len(tenants) / size
    return [tenants[int(k * step)] for k in range(size)]


def basic(t):
    return "Basic " + base64.b64encode(f"{t['client_id']}:{t['secret']}".encode()).decode()


def write_requests(path, tenants, grant):
    """One line per tenant for bench/wrk/tenants.lua: Authorization value, TAB, form body."""
    with open(path, "w") as f:
        for t in tenants:
            if grant == "password":
                body = ("grant_type=password&username=" + t["domain"] + "%5C" + USER
                        + "&password=" + urllib.parse.quote(t["password"], safe=""))
            else:
                body = "grant_type=client_credentials"
            f.write(f"{basic(t)}\t{body}\n")


def warm(base, tenants, workers):
    """One client-credentials grant per sampled client: after a restart each
    client's first request pays one argon2 verification of its secret, later
    ones a keyed digest; the measured runs are meant to see the latter."""
    url = base + "/auth/v3/oauth/token"

    def one(t):
        status, body = post_form(url, t["client_id"], t["secret"], [("grant_type", "client_credentials")])
        if status != 200:
            raise RuntimeError(f"{t['client_id']}: client credentials -> {status}: {body[:300]}")

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, tenants))
    return time.monotonic() - t0


class Server:
    """One `tollgate dev` process on DATA_DIR, logging to LOG."""

    def __init__(self, data_dir, log_path):
        self.cmd = [env("TOLLGATE_BIN"), "dev", "--listen", env("BENCH_TOLLGATE_LISTEN"),
                    "--management-listen", env("BENCH_TOLLGATE_MANAGEMENT"), "--data-dir", data_dir]
        self.log_path = log_path
        self.ready_url = f"http://{env('BENCH_TOLLGATE_MANAGEMENT')}/health/ready"
        self.proc = None

    def start(self):
        """Starts it and returns the milliseconds from exec until /health/ready answers 200."""
        if ready(self.ready_url):
            sys.exit(f"tenants.py: something already answers {self.ready_url}")
        logf = open(self.log_path, "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.cmd, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        try:
            while not ready(self.ready_url):
                if self.proc.poll() is not None:
                    sys.exit(f"tenants.py: tollgate exited with {self.proc.returncode}, see {self.log_path}")
                if time.perf_counter() - t0 > 600:
                    sys.exit(f"tenants.py: not ready after 600 s, see {self.log_path}")
                time.sleep(0.002)
        except BaseException:
            self.stop()
            raise
        return (time.perf_counter() - t0) * 1000

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def stop(self):
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


def wrk(out, name, url, requests_file, pid):
    """Warm-up, then the measured wrk run through helpers.py cpu; returns its BENCH_JSON."""
    root = os.path.dirname(os.path.abspath(__file__))
    threads, conns = env("BENCH_THREADS"), env("BENCH_CONNECTIONS")
    wrk_env = dict(os.environ, BENCH_TENANT_REQUESTS=requests_file, BENCH_LUA_DIR=os.path.join(root, "wrk"))
    lua = os.path.join(root, "wrk", "tenants.lua")
    quiet = int(env("BENCH_QUIET_TIMEOUT"))
    if quiet > 0:
        subprocess.call([sys.executable, os.path.join(root, "helpers.py"), "wait-quiet", str(quiet), str(pid)])
    # A long timeout: with many connections a password grant queues behind
    # argon2 hashes, and wrk drops answers that take longer than its timeout.
    base = ["wrk", f"-t{threads}", f"-c{conns}", "--timeout", "30s", "-s", lua]
    with open(os.path.join(out, f"{name}.warmup.txt"), "w") as f:
        subprocess.run(base + [f"-d{env('BENCH_WARMUP')}s", url], stdout=f, stderr=subprocess.STDOUT,
                       env=wrk_env, check=True)
    path = os.path.join(out, f"{name}.txt")
    with open(path, "w") as f:
        subprocess.run([sys.executable, os.path.join(root, "helpers.py"), "cpu",
                        os.path.join(out, f"{name}.cpu.json"), str(pid), "--"]
                       + base + ["--latency", f"-d{env('BENCH_DURATION')}s", url],
                       stdout=f, stderr=subprocess.STDOUT, env=wrk_env, check=True)
    with open(path) as f:
        for line in f:
            if line.startswith("BENCH_JSON "):
                result = json.loads(line[len("BENCH_JSON "):])
                with open(os.path.join(out, f"{name}.cpu.json")) as c:
                    result["cpu"] = json.load(c)
                return result
    sys.exit(f"tenants.py: wrk {name} produced no result, see {path}")


def errors(r):
    s = r["socket_errors"]
    return r["non2xx"] + s["connect"] + s["read"] + s["write"] + s["timeout"]


def provision_fresh(out, n, ops):
    """A fresh data directory with n tenants; returns it, the tenants and the seconds it took."""
    tmp = os.path.join(out, "tmp", f"tenants-{n}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    workers = int(env("BENCH_TENANT_WORKERS"))
    log(f"tenants {n}: provisioning with {workers} requests in flight")
    server = Server(tmp, os.path.join(out, "logs", f"tenants-{n}-provision.log"))
    server.start()
    try:
        tenants, provision_s = provision(Api(f"http://{env('BENCH_TOLLGATE_LISTEN')}", *ops), n, workers)
    finally:
        server.stop()
    log(f"    {n} tenants in {provision_s:.1f} s ({n / provision_s:.1f}/s)")
    return tmp, tenants, provision_s


def load(out, n, server, picked, tmp):
    """The two wrk runs on the running server, RSS after each; returns the figures."""
    url = f"http://{env('BENCH_TOLLGATE_LISTEN')}/auth/v3/oauth/token"
    r = {}
    for grant in ("client_credentials", "password"):
        requests_file = os.path.join(tmp, f"{grant}.requests")
        write_requests(requests_file, picked, grant)
        run = wrk(out, f"tenants-{n}.{grant}", url, requests_file, server.proc.pid)
        log(f"    {grant}: {run['rps']:.0f}/s, {errors(run)} errors")
        r.update({f"{grant}_rps": round(run["rps"], 1), f"{grant}_errors": errors(run),
                  f"{grant}_p99_us": run["latency_us"]["p99"], f"{grant}_cpu": run["cpu"],
                  f"{grant}_rss_kib": server.rss_kib()})
    return r


def measure(out, n, ops):
    tmp, tenants, provision_s = provision_fresh(out, n, ops)
    server = Server(tmp, os.path.join(out, "logs", f"tenants-{n}.log"))
    startup_ms = server.start()
    try:
        time.sleep(float(env("BENCH_IDLE_SECONDS")))
        idle_rss = server.rss_kib()
        log(f"    restarted: ready in {startup_ms:.0f} ms, idle RSS {idle_rss} KiB")
        picked = sample(tenants, int(env("BENCH_TENANT_SAMPLE")))
        warm_s = warm(f"http://{env('BENCH_TOLLGATE_LISTEN')}", picked, int(env("BENCH_TENANT_WORKERS")))
        warm_rss = server.rss_kib()
        figures = load(out, n, server, picked, tmp)
    finally:
        server.stop()
    return {"tenants": n, "startup_ms": round(startup_ms, 1), "idle_rss_kib": idle_rss,
            "warm_rss_kib": warm_rss, "cc_rss_kib": figures.pop("client_credentials_rss_kib"),
            "loaded_rss_kib": figures.pop("password_rss_kib"), **figures,
            "provision_s": round(provision_s, 2), "sampled_tenants": len(picked), "warm_s": round(warm_s, 2)}


def cmd_run(out):
    os.makedirs(os.path.join(out, "logs"), exist_ok=True)
    ops = (env("TOLLGATE_OPS_USERNAME"), env("TOLLGATE_OPS_PASSWORD"))
    counts = [int(x) for x in env("BENCH_TENANTS").split()]
    settings = {k: os.environ.get(k) for k in (
        "BENCH_TENANTS", "BENCH_TENANT_SAMPLE", "BENCH_TENANT_WORKERS", "BENCH_DURATION",
        "BENCH_WARMUP", "BENCH_THREADS", "BENCH_CONNECTIONS", "BENCH_IDLE_SECONDS")}
    settings["tollgate_version"] = subprocess.run([env("TOLLGATE_BIN"), "--version"], capture_output=True,
                                                  text=True).stdout.strip()
    with open(os.path.join(out, "tenants.settings.json"), "w") as f:
        json.dump(settings, f, indent=1)
    results = []
    for n in counts:
        results.append(measure(out, n, ops))
        with open(os.path.join(out, "tenants.json"), "w") as f:
            json.dump(results, f, indent=1)
            f.write("\n")


def main():
    if len(sys.argv) != 3 or sys.argv[1] != "run":
        sys.exit(__doc__)
    # SIGTERM unwinds like Ctrl-C, so the `finally` blocks stop the server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cmd_run(sys.argv[2])


if __name__ == "__main__":
    main()
