"""OpenID Connect Back-Channel Logout 1.0 with the relying party's side
written as the spec's §2.6 asks, on joserfc (the JOSE library authlib builds
on): a client registers a `backchannelLogoutUri`; signing out of the browser
session, or everywhere, posts a logout token there, which the relying party
validates against the provider's JWKS and matches to the ID token it holds
by `sub` and `sid`."""

from __future__ import annotations

import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from helpers import jwks, password_token, relying_party, unique
from test_code_flow import query, sign_in_with_form

EVENT = "http://schemas.openid.net/event/backchannel-logout"


class Receiver:
    """A relying party's back-channel endpoint on loopback."""

    def __init__(self):
        tokens: queue.Queue = queue.Queue()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                tokens.put((self.headers.get("Content-Type"), parse_qs(body)))
                self.send_response(200)
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.tokens = tokens
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/backchannel-logout"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def next(self, timeout: float = 10.0) -> str | None:
        try:
            kind, form = self.tokens.get(timeout=timeout)
        except queue.Empty:
            return None
        assert kind == "application/x-www-form-urlencoded"
        return form["logout_token"][0]

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def validate(srv, token: str, client_id: str) -> dict:
    """§2.6: signature, iss, aud, iat, events, sub or sid, no nonce."""
    t = jwt.decode(token, KeySet.import_key_set(jwks(srv)), algorithms=["ES256"])
    assert t.header["typ"] == "logout+jwt", t.header
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": srv.base_url},
        aud={"essential": True, "value": client_id},
        iat={"essential": True},
        exp={"essential": True},
        jti={"essential": True},
    ).validate(t.claims)
    assert t.claims["events"] == {EVENT: {}}, t.claims
    assert "sub" in t.claims or "sid" in t.claims
    assert "nonce" not in t.claims
    assert abs(t.claims["iat"] - time.time()) < 60
    return t.claims


def bcl_client(srv, uri: str) -> dict:
    return srv.create_client(
        unique("bcl"),
        client_secret="bcl-client-secret-e2e-0123456789",
        authorizedGrantTypes=["authorization_code", "password", "refresh_token"],
        redirectURIs=[srv.redirect_uri],
        scope=["openid", "profile"],
        internalClient=True,
        backchannelLogoutUri=uri,
        backchannelLogoutSessionRequired=True,
    )


def test_discovery_says_back_channel_logout_with_sessions(server):
    meta = requests.get(server.url("/.well-known/openid-configuration"), timeout=10).json()
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True


def test_signing_out_of_the_browser_reaches_the_relying_party(user_server, receiver):
    srv = user_server
    client = bcl_client(srv, receiver.url)
    assert client["backchannelLogoutUri"] == receiver.url
    rp = relying_party(srv, client["client_id"], client["client_secret"],
                       client_kwargs={"scope": "openid profile", "code_challenge_method": "S256"})
    req = rp.create_authorization_url(redirect_uri=srv.redirect_uri)
    browser = requests.Session()
    cb = query(sign_in_with_form(srv, req["url"], srv.login, srv.password, browser))
    token = rp.fetch_access_token(redirect_uri=srv.redirect_uri, code=cb["code"], code_verifier=req["code_verifier"])
    srv.remember_secret(token.get("refresh_token"))
    id_token = rp.parse_id_token(token, nonce=req["nonce"], leeway=5)
    assert id_token["sid"], id_token

    r = browser.post(srv.url("/auth/v3/sign-out"), timeout=10)
    assert r.status_code == 200, r.text
    logout = receiver.next()
    assert logout, "no logout token reached the relying party"
    claims = validate(srv, logout, client["client_id"])
    assert (claims["sub"], claims["sid"]) == (id_token["sub"], id_token["sid"])


def test_a_global_sign_out_reaches_the_relying_party(isolated_server, receiver):
    srv = isolated_server
    client = bcl_client(srv, receiver.url)
    with OAuth2Session(client["client_id"], client["client_secret"], scope="openid") as s:
        token = password_token(srv, scope="openid", session=s)
    srv.remember_secret(token.get("refresh_token"))
    r = requests.post(srv.url("/auth/v3/sign-out"), params={"global": "true"},
                      headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10)
    assert r.status_code == 200, r.text
    logout = receiver.next()
    assert logout, "no logout token reached the relying party"
    claims = validate(srv, logout, client["client_id"])
    assert claims["sub"] == srv.subject
    assert "sid" not in claims, "a password-grant sign-in has no browser session"
