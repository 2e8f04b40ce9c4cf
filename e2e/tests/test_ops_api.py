"""The client registry under operator credentials: `/auth/v3/ops/clients`,
in the original's `{"status":{"code":0},"data":…}` envelope."""

import json

import pytest
from authlib.integrations.requests_client import OAuth2Session, OAuthError

from helpers import bearer, http, unique, unique_client_address

PATH = "/auth/v3/ops/clients"


def field_names(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from field_names(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from field_names(v)


def assert_no_secret_material(obj):
    # Field names, not text: "client_secret" is also a tokenEndpointAuthMethod value.
    names = set(field_names(obj))
    assert not names & {"client_secret", "secret_hash", "secretHash"}, names
    text = json.dumps(obj)
    assert "$argon2" not in text and "$2b$" not in text


def envelope_ok(r, status=200):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"]["code"] == 0
    return body


def envelope_error(r, status):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"]["code"] == status
    assert body["status"]["message"]
    assert "data" not in body
    return body


def test_list(server):
    body = envelope_ok(http("GET", server.url(PATH), auth=server.ops))
    ids = [c["client_id"] for c in body["data"]]
    assert server.client_id in ids
    assert_no_secret_material(body)


def test_get(server):
    body = envelope_ok(http("GET", server.url(f"{PATH}/{server.client_id}"), auth=server.ops))
    c = body["data"]
    assert c["client_id"] == server.client_id
    assert "client_credentials" in c["authorizedGrantTypes"]
    assert server.redirect_uri in c["redirectURIs"]
    assert_no_secret_material(body)


def test_get_unknown(server):
    envelope_error(http("GET", server.url(f"{PATH}/{unique('nope')}"), auth=server.ops), 404)


def test_create_with_secret_then_use_it(server):
    cid = unique()
    secret = server.secret("created-secret-123")
    r = http(
        "POST",
        server.url(PATH),
        json={"data": {"client_id": cid, "client_secret": secret, "name": "E2E", "scope": ["read"], "authorizedGrantTypes": ["client_credentials"]}},
        auth=server.ops,
    )
    body = envelope_ok(r, 201)
    assert body["data"]["client_id"] == cid
    assert body["data"]["name"] == "E2E"
    assert body["path"] == f"{PATH}/{cid}"
    assert_no_secret_material(body)
    with OAuth2Session(cid, secret) as s:
        token = s.fetch_token(server.token_url, grant_type="client_credentials")
    assert token["scope"] == "read"
    assert_no_secret_material(envelope_ok(http("GET", server.url(f"{PATH}/{cid}"), auth=server.ops)))


def test_create_without_secret_returns_the_generated_one_once(server):
    cid = unique()
    body = envelope_ok(http("POST", server.url(PATH), json={"data": {"client_id": cid}}, auth=server.ops), 201)
    generated = body["data"]["client_secret"]
    server.remember_secret(generated)
    assert len(generated) >= 32
    with OAuth2Session(cid, generated) as s:
        s.fetch_token(server.token_url, grant_type="client_credentials")
    assert_no_secret_material(envelope_ok(http("GET", server.url(f"{PATH}/{cid}"), auth=server.ops)))
    listed = envelope_ok(http("GET", server.url(PATH), auth=server.ops))
    assert_no_secret_material(listed)
    assert generated not in json.dumps(listed)


def test_create_duplicate(server):
    r = http("POST", server.url(PATH), json={"data": {"client_id": server.client_id, "client_secret": server.secret("dup-secret-123")}}, auth=server.ops)
    envelope_error(r, 409)


def test_partial_put_keeps_other_fields_and_secret(server):
    c = server.create_client(client_secret="partial-put-secret", description="before", scope=["a", "b"])
    r = http("PUT", server.url(f"{PATH}/{c['client_id']}"), json={"data": {"description": "after"}}, auth=server.ops)
    body = envelope_ok(r)
    assert body["data"]["description"] == "after"
    assert body["data"]["scope"] == ["a", "b"]
    assert body["data"]["name"] == c["name"]
    assert_no_secret_material(body)
    with OAuth2Session(c["client_id"], "partial-put-secret") as s:
        s.fetch_token(server.token_url, grant_type="client_credentials")


def test_put_new_secret(server):
    c = server.create_client(client_secret="old-secret-4567")
    with OAuth2Session(c["client_id"], "old-secret-4567") as s:
        s.fetch_token(server.token_url, grant_type="client_credentials")
    new = server.secret("new-secret-8901")
    body = envelope_ok(http("PUT", server.url(f"{PATH}/{c['client_id']}"), json={"data": {"client_secret": new}}, auth=server.ops))
    assert_no_secret_material(body)
    with OAuth2Session(c["client_id"], "old-secret-4567") as s, pytest.raises(OAuthError) as e:
        s.fetch_token(server.token_url, grant_type="client_credentials")
    assert e.value.error == "invalid_client"
    with OAuth2Session(c["client_id"], new) as s:
        s.fetch_token(server.token_url, grant_type="client_credentials")


def test_put_cannot_rename(server):
    c = server.create_client(client_secret="rename-secret-1")
    r = http("PUT", server.url(f"{PATH}/{c['client_id']}"), json={"data": {"client_id": "other"}}, auth=server.ops)
    envelope_error(r, 400)


def test_put_unknown_client(server):
    envelope_error(http("PUT", server.url(f"{PATH}/{unique('nope')}"), json={"data": {"description": "x"}}, auth=server.ops), 404)


def test_delete_ends_the_client_and_its_tokens(server):
    c = server.create_client(client_secret="delete-me-secret")
    with OAuth2Session(c["client_id"], c["client_secret"]) as s:
        token = s.fetch_token(server.token_url, grant_type="client_credentials")
    assert http("GET", server.url("/auth/v3/ping"), headers=bearer(token)).status_code == 200
    envelope_ok(http("DELETE", server.url(f"{PATH}/{c['client_id']}"), auth=server.ops))
    envelope_error(http("GET", server.url(f"{PATH}/{c['client_id']}"), auth=server.ops), 404)
    assert http("GET", server.url("/auth/v3/ping"), headers=bearer(token)).status_code == 403
    with OAuth2Session(c["client_id"], c["client_secret"]) as s, pytest.raises(OAuthError) as e:
        s.fetch_token(server.token_url, grant_type="client_credentials")
    assert e.value.error == "invalid_client"
    envelope_error(http("DELETE", server.url(f"{PATH}/{c['client_id']}"), auth=server.ops), 404)


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": {"client_id": "x", "client_secret": not-json}}',
        b"{",
        b"",
        b"[]",
        b'{"client_id": "no-data-wrapper"}',
        b'{"data": {"client_id": "x", "unknownField": 1}}',
        b'{"data": {"client_id": "x", "authorizedGrantTypes": ["magic"]}}',
        b'{"data": {"client_id": "has space"}}',
        b'{"data": {"client_id": "x", "client_secret": "short"}}',
        b'{"data": {"client_id": "x", "redirectURIs": ["http://evil.example/cb"]}}',
    ],
    ids=["bad-json", "truncated", "empty", "array", "no-data", "unknown-field", "unknown-grant", "bad-id", "short-secret", "http-redirect"],
)
def test_create_bad_input(server, body):
    r = http("POST", server.url(PATH), data=body, headers={"Content-Type": "application/json"}, auth=server.ops)
    err = envelope_error(r, 400)
    # The error never echoes the input.
    assert "not-json" not in json.dumps(err)


@pytest.mark.parametrize("method,path", [("GET", PATH), ("POST", PATH), ("GET", PATH + "/{cid}"), ("PUT", PATH + "/{cid}"), ("DELETE", PATH + "/{cid}")])
@pytest.mark.parametrize("auth", ["wrong-password", "wrong-user", "none", "client-credentials"])
def test_ops_requires_operator_credentials(server, method, path, auth):
    path = path.format(cid=server.client_id)
    creds = {
        "wrong-password": (server.ops_username, server.secret("not-the-ops-password")),
        "wrong-user": ("admin", server.ops_password),
        "none": None,
        "client-credentials": (server.client_id, server.client_secret),
    }[auth]
    # From an address of its own, so these failures do not lock the operator
    # out of the shared server (see test_ops_lockout for the lockout itself).
    client = {"X-Forwarded-For": unique_client_address()}
    r = http(method, server.url(path), json={"data": {"description": "hacked"}}, auth=creds, headers=client)
    envelope_error(r, 401)
    assert r.headers.get("www-authenticate", "").lower().startswith("basic")
    # Nothing changed.
    c = envelope_ok(http("GET", server.url(f"{PATH}/{server.client_id}"), auth=server.ops))["data"]
    assert c["description"] != "hacked"


def test_ops_lockout_is_per_address(server):
    """Five wrong operator logins lock the operator's credentials at that
    address (429 with Retry-After, even for the right password), and only
    there: the operator at another address goes on working."""
    client = {"X-Forwarded-For": unique_client_address()}
    wrong = (server.ops_username, server.secret("not-the-ops-password"))
    for _ in range(5):
        envelope_error(http("GET", server.url(PATH), auth=wrong, headers=client), 401)
    for creds in (wrong, server.ops):
        r = http("GET", server.url(PATH), auth=creds, headers=client)
        envelope_error(r, 429)
        assert int(r.headers["retry-after"]) > 0
    envelope_ok(http("GET", server.url(PATH), auth=server.ops))
    other = {"X-Forwarded-For": unique_client_address()}
    envelope_ok(http("GET", server.url(PATH), auth=server.ops, headers=other))
