"""RFC 7662 introspection and RFC 7009 revocation through authlib."""

import time

import pytest
from authlib.integrations.requests_client import OAuthError

from helpers import bearer, http, password_token


def test_introspect_client_access_token(server, oauth):
    token = oauth.fetch_token(server.token_url, grant_type="client_credentials")
    r = oauth.introspect_token(server.introspect_url, token=token["access_token"], token_type_hint="access_token")
    assert r.status_code == 200
    assert "no-store" in r.headers.get("cache-control", "")
    body = r.json()
    assert body["active"] is True
    assert body["client_id"] == server.client_id
    assert body["sub"] == server.client_id
    assert body["iss"] == server.base_url
    assert body["scope"] == token["scope"]
    assert body["token_type"].lower() == "bearer"
    assert body["exp"] > time.time() and body["iat"] <= time.time() + 5
    assert body["jti"]


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_introspect_user_tokens(user_server, session_factory, method):
    srv = user_server
    s = session_factory(method=method)
    token = password_token(srv, session=s)
    access = s.introspect_token(srv.introspect_url, token=token["access_token"]).json()
    assert access["active"] is True
    assert access["sub"] == "demo:agent"
    assert access["username"] == "agent"
    assert access["client_id"] == srv.client_id
    assert access["contact_center_id"] == "demo"
    assert set(access["scope"].split()) == {"openid", "profile", "email"}
    refresh = s.introspect_token(srv.introspect_url, token=token["refresh_token"], token_type_hint="refresh_token").json()
    assert refresh["active"] is True
    assert refresh["client_id"] == srv.client_id
    assert refresh["sub"] == "demo:agent"
    assert refresh["token_type"] == "refresh_token"
    assert refresh["exp"] > time.time()


def test_used_refresh_token_is_inactive(user_server, oauth):
    srv = user_server
    first = password_token(srv, session=oauth)
    oauth.refresh_token(srv.token_url, refresh_token=first["refresh_token"])
    r = oauth.introspect_token(srv.introspect_url, token=first["refresh_token"])
    assert r.json() == {"active": False}


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
def test_introspect_garbage(server, oauth, garbage):
    r = oauth.introspect_token(server.introspect_url, token=garbage)
    assert r.status_code == 200
    assert r.json() == {"active": False}


def test_introspection_requires_client_authentication(server, oauth):
    token = oauth.fetch_token(server.token_url, grant_type="client_credentials")
    r = http("POST", server.introspect_url, data={"token": token["access_token"]})
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    assert r.headers.get("www-authenticate", "").lower().startswith("basic")
    r = http("POST", server.introspect_url, data={"token": token["access_token"]}, auth=(server.client_id, server.secret("wrong-secret-1")))
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"


def test_foreign_non_internal_client_sees_nothing(server, oauth, session_factory):
    token = oauth.fetch_token(server.token_url, grant_type="client_credentials")
    other = server.create_client(client_secret="plain-client-secret")
    s = session_factory(other["client_id"], other["client_secret"])
    assert s.introspect_token(server.introspect_url, token=token["access_token"]).json() == {"active": False}


def test_revoke_access_token(server, oauth):
    since = server.log_size()
    token = oauth.fetch_token(server.token_url, grant_type="client_credentials")
    assert http("GET", server.url("/auth/v3/userinfo"), headers=bearer(token)).status_code == 200
    r = oauth.revoke_token(server.revoke_url, token=token["access_token"], token_type_hint="access_token")
    assert r.status_code == 200
    assert oauth.introspect_token(server.introspect_url, token=token["access_token"]).json() == {"active": False}
    r = http("GET", server.url("/auth/v3/userinfo"), headers=bearer(token))
    assert r.status_code == 401
    assert "invalid_token" in r.headers.get("www-authenticate", "")
    assert http("GET", server.url("/auth/v3/ping"), headers=bearer(token)).status_code == 403
    server.wait_for_audit("token.revoked", since=since, client_id=server.client_id)


def test_revoke_user_access_token(user_server, oauth):
    srv = user_server
    token = password_token(srv, session=oauth)
    assert oauth.revoke_token(srv.revoke_url, token=token["access_token"]).status_code == 200
    assert http("GET", srv.url("/auth/v3/openid/userinfo"), headers=bearer(token)).status_code == 401
    assert http("GET", srv.url("/auth/v3/userinfo"), headers=bearer(token)).status_code == 401


def test_revoke_refresh_token(user_server, oauth):
    srv = user_server
    since = srv.log_size()
    token = password_token(srv, session=oauth)
    r = oauth.revoke_token(srv.revoke_url, token=token["refresh_token"], token_type_hint="refresh_token")
    assert r.status_code == 200
    with pytest.raises(OAuthError) as e:
        oauth.refresh_token(srv.token_url, refresh_token=token["refresh_token"])
    assert e.value.error == "invalid_grant"
    assert oauth.introspect_token(srv.introspect_url, token=token["refresh_token"]).json() == {"active": False}
    srv.wait_for_audit("token.revoked", since=since, client_id=srv.client_id)


def test_revoke_unknown_token_is_200(server, oauth):
    """RFC 7009 2.2: invalid tokens do not cause an error response."""
    assert oauth.revoke_token(server.revoke_url, token="never-issued").status_code == 200


def test_revoke_requires_client_authentication(server, oauth):
    token = oauth.fetch_token(server.token_url, grant_type="client_credentials")
    r = http("POST", server.revoke_url, data={"token": token["access_token"]}, auth=(server.client_id, server.secret("wrong-secret-2")))
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    # The token was not revoked.
    assert http("GET", server.url("/auth/v3/ping"), headers=bearer(token)).status_code == 200


def test_other_client_cannot_revoke(server, oauth, session_factory):
    token = oauth.fetch_token(server.token_url, grant_type="client_credentials")
    other = server.create_client(client_secret="revoker-secret-1")
    s = session_factory(other["client_id"], other["client_secret"])
    assert s.revoke_token(server.revoke_url, token=token["access_token"]).status_code == 200
    assert http("GET", server.url("/auth/v3/ping"), headers=bearer(token)).status_code == 200
