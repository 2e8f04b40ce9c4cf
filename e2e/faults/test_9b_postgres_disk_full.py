"""Scenario 9b: disk full under PostgreSQL. A PostgreSQL of the scenario's
own has its whole data directory (base, pg_wal, ...) on a small tmpfs; two
`tollgate serve all` processes (and a Redis of their own) use it. Under the
mixed load and a burst of Environment API writes (so the database must
grow), the tmpfs is filled to the last byte, held, then the filler removed.

PostgreSQL refuses a write that needs a new data page with an ERROR (SQLSTATE
53100), and PANICs when the WAL needs a new segment; after a PANIC its crash
recovery may itself find no room and the postmaster stop. Restarting
PostgreSQL then is the platform's job (Kubernetes restarts the pod): the
harness does it once space has returned, and says so in the figures. Tollgate
itself is never restarted.

Rules: the full disk refused writes (otherwise nothing here is proved), a
clear error (503 with `Retry-After`, never a 500, a panic or a hang),
introspection (no SQL) keeps working, recovery without restarting Tollgate,
no record acknowledged (201) is missing, and PostgreSQL's data passes
`pg_amcheck` (heap and every B-tree, after a clean restart) and a full read
of every table.

Needs root (mount); skipped otherwise."""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

import tollgate
from deploy import Deployment
from load import Load, Target
from scenario import (durable_losses, finish, missing_retry_after, not_unavailable, run_outage, server_errors,
                      slow)
from services import Postgres, Redis, _alive

#: The tmpfs: the cluster after provisioning (about 40 MB, with 16 MB WAL
#: segments) and room for the load until the fault, not much more.
SIZE = "96m"
FILLER = "filler.faults"


class TmpfsPostgres(Postgres):
    """scripts/provision/postgres.sh's cluster, its data directory a tmpfs
    mounted first (initdb accepts an empty mount point)."""

    def __init__(self, test_dir: Path):
        data = test_dir / "postgres" / "data"
        data.mkdir(parents=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(data)], check=True)
        subprocess.run(["chown", "postgres:", str(data)], check=True)
        super().__init__(test_dir)

    def fill(self) -> float:
        """Writes a filler until the tmpfs has not one byte left; returns
        the MB the cluster used before."""
        st = os.statvfs(self.data)
        used_mb = (st.f_blocks - st.f_bfree) * st.f_frsize / (1 << 20)
        fd = os.open(self.data / FILLER, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for size in (1 << 20, 4096, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
        finally:
            os.close(fd)
        return round(used_mb, 1)

    def free(self) -> None:
        (self.data / FILLER).unlink(missing_ok=True)

    def running(self) -> bool:
        pid = self.postmaster_pid()
        return pid is not None and _alive(pid)

    def panics(self) -> list[str]:
        return [line for line in self.log.read_text(errors="replace").splitlines() if "PANIC:" in line]

    def switch_wal(self) -> str:
        """Ends WAL segments until one must be created: as when the WAL
        reaches a segment's end while the disk is full (a checkpoint may
        have recycled old segments ahead, up to min_wal_size: 5 of them)."""
        switches = 0
        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as c:
                for switches in range(1, 9):
                    c.execute("SELECT pg_logical_emit_message(false, 'faults', 'x')")
                    c.execute("SELECT pg_switch_wal()")
                    time.sleep(0.2)  # the WAL writer's flush creates (or fails to create) the next segment
            return f"{switches} switches and still running"
        except psycopg.Error as e:
            return f"{switches} switch(es), then: {str(e).splitlines()[0][:100]}"

    def accepting(self) -> bool:
        return subprocess.run([str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                              timeout=10).returncode == 0


class FullDeployment(Deployment):
    """The deployment of deploy.py (two `serve all` processes, provisioned
    the same way, without the LDAP contact center) on a PostgreSQL and a
    Redis of its own, without the proxy."""

    def __init__(self, workdir: Path):
        self.workdir, self.extra = workdir, []
        self.pg = self.redis = None
        self.servers = [None, None]
        try:
            self.pg = TmpfsPostgres(workdir / "services")
            self.redis = Redis(workdir / "services")
            self.redis_url, self.db_url = self.redis.url, self.pg.url
            self.key = secrets.token_hex(32)
            self.ports = [tollgate.free_port(), tollgate.free_port()]
            self.public_url = f"http://127.0.0.1:{self.ports[0]}"
            for i in range(2):
                self.start_process(i)
            self.targets = [Target(s.base_url) for s in self.servers]
            self.tenant = self._provision()
        except BaseException:
            self.stop()
            raise

    def _ldap_tenant(self, srv) -> list:
        return []

    def stop(self) -> None:
        for s in self.servers:
            if s is not None and s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait()
        for dep in (self.redis, self.pg):
            if dep is not None:
                dep.stop()

    def restore_postgres(self, panics_before: int) -> str:
        """After the filler is gone: what PostgreSQL needed to serve again."""
        started = time.monotonic()
        # A postmaster still in crash recovery may yet fail it and stop.
        while self.pg.running():
            if self.pg.accepting():
                how = "restarted its backends itself" if len(self.pg.panics()) > panics_before else "kept running"
                return f"{how}, accepting {time.monotonic() - started:.1f}s after the filler went"
            time.sleep(0.1)
        self.pg.start()
        return "the postmaster had stopped: restarted by the harness"

    def check_data(self) -> dict:
        """A clean restart, `pg_amcheck` of every database (heap, B-trees
        with every heap tuple), and a full read of every table."""
        self.pg.pg_ctl("-m", "fast", "-w", "-t", "60", "restart")
        sockets = self.pg.data.parent / "sockets"
        amcheck = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.pg.bindir / "pg_amcheck"), "-h", str(sockets), "-p",
             str(self.pg.port), "-U", "tollgate", "--all", "--install-missing", "--heapallindexed", "--rootdescend",
             "--progress"],
            capture_output=True, text=True, timeout=300)
        rows = {}
        with psycopg.connect(self.pg.url, autocommit=True, connect_timeout=10) as c:
            tables = [r[0] for r in c.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
            for t in tables:
                rows[t] = len(c.execute(f'SELECT * FROM "{t}"').fetchall())
        checked = re.findall(r"(\d+)/(\d+) relations", amcheck.stderr)
        return {"amcheck_rc": amcheck.returncode, "amcheck_out": (amcheck.stdout + amcheck.stderr)[-1500:],
                "amcheck_relations": int(checked[-1][0]) if checked else 0, "rows": rows}


@pytest.fixture(scope="module")
def full():
    if os.getuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    root = Path(tempfile.mkdtemp(prefix="tollgate-pgfull-"))
    root.chmod(0o711)  # PostgreSQL runs as postgres
    try:
        d = FullDeployment(root)  # stops what it started if it fails
        try:
            yield d
        finally:
            d.stop()
    finally:
        subprocess.run(["umount", "-l", str(root / "services" / "postgres" / "data")], check=False)
        if os.environ.get("TOLLGATE_FAULTS_KEEP") != "1":
            shutil.rmtree(root, ignore_errors=True)


def _phase(full, settings, name: str, wal: bool):
    burst = Load(full.targets, full.tenant, rate=60, workers=3, weights={"envapi": 1})
    panics_before = len(full.pg.panics())
    what = {}

    def fault():
        what["used_mb"] = full.pg.fill()
        if wal:
            what["switch"] = full.pg.switch_wal()
        burst.__enter__()

    def restore():
        burst.__exit__(None, None, None)
        full.pg.free()
        what["postgres"] = full.restore_postgres(panics_before)

    o = run_outage(full, settings, name, fault, restore)
    o.created_users += burst.created_users
    o.burst = burst.samples
    o.panicked = [s.proc.pid for s in full.servers
                  if "panicked" in s.stderr_path.read_text(errors="replace")]
    o.pg_panics = full.pg.panics()[panics_before:]
    o.check = full.check_data()
    refused = [s for s in o.burst if not s.ok]
    extra = {"switch_wal": what["switch"]} if wal else {}
    return finish(o, full.tenant.contact_center_id, tmpfs=f"{SIZE}, {what['used_mb']} MB used before the fill",
                  writes_while_full=len(o.burst), refused_while_full=len(refused),
                  **extra, postgres_panics=len(o.pg_panics),
                  first_postgres_panic=(o.pg_panics[:1] or ["none"])[0][-160:],
                  postgres_after_space_returned=what["postgres"],
                  pg_amcheck=f"exit {o.check['amcheck_rc']}, {o.check['amcheck_relations']} relations checked",
                  rows_read_after=sum(o.check["rows"].values()))


@pytest.fixture(scope="module")
def tables(full, settings):
    """Only the data files need room: the current WAL segment has enough."""
    return _phase(full, settings, "disk full (PostgreSQL tables)", wal=False)


@pytest.fixture(scope="module")
def wal(full, settings, tables):
    """The WAL needs a new segment while the disk is full."""
    return _phase(full, settings, "disk full (PostgreSQL WAL)", wal=True)


@pytest.fixture(scope="module", params=["tables", "wal"])
def outcome(request):
    return request.getfixturevalue(request.param)


def _all(o):
    return o.samples + o.burst


def test_the_full_disk_refused_writes(outcome):
    # Otherwise nothing below proves anything about a full disk.
    assert any(s.status == 503 for s in _all(outcome) if outcome.fault_at <= s.start < outcome.restored_at)


def test_no_500_no_panic_and_no_hang(outcome):
    assert not server_errors(_all(outcome))
    assert not outcome.panicked


def test_a_full_disk_answers_503_with_retry_after(outcome):
    assert not not_unavailable(_all(outcome))
    assert not missing_retry_after(_all(outcome))


def test_every_answer_within_the_bound(outcome, settings):
    assert not slow(_all(outcome), settings.max_latency)


def test_introspection_keeps_working(outcome):
    assert not [f"{s.op}: {s.status}" for s in outcome.during() if s.op == "introspect" and not s.ok]


def test_recovers_without_restarting_tollgate(outcome, full):
    assert outcome.recovered, f"not every request succeeded within {outcome.figures.recover_s}s of the restore"
    assert tuple(s.proc.pid for s in full.servers) == outcome.pids
    assert all(s.proc.poll() is None for s in full.servers)


def test_no_acknowledged_record_lost(outcome, full):
    assert not durable_losses(outcome, full.tenant.contact_center_id)


def test_the_full_wal_stopped_postgres(wal):
    # Otherwise the WAL phase proves nothing beyond the tables phase.
    assert wal.pg_panics, "no PANIC in PostgreSQL's log"


def test_postgres_data_intact(outcome):
    assert outcome.check["amcheck_rc"] == 0, outcome.check["amcheck_out"]
    assert outcome.check["amcheck_relations"] > 0, outcome.check["amcheck_out"]
    assert outcome.check["rows"].get("users", 0) > 0
