"""Scenario 2: Redis killed (`kill -9`) and restarted empty under load.

Rules: sessions may end, but nothing revoked or spent before the loss is
accepted after it (an access token, a refresh family, an authorization
code, and the tokens of a code's first redemption once it is replayed);
lockout holds while Redis is down (each process counts on its own, so
guesses spread over N processes lock at N times the threshold) and counts
in Redis again afterwards; no 500, no hang, 503 with
`Retry-After`, recovery without restart."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
import requests

from deploy import LOCKOUT_THRESHOLD
from scenario import (PROPAGATION_S, finish, grant, inactive_within, introspect_active, missing_retry_after, new_user,
                      not_unavailable, password_grant, run_outage, server_errors, slow)
from test_code_flow import query, sign_in_with_form


def spend_code(dep) -> dict:
    """One authorization code, redeemed: {'code', 'tokens'}."""
    srv, t = dep.servers[0], dep.tenant
    login, password = t.users[0]
    params = {"response_type": "code", "client_id": t.code_client[0], "redirect_uri": t.redirect_uri, "scope": "openid",
              "state": "s"}
    code = query(sign_in_with_form(srv, srv.url("/auth/v3/oauth/authorize?" + urlencode(params)), login, password))["code"]
    r = requests.post(srv.token_url, data={"grant_type": "authorization_code", "code": code,
                                           "redirect_uri": t.redirect_uri}, auth=t.code_client, timeout=30)
    assert r.status_code == 200, r.text
    return {"code": code, "tokens": r.json()}


def revoke(dep, token: str, hint: str) -> None:
    r = requests.post(dep.servers[0].revoke_url, data={"token": token, "token_type_hint": hint},
                      auth=dep.tenant.client, timeout=30)
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def outcome(dep, settings):
    srv, client = dep.servers[0], dep.tenant.client
    login, password = new_user(srv)
    revoked_access = password_grant(srv.base_url, client, login, password).json()["access_token"]
    revoke(dep, revoked_access, "access_token")
    revoked_refresh = password_grant(srv.base_url, client, login, password).json()["refresh_token"]
    revoke(dep, revoked_refresh, "refresh_token")
    spent = spend_code(dep)
    guesser, guesser_password = new_user(srv)
    during_answers, right_after_guesses = [], []

    def during():
        # Guesses spread over both processes, then the right password at each.
        def guess(i):
            return password_grant(dep.servers[i % 2].base_url, client, guesser, "wrong-password", "203.0.113.50")

        with ThreadPoolExecutor(4) as pool:
            during_answers.extend(r.status_code for r in pool.map(guess, range(2 * LOCKOUT_THRESHOLD)))
        for srv in dep.servers:
            r = password_grant(srv.base_url, client, guesser, guesser_password, "203.0.113.50")
            right_after_guesses.append((r.status_code, r.text))

    o = run_outage(dep, settings, "Redis kill -9 + restart (empty)", dep.redis.kill9, dep.redis.start, during)
    o.revoked_access, o.revoked_refresh, o.spent = revoked_access, revoked_refresh, spent
    o.guesser = (guesser, guesser_password)
    o.during_answers, o.right_after_guesses = during_answers, right_after_guesses
    return finish(o, srv.contact_center_id, wrong_passwords_while_redis_down=during_answers)


def test_no_500_and_no_hang(outcome):
    assert not server_errors(outcome.samples)


def test_every_503_has_retry_after(outcome):
    assert not missing_retry_after(outcome.samples)


def test_an_outage_answers_503_not_a_client_error(outcome):
    assert not not_unavailable(outcome.samples)


def test_every_answer_within_the_bound(outcome, settings):
    assert not slow(outcome.samples, settings.max_latency)


def test_processes_recover_without_restart(outcome, dep):
    assert outcome.recovered, f"not every request succeeded within {outcome.figures.recover_s}s of the restart"
    assert tuple(s.proc.pid for s in dep.servers) == outcome.pids


def test_revoked_access_token_stays_revoked(outcome, dep):
    assert not introspect_active(dep.servers[1].base_url, dep.tenant.client, outcome.revoked_access)


def test_revoked_refresh_family_stays_revoked(outcome, dep):
    r = grant(dep.servers[1].base_url, dep.tenant.client,
              {"grant_type": "refresh_token", "refresh_token": outcome.revoked_refresh})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text


def test_spent_code_is_refused(outcome, dep):
    t = dep.tenant
    r = requests.post(dep.servers[1].token_url, data={"grant_type": "authorization_code", "code": outcome.spent["code"],
                                                      "redirect_uri": t.redirect_uri}, auth=t.code_client, timeout=30)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text


def test_replayed_code_revokes_the_first_redemption(outcome, dep):
    test_spent_code_is_refused(outcome, dep)
    # Answered by the other process: its revocation reaches this one within the propagation bound.
    lag = inactive_within(dep.servers[0].base_url, dep.tenant.client, outcome.spent["tokens"]["access_token"])
    assert lag is not None, f"the first redemption's token still active {PROPAGATION_S} s after the replay"


def test_lockout_holds_while_redis_is_down(outcome):
    assert outcome.during_answers and set(outcome.during_answers) <= {400, 429, 503}, outcome.during_answers
    for status, text in outcome.right_after_guesses:
        locked = status == 429 or (status == 400 and "too many" in text) or status == 503
        assert locked, f"the right password after {len(outcome.during_answers)} guesses over both processes: {status} {text}"


def test_lockout_counts_again_after_the_restart(outcome, dep):
    login, password = outcome.guesser
    for i in range(LOCKOUT_THRESHOLD):
        r = password_grant(dep.servers[i % 2].base_url, dep.tenant.client, login, "wrong-password", "203.0.113.51")
        assert r.status_code == 400, r.text
    r = password_grant(dep.servers[0].base_url, dep.tenant.client, login, password, "203.0.113.51")
    assert r.status_code == 400 and "too many" in r.json().get("error_description", ""), r.text
