"""Pushed authorization requests (RFC 9126) with a third-party relying
party: panva's openid-client (Node.js) pushes the request to the PAR endpoint
it found in discovery and redeems the code, checking the callback's state and
`iss` and the ID token. Between the two, the sign-in form is driven as a
browser without JavaScript would (test_code_flow)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey

import tollgate
from helpers import CODE_CLIENT_SECRET, code_client, unique
from test_code_flow import query, sign_in_with_form

RELYING_PARTY = Path(__file__).resolve().parent.parent / "browser" / "relying-party.mjs"


@pytest.fixture
def relying_party():
    missing = shutil.which("node") is None or not (RELYING_PARTY.parent / "node_modules" / "openid-client").is_dir()
    if missing:
        if os.environ.get("TOLLGATE_REQUIRE_BROWSER") == "1":
            pytest.fail("Node.js or openid-client is missing but TOLLGATE_REQUIRE_BROWSER=1", pytrace=False)
        pytest.skip("Node.js or openid-client is missing (e2e/run.sh installs it)")

    def run(*args: str) -> dict:
        out = subprocess.run(["node", str(RELYING_PARTY), *args], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout)

    return run


def par_flow(srv, rp, client: dict, dpop: bool = False) -> tuple[dict, dict]:
    """openid-client pushes, the user signs in, openid-client redeems (with
    `dpop`, proving possession of a fresh key at every step)."""
    pushed = rp("push", srv.base_url, client["client_id"], client["client_secret"], srv.redirect_uri,
                *(["dpop"] if dpop else []))
    params = query(pushed["url"])
    # Only the reference passes through the browser.
    assert set(params) == {"client_id", "request_uri"}, params
    assert params["request_uri"].startswith("urn:ietf:params:oauth:request_uri:"), params
    callback = sign_in_with_form(srv, pushed["url"], srv.login, srv.password)
    key = [json.dumps(pushed["dpop_key"])] if dpop else []
    redeemed = rp("redeem", srv.base_url, client["client_id"], client["client_secret"], callback,
                  pushed["verifier"], pushed["state"], pushed["nonce"], *key)
    srv.remember_secret(redeemed["access_token"])
    return pushed, redeemed


def test_openid_client_pushes_the_request_and_redeems_the_code(user_server, relying_party):
    srv = user_server
    pushed, redeemed = par_flow(srv, relying_party, code_client(srv))
    assert redeemed["claims"]["sub"] == srv.subject
    assert redeemed["claims"]["nonce"] == pushed["nonce"]
    # A request_uri works once.
    again = requests.get(pushed["url"], allow_redirects=False, timeout=10)
    assert again.status_code == 400, again.text[:300]


def test_a_client_that_requires_par_is_served_only_pushed_requests(user_server, relying_party):
    srv = user_server
    client = srv.create_client(
        unique("par"),
        client_secret=CODE_CLIENT_SECRET,
        authorizedGrantTypes=["authorization_code"],
        redirectURIs=[srv.redirect_uri],
        scope=["*"],
        internalClient=True,
        requirePushedAuthorizationRequests=True,
    )
    assert client["requirePushedAuthorizationRequests"] is True
    plain = requests.get(srv.url("/auth/v3/oauth/authorize"), allow_redirects=False, timeout=10, params={
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": srv.redirect_uri,
        "scope": "openid", "state": "s1"})
    assert plain.status_code == 302, plain.text[:300]
    refused = query(plain.headers["Location"])
    assert refused["error"] == "invalid_request" and refused["state"] == "s1", refused
    _, redeemed = par_flow(srv, relying_party, client)
    assert redeemed["claims"]["sub"] == srv.subject


def test_openid_client_gets_a_dpop_bound_token_through_par(user_server, relying_party):
    """RFC 9449 with openid-client's DPoP handle: the proof at the PAR
    endpoint binds the code, the token endpoint binds the access token, and
    openid-client reads userinfo with a proof. Without its proof the token
    is refused."""
    srv = user_server
    client = srv.create_client(
        unique("dpop"),
        client_secret=CODE_CLIENT_SECRET,
        authorizedGrantTypes=["authorization_code"],
        redirectURIs=[srv.redirect_uri],
        scope=["openid", "profile"],
        internalClient=True,
        requirePushedAuthorizationRequests=True,
        requireDpop=True,
    )
    assert client["requireDpop"] is True
    meta = requests.get(srv.url("/.well-known/openid-configuration"), timeout=10).json()
    assert "ES256" in meta["dpop_signing_alg_values_supported"]

    pushed, redeemed = par_flow(srv, relying_party, client, dpop=True)
    assert redeemed["token_type"].lower() == "dpop"
    assert redeemed["userinfo"]["sub"] == srv.subject
    token = redeemed["access_token"]
    userinfo = srv.url("/auth/v3/openid/userinfo")
    as_bearer = requests.get(userinfo, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert as_bearer.status_code == 401, as_bearer.text
    without_proof = requests.get(userinfo, headers={"Authorization": f"DPoP {token}"}, timeout=10)
    assert without_proof.status_code == 401, without_proof.text
    assert "DPoP" in without_proof.headers.get("WWW-Authenticate", ""), without_proof.headers
    r = requests.post(srv.introspect_url, auth=(client["client_id"], client["client_secret"]),
                      data={"token": token}, timeout=10)
    view = r.json()
    assert view["active"] is True and view["token_type"] == "DPoP", view
    assert view["cnf"]["jkt"], view

    # A plain token request from this client is refused: it must send proofs.
    r = requests.post(srv.token_url, auth=(client["client_id"], client["client_secret"]),
                      data={"grant_type": "authorization_code", "code": "x", "redirect_uri": srv.redirect_uri},
                      timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text


@pytest.fixture
def nonce_server(tmp_path):
    """A dev server of its own that wants DPoP server nonces (--dpop-nonce)."""
    srv = tollgate.start("dev", tmp_path, tag="nonce", extra_args=["--dpop-nonce"])
    yield srv
    tollgate.stop_and_check(srv)


def test_openid_client_follows_dpop_server_nonces(nonce_server, relying_party):
    """RFC 9449 §8 with a third-party client: openid-client's first proof at
    each endpoint has no nonce (each step runs in a new process) and is
    answered use_dpop_nonce with a DPoP-Nonce header; it retries with that
    nonce and the whole flow (PAR, token, userinfo) succeeds."""
    srv = nonce_server
    client = srv.create_client(
        unique("nonce"),
        client_secret=CODE_CLIENT_SECRET,
        authorizedGrantTypes=["authorization_code"],
        redirectURIs=[srv.redirect_uri],
        scope=["openid", "profile"],
        internalClient=True,
        requireDpop=True,
    )
    pushed, redeemed = par_flow(srv, relying_party, client, dpop=True)
    assert redeemed["token_type"].lower() == "dpop"
    assert redeemed["userinfo"]["sub"] == srv.subject

    # What openid-client met first: a good proof without a nonce is refused,
    # with the nonce to use; with it, the proof passes that check.
    key = ECKey.generate_key("P-256")

    def proof(nonce=None) -> str:
        claims = {"jti": unique("jti"), "htm": "POST", "htu": srv.token_url, "iat": int(time.time())}
        if nonce:
            claims["nonce"] = nonce
        header = {"alg": "ES256", "typ": "dpop+jwt", "jwk": key.as_dict(private=False)}
        return jwt.encode(header, claims, key)

    def token_request(dpop: str) -> requests.Response:
        return requests.post(srv.token_url, auth=(client["client_id"], client["client_secret"]),
                             headers={"DPoP": dpop}, timeout=10,
                             data={"grant_type": "authorization_code", "code": "x", "redirect_uri": srv.redirect_uri})

    r = token_request(proof())
    assert r.status_code == 400 and r.json()["error"] == "use_dpop_nonce", r.text
    nonce = r.headers.get("DPoP-Nonce")
    assert nonce, r.headers
    r = token_request(proof(nonce))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    assert r.headers.get("DPoP-Nonce"), r.headers
