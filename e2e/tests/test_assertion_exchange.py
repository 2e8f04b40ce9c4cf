"""Assertion (RFC 7523 JWT bearer grant) and Token Convert (RFC 8693 token
exchange, convert-token, jwt-userinfo) against the real binary. Assertions
are signed by a third-party JOSE library (joserfc); the issuer's keys are
served from a JWKS URL by this test, and rotated."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from helpers import bearer, http, password_token, verify_jwt

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


class JwksServer:
    """A tiny HTTP server publishing a JWK Set that the test can replace."""

    def __init__(self):
        self.keys: list[dict] = []
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.fetches += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/jwk-set+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, *keys) -> None:
        self.keys = [k.as_dict(private=False) for k in keys]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_server():
    s = JwksServer()
    yield s
    s.close()


def trust(srv, issuer: str, **fields) -> None:
    r = requests.post(
        srv.url(f"/environment/v3/contact-centers/{srv.contact_center_id}/trusted-issuers"),
        json={"data": {"issuer": issuer, **fields}},
        auth=srv.ops,
        timeout=10,
    )
    assert r.status_code == 200, r.text


def assertion_client(srv) -> dict:
    return srv.create_client(
        authorizedGrantTypes=[JWT_BEARER, EXCHANGE, "client_credentials"],
        scope=["*"],
        client_secret=f"s-{uuid.uuid4().hex}",
    )


def sign(key, issuer: str, audience: str, sub: str = "agent", alg="ES256", **over) -> str:
    now = int(time.time())
    claims = {"iss": issuer, "sub": sub, "aud": audience, "iat": now, "exp": now + 120, "jti": uuid.uuid4().hex}
    claims.update(over)
    return jwt.encode({"alg": alg, "kid": key.kid}, claims, key)


def assertion_grant(srv, client: dict, assertion: str) -> requests.Response:
    srv.secret(assertion)
    return http(
        "POST",
        srv.token_url,
        data={"grant_type": JWT_BEARER, "assertion": assertion, "scope": "openid"},
        auth=(client["client_id"], client["client_secret"]),
    )


def refused(r: requests.Response, status=400, error="invalid_grant") -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error, body
    return body["error_description"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_assertion_grant_with_a_jwks_url_and_key_rotation(user_server, jwks_server, record_delay):
    srv = user_server
    issuer = f"https://idp-{uuid.uuid4().hex[:8]}.example"
    first = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    jwks_server.publish(first)
    trust(srv, issuer, jwksUri=jwks_server.url, algorithms=["ES256", "RS256"])
    client = assertion_client(srv)

    r = assertion_grant(srv, client, sign(first, issuer, srv.base_url))
    assert r.status_code == 200, r.text
    tokens = r.json()
    claims = verify_jwt(srv, tokens["access_token"]).claims
    assert claims["sub"] == srv.subject
    assert claims["client_id"] == client["client_id"]
    assert verify_jwt(srv, tokens["id_token"]).claims["sub"] == srv.subject

    # The issuer rotates to an RSA key: the unknown kid makes the server
    # fetch the JWKS again (rate-limited, so it may take a few seconds).
    second = RSAKey.generate_key(2048, parameters={"kid": "k2"})
    jwks_server.publish(second)
    started = time.monotonic()
    while True:
        r = assertion_grant(srv, client, sign(second, issuer, srv.token_url, alg="RS256"))
        if r.status_code == 200 or time.monotonic() - started > 15:
            break
        refused(r)
        time.sleep(0.5)
    assert r.status_code == 200, r.text
    record_delay("new JWKS key accepted after rotation", time.monotonic() - started)
    assert jwks_server.fetches >= 2
    # The retired key is gone from the published set.
    assert "unknown" in refused(assertion_grant(srv, client, sign(first, issuer, srv.base_url)))


def test_forged_and_replayed_assertions_are_refused(user_server):
    srv = user_server
    issuer = f"https://idp-{uuid.uuid4().hex[:8]}.example"
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    trust(srv, issuer, jwks={"keys": [key.as_dict(private=False)]}, algorithms=["ES256"], maxLifetime=300)
    client = assertion_client(srv)
    now = int(time.time())

    good = sign(key, issuer, srv.base_url)
    assert assertion_grant(srv, client, good).status_code == 200
    assert "already used" in refused(assertion_grant(srv, client, good))

    assert "aud" in refused(assertion_grant(srv, client, sign(key, issuer, "https://elsewhere.example")))
    assert "expired" in refused(assertion_grant(srv, client, sign(key, issuer, srv.base_url, iat=now - 600, exp=now - 300)))
    assert "longer" in refused(assertion_grant(srv, client, sign(key, issuer, srv.base_url, exp=now + 3600)))
    other = ECKey.generate_key("P-256", parameters={"kid": "k9"})
    assert "unknown" in refused(assertion_grant(srv, client, sign(other, issuer, srv.base_url)))
    assert "not a user" in refused(assertion_grant(srv, client, sign(key, issuer, srv.base_url, sub="nobody")))

    payload = {"iss": issuer, "sub": "agent", "aud": srv.base_url, "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}
    body = b64(json.dumps(payload).encode())
    # alg: none
    unsigned = b64(b'{"alg":"none","typ":"JWT"}') + "." + body + "."
    assert "malformed" in refused(assertion_grant(srv, client, unsigned))
    # HS256 keyed with the issuer's published public key
    header = b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    public = json.dumps(key.as_dict(private=False)).encode()
    mac = hmac.new(public, f"{header}.{body}".encode(), hashlib.sha256).digest()
    assert "algorithm" in refused(assertion_grant(srv, client, f"{header}.{body}.{b64(mac)}"))


def test_token_exchange_end_to_end(user_server):
    srv = user_server
    gateway = srv.create_client(
        authorizedGrantTypes=[EXCHANGE, "client_credentials"],
        scope=["*"],
        client_secret=f"s-{uuid.uuid4().hex}",
        tokenExchange={
            "subjectClients": [srv.client_id],
            "audiences": ["https://api.example"],
            "delegation": True,
            "impersonation": False,
        },
    )
    auth = (gateway["client_id"], gateway["client_secret"])
    user = password_token(srv, scope="openid profile")
    actor = http("POST", srv.token_url, data={"grant_type": "client_credentials"}, auth=auth).json()["access_token"]
    form = {
        "grant_type": EXCHANGE,
        "subject_token": user["access_token"],
        "subject_token_type": ACCESS_TOKEN,
        "actor_token": actor,
        "actor_token_type": ACCESS_TOKEN,
        "audience": "https://api.example",
        "scope": "profile",
    }
    r = http("POST", srv.token_url, data=form, auth=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["issued_token_type"] == ACCESS_TOKEN
    assert body["scope"] == "profile"
    t = verify_jwt(srv, body["access_token"])
    assert t.claims["aud"] == "https://api.example"
    assert t.claims["sub"] == srv.subject
    assert t.claims["act"] == {"sub": gateway["client_id"], "client_id": gateway["client_id"]}

    assert refused(http("POST", srv.token_url, data={**form, "scope": "profile email"}, auth=auth), error="invalid_scope")
    assert refused(http("POST", srv.token_url, data={**form, "audience": "https://other.example"}, auth=auth), error="invalid_target")
    no_actor = {k: v for k, v in form.items() if not k.startswith("actor_")}
    assert "impersonate" in refused(http("POST", srv.token_url, data=no_actor, auth=auth), error="unauthorized_client")


def test_token_exchange_of_a_trusted_issuers_jwt(user_server):
    """A subject token signed by joserfc for a trusted issuer of the contact
    center: exchanged once by a client whose policy lists the issuer, refused
    for a client whose policy does not, and refused when replayed."""
    srv = user_server
    issuer = f"https://idp-{uuid.uuid4().hex[:8]}.example"
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    trust(srv, issuer, jwks={"keys": [key.as_dict(private=False)]}, algorithms=["RS256"])

    def gateway(policy: dict) -> tuple[str, str]:
        c = srv.create_client(authorizedGrantTypes=[EXCHANGE], scope=["*"], client_secret=f"s-{uuid.uuid4().hex}", tokenExchange=policy)
        return c["client_id"], c["client_secret"]

    allowed = gateway({"subjectIssuers": [issuer], "audiences": ["https://api.example"], "impersonation": True})
    other = gateway({"subjectClients": ["*"], "impersonation": True})

    subject = srv.secret(sign(key, issuer, srv.token_url, alg="RS256"))
    form = {"grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": JWT_TYPE, "audience": "https://api.example"}
    assert "issuer" in refused(http("POST", srv.token_url, data=form, auth=other), error="unauthorized_client")
    r = http("POST", srv.token_url, data=form, auth=allowed)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["issued_token_type"] == ACCESS_TOKEN
    t = verify_jwt(srv, body["access_token"]).claims
    assert t["sub"] == srv.subject
    assert t["aud"] == "https://api.example"
    assert t["client_id"] == allowed[0]
    assert "already used" in refused(http("POST", srv.token_url, data=form, auth=allowed), error="invalid_request")
    stranger = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    forged = srv.secret(sign(stranger, f"https://untrusted-{uuid.uuid4().hex[:6]}.example", srv.base_url))
    assert "not trusted" in refused(http("POST", srv.token_url, data={**form, "subject_token": forged}, auth=allowed), error="invalid_request")


def test_convert_token_and_jwt_userinfo(user_server):
    srv = user_server
    token = password_token(srv)
    r = http("POST", srv.url("/auth/v3/oauth/convert-token"), headers=bearer(token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"]["code"] == 0
    assert set(body["data"]) == {"jwtToken", "expiration"}
    converted = verify_jwt(srv, body["data"]["jwtToken"]).claims
    # The Service Client API's expiration: an RFC 3339 time, the token's expiry.
    expiration = datetime.fromisoformat(body["data"]["expiration"].replace("Z", "+00:00"))
    assert int(expiration.timestamp()) == verify_jwt(srv, token["access_token"]).claims["exp"]
    assert converted["cmeUserName"] == "agent"
    assert converted["contactCenterId"] == srv.contact_center_id

    r = http("GET", srv.url("/auth/v3/jwt-userinfo"), headers=bearer(token))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"status": {"code": 0}}
    info = verify_jwt(srv, r.headers["X-GWS-User"]).claims
    assert info["sub"] == srv.subject
    assert info["exp"] == verify_jwt(srv, token["access_token"]).claims["exp"]
    r = http("GET", srv.url("/auth/v3/jwt-userinfo"), headers=bearer("nope"))
    assert r.status_code == 401 and r.json()["status"]["code"] == 401
