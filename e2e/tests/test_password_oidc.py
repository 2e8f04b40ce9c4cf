"""Resource owner password grant with `tenant\\user`, and OpenID Connect ID
tokens validated by authlib's relying-party code."""

import time

import pytest
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken

from helpers import at_hash, bearer, http, password_token, verify_access_token, verify_jwt


def test_password_grant_issues_access_refresh_and_id_token(user_server):
    srv = user_server
    token = password_token(srv)
    assert token["token_type"].lower() == "bearer"
    assert set(token["scope"].split()) == {"openid", "profile", "email"}
    assert token.get("refresh_token")
    assert token.get("id_token")
    claims = verify_access_token(srv, token["access_token"], scope=token["scope"])
    assert claims["sub"] == srv.subject
    assert claims["user_name"] == "agent"
    assert claims["contact_center_id"] == srv.contact_center_id
    assert claims["environment_id"] == srv.environment_id
    assert "ROLE_AGENT" in claims["authorities"]
    assert abs(claims["auth_time"] - time.time()) < 120


def test_id_token_validated_by_authlib_relying_party(user_server, rp):
    srv = user_server
    with OAuth2Session(srv.client_id, srv.client_secret) as s:
        token = s.fetch_token(srv.token_url, username=srv.login, password=srv.password, scope="openid profile email")
    # authlib's OpenID Connect client: signature via jwks_uri, iss from
    # discovery, aud == client_id, exp/iat, azp, and at_hash against the access token.
    userinfo = rp.parse_id_token(dict(token), nonce=None, leeway=5)
    assert userinfo["sub"] == srv.subject
    assert userinfo["aud"] == srv.client_id
    assert userinfo["iss"] == srv.base_url
    # OIDC Core §5.4: beside an access token the profile is at userinfo.
    assert "email" not in userinfo and "given_name" not in userinfo
    info = http("GET", srv.url("/auth/v3/openid/userinfo"), headers=bearer(token)).json()
    assert info["given_name"] == "Demo"
    assert info["family_name"] == "Agent"
    assert info["email"] == "agent@demo.example"
    assert info["preferred_username"] == "agent"


def test_id_token_claims_and_at_hash(user_server):
    srv = user_server
    token = password_token(srv)
    t = verify_jwt(srv, token["id_token"])
    assert t.header["alg"] == "ES256"
    claims = CodeIDToken(
        t.claims,
        t.header,
        {"iss": {"essential": True, "value": srv.base_url}, "aud": {"essential": True, "value": srv.client_id}},
        {"client_id": srv.client_id, "access_token": token["access_token"]},
    )
    claims.validate(leeway=5)
    assert claims["at_hash"] == at_hash(token["access_token"])
    assert claims["exp"] > time.time()
    assert claims["sub"] == verify_access_token(srv, token["access_token"])["sub"]


def test_tampered_at_hash_is_detected(user_server):
    """The at_hash check above is real: another access token does not match."""
    srv = user_server
    a, b = password_token(srv), password_token(srv)
    t = verify_jwt(srv, a["id_token"])
    claims = CodeIDToken(t.claims, t.header, None, {"client_id": srv.client_id, "access_token": b["access_token"]})
    with pytest.raises(Exception):
        claims.validate(leeway=5)


def test_nonce_is_echoed(user_server):
    srv = user_server
    token = password_token(srv, nonce="n-0S6_WzA2Mj")
    claims = verify_jwt(srv, token["id_token"]).claims
    assert claims["nonce"] == "n-0S6_WzA2Mj"


def test_no_id_token_without_openid_scope(user_server):
    token = password_token(user_server, scope="profile")
    assert "id_token" not in token
    assert token.get("refresh_token")


def test_password_grant_with_client_secret_post(user_server, session_factory):
    srv = user_server
    s = session_factory(method="client_secret_post")
    token = s.fetch_token(srv.token_url, username=srv.login, password=srv.password, scope="openid")
    verify_access_token(srv, token["access_token"])
    assert http("GET", srv.url("/auth/v3/ping"), headers=bearer(token)).status_code == 200


def test_tenant_domain_is_case_insensitive(user_server, session_factory):
    srv = user_server
    token = session_factory().fetch_token(srv.token_url, username="DEMO\\agent", password=srv.password, scope="openid")
    assert verify_access_token(srv, token["access_token"])["contact_center_id"] == srv.contact_center_id


def test_public_client_with_auth_method_none(user_server):
    """A PUBLIC client is never given the password grant (nor any grant that
    needs a secret); it authenticates with its client_id alone (its code flow
    with PKCE: test_code_flow.py), and a secret is not accepted from it."""
    srv = user_server
    r = http(
        "POST",
        srv.url("/auth/v3/ops/clients"),
        json={"data": {"client_id": "e2e-public-pw", "clientType": "PUBLIC", "authorizedGrantTypes": ["password", "refresh_token"]}},
        auth=srv.ops,
    )
    assert r.status_code == 400 and "password" in r.json()["status"]["message"], r.text
    c = srv.create_client(clientType="PUBLIC", authorizedGrantTypes=["authorization_code", "refresh_token"], redirectURIs=[srv.redirect_uri])
    assert "client_secret" not in c or c["client_secret"] is None
    r = http("POST", srv.token_url, data={"grant_type": "password", "username": srv.login, "password": srv.password}, auth=(c["client_id"], srv.secret("public-has-no-secret")))
    assert r.status_code == 401
