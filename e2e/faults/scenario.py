"""One fault under load, and the checks the scenarios share."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import requests

from envapi import EnvApi, unique
from figures import Figures, compute, record
from load import Load, Sample


@dataclass
class Outcome:
    samples: list[Sample]
    fault_at: float
    restored_at: float
    recovered: bool
    figures: Figures
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    created_users: list[str] = field(default_factory=list)
    pids: tuple = ()

    def during(self) -> list[Sample]:
        """Requests sent while the dependency was down."""
        return [s for s in self.samples if self.fault_at <= s.start < self.restored_at]

    def outside(self, grace: float) -> list[Sample]:
        """Requests before the fault, or sent `grace` seconds after the restore."""
        return [s for s in self.samples if s.end < self.fault_at or s.start > self.restored_at + grace]


def run_outage(dep, settings, name: str, fault, restore, during=None, load: Load | None = None) -> Outcome:
    """Load, then `fault()`, `during()` (if any) and a sleep to the outage's
    length, then `restore()`; waits for recovery and a clean tail of load."""
    before = dep.snapshot()
    pids = tuple(s.proc.pid for s in dep.servers)
    load = load or Load(dep.targets, dep.tenant, settings.rate)
    with load:
        t0 = load.now()
        time.sleep(settings.warmup)
        fault_at = load.now()
        fault()
        if during is not None:
            during()
        time.sleep(max(0.0, settings.outage - (load.now() - fault_at)))
        restore()
        restored_at = load.now()
        recovered = await_recovery(load, restored_at, settings.recovery)
    samples = load.since(t0)
    figures = compute(name, samples, fault_at, restored_at)
    return Outcome(samples, fault_at, restored_at, recovered, figures, before, dep.snapshot(),
                   list(load.created_users), pids)


def await_recovery(load, restored_at: float, bound: float, clean: float = 2.0) -> bool:
    """Waits until every live target answered only successes for `clean`
    seconds (True), or `bound` seconds passed since `restored_at` (False)."""
    while time.monotonic() - restored_at < bound + clean:
        time.sleep(0.25)
        window_start = time.monotonic() - clean
        if window_start < restored_at:
            continue
        recent = load.since(window_start)
        alive = {i for i, t in enumerate(load.targets) if t.alive}
        if recent and all(s.ok for s in recent) and alive <= {s.target for s in recent if s.ok}:
            return True
    return False


class Sampler:
    """Calls `probe()` every `interval` seconds in a thread; keeps (time, value)."""

    def __init__(self, probe, interval: float = 0.5):
        self.probe, self.interval = probe, interval
        self.values: list[tuple[float, object]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.values.append((time.monotonic(), self.probe()))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)


# -- checks (each returns the violations, empty when the rule holds) -----------------


def server_errors(samples: list[Sample]) -> list[str]:
    """5xx other than 503, and hangs."""
    return [f"{s.op} on #{s.target}: {s.status} after {s.latency:.1f}s {s.detail[:120]}" for s in samples
            if s.status == "timeout" or (isinstance(s.status, int) and s.status >= 500 and s.status != 503)]


def missing_retry_after(samples: list[Sample]) -> list[str]:
    """503s without a `Retry-After` (seconds), one line per operation and body.
    The authorization endpoint's temporarily_unavailable redirect has none to
    give (its `retry_after` is "redirect")."""
    return sorted({f"{s.op}: 503 without Retry-After: {s.detail[:100]}" for s in samples
                   if s.status == 503 and s.retry_after != "redirect" and not (s.retry_after or "").isdigit()})


def not_unavailable(samples: list[Sample]) -> list[str]:
    """Failures other than 503: a dependency outage must not look like a
    client error (invalid_grant, 401, ...)."""
    return [f"{s.op} on #{s.target}: {s.status} {s.detail[:160]}" for s in samples if not s.ok and s.status != 503]


def slow(samples: list[Sample], bound: float) -> list[str]:
    return [f"{s.op} on #{s.target}: {s.status} after {s.latency:.1f}s" for s in samples if s.latency > bound]


def durable_losses(o: Outcome, contact_center_id: str) -> list[str]:
    bad = []
    for table, ids in o.before.items():
        lost = set(ids) - set(o.after[table])
        if lost:
            bad.append(f"{table}: {len(lost)} lost, e.g. {sorted(lost)[:3]}")
        if len(o.after[table]) != len(set(o.after[table])):
            bad.append(f"{table}: duplicates")
    users = set(o.after["users"])
    missing = [u for u in o.created_users if (contact_center_id, u.lower()) not in users]
    if missing:
        bad.append(f"users created (201) but missing: {missing[:5]}")
    return bad


def durable_summary(o: Outcome, contact_center_id: str) -> str:
    bad = durable_losses(o, contact_center_id)
    if bad:
        return "FAILED: " + "; ".join(bad)
    grown = {k: len(o.after[k]) - len(v) for k, v in o.before.items()}
    return f"ok (no record lost or duplicated; new users {grown['users']}, families {grown['refresh_families']})"


def finish(o: Outcome, contact_center_id: str, **extra) -> Outcome:
    o.figures.durable = durable_summary(o, contact_center_id)
    o.figures.extra.update(extra)
    record(o.figures)
    return o


# -- helpers the scenarios share -----------------------------------------------------


def new_user(srv, password: str | None = None) -> tuple[str, str]:
    """A user of the demo contact center of its own: (login, password)."""
    password = password or unique("pw")
    name = unique("u")
    EnvApi(srv.base_url, auth=srv.ops).create_user_ok(srv.contact_center_id, name, password)
    return f"demo\\{name}", password


def grant(srv_url: str, client, data: dict, forwarded: str = "203.0.113.7", timeout: float = 30) -> requests.Response:
    return requests.post(srv_url + "/auth/v3/oauth/token", data=data, auth=client,
                         headers={"X-Forwarded-For": forwarded}, timeout=timeout)


def password_grant(srv_url: str, client, login: str, password: str, forwarded: str = "203.0.113.7") -> requests.Response:
    return grant(srv_url, client, {"grant_type": "password", "username": login, "password": password}, forwarded)


def introspect_active(srv_url: str, client, token: str) -> bool:
    r = requests.post(srv_url + "/auth/v3/oauth/introspect", data={"token": token}, auth=client, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["active"]


#: How soon every replica knows of a revocation made on another: at once
#: through PostgreSQL NOTIFY (milliseconds), at worst at the next 1 s poll.
#: RFC 7009 §2 allows such a propagation delay and asks to keep it short.
PROPAGATION_S = 1.0


def inactive_within(srv_url: str, client, token: str, bound: float = PROPAGATION_S) -> float | None:
    """Seconds until `token` is inactive at `srv_url` (0 when it already is);
    None when it is still active after `bound`."""
    started = time.monotonic()
    while introspect_active(srv_url, client, token):
        waited = time.monotonic() - started
        if waited > bound:
            return None
        time.sleep(0.005)
    return round(time.monotonic() - started, 3)


def await_sign_in(srv_url: str, client, login: str, password: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while password_grant(srv_url, client, login, password).status_code != 200:
        assert time.monotonic() < deadline, f"{login} cannot sign in on {srv_url}"
        time.sleep(0.1)
