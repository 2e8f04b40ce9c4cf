"""OpenID Connect contact centers in a real Chromium against a real OpenID
provider (panva oidc-provider, e2e/idp/oidc, installed by
scripts/provision/oidc-idp.sh): an application's code + PKCE request to
Tollgate, the sign-in page hands the user of an `auth: oidc` contact center
to the provider's login page, and back at Tollgate the application gets
tokens with the contact center, the user and the group-mapped authorities.
Also a just-in-time user, an unknown user refused, and keys rotated at the
provider (restarted with a new signing key first)."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest
import requests

import browser as ui
from browser import SIGN_IN
from envapi import EnvApi
from helpers import code_client, verify_access_token
from test_browser_sign_in import RP, path_of

CLIENT_ID = "tollgate"
CLIENT_SECRET = "oidc-client-secret-" + uuid.uuid4().hex


def need(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: source scripts/provision/oidc-idp.sh (the test command does)")
    return value


class Idp:
    """The provider process; `restart(rotate=True)` signs with a new key."""

    def __init__(self, redirect_uri: str, workdir):
        self.dir = need("TOLLGATE_TEST_OIDC_IDP_DIR")
        self.port = int(need("TOLLGATE_TEST_OIDC_PORT"))
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "oidc-idp.log"
        self.env = dict(
            os.environ,
            OIDC_PORT=str(self.port),
            OIDC_REDIRECT_URI=redirect_uri,
            OIDC_CLIENT_ID=CLIENT_ID,
            OIDC_CLIENT_SECRET=CLIENT_SECRET,
            OIDC_KEYS_FILE=str(workdir / "oidc-keys.json"),
        )
        self.proc = None
        self.start()

    def start(self, rotate: bool = False) -> None:
        env = dict(self.env, OIDC_ROTATE="1" if rotate else "0")

        def spawn():
            with open(self.log, "a") as log:
                self.proc = subprocess.Popen(["node", "server.mjs"], cwd=self.dir, env=env, stdout=log, stderr=log)

        spawn()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                # The fixed port lies in Linux's ephemeral range: another
                # process's outgoing connection may hold it for a moment.
                assert "EADDRINUSE" in self.log.read_text(), self.log.read_text()
                time.sleep(0.5)
                spawn()
                continue
            try:
                if requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        pytest.fail(f"the OpenID provider did not start: {self.log.read_text()}")

    def jwks(self) -> list[dict]:
        return requests.get(f"{self.issuer}/jwks", timeout=5).json()["keys"]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def restart(self, rotate: bool) -> None:
        self.stop()
        self.start(rotate=rotate)


@pytest.fixture
def oidc_tenant(server):
    api = EnvApi(server.base_url, auth=server.ops)
    env = api.create_environment_ok()
    domain = f"oidc{uuid.uuid4().hex[:8]}"
    cc = api.create_contact_center_ok(env["id"], domains=[domain], auth="oidc")
    return api, cc, domain


@pytest.fixture
def idp(server, oidc_tenant, tmp_path):
    # Registered with the contact center's own redirect URI (one per provider).
    _, cc, _ = oidc_tenant
    p = Idp(server.url(f"/auth/v3/sso/oidc/{cc['id']}/callback"), tmp_path)
    yield p
    p.stop()


def provider_settings(idp: Idp, **extra) -> dict:
    return {
        "issuer": idp.issuer, "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET,
        "groupsClaim": "groups",
        "groupAuthorities": [
            {"group": "agents", "authority": "ROLE_AGENT"},
            {"group": "supervisors", "authority": "ROLE_SUPERVISOR"},
        ],
        **extra,
    }


def at_provider_login(page, seconds: float = 10) -> bool:
    """Waits for the provider's login form. A query that lands while the
    hand-off page's refresh navigates fails; that only means "not yet"."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if page.elements("input[name=login]"):
                return True
        except ui.BrowserError:
            pass
        time.sleep(0.2)
    return False


def sign_in_at_provider(srv, page, client, domain: str, login: str) -> tuple[RP, dict]:
    """The application's request → Tollgate's sign-in page → the provider's
    login page → back at Tollgate. The password field of Tollgate's page is
    left empty: these users have no password here."""
    rp = RP(srv, client)
    info = page.goto(rp.url)
    assert path_of(info["url"]) == ui.SIGN_IN_PAGE, info["url"]
    page.fill(SIGN_IN["username"], login)
    page.fill(SIGN_IN["tenant"], domain)
    info = page.click(SIGN_IN["submit"])
    # The hand-off page refreshes to the provider's login page.
    assert at_provider_login(page), f"not at the provider: {page.info()['url']}"
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any-password")
    return rp, page.click("button[type=submit]")


def test_oidc_contact_center_sign_in(server, idp, oidc_tenant, browser, tmp_path):
    api, cc, domain = oidc_tenant
    srv = server
    client = code_client(srv)
    path = f"/contact-centers/{cc['id']}/oidc-provider"

    # auth: oidc before a provider is stored: 503 with Retry-After.
    page = browser.page(redirect_uri=srv.redirect_uri)
    rp = RP(srv, client)
    page.goto(rp.url)
    page.fill(SIGN_IN["username"], "oidc-alice")
    page.fill(SIGN_IN["tenant"], domain)
    info = page.click(SIGN_IN["submit"])
    assert info["status"] == 503, info
    page.close()

    r = api.call("PUT", path, provider_settings(idp))
    assert r.status_code == 200, r.text
    view = r.json()["data"]
    assert view["clientSecretSet"] is True and CLIENT_SECRET not in r.text
    assert view["redirectUri"] == srv.url(f"/auth/v3/sso/oidc/{cc['id']}/callback")
    r = requests.post(srv.url("/auth/v3/auth-scheme"), json={"data": {"tenant": domain}}, timeout=10)
    assert r.json()["data"]["scheme"] == "oidc", r.text

    # A user the contact center knows.
    api.create_user_ok(cc["id"], "oidc-alice")
    page = browser.page(redirect_uri=srv.redirect_uri)
    rp, info = sign_in_at_provider(srv, page, client, domain, "oidc-alice")
    assert len(info["callbacks"]) == 1, f"no redirect to the application: {info['url']} {info.get('text', '')[:300]}"
    claims = verify_access_token(srv, rp.redeem(info["callbacks"][0])["access_token"], client_id=client["client_id"])
    assert claims["contact_center_id"] == cc["id"]
    assert claims["user_name"] == "oidc-alice"
    assert {"ROLE_AGENT", "ROLE_SUPERVISOR"} <= set(claims["authorities"]), claims
    page.close()

    # Unknown, with just-in-time users off: refused with the error page.
    page = browser.page(redirect_uri=srv.redirect_uri)
    _, info = sign_in_at_provider(srv, page, client, domain, "oidc-bob")
    assert not info["callbacks"], info["callbacks"]
    assert info["status"] == 403, info
    assert page.text("#error"), info
    srv.wait_for_audit("user.auth_failed", contact_center_id=cc["id"])
    page.close()

    # Just-in-time users on: created from the provider's claims.
    r = api.call("PUT", path, {**provider_settings(idp, justInTime=True), "clientSecret": None, "version": view["version"]})
    assert r.status_code == 200, r.text
    view = r.json()["data"]
    page = browser.page(redirect_uri=srv.redirect_uri)
    rp, info = sign_in_at_provider(srv, page, client, domain, "oidc-bob")
    assert len(info["callbacks"]) == 1, f"{info['url']} {info.get('text', '')[:300]}"
    claims = verify_access_token(srv, rp.redeem(info["callbacks"][0])["access_token"], client_id=client["client_id"])
    assert claims["user_name"] == "oidc-bob" and claims["contact_center_id"] == cc["id"]
    assert "ROLE_AGENT" in claims["authorities"]
    users = api.call("GET", f"/contact-centers/{cc['id']}/users").json()["data"]["users"]
    bob = next(u for u in users if u["userName"] == "oidc-bob")
    assert bob["firstName"] == "Bob" and bob["email"] == "bob@oidc.example", bob
    page.close()

    # The provider rotates its keys: the next sign-in is signed by a key
    # Tollgate has not seen, which it fetches.
    old = {k["kid"] for k in idp.jwks()}
    idp.restart(rotate=True)
    new = [k["kid"] for k in idp.jwks()]
    assert new[0] not in old
    time.sleep(6)  # past Tollgate's bound on fetching the provider's keys again
    page = browser.page(redirect_uri=srv.redirect_uri)
    rp, info = sign_in_at_provider(srv, page, client, domain, "oidc-alice")
    assert len(info["callbacks"]) == 1, f"{info['url']} {info.get('text', '')[:300]}"
    claims = verify_access_token(srv, rp.redeem(info["callbacks"][0])["access_token"], client_id=client["client_id"])
    assert claims["user_name"] == "oidc-alice"
    page.close()
