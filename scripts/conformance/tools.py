"""Helpers of scripts/conformance.sh: the test clients, the suite's plan
configuration and the results page. Needs the venv the script makes
(cryptography for the private_key_jwt keys).

  tools.py clients DIR REDIRECT_URI BACKCHANNEL_BASE   # DIR/<kind>/{client1.json,client2.json,entries.json}
  tools.py tls-proxy PORT UPSTREAM CERT KEY         # HTTPS in front of the suite, saying the TLS version
  tools.py config TEMPLATE KIND_DIR TOLLGATE_URL OUT   # TOLLGATE_DEMO_PASSWORD in the environment
  tools.py provision TOLLGATE_URL OPS_USER          # TOLLGATE_OPS_PASSWORD, TOLLGATE_DEMO_PASSWORD
  tools.py profile TOLLGATE_URL OPS_USER            # the demo user's standard claims; TOLLGATE_OPS_PASSWORD
  tools.py rotate-keys SUITE_URL PLAN_IDS_FILE TOLLGATE_URL OPS_USER   # TOLLGATE_OPS_PASSWORD
  tools.py save SUITE_URL PLAN_IDS_FILE RESULTS_JSON   # the plans' results from the suite's API
  tools.py report RESULTS_JSON META_JSON OUT
"""

import base64
import json
import os
import secrets
import ssl
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

# The kinds of client authentication the plans run with: the ops API's
# tokenEndpointAuthMethod of the two clients each plan uses.
KINDS = {
    "secret": "client_secret",
    "jwt": "client_secret_jwt",
    "pkjwt": "private_key_jwt",
    # The back-channel logout plan's: only these are told of sign-outs (the
    # other plans fail a logout token they did not expect).
    "backchannel": "client_secret",
}
SCOPES = ["openid", "profile", "email", "address", "phone", "offline_access"]


def b64u_int(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def rsa_jwk(kid: str) -> tuple[dict, dict]:
    """A fresh RSA key as (private JWK for the suite, public JWK for Tollgate)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub, prv = key.public_key().public_numbers(), key.private_numbers()
    public = {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64u_int(pub.n), "e": b64u_int(pub.e)}
    private = dict(public, d=b64u_int(prv.d), p=b64u_int(prv.p), q=b64u_int(prv.q),
                   dp=b64u_int(prv.dmp1), dq=b64u_int(prv.dmq1), qi=b64u_int(prv.iqmp))
    return private, public


def client_pair(kind: str, n: int, redirect_uri: str, backchannel_base: str) -> tuple[dict, dict]:
    """(ops API body, the suite's config entry) of client n of a kind."""
    client_id = f"oidf-{kind}-{n}"
    body = {
        "client_id": client_id,
        "name": f"OpenID conformance client {client_id}",
        "authorizedGrantTypes": ["authorization_code", "implicit", "refresh_token"],
        "scope": SCOPES,
        # The suite's callback, and where it wants the browser after an RP-initiated logout.
        "redirectURIs": [redirect_uri, redirect_uri.replace("/callback", "/post_logout_redirect")],
        "internalClient": False,
        "tokenEndpointAuthMethod": KINDS[kind],
    }
    if kind == "backchannel":
        body["backchannelLogoutUri"] = backchannel_base + "test/a/tollgate/backchannel_logout"
    entry = {"client_id": client_id}
    if kind == "pkjwt":
        private, public = rsa_jwk(f"{client_id}-key")
        body["jwks"] = {"keys": [public]}
        entry["jwks"] = {"keys": [private]}
    else:
        # client_secret_jwt signs with HS256: the secret must be 256 bits or more.
        secret = secrets.token_urlsafe(32)
        body["client_secret"] = secret
        entry["client_secret"] = secret
    return body, entry


def cmd_clients(out: str, redirect_uri: str, backchannel_base: str) -> None:
    for kind in KINDS:
        d = Path(out, kind)
        d.mkdir(parents=True, exist_ok=True)
        entries = []
        for n in (1, 2):
            body, entry = client_pair(kind, n, redirect_uri, backchannel_base)
            Path(d, f"client{n}.json").write_text(json.dumps({"data": body}))
            entries.append(entry)
        Path(d, "entries.json").write_text(json.dumps(entries))


def cmd_config(template: str, kind_dir: str, tollgate_url: str, out: str) -> None:
    """The plan configuration: the template with Tollgate's URL and the clients."""
    text = Path(template).read_text().replace("@TOLLGATE_URL@", tollgate_url)
    # The demo user's password comes from the environment, never a file.
    text = text.replace("@DEMO_PASSWORD@", os.environ["TOLLGATE_DEMO_PASSWORD"])
    config = json.loads(text)
    first, second = json.loads(Path(kind_dir, "entries.json").read_text())
    config["client"], config["client2"] = first, second
    # The client_secret_post module authenticates the second client by form post.
    config["client_secret_post"] = second
    Path(out).write_text(json.dumps(config, indent=1))


def ops_call(base: str, user: str, path: str, data: dict | None, method: str = "POST") -> dict:
    """{"data": ...} with the operator's Basic credentials; the answer's data."""
    auth = base64.b64encode(f"{user}:{os.environ['TOLLGATE_OPS_PASSWORD']}".encode()).decode()
    body = None if data is None else json.dumps({"data": data}).encode()
    req = urllib.request.Request(base + path, data=body, method=method,
                                 headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(req, timeout=15) as r:
        return json.load(r)["data"]


# Every standard claim of OIDC Core §5.1 the scope modules look for, as the
# demo user's properties (Tollgate releases properties of those names).
PROFILE = {
    "middle_name": "Q.", "nickname": "demo", "profile": "https://demo.example/agent",
    "picture": "https://demo.example/agent.png", "website": "https://demo.example",
    "gender": "female", "birthdate": "1990-01-01", "zoneinfo": "Europe/Paris", "locale": "en-US",
    "updated_at": 1700000000, "phone_number": "+1 555 0100", "phone_number_verified": False,
    "address": {"formatted": "1 Main St, Springfield", "street_address": "1 Main St",
                "locality": "Springfield", "postal_code": "12345", "country": "US"},
}


def cmd_profile(base: str, user: str) -> None:
    """Gives the demo user (contact center domain `demo`, user `agent`) every standard claim."""
    env = "/environment/v3/contact-centers"
    centers = ops_call(base, user, env, None, "GET")
    cc = next(c for c in centers if "demo" in (c.get("domains") or []))
    users = ops_call(base, user, f"{env}/{cc['id']}/users?search=agent", None, "GET")["users"]
    agent = next(u for u in users if u["userName"] == "agent")
    ops_call(base, user, f"{env}/{cc['id']}/users/{agent['id']}",
             {"properties": PROFILE, "version": agent["version"]}, "PUT")


def cmd_provision(base: str, user: str) -> None:
    """The demo tenant `tollgate dev` seeds, for `serve all`: an environment,
    contact center `demo` and user `agent` (TOLLGATE_DEMO_PASSWORD), created
    through the Environment API as e2e/ does."""
    env = "/environment/v3"
    environment = ops_call(base, user, f"{env}/environments", {
        "username": "default", "password": secrets.token_urlsafe(12), "connectionProtocol": "addp",
        "localTimeout": 7, "remoteTimeout": 7, "tenant": "Resources", "appName": "Cloud",
        "traceMode": "CFGTMBoth", "tlsEnabled": False,
        "configServers": [{"primaryAddress": "config-server.example.com", "primaryPort": 8888,
                           "readOnly": False, "locations": "/USW1"}]})
    cc = ops_call(base, user, f"{env}/contact-centers", {
        "name": "Demo contact center", "domains": ["demo"], "environmentId": environment["id"],
        "auth": "builtin", "enabled": True})
    ops_call(base, user, f"{env}/contact-centers/{cc['id']}/users", {
        "userName": "agent", "password": os.environ["TOLLGATE_DEMO_PASSWORD"], "firstName": "Demo",
        "lastName": "Agent", "email": "agent@demo.example", "authorities": ["ROLE_AGENT"],
        "properties": {}, "enabled": True})


def api(suite_url: str, path: str):
    ctx = ssl._create_unverified_context()  # the suite's throwaway certificate
    with urllib.request.urlopen(suite_url.rstrip("/") + path, context=ctx, timeout=60) as r:
        return json.load(r)


# Log entry keys that are bookkeeping, not what was sent or received.
NOISE = {"_id", "testId", "testOwner", "src", "time", "msg", "result", "requirements", "blockId",
         "startBlock", "upload", "http", "testName", "ts"}


def suite_call(suite_url: str, path: str, params: dict | None = None):
    """POST to the suite's API; its JSON answer."""
    query = ("?" + urllib.parse.urlencode(params)) if params else ""
    # No body: the suite refuses a form content type here (415).
    req = urllib.request.Request(suite_url.rstrip("/") + path + query, method="POST")
    with urllib.request.urlopen(req, context=ssl._create_unverified_context(), timeout=60) as r:
        return json.load(r)


def wait_status(suite_url: str, module_id: str, wanted: set, seconds: int = 240) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = api(suite_url, f"/api/info/{module_id}").get("status")
        if status in wanted:
            return status
        time.sleep(1)
    sys.exit(f"module {module_id} did not reach {sorted(wanted)} in {seconds} s")


def cmd_rotate_keys(suite_url: str, ids_file: str, tollgate_url: str, user: str) -> None:
    """oidcc-server-rotate-keys waits, once configured, for the provider to
    rotate its keys before it is started; the suite's runner cannot do that
    and starts it at once (so it fails). This runs the module again in the
    same plan as a certifier would: configure, rotate through Tollgate's ops
    API, start. The report counts a module's last run."""
    for plan_id in Path(ids_file).read_text().split():
        plan = api(suite_url, f"/api/plan/{plan_id}")
        for m in plan.get("modules", []):
            if m["testModule"] != "oidcc-server-rotate-keys":
                continue
            params = {"test": m["testModule"], "plan": plan_id}
            if m.get("variant"):
                params["variant"] = json.dumps(m["variant"])
            module_id = suite_call(suite_url, "/api/runner", params)["id"]
            wait_status(suite_url, module_id, {"CONFIGURED"})
            kid = ops_call(tollgate_url, user, "/auth/v3/ops/signing-keys/rotate", {})["kid"]
            suite_call(suite_url, f"/api/runner/{module_id}")
            wait_status(suite_url, module_id, {"FINISHED", "INTERRUPTED"})
            print(f"plan {plan_id}: oidcc-server-rotate-keys run again after rotating to {kid}")


def cmd_tls_proxy(port: str, upstream: str, cert: str, key: str) -> None:
    """An HTTPS proxy in front of the suite that, as the nginx of its
    deployments does, tells it the TLS version and cipher of each request
    (x-ssl-protocol, x-ssl-cipher): its back-channel logout module checks
    that Tollgate posts logout tokens over TLS 1.2+ with a secure cipher."""
    import http.client
    import http.server

    target = urllib.parse.urlsplit(upstream)

    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            headers["x-ssl-protocol"] = self.connection.version() or ""
            headers["x-ssl-cipher"] = (self.connection.cipher() or ("",))[0]
            upstream_conn = http.client.HTTPSConnection(
                target.hostname, target.port, context=ssl._create_unverified_context(), timeout=60)
            upstream_conn.request(self.command, self.path, body=body, headers=headers)
            res = upstream_conn.getresponse()
            data = res.read()
            self.send_response(res.status)
            for k, v in res.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = forward

        def log_message(self, fmt: str, *args) -> None:
            print(fmt % args, flush=True)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Proxy)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(f"listening on {port}", flush=True)
    server.serve_forever()


def condition_detail(entry: dict) -> str:
    """The entry's own fields (expected, actual, the response...), compact."""
    parts = []
    for k, v in entry.items():
        if k in NOISE:
            continue
        s = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
        parts.append(f"{k}={s[:400]}{'…' if len(s) > 400 else ''}")
    return "; ".join(parts)


def md(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def cmd_save(suite_url: str, ids_file: str, out: str) -> None:
    """Every plan's record, and each module's info and log, as the suite's API
    gives them: the report is written from these, and they stay for a look;
    the pages REVIEW modules captured (the scripted browser's "screenshots"
    are the page's HTML) go to screenshots/ beside OUT."""
    results = []
    shots = Path(out).parent / "screenshots"
    for plan_id in Path(ids_file).read_text().split():
        plan = api(suite_url, f"/api/plan/{plan_id}")
        for m in plan.get("modules", []):
            m["runs"] = [{"info": api(suite_url, f"/api/info/{i}"), "log": api(suite_url, f"/api/log/{i}")}
                         for i in m.get("instances") or []]
            for i, run in zip(m.get("instances") or [], m["runs"]):
                for n, page in enumerate(e["page_source"] for e in run["log"] if e.get("page_source")):
                    shots.mkdir(parents=True, exist_ok=True)
                    Path(shots, f"{m['testModule']}-{i}-{n + 1}.html").write_text(page)
        results.append(plan)
    Path(out).write_text(json.dumps(results))


def module_rows(plan: dict) -> tuple[list, list, dict]:
    rows, conditions, counts = [], [], {}
    for m in plan.get("modules", []):
        variant = ", ".join(f"{k}={v}" for k, v in sorted((m.get("variant") or {}).items()))
        runs = m.get("runs") or [{"info": {}, "log": []}]
        # A module run again (after a manual step) counts by its last run.
        for n, run in enumerate(runs, 1):
            result = run["info"].get("result") or "NOT RUN"
            status = run["info"].get("status") or ""
            if n < len(runs):
                rows.append(f"| {m['testModule']} | {variant} | ({result}, run again below) | {status} |")
                continue
            counts[result] = counts.get(result, 0) + 1
            rows.append(f"| {m['testModule']} | {variant} | {result} | {status} |")
            # SKIPPED entries say why the module was skipped.
            shown = [e for e in run["log"] if e.get("result") in ("FAILURE", "WARNING", "SKIPPED")]
            for e in shown:
                detail = condition_detail(e)
                conditions.append(
                    f"- `{m['testModule']}` **{e.get('result')}** `{e.get('src')}`: {md(e.get('msg') or '')}"
                    + (f"<br>{md(detail)}" if detail else ""))
    return rows, conditions, counts


def page_text(page: str) -> str:
    """What a captured page shows: its heading and its message or error."""
    import re
    found = [re.sub(r"<[^>]+>", "", m).strip()
             for m in re.findall(r'<(?:h1|p)[^>]*id="(?:title|error|notice|signed-out|question|message)"[^>]*>(.*?)</(?:h1|p)>',
                                 page, re.S)]
    return " / ".join(f for f in found if f) or "(no heading or message)"


def review_rows(plan: dict) -> list:
    """For each REVIEW module, what the suite asked to see and what the page showed."""
    rows = []
    for m in plan.get("modules", []):
        run = (m.get("runs") or [{}])[-1]
        if run.get("info", {}).get("result") != "REVIEW":
            continue
        variant = ", ".join(f"{k}={v}" for k, v in sorted((m.get("variant") or {}).items()))
        for e in (e for e in run["log"] if e.get("page_source")):
            rows.append(f"| {m['testModule']} | {variant} | {md(e.get('msg') or '')} | {md(page_text(e['page_source']))} |")
    return rows


def cmd_report(results_file: str, meta_file: str, out: str) -> None:
    meta = json.loads(Path(meta_file).read_text())
    lines = [
        "# OpenID conformance results",
        "",
        "Written by `scripts/conformance.sh` (see the README, \"OpenID conformance\"): the OpenID Foundation's",
        "conformance suite against Tollgate, every plan below run with the suite's own runner.",
        "REVIEW means the module passed its checks and asks a person to look at its screenshots; \"other\"",
        "counts modules that did not run (the runner gives up after three in a row could not finish).",
        "",
        f"- Date: {meta['date']}",
        f"- Tollgate: {meta['tollgate_version']} (repository commit {meta['tollgate_commit']}), `{meta['storage']}`",
        f"- Conformance suite: commit {meta['suite_commit']}",
        f"- Machine: {meta['machine']}",
        "",
    ]
    known = ("PASSED", "FAILED", "WARNING", "REVIEW", "SKIPPED")
    summary = ["| plan | passed | failed | warning | review | skipped | other |", "|---|---|---|---|---|---|---|"]
    body = []
    for plan in json.loads(Path(results_file).read_text()):
        rows, conditions, counts = module_rows(plan)
        variant = "".join(f"[{k}={v}]" for k, v in sorted((plan.get("variant") or {}).items()))
        title = f"{plan['planName']}{variant}"
        other = sum(v for k, v in counts.items() if k not in known)
        summary.append(f"| {md(title)} | " + " | ".join(str(counts.get(k, 0)) for k in known) + f" | {other} |")
        body += ["", f"## {md(title)}", "", f"Suite version {plan.get('version')}.", "",
                 "| module | variant | result | status |", "|---|---|---|---|", *rows]
        if conditions:
            body += ["", "Failures, warnings and why modules were skipped:", "", *conditions]
        reviews = review_rows(plan)
        if reviews:
            body += ["", "What the REVIEW modules asked to see, and what Tollgate's page showed:", "",
                     "| module | variant | the suite asks | the page shows |", "|---|---|---|---|", *reviews]
    Path(out).write_text("\n".join(lines + summary + body) + "\n")


def main(argv: list[str]) -> None:
    commands = {"clients": cmd_clients, "config": cmd_config, "provision": cmd_provision, "save": cmd_save,
                "rotate-keys": cmd_rotate_keys, "profile": cmd_profile, "tls-proxy": cmd_tls_proxy,
                "report": cmd_report}
    if len(argv) < 2 or argv[1] not in commands:
        sys.exit(__doc__)
    commands[argv[1]](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
