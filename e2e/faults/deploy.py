"""The topology under test: the harness's own PostgreSQL (reached through the
fault-injecting proxy), Redis and slapd, and two `tollgate serve all`
processes on them, provisioned over the ops and Environment APIs."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import requests

import tollgate
from envapi import EnvApi
from helpers import code_client
from load import Target, Tenant
from scenario import new_user
from services import Postgres, Redis, Slapd

HERE = Path(__file__).resolve().parent
LOCKOUT_THRESHOLD = 5
LDAP_DOMAIN = "ldapfaults"
LOAD_USERS = 20


class Proxy:
    """proxy.py in its own process, in front of PostgreSQL (or Redis)."""

    def __init__(self, target_port: int, workdir: Path, name: str = "proxy"):
        self.port, self.control_port = tollgate.free_port(), tollgate.free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "proxy.py"), str(self.port), "127.0.0.1", str(target_port), str(self.control_port)],
            stdout=subprocess.PIPE, stderr=open(workdir / f"{name}.log", "wb"), stdin=subprocess.DEVNULL,
        )
        if self.proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("the proxy did not start")

    def mode(self, *words) -> None:
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=5) as s:
            s.sendall((" ".join(map(str, words)) + "\n").encode())
            assert s.recv(16).startswith(b"ok")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Deployment:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.pg = Postgres(workdir / "services")
        self.redis = Redis(workdir / "services")
        self.ldap = Slapd(workdir / "services")
        self.proxy = Proxy(self.pg.port, workdir)
        #: Services a scenario added or replaced (a standby, a Redis cluster): stopped at the end.
        self.extra: list = []
        self.redis_url = self.redis.url
        self.key = secrets.token_hex(32)
        parts = self.pg.url.rsplit("@", 1)
        self.db_url = f"{parts[0]}@127.0.0.1:{self.proxy.port}/postgres"
        self.ports = [tollgate.free_port(), tollgate.free_port()]
        self.public_url = f"http://127.0.0.1:{self.ports[0]}"
        self.servers: list[tollgate.Server | None] = [None, None]
        for i in range(2):
            self.start_process(i)
        self.targets = [Target(s.base_url) for s in self.servers]
        self.tenant = self._provision()

    # -- the Tollgate processes ---------------------------------------------------
    def args(self) -> list[str]:
        return [
            *tollgate.serve_args("all", self.db_url, self.redis_url, self.key),
            "--public-url", self.public_url,
            "--trusted-proxies", "127.0.0.1/32",
            "--rate-limit-per-minute", "1000000",
            "--lockout-threshold", str(LOCKOUT_THRESHOLD),
            # The bounds the latency rule checks against (conftest.max_latency).
            "--request-timeout", "2s",
            "--database-acquire-timeout", "1s",
            # E.g. short lifetimes, to watch housekeeping level the tables off.
            *os.environ.get("TOLLGATE_FAULTS_SERVE_ARGS", "").split(),
        ]

    def start_process(self, i: int) -> tollgate.Server:
        proc, base, mgmt, err, out = tollgate.launch(self.args(), tollgate.serve_env(), self.workdir, f"tollgate{i}",
                                                     port=self.ports[i])
        tollgate.wait_ready(proc, mgmt, err)
        before = self.servers[i]
        self.servers[i] = tollgate.Server(
            flavour=f"serve all #{i}", proc=proc, base_url=base, mgmt_url=mgmt, workdir=self.workdir,
            stderr_path=err, stdout_path=out, client_id=tollgate.SERVE_CLIENT_ID,
            client_secret=tollgate.SERVE_CLIENT_SECRET, ops_username=tollgate.OPS_USERNAME,
            ops_password=tollgate.OPS_PASSWORD_SERVE,
        )
        if before is not None:
            # What provisioning learnt (the demo tenant's ids, the code client) holds for the new process too.
            for k in ("environment_id", "contact_center_id", "login", "password", "_code_client"):
                if hasattr(before, k):
                    setattr(self.servers[i], k, getattr(before, k))
        if hasattr(self, "targets"):
            self.targets[i].alive = True
        return self.servers[i]

    def use_redis(self, url: str) -> None:
        """Both processes restarted on another Redis (`url`: one URL, or a
        cluster's seed nodes separated by commas)."""
        self.redis_url = url
        for i in range(2):
            self.kill_process(i)
            self.start_process(i)

    def kill_process(self, i: int) -> None:
        self.targets[i].alive = False
        self.servers[i].proc.kill()
        self.servers[i].proc.wait()

    def pid(self, i: int) -> int:
        return self.servers[i].proc.pid

    def rss_mb(self, i: int) -> float:
        for line in Path(f"/proc/{self.pid(i)}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def fds(self, i: int) -> int:
        return len(os.listdir(f"/proc/{self.pid(i)}/fd"))

    def ready(self, i: int, timeout: float = 3.0) -> int | str:
        try:
            return requests.get(self.servers[i].mgmt_url + "/health/ready", timeout=timeout).status_code
        except requests.Timeout:
            return "timeout"
        except requests.ConnectionError:
            return "conn"

    def stop(self) -> None:
        for s in self.servers:
            if s is not None and s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait()
        for dep in (self.proxy, self.ldap, self.redis, self.pg, *self.extra):
            try:
                dep.stop()
            except Exception as e:  # one failed stop must not leave the others running
                print(f"stopping {type(dep).__name__}: {e}")

    # -- provisioning ------------------------------------------------------------
    def _provision(self) -> Tenant:
        srv = self.servers[0]
        srv.create_client(
            tollgate.SERVE_CLIENT_ID, client_secret=tollgate.SERVE_CLIENT_SECRET,
            authorizedGrantTypes=["client_credentials", "password", "refresh_token"],
            authorities=["ROLE_INTERNAL_CLIENT"], internalClient=True,
        )
        tollgate.provision_demo(srv)
        web = code_client(srv)
        mgmt_secret = secrets.token_hex(16)
        mgmt = srv.create_client(client_secret=mgmt_secret, authorizedGrantTypes=["client_credentials"],
                                 authorities=["ROLE_MANAGEMENT_APPLICATION"])
        tenant = Tenant(
            client=(srv.client_id, srv.client_secret), login=srv.login, password=srv.password,
            code_client=(web["client_id"], web["client_secret"]), redirect_uri=srv.redirect_uri,
            public_url=self.public_url, management_client=(mgmt["client_id"], mgmt_secret),
            contact_center_id=srv.contact_center_id,
        )
        tenant.users = [new_user(srv) for _ in range(LOAD_USERS)]
        tenant.ldap_logins = self._ldap_tenant(srv)
        self._await_propagation(tenant)
        return tenant

    def _ldap_tenant(self, srv: tollgate.Server) -> list[tuple[str, str]]:
        os.environ.update(self.ldap.env)  # test_ldap.directory() reads them
        from test_ldap import directory

        api = EnvApi(srv.base_url, auth=srv.ops)
        cc = api.create_contact_center_ok(srv.environment_id, domains=[LDAP_DOMAIN], auth="ldap")
        r = api.call("PUT", f"/contact-centers/{cc['id']}/directory",
                     directory(self.ldap.env["TOLLGATE_TEST_LDAP_BASE"], self.ldap.env["TOLLGATE_TEST_LDAP_URL"]))
        assert r.status_code == 200, r.text
        return [(f"{LDAP_DOMAIN}\\{u}", f"{u}-password") for u in ("alice", "bob", "carol")]

    def _await_propagation(self, t: Tenant, timeout: float = 10.0) -> None:
        """Both processes accept the demo and the LDAP users."""
        deadline = time.monotonic() + timeout
        for s in self.servers:
            for login, password in [*t.users[-1:], *t.ldap_logins]:
                while True:
                    r = requests.post(s.token_url, data={"grant_type": "password", "username": login, "password": password},
                                      auth=t.client, timeout=10)
                    if r.status_code == 200:
                        break
                    assert time.monotonic() < deadline, f"{login} cannot sign in on {s.base_url}: {r.status_code} {r.text}"
                    time.sleep(0.1)

    # -- durable data --------------------------------------------------------------
    def snapshot(self) -> dict:
        """Ids of the durable records the rules protect, read directly (not
        through the proxy)."""
        with psycopg.connect(self.pg.url, autocommit=True, connect_timeout=10) as c:
            def ids(sql: str) -> list:
                return [tuple(r) if len(r) > 1 else r[0] for r in c.execute(sql).fetchall()]

            return {
                "clients": ids("SELECT client_id FROM clients"),
                "users": ids("SELECT contact_center_id, username_key FROM users"),
                "refresh_families": ids("SELECT id FROM refresh_families"),
                "contact_centers": ids("SELECT id FROM contact_centers"),
            }

    #: The tables that grow with traffic (housekeeping prunes what expired).
    GROWING_TABLES = ("refresh_tokens", "refresh_families", "revocations", "used_once", "change_log", "audit_events")

    def table_rows(self) -> dict[str, int]:
        """Rows of each growing table, read directly (not through the proxy)."""
        with psycopg.connect(self.pg.url, autocommit=True, connect_timeout=10) as c:
            return {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in self.GROWING_TABLES}

    def refresh_family_tokens(self, family_id: str) -> list[tuple]:
        with psycopg.connect(self.pg.url, autocommit=True, connect_timeout=10) as c:
            return c.execute("SELECT hash, used_at FROM refresh_tokens WHERE family_id = %s", (family_id,)).fetchall()

    def families_of(self, login: str) -> list[str]:
        """The refresh families of a user (`domain\\name`)."""
        name = login.split("\\")[-1].lower()
        with psycopg.connect(self.pg.url, autocommit=True, connect_timeout=10) as c:
            return [r[0] for r in c.execute("SELECT id FROM refresh_families WHERE username_key = %s", (name,))]
