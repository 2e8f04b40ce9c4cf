"""WebAuthn passkeys as second factors (docs/browser-sign-in.md) in a real
Chromium against the real binary, with Chromium's virtual authenticator
(DevTools protocol: CTAP2, user verification) in place of a security key.

WebAuthn wants a relying party that is a domain in a secure context: the
server here is told its public URL is `http://localhost:<port>` (loopback
HTTP counts as secure), so the relying party id is `localhost`, and the
browser goes there rather than to 127.0.0.1.

A built-in user of a contact center with `secondFactor: required` adds a
passkey at their first sign-in, signs out, and signs in again with the
password and the passkey: the ID token says `amr: ["pwd","hwk"]`, `acr`
"2". An authenticator without that passkey cannot pass; an administrator's
factor reset removes the passkey (the user enrols again).
"""

from __future__ import annotations

import pytest

import browser as ui
import tollgate
from conftest import _stop_and_check
from envapi import EnvApi
from helpers import code_client, verify_jwt
from test_browser_sign_in import RP, page_factory, path_of, ui_page  # noqa: F401 (fixture)
from test_second_factor import password_step, required_tenant

FACTOR_PAGE = "/ui/auth/second-factor"


@pytest.fixture
def localhost_server(server, tmp_path):
    """A server of the session's flavour whose public URL is on `localhost`."""
    srv = tollgate.start(server.flavour, tmp_path, tag="passkeys", host="localhost")
    yield srv
    _stop_and_check(srv)


def auth_url(srv, client: dict) -> RP:
    rp = RP(srv, client, scope="openid")
    rp.url += "&acr_values=2"
    return rp


def passkey_offered(page, ceremony: str) -> None:
    """The page's script found WebAuthn and shows the passkey form."""
    form = page.element("#passkey-form")
    assert form is not None, page.info().get("text", "")[:500]
    assert form["data-ceremony"] == ceremony, form
    assert "hidden" not in form, "the script did not show the passkey form"


def amr_of(srv, rp: RP, info: dict) -> dict:
    assert len(info["callbacks"]) == 1, f"no redirect to the client: {info['url']} {info.get('text', '')[:300]}"
    return verify_jwt(srv, rp.redeem(info["callbacks"][0])["id_token"]).claims


def test_enrol_a_passkey_then_sign_in_with_it(localhost_server, page_factory, screenshots):  # noqa: F811
    srv = localhost_server
    client = code_client(srv)
    user = required_tenant(srv, client)

    # First sign-in: the enrolment page offers a passkey beside the TOTP key.
    page = page_factory(srv)
    page.add_authenticator()
    rp = auth_url(srv, client)
    password_step(page, rp, user)
    ui_page(page, "second-factor enrolment page with a passkey", screenshots, srv.flavour, "second-factor-passkey-enrol")
    assert page.element("#totp-secret") is not None, "TOTP stays offered"
    passkey_offered(page, "create")
    claims = amr_of(srv, rp, page.click("#passkey"))
    assert claims["amr"] == ["pwd", "hwk"] and claims["acr"] == "2", claims
    held = page.authenticator_credentials()
    assert len(held) == 1 and held[0]["rpId"] == "localhost", held

    # Sign out; sign in again with the password and the passkey.
    info = page.goto(srv.url(ui.SIGN_OUT))
    assert path_of(info["url"]) == ui.SIGNED_OUT_PAGE, info["url"]
    assert page.cookie(ui.SESSION_COOKIE) is None
    rp = auth_url(srv, client)
    password_step(page, rp, user)
    ui_page(page, "second-factor page with a passkey")
    assert page.element("#totp-secret") is None, "no enrolment once a passkey is there"
    passkey_offered(page, "get")
    claims = amr_of(srv, rp, page.click("#passkey"))
    assert claims["amr"] == ["pwd", "hwk"] and claims["acr"] == "2", claims
    assert page.authenticator_credentials()[0]["signCount"] >= 2

    # Another authenticator, without the passkey: no session.
    page.goto(srv.url(ui.SIGN_OUT))
    page.remove_authenticator()
    page.add_authenticator()
    rp = auth_url(srv, client)
    password_step(page, rp, user)
    passkey_offered(page, "get")
    info = page.click("#passkey")
    assert path_of(info["url"]) == FACTOR_PAGE and not info["callbacks"], info["url"]
    error = page.element("#passkey-error")
    assert error is not None and "hidden" not in error, error
    assert page.cookie(ui.SESSION_COOKIE) is None

    # The administrator's factor reset removes the passkey: enrol again.
    api = EnvApi(srv.base_url, auth=srv.ops)
    r = api.call("DELETE", f"/contact-centers/{user['contact_center_id']}/users/{user['user_id']}/factors")
    assert r.status_code == 200, r.text
    page = page_factory(srv)
    page.add_authenticator()
    rp = auth_url(srv, client)
    password_step(page, rp, user)
    assert page.element("#totp-secret") is not None, "enrols again"
    passkey_offered(page, "create")
