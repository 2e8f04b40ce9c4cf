"""Scenario 4: one Tollgate process killed (`kill -9`) under load, then
started again.

Rules: the other process keeps serving (not one failure there); the
lockout counters are shared, so guesses spread over both processes lock the
user at the threshold on both."""

from __future__ import annotations

import pytest

from deploy import LOCKOUT_THRESHOLD
from scenario import finish, new_user, password_grant, run_outage, server_errors


@pytest.fixture(scope="module")
def outcome(dep, settings):
    o = run_outage(dep, settings, "one Tollgate process kill -9", lambda: dep.kill_process(1),
                   lambda: dep.start_process(1))
    o.survivor_failures = [f"{s.op}: {s.status} {s.detail[:100]}" for s in o.samples if s.target == 0 and not s.ok]
    return finish(o, dep.tenant.contact_center_id,
                  failures_on_the_survivor=len(o.survivor_failures),
                  failures_on_the_killed_process=sum(1 for s in o.samples if s.target == 1 and not s.ok))


def test_the_other_process_keeps_serving(outcome):
    assert not outcome.survivor_failures


def test_no_500_and_no_hang(outcome):
    assert not server_errors(outcome.samples)


def test_the_restarted_process_serves(outcome, dep):
    assert outcome.recovered


def test_lockout_counters_are_shared_by_the_processes(dep):
    login, password = new_user(dep.servers[0])
    client = dep.tenant.client
    for i in range(LOCKOUT_THRESHOLD):
        r = password_grant(dep.servers[i % 2].base_url, client, login, "wrong-password", "203.0.113.60")
        assert r.status_code == 400 and "too many" not in r.text, f"guess {i + 1}: {r.text}"
    for srv in dep.servers:
        r = password_grant(srv.base_url, client, login, password, "203.0.113.60")
        assert r.status_code == 400 and "too many" in r.json().get("error_description", ""), (
            f"{srv.base_url} accepted the right password after {LOCKOUT_THRESHOLD} guesses spread over both: {r.text}")
