"""A contact center whose users live in LDAP, configured the way a user
would: a ContactCenter with `spec.directory` (the service account's password
in a Secret) and a client bound to it. The operator writes the directory,
the running pods pick it up, and a user of the tests' slapd signs in through
the deployed platform with the password grant."""

import base64
import json
import time

from kubernetes import client

from conftest import NAMESPACE, external_service, need, resource, wait_ready
from node import TOKEN, request


def test_an_ldap_user_signs_in_through_the_deployed_platform(admin, dyn, platform):
    core = client.CoreV1Api(admin)
    # Plain LDAP inside the cluster: slapd's certificate names 127.0.0.1,
    # not the Service (TLS to directories is covered by the Rust and e2e suites).
    ldap_ip = external_service(core, "directory-ldap", 389)
    core.create_namespaced_secret(NAMESPACE, {
        "metadata": {"name": "directory-ldap"},
        "stringData": {"password": need("TOLLGATE_TEST_LDAP_SERVICE_PASSWORD", "ldap.sh")},
    })
    base = need("TOLLGATE_TEST_LDAP_BASE", "ldap.sh")
    resource(dyn, "ContactCenter").create(namespace=NAMESPACE, body={
        "apiVersion": "tollgate.dev/v1alpha1", "kind": "ContactCenter",
        "metadata": {"name": "directory"},
        "spec": {
            "environmentRef": "demo", "domains": ["directory"], "auth": "ldap",
            "directory": {
                "urls": [f"ldap://{ldap_ip}:389"],
                "bindMode": "searchThenBind",
                "serviceDn": f"cn=tollgate,ou=services,{base}",
                "bindPasswordSecretRef": {"name": "directory-ldap", "key": "password"},
                "baseDn": base,
                "userFilter": "(&(objectClass=inetOrgPerson)(uid={username}))",
                "groupFilter": "(&(objectClass=groupOfNames)(member={dn}))",
                "groupAuthorities": [{"group": "agents", "authority": "ROLE_AGENT"}],
                "timeoutMs": 3000,
            },
        },
    })
    resource(dyn, "OAuthClient").create(namespace=NAMESPACE, body={
        "apiVersion": "tollgate.dev/v1alpha1", "kind": "OAuthClient",
        "metadata": {"name": "directory-client"},
        "spec": {
            "clientId": "directory-client", "clientType": "CONFIDENTIAL",
            "scope": ["openid"], "authorizedGrantTypes": ["password"],
            "contactCenterRefs": ["directory"],
        },
    })
    wait_ready(dyn, "ContactCenter", "directory")
    wait_ready(dyn, "OAuthClient", "directory-client")
    secret = core.read_namespaced_secret("directory-client-client-secret", NAMESPACE).data["client_secret"]
    basic = ("directory-client", base64.b64decode(secret).decode())

    def grant(password: str) -> tuple[int, bytes]:
        form = {"grant_type": "password", "username": "directory\\alice", "password": password}
        return request(platform["auth"], "POST", TOKEN, form=form, basic=basic)

    # The pods see the new rows at once (NOTIFY) or at their next poll. A
    # few spaced tries only: each failed one counts toward the lockout.
    answers = []
    for _ in range(4):
        time.sleep(3)
        answers.append(grant("alice-password"))
        if answers[-1][0] == 200:
            break
    status, body = answers[-1]
    assert status == 200, answers
    token = json.loads(body)["access_token"]
    status, body = request(platform["auth"], "POST", "/auth/v3/oauth/introspect", form={"token": token}, basic=basic)
    claims = json.loads(body)
    assert status == 200 and claims["active"] is True, body
    assert "ROLE_AGENT" in claims["authorities"], claims
    status, body = grant("not-alices-password")
    assert status == 400 and json.loads(body)["error"] == "invalid_grant", body
