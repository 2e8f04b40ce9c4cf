"""client_credentials with authlib's OAuth2Session, both client authentication
methods, and verification of the RFC 9068 access token against the JWKS."""

import pytest

from helpers import bearer, http, verify_access_token


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials(server, session_factory, method):
    s = session_factory(method=method)
    token = s.fetch_token(server.token_url, grant_type="client_credentials")
    assert token["token_type"].lower() == "bearer"
    assert token["expires_in"] > 0
    assert "refresh_token" not in token, "RFC 6749 4.4.3: no refresh token for client_credentials"
    assert "id_token" not in token
    claims = verify_access_token(server, token["access_token"], scope=token["scope"])
    assert claims["sub"] == server.client_id
    assert claims["client_id"] == server.client_id
    assert 0 < claims["exp"] - claims["iat"] <= token["expires_in"] + 1


def test_requested_scope_is_granted(server, oauth):
    token = oauth.fetch_token(server.token_url, grant_type="client_credentials", scope="read write")
    assert set(token["scope"].split()) == {"read", "write"}
    claims = verify_access_token(server, token["access_token"], scope=token["scope"])
    assert set(claims["scope"].split()) == {"read", "write"}


def test_token_response_is_not_cacheable(server):
    r = http("POST", server.token_url, data={"grant_type": "client_credentials"}, auth=(server.client_id, server.client_secret))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert "no-store" in r.headers.get("cache-control", "")


def test_client_token_works_as_bearer(server, oauth):
    token = oauth.fetch_token(server.token_url, grant_type="client_credentials")
    assert http("GET", server.url("/auth/v3/ping"), headers=bearer(token)).status_code == 200
    # authlib attaches the token itself.
    r = oauth.get(server.url("/auth/v3/userinfo"))
    assert r.status_code == 200
    assert r.json()["username"] == server.client_id


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_secret_with_reserved_characters_through_authlib(server, session_factory, method):
    """Secrets are chosen by operators. authlib sends Basic credentials as
    they are (not percent-encoded) and client_secret_post form-encoded."""
    secret = "p@ss:w+rd !$&'()*,;=/?"
    c = server.create_client(client_secret=secret)
    s = session_factory(c["client_id"], secret, method=method)
    token = s.fetch_token(server.token_url, grant_type="client_credentials")
    verify_access_token(server, token["access_token"], client_id=c["client_id"])


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_secret_with_percent_sign_through_authlib(server, session_factory, method):
    """The ops API accepts any secret of 8+ characters, including '%'. The
    server percent-decodes Basic credentials (RFC 6749 2.3.1) but, by its own
    design, also serves clients that do not encode them (it keeps '+'), such as
    authlib: a '%' in the secret must not lock those clients out."""
    secret = "100% sure, 50%off"
    c = server.create_client(client_secret=secret)
    s = session_factory(c["client_id"], secret, method=method)
    token = s.fetch_token(server.token_url, grant_type="client_credentials")
    verify_access_token(server, token["access_token"], client_id=c["client_id"])


def test_rfc6749_encoded_basic_credentials(server):
    """RFC 6749 2.3.1: the client id and secret are form-encoded before Basic."""
    from urllib.parse import quote

    secret = "s3cret:with/slash&amp"
    c = server.create_client(client_secret=secret)
    r = http(
        "POST",
        server.token_url,
        data={"grant_type": "client_credentials"},
        auth=(quote(c["client_id"], safe=""), quote(secret, safe="")),
    )
    assert r.status_code == 200, r.text
