"""Scenario 9: disk full under `tollgate dev` (SQLite). Its data directory is
a small tmpfs mounted for the scenario; under load (and a burst of
Environment API writes, so the database must grow) the tmpfs is filled to
the last byte, then the filler is removed.

Rules: a clear error (503 with `Retry-After`, never a 500, a panic or a
hang), reads that need no write keep working, it works again without a
restart once space returns, no record acknowledged (201) is missing, and the
database passes `PRAGMA integrity_check` after a clean stop.

Needs root (mount); skipped otherwise."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import tollgate
from helpers import code_client
from load import Load, Target, Tenant
from scenario import (durable_losses, finish, missing_retry_after, new_user, not_unavailable, run_outage,
                      server_errors, slow)

#: The tmpfs: room for the seeded database and its write-ahead log, little more.
SIZE = "24m"


class DevDeployment:
    """What run_outage needs of a deployment: one `tollgate dev` on the tmpfs."""

    def __init__(self, root: Path):
        self.data = root / "full-data"
        # The bounds and the trusted proxy of the `serve all` processes (deploy.py).
        self.servers = [tollgate.start_dev(root, "full", ["--trusted-proxies", "127.0.0.1/32", "--request-timeout", "2s",
                                                          "--rate-limit-per-minute", "1000000"])]
        srv = self.servers[0]
        web = code_client(srv)
        mgmt_secret = "full-" + os.urandom(8).hex()
        mgmt = srv.create_client(client_secret=mgmt_secret, authorizedGrantTypes=["client_credentials"],
                                 authorities=["ROLE_MANAGEMENT_APPLICATION"])
        self.targets = [Target(srv.base_url)]
        self.tenant = Tenant(
            client=(srv.client_id, srv.client_secret), login=srv.login, password=srv.password,
            code_client=(web["client_id"], web["client_secret"]), redirect_uri=srv.redirect_uri,
            public_url=srv.base_url, management_client=(mgmt["client_id"], mgmt_secret),
            contact_center_id=srv.contact_center_id, users=[new_user(srv) for _ in range(5)],
        )

    @property
    def db(self) -> Path:
        return self.data / "tollgate.db"

    def snapshot(self) -> dict:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10) as c:
            def ids(sql: str) -> list:
                return [tuple(r) if len(r) > 1 else r[0] for r in c.execute(sql).fetchall()]

            return {
                "clients": ids("SELECT client_id FROM clients"),
                "users": ids("SELECT contact_center_id, username_key FROM users"),
                "refresh_families": ids("SELECT id FROM refresh_families"),
                "contact_centers": ids("SELECT id FROM contact_centers"),
            }

    def fill(self) -> None:
        """Writes a filler until the tmpfs has not one byte left."""
        fd = os.open(self.data / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
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

    def free(self) -> None:
        (self.data / "filler").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def full():
    if os.getuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    root = Path(tempfile.mkdtemp(prefix="tollgate-diskfull-"))
    data = root / "full-data"
    data.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(data)], check=True)
    d = None
    try:
        d = DevDeployment(root)
        yield d
    finally:
        if d is not None:
            d.servers[0].proc.kill()
            d.servers[0].proc.wait()
        subprocess.run(["umount", "-l", str(data)], check=False)
        if os.environ.get("TOLLGATE_FAULTS_KEEP") != "1":
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def outcome(full, settings):
    burst = Load(full.targets, full.tenant, rate=60, workers=3, weights={"envapi": 1})

    def fault():
        full.fill()
        burst.__enter__()

    def restore():
        burst.__exit__(None, None, None)
        full.free()

    o = run_outage(full, settings, "disk full (tollgate dev, SQLite)", fault, restore)
    o.created_users += burst.created_users
    o.burst = burst.samples
    srv = full.servers[0]
    o.exit_code = srv.stop()
    with sqlite3.connect(f"file:{full.db}?mode=ro", uri=True) as c:
        o.integrity = [r[0] for r in c.execute("PRAGMA integrity_check").fetchall()]
    o.panicked = "panicked" in srv.stderr_path.read_text(errors="replace")
    refused = [s for s in o.burst if not s.ok]
    return finish(o, full.tenant.contact_center_id, writes_while_full=len(o.burst), refused_while_full=len(refused),
                  integrity_check=o.integrity, exit_code=o.exit_code)


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


def test_reads_keep_working(outcome):
    assert not [f"{s.op}: {s.status}" for s in outcome.during() if s.op == "introspect" and not s.ok]


def test_recovers_without_restart(outcome, full):
    assert outcome.recovered, f"not every request succeeded within {outcome.figures.recover_s}s of the restore"


def test_no_acknowledged_record_lost(outcome, full):
    assert not durable_losses(outcome, full.tenant.contact_center_id)


def test_database_intact_after_a_clean_stop(outcome):
    assert outcome.exit_code == 0
    assert outcome.integrity == ["ok"]
