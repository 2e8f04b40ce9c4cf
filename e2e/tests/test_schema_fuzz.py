"""Schema fuzzing of the Environment API and the Authentication API with
schemathesis: requests generated from the service's own OpenAPI documents
(`/environment/v3/openapi.json`, `/auth/v3/openapi.json`), valid and invalid,
sent to a server of its own (the run creates and deletes whatever the
generator makes up). The Environment API gets operator Basic credentials; the
Authentication API a client's Basic credentials where its document asks for
`basic`, a user's access token (scope `*`) where it asks for `bearer` and the
operator's credentials where it asks for `ops` (the client registry).

Checks: `not_a_server_error` (no 5xx, whatever the input) and
`response_schema_conformance` (every answer matches the schema the service
publishes). Bounded and reproducible: a fixed seed, a small number of examples
per operation, no example database carried between runs.

Knobs: TOLLGATE_FUZZ_MAX_EXAMPLES (default below), TOLLGATE_FUZZ_SEED.
The schemathesis output, with a curl command reproducing every failure, is in
the test's captured output and in fuzz-<flavour>/schemathesis-<api>.log under the
pytest temporary directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests

import tollgate
from envapi import EnvApi, envelope_ok, unique
from helpers import password_token

MAX_EXAMPLES = int(os.environ.get("TOLLGATE_FUZZ_MAX_EXAMPLES", "25"))
SEED = int(os.environ.get("TOLLGATE_FUZZ_SEED", "20240611"))
CHECKS = "not_a_server_error,response_schema_conformance"
#: Tenants (environment, contact center, two users) created before the run.
SEED_TENANTS = 4
#: A ceiling on the whole schemathesis run (it normally takes far less).
RUN_TIMEOUT = 240


@pytest.fixture(params=tollgate.FLAVOURS)
def fuzz_server(request, tmp_path_factory):
    flavour = request.param
    if flavour == "serve":
        reason = tollgate.serve_unavailable_reason()
        if reason:
            if tollgate.services_required():
                pytest.fail(f"TOLLGATE_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
            pytest.skip(reason)
    srv = tollgate.start(flavour, tmp_path_factory.mktemp(f"fuzz-{flavour}"), tag="fuzz")
    yield srv
    tollgate.stop_and_check(srv)


def base_url_for(srv, schema: dict) -> str:
    """Where the schema's paths are rooted: its first server (resolved against
    the service), or the service itself when the paths are absolute."""
    servers = schema.get("servers") or []
    if servers:
        url = servers[0].get("url", "")
        if url.startswith("http"):
            # The document may advertise the public URL; fuzz this process.
            from urllib.parse import urlsplit

            return srv.base_url + urlsplit(url).path.rstrip("/")
        return srv.base_url + url.rstrip("/")
    if all(p.startswith(("/environment/v3", "/auth/v3", "/.well-known/")) for p in schema["paths"]):
        return srv.base_url
    return srv.base_url + "/environment/v3"


def seed(srv) -> dict[str, list[str]]:
    """Real records for the generator to find: without them nearly every
    request on a contact center or user would stop at 404."""
    api = EnvApi(srv.base_url, auth=srv.ops)
    found = {"env": [], "cc": [], "user": [], "domain": []}
    for _ in range(SEED_TENANTS):
        env = api.create_environment_ok()
        domain = unique("fuzz")
        cc = api.create_contact_center_ok(env["id"], [domain])
        for _ in range(2):
            found["user"].append(api.create_user_ok(cc["id"], password=srv.secret(unique("pw")))["id"])
        envelope_ok(api.set_setting(cc["id"], "greeting", "hello"))
        api.set_cors_origins(cc["id"], [f"https://{domain}.example.com"])
        found["env"].append(env["id"])
        found["cc"].append(cc["id"])
        found["domain"].append(domain)
    return found


def config_file(path, ids: dict[str, list[str]]):
    """schemathesis.toml: draw identifiers from the seeded records most of the time."""
    def values(xs):
        return "[" + ", ".join(f'"{x}"' for x in xs) + "]"

    path.write_text(
        f"""[dictionaries]
ids = {{ values = {values(ids["env"] + ids["cc"])} }}
envs = {{ values = {values(ids["env"])} }}
ccs = {{ values = {values(ids["cc"])} }}
users = {{ values = {values(ids["user"])} }}
settings = {{ values = ["greeting", "cors-origins"] }}

[parameters]
"path.id" = {{ dictionary = "ids", probability = 0.8 }}
"path.user_id" = {{ dictionary = "users", probability = 0.8 }}
"path.name" = {{ dictionary = "settings", probability = 0.8 }}
"body.environmentId" = {{ dictionary = "envs", probability = 0.7 }}
"body.contactCenterId" = {{ dictionary = "ccs", probability = 0.7 }}
"query.contactCenterId" = {{ dictionary = "ccs", probability = 0.7 }}
"""
    )
    return path


def test_environment_api_schema_fuzz(fuzz_server):
    srv = fuzz_server
    config = config_file(srv.workdir / "schemathesis.toml", seed(srv))
    run_schemathesis(srv, "Environment API", "/environment/v3/openapi.json", config,
                     ["--auth", f"{srv.ops_username}:{srv.ops_password}"])


def auth_config_file(path, srv):
    """schemathesis.toml: credentials by the document's security schemes (a
    confidential client for `basic`, a user's token for `bearer`)."""
    client = srv.create_client(
        client_secret=srv.secret(unique("fuzz-secret")),
        authorizedGrantTypes=["client_credentials", "password", "refresh_token"],
        authorities=["ROLE_INTERNAL_CLIENT"],
    )
    token = password_token(srv, scope="*")["access_token"]
    # Sign-out ends its token (with global=true every token of the user): it
    # gets a client's token of its own, so the user's lives through the run.
    other = srv.create_client(client_secret=srv.secret(unique("fuzz-secret")), authorizedGrantTypes=["client_credentials"])
    r = requests.post(srv.token_url, data={"grant_type": "client_credentials"},
                      auth=(other["client_id"], other["client_secret"]), timeout=10)
    assert r.status_code == 200, r.text
    sign_out_token = r.json()["access_token"]
    for secret in (token, sign_out_token):
        srv.remember_secret(secret)
    path.write_text(
        f"""[auth.openapi.basic]
username = "{client['client_id']}"
password = "{client['client_secret']}"

[auth.openapi.bearer]
bearer = "{token}"

[auth.openapi.ops]
username = "{srv.ops_username}"
password = "{srv.ops_password}"

[[operations]]
include-path = "/auth/v3/sign-out"
headers = {{ Authorization = "Bearer {sign_out_token}" }}
"""
    )
    return path


def test_authentication_api_schema_fuzz(fuzz_server):
    srv = fuzz_server
    config = auth_config_file(srv.workdir / "schemathesis-auth.toml", srv)
    run_schemathesis(srv, "Authentication API", "/auth/v3/openapi.json", config, [])


def run_schemathesis(srv, api: str, schema_path: str, config, auth: list[str]) -> None:
    """Runs schemathesis on one of the service's documents; fails with the
    report's failures."""
    schema_url = srv.url(schema_path)
    r = requests.get(schema_url, auth=srv.ops, timeout=10)
    assert r.status_code == 200, f"GET {schema_url}: {r.status_code} {r.text[:500]}"
    schema = r.json()
    name = schema_path.strip("/").split("/")[0]
    out = srv.workdir / f"schemathesis-{name}.log"
    cmd = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", schema_url,
        "--url", base_url_for(srv, schema),
        *auth,
        "--checks", CHECKS,
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED),
        "--generation-database", "none",
        "--workers", "1",
        "--request-timeout", "10",
        "--phases", "examples,coverage,fuzzing",
        "--suppress-health-check", "all",
        "--report", "junit",
        "--report-junit-path", str(srv.workdir / f"schemathesis-{name}-junit.xml"),
        "--no-color",
    ]
    started = time.monotonic()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env, cwd=srv.workdir)
    took = time.monotonic() - started
    out.write_text(proc.stdout + "\n" + proc.stderr)
    print(proc.stdout[-20000:])
    print(f"schemathesis ({api}, {srv.flavour}): exit {proc.returncode} after {took:.1f}s; "
          f"seed {SEED}, {MAX_EXAMPLES} examples per operation; full output in {out}")
    assert proc.returncode == 0, (
        f"schemathesis found problems in the {api} ({srv.flavour}; seed {SEED}, "
        f"max examples {MAX_EXAMPLES}; reproduce each with the curl line shown):\n"
        + _failures(proc.stdout)
        + (f"\nstderr:\n{proc.stderr[-3000:]}" if proc.stderr.strip() else "")
    )
    # A run that tested nothing proves nothing.
    assert "operations" in proc.stdout.lower() or "passed" in proc.stdout.lower(), proc.stdout[-2000:]


def _failures(stdout: str) -> str:
    """The FAILURES section of the schemathesis report (or its tail)."""
    marker = stdout.find("FAILURES")
    text = stdout[marker:] if marker >= 0 else stdout[-8000:]
    return text[:15000]
