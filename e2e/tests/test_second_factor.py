"""Second factors (TOTP, docs/browser-sign-in.md) in a real Chromium against
the real binary: a built-in user of a contact center with `secondFactor:
required` enrols at their first sign-in, reading the key off the page as an
authenticator app would (pyotp computes the codes), keeps the recovery codes
shown once, and then signs in with a fresh code; the ID token says
`amr: ["pwd","otp"]`. The password grant is refused for that user.
"""

from __future__ import annotations

import time

import pyotp

import browser as ui
from envapi import EnvApi, envelope_ok, poll, provision_tenant, unique
from helpers import code_client, http, verify_jwt
from test_browser_sign_in import RP, page_factory, path_of, ui_page  # noqa: F401 (fixture)


def required_tenant(srv, client: dict) -> dict:
    """A contact center of its own (the shared demo one stays as it is),
    `secondFactor: required`, with one built-in user (login, password and
    ids); returned once the auth side applies the policy: the password
    grant refuses the user."""
    api = EnvApi(srv.base_url, auth=srv.ops)
    domain = unique("mfa").replace("-", "")
    name, password = "agent", f"pw-{unique('x')}"
    srv.remember_secret(password)
    t = provision_tenant(api, domain, name, password)
    envelope_ok(api.update_contact_center(t["contact_center_id"], secondFactor="required"), 200)
    user = {
        "login": f"{domain}\\{name}",
        "password": password,
        "contact_center_id": t["contact_center_id"],
        "user_id": t["user_id"],
    }

    def refused_for_the_factor():
        r = password_grant(srv, client, user)
        return r.status_code == 400 and "second factor is required" in r.json().get("error_description", "")

    # Slowly: each refusal before the policy arrives counts against this
    # address in the lockout shared with the other tests.
    ok, _ = poll(refused_for_the_factor, interval=0.5)
    assert ok, password_grant(srv, client, user).text
    return user


def password_grant(srv, client: dict, user: dict):
    return http(
        "POST",
        srv.token_url,
        data={"grant_type": "password", "username": user["login"], "password": user["password"]},
        auth=(client["client_id"], client["client_secret"]),
    )


def password_step(page, rp: RP, user: dict) -> dict:
    page.goto(rp.url)
    info = page.sign_in(user["login"], user["password"])
    assert path_of(info["url"]) == "/ui/auth/second-factor", f"{info['url']} {info.get('text', '')[:300]}"
    assert not page.cookie(ui.SESSION_COOKIE), "a session before the code"
    return info


def test_enrol_then_sign_in_with_a_code(user_server, page_factory, screenshots):  # noqa: F811
    srv = user_server
    client = code_client(srv)
    user = required_tenant(srv, client)

    # First sign-in: enrolment.
    rp = RP(srv, client, scope="openid")
    rp.url += "&acr_values=2"
    page = page_factory(srv)
    password_step(page, rp, user)
    ui_page(page, "second-factor enrolment page", screenshots, srv.flavour, "second-factor-enrol")
    key = page.text("#totp-secret")
    assert key and page.text("#totp-uri").startswith("otpauth://totp/"), key
    srv.remember_secret(key)
    totp = pyotp.TOTP(key)
    page.fill("#code", totp.now())
    info = page.click("#verify")
    codes = [e["text"] for e in page.elements("#recovery-codes li")]
    assert len(codes) == 10, info.get("text", "")[:500]
    for c in codes:
        srv.remember_secret(c)
    info = page.click("#continue")
    assert len(info["callbacks"]) == 1, f"no redirect to the client: {info['url']}"
    token = rp.redeem(info["callbacks"][0])
    claims = verify_jwt(srv, token["id_token"]).claims
    assert claims["amr"] == ["pwd", "otp"] and claims["acr"] == "2", claims

    # Second sign-in, in a new browser: a code of the next time step (the
    # current one was taken by the enrolment and is never accepted twice).
    rp = RP(srv, client, scope="openid")
    rp.url += "&acr_values=2"
    page = page_factory(srv)
    password_step(page, rp, user)
    assert page.element("#totp-secret") is None, "no new key once enrolled"
    page.fill("#code", totp.at(time.time() + 30))
    info = page.click("#verify")
    assert len(info["callbacks"]) == 1, f"no redirect to the client: {info['url']}"
    claims = verify_jwt(srv, rp.redeem(info["callbacks"][0])["id_token"]).claims
    assert claims["amr"] == ["pwd", "otp"], claims

    # The password grant never goes around the factor.
    r = password_grant(srv, client, user)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
