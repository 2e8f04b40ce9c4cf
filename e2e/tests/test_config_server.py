"""Configuration Server contact centers against the real binary and the
simulator (`tollgate-cs-sim`, real processes on real sockets): an
environment whose Configuration Server pair points at two simulators, a
contact center with `auth: configServer`, sign-in with the password grant
and in the browser; the primary dies and sign-ins continue on the backup;
both die and the answer is 503 with Retry-After, never "wrong password".

The simulator speaks Tollgate's own protocol, not Genesys'."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

import tollgate
from envapi import EnvApi
from helpers import code_client, unique, verify_access_token, verify_jwt

SERVICE_USER = "cs-service"
SERVICE_PASSWORD = "cs-service-password-e2e"
USERS = [
    {"userName": "alice", "password": "alice-cs-password-e2e", "dbid": 1001, "firstName": "Alice",
     "lastName": "Liddell", "email": "alice@example.org", "authorities": ["ROLE_SUPERVISOR", "ROLE_AGENT"]},
    {"userName": "locked", "password": "locked-cs-password-e2e", "dbid": 1003, "locked": True},
]


def sim_binary() -> Path:
    """TOLLGATE_CS_SIM_BIN, else the simulator beside the tollgate binary."""
    raw = os.environ.get("TOLLGATE_CS_SIM_BIN")
    path = Path(raw) if raw else tollgate.binary().with_name("tollgate-cs-sim")
    if not path.is_absolute():
        path = tollgate.REPO_ROOT / path
    if not path.exists():
        pytest.fail(f"{path} not found: build it with 'cargo build -p tollgate' or set TOLLGATE_CS_SIM_BIN")
    return path


class Sim:
    """One simulator process; `kill()` is SIGKILL, as a crash."""

    def __init__(self, seed: Path, log: Path):
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(
            [str(sim_binary()), "--users", str(seed)], stdout=subprocess.PIPE, stderr=self.log
        )
        line = self.proc.stdout.readline().decode().strip()
        assert line.startswith("listening on "), f"tollgate-cs-sim did not start: {line!r}"
        host, port = line.removeprefix("listening on ").rsplit(":", 1)
        self.host, self.port = host, int(port)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture
def sims(tmp_path):
    seed = tmp_path / "users.json"
    seed.write_text(json.dumps({"serviceAccount": {"userName": SERVICE_USER, "password": SERVICE_PASSWORD}, "users": USERS}))
    primary, backup = Sim(seed, tmp_path / "primary.log"), Sim(seed, tmp_path / "backup.log")
    yield primary, backup
    primary.kill()
    backup.kill()


@pytest.fixture
def cs_tenant(server, sims):
    """A contact center on an environment whose Configuration Servers are the simulators."""
    primary, backup = sims
    server.remember_secret(SERVICE_PASSWORD)
    for u in USERS:
        server.remember_secret(u["password"])
    api = EnvApi(server.base_url, auth=server.ops)
    env = api.create_environment_ok(
        username=SERVICE_USER,
        password=SERVICE_PASSWORD,
        localTimeout=2,
        remoteTimeout=2,
        appName="Tollgate",
        configServers=[{
            "primaryAddress": primary.host, "primaryPort": primary.port,
            "backupAddress": backup.host, "backupPort": backup.port,
            "readOnly": False, "locations": "/",
        }],
    )
    domain = unique("cs")
    cc = api.create_contact_center_ok(env["id"], domains=[domain], auth="configServer")
    return cc, domain


def grant(server, login: str, password: str) -> requests.Response:
    return requests.post(
        server.token_url,
        data={"grant_type": "password", "username": login, "password": password},
        auth=(server.client_id, server.client_secret),
        timeout=30,
    )


def wait_for_sign_in(server, login: str, password: str, timeout: float = 5.0) -> requests.Response:
    """A contact center created over the Environment API reaches the auth side through the store."""
    deadline = time.monotonic() + timeout
    while True:
        r = grant(server, login, password)
        if r.status_code == 200 or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


def test_config_server_sign_in_and_failover(server, sims, cs_tenant):
    primary, backup = sims
    cc, domain = cs_tenant
    alice = f"{domain}\\alice"

    r = wait_for_sign_in(server, alice, USERS[0]["password"])
    assert r.status_code == 200, r.text
    claims = verify_jwt(server, r.json()["access_token"]).claims
    assert claims["user_name"] == "alice"
    assert claims["contact_center_id"] == cc["id"]
    assert sorted(claims["authorities"]) == ["ROLE_AGENT", "ROLE_SUPERVISOR"]

    r = grant(server, alice, "wrong-cs-password-e2e")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant"), r.text
    locked = grant(server, f"{domain}\\locked", USERS[1]["password"])
    assert (locked.status_code, locked.json()["error"]) == (400, "invalid_grant"), locked.text
    assert locked.json()["error_description"] != r.json()["error_description"]

    # The primary crashes while 3 clients keep signing in (paced to stay
    # well under the shared server's per-IP rate limit): every sign-in still
    # succeeds (on the backup), none waits beyond the timeouts.
    stop = threading.Event()

    def sign_in_until_stopped() -> list[tuple[int, float]]:
        results = []
        while not stop.is_set():
            started = time.monotonic()
            r = grant(server, alice, USERS[0]["password"])
            results.append((r.status_code, time.monotonic() - started))
            time.sleep(0.2)
        return results

    with ThreadPoolExecutor(3) as pool:
        running = [pool.submit(sign_in_until_stopped) for _ in range(3)]
        time.sleep(1.0)
        primary.kill()
        time.sleep(2.0)
        stop.set()
        results = [r for f in running for r in f.result()]
    statuses = [status for status, _ in results]
    assert statuses.count(200) == len(statuses), sorted(set(statuses))
    assert len(results) > 20, len(results)
    slowest = max(seconds for _, seconds in results)
    assert slowest < 2 + 2, f"slowest sign-in {slowest:.2f}s"
    print(f"measured {len(results)} sign-ins across the primary's crash, slowest {slowest * 1000:.0f} ms")

    # Both are gone: unavailable, not "wrong password".
    backup.kill()
    started = time.monotonic()
    r = grant(server, alice, USERS[0]["password"])
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "temporarily_unavailable"
    assert int(r.headers["Retry-After"]) > 0
    assert time.monotonic() - started < 2 * 2 + 1, "within the environment's timeouts"
    metrics = requests.get(server.mgmt_url + "/metrics", timeout=10).text
    env = cc["environmentId"]
    assert f'auth_cs_switchovers_total{{environment="{env}"}} 1' in metrics, metrics
    assert f'auth_cs_active_server{{environment="{env}"}} -1' in metrics, metrics


def test_config_server_browser_sign_in(server, sims, cs_tenant, browser):
    from test_browser_sign_in import RP, on_sign_in_page

    cc, domain = cs_tenant
    assert wait_for_sign_in(server, f"{domain}\\alice", USERS[0]["password"]).status_code == 200
    client = code_client(server)
    rp = RP(server, client)
    page = browser.page(redirect_uri=server.redirect_uri)
    try:
        on_sign_in_page(page.goto(rp.url))
        info = page.sign_in("alice", server.secret(USERS[0]["password"]), tenant=domain)
        assert len(info["callbacks"]) == 1, f"{info['url']} {info.get('text', '')[:300]}"
        token = rp.redeem(info["callbacks"][0])
    finally:
        page.close()
    claims = verify_access_token(server, token["access_token"], client_id=client["client_id"])
    assert claims["user_name"] == "alice"
    assert claims["contact_center_id"] == cc["id"]
