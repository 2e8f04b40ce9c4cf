"""`serve environment` and `serve auth` as two processes on one PostgreSQL
database (and one Redis), started at the same moment (each applies the
migrations at start, so that must be safe when they race).

Everything is provisioned through the environment process; the auth process
must see it through the database within 2 seconds: new users can sign in,
a disabled contact center cannot, a deleted one's tokens end, and CORS
follows the configured origins. Each delay is measured and reported
(see the "measured delays" section of the run's summary).
"""

from __future__ import annotations

import os
import secrets
import time

import pytest
import requests

import tollgate
from envapi import PROPAGATION, EnvApi, envelope_error, envelope_ok, provision_tenant, unique
from tollgate import Server

POLL = 0.02


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    reason = tollgate.serve_unavailable_reason()
    if reason:
        if tollgate.services_required():
            pytest.fail(f"TOLLGATE_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("two-processes")
    db_url, drop = tollgate.create_database()
    redis_url = os.environ["TOLLGATE_TEST_REDIS_URL"]
    key = secrets.token_hex(32)
    env = tollgate.serve_env()
    # One deployment, one issuer: both processes are told the public URL (the
    # auth process's here), as they would be behind one ingress. The
    # environment process checks `iss`/`aud` of the bearer tokens against it.
    auth_port = tollgate.free_port()
    public = ["--public-url", f"http://127.0.0.1:{auth_port}"]
    # Both at once, on a database that has no tables yet.
    launched = {
        role: tollgate.launch(tollgate.serve_args(role, db_url, redis_url, key) + public, env, workdir, f"serve-{role}",
                              port=auth_port if role == "auth" else None)
        for role in ("environment", "auth")
    }
    servers: dict[str, Server] = {}
    for role, (proc, base, mgmt, err, out) in launched.items():
        srv = Server(
            flavour=f"serve {role}",
            proc=proc,
            base_url=base,
            mgmt_url=mgmt,
            workdir=workdir,
            stderr_path=err,
            stdout_path=out,
            client_id=tollgate.SERVE_CLIENT_ID,
            client_secret=tollgate.SERVE_CLIENT_SECRET,
            ops_username=tollgate.OPS_USERNAME,
            ops_password=tollgate.OPS_PASSWORD_SERVE,
        )
        srv.secrets.update({tollgate.OPS_PASSWORD_SERVE, tollgate.SERVE_CLIENT_SECRET, key})
        tollgate.service_secrets(srv, db_url, redis_url)
        servers[role] = srv
    servers["auth"].cleanup.append(drop)  # after both stopped (auth stops last)
    try:
        for role, srv in servers.items():
            tollgate.wait_ready(srv.proc, srv.mgmt_url, srv.stderr_path)
        # The client the relying party uses, on the auth process's ops API.
        servers["auth"].create_client(
            tollgate.SERVE_CLIENT_ID,
            client_secret=tollgate.SERVE_CLIENT_SECRET,
            authorizedGrantTypes=["client_credentials", "password", "refresh_token"],
            authorities=["ROLE_INTERNAL_CLIENT"],
            internalClient=True,
        )
    except Exception:
        for srv in servers.values():
            if srv.proc.poll() is None:
                srv.proc.kill()
                srv.proc.wait()
            srv.exit_code = srv.proc.returncode
        for srv in servers.values():
            srv.run_cleanup()
        raise
    yield servers["environment"], servers["auth"]
    errors = []
    for srv in (servers["environment"], servers["auth"]):
        try:
            tollgate.stop_and_check(srv)
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


def password_grant(auth: Server, login: str, password: str) -> requests.Response:
    return requests.post(
        auth.token_url,
        data={"grant_type": "password", "username": login, "password": password, "scope": "openid"},
        auth=(auth.client_id, auth.client_secret),
        timeout=10,
    )


def wait_for(predicate, timeout: float = PROPAGATION):
    """(True, seconds) once `predicate()` holds; (False, seconds) at the deadline."""
    start = time.monotonic()
    while True:
        if predicate():
            return True, time.monotonic() - start
        if time.monotonic() - start > timeout:
            return False, time.monotonic() - start
        time.sleep(POLL)


def allowed_origin(auth: Server, origin: str) -> str | None:
    r = requests.options(
        auth.token_url,
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    return r.headers.get("Access-Control-Allow-Origin")


@pytest.fixture
def env_api(pair) -> EnvApi:
    environment, _ = pair
    return EnvApi(environment.base_url, auth=environment.ops)


@pytest.fixture
def new_tenant(pair, env_api):
    """Provisions a tenant through the environment process and waits (up to
    2 s) until the auth process accepts its user; returns it with the delay."""
    environment, auth = pair
    domain = unique("two")
    password = unique("pw")
    for srv in pair:
        srv.remember_secret(password)
    t = provision_tenant(env_api, domain, "bob", password)
    login = f"{domain}\\bob"
    ok, waited = wait_for(lambda: password_grant(auth, login, password).status_code == 200)
    last = password_grant(auth, login, password)
    assert ok, f"the auth process did not accept the new user within {PROPAGATION}s: {last.status_code} {last.text}"
    return {**t, "domain": domain, "login": login, "password": password, "sign_in_delay": waited}


def test_each_process_serves_only_its_api(pair):
    environment, auth = pair
    envelope_ok(requests.get(environment.url("/environment/v3/environments"), auth=environment.ops, timeout=10), 200)
    assert requests.get(environment.url("/environment/v3/openapi.json"), auth=environment.ops, timeout=10).status_code == 200
    assert requests.get(environment.url("/auth/v3/jwks"), timeout=10).status_code == 404
    assert requests.post(environment.url("/auth/v3/oauth/token"), data={"grant_type": "client_credentials"},
                         auth=(auth.client_id, auth.client_secret), timeout=10).status_code == 404
    assert requests.get(auth.url("/environment/v3/environments"), auth=auth.ops, timeout=10).status_code == 404
    assert requests.get(auth.url("/auth/v3/jwks"), timeout=10).status_code == 200


def test_environment_process_accepts_tokens_of_the_auth_process(pair, record_delay):
    """A management client's token, issued by the auth process, opens the
    environment process (signing keys and clients are shared through the
    database: the new client, and right after the start the auth process's
    signing key, reach the environment process within 2 s)."""
    environment, auth = pair
    secret = unique("mgmt-secret")
    c = auth.create_client(client_secret=secret, authorizedGrantTypes=["client_credentials"], authorities=["ROLE_MANAGEMENT_APPLICATION"])
    environment.remember_secret(secret)
    r = requests.post(auth.token_url, data={"grant_type": "client_credentials"}, auth=(c["client_id"], secret), timeout=10)
    assert r.status_code == 200, r.text
    api = EnvApi(environment.base_url, token=r.json()["access_token"])
    ok, waited = wait_for(lambda: api.call("GET", "/environments").status_code == 200)
    last = api.call("GET", "/environments")
    assert ok, f"the environment process refuses the token {PROPAGATION}s after its client was created: {last.status_code} {last.text}"
    record_delay("two processes: client created -> its token accepted by the environment process", waited)
    env = api.create_environment_ok()
    envelope_ok(api.call("GET", f"/environments/{env['id']}"), 200)
    # Without a management role: 403.
    secret = unique("plain-secret")
    c = auth.create_client(client_secret=secret, authorizedGrantTypes=["client_credentials"], authorities=[])
    environment.remember_secret(secret)
    r = requests.post(auth.token_url, data={"grant_type": "client_credentials"}, auth=(c["client_id"], secret), timeout=10)
    plain = EnvApi(environment.base_url, token=r.json()["access_token"])
    wait_for(lambda: plain.call("GET", "/environments").status_code != 401)
    envelope_error(plain.call("GET", "/environments"), 403)


def test_new_tenant_users_sign_in_on_the_auth_process_within_2s(new_tenant, record_delay):
    record_delay("two processes: user created -> accepted by the auth process", new_tenant["sign_in_delay"])
    assert new_tenant["sign_in_delay"] <= PROPAGATION


def test_a_second_user_of_a_known_tenant(pair, env_api, new_tenant, record_delay):
    _, auth = pair
    password = unique("pw")
    for srv in pair:
        srv.remember_secret(password)
    env_api.create_user_ok(new_tenant["contact_center_id"], "carol", password)
    login = f"{new_tenant['domain']}\\carol"
    ok, waited = wait_for(lambda: password_grant(auth, login, password).status_code == 200)
    assert ok, password_grant(auth, login, password).text
    record_delay("two processes: second user created -> accepted by the auth process", waited)


def test_disabling_the_contact_center_stops_sign_in_within_2s(pair, env_api, new_tenant, record_delay):
    _, auth = pair
    cc = new_tenant["contact_center_id"]
    envelope_ok(env_api.update_contact_center(cc, enabled=False), 200)
    ok, waited = wait_for(lambda: password_grant(auth, new_tenant["login"], new_tenant["password"]).status_code != 200)
    r = password_grant(auth, new_tenant["login"], new_tenant["password"])
    assert ok, f"sign-in still works {PROPAGATION}s after the contact center was disabled: {r.text}"
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    record_delay("two processes: contact center disabled -> sign-in refused", waited)
    envelope_ok(env_api.update_contact_center(cc, enabled=True), 200)
    ok, waited = wait_for(lambda: password_grant(auth, new_tenant["login"], new_tenant["password"]).status_code == 200)
    assert ok, "sign-in did not come back after re-enabling the contact center"
    record_delay("two processes: contact center re-enabled -> sign-in accepted", waited)


def test_deleting_the_contact_center_ends_tokens_on_the_auth_process(pair, env_api, new_tenant, record_delay):
    _, auth = pair
    token = password_grant(auth, new_tenant["login"], new_tenant["password"]).json()["access_token"]

    def active() -> bool:
        r = requests.post(auth.introspect_url, data={"token": token}, auth=(auth.client_id, auth.client_secret), timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["active"]

    assert active()
    envelope_ok(env_api.call("DELETE", f"/contact-centers/{new_tenant['contact_center_id']}"), (200, 204))
    ok, waited = wait_for(lambda: not active())
    assert ok, f"the token is still active on the auth process {PROPAGATION}s after its contact center was deleted"
    record_delay("two processes: contact center deleted -> token inactive", waited)


def test_cors_on_the_auth_process_follows_the_environment_process(pair, env_api, new_tenant, record_delay):
    _, auth = pair
    cc = new_tenant["contact_center_id"]
    origin = f"https://{new_tenant['domain']}.example.com"
    stranger = f"https://{unique('stranger')}.example.org"
    env_api.set_cors_origins(cc, [origin])
    ok, waited = wait_for(lambda: allowed_origin(auth, origin) == origin)
    assert ok, f"preflight from {origin} not allowed within {PROPAGATION}s: {allowed_origin(auth, origin)!r}"
    record_delay("two processes: cors-origins set -> preflight allowed", waited)
    assert allowed_origin(auth, stranger) not in (stranger, "*")
    # An origin added with the `cors` API.
    added = f"https://{unique('added')}.example.com"
    envelope_ok(env_api.add_cors_origin(cc, added))
    ok, waited = wait_for(lambda: allowed_origin(auth, added) == added)
    assert ok, f"preflight from {added} not allowed within {PROPAGATION}s: {allowed_origin(auth, added)!r}"
    record_delay("two processes: cors origin added -> preflight allowed", waited)
    assert allowed_origin(auth, origin) == origin
    # The actual (non-preflight) request carries the header too.
    r = requests.post(auth.token_url, data={"grant_type": "client_credentials"}, headers={"Origin": origin},
                      auth=(auth.client_id, auth.client_secret), timeout=10)
    assert r.status_code == 200 and r.headers.get("Access-Control-Allow-Origin") == origin, r.headers
