"""`tollgate import`: clients, environments and contact centers moved from the
original's API exports into a running Tollgate's database.

The export in fixtures/genesys-export has the original's shapes: the answers
of `GET /environment/v3/environments`, `GET /environment/v3/contact-centers`
and `GET /auth/v3/ops/clients`, whose records carry the secrets of the
original's sample provisioning payloads (every grant URN,
`ROLE_MANAGEMENT_APPLICATION`, `"client_secret": "secret"`). The live import
reads the same lists from a second Tollgate acting as the original, which
keeps the original's API.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

import tollgate
from envapi import EnvApi, envelope_ok
from helpers import wait_until
from tollgate import Server

EXPORT = Path(__file__).resolve().parent / "fixtures" / "genesys-export"
ENV_1 = "4c9a1f52-3b7e-4d0a-9f61-2e8d5b7c1a01"
ENV_2 = "7d2e6b90-85c4-4f3b-a0d8-6c1f9e4b2a02"
CC_T100 = "9350e2fc-a1dd-4c65-8d40-1f75a2e080dd"
CC_T200 = "2b8f4d17-6e0a-4c39-b5f2-8a1d7e3c9b44"
CLIENT_IDS = ["external_api_client", "gws-app-provisioning", "gws-app-workspace"]
WORKSPACE_SECRET = "workspace-secret-7f3e91"
#: Not in the export (its record has `"client_secret": ""`): given apart.
PROVISIONING_SECRET = "provisioning-secret-" + secrets.token_hex(8)
#: The original's sample secret is 6 characters.
LOWERED = ["--min-client-secret-length", "6"]


class Target:
    """A `serve all` process on a fresh database, with what `tollgate
    import` needs to write into that database."""

    def __init__(self, workdir: Path, tag: str, extra: list[str] = ()):
        reason = tollgate.serve_unavailable_reason()
        if reason:
            if tollgate.services_required():
                pytest.fail(f"TOLLGATE_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
            pytest.skip(reason)
        workdir.mkdir(parents=True, exist_ok=True)
        self.db_url, drop = tollgate.create_database()
        self.key = secrets.token_hex(32)
        redis = os.environ["TOLLGATE_TEST_REDIS_URL"]
        args = [*tollgate.serve_args("all", self.db_url, redis, self.key), *extra]
        try:
            proc, base, mgmt, err, out = tollgate.launch(args, tollgate.serve_env(), workdir, tag)
            tollgate.wait_ready(proc, mgmt, err)
        except Exception:
            drop()
            raise
        self.srv = Server(
            flavour="serve", proc=proc, base_url=base, mgmt_url=mgmt, workdir=workdir,
            stderr_path=err, stdout_path=out, client_id="", client_secret="",
            ops_username=tollgate.OPS_USERNAME, ops_password=tollgate.OPS_PASSWORD_SERVE,
        )
        self.srv.cleanup.append(drop)
        self.srv.secrets.update({self.key, tollgate.OPS_PASSWORD_SERVE, WORKSPACE_SECRET, PROVISIONING_SECRET})
        tollgate.service_secrets(self.srv, self.db_url, redis)
        self.api = EnvApi(base, auth=self.srv.ops)

    def import_(self, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
        cmd = [str(tollgate.binary()), "import", *args, "--database-url", self.db_url, "--encryption-key", self.key]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)

    def state(self) -> dict:
        """Everything an import may change, as the APIs show it."""
        envs = envelope_ok(self.api.call("GET", "/environments"), 200)["data"]
        ccs = envelope_ok(self.api.call("GET", "/contact-centers"), 200)["data"]
        r = requests.get(self.srv.url("/auth/v3/ops/clients"), auth=self.srv.ops, timeout=10)
        assert r.status_code == 200, r.text
        return {"environments": envs, "contact_centers": ccs, "clients": r.json()["data"]}

    def token(self, client_id: str, secret: str) -> requests.Response:
        return requests.post(
            self.srv.token_url, data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=10
        )


@pytest.fixture
def target(tmp_path):
    t = Target(tmp_path, "target")
    yield t
    tollgate.stop_and_check(t.srv)


@pytest.fixture
def secrets_file(tmp_path) -> Path:
    path = tmp_path / "client-secrets.json"
    path.write_text(json.dumps({"gws-app-provisioning": PROVISIONING_SECRET}))
    return path


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def failed(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, f"the import succeeded:\n{result.stdout}"
    return result.stderr


def assert_no_secret_printed(text: str) -> None:
    for s in (WORKSPACE_SECRET, PROVISIONING_SECRET, '"secret"', "$argon2"):
        assert s not in text, f"{s!r} printed:\n{text}"


def assert_imported(t: Target) -> None:
    """The export is in: contact centers in their own environments, clients
    that get tokens with their secrets."""
    state = t.state()
    assert {e["id"] for e in state["environments"]} >= {ENV_1, ENV_2}
    ccs = {c["id"]: c for c in state["contact_centers"]}
    assert ccs[CC_T100]["environmentId"] == ENV_1 and ccs[CC_T100]["domains"] == ["t100"]
    assert ccs[CC_T200]["environmentId"] == ENV_2 and ccs[CC_T200]["domains"] == ["t200"]
    assert ccs[CC_T100]["auth"] == "configServer"
    clients = {c["client_id"]: c for c in state["clients"]}
    ext = clients["external_api_client"]
    assert "ROLE_MANAGEMENT_APPLICATION" in ext["authorities"]
    assert "urn:ietf:params:oauth:grant-type:jwt-bearer" in ext["authorizedGrantTypes"]
    assert "urn:ietf:params:oauth:grant-type:token-exchange" in ext["authorizedGrantTypes"]
    assert ext["refreshTokenExpirationTimeout"] == 2592000
    assert clients["gws-app-workspace"]["contactCenterIds"] == [CC_T100]
    assert all("client_secret" not in c for c in state["clients"])
    for client_id, secret in [
        ("external_api_client", "secret"),
        ("gws-app-workspace", WORKSPACE_SECRET),
        ("gws-app-provisioning", PROVISIONING_SECRET),
    ]:
        # The import wrote the database behind the server's back: the server
        # knows the client from its next sync (a notification, or the 1 s poll).
        wait_until(lambda: t.token(client_id, secret).status_code == 200)
        r = t.token(client_id, secret)
        assert r.status_code == 200, f"{client_id}: {r.status_code} {r.text}"
        assert r.json()["access_token"]
    assert t.token("external_api_client", "wrong-secret").status_code == 401
    # The bound client sees its own tenant only, in the Environment API too.
    token = t.token("gws-app-workspace", WORKSPACE_SECRET).json()["access_token"]
    seen = envelope_ok(EnvApi(t.srv.base_url, token=token).call("GET", "/contact-centers"), 200)["data"]
    assert [c["id"] for c in seen] == [CC_T100]


def test_dry_run_then_import_then_rerun_changes_nothing(target, secrets_file):
    t = target
    before = t.state()
    args = ["--from-dir", str(EXPORT), "--client-secrets-file", str(secrets_file), *LOWERED]

    out = ok(t.import_(*args, "--dry-run"))
    assert f"environment {ENV_1}: create" in out
    assert f"contact center {CC_T100} (domains t100; environment {ENV_1}): create" in out
    assert "client external_api_client: create" in out
    assert "client.weak_secret" in out  # the 6-character secret is flagged
    assert "7 to create, 0 to update, 0 unchanged" in out
    assert "dry run: nothing written" in out
    assert_no_secret_printed(out)
    assert t.state() == before

    out = ok(t.import_(*args))
    assert "7 to create" in out and "written: 7 record(s)" in out
    assert_no_secret_printed(out)
    assert_imported(t)
    after = t.state()

    out = ok(t.import_(*args))
    assert "0 to create, 0 to update, 7 unchanged, 0 differing" in out, out
    assert "nothing to write" in out
    assert t.state() == after  # same versions and times: nothing was written


def test_short_secret_needs_the_lowered_minimum(target, secrets_file):
    t = target
    before = t.state()
    err = failed(t.import_("--from-dir", str(EXPORT), "--client-secrets-file", str(secrets_file)))
    assert "clients.json: record 0 (client 'external_api_client'): client_secret must be at least 8" in err, err
    assert "min-client-secret-length" in err
    assert "nothing was imported" in err
    assert_no_secret_printed(err)
    assert t.state() == before


def bad_export(tmp_path: Path) -> Path:
    """The fixture export with a bad contact center and a bad client."""
    d = tmp_path / "bad-export"
    shutil.copytree(EXPORT, d)
    ccs = json.loads((d / "contact-centers.json").read_text())
    ccs["data"][1]["auth"] = "kerberos"
    (d / "contact-centers.json").write_text(json.dumps(ccs))
    clients = json.loads((d / "clients.json").read_text())
    clients["data"][2]["authorizedGrantTypes"].append("urn:example:made-up")
    (d / "clients.json").write_text(json.dumps(clients))
    return d


def test_bad_records_are_named_and_nothing_is_written(target, tmp_path, secrets_file):
    t = target
    before = t.state()
    d = bad_export(tmp_path)
    err = failed(t.import_("--from-dir", str(d), "--client-secrets-file", str(secrets_file), *LOWERED))
    assert f"contact-centers.json: record 1 (contact center '{CC_T200}'): 'auth' must be one of" in err, err
    assert (
        "clients.json: record 2 (client 'gws-app-workspace'): authorizedGrantTypes: "
        "unknown grant type 'urn:example:made-up'" in err
    ), err
    assert "nothing was imported (2 bad records)" in err
    # The good environments and clients were not written either.
    assert t.state() == before

    # A contact center whose environment is neither stored nor exported.
    ccs = json.loads((EXPORT / "contact-centers.json").read_text())
    ccs["data"][0]["environmentId"] = "no-such-environment"
    only = tmp_path / "only-ccs.json"
    only.write_text(json.dumps(ccs))
    err = failed(t.import_("--contact-centers-file", str(only)))
    assert f"record 0 (contact center '{CC_T100}'): environmentId: environment 'no-such-environment'" in err, err
    assert t.state() == before


def test_differences_are_reported_and_updated_only_when_asked(target, tmp_path, secrets_file):
    t = target
    args = ["--client-secrets-file", str(secrets_file), *LOWERED]
    ok(t.import_("--from-dir", str(EXPORT), *args))
    imported = t.state()

    d = tmp_path / "changed"
    shutil.copytree(EXPORT, d)
    clients = json.loads((d / "clients.json").read_text())
    clients["data"][0]["redirectURIs"].append("https://new.example.com")
    (d / "clients.json").write_text(json.dumps(clients))
    ccs = json.loads((d / "contact-centers.json").read_text())
    ccs["data"][1]["domains"] = ["t200", "t200-eu"]
    (d / "contact-centers.json").write_text(json.dumps(ccs))

    out = ok(t.import_("--from-dir", str(d), *args))
    assert "client external_api_client: differs (redirectURIs): skipped, --update updates it" in out, out
    assert f"contact center {CC_T200} (domains t200, t200-eu; environment {ENV_2}): differs (domains)" in out
    assert "0 to create, 0 to update, 5 unchanged, 2 differing and skipped" in out
    assert t.state() == imported

    out = ok(t.import_("--from-dir", str(d), "--update", *args))
    assert "client external_api_client: update (redirectURIs)" in out, out
    state = t.state()
    ext = next(c for c in state["clients"] if c["client_id"] == "external_api_client")
    assert "https://new.example.com" in ext["redirectURIs"]
    cc = next(c for c in state["contact_centers"] if c["id"] == CC_T200)
    assert cc["domains"] == ["t200", "t200-eu"]
    # The secret was not changed by the update: it still works.
    assert t.token("external_api_client", "secret").status_code == 200


def provision_original(orig: Target) -> None:
    """The original, provisioned over its own APIs with the export's records
    (as the original's provisioning scripts would)."""
    for name in ("environments", "contact-centers"):
        for record in json.loads((EXPORT / f"{name}.json").read_text())["data"]:
            r = orig.api.call("POST", f"/{name}", record)
            assert r.status_code == 201, r.text
    for record in json.loads((EXPORT / "clients.json").read_text())["data"]:
        if not record["client_secret"]:
            record["client_secret"] = PROVISIONING_SECRET
        r = requests.post(orig.srv.url("/auth/v3/ops/clients"), json={"data": record}, auth=orig.srv.ops, timeout=10)
        assert r.status_code == 201, r.text


def test_live_import_from_a_running_original(tmp_path):
    orig = Target(tmp_path / "original", "original", LOWERED)
    try:
        provision_original(orig)
        target = Target(tmp_path / "target", "target")
        try:
            # The original's client list shows no secrets: they come apart.
            secrets_file = tmp_path / "secrets.json"
            secrets_file.write_text(json.dumps({
                "external_api_client": "secret",
                "gws-app-workspace": WORKSPACE_SECRET,
                "gws-app-provisioning": PROVISIONING_SECRET,
            }))
            live = [
                "--from-url", orig.srv.base_url, "--ops-user", "ops", "--ops-password", orig.srv.ops_password,
                "--client-secrets-file", str(secrets_file), *LOWERED,
            ]
            out = ok(target.import_(*live))
            assert "7 to create" in out and "written: 7 record(s)" in out, out
            assert_no_secret_printed(out)
            assert_imported(target)

            # The Environment API read with a management client's token.
            token_live = [*live, "--environment-client-id", "external_api_client",
                          "--environment-client-secret", "secret"]
            out = ok(target.import_(*token_live))
            assert "7 unchanged" in out and "nothing to write" in out, out

            r = target.import_(*[a if a != orig.srv.ops_password else "wrong-password" for a in live])
            assert "/environment/v3/environments: HTTP 401" in failed(r)
        finally:
            tollgate.stop_and_check(target.srv)
    finally:
        tollgate.stop_and_check(orig.srv)
