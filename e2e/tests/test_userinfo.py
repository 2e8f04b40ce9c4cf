"""`/auth/v3/userinfo` (the original's CloudUserDetails) and the OpenID
Connect UserInfo endpoint (OpenIdUserInfo): the models' required fields and
types, authorities as UserRole objects, and errors in the envelope."""

import pytest

from helpers import bearer, http, password_token, verify_jwt


def test_cloud_user_details(user_server):
    srv = user_server
    token = password_token(srv)
    r = http("GET", srv.url("/auth/v3/userinfo"), headers=bearer(token))
    assert r.status_code == 200
    body = r.json()
    for key in ("username", "authorities", "cmeUserName", "contactCenterId", "environmentId", "dbid", "properties"):
        assert key in body, key
    assert body["cmeUserName"] == "agent"
    assert body["contactCenterId"] == srv.contact_center_id
    assert body["environmentId"] == srv.environment_id
    assert_user_roles(body["authorities"])
    assert "ROLE_AGENT" in [role["name"] for role in body["authorities"]]
    assert isinstance(body["dbid"], int)
    assert isinstance(body["properties"], dict)
    assert all(isinstance(v, str) for v in body["properties"].values())
    # System-wide unique: contact center, DBID and the user's name.
    assert body["username"] == f"{srv.contact_center_id}:{body['dbid']}:agent"


def assert_user_roles(authorities):
    """UserRole: `{"name": string, "privileges": [string]}`."""
    assert isinstance(authorities, list) and authorities
    for role in authorities:
        assert isinstance(role["name"], str)
        assert isinstance(role["privileges"], list)
        assert all(isinstance(p, str) for p in role["privileges"])


def test_openid_userinfo(user_server):
    srv = user_server
    token = password_token(srv)
    id_claims = verify_jwt(srv, token["id_token"]).claims
    for method in ("GET", "POST"):
        r = http(method, srv.url("/auth/v3/openid/userinfo"), headers=bearer(token))
        assert r.status_code == 200, method
        body = r.json()
        # OIDC Core 5.3.2: sub MUST match the ID token's sub.
        assert body["sub"] == id_claims["sub"]
        assert body["given_name"] == "Demo"
        assert body["family_name"] == "Agent"
        assert body["name"] == "Demo Agent"
        assert body["email"] == "agent@demo.example"
        assert body["preferred_username"] == "agent"
        # The original's fields are for tokens of scope `*` only; the
        # model's one required field, authorities, is always there.
        assert "contact_center_id" not in body
        assert_user_roles(body["authorities"])
    star = password_token(srv, scope="*")
    body = http("GET", srv.url("/auth/v3/openid/userinfo"), headers=bearer(star)).json()
    assert body["contact_center_id"] == srv.contact_center_id


def test_openid_userinfo_through_authlib(user_server, rp):
    srv = user_server
    token = password_token(srv)
    info = rp.userinfo(token=token)
    assert info["sub"] == srv.subject
    assert info["email"] == "agent@demo.example"


def test_userinfo_of_a_client_token(server, oauth):
    token = oauth.fetch_token(server.token_url, grant_type="client_credentials")
    r = http("GET", server.url("/auth/v3/userinfo"), headers=bearer(token))
    assert r.status_code == 200
    assert r.json()["username"] == server.client_id
    # No user behind the token: the OpenID endpoint refuses it.
    r = http("GET", server.url("/auth/v3/openid/userinfo"), headers=bearer(token))
    assert r.status_code == 403
    assert r.json()["status"] == {"code": 403, "message": r.json()["status"]["message"], "detail": {"error": "insufficient_scope"}}


@pytest.mark.parametrize("path", ["/auth/v3/userinfo", "/auth/v3/openid/userinfo"])
@pytest.mark.parametrize("auth", [None, "Bearer not-a-token", "Basic Zm9vOmJhcg=="])
def test_userinfo_without_a_good_token(server, path, auth):
    headers = {"Authorization": auth} if auth else {}
    r = http("GET", server.url(path), headers=headers)
    assert r.status_code == 401
    assert r.headers.get("www-authenticate", "").lower().startswith("bearer")
    status = r.json()["status"]
    assert status["code"] == 401 and isinstance(status["message"], str)
    assert status["detail"] == {"error": "invalid_token"}
