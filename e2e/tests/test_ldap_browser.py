"""Browser flows of an LDAP contact center's users in a real Chromium, against
the real binary and the real slapd of scripts/provision/ldap.sh: sign-in with
authorization code + PKCE (authlib as the relying party), a voluntary password
change, the forced change of a user whose password was reset (ppolicy
pwdReset), and a locked account.

slapd is shared by both server flavours and by the Rust directory tests, so
these tests use their own seeded users (carol, renew) and put them back as
the directory's admin afterwards."""

from __future__ import annotations

import subprocess

import pytest
from authlib.common.security import generate_token

import browser as ui
from browser import CHANGE, SIGN_IN, TEXTS
from helpers import bearer, code_client, http, verify_access_token, verify_jwt
from test_browser_sign_in import RP, on_sign_in_page, page_factory, password_grant, path_of  # noqa: F401
from test_ldap import directory, ldap_tenant, need  # noqa: F401


@pytest.fixture
def ldap_cc(server, ldap_tenant):  # noqa: F811
    """An LDAP contact center on slapd (LDAPS, search-then-bind)."""
    api, cc, domain = ldap_tenant
    r = api.call("PUT", f"/contact-centers/{cc['id']}/directory", directory(need("TOLLGATE_TEST_LDAP_BASE"), need("TOLLGATE_TEST_LDAPS_URL")))
    assert r.status_code == 200, r.text
    return cc, domain


def reset_as_admin(uid: str, must_change: bool) -> None:
    """Puts a seeded user back: password `<uid>-password`, and pwdReset set
    (must change) or cleared."""
    base = need("TOLLGATE_TEST_LDAP_BASE")
    # An admin's change sets pwdReset itself (ppolicy pwdMustChange); replacing
    # it in the same request decides either way.
    reset = "replace: pwdReset\npwdReset: TRUE\n" if must_change else "replace: pwdReset\n"
    ldif = f"dn: uid={uid},ou=people,{base}\nchangetype: modify\nreplace: userPassword\nuserPassword: {uid}-password\n-\n{reset}"
    r = subprocess.run(
        ["ldapmodify", "-x", "-H", need("TOLLGATE_TEST_LDAP_URL"), "-D", need("TOLLGATE_TEST_LDAP_ADMIN_DN"), "-w", need("TOLLGATE_TEST_LDAP_ADMIN_PASSWORD")],
        input=ldif.encode(),
        capture_output=True,
        timeout=30,
    )
    assert r.returncode == 0, f"resetting {uid} in slapd: {r.stderr.decode()}"


@pytest.fixture
def carol():
    reset_as_admin("carol", must_change=False)
    yield "carol"
    reset_as_admin("carol", must_change=False)


@pytest.fixture
def renew():
    reset_as_admin("renew", must_change=True)
    yield "renew"
    reset_as_admin("renew", must_change=True)


def test_ldap_user_signs_in_through_the_sign_in_page(server, ldap_cc, page_factory):  # noqa: F811
    cc, domain = ldap_cc
    client = code_client(server)
    rp = RP(server, client)
    page = page_factory(server)
    on_sign_in_page(page.goto(rp.url))
    info = page.sign_in(f"{domain}\\alice", "alice-password")
    assert len(info["callbacks"]) == 1, f"{info['url']} {info.get('text', '')[:300]}"
    token = rp.redeem(info["callbacks"][0])
    claims = verify_access_token(server, token["access_token"], client_id=client["client_id"])
    assert claims["sub"] == f"{cc['id']}:alice"
    assert claims["user_name"] == "alice"
    assert claims["contact_center_id"] == cc["id"]
    assert sorted(claims["authorities"]) == ["ROLE_AGENT", "ROLE_SUPERVISOR"]
    assert claims["dbid"] == 1001
    id_claims = verify_jwt(server, token["id_token"]).claims
    assert id_claims["nonce"] == rp.nonce
    # The directory's profile, at userinfo (OIDC Core §5.4: not in the ID
    # token when an access token is issued).
    info = http("GET", server.url("/auth/v3/openid/userinfo"), headers=bearer(token)).json()
    assert info["email"] == "alice@example.org"
    assert info["given_name"] == "Alice"
    assert info["family_name"] == "Liddell"

    # A wrong password shows the generic error, not a directory failure.
    page2 = page_factory(server)
    on_sign_in_page(page2.goto(RP(server, client).url))
    info = page2.sign_in(f"{domain}\\alice", server.secret("not-alices-password"))
    assert info["status"] == 401, info["status"]
    assert page2.text(SIGN_IN["error"]) == TEXTS["en"]["bad_credentials"]


def test_ldap_user_changes_their_password(server, ldap_cc, carol, page_factory):  # noqa: F811
    cc, domain = ldap_cc
    login = f"{domain}\\{carol}"
    old = f"{carol}-password"
    client = code_client(server)
    page = page_factory(server)
    on_sign_in_page(page.goto(server.url(ui.SIGN_IN_PAGE)))
    info = page.sign_in(login, old)
    assert path_of(info["url"]) == ui.SIGNED_IN_PAGE, f"{info['url']} {info.get('text', '')[:300]}"
    info = page.goto(server.url(ui.CHANGE_PASSWORD_PAGE))
    assert info["status"] == 200 and path_of(info["url"]) == ui.CHANGE_PASSWORD_PAGE, info["url"]
    new = server.secret("carol-new-password-" + generate_token(6))
    info = page.change_password(server.secret("not-carols-password"), new)
    assert info["status"] == 403, info["status"]
    assert page.text(CHANGE["error"]) == TEXTS["en"]["refused"]
    info = page.change_password(old, new)
    assert info["status"] == 200, f"{info['status']} {info.get('text', '')[:300]}"
    assert page.text(CHANGE["notice"]) == TEXTS["en"]["changed_notice"]

    # The directory has the new password: it signs in, the old one does not.
    assert password_grant(server, client, login, new).status_code == 200
    assert password_grant(server, client, login, old).status_code == 400
    rp = RP(server, client)
    fresh = page_factory(server)
    on_sign_in_page(fresh.goto(rp.url))
    info = fresh.sign_in(login, new)
    assert len(info["callbacks"]) == 1, info["url"]
    assert verify_access_token(server, rp.redeem(info["callbacks"][0])["access_token"], client_id=client["client_id"])["user_name"] == carol


def test_ldap_user_with_a_reset_password_must_change_it(server, ldap_cc, renew, page_factory):  # noqa: F811
    cc, domain = ldap_cc
    login = f"{domain}\\{renew}"
    client = code_client(server)
    rp = RP(server, client)
    page = page_factory(server)
    on_sign_in_page(page.goto(rp.url))
    info = page.sign_in(login, f"{renew}-password")
    assert not info["callbacks"], "signed in with a password the directory says must change"
    assert path_of(info["url"]) == ui.CHANGE_PASSWORD_PAGE, f"{info['url']} {info.get('text', '')[:300]}"
    assert page.text(CHANGE["notice"]) == TEXTS["en"]["expired_notice"]
    has_old = page.element(CHANGE["old"]) is not None
    new = server.secret("renew-new-password-" + generate_token(6))
    info = page.change_password(f"{renew}-password" if has_old else None, new)
    # The pending authorization completes with the new password in place.
    assert len(info["callbacks"]) == 1, f"{info['url']} {info.get('text', '')[:300]}"
    claims = verify_access_token(server, rp.redeem(info["callbacks"][0])["access_token"], client_id=client["client_id"])
    assert claims["user_name"] == renew
    assert claims["contact_center_id"] == cc["id"]
    assert password_grant(server, client, login, new).status_code == 200
    assert password_grant(server, client, login, f"{renew}-password").status_code == 400


def test_locked_ldap_user_sees_the_disabled_error(server, ldap_cc, page_factory):  # noqa: F811
    cc, domain = ldap_cc
    rp = RP(server, code_client(server))
    page = page_factory(server)
    on_sign_in_page(page.goto(rp.url))
    info = page.sign_in(f"{domain}\\locked", "locked-password")
    assert not info["callbacks"]
    assert info["status"] == 403, info["status"]
    on_sign_in_page(info)
    assert page.text(SIGN_IN["error"]) == TEXTS["en"]["disabled"]
