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
                      ["TOLLGATE_TEST_POSTGRES_URL", "TOLLGATE_PG_BINDIR"])
        self.url = got["TOLLGATE_TEST_POSTGRES_URL"]
        self.bindir = Path(got["TOLLGATE_PG_BINDIR"])
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

    @property
    def log(self) -> Path:
        return self.data.parent / "server.log"

    def pg_ctl(self, *args: str, timeout: float = 60) -> None:
        """pg_ctl on this cluster, as its owner; a server it starts logs to
        `log` (not to pg_ctl's output, which would stay open)."""
        _as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), *args], timeout)


def _as_owner(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    """A PostgreSQL tool as the user postgres (the server refuses root)."""
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} failed:\n{out.stdout[-1500:]}{out.stderr[-1500:]}")
    return out


class Standby(Postgres):
    """A streaming replica of `primary` (pg_basebackup -R) in its own
    directory and port, with the primary's binaries and TLS files. Made
    synchronous: the primary acknowledges a commit only once the standby has
    flushed it, as an HA setup that promises no loss on failover must
    (with asynchronous replication a commit acknowledged just before the
    primary dies may never reach the standby)."""

    NAME = "standby"

    def __init__(self, primary: Postgres, root: Path):
        self.primary, self.root, self.bindir = primary, root, primary.bindir
        self.port = tollgate.free_port()
        self.url = primary.url.replace(f":{primary.port}/", f":{self.port}/")
        (root / "sockets").mkdir(parents=True, exist_ok=True)
        if os.getuid() == 0:
            subprocess.run(["chown", "-R", "postgres:", str(root)], check=True)
        conninfo = primary.url.replace("/postgres", "/") + f"?application_name={self.NAME}"
        _as_owner([str(self.bindir / "pg_basebackup"), "-D", str(self.data), "-R", "-X", "stream", "-c", "fast",
                   "--no-sync", "-d", conninfo], timeout=120)
        self.start()
        self._make_synchronous()

    @property
    def data(self) -> Path:
        return self.root / "data"

    def start(self) -> None:
        tls = self.primary.test_dir / "postgres" / "tls"
        # The primary's settings (postgres.sh), and a quick reconnection after the primary restarts.
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root / 'sockets'} -c max_connections=300 "
                "-c fsync=off -c full_page_writes=off -c wal_retrieve_retry_interval=200ms "
                f"-c ssl=on -c ssl_cert_file={tls / 'server.pem'} -c ssl_key_file={tls / 'server.key'}")
        self.pg_ctl("-w", "-t", "60", "-o", opts, "start")

    def _make_synchronous(self) -> None:
        import psycopg

        # On the primary only (after the base backup, so the promoted standby does not wait for a standby of its own).
        with psycopg.connect(self.primary.url, autocommit=True) as c:
            c.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{self.NAME}'")
            c.execute("SELECT pg_reload_conf()")
        self.await_sync()

    def await_sync(self, timeout: float = 30) -> None:
        """Until the primary streams to this standby synchronously."""
        import psycopg

        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.primary.url, autocommit=True, connect_timeout=5) as c:
                    state = c.execute("SELECT state, sync_state FROM pg_stat_replication WHERE application_name = %s",
                                      (self.NAME,)).fetchone()
            except psycopg.OperationalError as e:
                state = str(e)
            if state == ("streaming", "sync"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"the standby is not a synchronous streaming replica: {state}")

    def promote(self) -> None:
        self.pg_ctl("-w", "-t", "60", "promote")


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


class RedisCluster:
    """Three primaries and three replicas (`redis-cli --cluster create
    --cluster-replicas 1`), with a password and without persistence; a node
    is declared failed after `node_timeout_ms` and its replica promoted."""

    def __init__(self, root: Path, node_timeout_ms: int = 1000):
        self.root, self.password = root, secrets.token_hex(16)
        self.ports = [tollgate.free_port() for _ in range(6)]
        self.procs: dict[int, subprocess.Popen] = {}
        for port in self.ports:
            d = root / str(port)
            d.mkdir(parents=True, exist_ok=True)
            # The bus port defaults to port+10000, which may be taken or above 65535.
            (d / "redis.conf").write_text("\n".join([
                "bind 127.0.0.1", f"port {port}", f"dir {d}", 'save ""', "appendonly no", "daemonize no",
                f"requirepass {self.password}", f"masterauth {self.password}", f"logfile {d / 'redis.log'}",
                "cluster-enabled yes", "cluster-config-file nodes.conf", f"cluster-node-timeout {node_timeout_ms}",
                f"cluster-port {tollgate.free_port()}", "",
            ]))
            (d / "redis.conf").chmod(0o600)
            self.start(port)
        out = subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
                              "--cluster-replicas", "1", "--cluster-yes"], capture_output=True, text=True,
                             timeout=60, env=self._env())
        if out.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{out.stdout[-2000:]}{out.stderr[-1000:]}")
        self.await_healthy()

    @property
    def urls(self) -> str:
        """The seed nodes, as `--redis-url` takes a cluster."""
        return ",".join(f"redis://:{self.password}@127.0.0.1:{p}" for p in self.ports)

    def _env(self) -> dict:
        return {**os.environ, "REDISCLI_AUTH": self.password}

    def cli(self, port: int, *args: str) -> str:
        r = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=10,
                           env=self._env())
        return r.stdout

    def start(self, port: int) -> None:
        self.procs[port] = subprocess.Popen(["redis-server", str(self.root / str(port) / "redis.conf")],
                                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while self.cli(port, "ping").strip() != "PONG":
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis cluster node {port} did not answer")
            time.sleep(0.05)

    def primaries(self) -> dict[int, list[int]]:
        """Each live primary's port and its connected replicas' ports."""
        found: dict[int, list[int]] = {}
        for port in self.live():
            info = self.cli(port, "info", "replication")
            if "role:master" in info:
                found[port] = [int(line.split("port=")[1].split(",")[0]) for line in info.splitlines()
                               if line.startswith("slave") and "state=online" in line]
        return found

    def live(self) -> list[int]:
        return [p for p, proc in self.procs.items() if proc.poll() is None]

    def await_healthy(self, timeout: float = 30) -> None:
        """Until every live node sees the cluster ok, with three primaries, each with a replica in sync."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = all("cluster_state:ok" in self.cli(p, "cluster", "info") for p in self.live())
            primaries = self.primaries()
            if ok and len(primaries) == 3 and all(primaries.values()):
                return
            time.sleep(0.1)
        raise RuntimeError(f"the redis cluster is not healthy: primaries and replicas {self.primaries()}")

    def await_promoted(self, replica: int, timeout: float = 30) -> None:
        """Until `replica` is a primary and every live node sees the cluster ok."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "role:master" in self.cli(replica, "info", "replication") and all(
                    "cluster_state:ok" in self.cli(p, "cluster", "info") for p in self.live()):
                return
            time.sleep(0.05)
        raise RuntimeError(f"replica {replica} was not promoted")

    def kill9(self, port: int) -> None:
        proc = self.procs[port]
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        for port in self.live():
            self.kill9(port)
