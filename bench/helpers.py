#!/usr/bin/env python3
"""Small helpers for bench/run.sh (stdlib only).

  helpers.py token URL ID SECRET FIELD [form...]   POST a token request with
        HTTP Basic client auth, fail unless 200, print one field of the JSON.
  helpers.py post URL ID SECRET [form...]           same, print the whole body.
  helpers.py jwt-header TOKEN                        print the JOSE header.
  helpers.py seed URL ID SECRET USER PASS PREFIX THREADS PER_THREAD
        password grants in parallel; writes PER_THREAD refresh tokens to each
        of PREFIX.1 .. PREFIX.THREADS (wrk/bench.lua reads them).
  helpers.py startup RUNS HEALTH_URL DATA_DIR fresh|reuse LOG -- CMD...
        RUNS times: exec CMD, poll HEALTH_URL until it answers 200, print the
        milliseconds from exec to that answer, stop CMD. "fresh" empties
        DATA_DIR before every run, "reuse" keeps what the first run created.
  helpers.py cpu OUT_JSON PIDS -- CMD...
        run CMD (wrk) and write to OUT_JSON where the machine's CPU time went
        meanwhile: the process trees of PIDS (comma-separated: the server and
        its PostgreSQL/Redis), CMD itself, and everything else ("other":
        builds, tests... that skew the run).
  helpers.py other-pct CPU_JSON
        "other" of a cpu record in % of one core, as an integer.
  helpers.py wait-quiet MAX_SECONDS PIDS
        wait until everything but the trees of PIDS uses < 5% of one core for
        3 s in a row; exit 1 after MAX_SECONDS.
  helpers.py wait-drained MAX_SECONDS PIDS
        wait until the trees of PIDS use < 10% of one core for a second:
        work the warm-up left queued (slow password hashes of requests wrk
        gave up on) is done; exit 1 after MAX_SECONDS.
  helpers.py fsync-rate DIR
        8 kB write + fdatasync in a loop for one second in DIR; prints the
        rate (what bounds durable commits on this disk).
  helpers.py clone-demo SQLITE_DB
        print SQL (for psql) that copies the demo records `tollgate dev`
        created (environment, contact center, client, user...) into a
        migrated PostgreSQL database; existing rows are kept.
  helpers.py password-hash SQLITE_DB USERNAME
        the cost parameters of the user's argon2 password hash, as
        `argon2id v=19 m=19456 t=2 p=1 len=32` (memory in KiB, hash bytes).
  helpers.py keycloak-hash CREDENTIAL_DATA
        the same for a Keycloak password credential (its `credential_data`).
  helpers.py pkce VERIFIER
        the S256 code challenge of VERIFIER.
  helpers.py signin AUTHORIZE_URL REDIRECT_URI USERNAME PASSWORD
        sign in as a browser would (follow redirects, fill the form that
        has a password field, follow to REDIRECT_URI) and print the cookies
        of the signed-in session as one Cookie header value.
  helpers.py roundtrip AUTHORIZE_URL REDIRECT_URI TOKEN_URL ID SECRET VERIFIER COOKIE
        one authorization-code round trip with that session: authorize
        (must redirect with a code, no page), then the token request; print
        the field names of the token response.
  helpers.py keycloak-realm BASE ADMIN ADMIN_PASSWORD REALM_JSON
        create the realm described by REALM_JSON (a file) through
        Keycloak's admin REST API.
  helpers.py keycloak-password BASE ADMIN ADMIN_PASSWORD REALM USERNAME PASSWORD
        set the user's password again (hashed with the server's current
        password-hashing settings).
"""

import base64
import concurrent.futures
import email.utils
import hashlib
import http.client
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser


def die(msg):
    print(f"helpers.py: {msg}", file=sys.stderr)
    sys.exit(1)


def post_form(url, client_id, secret, form):
    data = urllib.parse.urlencode(form).encode()
    req = urllib.request.Request(url, data=data, method="POST")
    cred = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    req.add_header("Authorization", f"Basic {cred}")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    req.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def parse_form(args):
    form = []
    for a in args:
        k, sep, v = a.partition("=")
        if not sep:
            die(f"form argument without '=': {a!r}")
        form.append((k, v))
    return form


def cmd_post(url, client_id, secret, *form, field=None):
    status, body = post_form(url, client_id, secret, parse_form(form))
    if status != 200:
        die(f"POST {url} -> {status}: {body[:500]}")
    if field is None:
        print(body)
        return
    try:
        value = json.loads(body)[field]
    except (ValueError, KeyError):
        die(f"POST {url}: no {field!r} in {body[:500]}")
    print(value if isinstance(value, str) else json.dumps(value))


def b64url_json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def cmd_jwt_header(token):
    parts = token.split(".")
    if len(parts) != 3:
        die("not a JWS compact serialization")
    print(json.dumps(b64url_json(parts[0]), sort_keys=True))


def cmd_seed(url, client_id, secret, user, password, prefix, threads, per_thread):
    threads, per_thread = int(threads), int(per_thread)
    form = [("grant_type", "password"), ("username", user), ("password", password)]

    def one(_):
        # A client retries 503 (temporarily_unavailable); so does seeding.
        for attempt in range(10):
            status, body = post_form(url, client_id, secret, form)
            if status != 503:
                break
            time.sleep(0.2 * (attempt + 1))
        if status != 200:
            raise RuntimeError(f"password grant -> {status}: {body[:300]}")
        return json.loads(body)["refresh_token"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        try:
            tokens = list(pool.map(one, range(threads * per_thread)))
        except RuntimeError as e:
            die(f"seed: {e}")
    for t in range(threads):
        with open(f"{prefix}.{t + 1}", "w") as f:
            for tok in tokens[t * per_thread:(t + 1) * per_thread]:
                f.write(tok + "\n")


def ready(health_url):
    u = urllib.parse.urlsplit(health_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=1)
    try:
        conn.request("GET", u.path or "/")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cmd_startup(runs, health_url, data_dir, mode, log, *cmd):
    if not cmd or cmd[0] != "--":
        die("startup: expected -- CMD...")
    cmd = list(cmd[1:])
    if mode not in ("fresh", "reuse"):
        die("startup: mode must be fresh or reuse")
    if ready(health_url):
        die(f"startup: something already answers {health_url}")
    with open(log, "ab") as logf:
        for i in range(int(runs)):
            if mode == "fresh" or i == 0:
                shutil.rmtree(data_dir, ignore_errors=True)
                os.makedirs(data_dir)
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT)
            try:
                while not ready(health_url):
                    if proc.poll() is not None:
                        die(f"startup: process exited with {proc.returncode}, see {log}")
                    if time.perf_counter() - t0 > 60:
                        die("startup: not ready after 60 s")
                    time.sleep(0.002)
                elapsed = (time.perf_counter() - t0) * 1000
            finally:
                stop(proc)
            print(f"{elapsed:.1f}", flush=True)
            time.sleep(0.5)


TICK = os.sysconf("SC_CLK_TCK")


def machine_busy():
    """Seconds of non-idle CPU time of the whole machine since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / TICK


def tree_cpu(roots):
    """Seconds of CPU time used so far by the PIDs (comma-separated) and their
    live descendants."""
    parent, cpu = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(name)
        parent[pid] = int(fields[1])
        # utime + stime, plus cutime + cstime: children that exited and were
        # reaped (PostgreSQL backends...) keep counting through their parent.
        cpu[pid] = sum(int(x) for x in fields[11:15]) / TICK
    total, seen = 0.0, set()
    todo = [int(p) for p in str(roots).split(",") if p.strip()]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += cpu.get(pid, 0.0)
        todo.extend(p for p, pp in parent.items() if pp == pid)
    return total


def cmd_other_pct(path):
    with open(path) as f:
        c = json.load(f)
    print(int(100 * c["other_s"] / c["wall_s"]) if c["wall_s"] > 0 else 0)


def cmd_wait_quiet(max_seconds, pids):
    deadline, calm = time.monotonic() + float(max_seconds), 0
    while time.monotonic() < deadline:
        t0, m0, s0 = time.monotonic(), machine_busy(), tree_cpu(pids)
        time.sleep(1.0)
        t1, m1, s1 = time.monotonic(), machine_busy(), tree_cpu(pids)
        other = 100 * max(0.0, (m1 - m0) - (s1 - s0)) / (t1 - t0)
        calm = calm + 1 if other < 5 else 0
        if calm >= 3:
            return
    sys.exit(1)


def cmd_wait_drained(max_seconds, pids):
    deadline = time.monotonic() + float(max_seconds)
    while time.monotonic() < deadline:
        t0, s0 = time.monotonic(), tree_cpu(pids)
        time.sleep(1.0)
        if tree_cpu(pids) - s0 < 0.1 * (time.monotonic() - t0):
            return
    sys.exit(1)


def cmd_cpu(out, server_pid, *cmd):
    if not cmd or cmd[0] != "--":
        die("cpu: expected -- CMD...")
    roots = [p for p in str(server_pid).split(",") if p.strip()]
    t0, m0, r0 = time.monotonic(), machine_busy(), [tree_cpu(p) for p in roots]
    rc = subprocess.call(list(cmd[1:]))
    t1, m1, r1 = time.monotonic(), machine_busy(), [tree_cpu(p) for p in roots]
    trees = [round(b - a, 3) for a, b in zip(r0, r1)]
    s0, s1 = sum(r0), sum(r1)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, machine, server = t1 - t0, m1 - m0, s1 - s0
    load = ru.ru_utime + ru.ru_stime
    with open(out, "w") as f:
        json.dump({"wall_s": round(wall, 3), "cpus": os.cpu_count(),
                   "machine_s": round(machine, 3), "server_s": round(server, 3),
                   "trees_s": trees, "wrk_s": round(load, 3),
                   "other_s": round(max(0.0, machine - server - load), 3)}, f)
        f.write("\n")
    sys.exit(rc)


def cmd_fsync_rate(directory):
    path = os.path.join(directory, "fsync-rate.tmp")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        block, n, t0 = b"\0" * 8192, 0, time.monotonic()
        while time.monotonic() - t0 < 1.0:
            os.pwrite(fd, block, 0)
            os.fdatasync(fd)
            n += 1
        elapsed = time.monotonic() - t0
    finally:
        os.close(fd)
        os.unlink(path)
    print(f"{n / elapsed:.0f}/s ({1000 * elapsed / n:.1f} ms each)")


# Tables holding the demo records, parents first. Not copied: signing keys
# (`serve` makes its own), tokens, revocations, change log, audit.
DEMO_TABLES = ("environments", "contact_centers", "contact_center_domains", "settings",
               "clients", "users", "counters")


def sql_literal(v):
    # Untyped literals: PostgreSQL converts them with the column's input
    # function, so SQLite's 0/1 booleans and text JSON land in BOOLEAN/JSONB.
    if v is None:
        return "NULL"
    if isinstance(v, bytes):
        return "'\\x" + v.hex() + "'"
    return "'" + str(v).replace("'", "''") + "'"


def cmd_clone_demo(db_path):
    if not os.path.exists(db_path):
        die(f"clone-demo: no such file {db_path}")
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    print("BEGIN;")
    for table in DEMO_TABLES:
        cur = conn.execute(f'SELECT * FROM "{table}"')
        cols = ", ".join(f'"{d[0]}"' for d in cur.description)
        for row in cur:
            values = ", ".join(sql_literal(v) for v in row)
            print(f'INSERT INTO "{table}" ({cols}) VALUES ({values}) ON CONFLICT DO NOTHING;')
    print("COMMIT;")


def cmd_password_hash(db_path, username):
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    row = conn.execute("SELECT password_hash FROM users WHERE username = ?", (username,)).fetchone()
    if not row or not row[0].startswith("$argon2"):
        die(f"password-hash: no argon2 hash for {username!r} in {db_path}")
    # PHC: $alg$v=19$m=..,t=..,p=..$salt$hash
    alg, version, params, _salt, digest = row[0].split("$")[1:6]
    length = len(base64.b64decode(digest + "=" * (-len(digest) % 4)))
    print(f"{alg} {version} {params.replace(',', ' ')} len={length}")


def cmd_keycloak_hash(credential_data):
    if not credential_data:
        die("keycloak-hash: no password credential found")
    d = json.loads(credential_data)
    if d.get("algorithm") != "argon2":
        print(f"{d.get('algorithm')} iterations={d.get('hashIterations')}")
        return
    a = {k: v[0] for k, v in d.get("additionalParameters", {}).items()}
    version = {"1.3": 19, "1.0": 16}.get(a.get("version"), a.get("version"))
    print(f"argon2{a.get('type')} v={version} m={a.get('memory')} t={d.get('hashIterations')} "
          f"p={a.get('parallelism')} len={a.get('hashLength')}")


def cmd_pkce(verifier):
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    print(base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


def expired_attr(attr):
    """True for a cookie attribute that deletes the cookie."""
    key, _, value = attr.strip().partition("=")
    key = key.lower()
    if key == "max-age":
        return value.strip().lstrip("-").isdigit() and int(value) <= 0
    if key == "expires":
        try:
            return email.utils.parsedate_to_datetime(value).timestamp() < time.time()
        except (TypeError, ValueError):
            return False
    return False


class Browser:
    """Just enough of a browser for a scripted sign-in on one host: a cookie
    jar (paths and Secure ignored: everything is http://127.0.0.1) and no
    automatic redirects."""

    def __init__(self, cookie_header=""):
        self.cookies = {}
        for part in filter(None, (p.strip() for p in cookie_header.split(";"))):
            k, _, v = part.partition("=")
            self.cookies[k] = v

    def header(self):
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def keep(self, set_cookie):
        first, *attrs = set_cookie.split(";")
        name, _, value = first.strip().partition("=")
        expired = any(expired_attr(a) for a in attrs)
        if expired or not value:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    def request(self, method, url, form=None, headers=None):
        """(status, absolute Location or None, body)"""
        u = urllib.parse.urlsplit(url)
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = self.header()
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        try:
            conn.request(method, (u.path or "/") + (f"?{u.query}" if u.query else ""), body=body, headers=h)
            r = conn.getresponse()
            text = r.read().decode(errors="replace")
            for sc in r.headers.get_all("Set-Cookie") or []:
                self.keep(sc)
            loc = r.getheader("Location")
            return r.status, (urllib.parse.urljoin(url, loc) if loc else None), text
        finally:
            conn.close()

    def follow(self, url, redirect_uri, method="GET", form=None):
        """Requests URL, follows redirects until one points at REDIRECT_URI
        (returned, not fetched) or a page answers: (url, status, body)."""
        for _ in range(10):
            status, loc, body = self.request(method, url, form)
            if status not in (301, 302, 303, 307, 308) or not loc:
                return url, status, body
            if loc.startswith(redirect_uri):
                return loc, status, None
            url, method, form = loc, "GET", None
        die(f"too many redirects from {url}")


class Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms, self._current = [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._current = {"action": a.get("action") or "", "fields": {}}
            self.forms.append(self._current)
        elif tag in ("input", "button") and self._current is not None and a.get("name"):
            self._current["fields"].setdefault(a["name"], a.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def cmd_signin(authorize_url, redirect_uri, username, password):
    b = Browser()
    url, status, page = b.follow(authorize_url, redirect_uri)
    if page is None or status != 200:
        die(f"signin: expected a sign-in page, got {status} {url}")
    parser = Forms()
    parser.feed(page)
    form = next((f for f in parser.forms if "password" in f["fields"]), None)
    if form is None:
        die(f"signin: no form with a password field at {url}: {page[:300]}")
    fields = {**form["fields"], "username": username, "password": password}
    url, status, page = b.follow(urllib.parse.urljoin(url, form["action"]), redirect_uri, "POST", fields)
    if page is not None:
        die(f"signin: no redirect to the client after signing in: {status} {url}: {page[:300]}")
    print(b.header())


def cmd_roundtrip(authorize_url, redirect_uri, token_url, client_id, secret, verifier, cookie):
    status, loc, body = Browser(cookie).request("GET", authorize_url)
    if status not in (302, 303) or not loc or not loc.startswith(redirect_uri):
        die(f"roundtrip: authorize with the session answered {status} {loc}: {body[:300]}")
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query).get("code")
    if not code:
        die(f"roundtrip: no code in {loc}")
    form = [("grant_type", "authorization_code"), ("code", code[0]),
            ("redirect_uri", redirect_uri), ("code_verifier", verifier)]
    status, body = post_form(token_url, client_id, secret, form)
    if status != 200:
        die(f"roundtrip: token request -> {status}: {body[:300]}")
    print(", ".join(sorted(json.loads(body))))


def keycloak_admin(base, admin, password):
    form = urllib.parse.urlencode({"grant_type": "password", "client_id": "admin-cli",
                                   "username": admin, "password": password}).encode()
    with urllib.request.urlopen(f"{base}/realms/master/protocol/openid-connect/token", form, timeout=60) as r:
        return json.load(r)["access_token"]


def keycloak_call(base, admin, password, method, path, doc):
    req = urllib.request.Request(base + path, data=json.dumps(doc).encode(), method=method)
    req.add_header("Authorization", f"Bearer {keycloak_admin(base, admin, password)}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        die(f"{method} {path} -> {e.code}: {e.read().decode(errors='replace')[:500]}")


def cmd_keycloak_realm(base, admin, password, realm_json):
    """The realm first (Keycloak gives it its default keys), then the
    realm's extra components (the ES256 key provider)."""
    with open(realm_json) as f:
        doc = json.load(f)
    components = doc.pop("components", {})
    keycloak_call(base, admin, password, "POST", "/admin/realms", doc)
    for provider_type, items in components.items():
        for c in items:
            keycloak_call(base, admin, password, "POST", f"/admin/realms/{doc['realm']}/components",
                          {**c, "providerType": provider_type, "parentId": doc["id"]})


def cmd_keycloak_password(base, admin, password, realm, username, user_password):
    token = keycloak_admin(base, admin, password)
    q = urllib.parse.urlencode({"username": username, "exact": "true"})
    req = urllib.request.Request(f"{base}/admin/realms/{realm}/users?{q}")
    req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=60) as r:
        users = json.load(r)
    if len(users) != 1:
        die(f"keycloak-password: {len(users)} users named {username!r}")
    keycloak_call(base, admin, password, "PUT",
                  f"/admin/realms/{realm}/users/{users[0]['id']}/reset-password",
                  {"type": "password", "value": user_password, "temporary": False})


def main():
    if len(sys.argv) < 2:
        die(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "token":
        if len(args) < 4:
            die("token URL ID SECRET FIELD [form...]")
        cmd_post(*args[:3], *args[4:], field=args[3])
    elif cmd == "post":
        cmd_post(*args)
    elif cmd == "jwt-header":
        cmd_jwt_header(*args)
    elif cmd == "seed":
        cmd_seed(*args)
    elif cmd == "startup":
        cmd_startup(*args)
    elif cmd == "cpu":
        cmd_cpu(*args)
    elif cmd == "other-pct":
        cmd_other_pct(*args)
    elif cmd == "wait-quiet":
        cmd_wait_quiet(*args)
    elif cmd == "wait-drained":
        cmd_wait_drained(*args)
    elif cmd == "fsync-rate":
        cmd_fsync_rate(*args)
    elif cmd == "clone-demo":
        cmd_clone_demo(*args)
    elif cmd == "password-hash":
        cmd_password_hash(*args)
    elif cmd == "keycloak-hash":
        cmd_keycloak_hash(*args)
    elif cmd == "pkce":
        cmd_pkce(*args)
    elif cmd == "signin":
        cmd_signin(*args)
    elif cmd == "roundtrip":
        cmd_roundtrip(*args)
    elif cmd == "keycloak-realm":
        cmd_keycloak_realm(*args)
    elif cmd == "keycloak-password":
        cmd_keycloak_password(*args)
    else:
        die(f"unknown command {cmd!r}\n{__doc__}")


if __name__ == "__main__":
    main()
