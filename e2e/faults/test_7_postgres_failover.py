"""Scenario 7: PostgreSQL restarted gracefully (`pg_ctl restart -m fast`),
then its primary killed (`kill -9`) and a streaming standby promoted, under
load. Tollgate reaches PostgreSQL through one address (proxy.py) that moves
to the promoted standby, as a Kubernetes Service or a managed database
endpoint does.

The standby is synchronous (services.Standby): with asynchronous streaming,
a commit acknowledged just before the primary dies may never reach the
standby, and no rule about durable data could hold across a failover. A burst
of Environment API writes runs across the kill, so that an acknowledged
write the standby lacks would show.

Rules (those of scenario 1): no 500 nor hang, every 503 with `Retry-After`,
recovery without restarting Tollgate, no durable record lost or duplicated
(every 201 of the load and of the burst is on the promoted standby)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from load import Load
from scenario import durable_losses, finish, missing_retry_after, not_unavailable, run_outage, server_errors, slow
from services import Standby


@pytest.fixture(scope="module")
def standby(dep):
    s = Standby(dep.pg, dep.workdir / "services" / "standby")
    dep.extra.append(s)
    return s


@pytest.fixture(scope="module")
def restart(dep, settings, standby):
    # pg_ctl waits until the server is back: the outage is the restart itself.
    o = run_outage(dep, dataclasses.replace(settings, outage=0), "PostgreSQL graceful restart (-m fast)",
                   lambda: dep.pg.pg_ctl("-m", "fast", "-w", "-t", "60", "restart"), lambda: None)
    return finish(o, dep.tenant.contact_center_id)


@pytest.fixture(scope="module")
def failover(dep, settings, standby, restart):
    standby.await_sync()
    primary = dep.pg
    burst = Load(dep.targets, dep.tenant, rate=80, workers=4, weights={"envapi": 1})
    killed = {}

    def fault():
        with burst:
            time.sleep(1.5)
            killed["at"] = time.monotonic()
            primary.kill9()
            time.sleep(0.5)

    def restore():
        standby.promote()
        dep.proxy.mode("upstream", standby.port)
        dep.extra.remove(standby)
        dep.pg = standby  # the durable-data check reads the new primary

    o = run_outage(dep, settings, "PostgreSQL failover to a promoted standby", fault, restore)
    o.created_users += burst.created_users
    o.burst, o.killed_at = burst.samples, killed["at"]
    return finish(o, dep.tenant.contact_center_id, writes_across_the_kill=len(burst.samples),
                  acknowledged_201=len(burst.created_users), last_201_before_the_kill_s=_last_ack(o))


def _last_ack(o) -> float | None:
    """Seconds from the last acknowledged write of the burst to the kill."""
    acks = [s.end for s in o.burst if s.status == 201 and s.end < o.killed_at]
    return round(o.killed_at - max(acks), 3) if acks else None


@pytest.fixture(scope="module", params=["restart", "failover"])
def outcome(request):
    return request.getfixturevalue(request.param)


def test_no_500_and_no_hang(outcome):
    assert not server_errors(outcome.samples + getattr(outcome, "burst", []))


def test_every_503_has_retry_after(outcome):
    assert not missing_retry_after(outcome.samples + getattr(outcome, "burst", []))


def test_an_outage_answers_503_not_a_client_error(outcome):
    assert not not_unavailable(outcome.samples + getattr(outcome, "burst", []))


def test_every_answer_within_the_bound(outcome, settings):
    assert not slow(outcome.samples + getattr(outcome, "burst", []), settings.max_latency)


def test_both_processes_recover_without_restart(outcome, dep):
    assert outcome.recovered, f"not every request succeeded within {outcome.figures.recover_s}s of the restore"
    assert tuple(s.proc.pid for s in dep.servers) == outcome.pids
    assert all(s.proc.poll() is None for s in dep.servers)


def test_no_durable_record_lost_or_duplicated(outcome, dep):
    assert not durable_losses(outcome, dep.tenant.contact_center_id)


def test_the_writes_across_the_kill_were_acknowledged(failover):
    # Otherwise the durable check above proves nothing about the kill.
    # Within a second: writes take up to a second here (p99) on a loaded machine.
    gap = _last_ack(failover)
    assert gap is not None and gap < 1.0, f"the last write acknowledged before the kill: {gap} s before it"
