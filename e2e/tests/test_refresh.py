"""Refresh token grant through authlib: rotation on every use, and reuse
detection that revokes the whole family (RFC 9700 4.14.2)."""

import pytest
from authlib.integrations.requests_client import OAuthError

from helpers import bearer, http, password_token, verify_access_token


def test_refresh_rotates(user_server, oauth):
    srv = user_server
    first = password_token(srv, session=oauth)
    second = oauth.refresh_token(srv.token_url, refresh_token=first["refresh_token"])
    assert second["refresh_token"] and second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    claims = verify_access_token(srv, second["access_token"])
    assert claims["sub"] == "demo:agent"
    assert set(claims["scope"].split()) == {"openid", "profile", "email"}
    # authlib keeps the rotated token on the session.
    assert oauth.token["refresh_token"] == second["refresh_token"]
    assert http("GET", srv.url("/auth/v3/ping"), headers=bearer(second)).status_code == 200
    third = oauth.refresh_token(srv.token_url, refresh_token=second["refresh_token"])
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])


def test_refresh_can_narrow_but_not_widen_scope(user_server, oauth):
    srv = user_server
    first = password_token(srv, scope="openid profile", session=oauth)
    narrowed = oauth.refresh_token(srv.token_url, refresh_token=first["refresh_token"], scope="profile")
    assert narrowed["scope"] == "profile"
    with pytest.raises(OAuthError) as e:
        oauth.refresh_token(srv.token_url, refresh_token=narrowed["refresh_token"], scope="profile email")
    assert e.value.error == "invalid_scope"


def test_reuse_revokes_the_family(user_server, oauth):
    srv = user_server
    since = srv.log_size()
    first = password_token(srv, session=oauth)
    second = oauth.refresh_token(srv.token_url, refresh_token=first["refresh_token"])
    # Replaying the already-used token: refused ...
    with pytest.raises(OAuthError) as e:
        oauth.refresh_token(srv.token_url, refresh_token=first["refresh_token"])
    assert e.value.error == "invalid_grant"
    # ... and the newest token of the family is dead too.
    with pytest.raises(OAuthError) as e:
        oauth.refresh_token(srv.token_url, refresh_token=second["refresh_token"])
    assert e.value.error == "invalid_grant"
    srv.wait_for_audit("token.refresh_reused", since=since, client_id=srv.client_id)
    # Introspection agrees.
    r = oauth.introspect_token(srv.introspect_url, token=second["refresh_token"], token_type_hint="refresh_token")
    assert r.json() == {"active": False}


def test_unknown_refresh_token(user_server, oauth):
    with pytest.raises(OAuthError) as e:
        oauth.refresh_token(user_server.token_url, refresh_token="not-a-refresh-token")
    assert e.value.error == "invalid_grant"


def test_refresh_token_is_bound_to_its_client(user_server, session_factory):
    srv = user_server
    other = srv.create_client(client_secret="other-client-secret", authorizedGrantTypes=["password", "refresh_token"])
    theirs = password_token(srv, session=session_factory())
    mine = session_factory(other["client_id"], other["client_secret"])
    with pytest.raises(OAuthError) as e:
        mine.refresh_token(srv.token_url, refresh_token=theirs["refresh_token"])
    assert e.value.error == "invalid_grant"
    # The failed attempt did not burn the owner's token.
    again = session_factory().refresh_token(srv.token_url, refresh_token=theirs["refresh_token"])
    assert again["refresh_token"] != theirs["refresh_token"]
