"""Authorization code + PKCE with a third-party relying party: authlib's
OpenID Connect client (the code its Flask/Django/Starlette integrations run),
configured from discovery. The sign-in form is driven with `requests` and an
HTML parser, as a browser without JavaScript would (the UI needs none).

authlib validates the ID token: signature via `jwks_uri`, `iss`, `aud`,
`exp`/`iat`, `nonce`, `at_hash` (and `c_hash` when present)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from helpers import code_client, http, relying_party, verify_access_token


class Forms(HTMLParser):
    """The forms of a page: id, action, method and their input values."""

    def __init__(self):
        super().__init__()
        self.forms: dict[str, dict] = {}
        self._current = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._current = {"action": a.get("action"), "method": (a.get("method") or "get").lower(), "fields": {}}
            self.forms[a.get("id") or f"form{len(self.forms)}"] = self._current
        elif tag in ("input", "button") and self._current is not None and a.get("name"):
            self._current["fields"][a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def forms_of(html: str) -> dict[str, dict]:
    p = Forms()
    p.feed(html)
    return p.forms


def follow_to_redirect_uri(session: requests.Session, r: requests.Response, redirect_uri: str, limit: int = 5) -> str | requests.Response:
    """Follows redirects until one points at the relying party (returned as a
    URL, never fetched) or a page answers (returned as the response)."""
    for _ in range(limit):
        if r.status_code not in (301, 302, 303, 307, 308):
            return r
        location = urljoin(r.url, r.headers["Location"])
        if location.startswith(redirect_uri):
            return location
        r = session.get(location, allow_redirects=False, timeout=15)
    raise AssertionError("too many redirects")


def sign_in_with_form(srv, authorization_url: str, login: str, password: str, browser: requests.Session | None = None) -> str:
    """GET the authorization URL, fill the sign-in form, return the callback
    URL. `browser` keeps the session cookie for what follows."""
    with contextlib.nullcontext(browser) if browser else requests.Session() as s:
        page = follow_to_redirect_uri(s, s.get(authorization_url, allow_redirects=False, timeout=15), srv.redirect_uri)
        assert isinstance(page, requests.Response), f"signed in without a form: {page}"
        assert page.status_code == 200, page.text
        assert urlsplit(page.url).path == "/ui/auth/sign-in", page.url
        form = forms_of(page.text)["sign-in-form"]
        assert {"request", "csrf_token"} <= set(form["fields"]), form
        data = {**form["fields"], "username": login, "password": srv.secret(password)}
        r = s.post(urljoin(page.url, form["action"]), data=data, allow_redirects=False, timeout=15)
        assert r.status_code == 303, f"{r.status_code} {r.text[:500]}"
        callback = follow_to_redirect_uri(s, r, srv.redirect_uri)
        assert isinstance(callback, str), f"no redirect to the client: {callback.status_code} {callback.url}"
        return callback


def query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def half_hash(value: str) -> str:
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


@pytest.fixture
def web_rp(user_server):
    client = code_client(user_server)
    return relying_party(
        user_server,
        client["client_id"],
        client["client_secret"],
        client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
    ), client


def test_discovery_advertises_the_authorization_endpoint(user_server):
    meta = requests.get(user_server.url("/.well-known/openid-configuration"), timeout=10).json()
    assert meta["authorization_endpoint"] == user_server.url("/auth/v3/oauth/authorize")
    assert "S256" in meta["code_challenge_methods_supported"]
    assert "code" in meta["response_types_supported"]
    assert "authorization_code" in meta["grant_types_supported"]
    assert meta.get("authorization_response_iss_parameter_supported") is True


def test_authlib_code_flow_with_pkce_and_id_token_validation(user_server, web_rp):
    srv = user_server
    rp, client = web_rp
    # authlib builds the request: state, nonce, code_verifier + S256 challenge.
    req = rp.create_authorization_url(redirect_uri=srv.redirect_uri)
    params = query(req["url"])
    assert params["code_challenge_method"] == "S256" and params["code_challenge"], params
    assert params["nonce"] == req["nonce"]

    callback = sign_in_with_form(srv, req["url"], srv.login, srv.password)
    cb = query(callback)
    assert cb["state"] == req["state"]
    assert cb["iss"] == srv.base_url  # RFC 9207

    token = rp.fetch_access_token(redirect_uri=srv.redirect_uri, code=cb["code"], code_verifier=req["code_verifier"])
    srv.remember_secret(token.get("refresh_token"))
    assert token["token_type"].lower() == "bearer"
    assert token.get("refresh_token") and token.get("id_token")
    # authlib: signature via JWKS, iss from discovery, aud, exp/iat, nonce, at_hash.
    userinfo = rp.parse_id_token(token, nonce=req["nonce"], leeway=5)
    assert userinfo["sub"] == srv.subject
    assert userinfo["aud"] == client["client_id"]
    assert userinfo["iss"] == srv.base_url
    assert userinfo["nonce"] == req["nonce"]
    assert userinfo["at_hash"] == half_hash(token["access_token"])
    if "c_hash" in userinfo:
        assert userinfo["c_hash"] == half_hash(cb["code"])
    assert abs(userinfo["auth_time"] - userinfo["iat"]) < 120
    # A wrong nonce is caught by the same validation.
    with pytest.raises(Exception):
        rp.parse_id_token(token, nonce="not-the-nonce", leeway=5)
    assert verify_access_token(srv, token["access_token"], client_id=client["client_id"])["sub"] == srv.subject
    # The UserInfo endpoint, through authlib.
    info = rp.userinfo(token=token)
    assert info["sub"] == srv.subject
    # Refresh works for the code flow's token.
    with OAuth2Session(client["client_id"], client["client_secret"]) as s:
        again = s.refresh_token(srv.token_url, refresh_token=token["refresh_token"])
    srv.remember_secret(again.get("refresh_token"))
    assert again["access_token"] != token["access_token"]


def test_code_redemption_requires_the_right_verifier(user_server, web_rp):
    srv = user_server
    rp, client = web_rp
    req = rp.create_authorization_url(redirect_uri=srv.redirect_uri)
    code = query(sign_in_with_form(srv, req["url"], srv.login, srv.password))["code"]
    base = {"grant_type": "authorization_code", "code": code, "redirect_uri": srv.redirect_uri}
    auth = (client["client_id"], client["client_secret"])
    for bad in ({}, {"code_verifier": generate_token(48)}):
        r = http("POST", srv.token_url, data={**base, **bad}, auth=auth)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", (bad, r.text)


def test_code_reuse_revokes_the_first_tokens(user_server, web_rp):
    srv = user_server
    rp, client = web_rp
    req = rp.create_authorization_url(redirect_uri=srv.redirect_uri)
    code = query(sign_in_with_form(srv, req["url"], srv.login, srv.password))["code"]
    token = rp.fetch_access_token(redirect_uri=srv.redirect_uri, code=code, code_verifier=req["code_verifier"])
    srv.remember_secret(token.get("refresh_token"))
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert http("GET", srv.url("/auth/v3/ping"), headers=bearer).status_code == 200
    r = http(
        "POST",
        srv.token_url,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": srv.redirect_uri, "code_verifier": req["code_verifier"]},
        auth=(client["client_id"], client["client_secret"]),
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    assert http("GET", srv.url("/auth/v3/ping"), headers=bearer).status_code == 403
    r = http(
        "POST",
        srv.token_url,
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(client["client_id"], client["client_secret"]),
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text


def test_public_client_needs_pkce(user_server):
    srv = user_server
    c = srv.create_client(
        clientType="PUBLIC",
        authorizedGrantTypes=["authorization_code", "refresh_token"],
        redirectURIs=[srv.redirect_uri],
        internalClient=True,
        scope=["*"],
    )
    url = srv.url("/auth/v3/oauth/authorize")
    r = http(
        "GET",
        url,
        params={"client_id": c["client_id"], "response_type": "code", "redirect_uri": srv.redirect_uri, "state": "st", "scope": "openid"},
    )
    assert r.status_code in (302, 303), r.text
    location = r.headers["Location"]
    assert location.startswith(srv.redirect_uri)
    assert query(location)["error"] == "invalid_request" and query(location)["state"] == "st"
    # With PKCE a public client completes the flow (auth method `none`).
    rp = relying_party(srv, c["client_id"], None, client_kwargs={"scope": "openid", "code_challenge_method": "S256", "token_endpoint_auth_method": "none"})
    req = rp.create_authorization_url(redirect_uri=srv.redirect_uri)
    code = query(sign_in_with_form(srv, req["url"], srv.login, srv.password))["code"]
    token = rp.fetch_access_token(redirect_uri=srv.redirect_uri, code=code, code_verifier=req["code_verifier"])
    srv.remember_secret(token.get("refresh_token"))
    assert rp.parse_id_token(token, nonce=req["nonce"], leeway=5)["aud"] == c["client_id"]


def _fresh_session(srv, client) -> tuple[requests.Session, callable]:
    """A requests session signed in through the form; returns it and an
    `authorize(**params)` that answers the sign-in page (a response) or the
    callback (a URL)."""
    s = requests.Session()

    def authorize(**params):
        p = {"client_id": client["client_id"], "response_type": "code", "redirect_uri": srv.redirect_uri, "state": "st", "scope": "openid"}
        p.update(params)
        r = s.get(srv.url("/auth/v3/oauth/authorize"), params=p, allow_redirects=False, timeout=15)
        return follow_to_redirect_uri(s, r, srv.redirect_uri)

    page = authorize()
    form = forms_of(page.text)["sign-in-form"]
    r = s.post(
        urljoin(page.url, form["action"]),
        data={**form["fields"], "username": srv.login, "password": srv.secret(srv.password)},
        allow_redirects=False,
        timeout=15,
    )
    assert isinstance(follow_to_redirect_uri(s, r, srv.redirect_uri), str)
    return s, authorize


def test_prompt_login_and_max_age_ask_for_the_password_again(user_server):
    srv = user_server
    client = code_client(srv)
    s, authorize = _fresh_session(srv, client)
    with s:
        assert isinstance(authorize(), str), "the session signs in without a form"
        assert isinstance(authorize(prompt="login"), requests.Response), "prompt=login must show the form"
        time.sleep(2.1)
        assert isinstance(authorize(max_age="60"), str)
        assert isinstance(authorize(max_age="1"), requests.Response), "a 2 s old sign-in is older than max_age=1"


def test_max_age_zero_always_asks_for_the_password(user_server):
    srv = user_server
    client = code_client(srv)
    time.sleep(1.02 - time.time() % 1)  # sign in and ask within one second
    s, authorize = _fresh_session(srv, client)
    with s:
        assert isinstance(authorize(max_age="0"), requests.Response), "max_age=0 issued a code without re-authentication"
