"""Fixtures of the fault, load and soak harness (see README.md).

The e2e suite's helpers (e2e/tests: tollgate.py, envapi.py, helpers.py) are
imported, not copied: that directory is put on the import path here.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import tollgate  # noqa: E402
from figures import HEADER, RECORDED  # noqa: E402


def _env(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass(frozen=True)
class Settings:
    #: Seconds each dependency stays down.
    outage: float = _env("TOLLGATE_FAULTS_OUTAGE", 4)
    #: Seconds of load before each fault.
    warmup: float = _env("TOLLGATE_FAULTS_WARMUP", 2)
    #: Requests per second the load generator aims at (over both processes).
    rate: float = _env("TOLLGATE_FAULTS_RATE", 30)
    #: The rule's bound: no answer, even a 503, later than this: the
    #: processes' --request-timeout (2 s) and half a second of slack.
    max_latency: float = _env("TOLLGATE_FAULTS_MAX_LATENCY", 2.5)
    #: After the dependency is back, every request must succeed within this.
    recovery: float = _env("TOLLGATE_FAULTS_RECOVERY", 15)
    #: Seconds of the soak (0: skipped).
    soak: float = _env("TOLLGATE_FAULTS_SOAK", 20)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def dep():
    """The deployment, shared by every scenario; each leaves it healthy. Its
    scratch directory is removed afterwards unless TOLLGATE_FAULTS_KEEP=1."""
    from deploy import Deployment

    if not tollgate.binary().exists():
        pytest.fail(f"{tollgate.binary()} not found: set TOLLGATE_BIN", pytrace=False)
    # PostgreSQL runs as the user postgres, which must traverse the directory.
    workdir = Path(tempfile.mkdtemp(prefix="tollgate-faults-"))
    workdir.chmod(0o711)
    print(f"faults: scratch directory {workdir}")
    d = None
    try:
        d = Deployment(workdir)
        yield d
    finally:
        if d is not None:
            d.stop()
        else:
            _stop_leftovers(workdir)
        if os.environ.get("TOLLGATE_FAULTS_KEEP") != "1":
            shutil.rmtree(workdir, ignore_errors=True)


def _stop_leftovers(workdir: Path) -> None:
    """A deployment that failed half-way: stop what its scripts started."""
    from services import Postgres, Slapd

    for cls in (Postgres, Slapd):
        obj = cls.__new__(cls)
        obj.test_dir = workdir / "services"
        obj.dir = workdir / "services" / "ldap"
        try:
            obj.stop()
        except Exception:
            pass


def pytest_terminal_summary(terminalreporter):
    if RECORDED:
        terminalreporter.section("reliability figures")
        terminalreporter.write_line(HEADER)
        for f in RECORDED:
            terminalreporter.write_line(f.row())
        for f in RECORDED:
            for k in ("failures by operation", "first failure details"):
                if k in f.extra:
                    terminalreporter.write_line(f"{f.scenario}: {k}: {f.extra[k]}"[:1500])
