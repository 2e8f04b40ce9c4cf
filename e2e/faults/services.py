"""The harness's own PostgreSQL, Redis and slapd, in a scratch directory on
free loopback ports: it kills them, so it never uses the shared test services.

PostgreSQL and slapd are started by sourcing the test command's provisioning
scripts (scripts/provision/postgres.sh and ldap.sh) with TOLLGATE_TEST_DIR
pointing at the scratch directory; sourcing postgres.sh again restarts a
killed cluster on the same port and data. Redis is Debian's redis-server as a
child process (the provisioning script would also start a TLS server and a
cluster this harness does not need), with no persistence: a restarted Redis
is empty, the worst case.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import tollgate

PROVISION = tollgate.REPO_ROOT / "scripts" / "provision"


def _source(script: str, test_dir: Path, env_over: dict, export: list[str]) -> dict:
    """Sources a provisioning script in bash; returns the variables it exported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_TEST_")}
    env.update(TOLLGATE_TEST_DIR=str(test_dir), **env_over)
    printer = "; ".join(f'printf "%s=%s\\n" {v} "${{{v}:-}}"' for v in export)
    out = subprocess.run(
        ["bash", "-c", f'set -euo pipefail; source "{PROVISION / script}" >&2; {printer}'],
        env=env, capture_output=True, text=True, timeout=180,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{script} failed:\n{out.stderr[-3000:]}")
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _wait_gone(pids: list[int], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


class Postgres:
    def __init__(self, test_dir: Path):
        self.test_dir = test_dir
        self.port = tollgate.free_port()
        self.url = ""
        self.start()

    def start(self) -> None:
        got = _source("postgres.sh", self.test_dir, {"TOLLGATE_TEST_POSTGRES_PORT": str(self.port)},
                      ["TOLLGATE_TEST_POSTGRES_URL"])
        self.url = got["TOLLGATE_TEST_POSTGRES_URL"]
        if f":{self.port}/" not in self.url:
            raise RuntimeError(f"PostgreSQL came up on another port than {self.port}: {self.url}")
        # The provisioning script starts a throwaway cluster with
        # synchronous_commit off, which loses the last commits on a crash; a
        # crash test needs the production setting (a role setting overrides
        # the server's default). fsync=off only matters if the OS crashes.
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as c:
            c.execute("ALTER ROLE CURRENT_USER SET synchronous_commit = on")

    @property
    def data(self) -> Path:
        return self.test_dir / "postgres" / "data"

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill9(self) -> None:
        """SIGKILL to the postmaster and every backend, as a crashed host or
        an OOM-killed container would."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        pids = [pid, *_children(pid)]
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _wait_gone(pids)

    stop = kill9  # the cluster is thrown away


class Redis:
    def __init__(self, test_dir: Path):
        self.dir = test_dir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = tollgate.free_port()
        self.password = secrets.token_hex(16)
        self.url = f"redis://:{self.password}@127.0.0.1:{self.port}"
        conf = self.dir / "redis.conf"
        conf.write_text("\n".join([
            "bind 127.0.0.1", f"port {self.port}", f"dir {self.dir}", 'save ""', "appendonly no",
            f"requirepass {self.password}", "daemonize no", f"logfile {self.dir / 'redis.log'}", "",
        ]))
        conf.chmod(0o600)
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", str(self.dir / "redis.conf")], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True,
                               env={**os.environ, "REDISCLI_AUTH": self.password})
            if r.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on {self.port}")

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    stop = kill9

    def dbsize(self) -> int:
        r = subprocess.run(["redis-cli", "-p", str(self.port), "dbsize"], capture_output=True, text=True,
                           env={**os.environ, "REDISCLI_AUTH": self.password})
        return int(r.stdout.strip())


class Slapd:
    """scripts/provision/ldap.sh's slapd and seeded tree (alice, bob, ...)."""

    def __init__(self, test_dir: Path):
        self.dir = test_dir / "ldap"
        self.port, self.tls_port = tollgate.free_port(), tollgate.free_port()
        self.env = _source("ldap.sh", test_dir,
                           {"TOLLGATE_TEST_LDAP_PORT": str(self.port), "TOLLGATE_TEST_LDAPS_PORT": str(self.tls_port)},
                           ["TOLLGATE_TEST_LDAP_URL", "TOLLGATE_TEST_LDAP_CA", "TOLLGATE_TEST_LDAP_BASE",
                            "TOLLGATE_TEST_LDAP_SERVICE_PASSWORD"])

    def pid(self) -> int | None:
        try:
            return int((self.dir / "slapd.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _wait_gone([pid])
            (self.dir / "slapd.pid").unlink(missing_ok=True)

    def start(self) -> None:
        urls = f"ldap://127.0.0.1:{self.port}/ ldaps://127.0.0.1:{self.tls_port}/"
        subprocess.run(["/usr/sbin/slapd", "-f", str(self.dir / "slapd.conf"), "-h", urls], check=True, timeout=30)
        deadline = time.monotonic() + 10
        while subprocess.run(["ldapwhoami", "-x", "-H", f"ldap://127.0.0.1:{self.port}"], capture_output=True).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError("slapd did not come back")
            time.sleep(0.05)
