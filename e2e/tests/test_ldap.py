"""LDAP per contact center against the real binary and the real slapd of
scripts/provision/ldap.sh (TOLLGATE_TEST_LDAP_*): a contact center is set up
through the Environment API, then its users sign in with the password grant."""

from __future__ import annotations

import os
import uuid

import pytest
import requests

from envapi import EnvApi
from helpers import verify_jwt
from tollgate import free_port


def need(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: source scripts/provision/ldap.sh (the test command does)")
    return value


@pytest.fixture
def ldap_tenant(server):
    api = EnvApi(server.base_url, auth=server.ops)
    env = api.create_environment_ok()
    domain = f"ldap{uuid.uuid4().hex[:8]}"
    cc = api.create_contact_center_ok(env["id"], domains=[domain], auth="ldap")
    return api, cc, domain


def directory(base: str, url: str) -> dict:
    return {
        "urls": [url], "startTls": url.startswith("ldap://"),
        "caCertificate": open(need("TOLLGATE_TEST_LDAP_CA")).read(),
        "bindMode": "searchThenBind",
        "serviceDn": f"cn=tollgate,ou=services,{base}",
        "bindPassword": need("TOLLGATE_TEST_LDAP_SERVICE_PASSWORD"),
        "baseDn": base,
        "userFilter": "(&(objectClass=inetOrgPerson)(uid={username}))",
        "groupFilter": "(&(objectClass=groupOfNames)(member={dn}))",
        "groupAuthorities": [
            {"group": f"cn=supervisors,ou=groups,{base}", "authority": "ROLE_SUPERVISOR"},
            {"group": "agents", "authority": "ROLE_AGENT"},
        ],
        "timeoutMs": 2000,
    }


def grant(server, login: str, password: str) -> requests.Response:
    return requests.post(
        server.token_url,
        data={"grant_type": "password", "username": login, "password": password},
        auth=(server.client_id, server.client_secret),
        timeout=30,
    )


def test_ldap_contact_center_sign_in(server, ldap_tenant):
    api, cc, domain = ldap_tenant
    base = need("TOLLGATE_TEST_LDAP_BASE")
    path = f"/contact-centers/{cc['id']}/directory"

    # auth: ldap before a directory is stored: unavailable, not "wrong password".
    r = grant(server, f"{domain}\\alice", "alice-password")
    assert r.status_code == 503, r.text
    assert r.headers.get("Retry-After") == "60"

    r = api.call("PUT", path, directory(base, need("TOLLGATE_TEST_LDAPS_URL")))
    assert r.status_code == 200, r.text
    view = r.json()["data"]
    assert view["bindPasswordSet"] is True
    assert need("TOLLGATE_TEST_LDAP_SERVICE_PASSWORD") not in r.text

    r = grant(server, f"{domain}\\alice", "alice-password")
    assert r.status_code == 200, r.text
    claims = verify_jwt(server, r.json()["access_token"]).claims
    assert claims["user_name"] == "alice"
    assert claims["contact_center_id"] == cc["id"]
    assert sorted(claims["authorities"]) == ["ROLE_AGENT", "ROLE_SUPERVISOR"]

    r = grant(server, f"{domain}\\alice", "wrong-password")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant"), r.text
    locked = grant(server, f"{domain}\\locked", "locked-password")
    assert (locked.status_code, locked.json()["error"]) == (400, "invalid_grant"), locked.text
    assert locked.json()["error_description"] != r.json()["error_description"]

    # The directory's server stops answering: 503 with Retry-After.
    r = api.call("PUT", path, {**directory(base, f"ldap://127.0.0.1:{free_port()}"), "version": view["version"]})
    assert r.status_code == 200, r.text
    r = grant(server, f"{domain}\\alice", "alice-password")
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "temporarily_unavailable"
    assert int(r.headers["Retry-After"]) > 0
