"""The real SAML identity provider of the e2e tests: Keycloak, started by
scripts/provision/saml-idp.sh with the realm of e2e/idp/saml (users `ann`
in groups agents and supervisors, `bob` in agents, `carl` in none; password
`<name>-password`).

Tollgate's SP keys are generated per contact center, so each test registers
the SP at Keycloak through its admin REST API: Tollgate's own SP metadata
(`GET /auth/v3/sso/saml/{cc}/metadata`) goes through Keycloak's
client-description converter, and the client is then adjusted (what is
signed, encryption, NameID format, the IdP-initiated URL name, attribute
mappers) before it is created.
"""

from __future__ import annotations

import html
import os
import re
import time
from urllib.parse import quote

import pytest
import requests

#: Keycloak's login form.
LOGIN = {"username": "#username", "password": "#password", "submit": "#kc-login"}
#: Keycloak's logout confirmation button.
LOGOUT = "#kc-logout"

#: What Tollgate's SP decrypts (the EncryptionMethods of its metadata):
#: AES-128-GCM content, its key by RSA-OAEP-MGF1P with the SHA-1 digest.
#: Keycloak's defaults (AES-256-GCM; xmlenc11 RSA-OAEP, SHA-256 and
#: MGF1-SHA256) and even RSA-OAEP-MGF1P with an SHA-256 DigestMethod are
#: refused by Tollgate ("decryption"), so the client is told these three.
ENCRYPTION = {
    "saml.encryption.algorithm": "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "saml.encryption.keyAlgorithm": "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
    "saml.encryption.digestMethod": "http://www.w3.org/2000/09/xmldsig#sha1",
}

NAME_ID_FORMATS = {
    "username": "username",
    "email": "email",
    "persistent": "persistent",
    "unspecified": "unspecified",
}


def need(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: source scripts/provision/saml-idp.sh (the test command does)")
    return value


class Keycloak:
    """One realm of the running Keycloak and its admin API."""

    def __init__(self):
        self.url = need("TOLLGATE_TEST_SAML_IDP_URL").rstrip("/")
        self.realm = need("TOLLGATE_TEST_SAML_IDP_REALM")
        self._admin = (need("TOLLGATE_TEST_SAML_IDP_ADMIN_USER"), need("TOLLGATE_TEST_SAML_IDP_ADMIN_PASSWORD"))
        self._token: tuple[str, float] | None = None

    # -- the IdP as Tollgate sees it ------------------------------------------
    @property
    def entity_id(self) -> str:
        return f"{self.url}/realms/{self.realm}"

    @property
    def saml_endpoint(self) -> str:
        """SingleSignOnService and SingleLogoutService (every binding)."""
        return f"{self.url}/realms/{self.realm}/protocol/saml"

    @property
    def logout_url(self) -> str:
        """Where a user logs out of Keycloak itself (a confirmation page,
        then Keycloak's front-channel logout of every client of the session)."""
        return f"{self.url}/realms/{self.realm}/protocol/openid-connect/logout"

    def idp_metadata(self) -> str:
        r = requests.get(f"{self.saml_endpoint}/descriptor", timeout=10)
        r.raise_for_status()
        return r.text

    def idp_initiated_url(self, url_name: str, relay_state: str | None = None) -> str:
        url = f"{self.saml_endpoint}/clients/{quote(url_name)}"
        if relay_state is not None:
            url += "?RelayState=" + quote(relay_state, safe="")
        return url

    def unsolicited_response(self, url_name: str, username: str, password: str, relay_state: str | None = None) -> dict:
        """IdP-initiated sign-in without a browser: Keycloak's login form
        filled by `requests`; returns the form Keycloak would have the
        browser post to the ACS (`action`, `SAMLResponse`, `RelayState`)."""
        with requests.Session() as s:
            page = s.get(self.idp_initiated_url(url_name, relay_state), timeout=10)
            assert page.status_code == 200, page.text[:500]
            # Keycloak marks its cookies Secure; Chromium sends them to
            # http://127.0.0.1 (a secure context), requests does not.
            for c in s.cookies:
                c.secure = False
            action = re.search(r'<form[^>]+action="([^"]+)"', page.text)
            assert action, f"no login form: {page.text[:500]}"
            answer = s.post(html.unescape(action.group(1)), data={"username": username, "password": password}, timeout=10)
            assert answer.status_code == 200, answer.text[:500]
        form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', answer.text))
        target = re.search(r'<form[^>]+action="([^"]+)"', answer.text)
        assert "SAMLResponse" in form and target, f"no SAML answer: {answer.text[:500]}"
        return {"action": html.unescape(target.group(1)), **{k: html.unescape(v) for k, v in form.items()}}

    # -- admin API ---------------------------------------------------------------
    def _bearer(self) -> str:
        if self._token is None or self._token[1] < time.monotonic():
            r = requests.post(
                f"{self.url}/realms/master/protocol/openid-connect/token",
                data={"grant_type": "password", "client_id": "admin-cli",
                      "username": self._admin[0], "password": self._admin[1]},
                timeout=10,
            )
            assert r.status_code == 200, f"Keycloak admin token: {r.status_code} {r.text}"
            body = r.json()
            # Renewed well before it expires (60 s by default).
            self._token = (body["access_token"], time.monotonic() + body["expires_in"] / 2)
        return self._token[0]

    def admin(self, method: str, path: str, **kw) -> requests.Response:
        """`path` under /admin/realms/<realm>."""
        headers = {"Authorization": f"Bearer {self._bearer()}", **kw.pop("headers", {})}
        return requests.request(
            method, f"{self.url}/admin/realms/{self.realm}{path}", headers=headers, timeout=15, **kw
        )

    def register_sp(
        self,
        sp_metadata: str,
        url_name: str,
        *,
        sign_response: bool = True,
        sign_assertion: bool = True,
        encrypt: bool = False,
        name_id_format: str = "username",
    ) -> dict:
        """Registers (or replaces) the SP described by `sp_metadata`; returns
        Keycloak's client representation as created."""
        r = self.admin(
            "POST", "/client-description-converter", data=sp_metadata.encode(),
            headers={"Content-Type": "text/plain"},
        )
        assert r.status_code == 200, f"client-description-converter: {r.status_code} {r.text}"
        client = r.json()
        self.delete_client(client["clientId"])
        attrs = client.setdefault("attributes", {})
        attrs.update({
            "saml.server.signature": str(sign_response).lower(),
            "saml.assertion.signature": str(sign_assertion).lower(),
            "saml.signature.algorithm": "RSA_SHA256",
            "saml_signature_canonicalization_method": "http://www.w3.org/2001/10/xml-exc-c14n#",
            # The SP signs its AuthnRequests (and LogoutRequests) with the
            # certificate of its metadata, which the converter copied.
            "saml.client.signature": "true",
            "saml.encrypt": str(encrypt).lower(),
            "saml_name_id_format": NAME_ID_FORMATS[name_id_format],
            "saml_force_name_id_format": "true",
            "saml_idp_initiated_sso_url_name": url_name,
            "saml.authnstatement": "true",
        })
        if encrypt:
            attrs.update(ENCRYPTION)
        else:
            attrs.pop("saml.encryption.certificate", None)
        client.update({
            "enabled": True,
            "frontchannelLogout": True,
            "protocolMappers": [
                _attribute("username", "uid"),
                _attribute("email", "email"),
                _attribute("firstName", "firstName"),
                _attribute("lastName", "lastName"),
                {
                    "name": "groups", "protocol": "saml",
                    "protocolMapper": "saml-group-membership-mapper",
                    "config": {"attribute.name": "groups", "full.path": "false", "single": "true",
                               "attribute.nameformat": "Basic"},
                },
            ],
        })
        r = self.admin("POST", "/clients", json=client)
        assert r.status_code == 201, f"creating the SAML client: {r.status_code} {r.text}"
        return self.client(client["clientId"])

    def client(self, client_id: str) -> dict | None:
        r = self.admin("GET", "/clients", params={"clientId": client_id})
        assert r.status_code == 200, r.text
        found = r.json()
        return found[0] if found else None

    def delete_client(self, client_id: str) -> None:
        existing = self.client(client_id)
        if existing:
            r = self.admin("DELETE", f"/clients/{existing['id']}")
            assert r.status_code == 204, r.text

    def add_signing_key(self, priority: int = 200) -> str:
        """A new realm RSA key that outranks the seeded one, so Keycloak
        signs with it from now on; returns its component id."""
        realm_id = self.admin("GET", "").json()["id"]
        r = self.admin("POST", "/components", json={
            "name": f"rotated-{priority}", "providerId": "rsa-generated",
            "providerType": "org.keycloak.keys.KeyProvider", "parentId": realm_id,
            "config": {"priority": [str(priority)], "keySize": ["2048"], "algorithm": ["RS256"]},
        })
        assert r.status_code == 201, r.text
        return r.headers["Location"].rstrip("/").rsplit("/", 1)[-1]

    def remove_component(self, component_id: str) -> None:
        r = self.admin("DELETE", f"/components/{component_id}")
        assert r.status_code == 204, r.text

    def user_id(self, username: str) -> str:
        r = self.admin("GET", "/users", params={"username": username, "exact": "true"})
        assert r.status_code == 200 and r.json(), f"no Keycloak user {username}: {r.text}"
        return r.json()[0]["id"]

    def sessions(self, username: str) -> list[dict]:
        """The user's live sessions at Keycloak."""
        r = self.admin("GET", f"/users/{self.user_id(username)}/sessions")
        assert r.status_code == 200, r.text
        return r.json()

    def end_sessions(self, username: str) -> None:
        r = self.admin("POST", f"/users/{self.user_id(username)}/logout")
        assert r.status_code == 204, r.text


def _attribute(user_property: str, name: str) -> dict:
    return {
        "name": name, "protocol": "saml", "protocolMapper": "saml-user-property-mapper",
        "config": {"user.attribute": user_property, "attribute.name": name, "attribute.nameformat": "Basic"},
    }
