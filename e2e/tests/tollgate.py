"""Starting, provisioning and stopping the real `tollgate` binary.

Used by conftest.py; kept apart so tests can start extra servers (for
scenarios that change global state, such as a user's global sign-out).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

E2E_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = E2E_DIR.parent

DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-client-secret-e2e"
DEMO_TENANT = "demo"
DEMO_CONTACT_CENTER = "demo"
DEMO_USERNAME = "agent"
DEMO_LOGIN = "demo\\agent"
DEMO_PASSWORD = "demo-user-password-e2e"
OPS_USERNAME = "ops"
OPS_PASSWORD_DEV = "ops-password-e2e"
OPS_PASSWORD_SERVE = "opspass"

SERVE_CLIENT_ID = "e2e"
SERVE_CLIENT_SECRET = "e2e-secret-123"

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

#: What `serve` provisions over the Environment API (dev seeds the same).
SERVE_USER_PASSWORD = "serve-user-password-e2e"
SERVE_ENVIRONMENT_PASSWORD = "serve-cfg-password-e2e"

FLAVOURS = ("dev", "serve")


def binary() -> Path:
    raw = os.environ.get("TOLLGATE_BIN") or "target/debug/tollgate"
    path = Path(raw)
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


# Ports are drawn below the kernel's ephemeral range (32768-60999 by default):
# a port the kernel handed out and took back can be handed out again at once,
# to another suite running beside this one or to an outgoing connection,
# before the server that was meant to listen on it has bound it. (30000 and up
# are Kubernetes node ports.)
_PORT_RANGE = (20000, 30000)
_given: set[int] = set()


def free_port() -> int:
    """A loopback port nobody listens on, never the same twice in one run."""
    for _ in range(1000):
        # Not `random`: Hypothesis seeds it, and two suites would draw alike.
        port = _PORT_RANGE[0] + secrets.randbelow(_PORT_RANGE[1] - _PORT_RANGE[0])
        if port in _given:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {_PORT_RANGE}")


def services_required() -> bool:
    return os.environ.get("TOLLGATE_REQUIRE_SERVICES") == "1"


def serve_unavailable_reason() -> str | None:
    missing = [v for v in ("TOLLGATE_TEST_POSTGRES_URL", "TOLLGATE_TEST_REDIS_URL") if not os.environ.get(v)]
    if missing:
        return f"the serve flavour needs PostgreSQL and Redis: {' and '.join(missing)} not set"
    return None


class StartError(RuntimeError):
    pass


@dataclass
class Server:
    """A running `tollgate` process and what a test needs to talk to it."""

    flavour: str
    proc: subprocess.Popen
    base_url: str
    mgmt_url: str
    workdir: Path
    stderr_path: Path
    stdout_path: Path
    client_id: str
    client_secret: str
    ops_username: str
    ops_password: str
    login: str | None = None
    password: str | None = None
    #: The demo tenant: contact center (domain `demo`) and its environment.
    contact_center_id: str = DEMO_CONTACT_CENTER
    environment_id: str = "demo-environment"
    #: Every secret this suite sends; none may ever appear in the server log.
    secrets: set[str] = field(default_factory=set)
    #: Cleanup run after the process stopped (e.g. dropping its database).
    cleanup: list = field(default_factory=list)
    exit_code: int | None = None

    # -- endpoints ---------------------------------------------------------
    @property
    def has_users(self) -> bool:
        return self.login is not None

    @property
    def subject(self) -> str:
        """`sub` of the demo user's tokens: `<contact center id>:<user name>`."""
        return f"{self.contact_center_id}:{DEMO_USERNAME}"

    @property
    def redirect_uri(self) -> str:
        return self.base_url + "/callback"

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def token_url(self) -> str:
        return self.url("/auth/v3/oauth/token")

    @property
    def introspect_url(self) -> str:
        return self.url("/auth/v3/oauth/introspect")

    @property
    def revoke_url(self) -> str:
        return self.url("/auth/v3/oauth/revoke")

    @property
    def ops(self) -> tuple[str, str]:
        return (self.ops_username, self.ops_password)

    def remember_secret(self, value: str | None) -> None:
        if value:
            self.secrets.add(value)

    def secret(self, value: str) -> str:
        """A secret the test is about to send (even a wrong one): remembered
        so the log check catches it."""
        self.remember_secret(value)
        return value

    # -- ops API -----------------------------------------------------------
    def create_client(self, client_id: str | None = None, **fields) -> dict:
        """Creates a client with the ops API; returns the `data` of the answer
        plus `client_secret` (the one sent, or the generated one)."""
        client_id = client_id or f"e2e-{uuid.uuid4().hex[:10]}"
        body = {"client_id": client_id, **fields}
        self.remember_secret(body.get("client_secret"))
        r = requests.post(self.url("/auth/v3/ops/clients"), json={"data": body}, auth=self.ops, timeout=10)
        if r.status_code != 201:
            raise AssertionError(f"creating client {client_id}: {r.status_code} {r.text}")
        data = r.json()["data"]
        secret = data.get("client_secret") or body.get("client_secret")
        self.remember_secret(secret)
        return {**data, "client_secret": secret}

    # -- log ---------------------------------------------------------------
    def log_size(self) -> int:
        try:
            return self.stderr_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_text(self, since: int = 0) -> str:
        with open(self.stderr_path, "rb") as f:
            f.seek(since)
            return f.read().decode("utf-8", "replace")

    def log_records(self, since: int = 0) -> list[dict]:
        out = []
        for line in self.log_text(since).splitlines():
            line = line.strip()
            if line:
                out.append(json.loads(line))
        return out

    def audit_events(self, since: int = 0) -> list[dict]:
        return [r for r in self.log_records(since) if r.get("target") == "audit"]

    def wait_for_audit(self, kind: str, since: int = 0, timeout: float = 5.0, **match) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for e in self.audit_events(since):
                if e.get("kind") == kind and all(e.get(k) == v for k, v in match.items()):
                    return e
            if time.monotonic() > deadline:
                kinds = [e.get("kind") for e in self.audit_events(since)]
                raise AssertionError(f"no audit event {kind} {match or ''} in the log; saw {kinds}")
            time.sleep(0.05)

    def leaked_secrets(self, since: int = 0) -> list[str]:
        text = self.log_text(since)
        return sorted(s for s in self.secrets if s and s in text)

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_text().splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(lines[-n:])

    # -- lifecycle ---------------------------------------------------------
    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then wait; returns the exit code (killing on timeout)."""
        if self.exit_code is not None:
            return self.exit_code
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.exit_code = -9
                raise AssertionError(f"tollgate ({self.flavour}) did not exit within {timeout}s of SIGTERM; killed")
        self.exit_code = self.proc.returncode
        return self.exit_code

    def run_cleanup(self) -> None:
        while self.cleanup:
            fn = self.cleanup.pop()
            try:
                fn()
            except Exception as e:  # cleanup must not hide the real result
                print(f"cleanup of the {self.flavour} server failed: {e}")


def stop_and_check(srv: Server) -> None:
    """SIGTERM; the server must exit 0, log its orderly stop, and its log must
    hold no secret the suite sent."""
    try:
        code = srv.stop()
        try:
            stopped = any(r.get("message") == "stopped" for r in srv.log_records())
        except Exception:
            stopped = False
    finally:
        srv.run_cleanup()
    assert code == 0, f"tollgate ({srv.flavour}) exited with {code} after SIGTERM:\n{srv.log_tail()}"
    assert stopped, f"tollgate ({srv.flavour}) did not log its orderly stop:\n{srv.log_tail()}"
    leaked = srv.leaked_secrets()
    assert not leaked, f"the {srv.flavour} server log contains secrets: {leaked}"


def _wait_ready(proc: subprocess.Popen, mgmt_url: str, stderr_path: Path, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError(f"tollgate exited with {proc.returncode} before it was ready:\n{_tail(stderr_path)}")
        try:
            r = requests.get(mgmt_url + "/health/ready", timeout=2)
            if r.status_code == 200:
                return
            last = f"{r.status_code} {r.text}"
        except requests.RequestException as e:
            last = str(e)
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise StartError(f"tollgate was not ready within {timeout}s (last: {last}):\n{_tail(stderr_path)}")


def _tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except FileNotFoundError:
        return "(no log)"


def launch(
    args: list[str], env: dict, workdir: Path, tag: str, port: int | None = None
) -> tuple[subprocess.Popen, str, str, Path, Path]:
    """Starts the binary on free ports (or `port`) without waiting for it;
    returns (process, base URL, management URL, stderr path, stdout path)."""
    bin_path = binary()
    if not bin_path.exists():
        raise StartError(f"{bin_path} does not exist: build it with `cargo build -p tollgate` or set TOLLGATE_BIN")
    port, mport = port or free_port(), free_port()
    n = len(list(workdir.glob(f"{tag}.*.stderr.log")))
    stderr_path = workdir / f"{tag}.{n}.stderr.log"
    stdout_path = workdir / f"{tag}.{n}.stdout.log"
    full = [str(bin_path), *args, "--listen", f"127.0.0.1:{port}", "--management-listen", f"127.0.0.1:{mport}"]
    with open(stderr_path, "wb") as err, open(stdout_path, "wb") as out:
        proc = subprocess.Popen(full, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=workdir)
    return proc, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{mport}", stderr_path, stdout_path


def wait_ready(proc: subprocess.Popen, mgmt_url: str, stderr_path: Path, timeout: float = START_TIMEOUT) -> None:
    _wait_ready(proc, mgmt_url, stderr_path, timeout)


def _spawn(
    args: list[str], env: dict, workdir: Path, tag: str, host: str | None = None
) -> tuple[subprocess.Popen, str, str, Path, Path]:
    """Starts the binary on free ports, retrying if a port was taken meanwhile;
    `host`: the public URL names this host instead of the listener's address
    (e.g. `localhost`, which WebAuthn accepts as a relying party)."""
    for attempt in range(3):
        port = free_port() if host else None
        public = ["--public-url", f"http://{host}:{port}"] if host else []
        proc, base, mgmt_url, stderr_path, stdout_path = launch([*args, *public], env, workdir, tag, port=port)
        if host:
            base = f"http://{host}:{port}"
        try:
            _wait_ready(proc, mgmt_url, stderr_path)
        except StartError:
            if "cannot bind" in _tail(stderr_path) and attempt < 2:
                continue
            raise
        return proc, base, mgmt_url, stderr_path, stdout_path
    raise StartError("no free ports")


def _base_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
    env["TOLLGATE_LOG_FORMAT"] = "json"
    env["TOLLGATE_LOG"] = "info"
    return env


def start_dev(workdir: Path, tag: str = "dev", extra_args: list[str] = (), host: str | None = None) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / f"{tag}-data"
    env = _base_env()
    env.update(
        TOLLGATE_DEMO_CLIENT_SECRET=DEMO_CLIENT_SECRET,
        TOLLGATE_DEMO_PASSWORD=DEMO_PASSWORD,
        TOLLGATE_OPS_PASSWORD=OPS_PASSWORD_DEV,
    )
    proc, base, mgmt, err, out = _spawn(["dev", "--data-dir", str(data_dir), *extra_args], env, workdir, tag, host)
    srv = Server(
        flavour="dev",
        proc=proc,
        base_url=base,
        mgmt_url=mgmt,
        workdir=workdir,
        stderr_path=err,
        stdout_path=out,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        ops_username=OPS_USERNAME,
        ops_password=OPS_PASSWORD_DEV,
        login=DEMO_LOGIN,
        password=DEMO_PASSWORD,
    )
    srv.secrets.update({DEMO_CLIENT_SECRET, DEMO_PASSWORD, OPS_PASSWORD_DEV})
    key_file = data_dir / "encryption.key"
    if key_file.exists():
        srv.remember_secret(key_file.read_text().strip())
    return srv


def _database_url(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _create_database(admin_url: str) -> tuple[str, callable]:
    import psycopg

    name = f"tollgate_e2e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return _database_url(admin_url, name), drop


def serve_args(role: str, db_url: str, redis_url: str, encryption_key: str) -> list[str]:
    """`tollgate serve <role>` on the test PostgreSQL database and Redis."""
    args = [
        "serve", role,
        "--database-url", db_url,
        "--redis-url", redis_url,
        "--encryption-key", encryption_key,
        "--log-format", "json",
        # The suite's identity providers and directories listen on loopback.
        "--outbound-allow", "127.0.0.0/8,::1/128",
    ]
    if redis_url.startswith("rediss://") and os.environ.get("TOLLGATE_TEST_REDIS_CA"):
        args += ["--redis-ca-file", os.environ["TOLLGATE_TEST_REDIS_CA"]]
    return args


def serve_env() -> dict:
    env = _base_env()
    env["TOLLGATE_OPS_PASSWORD"] = OPS_PASSWORD_SERVE
    return env


def service_secrets(srv: Server, *urls: str) -> None:
    """Passwords inside the service URLs must not be logged either."""
    for u in urls:
        pw = urlsplit(u).password
        if pw and len(pw) >= 6:
            srv.remember_secret(pw)


def create_database() -> tuple[str, callable]:
    """A fresh database on the test PostgreSQL: (URL, drop function)."""
    return _create_database(os.environ["TOLLGATE_TEST_POSTGRES_URL"])


def start_serve(
    workdir: Path, tag: str = "serve", extra_args: list[str] = (), redis_db: int | None = None, host: str | None = None
) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    redis_url = os.environ["TOLLGATE_TEST_REDIS_URL"]
    if redis_db is not None:
        # A logical database of its own: counters (rate limits, lockouts)
        # not shared with the other servers of the session.
        parts = urlsplit(redis_url)
        redis_url = urlunsplit((parts.scheme, parts.netloc, f"/{redis_db}", parts.query, parts.fragment))
    db_url, drop = create_database()
    encryption_key = secrets.token_hex(32)
    try:
        proc, base, mgmt, err, out = _spawn(
            [*serve_args("all", db_url, redis_url, encryption_key), *extra_args], serve_env(), workdir, tag, host
        )
    except Exception:
        drop()
        raise
    srv = Server(
        flavour="serve",
        proc=proc,
        base_url=base,
        mgmt_url=mgmt,
        workdir=workdir,
        stderr_path=err,
        stdout_path=out,
        client_id=SERVE_CLIENT_ID,
        client_secret=SERVE_CLIENT_SECRET,
        ops_username=OPS_USERNAME,
        ops_password=OPS_PASSWORD_SERVE,
    )
    srv.cleanup.append(drop)
    srv.secrets.update({OPS_PASSWORD_SERVE, encryption_key, SERVE_USER_PASSWORD, SERVE_ENVIRONMENT_PASSWORD})
    service_secrets(srv, db_url, redis_url)
    try:
        # `serve` seeds nothing: provision the test client over the ops API.
        srv.create_client(
            SERVE_CLIENT_ID,
            client_secret=SERVE_CLIENT_SECRET,
            authorizedGrantTypes=["client_credentials", "password", "refresh_token"],
            authorities=["ROLE_INTERNAL_CLIENT"],
            internalClient=True,
        )
        # A registered redirect URI for the sign-out redirect scenario (partial PUT).
        r = requests.put(
            srv.url(f"/auth/v3/ops/clients/{SERVE_CLIENT_ID}"),
            json={"data": {"redirectURIs": [srv.redirect_uri]}},
            auth=srv.ops,
            timeout=10,
        )
        if r.status_code != 200:
            raise StartError(f"registering the redirect URI: {r.status_code} {r.text}")
        provision_demo(srv)
    except Exception:
        srv.stop()
        srv.run_cleanup()
        raise
    return srv


def provision_demo(srv: Server) -> None:
    """The demo tenant of `tollgate dev`, provisioned over the Environment API
    as an operator would: environment, contact center `demo`, user `agent`."""
    from envapi import EnvApi

    api = EnvApi(srv.base_url, auth=srv.ops)
    r = api.create_environment(password=SERVE_ENVIRONMENT_PASSWORD)
    if r.status_code not in (200, 201):
        raise StartError(f"provisioning the demo environment over the Environment API: {r.status_code} {r.text}")
    srv.environment_id = _created_id(r)
    r = api.create_contact_center(srv.environment_id, [DEMO_TENANT], name="Demo contact center")
    if r.status_code not in (200, 201):
        raise StartError(f"provisioning the demo contact center: {r.status_code} {r.text}")
    srv.contact_center_id = _created_id(r)
    r = api.create_user(
        srv.contact_center_id,
        DEMO_USERNAME,
        SERVE_USER_PASSWORD,
        firstName="Demo",
        lastName="Agent",
        email=f"{DEMO_USERNAME}@demo.example",
        authorities=["ROLE_AGENT"],
    )
    if r.status_code not in (200, 201):
        raise StartError(f"provisioning the demo user: {r.status_code} {r.text}")
    srv.login = DEMO_LOGIN
    srv.password = SERVE_USER_PASSWORD
    # The auth side reads the new tenant through the database: wait (briefly)
    # until the user can sign in, so no test races the propagation.
    deadline = time.monotonic() + 5
    while True:
        r = requests.post(
            srv.token_url,
            data={"grant_type": "password", "username": srv.login, "password": srv.password},
            auth=(srv.client_id, srv.client_secret),
            timeout=10,
        )
        if r.status_code == 200:
            return
        if time.monotonic() > deadline:
            raise StartError(f"the provisioned demo user cannot sign in: {r.status_code} {r.text}")
        time.sleep(0.05)


def _created_id(r: requests.Response) -> str:
    body = r.json()
    data = body.get("data") or {}
    return data.get("id") or body["path"].rstrip("/").rsplit("/", 1)[-1]


def start(
    flavour: str,
    workdir: Path,
    tag: str | None = None,
    extra_args: list[str] = (),
    redis_db: int | None = None,
    host: str | None = None,
) -> Server:
    """Starts a server of `flavour`; `extra_args` are appended to its command
    line (e.g. `--lockout-threshold 3`); `redis_db` gives a serve server a
    Redis database of its own; `host` names the host of its public URL."""
    if flavour == "dev":
        return start_dev(workdir, tag or "dev", extra_args, host)
    if flavour == "serve":
        return start_serve(workdir, tag or "serve", extra_args, redis_db, host)
    raise ValueError(flavour)
