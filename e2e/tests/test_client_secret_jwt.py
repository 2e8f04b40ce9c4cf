"""Client authentication by a JWT MACed with the client's secret
(client_secret_jwt, RFC 7523 §2.2) with authlib's ClientSecretJWT against the
real binary: token, introspection and revocation; a wrong secret and a replayed
assertion refused; the secret never shown again nor written to the log (the
fixture checks the log for every secret the test used)."""

from __future__ import annotations

import secrets

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import ClientSecretJWT

from helpers import verify_access_token

METHOD = "client_secret_jwt"


def mac_client(srv, **fields) -> tuple[str, str]:
    data = srv.create_client(
        tokenEndpointAuthMethod=METHOD,
        authorizedGrantTypes=["client_credentials"],
        scope=["*"],
        **fields,
    )
    assert data["tokenEndpointAuthMethod"] == METHOD
    return data["client_id"], data["client_secret"]


def session(srv, client_id: str, secret: str, alg: str = "HS256") -> OAuth2Session:
    # authlib MACs with the secret.
    s = OAuth2Session(
        client_id,
        secret,
        token_endpoint_auth_method=METHOD,
        revocation_endpoint_auth_method=METHOD,
    )
    # aud: the issuer identifier, the only audience the server accepts
    # (authlib would otherwise address each assertion to the URL it calls).
    s.register_client_auth_method(ClientSecretJWT(token_endpoint=srv.base_url, alg=alg))
    return s


@pytest.mark.parametrize("alg", ["HS256", "HS512"])
def test_client_secret_jwt_at_token_introspection_and_revocation(server, alg):
    client_id, secret = mac_client(server, client_secret=secrets.token_urlsafe(40))
    with session(server, client_id, secret, alg) as s:
        token = s.fetch_token(server.token_url, grant_type="client_credentials")
        claims = verify_access_token(server, token["access_token"], client_id=client_id, scope=token["scope"])
        assert claims["client_id"] == client_id

        r = s.introspect_token(server.introspect_url, token=token["access_token"])
        assert r.status_code == 200, r.text
        assert r.json()["active"] is True

        r = s.revoke_token(server.revoke_url, token=token["access_token"])
        assert r.status_code == 200, r.text
        assert s.introspect_token(server.introspect_url, token=token["access_token"]).json() == {"active": False}


def test_a_generated_secret_is_shown_once_and_works(server):
    client_id, secret = mac_client(server)
    assert secret and len(secret) >= 32
    shown = requests.get(server.url(f"/auth/v3/ops/clients/{client_id}"), auth=server.ops, timeout=10)
    assert shown.status_code == 200
    assert secret not in shown.text
    with session(server, client_id, secret) as s:
        s.fetch_token(server.token_url, grant_type="client_credentials")


def test_wrong_secret_replay_and_clear_secret_are_refused(server):
    client_id, secret = mac_client(server, client_secret=secrets.token_urlsafe(40))
    with session(server, client_id, server.secret(secrets.token_urlsafe(40))) as s:
        r = s.post(server.token_url, data={"grant_type": "client_credentials"}, withhold_token=True, auth=s.client_auth(METHOD))
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "invalid_client"

    # One assertion, sent twice: the second is a replay.
    with session(server, client_id, secret) as s:
        sent = []

        def capture(r, *args, **kwargs):
            sent.append(r.request.body)

        first = s.post(
            server.token_url,
            data={"grant_type": "client_credentials"},
            withhold_token=True,
            auth=s.client_auth(METHOD),
            hooks={"response": capture},
        )
        assert first.status_code == 200, first.text
    replay = requests.post(
        server.token_url,
        data=sent[0],
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert replay.status_code == 401, replay.text
    assert replay.json()["error"] == "invalid_client"

    # The secret is a MAC key, not a password to send in clear.
    r = requests.post(server.token_url, data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=10)
    assert r.status_code == 401, r.text

    # A short secret is refused at registration with a clear error.
    r = requests.post(
        server.url("/auth/v3/ops/clients"),
        json={"data": {"client_id": "short-mac", "tokenEndpointAuthMethod": METHOD, "client_secret": server.secret("too-short-for-hmac")}},
        auth=server.ops,
        timeout=10,
    )
    assert r.status_code == 400, r.text
    assert "at least 32 bytes" in r.text


def test_discovery_advertises_client_secret_jwt(server):
    m = requests.get(server.url("/.well-known/openid-configuration"), timeout=10).json()
    for field in ("token_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported"):
        assert METHOD in m[field], field
    assert "HS256" in m["token_endpoint_auth_signing_alg_values_supported"]
