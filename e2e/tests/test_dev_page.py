"""`tollgate dev` gives a newcomer a browser flow that ends somewhere useful:
the banner prints an authorization URL for the demo client, whose redirect
URI is a dev-only page that redeems the code and shows the token response
and the decoded claims. `serve` has no such page."""

from __future__ import annotations

import html
import json
import re

import requests

from test_code_flow import sign_in_with_form


def section(page: str, element_id: str) -> dict:
    found = re.search(rf'<pre id="{element_id}">(.*?)</pre>', page, re.S)
    assert found, f"no #{element_id} on the page:\n{page[:2000]}"
    return json.loads(html.unescape(found.group(1)))


def test_the_banner_sign_in_ends_on_a_page_with_the_tokens(user_server):
    srv = user_server
    if srv.flavour != "dev":
        assert requests.get(srv.url("/callback"), timeout=10).status_code == 404
        return
    banner = srv.stdout_path.read_text()
    start = re.search(r"Sign in with a browser: (\S+)", banner)
    assert start, banner
    assert start.group(1).startswith(srv.base_url + "/auth/v3/oauth/authorize?"), start.group(1)
    callback = sign_in_with_form(srv, start.group(1), srv.login, srv.password)
    page = requests.get(callback, timeout=10)
    assert page.status_code == 200, page.text[:500]
    tokens = section(page.text, "token-response")
    srv.remember_secret(tokens["access_token"])
    srv.remember_secret(tokens.get("refresh_token"))
    assert section(page.text, "access-claims")["sub"] == srv.subject
    assert section(page.text, "id-claims")["aud"] == srv.client_id
    assert "grant_type=authorization_code" in html.unescape(page.text)
    # The code was spent: a reload says so instead of showing tokens again.
    again = requests.get(callback, timeout=10)
    assert "invalid_grant" in again.text and 'id="token-response"' not in again.text
