"""Scenario 3: the directory (slapd) of an LDAP contact center stopped
(`kill -9`) during sign-ins, then started again.

Rules: its users' sign-ins answer 503 with `Retry-After`, never
invalid_grant ("wrong password"); nothing else fails; they sign in again
without a restart of Tollgate."""

from __future__ import annotations

import pytest

from load import WITH_LDAP, Load
from scenario import finish, missing_retry_after, not_unavailable, run_outage, server_errors, slow


@pytest.fixture(scope="module")
def outcome(dep, settings):
    load = Load(dep.targets, dep.tenant, settings.rate, weights=WITH_LDAP)
    o = run_outage(dep, settings, "LDAP (slapd) stopped + started", dep.ldap.stop, dep.ldap.start, load=load)
    return finish(o, dep.tenant.contact_center_id)


def test_no_500_and_no_hang(outcome):
    assert not server_errors(outcome.samples)


def test_directory_outage_is_503_with_retry_after_never_invalid_grant(outcome):
    ldap = [s for s in outcome.during() if s.op == "ldap"]
    assert any(s.status == 503 for s in ldap), "no LDAP sign-in failed: the outage was not observed"
    assert not not_unavailable(ldap)
    assert not missing_retry_after(ldap)


def test_other_sign_ins_are_not_affected(outcome):
    others = [s for s in outcome.samples if s.op != "ldap"]
    assert not [f"{s.op}: {s.status}" for s in others if not s.ok]


def test_every_answer_within_the_bound(outcome, settings):
    assert not slow(outcome.samples, settings.max_latency)


def test_recovers_without_restart(outcome, dep):
    assert outcome.recovered, f"not every request succeeded within {outcome.figures.recover_s}s of the restart"
    assert tuple(s.proc.pid for s in dep.servers) == outcome.pids
