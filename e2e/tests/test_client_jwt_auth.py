"""Client authentication by signed JWT (private_key_jwt, RFC 7523 §2.2) with
authlib's PrivateKeyJWT against the real binary: token, introspection and
revocation, keys registered as a JWK Set or served from a JWKS URL, and a
client pinned to its method."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import ECKey, RSAKey

from helpers import verify_access_token

METHOD = "private_key_jwt"


def jwt_client(srv, **keys) -> str:
    data = srv.create_client(
        tokenEndpointAuthMethod=METHOD,
        authorizedGrantTypes=["client_credentials"],
        scope=["*"],
        **keys,
    )
    assert data["client_secret"] is None, "a private_key_jwt client has no secret"
    assert data["tokenEndpointAuthMethod"] == METHOD
    return data["client_id"]


def session(srv, client_id: str, key, alg: str) -> OAuth2Session:
    # authlib signs with the key given as the "secret".
    s = OAuth2Session(
        client_id,
        key,
        token_endpoint_auth_method=METHOD,
        revocation_endpoint_auth_method=METHOD,
    )
    # aud: the issuer identifier, the only audience the server accepts
    # (authlib would otherwise address each assertion to the URL it calls).
    s.register_client_auth_method(PrivateKeyJWT(token_endpoint=srv.base_url, alg=alg))
    return s


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_private_key_jwt_at_token_introspection_and_revocation(server, alg):
    if alg == "ES256":
        key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    else:
        key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    client_id = jwt_client(server, jwks={"keys": [key.as_dict(private=False)]})
    with session(server, client_id, key, alg) as s:
        token = s.fetch_token(server.token_url, grant_type="client_credentials")
        claims = verify_access_token(server, token["access_token"], client_id=client_id, scope=token["scope"])
        assert claims["client_id"] == client_id

        r = s.introspect_token(server.introspect_url, token=token["access_token"])
        assert r.status_code == 200, r.text
        assert r.json()["active"] is True
        assert r.json()["client_id"] == client_id

        r = s.revoke_token(server.revoke_url, token=token["access_token"])
        assert r.status_code == 200, r.text
        assert s.introspect_token(server.introspect_url, token=token["access_token"]).json() == {"active": False}


class JwksServer:
    """Serves one JWK Set over HTTP on the loopback address."""

    def __init__(self, keys: list[dict]):
        body = json.dumps({"keys": keys}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/jwk-set+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_private_key_jwt_with_a_jwks_url(server):
    key = ECKey.generate_key("P-256", parameters={"kid": "url-key"})
    keys = JwksServer([key.as_dict(private=False)])
    try:
        client_id = jwt_client(server, jwksUri=keys.url)
        with session(server, client_id, key, "ES256") as s:
            token = s.fetch_token(server.token_url, grant_type="client_credentials")
            assert verify_access_token(server, token["access_token"], client_id=client_id, scope=token["scope"])["client_id"] == client_id
    finally:
        keys.close()


def test_a_private_key_jwt_client_cannot_use_a_secret_nor_a_foreign_key(server):
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    client_id = jwt_client(server, jwks={"keys": [key.as_dict(private=False)]})
    r = requests.post(
        server.token_url,
        data={"grant_type": "client_credentials"},
        auth=(client_id, server.secret("guessed-secret")),
        timeout=10,
    )
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_client"

    # Signed by another key under the registered kid.
    other = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    with session(server, client_id, other, "ES256") as s:
        r = s.post(server.token_url, data={"grant_type": "client_credentials"}, withhold_token=True, auth=s.client_auth(METHOD))
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "invalid_client"

    # And the demo client, registered with a secret, cannot use an assertion.
    with session(server, server.client_id, key, "ES256") as s:
        r = s.post(server.token_url, data={"grant_type": "client_credentials"}, withhold_token=True, auth=s.client_auth(METHOD))
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "invalid_client"


def test_discovery_advertises_private_key_jwt(server):
    m = requests.get(server.url("/.well-known/openid-configuration"), timeout=10).json()
    assert METHOD in m["token_endpoint_auth_methods_supported"]
    assert METHOD in m["introspection_endpoint_auth_methods_supported"]
    assert "ES256" in m["token_endpoint_auth_signing_alg_values_supported"]
    assert "none" not in m["token_endpoint_auth_signing_alg_values_supported"]
