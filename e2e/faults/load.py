"""The load generator: threads spreading a mix of requests over the Tollgate
processes, recording every answer (status, `Retry-After`, latency).

The mix: client credentials, password, refresh (each worker rotates its own
refresh token), introspection, authorization code (the sign-in form driven
with `requests`, as a browser without JavaScript would) and Environment API
writes (a user created per write, with a management client's token; every
201 is remembered for the durable-data check).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from test_code_flow import forms_of, query

#: A request answered later than this counts as hung (status "timeout").
CLIENT_TIMEOUT = 30.0

WEIGHTS = {"client_credentials": 3, "password": 2, "refresh": 2, "introspect": 3, "code": 1, "envapi": 1}
#: The LDAP scenario adds sign-ins of the LDAP contact center's users.
WITH_LDAP = {**WEIGHTS, "ldap": 2}
#: The soak adds revocations (RFC 7009), so their table is exercised too.
WITH_REVOCATION = {**WEIGHTS, "revoke": 1}


@dataclass
class Sample:
    start: float
    end: float
    op: str
    target: int
    status: int | str  # HTTP status, or "timeout" / "conn"
    retry_after: str | None
    ok: bool
    detail: str = ""

    @property
    def latency(self) -> float:
        return self.end - self.start


@dataclass
class Target:
    """One Tollgate process as the load generator sees it."""

    base_url: str
    alive: bool = True


@dataclass
class Tenant:
    """What the load uses: the confidential client, the demo user, the
    code-flow client, a management token and the contact center it writes to."""

    client: tuple[str, str]
    login: str
    password: str
    code_client: tuple[str, str]
    redirect_uri: str
    public_url: str
    management_client: tuple[str, str]
    contact_center_id: str
    #: Built-in users the load signs in as, spread so that an outage's
    #: failed sign-ins stay under any one user's lockout threshold.
    users: list[tuple[str, str]] = field(default_factory=list)
    ldap_logins: list[tuple[str, str]] = field(default_factory=list)


class Load:
    def __init__(self, targets: list[Target], tenant: Tenant, rate: float, workers: int = 6, weights=None):
        self.targets = targets
        self.tenant = tenant
        self.rate = rate
        self.workers = workers
        self.weights = dict(weights or WEIGHTS)
        self.samples: list[Sample] = []
        self.created_users: list[str] = []
        self._lock = threading.Lock()
        self._local = threading.local()  # each worker's last sample
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._tokens: list[str] = []
        self._mgmt_token: str | None = None
        self._mgmt_token_renew_at = 0.0

    # -- lifecycle -----------------------------------------------------------
    def __enter__(self) -> "Load":
        self._stop.clear()
        for i in range(self.workers):
            t = threading.Thread(target=self._worker, args=(i,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(CLIENT_TIMEOUT + 5)
        self._threads.clear()

    def now(self) -> float:
        return time.monotonic()

    def since(self, t: float) -> list[Sample]:
        with self._lock:
            return [s for s in self.samples if s.start >= t]

    # -- one worker ------------------------------------------------------------
    def _worker(self, n: int) -> None:
        http = requests.Session()
        rng = random.Random()
        ops, weights = zip(*self.weights.items())
        state = {"refresh": None}
        period = self.workers / self.rate
        next_at = time.monotonic() + rng.random() * period
        k = 0
        while not self._stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            next_at = max(next_at + period, time.monotonic() - period)
            alive = [i for i, t in enumerate(self.targets) if t.alive]
            if not alive:
                continue
            target = alive[k % len(alive)]
            k += 1
            op = rng.choices(ops, weights)[0]
            getattr(self, f"_op_{op}")(http, target, state, rng)

    def _send(self, http: requests.Session, op: str, target: int, method: str, url: str, expect=(200,), **kw):
        headers = {**kw.pop("headers", {})}
        start = time.monotonic()
        try:
            r = http.request(method, url, timeout=CLIENT_TIMEOUT, allow_redirects=False, headers=headers, **kw)
        except requests.Timeout:
            self._record(Sample(start, time.monotonic(), op, target, "timeout", None, False))
            return None
        except requests.ConnectionError as e:
            self._record(Sample(start, time.monotonic(), op, target, "conn", None, False, str(e)[:200]))
            return None
        ok = r.status_code in expect
        detail = "" if ok else r.text[:300]
        self._record(Sample(start, time.monotonic(), op, target, r.status_code, r.headers.get("Retry-After"), ok, detail))
        return r if ok else None

    def _record(self, s: Sample) -> None:
        self._local.last = s
        with self._lock:
            self.samples.append(s)

    def _last_status(self):
        last = getattr(self._local, "last", None)
        return last.status if last else None

    def url(self, target: int, path: str) -> str:
        return self.targets[target].base_url + path

    @staticmethod
    def _forwarded() -> dict:
        """A client address of its own per request (the processes trust the
        loopback proxy): lockout and rate limits count per address."""
        return {"X-Forwarded-For": f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"}

    def _token(self, http, op, target, data, auth, state):
        headers = self._forwarded()
        return self._send(http, op, target, "POST", self.url(target, "/auth/v3/oauth/token"), data=data, auth=auth,
                          headers=headers)

    # -- the operations --------------------------------------------------------
    def _op_client_credentials(self, http, target, state, rng):
        self._token(http, "client_credentials", target, {"grant_type": "client_credentials"}, self.tenant.client, state)

    def _op_password(self, http, target, state, rng):
        t = self.tenant
        login, password = rng.choice(t.users)
        r = self._token(http, "password", target,
                        {"grant_type": "password", "username": login, "password": password}, t.client, state)
        if r is not None:
            body = r.json()
            with self._lock:
                self._tokens = [*self._tokens[-20:], body["access_token"]]
            state["refresh"] = body.get("refresh_token") or state["refresh"]

    def _op_ldap(self, http, target, state, rng):
        login, password = rng.choice(self.tenant.ldap_logins)
        self._token(http, "ldap", target, {"grant_type": "password", "username": login, "password": password},
                    self.tenant.client, state)

    def _op_refresh(self, http, target, state, rng):
        if state["refresh"] is None:
            return self._op_password(http, target, state, rng)
        r = self._token(http, "refresh", target, {"grant_type": "refresh_token", "refresh_token": state["refresh"]},
                        self.tenant.client, state)
        if r is not None:
            state["refresh"] = r.json()["refresh_token"]
        elif self._last_status() == 400:
            state["refresh"] = None  # lost: counted as a failure, start a new family

    def _op_introspect(self, http, target, state, rng):
        with self._lock:
            token = self._tokens[-1] if self._tokens else None
        if token is None:
            return self._op_password(http, target, state, rng)
        r = self._send(http, "introspect", target, "POST", self.url(target, "/auth/v3/oauth/introspect"),
                       data={"token": token}, auth=self.tenant.client)
        if r is not None and not r.json().get("active"):
            self._record(Sample(time.monotonic(), time.monotonic(), "introspect", target, "inactive", None, False))

    def _op_revoke(self, http, target, state, rng):
        """Revokes the oldest remembered access token; introspection only
        ever reads the newest, which stays active."""
        with self._lock:
            token = self._tokens.pop(0) if len(self._tokens) > 1 else None
        if token is None:
            return self._op_password(http, target, state, rng)
        self._send(http, "revoke", target, "POST", self.url(target, "/auth/v3/oauth/revoke"),
                   data={"token": token, "token_type_hint": "access_token"}, auth=self.tenant.client)

    def _op_envapi(self, http, target, state, rng):
        # As a client does: a new token shortly before the old one expires.
        fresh = self._mgmt_token and time.monotonic() < self._mgmt_token_renew_at
        token = self._mgmt_token if fresh else self._management_token(http, target, state)
        if token is None:
            return
        name = f"load{rng.getrandbits(48):012x}"
        body = {"data": {"userName": name, "firstName": "L", "lastName": "Oad", "email": f"{name}@example.com",
                         "authorities": ["ROLE_AGENT"], "properties": {}, "enabled": True}}
        r = self._send(http, "envapi", target, "POST",
                       self.url(target, f"/environment/v3/contact-centers/{self.tenant.contact_center_id}/users"),
                       expect=(201,), json=body, headers={"Authorization": f"Bearer {token}"})
        if r is not None:
            with self._lock:
                self.created_users.append(name)
        elif self._last_status() == 401:
            self._mgmt_token = None

    def _management_token(self, http, target, state):
        r = self._token(http, "client_credentials", target, {"grant_type": "client_credentials"},
                        self.tenant.management_client, state)
        if r is not None:
            answer = r.json()
            self._mgmt_token = answer["access_token"]
            self._mgmt_token_renew_at = time.monotonic() + answer.get("expires_in", 60) * 0.8
        return self._mgmt_token

    def _op_code(self, http, target, state, rng):
        """Authorization code with the sign-in form, each request recorded."""
        t = self.tenant
        base = self.targets[target].base_url
        login, password = rng.choice(t.users)
        with requests.Session() as s:
            s.headers.update(self._forwarded())
            params = {"response_type": "code", "client_id": t.code_client[0], "redirect_uri": t.redirect_uri,
                      "scope": "openid", "state": f"{rng.getrandbits(64):x}"}
            r = self._send(s, "code", target, "GET", base + "/auth/v3/oauth/authorize", expect=(302, 303), params=params)
            if r is None:
                return
            r = self._send(s, "code", target, "GET", self._here(base, r.url, r.headers["Location"]))
            if r is None:
                return
            form = forms_of(r.text).get("sign-in-form")
            if not form:
                self._record(Sample(time.monotonic(), time.monotonic(), "code", target, "no-form", None, False))
                return
            data = {**form["fields"], "username": login, "password": password}
            r = self._send(s, "code", target, "POST", self._here(base, r.url, form["action"]), expect=(302, 303), data=data)
            for _ in range(3):
                if r is None:
                    return
                location = urljoin(r.url, r.headers["Location"])
                if location.startswith(t.redirect_uri):
                    break
                r = self._send(s, "code", target, "GET", self._here(base, r.url, location), expect=(302, 303))
            else:
                return
            answer = query(location)
            if "code" not in answer:
                # The authorization endpoint answers errors by redirect (RFC 6749
                # §4.1.2.1): temporarily_unavailable is its 503, and a redirect
                # has no Retry-After to give.
                err = answer.get("error")
                status = 503 if err == "temporarily_unavailable" else f"redirect:{err}"
                now = time.monotonic()
                self._record(Sample(now, now, "code", target, status, "redirect", False,
                                    f"error={err} {answer.get('error_description', '')}"))
                return
            code = answer["code"]
            self._send(s, "code", target, "POST", base + "/auth/v3/oauth/token", auth=t.code_client,
                       data={"grant_type": "authorization_code", "code": code, "redirect_uri": t.redirect_uri})

    def _here(self, base: str, current: str, location: str) -> str:
        """The same URL on this target (redirects name the shared public URL)."""
        u = urlsplit(urljoin(current, location))
        b = urlsplit(base)
        return urlunsplit((b.scheme, b.netloc, u.path, u.query, u.fragment))


def status_counts(samples: list[Sample]) -> Counter:
    return Counter(str(s.status) for s in samples if not s.ok)
