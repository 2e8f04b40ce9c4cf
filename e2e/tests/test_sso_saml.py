"""SAML 2.0 contact centers in a real Chromium against a real identity
provider: Keycloak (scripts/provision/saml-idp.sh, e2e/tests/keycloak.py).

Each test makes an `auth: saml` contact center, uploads Keycloak's IdP
metadata, and registers Tollgate's SP at Keycloak from Tollgate's own SP
metadata (its keys are generated per contact center). Then: an
application's code + PKCE request to Tollgate, the sign-in page sends the
user to Keycloak with a signed AuthnRequest (HTTP-POST or HTTP-Redirect
binding), Keycloak's answer comes back to the ACS, and the application gets
tokens naming the contact center and the user. Also: what Keycloak signs
(assertion, response), encrypted assertions, IdP-initiated sign-in with an
allowed and a refused `redirectUrl`, unknown users and just-in-time users,
the access group, single logout started at either end, and Keycloak's real
answers replayed or posted to another contact center's ACS.
"""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import urlsplit

import pytest
import requests

import browser as ui
from browser import SIGN_IN
from envapi import EnvApi
from helpers import code_client, verify_access_token
from keycloak import LOGIN, LOGOUT, Keycloak
from test_browser_sign_in import RP, path_of
from tollgate import free_port

#: Seeded in e2e/idp/saml/tollgate-realm.json.
PASSWORDS = {"ann": "ann-password", "bob": "bob-password", "carl": "carl-password"}


@pytest.fixture(scope="session")
def keycloak() -> Keycloak:
    return Keycloak()


class SamlTenant:
    """An `auth: saml` contact center of the server under test, and its
    registration at Keycloak."""

    def __init__(self, srv, keycloak: Keycloak):
        self.srv = srv
        self.kc = keycloak
        self.api = EnvApi(srv.base_url, auth=srv.ops)
        env = self.api.create_environment_ok()
        self.domain = f"saml{uuid.uuid4().hex[:8]}"
        self.cc = self.api.create_contact_center_ok(env["id"], domains=[self.domain], auth="saml")
        self.id = self.cc["id"]
        self.url_name = f"tollgate-{self.id}"
        self.view: dict | None = None

    @property
    def path(self) -> str:
        return f"/contact-centers/{self.id}/saml"

    def configure(self, **settings) -> dict:
        """Stores the SAML settings with Keycloak's metadata (replacing any)."""
        body = {"idpMetadata": self.kc.idp_metadata(), **settings}
        if self.view is not None:
            body["version"] = self.view["version"]
        r = self.api.call("PUT", self.path, body)
        assert r.status_code == 200, r.text
        self.view = r.json()["data"]
        assert self.view["idpEntityId"] == self.kc.entity_id, self.view
        return self.view

    def sp_metadata(self) -> str:
        r = requests.get(self.srv.url(f"/auth/v3/sso/saml/{self.id}/metadata"), timeout=10)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/samlmetadata+xml"), r.headers
        return r.text

    def register(self, **options) -> dict:
        """Registers the SP at Keycloak; `options` as Keycloak.register_sp."""
        return self.kc.register_sp(self.sp_metadata(), self.url_name, **options)

    def user(self, name: str) -> dict:
        return self.api.create_user_ok(self.id, name)

    def users(self) -> list[dict]:
        return self.api.call("GET", f"/contact-centers/{self.id}/users").json()["data"]["users"]


@pytest.fixture
def saml(server, keycloak):
    t = SamlTenant(server, keycloak)
    yield t
    if t.view:
        keycloak.delete_client(t.view["spEntityId"])


def wait_for(what: str, check, seconds: float = 15):
    """Polls `check` until it returns something true. A query that lands
    while an auto-submitting page navigates fails; that only means "not yet"."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            found = check()
            if found:
                return found
        except ui.BrowserError:
            pass
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def at_keycloak_login(page) -> None:
    def ready():
        error = page.text("#kc-error-message")
        if error:
            pytest.fail(f"Keycloak refused the request: {error.strip()} (at {page.info()['url']})")
        return page.elements(LOGIN["username"])

    wait_for("Keycloak's login form", ready)


def back_at_tollgate(srv, page, seen: list[str]) -> dict:
    """After the IdP's answer: the browser is back at Tollgate (a page of its
    own, or its redirect to the application was seen). `seen`: redirects to
    the application the last navigation command already reported."""

    def done():
        info = page.info()
        info["callbacks"] = seen + info["callbacks"]
        if info["callbacks"] or (info["url"].startswith(srv.base_url) and info.get("title") is not None):
            return info
        return None

    return wait_for("the browser to come back to Tollgate", done)


def login_at_keycloak(srv, page, username: str) -> dict:
    at_keycloak_login(page)
    page.fill(LOGIN["username"], username)
    page.fill(LOGIN["password"], PASSWORDS[username])
    return back_at_tollgate(srv, page, page.click(LOGIN["submit"])["callbacks"])


def sp_initiated(srv, page, client, t: SamlTenant, username: str) -> tuple[RP, dict]:
    """The application's request → Tollgate's sign-in page (user name and
    tenant; no password: these users have none here) → Keycloak's login
    page → Keycloak's answer at the ACS → back at Tollgate."""
    rp = RP(srv, client)
    info = page.goto(rp.url)
    assert path_of(info["url"]) == ui.SIGN_IN_PAGE, info["url"]
    page.fill(SIGN_IN["username"], username)
    page.fill(SIGN_IN["tenant"], t.domain)
    page.click(SIGN_IN["submit"])
    return rp, login_at_keycloak(srv, page, username)


def tokens_of(srv, client, rp: RP, info: dict) -> dict:
    assert len(info["callbacks"]) == 1, f"no redirect to the application: {info['url']} {info.get('text', '')[:300]}"
    return verify_access_token(srv, rp.redeem(info["callbacks"][0])["access_token"], client_id=client["client_id"])


def kc_request(page) -> dict | None:
    """The request the browser sent to Keycloak's SAML endpoint, if any."""
    docs = page.info()["documents"]
    return next((d for d in docs if "/protocol/saml" in d["url"]), None)


# -- SP metadata ---------------------------------------------------------------------


def test_sp_metadata_registers_at_keycloak(server, saml, keycloak):
    view = saml.configure()
    client = saml.register()
    assert client["clientId"] == view["spEntityId"]
    assert client["protocol"] == "saml"
    attrs = client["attributes"]
    # What Keycloak read from Tollgate's metadata: the ACS, the SP's
    # signing certificate, signed AuthnRequests.
    assert attrs["saml_assertion_consumer_url_post"] == view["acsUrl"]
    assert view["acsUrl"] in client["redirectUris"]
    cert = "".join(view["spCertificates"][0].splitlines()[1:-1])
    assert attrs["saml.signing.certificate"] == cert
    assert attrs["saml.client.signature"] == "true"


# -- SP-initiated sign-in ----------------------------------------------------------


@pytest.mark.parametrize(
    "binding,sign_response,sign_assertion",
    [("post", False, True), ("redirect", True, False), ("redirect", False, True), ("post", True, True)],
    ids=["post-assertion-signed", "redirect-response-signed", "redirect-assertion-signed", "post-both-signed"],
)
def test_sp_initiated_sign_in(server, saml, browser, binding, sign_response, sign_assertion):
    srv = server
    client = code_client(srv)
    saml.configure(binding=binding)
    saml.register(sign_response=sign_response, sign_assertion=sign_assertion)
    saml.user("ann")
    r = requests.post(srv.url("/auth/v3/auth-scheme"), json={"data": {"tenant": saml.domain}}, timeout=10)
    assert r.json()["data"]["scheme"] == "saml", r.text

    page = browser.page(redirect_uri=srv.redirect_uri)
    rp, info = sp_initiated(srv, page, client, saml, "ann")
    sent = kc_request(page)
    assert sent is not None, info["documents"]
    # POST binding: a form posted to Keycloak; Redirect: a GET with the
    # signed, deflated query.
    if binding == "post":
        assert sent["method"] == "POST", sent
    else:
        assert sent["method"] == "GET" and "SAMLRequest=" in sent["url"] and "Signature=" in sent["url"], sent
        assert "SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256" in sent["url"], sent
    claims = tokens_of(srv, client, rp, info)
    assert claims["contact_center_id"] == saml.id
    assert claims["user_name"] == "ann"
    assert claims["sub"] == f"{saml.id}:ann"
    assert keycloak_sessions(saml, "ann"), "Keycloak has no session of ann"
    srv.wait_for_audit("user.signed_in", contact_center_id=saml.id)
    page.close()


def keycloak_sessions(t: SamlTenant, username: str) -> list[dict]:
    return [s for s in t.kc.sessions(username) if t.view["spEntityId"] in s.get("clients", {}).values()]


@pytest.mark.parametrize(
    "name_id_format,username_attribute,login",
    [("email", None, "ann@saml.example"), ("persistent", "uid", "ann")],
    ids=["email-nameid", "persistent-nameid-uid-attribute"],
)
def test_user_named_by(server, saml, browser, name_id_format, username_attribute, login):
    """The NameID names the user (here Keycloak's email format), or, with
    `usernameAttribute`, an attribute does (the NameID is then Keycloak's
    opaque persistent id)."""
    srv = server
    client = code_client(srv)
    saml.configure(**({"usernameAttribute": username_attribute} if username_attribute else {}))
    saml.register(name_id_format=name_id_format)
    saml.user(login)
    page = browser.page(redirect_uri=srv.redirect_uri)
    rp, info = sp_initiated(srv, page, client, saml, "ann")
    claims = tokens_of(srv, client, rp, info)
    assert claims["user_name"] == login and claims["contact_center_id"] == saml.id, claims
    page.close()


def test_encrypted_assertion(server, saml, browser, keycloak):
    """Keycloak encrypts the (signed) assertion with the SP's encryption
    certificate from Tollgate's metadata, with algorithms Tollgate lists
    (keycloak.ENCRYPTION: Keycloak's defaults are not among them)."""
    srv = server
    client = code_client(srv)
    saml.configure()
    saml.register(encrypt=True)
    saml.user("ann")
    page = browser.page(redirect_uri=srv.redirect_uri)
    rp, info = sp_initiated(srv, page, client, saml, "ann")
    claims = tokens_of(srv, client, rp, info)
    assert claims["contact_center_id"] == saml.id and claims["user_name"] == "ann"
    page.close()


def test_idp_signing_key_rotation(server, saml, browser, keycloak):
    """Keycloak signs with a new realm key: its answers are refused (audited:
    the signature is by no certificate of the stored IdP metadata; the log
    stays JSON, which every test's server checks) until the metadata with the
    new certificate is uploaded."""
    srv = server
    client = code_client(srv)
    saml.configure()
    saml.register()
    saml.user("ann")
    key = keycloak.add_signing_key()
    try:
        since = srv.log_size()
        page = browser.page(redirect_uri=srv.redirect_uri)
        _, info = sp_initiated(srv, page, client, saml, "ann")
        assert not info["callbacks"] and info["status"] == 403, info
        event = srv.wait_for_audit("sso.refused", since=since, contact_center_id=saml.id)
        assert json.loads(event["detail"])["reason"] == "signature", event
        page.close()

        saml.configure()  # Keycloak's metadata now lists the new certificate
        page = browser.page(redirect_uri=srv.redirect_uri)
        rp, info = sp_initiated(srv, page, client, saml, "ann")
        assert tokens_of(srv, client, rp, info)["user_name"] == "ann"
        page.close()
    finally:
        keycloak.remove_component(key)


# -- who may sign in ---------------------------------------------------------------


def test_unknown_user_refused_unless_just_in_time(server, saml, browser):
    srv = server
    client = code_client(srv)
    saml.configure()
    saml.register()

    since = srv.log_size()
    page = browser.page(redirect_uri=srv.redirect_uri)
    _, info = sp_initiated(srv, page, client, saml, "bob")
    assert not info["callbacks"], info["callbacks"]
    assert info["status"] == 403, info
    assert page.text("#error"), info
    event = srv.wait_for_audit("user.auth_failed", since=since, contact_center_id=saml.id)
    assert json.loads(event["detail"])["reason"] == "unknown user", event
    page.close()

    saml.configure(justInTimeUsers=True)
    page = browser.page(redirect_uri=srv.redirect_uri)
    rp, info = sp_initiated(srv, page, client, saml, "bob")
    claims = tokens_of(srv, client, rp, info)
    assert claims["user_name"] == "bob" and claims["contact_center_id"] == saml.id
    bob = next(u for u in saml.users() if u["userName"] == "bob")
    # Created from the assertion's attributes (Keycloak's user-property mappers).
    assert bob["firstName"] == "Bob" and bob["lastName"] == "Builder" and bob["email"] == "bob@saml.example", bob
    page.close()


def test_access_group(server, saml, browser):
    srv = server
    client = code_client(srv)
    saml.configure(accessGroup={"attribute": "groups", "value": "supervisors"})
    saml.register()
    saml.user("ann")
    saml.user("bob")

    since = srv.log_size()
    page = browser.page(redirect_uri=srv.redirect_uri)
    _, info = sp_initiated(srv, page, client, saml, "bob")
    assert not info["callbacks"] and info["status"] == 403, info
    event = srv.wait_for_audit("sso.refused", since=since, contact_center_id=saml.id)
    assert json.loads(event["detail"])["reason"] == "access_group", event
    page.close()

    page = browser.page(redirect_uri=srv.redirect_uri)
    rp, info = sp_initiated(srv, page, client, saml, "ann")
    assert tokens_of(srv, client, rp, info)["user_name"] == "ann"
    page.close()


# -- IdP-initiated sign-in ---------------------------------------------------------


def test_idp_initiated_sign_in(server, saml, browser):
    srv = server
    client = code_client(srv)
    saml.configure(allowIdpInitiated=True)
    saml.register()
    saml.user("ann")
    # The application's page, on an origin the contact center allows.
    app = f"http://127.0.0.1:{free_port()}"
    landing = app + "/ui/wwe/index.html"
    saml.api.set_cors_origins(saml.id, [app])

    page = browser.page(redirect_uri=landing)
    page.goto(saml.kc.idp_initiated_url(saml.url_name, landing))
    info = login_at_keycloak(srv, page, "ann")
    assert info["callbacks"] == [landing], f"{info['url']} {info.get('text', '')[:300]}"
    # The browser session is ann's: an authorization needs no sign-in (asked
    # from the browser's cookies; this page's redirect URI is the landing).
    rp = RP(srv, client)
    answer = page.fetch(rp.url)
    assert answer["status"] in (302, 303), answer
    claims = tokens_of(srv, client, rp, {"callbacks": [answer["headers"]["location"]], "url": rp.url})
    assert claims["user_name"] == "ann" and claims["contact_center_id"] == saml.id
    page.close()

    # Not an allowed origin: the user is signed in but stays at Tollgate.
    page = browser.page(redirect_uri="https://evil.example/")
    page.goto(saml.kc.idp_initiated_url(saml.url_name, "https://evil.example/steal"))
    info = login_at_keycloak(srv, page, "ann")
    assert not info["callbacks"], info["callbacks"]
    assert not any(d["url"].startswith("https://evil.example") for d in info["documents"]), info["documents"]
    assert path_of(info["url"]) == ui.SIGNED_IN_PAGE, f"{info['url']} {info.get('text', '')[:300]}"
    page.close()


# -- single logout -----------------------------------------------------------------


def signed_in(srv, browser, client, t: SamlTenant, username: str):
    page = browser.page(redirect_uri=srv.redirect_uri)
    rp, info = sp_initiated(srv, page, client, t, username)
    tokens_of(srv, client, rp, info)
    assert page.fetch(srv.url("/auth/v3/ping"))["status"] == 200
    assert keycloak_sessions(t, username)
    return page


def test_sp_initiated_single_logout(server, saml, browser):
    """Tollgate's sign-out sends a LogoutRequest to Keycloak, which ends its
    session and answers at Tollgate's SLO: the signed-out page."""
    srv = server
    client = code_client(srv)
    saml.configure()
    saml.register()
    saml.user("ann")
    page = signed_in(srv, browser, client, saml, "ann")

    page.goto(srv.url(ui.SIGN_OUT))
    info = wait_for(
        "Tollgate's signed-out page",
        lambda: (i := page.info()) and path_of(i["url"]) == ui.SIGNED_OUT_PAGE and i,
    )
    assert any("/protocol/saml" in d["url"] for d in info["documents"]), "Keycloak was not told"
    assert any(urlsplit(d["url"]).path.endswith(f"/sso/saml/{saml.id}/slo") for d in info["documents"]), info["documents"]
    assert page.cookie(ui.SESSION_COOKIE) is None
    assert page.fetch(srv.url("/auth/v3/ping"))["status"] == 403
    assert not keycloak_sessions(saml, "ann"), "Keycloak's session outlived the logout"
    page.close()


def test_idp_initiated_single_logout(server, saml, browser):
    """Logging out at Keycloak (its own logout page) sends a front-channel
    LogoutRequest to Tollgate's SLO, which ends the Tollgate session."""
    srv = server
    client = code_client(srv)
    saml.configure()
    attrs = saml.register()["attributes"]
    # Keycloak read the SLO endpoint, both bindings, from the SP metadata.
    slo_url = srv.url(f"/auth/v3/sso/saml/{saml.id}/slo")
    assert attrs.get("saml_single_logout_service_url_redirect") == slo_url, attrs
    assert attrs.get("saml_single_logout_service_url_post") == slo_url, attrs
    saml.user("ann")
    page = signed_in(srv, browser, client, saml, "ann")

    page.goto(saml.kc.logout_url)
    wait_for("Keycloak's logout confirmation", lambda: page.elements(LOGOUT))
    page.click(LOGOUT)
    wait_for("Keycloak to end its session", lambda: not keycloak_sessions(saml, "ann"))
    slo = f"/auth/v3/sso/saml/{saml.id}/slo"
    info = wait_for(
        "the logout to pass Tollgate's SLO and come back to Keycloak",
        lambda: (i := page.info())
        and i["url"].startswith(saml.kc.url)
        and any(urlsplit(d["url"]).path == slo for d in i["documents"])
        and i,
    )
    assert page.fetch(srv.url("/auth/v3/ping"))["status"] == 403
    # The next authorization goes through the sign-in page again.
    info = page.goto(RP(srv, client).url)
    assert path_of(info["url"]) == ui.SIGN_IN_PAGE and not info["callbacks"], info["url"]
    page.close()


# -- refused answers from the real IdP ---------------------------------------------


def post_to_acs(form: dict, action: str | None = None) -> requests.Response:
    data = {"SAMLResponse": form["SAMLResponse"]}
    return requests.post(action or form["action"], data=data, allow_redirects=False, timeout=10)


def test_replayed_answer_refused(server, saml, keycloak):
    """Keycloak's signed answer signs in once; the same answer posted again
    is refused (assertion ids are single-use) and audited."""
    srv = server
    saml.configure(allowIdpInitiated=True)
    saml.register()
    saml.user("ann")
    form = keycloak.unsolicited_response(saml.url_name, "ann", PASSWORDS["ann"])
    assert form["action"] == saml.view["acsUrl"]
    first = post_to_acs(form)
    assert first.status_code in (200, 302, 303), first.text[:300]
    assert first.cookies.get(ui.SESSION_COOKIE), first.headers
    since = srv.log_size()
    again = post_to_acs(form)
    assert again.status_code in (400, 403), again.text[:300]
    assert not again.cookies.get(ui.SESSION_COOKIE), again.headers
    event = srv.wait_for_audit("sso.refused", since=since, contact_center_id=saml.id)
    assert json.loads(event["detail"])["reason"] == "replayed", event


def test_idp_initiated_refused_unless_allowed(server, saml, keycloak):
    """IdP-initiated sign-in is off by default (issue 14, finding 19): a
    genuine unsolicited answer signs no one in and is audited."""
    srv = server
    view = saml.configure()
    assert view["allowIdpInitiated"] is False, view
    saml.register()
    saml.user("ann")
    form = keycloak.unsolicited_response(saml.url_name, "ann", PASSWORDS["ann"])
    since = srv.log_size()
    r = post_to_acs(form)
    assert r.status_code == 403, r.text[:300]
    assert not r.cookies.get(ui.SESSION_COOKIE), r.headers
    event = srv.wait_for_audit("sso.refused", since=since, contact_center_id=saml.id)
    assert json.loads(event["detail"])["reason"] == "idp_initiated_not_allowed", event


def test_answer_for_another_contact_center_refused(server, saml, keycloak):
    """An answer Keycloak made for one contact center's SP (its Audience,
    Destination and Recipient) is refused at another's ACS."""
    srv = server
    saml.configure()
    saml.register()
    saml.user("ann")
    other = SamlTenant(srv, keycloak)
    other.configure(allowIdpInitiated=True)
    other.user("ann")
    form = keycloak.unsolicited_response(saml.url_name, "ann", PASSWORDS["ann"])
    since = srv.log_size()
    r = post_to_acs(form, action=srv.url(f"/auth/v3/sso/saml/{other.id}/acs"))
    assert r.status_code in (400, 403), r.text[:300]
    assert not r.cookies.get(ui.SESSION_COOKIE), r.headers
    event = srv.wait_for_audit("sso.refused", since=since, contact_center_id=other.id)
    # The first check that fails: the Response's Destination is the other ACS.
    assert json.loads(event["detail"])["reason"] == "destination", event
