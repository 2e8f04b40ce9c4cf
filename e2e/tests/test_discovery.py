"""Discovery (OpenID Connect Discovery 1.0, RFC 8414) and the JWKS."""

import pytest
from joserfc.jwk import KeySet

from helpers import http


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"])
def test_metadata_documents(server, path):
    r = http("GET", server.url(path))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    meta = r.json()
    assert meta["issuer"] == server.base_url
    for name, path_ in {
        "token_endpoint": "/auth/v3/oauth/token",
        "jwks_uri": "/auth/v3/jwks",
        "userinfo_endpoint": "/auth/v3/openid/userinfo",
        "introspection_endpoint": "/auth/v3/oauth/introspect",
        "revocation_endpoint": "/auth/v3/oauth/revoke",
    }.items():
        assert meta[name] == server.base_url + path_, name
    assert {"client_credentials", "password", "refresh_token"} <= set(meta["grant_types_supported"])
    assert {"client_secret_basic", "client_secret_post"} <= set(meta["token_endpoint_auth_methods_supported"])
    assert "ES256" in meta["id_token_signing_alg_values_supported"]
    assert "openid" in meta["scopes_supported"]
    assert meta["subject_types_supported"]


def test_both_documents_agree(server):
    a = http("GET", server.url("/.well-known/openid-configuration")).json()
    b = http("GET", server.url("/.well-known/oauth-authorization-server")).json()
    assert a == b


def test_authlib_loads_metadata_and_jwks(rp, server):
    meta = rp.load_server_metadata()
    assert meta["issuer"] == server.base_url
    keys = rp.fetch_jwk_set(force=True)
    key_set = KeySet.import_key_set(keys)
    assert len(key_set.keys) >= 1


def test_jwks_publishes_only_public_signing_keys(server):
    meta = http("GET", server.url("/.well-known/openid-configuration")).json()
    r = http("GET", meta["jwks_uri"])
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] in ("application/jwk-set+json", "application/json")
    keys = r.json()["keys"]
    assert keys, "the JWKS is empty"
    kids = [k["kid"] for k in keys]
    assert len(kids) == len(set(kids)), "kids are not unique"
    for k in keys:
        assert k["kty"] == "EC" and k["crv"] == "P-256" and k["alg"] == "ES256", k
        assert k.get("use", "sig") == "sig"
        private = {"d", "p", "q", "dp", "dq", "qi", "k"} & set(k)
        assert not private, f"the JWKS leaks private key material: {private}"


def test_advertised_endpoints_are_served(server):
    """Every advertised endpoint answers (405 for the wrong method is fine).
    The authorization endpoint is left out: the README lists it as not built yet."""
    meta = http("GET", server.url("/.well-known/openid-configuration")).json()
    for name in ("token_endpoint", "jwks_uri", "userinfo_endpoint", "introspection_endpoint", "revocation_endpoint"):
        r = http("GET", meta[name])
        assert r.status_code != 404, name
