"""Browser sign-in (docs/browser-sign-in.md) in a real Chromium, against the
real binary on both flavours.

The relying party is authlib: it builds the authorization request (code +
PKCE S256, state, nonce), the browser follows it to the Authentication UI and
a user types their credentials; the browser's navigation to the registered
redirect URI is intercepted (nothing listens there) and authlib redeems the
code at the token endpoint with its verifier.

Every UI page visited is also checked for the security headers and, for the
sign-in, error, change-password and signed-out pages, with axe-core (no
`serious` or `critical` violation). Screenshots of those pages go to the
screenshot directory (see e2e/run.sh).
"""

from __future__ import annotations

import re
import shutil
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

import browser as ui
import tollgate
from browser import CHANGE, SIGN_IN, TEXTS
from envapi import EnvApi, envelope_ok
from helpers import code_client, http, unique, verify_access_token, verify_jwt, at_hash

LOCKOUT_THRESHOLD = 3
LOCKOUT_SECONDS = 5


# -- helpers -------------------------------------------------------------------


def path_of(url: str) -> str:
    return urlsplit(url).path


def query_of(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def fragment_of(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).fragment).items()}


class RP:
    """authlib as the relying party of one code + PKCE authorization."""

    def __init__(self, srv, client: dict, scope: str = "openid profile email"):
        self.srv = srv
        self.client = client
        self.session = OAuth2Session(
            client["client_id"],
            client["client_secret"],
            redirect_uri=srv.redirect_uri,
            scope=scope,
            code_challenge_method="S256",
        )
        self.verifier = generate_token(48)
        self.nonce = generate_token(20)
        self.url, self.state = self.session.create_authorization_url(
            srv.url(ui.AUTHORIZE), code_verifier=self.verifier, nonce=self.nonce
        )

    def redeem(self, callback: str) -> dict:
        params = query_of(callback)
        assert "error" not in params, f"the authorization failed: {callback}"
        assert params.get("state") == self.state, callback
        assert params.get("iss") == self.srv.base_url, f"iss (RFC 9207) missing or wrong: {callback}"
        token = dict(
            self.session.fetch_token(self.srv.token_url, authorization_response=callback, code_verifier=self.verifier)
        )
        self.session.close()
        return token


def assert_security_headers(doc: dict, what: str) -> None:
    h = {k.lower(): v for k, v in doc["headers"].items()}
    csp = h.get("content-security-policy")
    assert csp, f"{what}: no Content-Security-Policy ({doc['url']}): {h}"
    directives = {d.strip().split()[0]: d.strip().split()[1:] for d in csp.split(";") if d.strip()}
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, f"{what}: {csp}"
    assert directives.get("frame-ancestors") == ["'none'"], f"{what}: frame-ancestors: {csp}"
    assert "default-src" in directives or "script-src" in directives, f"{what}: {csp}"
    assert h.get("x-content-type-options") == "nosniff", f"{what}: {h}"
    assert h.get("referrer-policy"), f"{what}: no Referrer-Policy: {h}"
    assert h.get("x-frame-options", "").upper() == "DENY", f"{what}: {h}"
    assert "no-store" in h.get("cache-control", ""), f"{what}: {h}"


def assert_clean_page(info: dict, what: str) -> None:
    """No inline script or style (what the CSP forbids), no CSP violation
    or script error in the console."""
    assert info.get("inlineScripts") == 0, f"{what}: inline scripts"
    assert info.get("inlineStyles") == 0, f"{what}: inline style attributes"
    problems = [c for c in info.get("console", []) if "Content Security Policy" in c or c.startswith("pageerror")]
    assert not problems, f"{what}: {problems}"


def assert_accessible(page, what: str) -> None:
    violations = page.axe()
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, f"{what}: axe-core found serious/critical violations: {bad}"


def ui_page(page, what: str, shots=None, flavour: str | None = None, shot: str | None = None) -> dict:
    """The checks every UI page gets: security headers, no inline code, axe."""
    info = page.info()
    assert_security_headers(info, what)
    assert_clean_page(info, what)
    assert_accessible(page, what)
    if shots is not None and shot:
        save_screenshot(page, shots, flavour, shot)
    return info


def save_screenshot(page, shots, flavour: str, name: str) -> None:
    path = page.screenshot(shots / flavour / f"{name}.png")
    assert path.stat().st_size > 1000
    if flavour == "dev" and ui.update_docs_screenshots():
        ui.DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, ui.DOCS_SCREENSHOTS / f"{name}.png")


def field(info: dict, form_id: str, name: str) -> dict | None:
    for f in info.get("forms", []):
        if f["id"] == form_id:
            return next((x for x in f["fields"] if x["name"] == name), None)
    return None


def label_of(page, input_id: str) -> str:
    labels = page.elements(f"label[for='{input_id}']")
    assert labels, f"no <label for={input_id}>"
    return labels[0]["text"]


def on_sign_in_page(info: dict) -> None:
    assert path_of(info["url"]) in (ui.SIGN_IN_PAGE, "/auth/v3/sign-in"), f"not on the sign-in page: {info['url']}"
    assert any(f["id"] == "sign-in-form" for f in info["forms"]), info["forms"]


def new_user(srv, password: str | None, user_name: str | None = None) -> dict:
    """A user of the demo contact center, created over the Environment API;
    without a password the answer carries a `temporaryPassword`."""
    api = EnvApi(srv.base_url, auth=srv.ops)
    name = user_name or unique("u").replace("-", "")
    if password:
        srv.remember_secret(password)
    body = envelope_ok(api.create_user(srv.contact_center_id, name, password), (200, 201))
    data = body["data"]
    temp = data.get("temporaryPassword")
    srv.remember_secret(temp)
    login = f"{tollgate.DEMO_TENANT}\\{name}"
    return {"id": data["id"], "name": name, "login": login, "password": password or temp, "temporary": temp}


def password_grant(srv, client: dict, login: str, password: str) -> requests.Response:
    return http(
        "POST",
        srv.token_url,
        data={"grant_type": "password", "username": login, "password": srv.secret(password), "scope": "openid"},
        auth=(client["client_id"], client["client_secret"]),
    )


def wait_for_sign_in_usable(srv, client, login, password, timeout=5.0) -> None:
    """A user created over the Environment API reaches the auth side through
    the store: wait until the password grant accepts them."""
    deadline = time.monotonic() + timeout
    while password_grant(srv, client, login, password).status_code != 200:
        assert time.monotonic() < deadline, f"{login} cannot sign in {timeout}s after being created"
        time.sleep(0.1)


def tab_to(page, element_id: str, key: str = "Tab", limit: int = 15) -> None:
    for _ in range(limit):
        if (page.focused() or {}).get("id") == element_id:
            return
        page.press(key)
    raise AssertionError(f"{key} never reaches #{element_id}")


# -- fixtures --------------------------------------------------------------------


@pytest.fixture
def client(user_server) -> dict:
    return code_client(user_server)


@pytest.fixture
def page_factory(browser):
    made = []

    def make(srv, accept_language: str | None = None):
        p = browser.page(redirect_uri=srv.redirect_uri, accept_language=accept_language)
        made.append(p)
        return p

    yield make
    for p in made:
        try:
            p.close()
        except Exception:
            pass


# -- sign in with code + PKCE ------------------------------------------------------


def test_code_flow_with_pkce_through_the_sign_in_page(user_server, client, page_factory, screenshots):
    srv = user_server
    rp = RP(srv, client)
    page = page_factory(srv)
    info = page.goto(rp.url)
    # The authorization endpoint keeps the request and shows the sign-in page.
    assert path_of(info["url"]) == ui.SIGN_IN_PAGE, info["url"]
    assert query_of(info["url"]).get("request"), info["url"]
    assert info["status"] == 200
    assert info["lang"] == "en"
    assert info["title"].startswith(TEXTS["en"]["sign_in_title"]), info["title"]
    assert page.text("h1#title") == TEXTS["en"]["sign_in_title"]
    on_sign_in_page(info)
    form = next(f for f in info["forms"] if f["id"] == "sign-in-form")
    assert form["method"] == "post" and form["action"] == "/auth/v3/sign-in", form
    names = {f["name"]: f for f in form["fields"]}
    assert {"username", "password", "request", "csrf_token"} <= set(names), names
    assert names["username"]["autocomplete"] == "username"
    assert names["password"]["type"] == "password"
    assert names["password"]["autocomplete"] == "current-password"
    assert label_of(page, "username") == TEXTS["en"]["username"]
    assert label_of(page, "password") == TEXTS["en"]["password"]
    assert page.text(SIGN_IN["submit"]) == TEXTS["en"]["submit"]
    # The authorize answer itself carried the headers too.
    authorize_doc = next(d for d in info["documents"] if path_of(d["url"]) == ui.AUTHORIZE)
    assert_security_headers(authorize_doc, "authorize redirect")
    ui_page(page, "sign-in page", screenshots, srv.flavour, "sign-in")
    csrf = page.cookie(ui.CSRF_COOKIE)
    assert csrf and csrf["httpOnly"] and csrf["sameSite"] == "Lax", csrf

    info = page.sign_in(srv.secret(srv.login), srv.secret(srv.password))
    assert len(info["callbacks"]) == 1, f"no redirect to the client: {info['url']} {info.get('text', '')[:300]}"
    callback = info["callbacks"][0]
    assert callback.startswith(srv.redirect_uri + "?"), callback
    sign_in_post = next(d for d in info["documents"] if path_of(d["url"]) == "/auth/v3/sign-in")
    assert sign_in_post["status"] == 303, sign_in_post
    assert_security_headers(sign_in_post, "sign-in answer")

    # The browser session cookie.
    cookie = page.cookie(ui.SESSION_COOKIE)
    assert cookie, page.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/", cookie
    assert cookie["expires"] == -1, f"the session cookie must be a session cookie: {cookie}"
    assert not cookie["secure"]  # the public URL is http://127.0.0.1
    srv.remember_secret(cookie["value"])

    token = rp.redeem(callback)
    assert token["token_type"].lower() == "bearer"
    assert token.get("refresh_token")
    claims = verify_access_token(srv, token["access_token"], client_id=client["client_id"])
    assert claims["sub"] == srv.subject
    id_claims = verify_jwt(srv, token["id_token"]).claims
    assert id_claims["nonce"] == rp.nonce
    assert id_claims["aud"] == client["client_id"]
    assert id_claims["at_hash"] == at_hash(token["access_token"])

    # The code is single use.
    code = query_of(callback)["code"]
    r = http(
        "POST",
        srv.token_url,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": srv.redirect_uri, "code_verifier": rp.verifier},
        auth=(client["client_id"], client["client_secret"]),
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text

    # The session signs the next authorization in without a form.
    again = RP(srv, client)
    info = page.goto(again.url)
    assert len(info["callbacks"]) == 1, f"the session did not sign the user in: {info['url']}"
    assert verify_access_token(srv, again.redeem(info["callbacks"][0])["access_token"], client_id=client["client_id"])["sub"] == srv.subject
    # ... and is a credential for ping.
    assert page.fetch(srv.url("/auth/v3/ping"))["status"] == 200


def test_tenant_field(user_server, client, page_factory):
    """`agent` in the user name field and `demo` in the tenant field."""
    srv = user_server
    rp = RP(srv, client)
    page = page_factory(srv)
    on_sign_in_page(page.goto(rp.url))
    assert label_of(page, "tenant") == TEXTS["en"]["tenant"]
    info = page.sign_in(tollgate.DEMO_USERNAME, srv.secret(srv.password), tenant=tollgate.DEMO_TENANT)
    assert len(info["callbacks"]) == 1, info["url"]
    token = rp.redeem(info["callbacks"][0])
    assert verify_access_token(srv, token["access_token"], client_id=client["client_id"])["sub"] == srv.subject


def test_implicit_flow_returns_tokens_in_the_fragment(user_server, client, page_factory):
    srv = user_server
    state, nonce = generate_token(16), generate_token(16)
    url = srv.url(ui.AUTHORIZE) + "?" + urlencode(
        {
            "client_id": client["client_id"],
            "response_type": "id_token token",
            "redirect_uri": srv.redirect_uri,
            "scope": "openid profile",
            "state": state,
            "nonce": nonce,
        }
    )
    page = page_factory(srv)
    on_sign_in_page(page.goto(url))
    info = page.sign_in(srv.secret(srv.login), srv.secret(srv.password))
    assert info["callbacks"], info["url"]
    assert info["url"].startswith(srv.redirect_uri), info["url"]
    frag = fragment_of(info["url"])
    assert frag.get("state") == state and frag.get("iss") == srv.base_url, frag
    assert "refresh_token" not in frag and "code" not in frag, frag
    srv.remember_secret(frag.get("access_token"))
    assert frag.get("token_type", "").lower() == "bearer"
    claims = verify_access_token(srv, frag["access_token"], client_id=client["client_id"])
    assert claims["sub"] == srv.subject
    id_claims = verify_jwt(srv, frag["id_token"]).claims
    assert id_claims["nonce"] == nonce and id_claims["aud"] == client["client_id"]
    assert id_claims["at_hash"] == at_hash(frag["access_token"])
    # Nothing of the tokens went to the server in the callback request.
    assert "access_token" not in info["callbacks"][0]


def test_bad_authorization_request_shows_an_error_page_not_a_redirect(user_server, client, page_factory):
    srv = user_server
    url = srv.url(ui.AUTHORIZE) + "?" + urlencode(
        {"client_id": client["client_id"], "response_type": "code", "redirect_uri": "https://evil.example/cb", "state": "s"}
    )
    page = page_factory(srv)
    info = page.goto(url)
    assert info["status"] == 400, info["status"]
    assert info["url"].startswith(srv.base_url), f"redirected to an unregistered URI: {info['url']}"
    assert page.text("h1#title") == TEXTS["en"]["bad_request_title"]
    assert page.text(SIGN_IN["error"]), "the error page does not say why"
    ui_page(page, "authorization error page")


def test_consent_page_for_a_third_party_client(user_server, page_factory, screenshots):
    """A client that is not internal asks the user once: allow, then no page."""
    srv = user_server
    ext = srv.create_client(
        unique("thirdparty"),
        client_secret="third-party-secret-e2e",
        authorizedGrantTypes=["authorization_code"],
        redirectURIs=[srv.redirect_uri],
        scope=["openid", "profile"],
    )
    rp = RP(srv, ext, scope="openid profile")
    page = page_factory(srv)
    on_sign_in_page(page.goto(rp.url))
    info = page.sign_in(srv.secret(srv.login), srv.secret(srv.password))
    assert not info["callbacks"] and path_of(info["url"]) == "/ui/auth/consent", info["url"]
    assert [e["text"] for e in page.elements("#scopes li")] == ["openid", "profile"]
    ui_page(page, "consent page", screenshots, srv.flavour, "consent")
    info = page.click("#allow")
    assert len(info["callbacks"]) == 1, info["url"]
    rp.redeem(info["callbacks"][0])
    # Remembered: the next authorization goes straight back.
    again = RP(srv, ext, scope="openid profile")
    info = page.goto(again.url)
    assert len(info["callbacks"]) == 1, f"consent asked again: {info['url']}"
    again.redeem(info["callbacks"][0])


# -- failures, lockout -------------------------------------------------------------


def test_wrong_password_shows_the_generic_error(user_server, client, page_factory, screenshots):
    srv = user_server
    victim = new_user(srv, "right-password-e2e-1")
    rp = RP(srv, client)
    page = page_factory(srv)
    on_sign_in_page(page.goto(rp.url))
    info = page.sign_in(victim["login"], srv.secret("not-the-password-e2e"))
    assert not info["callbacks"]
    assert info["status"] == 401, info["status"]
    on_sign_in_page(info)
    error = page.element(SIGN_IN["error"])
    assert error, "no #error element"
    assert error["text"] == TEXTS["en"]["bad_credentials"], error
    assert error.get("role") == "alert" and error.get("aria-live") == "assertive", error
    # The user name is kept, the password is not.
    assert page.element(SIGN_IN["username"]).get("value") == victim["login"]
    assert not page.element(SIGN_IN["password"]).get("value")
    ui_page(page, "sign-in error page", screenshots, srv.flavour, "sign-in-error")
    # Unknown user and unknown tenant: the very same message.
    for login in (f"{tollgate.DEMO_TENANT}\\{unique('nobody')}", f"{unique('notenant')}\\agent"):
        info = page.sign_in(login, srv.secret("not-the-password-e2e"))
        assert info["status"] == 401
        assert page.text(SIGN_IN["error"]) == TEXTS["en"]["bad_credentials"], login
    # The password field is optional in the form (single-sign-on users leave
    # it empty); for a password directory the server asks for it.
    info = page.sign_in(victim["login"], "")
    assert info["status"] == 400, info["status"]
    assert page.text(SIGN_IN["error"]) == TEXTS["en"]["missing_fields"]
    # The form still works afterwards: the right password signs in.
    info = page.sign_in(victim["login"], victim["password"])
    assert len(info["callbacks"]) == 1, info["url"]
    rp.redeem(info["callbacks"][0])


def test_csrf_token_is_required(user_server, client, page_factory):
    srv = user_server
    rp = RP(srv, client)
    page = page_factory(srv)
    info = page.goto(rp.url)
    on_sign_in_page(info)
    request_id = query_of(info["url"])["request"]
    form = {"username": srv.login, "password": srv.secret(srv.password), "request": request_id, "saml": "false"}
    for bad in ({}, {"csrf_token": "forged-" + generate_token(20)}):
        r = page.fetch(srv.url("/auth/v3/sign-in"), method="POST", form={**form, **bad})
        assert r["status"] == 403, (bad, r["status"])
        assert TEXTS["en"]["csrf"] in r["text"]
        assert "location" not in r["headers"]


@pytest.fixture
def lockout_server(server, tmp_path):
    srv = tollgate.start(
        server.flavour,
        tmp_path,
        tag="lockout",
        extra_args=["--lockout-threshold", str(LOCKOUT_THRESHOLD), "--lockout-duration", f"{LOCKOUT_SECONDS}s"],
    )
    yield srv
    tollgate.stop_and_check(srv)


def test_lockout_after_threshold_and_unlock_after_duration(lockout_server, page_factory, record_delay):
    srv = lockout_server
    client = code_client(srv)
    # A user of its own: the lockout counters live in the ephemeral store,
    # which the serve flavour shares with the other servers of the session.
    victim = new_user(srv, "victim-password-e2e-" + generate_token(6))
    wait_for_sign_in_usable(srv, client, victim["login"], victim["password"])
    page = page_factory(srv)
    on_sign_in_page(page.goto(RP(srv, client).url))
    first_failure = time.monotonic()
    for i in range(LOCKOUT_THRESHOLD):
        info = page.sign_in(victim["login"], srv.secret(f"wrong-password-{i}-e2e"))
        assert info["status"] == 401, (i, info["status"])
        assert page.text(SIGN_IN["error"]) == TEXTS["en"]["bad_credentials"]
    # Locked: even the right password is refused, with its own message.
    info = page.sign_in(victim["login"], victim["password"])
    assert not info["callbacks"], "signed in while locked out"
    assert info["status"] == 429, info["status"]
    assert page.text(SIGN_IN["error"]) == TEXTS["en"]["locked"]
    retry_after = {k.lower(): v for k, v in info["headers"].items()}.get("retry-after")
    assert retry_after and 0 < int(retry_after) <= LOCKOUT_SECONDS, info["headers"]
    assert_accessible(page, "lockout page")
    # The password grant is locked too.
    r = password_grant(srv, client, victim["login"], victim["password"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    # Another user is not locked.
    assert password_grant(srv, client, srv.login, srv.password).status_code == 200
    # After the duration the right password works again.
    deadline = first_failure + LOCKOUT_SECONDS + 3
    while True:
        time.sleep(0.5)
        on_sign_in_page(page.goto(RP(srv, client).url))
        info = page.sign_in(victim["login"], victim["password"])
        if info["callbacks"]:
            break
        assert info["status"] == 429, info["status"]
        assert time.monotonic() < deadline, f"still locked {LOCKOUT_SECONDS + 3}s after the first failure"
    record_delay("unlock after the first failure (lockout duration 5 s)", time.monotonic() - first_failure)
    assert time.monotonic() - first_failure >= LOCKOUT_SECONDS - 1, "unlocked before the duration"


# -- password changes ----------------------------------------------------------------


def test_forced_password_change_at_first_sign_in(user_server, client, page_factory, screenshots):
    srv = user_server
    user = new_user(srv, None)
    assert user["temporary"], "a user created without a password gets a temporary one"
    rp = RP(srv, client)
    page = page_factory(srv)
    on_sign_in_page(page.goto(rp.url))
    info = page.sign_in(user["login"], user["temporary"])
    assert not info["callbacks"], "signed in with an expired (temporary) password"
    assert path_of(info["url"]) == ui.CHANGE_PASSWORD_PAGE, info["url"]
    assert query_of(info["url"]).get("change"), info["url"]
    assert page.text(CHANGE["notice"]) == TEXTS["en"]["expired_notice"]
    assert page.element(CHANGE["notice"]).get("role") == "status"
    assert field(info, "change-password-form", "change"), info["forms"]
    assert field(info, "change-password-form", "csrf_token"), info["forms"]
    assert label_of(page, "new-password") == TEXTS["en"]["new_password"]
    assert label_of(page, "confirm-password") == TEXTS["en"]["confirm_password"]
    assert page.text(CHANGE["submit"]) == TEXTS["en"]["change_submit"]
    ui_page(page, "change-password page (forced)", screenshots, srv.flavour, "change-password")
    has_old = page.element(CHANGE["old"]) is not None

    new_password = srv.secret("first-own-password-e2e-" + generate_token(6))
    # Two different new passwords: refused, nothing changed.
    info = page.change_password(user["temporary"] if has_old else None, new_password, confirm=new_password + "x")
    assert info["status"] == 400, info["status"]
    assert page.text(CHANGE["error"]) == TEXTS["en"]["mismatch"]
    assert_accessible(page, "change-password error page")
    save_screenshot(page, screenshots, srv.flavour, "change-password-error")

    info = page.change_password(user["temporary"] if has_old else None, new_password)
    # The pending authorization completes.
    assert len(info["callbacks"]) == 1, f"{info['url']} {info.get('text', '')[:300]}"
    token = rp.redeem(info["callbacks"][0])
    claims = verify_access_token(srv, token["access_token"], client_id=client["client_id"])
    assert claims["sub"].endswith(":" + user["name"])
    # The new password works, the temporary one does not.
    assert password_grant(srv, client, user["login"], new_password).status_code == 200
    assert password_grant(srv, client, user["login"], user["temporary"]).status_code == 400


def test_voluntary_password_change(user_server, client, page_factory):
    srv = user_server
    old = "old-password-e2e-" + generate_token(6)
    user = new_user(srv, old)
    wait_for_sign_in_usable(srv, client, user["login"], old)
    page = page_factory(srv)
    # A plain sign-in, without an authorization request.
    on_sign_in_page(page.goto(srv.url(ui.SIGN_IN_PAGE)))
    info = page.sign_in(user["login"], old)
    assert path_of(info["url"]) == ui.SIGNED_IN_PAGE, info["url"]
    info = page.goto(srv.url(ui.CHANGE_PASSWORD_PAGE))
    assert info["status"] == 200 and path_of(info["url"]) == ui.CHANGE_PASSWORD_PAGE, info["url"]
    assert label_of(page, "old-password") == TEXTS["en"]["current_password"]
    assert not field(info, "change-password-form", "change")
    ui_page(page, "change-password page (voluntary)")
    new = srv.secret("new-password-e2e-" + generate_token(6))
    # A wrong current password is refused.
    info = page.change_password(srv.secret("not-my-password-e2e"), new)
    assert info["status"] == 403, info["status"]
    assert page.text(CHANGE["error"]) == TEXTS["en"]["refused"]
    info = page.change_password(old, new)
    assert info["status"] == 200, info["status"]
    assert page.text(CHANGE["notice"]) == TEXTS["en"]["changed_notice"]
    assert password_grant(srv, client, user["login"], new).status_code == 200
    assert password_grant(srv, client, user["login"], old).status_code == 400


# -- sign-out ------------------------------------------------------------------------


def signed_in_page(srv, client, page_factory, accept_language=None):
    rp = RP(srv, client)
    page = page_factory(srv, accept_language)
    on_sign_in_page(page.goto(rp.url))
    info = page.sign_in(srv.secret(srv.login), srv.secret(srv.password))
    assert info["callbacks"], info["url"]
    page.token = rp.redeem(info["callbacks"][0])
    assert page.cookie(ui.SESSION_COOKIE)
    return page


def test_sign_out_redirects_to_a_registered_uri(user_server, client, page_factory):
    srv = user_server
    page = signed_in_page(srv, client, page_factory)
    assert page.fetch(srv.url("/auth/v3/ping"))["status"] == 200
    # An unregistered redirect URI is refused and the session is kept.
    info = page.goto(srv.url(ui.SIGN_OUT) + "?" + urlencode({"redirectUri": "https://evil.example/after"}))
    assert info["status"] == 400 and not info["url"].startswith("https://evil.example"), info["url"]
    # A registered one: the browser ends up there, signed out.
    target = srv.redirect_uri
    info = page.goto(srv.url(ui.SIGN_OUT) + "?" + urlencode({"redirectUri": target, "client_id": client["client_id"]}))
    assert info["callbacks"] and info["callbacks"][-1] == target, info["url"]
    assert page.cookie(ui.SESSION_COOKIE) is None, "the session cookie was not cleared"
    assert page.fetch(srv.url("/auth/v3/ping"))["status"] == 403
    # The tokens issued through the session ended with it, refresh included.
    creds = (client["client_id"], client["client_secret"])
    r = http("POST", srv.introspect_url, data={"token": page.token["access_token"]}, auth=creds)
    assert r.status_code == 200 and r.json()["active"] is False, r.text
    r = http("POST", srv.token_url, auth=creds,
             data={"grant_type": "refresh_token", "refresh_token": page.token["refresh_token"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    # The next authorization asks for the password again.
    on_sign_in_page(page.goto(RP(srv, client).url))


def test_signed_out_page(user_server, client, page_factory, screenshots):
    srv = user_server
    page = signed_in_page(srv, client, page_factory)
    info = page.goto(srv.url(ui.SIGN_OUT))
    assert path_of(info["url"]) == ui.SIGNED_OUT_PAGE, info["url"]
    assert info["status"] == 200
    assert page.text("#signed-out") == TEXTS["en"]["signed_out"]
    assert page.text("h1#title") == TEXTS["en"]["signed_out_title"]
    ui_page(page, "signed-out page", screenshots, srv.flavour, "signed-out")
    assert page.cookie(ui.SESSION_COOKIE) is None
    assert page.fetch(srv.url("/auth/v3/ping"))["status"] == 403


def test_rp_initiated_logout_with_id_token_hint(user_server, client, page_factory):
    """OpenID Connect RP-initiated logout at `end_session_endpoint`."""
    srv = user_server
    page = signed_in_page(srv, client, page_factory)
    meta = requests.get(srv.url("/.well-known/openid-configuration"), timeout=10).json()
    end_session = meta["end_session_endpoint"]
    state = generate_token(12)
    url = end_session + "?" + urlencode(
        {"id_token_hint": page.token["id_token"], "post_logout_redirect_uri": srv.redirect_uri, "state": state}
    )
    info = page.goto(url)
    assert info["callbacks"], info["url"]
    assert query_of(info["callbacks"][-1]) == {"state": state}, info["callbacks"]
    assert page.cookie(ui.SESSION_COOKIE) is None
    assert page.fetch(srv.url("/auth/v3/ping"))["status"] == 403
    # Without a valid hint a post-logout URI is refused (no open redirect).
    info = page.goto(end_session + "?" + urlencode({"post_logout_redirect_uri": srv.redirect_uri}))
    assert info["status"] == 400 and not info["callbacks"], info["url"]


def test_rate_limit_on_the_sign_in_form(server, page_factory, tmp_path):
    """A server of its own allowing 3 sign-in posts per IP and minute."""
    # Rate-limit counters are per client IP (127.0.0.1 for the whole suite)
    # and shared by the servers of one Redis: serve gets a database of its own.
    srv = tollgate.start(
        server.flavour, tmp_path, tag="ratelimit", extra_args=["--rate-limit-per-minute", "3"], redis_db=7
    )
    try:
        page = page_factory(srv)
        if time.time() % 60 > 55:  # the window is the calendar minute
            time.sleep(61 - time.time() % 60)
        on_sign_in_page(page.goto(srv.url(ui.SIGN_IN_PAGE)))
        for i in range(3):
            info = page.sign_in(srv.login, srv.secret(f"rate-limited-{i}-e2e"))
            assert info["status"] == 401, (i, info["status"])
        info = page.sign_in(srv.login, srv.secret(srv.password))
        assert info["status"] == 429, info["status"]
        assert page.text(SIGN_IN["error"]) == TEXTS["en"]["rate_limited"]
        retry_after = {k.lower(): v for k, v in info["headers"].items()}.get("retry-after")
        assert retry_after and 0 < int(retry_after) <= 60, info["headers"]
        assert_security_headers(info, "rate-limited answer")
    finally:
        tollgate.stop_and_check(srv)


# -- keyboard, language ----------------------------------------------------------------


def test_keyboard_only_sign_in(user_server, client, page_factory):
    """Tab / Shift+Tab / Enter only: the focus order reaches user name, then
    password, then the submit button, each with a visible focus indicator,
    and Enter signs in."""
    srv = user_server
    rp = RP(srv, client)
    page = page_factory(srv)
    on_sign_in_page(page.goto(rp.url))
    first = page.focused()  # the page may autofocus the user name field
    order = [first["id"] or first["name"]] if first else []
    if first:
        assert page.focus_indicator(), f"no visible focus indicator on {order[0]}"
    for _ in range(12):
        f = page.press("Tab")
        if f is None:
            continue
        key = f["id"] or f["name"] or f["tag"]
        if order and key == order[0]:
            break
        assert f["focusVisible"], f"{key} is focused without :focus-visible"
        assert page.focus_indicator(), f"no visible focus indicator on {key}"
        order.append(key)
    for wanted in ("username", "password", "sign-in"):
        assert wanted in order, f"Tab never reaches #{wanted}: {order}"
    assert order.index("username") < order.index("password") < order.index("sign-in"), order
    # Shift+Tab walks back.
    tab_to(page, "sign-in")
    back = page.press("Shift+Tab")
    assert back and back["id"] == order[order.index("sign-in") - 1], (back, order)
    # Type everything through the keyboard, from the user name field.
    tab_to(page, "username", "Shift+Tab")
    page.type(srv.secret(srv.login))
    tab_to(page, "password")
    page.type(srv.secret(srv.password))
    info = page.press("Enter", navigation=True)
    assert info["callbacks"], f"Enter did not sign in: {info['url']}"
    rp.redeem(info["callbacks"][0])


def test_french_ui(user_server, client, page_factory, screenshots):
    srv = user_server
    fr = TEXTS["fr"]
    rp = RP(srv, client)
    page = page_factory(srv, accept_language="fr-FR,fr;q=0.9,en;q=0.5")
    info = page.goto(rp.url)
    on_sign_in_page(info)
    assert info["lang"] == "fr", info["lang"]
    assert info["title"].startswith(fr["sign_in_title"]), info["title"]
    assert page.text("h1#title") == fr["sign_in_title"]
    assert label_of(page, "username") == fr["username"]
    assert label_of(page, "password") == fr["password"]
    assert label_of(page, "tenant") == fr["tenant"]
    assert page.text(SIGN_IN["submit"]) == fr["submit"]
    ui_page(page, "French sign-in page", screenshots, srv.flavour, "sign-in-fr")
    info = page.sign_in(srv.login, srv.secret("mauvais-mot-de-passe-e2e"))
    assert info["status"] == 401
    assert info["lang"] == "fr"
    assert page.text(SIGN_IN["error"]) == fr["bad_credentials"]
    assert_accessible(page, "French error page")
    info = page.sign_in(srv.secret(srv.login), srv.secret(srv.password))
    assert info["callbacks"], info["url"]
    rp.redeem(info["callbacks"][0])
    info = page.goto(srv.url(ui.SIGN_OUT))
    assert path_of(info["url"]) == ui.SIGNED_OUT_PAGE and info["lang"] == "fr"
    assert page.text("#signed-out") == fr["signed_out"]
    assert page.text("h1#title") == fr["signed_out_title"]
    assert_accessible(page, "French signed-out page")


def test_ui_pages_cannot_be_framed_and_do_not_sniff(user_server):
    """The same headers without a browser, on each UI page answer."""
    srv = user_server
    for path in (ui.SIGN_IN_PAGE, ui.SIGNED_OUT_PAGE, ui.CHANGE_PASSWORD_PAGE + "?change=unknown"):
        r = http("GET", srv.url(path), headers={"Accept-Language": "en"})
        assert r.status_code < 500, (path, r.status_code)
        assert_security_headers({"headers": dict(r.headers), "url": path}, path)
        assert r.headers["Content-Type"].startswith("text/html"), path
        assert not re.search(r"<script\b", r.text, re.I), f"{path} has a script element"
        assert not re.search(r"\sstyle=", r.text, re.I), f"{path} has an inline style attribute"
    css = http("GET", srv.url("/ui/auth/static/tollgate.css"))
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
