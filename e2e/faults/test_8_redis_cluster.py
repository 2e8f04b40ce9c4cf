"""Scenario 8: a Redis cluster primary killed (`kill -9`) under load, its
replica promoted by the cluster itself (three primaries, three replicas,
`cluster-node-timeout` 1 s). Both Tollgate processes are restarted on the
cluster for this scenario (`--redis-url` with the seed nodes) and put back
on the standalone Redis afterwards.

The primary killed is the one holding a guesser's lockout counter, so that
the guesses during the failover meet the missing node. Several revoked
access tokens, revoked families and spent codes are made before, so that
some of their keys are likely on that node too (replication is asynchronous:
the promoted replica may lack the newest writes).

Rules (those of scenario 2): nothing revoked or spent before the failover is
accepted after it, lockout never fails open and counts again afterwards, no
500, no hang, 503 with `Retry-After`, recovery without restart."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from deploy import LOCKOUT_THRESHOLD
from scenario import (PROPAGATION_S, finish, grant, inactive_within, introspect_active, missing_retry_after, new_user,
                      not_unavailable, password_grant, run_outage, server_errors, slow)
from services import RedisCluster
from test_2_redis import revoke, spend_code

#: Of each kind: revoked access tokens, revoked refresh families, spent codes.
SAMPLES = 3


@pytest.fixture(scope="module")
def cluster(dep):
    c = RedisCluster(dep.workdir / "services" / "redis-cluster")
    dep.extra.append(c)
    dep.use_redis(c.urls)
    yield c
    dep.use_redis(dep.redis.url)
    c.stop()
    dep.extra.remove(c)


def _node_of(cluster: RedisCluster, pattern: str) -> int:
    """The primary holding the key matching `pattern`."""
    for port in cluster.primaries():
        if cluster.cli(port, "--scan", "--pattern", pattern).strip():
            return port
    raise AssertionError(f"no primary holds {pattern}")


@pytest.fixture(scope="module")
def outcome(dep, settings, cluster):
    srv, client = dep.servers[0], dep.tenant.client
    login, password = new_user(srv)
    revoked_access, revoked_refresh = [], []
    for _ in range(SAMPLES):
        revoked_access.append(password_grant(srv.base_url, client, login, password).json()["access_token"])
        revoke(dep, revoked_access[-1], "access_token")
        revoked_refresh.append(password_grant(srv.base_url, client, login, password).json()["refresh_token"])
        revoke(dep, revoked_refresh[-1], "refresh_token")
    spent = [spend_code(dep) for _ in range(SAMPLES)]
    guesser, guesser_password = new_user(srv)
    assert password_grant(srv.base_url, client, guesser, "wrong-password", "203.0.113.70").status_code == 400
    victim = _node_of(cluster, f"*lockout:user:*{guesser.split(chr(92))[-1]}")
    replica = cluster.primaries()[victim][0]
    during_answers, right_after_guesses = [], []

    def during():
        # Guesses spread over both processes while the node is gone, then the right password at each.
        def guess(i):
            return password_grant(dep.servers[i % 2].base_url, client, guesser, "wrong-password", "203.0.113.70")

        with ThreadPoolExecutor(4) as pool:
            during_answers.extend(r.status_code for r in pool.map(guess, range(2 * LOCKOUT_THRESHOLD)))
        for s in dep.servers:
            r = password_grant(s.base_url, client, guesser, guesser_password, "203.0.113.70")
            right_after_guesses.append((r.status_code, r.text))
        cluster.await_promoted(replica)

    def restore():
        cluster.start(victim)  # rejoins as a replica of the promoted node, in the background

    o = run_outage(dep, dataclasses.replace(settings, outage=0), "Redis cluster primary kill -9, replica promoted",
                   lambda: cluster.kill9(victim), restore, during)
    o.revoked_access, o.revoked_refresh, o.spent = revoked_access, revoked_refresh, spent
    o.guesser = (guesser, guesser_password)
    o.during_answers, o.right_after_guesses = during_answers, right_after_guesses
    return finish(o, srv.contact_center_id, wrong_passwords_during_failover=during_answers,
                  promoted_after_s=o.figures.outage_s)


def test_no_500_and_no_hang(outcome):
    assert not server_errors(outcome.samples)


def test_every_503_has_retry_after(outcome):
    assert not missing_retry_after(outcome.samples)


def test_an_outage_answers_503_not_a_client_error(outcome):
    assert not not_unavailable(outcome.samples)


def test_every_answer_within_the_bound(outcome, settings):
    assert not slow(outcome.samples, settings.max_latency)


def test_processes_recover_without_restart(outcome, dep):
    assert outcome.recovered, f"not every request succeeded within {outcome.figures.recover_s}s of the restore"
    assert tuple(s.proc.pid for s in dep.servers) == outcome.pids


def test_revoked_access_tokens_stay_revoked(outcome, dep):
    assert not [t for t in outcome.revoked_access
                if introspect_active(dep.servers[1].base_url, dep.tenant.client, t)]


def test_revoked_refresh_families_stay_revoked(outcome, dep):
    for token in outcome.revoked_refresh:
        r = grant(dep.servers[1].base_url, dep.tenant.client, {"grant_type": "refresh_token", "refresh_token": token})
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text


def test_spent_codes_are_refused_and_revoke_the_first_redemption(outcome, dep):
    t = dep.tenant
    for spent in outcome.spent:
        r = requests.post(dep.servers[1].token_url, data={"grant_type": "authorization_code", "code": spent["code"],
                                                          "redirect_uri": t.redirect_uri}, auth=t.code_client, timeout=30)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
        # The replay was answered by the other process: its revocation reaches
        # this one within the propagation bound.
        lag = inactive_within(dep.servers[0].base_url, t.client, spent["tokens"]["access_token"])
        assert lag is not None, f"the first redemption's token still active on the other process {PROPAGATION_S} s " \
                                f"after the replay (answered {r.text})"


def test_lockout_holds_during_the_failover(outcome):
    assert outcome.during_answers and set(outcome.during_answers) <= {400, 429, 503}, outcome.during_answers
    for status, text in outcome.right_after_guesses:
        locked = status == 429 or (status == 400 and "too many" in text) or status == 503
        assert locked, f"the right password after {len(outcome.during_answers) + 1} guesses over both processes: {status} {text}"


def test_lockout_counts_after_the_failover(outcome, dep):
    login, password = outcome.guesser
    for i in range(LOCKOUT_THRESHOLD):
        r = password_grant(dep.servers[i % 2].base_url, dep.tenant.client, login, "wrong-password", "203.0.113.71")
        assert r.status_code == 400, r.text
    r = password_grant(dep.servers[0].base_url, dep.tenant.client, login, password, "203.0.113.71")
    assert r.status_code == 400 and "too many" in r.json().get("error_description", ""), r.text
