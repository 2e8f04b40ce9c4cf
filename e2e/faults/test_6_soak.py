"""Scenario 6: soak. Mixed load (revocations too) for TOLLGATE_FAULTS_SOAK seconds (20 in the
short form, 1800 in the long form) with nothing failing.

Rules: zero errors; RSS and open descriptors flat from the middle to the end
(the first half warms the caches and pools); latency and the rows of the
tables that grow with traffic reported at seven evenly spaced moments (rows
expire with their tokens, families, the change-log and audit retentions,
and the once-a-minute housekeeping prunes them: under the default lifetimes
of days, a run of minutes shows the growth per minute to size a database
by). With TOLLGATE_FAULTS_FLAT_TABLES=1 (bench/tables.sh: lifetimes and
retentions of minutes, so every row expires within the run) each table
must level off: no table grows from the middle third to the last."""

from __future__ import annotations

import os
import time

import pytest

from figures import compute, record
from load import WITH_REVOCATION, Load

#: Growth allowed from the middle to the end: RSS (MB and share), descriptors.
RSS_SLACK_MB, RSS_SLACK_SHARE, FD_SLACK = 16, 0.10, 20
#: Moments the tables are counted (RSS at the first, middle and last).
TABLE_SAMPLES = 7
#: Growth a levelled-off table may still show: load noise (share, rows).
TABLE_SLACK_SHARE, TABLE_SLACK_ROWS = 0.15, 100


@pytest.fixture(scope="module")
def outcome(dep, settings):
    if settings.soak <= 0:
        pytest.skip("TOLLGATE_FAULTS_SOAK=0")
    marks, tables = {}, {}
    memory_at = {0: "start", TABLE_SAMPLES // 2: "middle", TABLE_SAMPLES - 1: "end"}

    load = Load(dep.targets, dep.tenant, settings.rate, weights=WITH_REVOCATION)
    with load:
        t0 = load.now()
        time.sleep(min(2.0, settings.soak / 10))
        for i in range(TABLE_SAMPLES):
            if i:
                time.sleep(settings.soak / (TABLE_SAMPLES - 1))
            tables[f"{load.now() - t0:.0f} s"] = dep.table_rows()
            if i in memory_at:
                marks[memory_at[i]] = [(round(dep.rss_mb(p), 1), dep.fds(p)) for p in range(2)]
    samples = load.since(t0)
    f = compute(f"soak {settings.soak:.0f} s", samples)
    thirds = [samples[i * len(samples) // 3:(i + 1) * len(samples) // 3] for i in range(3)]
    f.extra["p99 s by third"] = [compute("", part).p99_latency_s for part in thirds]
    f.extra["throughput req/s"] = round(len(samples) / (load.now() - t0), 1)
    f.extra.update({f"RSS MB, fds ({k})": v for k, v in marks.items()})
    f.extra.update({f"table rows ({k})": v for k, v in tables.items()})
    f.durable = "not checked (no fault)"
    record(f)
    return {"samples": samples, "marks": marks, "tables": list(tables.values()), "figures": f}


def test_no_errors(outcome):
    assert not [f"{s.op}: {s.status} {s.detail[:100]}" for s in outcome["samples"] if not s.ok][:10]


def test_memory_and_descriptors_flat(outcome):
    middle, end = outcome["marks"]["middle"], outcome["marks"]["end"]
    for i, ((rss0, fd0), (rss, fd)) in enumerate(zip(middle, end)):
        assert rss - rss0 <= max(RSS_SLACK_MB, rss0 * RSS_SLACK_SHARE), f"process {i} RSS {rss0} -> {rss} MB"
        assert fd - fd0 <= FD_SLACK, f"process {i} descriptors {fd0} -> {fd}"


def test_tables_level_off(outcome):
    if os.environ.get("TOLLGATE_FAULTS_FLAT_TABLES") != "1":
        pytest.skip("rows live for days under the default lifetimes; bench/tables.sh runs with minutes")
    counts = outcome["tables"]
    third = len(counts) // 3
    middle, last = counts[third:2 * third], counts[2 * third:]
    for table in counts[0]:
        steady = max(c[table] for c in middle)
        peak = max(c[table] for c in last)
        assert peak <= steady * (1 + TABLE_SLACK_SHARE) + TABLE_SLACK_ROWS, (
            f"{table} still grows: {[c[table] for c in counts]}")
