"""The log: JSON lines on stderr, audit events (target `audit`) for the
security-relevant events, and no secret anywhere."""

import json

import pytest
from authlib.integrations.requests_client import OAuth2Session, OAuthError

from helpers import http, password_token


def test_log_is_json_lines(server):
    http("GET", server.url("/.well-known/openid-configuration"))
    lines = [l for l in server.log_text().splitlines() if l.strip()]
    assert lines
    for line in lines:
        record = json.loads(line)
        assert "level" in record and "timestamp" in record


def test_audit_events_for_client_tokens(server, oauth):
    since = server.log_size()
    token = oauth.fetch_token(server.token_url, grant_type="client_credentials")
    oauth.revoke_token(server.revoke_url, token=token["access_token"])
    with OAuth2Session(server.client_id, server.secret("audit-wrong-secret")) as bad, pytest.raises(OAuthError):
        bad.fetch_token(server.token_url, grant_type="client_credentials")
    issued = server.wait_for_audit("token.issued", since=since, client_id=server.client_id)
    assert issued["ip"] == "127.0.0.1"
    assert "client_credentials" in issued["detail"]
    server.wait_for_audit("token.revoked", since=since, client_id=server.client_id)
    failed = server.wait_for_audit("client.auth_failed", since=since, client_id=server.client_id)
    assert "wrong secret" in failed["detail"]
    for e in server.audit_events(since):
        assert e["level"] == "INFO"
        assert e["span"]["request_id"], "audit event without a request id"


def test_audit_events_for_user_tokens(user_server, oauth):
    srv = user_server
    since = srv.log_size()
    first = password_token(srv, session=oauth)
    oauth.refresh_token(srv.token_url, refresh_token=first["refresh_token"])
    with pytest.raises(OAuthError):
        oauth.refresh_token(srv.token_url, refresh_token=first["refresh_token"])
    with OAuth2Session(srv.client_id, srv.client_secret) as s, pytest.raises(OAuthError):
        s.fetch_token(srv.token_url, username=srv.login, password=srv.secret("audit-wrong-password"))
    issued = srv.wait_for_audit("token.issued", since=since, client_id=srv.client_id)
    assert "password" in issued["detail"]
    assert any('"refresh_token"' in e["detail"] for e in srv.audit_events(since) if e["kind"] == "token.issued")
    reused = srv.wait_for_audit("token.refresh_reused", since=since, client_id=srv.client_id)
    assert reused["subject"] == "agent"
    failed = srv.wait_for_audit("user.auth_failed", since=since, client_id=srv.client_id)
    assert failed["contact_center_id"] == "demo"


def test_ops_changes_are_audited(server):
    since = server.log_size()
    c = server.create_client(client_secret="audited-secret-1")
    http("PUT", server.url(f"/auth/v3/ops/clients/{c['client_id']}"), json={"data": {"description": "x"}}, auth=server.ops)
    http("DELETE", server.url(f"/auth/v3/ops/clients/{c['client_id']}"), auth=server.ops)
    http("GET", server.url("/auth/v3/ops/clients"), auth=(server.ops_username, server.secret("audit-bad-ops-pw")))
    for kind in ("client.created", "client.updated", "client.deleted"):
        server.wait_for_audit(kind, since=since, client_id=c["client_id"])
    server.wait_for_audit("ops.auth_failed", since=since)


def test_no_secret_in_the_whole_log(server):
    """Across every test so far (the per-test check covers each test's part)."""
    assert not server.leaked_secrets(), server.leaked_secrets()
    assert server.secrets >= {server.ops_password}


def test_user_token_issue_names_the_user(user_server):
    """An audit record of a token issued to a user says which user and tenant
    (as the refresh-reuse, revocation and failed sign-in records do)."""
    srv = user_server
    since = srv.log_size()
    password_token(srv)
    issued = srv.wait_for_audit("token.issued", since=since, client_id=srv.client_id)
    assert issued["contact_center_id"] == "demo", issued
    assert issued["subject"] in ("agent", "demo:agent"), issued
