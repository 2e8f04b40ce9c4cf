"""The Environment API (`/environment/v3`): provisioning environments,
contact centers, their settings, CORS origins and users over plain HTTP, as
the original's installation guide does it with curl, on both flavours (`dev`
and `serve all` on PostgreSQL and Redis). A user provisioned this way then
signs in through authlib.

Where the contract leaves a detail open (201 or 200 on create, 200 or 204 on
delete, 403 or 404 for a contact center a bound client may not see), both
answers are accepted; everything the contract states is asserted exactly.
"""

from __future__ import annotations

import json

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError

from envapi import (
    CONTACT_CENTER_FIELDS,
    PROPAGATION,
    EnvApi,
    environment_body,
    envelope_error,
    envelope_ok,
    cut_id,
    poll,
    provision_tenant,
    unique,
)
from helpers import verify_access_token

DELETED = (200, 204)


# -- fixtures and small helpers -------------------------------------------------


@pytest.fixture
def ops_api(server) -> EnvApi:
    return EnvApi(server.base_url, auth=server.ops)


def client_token(srv, **fields) -> str:
    """A client created over the ops API, and a client_credentials token of it."""
    secret = srv.secret(unique("secret"))
    c = srv.create_client(client_secret=secret, authorizedGrantTypes=["client_credentials"], **fields)
    r = requests.post(srv.token_url, data={"grant_type": "client_credentials"}, auth=(c["client_id"], secret), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture
def tenant(server, ops_api) -> dict:
    """A fresh environment, contact center and user (with a password)."""
    domain = unique("tenant")
    password = server.secret(unique("pw"))
    t = provision_tenant(ops_api, domain, "alice", password)
    return {**t, "domain": domain, "login": f"{domain}\\alice", "password": password}


def sign_in(srv, login: str, password: str, scope: str = "openid profile email") -> dict:
    """Password grant through authlib with the server's own client."""
    with OAuth2Session(srv.client_id, srv.client_secret, scope=scope) as s:
        return dict(s.fetch_token(srv.token_url, username=login, password=password, scope=scope))


def sign_in_error(srv, login: str, password: str) -> OAuthError | None:
    try:
        sign_in(srv, login, password)
    except OAuthError as e:
        return e
    return None


def introspect(srv, token: str, hint: str | None = None) -> dict:
    data = {"token": token}
    if hint:
        data["token_type_hint"] = hint
    r = requests.post(srv.introspect_url, data=data, auth=(srv.client_id, srv.client_secret), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def preflight(srv, origin: str, path: str = "/auth/v3/oauth/token") -> requests.Response:
    return requests.options(
        srv.url(path),
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=10,
    )


def allowed_origin(srv, origin: str) -> str | None:
    return preflight(srv, origin).headers.get("Access-Control-Allow-Origin")


def ids(items) -> set[str]:
    return {i["id"] for i in items}


def list_data(body: dict, key: str) -> list:
    """A list answer: `data` is the list itself or holds it under `key`."""
    data = body["data"]
    return data[key] if isinstance(data, dict) else data


# -- the installer's sequence -----------------------------------------------------


def test_installer_provisioning_sequence(server, record_delay):
    """The original's installation steps, as curl does them: an API client over
    the ops API, its token, then environment, contact center, CORS origins and
    a user with the bearer token; the new user then signs in through authlib."""
    srv = server
    # 1. The API client (operator Basic auth on the ops API).
    api_client, api_secret = unique("external-api-client"), srv.secret(unique("api-secret"))
    r = requests.post(
        srv.url("/auth/v3/ops/clients"),
        auth=srv.ops,
        json={
            "data": {
                "name": "external_api_client",
                "clientType": "CONFIDENTIAL",
                "internalClient": True,
                "authorizedGrantTypes": ["refresh_token", "client_credentials"],
                "authorities": ["ROLE_INTERNAL_CLIENT"],
                "client_id": api_client,
                "client_secret": api_secret,
            }
        },
        timeout=10,
    )
    assert r.status_code == 201, r.text
    # 2. Its token (client_credentials, Basic client authentication).
    r = requests.post(srv.token_url, data={"grant_type": "client_credentials"}, auth=(api_client, api_secret), timeout=10)
    assert r.status_code == 200, r.text
    api = EnvApi(srv.base_url, token=r.json()["access_token"])

    # 3. The environment: password accepted but never shown.
    env_password = srv.secret(unique("cfg-pw"))
    env = api.create_environment_ok(password=env_password)
    env_id = cut_id(env["path"])  # ENV_ID=$(... | jq -r .path | cut -d/ -f3)
    got = envelope_ok(api.call("GET", env["path"]), 200)["data"]
    assert got["id"] == env_id == env["id"]
    assert got["tenant"] == "Resources" and got["appName"] == "Cloud" and got["connectionProtocol"] == "addp"
    assert got["configServers"][0]["primaryAddress"] == "config-server.example.com"
    assert got["configServers"][0]["primaryPort"] == 8888
    assert env_password not in json.dumps(env) + json.dumps(got)
    assert "password" not in got or got["password"] in (None, "")

    # 4. The contact center on the built-in directory.
    domain = unique("acme")
    cc = api.create_contact_center_ok(env_id, [domain], name="Acme")
    assert cut_id(cc["path"]) == cc["id"]
    got = api.contact_center(cc["id"])
    assert got["environmentId"] == env["id"]
    assert [d.lower() for d in got["domains"]] == [domain]
    assert got["auth"] == "builtin" and got["enabled"] is True
    assert isinstance(got["version"], int)

    # 5. CORS origins (a comma list in the `cors-origins` setting).
    origin = f"https://{domain}.example.com"
    api.set_cors_origins(cc["id"], [origin, "https://other.example.net"])
    setting = [s for s in api.settings(cc["id"]) if s["name"] == "cors-origins"]
    assert len(setting) == 1 and origin in setting[0]["value"], setting

    # 6. A user.
    password = srv.secret(unique("user-pw"))
    user = api.create_user_ok(
        cc["id"], "Grace", password, firstName="Grace", lastName="Hopper", email="grace@acme.example",
        authorities=["ROLE_AGENT", "ROLE_SUPERVISOR"], properties={"team": "blue"},
    )
    assert password not in json.dumps(user)
    assert "temporaryPassword" not in user or not user["temporaryPassword"]

    # The new user signs in through authlib (the tenant's domain, any case).
    login = f"{domain.upper()}\\grace"
    token, waited = poll(lambda: _try_sign_in(srv, login, password))
    assert token, f"the provisioned user could not sign in within {PROPAGATION}s: {sign_in_error(srv, login, password)}"
    record_delay(f"{srv.flavour}: new user can sign in", waited)
    claims = verify_access_token(srv, token["access_token"])
    assert claims["contact_center_id"] == cc["id"]
    assert claims["environment_id"] == env["id"]
    assert claims["sub"] == f"{cc['id']}:grace"
    assert {"ROLE_AGENT", "ROLE_SUPERVISOR"} <= set(claims["authorities"])
    info = requests.get(srv.url("/auth/v3/openid/userinfo"), headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10).json()
    assert info["given_name"] == "Grace" and info["family_name"] == "Hopper" and info["email"] == "grace@acme.example"

    # The configured origin may call the Authentication API from a browser.
    allowed, waited = poll(lambda: allowed_origin(srv, origin) == origin)
    assert allowed, f"preflight from {origin}: {preflight(srv, origin).headers}"
    assert allowed_origin(srv, "https://evil.example.org") != "https://evil.example.org"


def _try_sign_in(srv, login, password):
    try:
        return sign_in(srv, login, password)
    except OAuthError:
        return None


def test_openapi_document(server):
    r = requests.get(server.url("/environment/v3/openapi.json"), auth=server.ops, timeout=10)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert str(doc["openapi"]).startswith("3.")
    paths = {p.removeprefix("/environment/v3") for p in doc["paths"]}
    for p in ("/environments", "/contact-centers", "/cors"):
        assert p in paths, sorted(paths)
    assert any(p.startswith("/contact-centers/{") and p.endswith("/users") for p in paths), sorted(paths)
    assert any(p.endswith("/settings") for p in paths), sorted(paths)


# -- environments ----------------------------------------------------------------


def test_environment_crud(server, ops_api):
    env = ops_api.create_environment_ok(password=server.secret(unique("cfg-pw")))
    listed = list_data(envelope_ok(ops_api.call("GET", "/environments"), 200), "environments")
    assert env["id"] in ids(listed)
    got = envelope_ok(ops_api.call("GET", f"/environments/{env['id']}"), 200)["data"]
    assert got["localTimeout"] == 7 and got["tlsEnabled"] is False
    version = got["version"]
    body = {**environment_body(), "id": env["id"], "localTimeout": 30, "tlsEnabled": True, "version": version}
    body.pop("password")
    envelope_ok(ops_api.call("PUT", f"/environments/{env['id']}", body), 200)
    got = envelope_ok(ops_api.call("GET", f"/environments/{env['id']}"), 200)["data"]
    assert got["localTimeout"] == 30 and got["tlsEnabled"] is True
    assert got["version"] > version
    envelope_ok(ops_api.call("DELETE", f"/environments/{env['id']}"), DELETED)
    envelope_error(ops_api.call("GET", f"/environments/{env['id']}"), 404)
    envelope_error(ops_api.call("DELETE", f"/environments/{env['id']}"), 404)


# -- access --------------------------------------------------------------------------


def test_no_or_wrong_credentials_are_401(server):
    url = server.url("/environment/v3/environments")
    envelope_error(requests.get(url, timeout=10), 401)
    envelope_error(requests.post(url, json={"data": environment_body()}, timeout=10), 401)
    envelope_error(requests.get(url, auth=(server.ops_username, server.secret("not-the-ops-password")), timeout=10), 401)
    envelope_error(requests.get(url, headers={"Authorization": "Bearer not.a.token"}, timeout=10), 401)


def test_token_without_a_management_role_is_403(server):
    token = client_token(server, authorities=["ROLE_AGENT"])
    api = EnvApi(server.base_url, token=token)
    envelope_error(api.call("GET", "/environments"), 403)
    envelope_error(api.create_environment(), 403)
    envelope_error(api.call("GET", "/contact-centers"), 403)


@pytest.mark.parametrize("role", ["ROLE_MANAGEMENT_APPLICATION", "ROLE_INTERNAL_CLIENT"])
def test_token_with_a_management_role_is_accepted(server, role):
    api = EnvApi(server.base_url, token=client_token(server, authorities=[role]))
    envelope_ok(api.call("GET", "/environments"), 200)
    env = api.create_environment_ok()
    envelope_ok(api.call("GET", f"/environments/{env['id']}"), 200)


def test_bound_client_sees_only_its_contact_centers(server, ops_api):
    env = ops_api.create_environment_ok()
    mine = ops_api.create_contact_center_ok(env["id"])
    other = ops_api.create_contact_center_ok(env["id"])
    ops_api.create_user_ok(other["id"], "hidden", server.secret(unique("pw")))
    api = EnvApi(
        server.base_url,
        token=client_token(server, authorities=["ROLE_MANAGEMENT_APPLICATION"], contactCenterIds=[mine["id"]]),
    )
    listed = ids(list_data(envelope_ok(api.call("GET", "/contact-centers"), 200), "contactCenters"))
    assert listed == {mine["id"]}
    envelope_ok(api.call("GET", f"/contact-centers/{mine['id']}"), 200)
    envelope_ok(api.call("GET", f"/contact-centers/{mine['id']}/users"), 200)
    envelope_error(api.call("GET", f"/contact-centers/{other['id']}"), (403, 404))
    envelope_error(api.call("GET", f"/contact-centers/{other['id']}/users"), (403, 404))
    envelope_error(api.call("GET", f"/contact-centers/{other['id']}/settings"), (403, 404))
    envelope_error(api.create_user(other["id"], "intruder", server.secret(unique("pw"))), (403, 404))
    theirs = {k: v for k, v in ops_api.contact_center(other["id"]).items() if k in CONTACT_CENTER_FIELDS}
    envelope_error(api.call("PUT", f"/contact-centers/{other['id']}", {**theirs, "name": "taken"}), (403, 404))
    envelope_error(api.call("DELETE", f"/contact-centers/{other['id']}"), (403, 404))
    envelope_error(api.add_cors_origin(other["id"], "https://intruder.example"), (403, 404))
    # ... and it is untouched.
    assert ops_api.contact_center(other["id"])["name"] != "taken"


# -- validation ------------------------------------------------------------------------


def test_validation_errors_name_the_field(server, ops_api):
    env = ops_api.create_environment_ok()
    cc = ops_api.create_contact_center_ok(env["id"])
    cases = [
        ("environment localTimeout", "localTimeout", lambda: ops_api.create_environment(localTimeout="soon")),
        ("environment tlsEnabled", "tlsEnabled", lambda: ops_api.create_environment(tlsEnabled="yes")),
        ("environment primaryPort", "primaryPort", lambda: ops_api.create_environment(
            configServers=[{"primaryAddress": "cs.example.com", "primaryPort": 70000, "readOnly": False, "locations": "/"}])),
        ("contact center environmentId", "environmentId", lambda: ops_api.create_contact_center(unique("no-such-env"))),
        ("contact center auth", "auth", lambda: ops_api.create_contact_center(env["id"], auth="kerberos")),
        ("contact center domains", "domains", lambda: ops_api.create_contact_center(env["id"], domains="not-a-list")),
        ("user userName", "userName", lambda: ops_api.call(
            "POST", f"/contact-centers/{cc['id']}/users", {"firstName": "No", "lastName": "Name", "email": "n@example.com"})),
        ("user authorities", "authorities", lambda: ops_api.create_user(cc["id"], authorities="ROLE_AGENT")),
        ("cors origin", "origin", lambda: ops_api.call("POST", "/cors", {"contactCenterId": cc["id"]})),
        ("cors contactCenterId", "contactCenterId", lambda: ops_api.call("POST", "/cors", {"origin": "https://x.example"})),
    ]
    problems = []
    for what, field, call in cases:
        r = call()
        try:
            body = envelope_error(r, 400)
            if field.lower() not in body["status"]["message"].lower():
                problems.append(f"{what}: message does not name {field}: {body['status']['message']!r}")
        except (AssertionError, ValueError) as e:
            problems.append(f"{what}: {r.status_code} {r.text[:300]} ({e})")
    assert not problems, "\n".join(problems)


def test_duplicate_domain_is_409_case_insensitively(ops_api):
    env = ops_api.create_environment_ok()
    domain = unique("Dup")
    a = ops_api.create_contact_center_ok(env["id"], [domain])
    envelope_error(ops_api.create_contact_center(env["id"], [domain.upper()]), 409)
    envelope_error(ops_api.create_contact_center(env["id"], [unique("fresh"), domain.lower()]), 409)
    # Taking it over with a PUT is refused as well.
    b = ops_api.create_contact_center_ok(env["id"])
    envelope_error(ops_api.update_contact_center(b["id"], domains=[domain.swapcase()]), 409)
    assert [d.lower() for d in ops_api.contact_center(a["id"])["domains"]] == [domain.lower()]


def test_stale_version_is_409(ops_api):
    env = ops_api.create_environment_ok()
    cc = ops_api.create_contact_center_ok(env["id"])
    before = ops_api.contact_center(cc["id"])
    r = ops_api.update_contact_center(cc["id"], name="renamed once")
    after = envelope_ok(r, 200)
    fresh = ops_api.contact_center(cc["id"])
    assert fresh["name"] == "renamed once"
    assert fresh["version"] > before["version"], (before, fresh, after)
    stale = {k: before[k] for k in CONTACT_CENTER_FIELDS if k in before}
    envelope_error(ops_api.call("PUT", f"/contact-centers/{cc['id']}", {**stale, "name": "lost update"}), 409)
    assert ops_api.contact_center(cc["id"])["name"] == "renamed once"


# -- deleting ----------------------------------------------------------------------------


def test_delete_environment_cascade_rules(server, ops_api, tenant):
    env_id, cc_id = tenant["environment_id"], tenant["contact_center_id"]
    assert sign_in(server, tenant["login"], tenant["password"])
    # An environment in use is not deleted without cascade...
    envelope_error(ops_api.call("DELETE", f"/environments/{env_id}"), (400, 409))
    envelope_ok(ops_api.call("GET", f"/environments/{env_id}"), 200)
    envelope_ok(ops_api.call("GET", f"/contact-centers/{cc_id}"), 200)
    # ...`cascade=true` takes its contact centers and their users with it.
    envelope_ok(ops_api.call("DELETE", f"/environments/{env_id}", params={"cascade": "true"}), DELETED)
    envelope_error(ops_api.call("GET", f"/environments/{env_id}"), 404)
    envelope_error(ops_api.call("GET", f"/contact-centers/{cc_id}"), 404)
    envelope_error(ops_api.call("GET", f"/contact-centers/{cc_id}/users/{tenant['user_id']}"), 404)
    gone, _ = poll(lambda: sign_in_error(server, tenant["login"], tenant["password"]))
    assert gone is not None and gone.error == "invalid_grant"
    # An unused environment needs no cascade.
    env = ops_api.create_environment_ok()
    envelope_ok(ops_api.call("DELETE", f"/environments/{env['id']}"), DELETED)
    envelope_error(ops_api.call("GET", f"/environments/{env['id']}"), 404)


def test_deleting_a_contact_center_ends_its_users_tokens(server, ops_api, tenant, record_delay):
    token = sign_in(server, tenant["login"], tenant["password"])
    assert introspect(server, token["access_token"])["active"] is True
    assert introspect(server, token["refresh_token"], "refresh_token")["active"] is True
    envelope_ok(ops_api.call("DELETE", f"/contact-centers/{tenant['contact_center_id']}"), DELETED)
    inactive, waited = poll(lambda: introspect(server, token["access_token"])["active"] is False)
    assert inactive, f"the access token is still active {PROPAGATION}s after its contact center was deleted"
    record_delay(f"{server.flavour}: contact center deleted -> its tokens inactive", waited)
    assert introspect(server, token["refresh_token"], "refresh_token")["active"] is False
    envelope_error(ops_api.call("GET", f"/contact-centers/{tenant['contact_center_id']}"), 404)
    with OAuth2Session(server.client_id, server.client_secret) as s, pytest.raises(OAuthError) as e:
        s.refresh_token(server.token_url, refresh_token=token["refresh_token"])
    assert e.value.error == "invalid_grant"


# -- settings and CORS ----------------------------------------------------------------------


def test_settings_upsert_by_name_and_delete(ops_api, tenant):
    cc = tenant["contact_center_id"]
    envelope_ok(ops_api.set_setting(cc, "greeting", "hello", location="/USW1", shared=True))
    envelope_ok(ops_api.set_setting(cc, "greeting", "bonjour", location="/USW1", shared=True))
    found = [s for s in ops_api.settings(cc) if s["name"] == "greeting"]
    assert len(found) == 1, found
    assert found[0]["value"] == "bonjour" and found[0]["location"] == "/USW1" and found[0]["shared"] is True
    envelope_ok(ops_api.call("DELETE", f"/contact-centers/{cc}/settings/greeting"), DELETED)
    assert not [s for s in ops_api.settings(cc) if s["name"] == "greeting"]
    envelope_error(ops_api.call("DELETE", f"/contact-centers/{cc}/settings/greeting"), 404)
    envelope_error(ops_api.call("GET", f"/contact-centers/{unique('no-cc')}/settings"), 404)


def test_cors_origins_follow_the_configuration(server, ops_api, tenant):
    cc = tenant["contact_center_id"]
    a, b, c = (f"https://{unique(n)}.example.com" for n in "abc")
    ops_api.set_cors_origins(cc, [a, b])
    ok, _ = poll(lambda: allowed_origin(server, a) == a and allowed_origin(server, b) == b)
    assert ok, (preflight(server, a).headers, preflight(server, b).headers)
    # POST overwrites the list: `a` is no longer allowed.
    ops_api.set_cors_origins(cc, [c])
    ok, _ = poll(lambda: allowed_origin(server, c) == c and allowed_origin(server, a) != a)
    assert ok, (preflight(server, a).headers, preflight(server, c).headers)
    # The `cors` API adds an origin.
    d = f"https://{unique('d')}.example.com"
    envelope_ok(ops_api.add_cors_origin(cc, d))
    listed = envelope_ok(ops_api.call("GET", "/cors"), 200)["data"]["origins"]
    assert d in json.dumps(listed)
    ok, _ = poll(lambda: allowed_origin(server, d) == d)
    assert ok, preflight(server, d).headers
    # Never an unconfigured origin, never a wildcard.
    stranger = "https://stranger.example.org"
    r = preflight(server, stranger)
    assert r.headers.get("Access-Control-Allow-Origin") not in (stranger, "*"), r.headers
    # Every endpoint of the Authentication API answers the same way.
    for path in ("/auth/v3/oauth/introspect", "/auth/v3/oauth/revoke", "/auth/v3/userinfo"):
        assert preflight(server, d, path).headers.get("Access-Control-Allow-Origin") == d, path
        assert preflight(server, stranger, path).headers.get("Access-Control-Allow-Origin") not in (stranger, "*"), path
    # A deleted contact center's origins go with it.
    envelope_ok(ops_api.call("DELETE", f"/contact-centers/{cc}"), DELETED)
    gone, _ = poll(lambda: allowed_origin(server, c) != c and allowed_origin(server, d) != d)
    assert gone, (preflight(server, c).headers, preflight(server, d).headers)


# -- users ------------------------------------------------------------------------------------


USER_FIELDS = ("userName", "firstName", "lastName", "email", "authorities", "properties", "enabled", "version")


def update_user(api: EnvApi, cc_id: str, user_id: str, **changes) -> requests.Response:
    current = api.user(cc_id, user_id)
    body = {k: current[k] for k in USER_FIELDS if k in current}
    return api.call("PUT", f"/contact-centers/{cc_id}/users/{user_id}", {**body, **changes})


def test_users_crud_list_search_and_paging(server, ops_api, tenant):
    cc = tenant["contact_center_id"]
    prefix = unique("pager")
    pw = server.secret(unique("pw"))
    made = [ops_api.create_user_ok(cc, f"{prefix}-{i}", pw) for i in range(3)]
    page = envelope_ok(ops_api.call("GET", f"/contact-centers/{cc}/users", params={"search": prefix, "limit": 2, "offset": 0}), 200)["data"]
    assert page["total"] == 3 and len(page["users"]) == 2, page
    rest = envelope_ok(ops_api.call("GET", f"/contact-centers/{cc}/users", params={"search": prefix, "limit": 2, "offset": 2}), 200)["data"]
    assert rest["total"] == 3 and len(rest["users"]) == 1, rest
    assert ids(page["users"]) | ids(rest["users"]) == ids(made)
    everyone = envelope_ok(ops_api.call("GET", f"/contact-centers/{cc}/users"), 200)["data"]
    assert everyone["total"] == 4  # alice too
    assert pw not in json.dumps(everyone) and "passwordHash" not in json.dumps(everyone)

    uid = made[0]["id"]
    got = ops_api.user(cc, uid)
    assert got["userName"] == f"{prefix}-0" and got["email"] == "ada@example.com"
    assert "password" not in got
    login = f"{tenant['domain']}\\{prefix}-0"
    assert sign_in(server, login, pw)
    # Disabled: no sign-in.
    envelope_ok(update_user(ops_api, cc, uid, enabled=False, firstName="Changed"), 200)
    assert ops_api.user(cc, uid)["firstName"] == "Changed"
    err, _ = poll(lambda: sign_in_error(server, login, pw))
    assert err is not None and err.error == "invalid_grant"
    envelope_ok(update_user(ops_api, cc, uid, enabled=True), 200)
    back, _ = poll(lambda: _try_sign_in(server, login, pw))
    assert back
    # Deleted: gone, no sign-in.
    envelope_ok(ops_api.call("DELETE", f"/contact-centers/{cc}/users/{uid}"), DELETED)
    envelope_error(ops_api.call("GET", f"/contact-centers/{cc}/users/{uid}"), 404)
    err, _ = poll(lambda: sign_in_error(server, login, pw))
    assert err is not None and err.error == "invalid_grant"


def test_user_without_password_gets_a_temporary_one_that_must_be_changed(server, ops_api, tenant):
    cc = tenant["contact_center_id"]
    user = ops_api.create_user_ok(cc, "newcomer")
    temporary = user.get("temporaryPassword")
    assert temporary, user
    server.remember_secret(temporary)
    assert "temporaryPassword" not in ops_api.user(cc, user["id"])
    err = sign_in_error(server, f"{tenant['domain']}\\newcomer", temporary)
    assert err is not None and err.error == "invalid_grant", err
    assert "password has expired" in (err.description or ""), err.description
    # The password is not changed with PUT (the answer says where it is)...
    pw = server.secret(unique("pw"))
    body = envelope_error(update_user(ops_api, cc, user["id"], password=pw), 400)
    assert "password" in body["status"]["message"]
    # ...but with reset-password, which takes a chosen one: sign-in works.
    envelope_ok(ops_api.call("POST", f"/contact-centers/{cc}/users/{user['id']}/reset-password", {"password": pw}), 200)
    ok, _ = poll(lambda: _try_sign_in(server, f"{tenant['domain']}\\newcomer", pw))
    assert ok


def test_reset_password(server, ops_api, tenant):
    cc, uid = tenant["contact_center_id"], tenant["user_id"]
    r = ops_api.call("POST", f"/contact-centers/{cc}/users/{uid}/reset-password")
    temporary = envelope_ok(r)["data"]["temporaryPassword"]
    server.remember_secret(temporary)
    assert temporary and temporary != tenant["password"]
    err, _ = poll(lambda: sign_in_error(server, tenant["login"], tenant["password"]))
    assert err is not None and err.error == "invalid_grant"
    err = sign_in_error(server, tenant["login"], temporary)
    assert err is not None and "password has expired" in (err.description or ""), err
    envelope_error(ops_api.call("POST", f"/contact-centers/{cc}/users/{unique('nobody')}/reset-password"), 404)


def test_unknown_resources_are_404(ops_api):
    for path in (
        f"/environments/{unique('none')}",
        f"/contact-centers/{unique('none')}",
        f"/contact-centers/{unique('none')}/users",
    ):
        envelope_error(ops_api.call("GET", path), 404)


# -- request bodies ----------------------------------------------------------------------------


def test_data_must_be_an_object(server, ops_api, tenant):
    """`{"data": [...]}` is not `{"data": {...}}`: it must be refused with 400,
    not mapped onto the fields in declaration order (nor reset a password)."""
    cc, uid = tenant["contact_center_id"], tenant["user_id"]
    problems = []
    for what, path, data in (
        ("settings", f"/contact-centers/{cc}/settings", ["/", "positional", False, "v"]),
        ("reset-password", f"/contact-centers/{cc}/users/{uid}/reset-password", [None, None]),
        ("reset-password", f"/contact-centers/{cc}/users/{uid}/reset-password", [server.secret("positional-pw-1"), False]),
    ):
        r = ops_api.call("POST", path, raw={"data": data})
        if r.status_code != 400:
            problems.append(f"POST {what} {{'data': {data!r}}}: {r.status_code} {r.text[:160]}")
    assert not problems, "\n".join(problems)
    # The user's password is unchanged.
    assert sign_in(server, tenant["login"], tenant["password"])
