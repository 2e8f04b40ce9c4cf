"""Scenario 5b: a slow Redis (standalone), behind a fault proxy of its own:
200 ms added to every command, then a black hole (connections accepted,
nothing answered), then back to normal. Both Tollgate processes are
restarted on the proxy's address for this scenario and put back on Redis
directly afterwards.

Rules (those of scenario 5): answers keep within the bound (a timeout, not a
hang), no 500, 503 with `Retry-After`; readiness turns unready during the
black hole and ready again after; memory (RSS) and open descriptors stay
bounded; recovery without restart."""

from __future__ import annotations

import time

import pytest

from deploy import Proxy
from scenario import Sampler, finish, missing_retry_after, not_unavailable, run_outage, server_errors, slow
from test_5_slow_database import DELAY_MS, FD_GROWTH, MIN_BLACKHOLE_S, RSS_GROWTH_MB, _readiness_summary, _resources


@pytest.fixture(scope="module")
def proxy(dep):
    p = Proxy(dep.redis.port, dep.workdir, name="redis-proxy")
    dep.extra.append(p)
    dep.use_redis(dep.redis.url.replace(f":{dep.redis.port}", f":{p.port}"))
    yield p
    dep.use_redis(dep.redis.url)
    p.stop()
    dep.extra.remove(p)


@pytest.fixture(scope="module")
def outcome(dep, settings, proxy):
    marks = {}
    phases = {}

    def fault():
        # After the warm-up: the processes were just restarted on the proxy, and a
        # fresh process grows under its first load whatever Redis does.
        marks["start"] = _resources(dep)
        proxy.mode("delay", DELAY_MS)
        phases["delay"] = time.monotonic()
        time.sleep(settings.outage / 2)
        marks["after delay"] = _resources(dep)
        proxy.mode("blackhole")
        phases["blackhole"] = time.monotonic()

    def restore():
        marks["after black hole"] = _resources(dep)
        proxy.mode("pass")

    with Sampler(lambda: (dep.ready(0), dep.ready(1))) as readiness:
        o = run_outage(dep, settings, f"Redis +{DELAY_MS} ms, then black hole", fault, restore,
                       during=lambda: time.sleep(max(settings.outage, MIN_BLACKHOLE_S)))
    marks["end"] = _resources(dep)
    o.marks, o.readiness, o.phases = marks, readiness.values, phases
    return finish(o, dep.tenant.contact_center_id, **{f"RSS MB, fds ({k})": v for k, v in marks.items()},
                  readiness=_readiness_summary(o))


def test_no_500_and_no_hang(outcome):
    assert not server_errors(outcome.samples)


def test_an_outage_answers_503_not_a_client_error(outcome):
    assert not not_unavailable(outcome.samples)


def test_every_503_has_retry_after(outcome):
    assert not missing_retry_after(outcome.samples)


def test_every_answer_within_the_bound(outcome, settings):
    assert not slow(outcome.samples, settings.max_latency)


def test_readiness_reflects_the_black_hole(outcome):
    r = _readiness_summary(outcome)
    assert r["unready after black hole s"] is not None, f"readiness stayed 200 during the black hole: {r}"
    assert r["ready again after restore s"] is not None, f"readiness did not come back: {r}"


def test_memory_and_descriptors_stay_bounded(outcome):
    start = outcome.marks["start"]
    for label, now in outcome.marks.items():
        for i, ((rss0, fd0), (rss, fd)) in enumerate(zip(start, now)):
            assert rss - rss0 <= RSS_GROWTH_MB, f"process {i} RSS {rss0} -> {rss} MB at '{label}'"
            assert fd - fd0 <= FD_GROWTH, f"process {i} descriptors {fd0} -> {fd} at '{label}'"


def test_recovers_without_restart(outcome, dep):
    assert outcome.recovered, f"not every request succeeded within {outcome.figures.recover_s}s of the restore"
    assert tuple(s.proc.pid for s in dep.servers) == outcome.pids
