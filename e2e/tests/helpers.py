"""Small helpers shared by the tests."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid

import requests
from authlib.integrations.base_client import FrameworkIntegration
from authlib.integrations.base_client.sync_app import BaseApp, OAuth2Mixin
from authlib.integrations.base_client.sync_openid import OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tollgate import Server


class RelyingParty(OAuth2Mixin, OpenIDMixin, BaseApp):
    """authlib's own OpenID Connect relying-party logic (the one its Flask,
    Django and Starlette integrations use), configured from discovery."""

    client_cls = OAuth2Session


def relying_party(srv: Server, client_id=None, client_secret=None, **kw) -> RelyingParty:
    return RelyingParty(
        FrameworkIntegration("tollgate"),
        name="tollgate",
        client_id=client_id or srv.client_id,
        client_secret=client_secret or srv.client_secret,
        server_metadata_url=srv.url("/.well-known/openid-configuration"),
        **kw,
    )


CODE_CLIENT_SECRET = "code-client-secret-e2e"


def code_client(srv: Server) -> dict:
    """A confidential, internal (no consent page) client of `srv` for the
    browser flows: authorization code, implicit and refresh, redirect URI
    `<base>/callback`. Created once per server over the ops API."""
    client = getattr(srv, "_code_client", None)
    if client is None:
        client = srv.create_client(
            unique("web"),
            client_secret=CODE_CLIENT_SECRET,
            authorizedGrantTypes=["authorization_code", "implicit", "refresh_token", "password"],
            redirectURIs=[srv.redirect_uri],
            scope=["*"],
            internalClient=True,
        )
        srv._code_client = client
    return client


def password_token(srv: Server, scope="openid profile email", session: OAuth2Session | None = None, **kw) -> dict:
    """A password-grant token fetched by authlib."""
    s = session or OAuth2Session(srv.client_id, srv.client_secret, scope=scope)
    try:
        return dict(s.fetch_token(srv.token_url, username=srv.login, password=srv.password, scope=scope, **kw))
    finally:
        if session is None:
            s.close()


def bearer(token: str | dict) -> dict:
    value = token["access_token"] if isinstance(token, dict) else token
    return {"Authorization": f"Bearer {value}"}


def unique(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def unique_client_address() -> str:
    """A random address of 198.18.0.0/15 (the benchmarking range) for
    X-Forwarded-For (the shared servers trust loopback as their ingress), so
    counters charged to it are this test's own."""
    b = uuid.uuid4().bytes
    return f"198.{18 + (b[0] & 1)}.{b[1]}.{b[2] or 1}"


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def http(method: str, url: str, **kw) -> requests.Response:
    kw.setdefault("timeout", 15)
    kw.setdefault("allow_redirects", False)
    return requests.request(method, url, **kw)


# -- JWT verification (joserfc, the JOSE library authlib builds on) -----------


def jwks(srv: Server) -> dict:
    meta = requests.get(srv.url("/.well-known/openid-configuration"), timeout=10).json()
    r = requests.get(meta["jwks_uri"], timeout=10)
    r.raise_for_status()
    return r.json()


def verify_jwt(srv: Server, token: str, algorithms=("ES256",)):
    """Verifies the signature against the published JWKS; returns joserfc's Token."""
    keys = KeySet.import_key_set(jwks(srv))
    return jwt.decode(token, keys, algorithms=list(algorithms))


def verify_access_token(srv: Server, token: str, client_id: str | None = None, scope: str | None = None) -> dict:
    """RFC 9068 checks: typ at+jwt, signature, iss, aud, exp, iat, jti, sub, client_id."""
    t = verify_jwt(srv, token)
    assert t.header["typ"].lower() in ("at+jwt", "application/at+jwt"), t.header
    assert t.header["alg"] == "ES256"
    assert t.header.get("kid"), "access token has no kid"
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": srv.base_url},
        aud={"essential": True, "value": srv.base_url},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
        jti={"essential": True},
        client_id={"essential": True, "value": client_id or srv.client_id},
    )
    registry.validate(t.claims)
    if scope is not None:
        assert t.claims["scope"] == scope
    assert t.claims["exp"] > time.time()
    return t.claims


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def unverified_claims(token: str) -> dict:
    import json

    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))
