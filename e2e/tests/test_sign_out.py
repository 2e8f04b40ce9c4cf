"""Sign-out (`/auth/v3/sign-out`) and ping, as the original: ends the token
and its refresh family, or every token of the user with `global=true`."""

import time

import pytest
from authlib.integrations.requests_client import OAuth2Session, OAuthError

from helpers import bearer, http, password_token, unverified_claims


def ping(srv, token) -> int:
    return http("GET", srv.url("/auth/v3/ping"), headers=bearer(token)).status_code


def refresh_error(srv, refresh_token) -> str | None:
    with OAuth2Session(srv.client_id, srv.client_secret) as s:
        try:
            s.refresh_token(srv.token_url, refresh_token=refresh_token)
        except OAuthError as e:
            return e.error
    return None


def test_ping(server, oauth):
    token = oauth.fetch_token(server.token_url, grant_type="client_credentials")
    r = http("GET", server.url("/auth/v3/ping"), headers=bearer(token))
    assert r.status_code == 200
    assert r.json()["status"]["code"] == 0
    assert http("GET", server.url("/auth/v3/ping")).status_code == 403
    assert http("GET", server.url("/auth/v3/ping"), headers=bearer("x.y.z")).status_code == 403


def test_sign_out_client_token(server, oauth):
    since = server.log_size()
    token = oauth.fetch_token(server.token_url, grant_type="client_credentials")
    other = oauth.fetch_token(server.token_url, grant_type="client_credentials")
    r = http("POST", server.url("/auth/v3/sign-out"), headers=bearer(token))
    assert r.status_code == 200
    assert r.json() == {"status": {"code": 0}}
    assert ping(server, token) == 403
    assert http("GET", server.url("/auth/v3/userinfo"), headers=bearer(token)).status_code == 401
    # Only that token ended.
    assert ping(server, other) == 200
    server.wait_for_audit("user.signed_out", since=since, client_id=server.client_id)


def test_sign_out_user_token_ends_its_refresh_family(user_server):
    srv = user_server
    a, b = password_token(srv), password_token(srv)
    assert http("POST", srv.url("/auth/v3/sign-out"), headers=bearer(a)).status_code == 200
    assert ping(srv, a) == 403
    assert refresh_error(srv, a["refresh_token"]) == "invalid_grant"
    # The other session is untouched.
    assert ping(srv, b) == 200
    assert refresh_error(srv, b["refresh_token"]) is None


def test_global_sign_out_ends_every_session_of_the_user(isolated_server):
    srv = isolated_server
    a, b = password_token(srv), password_token(srv)
    client_token = OAuth2Session(srv.client_id, srv.client_secret).fetch_token(srv.token_url, grant_type="client_credentials")
    r = http("POST", srv.url("/auth/v3/sign-out"), params={"global": "true"}, headers=bearer(a))
    assert r.status_code == 200
    for t in (a, b):
        assert ping(srv, t) == 403
        assert http("GET", srv.url("/auth/v3/openid/userinfo"), headers=bearer(t)).status_code == 401
        assert refresh_error(srv, t["refresh_token"]) == "invalid_grant"
    # Another subject (the client itself) is not signed out.
    assert ping(srv, client_token) == 200


def _start_of_a_second():
    """Sleeps to just after a second boundary, so what follows runs within one second."""
    frac = time.time() % 1
    time.sleep(1 - frac + 0.01)


def test_sign_in_right_after_global_sign_out(isolated_server):
    """A user who signs out everywhere and signs straight back in gets a working token."""
    srv = isolated_server
    old = password_token(srv)
    time.sleep(1.1)  # old token's second is over
    _start_of_a_second()
    r = http("POST", srv.url("/auth/v3/sign-out"), params={"global": "true"}, headers=bearer(old))
    assert r.status_code == 200
    new = password_token(srv)
    iat = unverified_claims(new["access_token"])["iat"]
    assert ping(srv, old) == 403
    assert ping(srv, new) == 200, (
        f"a token issued after the global sign-out (iat={iat}, same second as the sign-out) is refused"
    )
    assert refresh_error(srv, new["refresh_token"]) is None


def test_global_sign_out_of_a_client_token(server, session_factory):
    """For a client token, `global=true` ends every token of that client."""
    c = server.create_client(client_secret="global-signout-secret")
    s = session_factory(c["client_id"], c["client_secret"])
    a = s.fetch_token(server.token_url, grant_type="client_credentials")
    b = s.fetch_token(server.token_url, grant_type="client_credentials")
    unrelated = session_factory().fetch_token(server.token_url, grant_type="client_credentials")
    assert http("POST", server.url("/auth/v3/sign-out"), params={"global": "true"}, headers=bearer(a)).status_code == 200
    assert ping(server, a) == 403
    assert ping(server, b) == 403
    assert ping(server, unrelated) == 200


def test_new_client_token_right_after_global_sign_out(server, session_factory):
    c = server.create_client(client_secret="resign-in-secret")
    s = session_factory(c["client_id"], c["client_secret"])
    old = s.fetch_token(server.token_url, grant_type="client_credentials")
    time.sleep(1.1)
    _start_of_a_second()
    assert http("POST", server.url("/auth/v3/sign-out"), params={"global": "true"}, headers=bearer(old)).status_code == 200
    new = s.fetch_token(server.token_url, grant_type="client_credentials")
    iat = unverified_claims(new["access_token"])["iat"]
    assert ping(server, old) == 403
    assert ping(server, new) == 200, (
        f"a token issued after the global sign-out (iat={iat}, same second as the sign-out) is refused"
    )


def test_sign_out_get_redirects_to_a_registered_uri(server, oauth):
    token = oauth.fetch_token(server.token_url, grant_type="client_credentials")
    r = http("GET", server.url("/auth/v3/sign-out"), params={"redirectUri": server.redirect_uri}, headers=bearer(token))
    assert r.status_code == 302
    assert r.headers["location"] == server.redirect_uri
    assert ping(server, token) == 403


def test_sign_out_get_redirects_user_token(user_server):
    srv = user_server
    token = password_token(srv)
    r = http("GET", srv.url("/auth/v3/sign-out"), params={"redirectUri": srv.redirect_uri}, headers=bearer(token))
    assert r.status_code == 302
    assert r.headers["location"] == srv.redirect_uri
    assert ping(srv, token) == 403
    assert refresh_error(srv, token["refresh_token"]) == "invalid_grant"


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/callback",
        "{base}/callback/../evil",
        "{base}/callback?x=1",
        "{base}/CALLBACK",
        "//evil.example/callback",
    ],
)
def test_sign_out_get_refuses_unregistered_redirects(server, oauth, uri):
    uri = uri.format(base=server.base_url)
    token = oauth.fetch_token(server.token_url, grant_type="client_credentials")
    r = http("GET", server.url("/auth/v3/sign-out"), params={"redirectUri": uri}, headers=bearer(token))
    assert r.status_code == 400
    assert "location" not in r.headers
    assert r.json()["status"]["code"] == 400
    # Refused before signing out.
    assert ping(server, token) == 200


def test_sign_out_get_without_redirect(server, oauth):
    token = oauth.fetch_token(server.token_url, grant_type="client_credentials")
    r = http("GET", server.url("/auth/v3/sign-out"), headers=bearer(token))
    assert r.status_code == 200
    assert ping(server, token) == 403


def test_sign_out_needs_a_valid_token(server):
    assert http("POST", server.url("/auth/v3/sign-out")).status_code == 401
    assert http("POST", server.url("/auth/v3/sign-out"), headers=bearer("a.b.c")).status_code == 401


def test_sign_out_bad_global_flag(server, oauth):
    token = oauth.fetch_token(server.token_url, grant_type="client_credentials")
    r = http("POST", server.url("/auth/v3/sign-out"), params={"global": "yes"}, headers=bearer(token))
    assert r.status_code == 400
    assert ping(server, token) == 200
