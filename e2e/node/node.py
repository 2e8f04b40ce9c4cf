"""Helpers of the real-node tests: waiting, timing, HTTP to cluster IPs,
the load loop that counts every request of an upgrade or a fault, and a
client's signing key."""

from __future__ import annotations

import base64
import collections
import http.client
import json
import subprocess
import threading
import time
import urllib.parse
import uuid
from typing import Callable

#: Measurements of this run, printed at the end of the session.
MEASUREMENTS: list[str] = []


def record(what: str, value: float | str, unit: str = "s") -> None:
    line = f"{what}: {value:.1f} {unit}" if isinstance(value, float) else f"{what}: {value}"
    MEASUREMENTS.append(line)
    print("\nMEASURE " + line, flush=True)


class Timer:
    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            record(self.what, time.monotonic() - self.start)


def wait_for(what: str, seconds: float, check: Callable[[], bool], detail: Callable[[], object] | None = None) -> None:
    deadline = time.monotonic() + seconds
    last_error = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as err:  # noqa: BLE001 - the object may not exist yet
            last_error = err
        time.sleep(1)
    extra = ""
    if detail is not None:
        try:
            extra = f"; now: {detail()}"
        except Exception as err:  # noqa: BLE001
            extra = f"; {err}"
    raise AssertionError(f"{what}: not after {seconds}s (last error {last_error!r}){extra}")


class NotSent(Exception):
    """The connection could not be opened: the request never left the client
    (so a retry is safe, even for a refresh). `error` is the socket's error."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


def request(host: str, method: str, path: str, form: dict | None = None, body: dict | None = None,
            basic: tuple[str, str] | None = None, bearer: str | None = None, timeout: float = 5) -> tuple[int, bytes]:
    """One request on a new connection (so a Service balances each one)."""
    headers = {"Connection": "close"}
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    if basic is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
    if bearer is not None:
        headers["Authorization"] = "Bearer " + bearer
    conn = http.client.HTTPConnection(host, 80, timeout=timeout)
    try:
        try:
            conn.connect()
        except OSError as err:
            raise NotSent(err) from err
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


TOKEN = "/auth/v3/oauth/token"


def client_token(platform: dict) -> dict:
    status, body = request(platform["auth"], "POST", TOKEN, form={"grant_type": "client_credentials"},
                           basic=(platform["client_id"], platform["client_secret"]))
    assert status == 200, (status, body)
    return json.loads(body)


class LoadLoop(threading.Thread):
    """Token, introspection and refresh requests in turn, each on a new
    connection through the auth Service, until stopped (at most `limit`
    seconds). Counts answers per kind; any non-200 or error is a failure,
    except a connection that could not be opened, tried once more first.
    The user (`demo\\name`, password) signs in first and again after a
    failed refresh, as a client does: a refresh whose answer was lost has
    rotated the token, and reusing the old one is refused (reuse detection)."""

    def __init__(self, platform: dict, user: tuple[str, str], limit: float = 600):
        super().__init__(daemon=True)
        self.platform = platform
        self.user = user
        self.refresh_token = None
        #: Connections that could not be opened and were tried again.
        self.connect_retries = 0
        self.limit = limit
        self.stop_event = threading.Event()
        self.counts: collections.Counter = collections.Counter()
        self.failures: list[str] = []
        #: time.monotonic() of each failure
        self.failures_at: list[float] = []

    def _one(self, kind: str, form: dict, ok: Callable[[dict], bool]) -> dict | None:
        self.counts[kind] += 1
        path = form.pop("_path", TOKEN)
        for attempt in (1, 2):
            try:
                status, body = request(self.platform["auth"], "POST", path, form=form,
                                       basic=(self.platform["client_id"], self.platform["client_secret"]))
                break
            except NotSent as err:
                # As HTTP clients do: a connection that could not be opened
                # (a Service endpoint gone a moment ago) is tried once more;
                # the request itself never reached a server.
                if attempt == 2:
                    return self._failed(f"{kind}: {type(err.error).__name__}: {err.error}")
                self.connect_retries += 1
            except Exception as err:  # noqa: BLE001 - every error is counted
                return self._failed(f"{kind}: {type(err).__name__}: {err}")
        if status != 200:
            return self._failed(f"{kind}: HTTP {status} {body[:200]!r}")
        answer = json.loads(body)
        if not ok(answer):
            return self._failed(f"{kind}: unexpected answer {body[:200]!r}")
        return answer

    def _failed(self, failure: str) -> None:
        self.failures.append(failure)
        self.failures_at.append(time.monotonic())

    def run(self) -> None:
        deadline = time.monotonic() + self.limit
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            if self.refresh_token is None:
                signed_in = self._one("sign-in", {"grant_type": "password", "username": self.user[0],
                                                  "password": self.user[1]}, lambda a: "refresh_token" in a)
                self.refresh_token = signed_in and signed_in["refresh_token"]
            token = self._one("token", {"grant_type": "client_credentials"}, lambda a: "access_token" in a)
            if token:
                self._one("introspection", {"_path": "/auth/v3/oauth/introspect", "token": token["access_token"]},
                          lambda a: a.get("active") is True)
            if self.refresh_token:
                refreshed = self._one("refresh", {"grant_type": "refresh_token", "refresh_token": self.refresh_token},
                                      lambda a: "access_token" in a)
                self.refresh_token = refreshed.get("refresh_token", self.refresh_token) if refreshed else None
            time.sleep(0.02)

    def stop(self) -> str:
        self.stop_event.set()
        self.join(30)
        total = sum(self.counts.values())
        summary = (f"{total} requests ({', '.join(f'{k} {v}' for k, v in sorted(self.counts.items()))}), "
                   f"{len(self.failures)} failed, {self.connect_retries} connections opened at the second try")
        print("\nLOAD " + summary, flush=True)
        for failure in self.failures[:20]:
            print("  FAILED " + failure, flush=True)
        return summary


def pod_memory(admin_client, node: str, namespace: str) -> dict[str, tuple[int, int]]:
    """Memory per pod from the kubelet's summary API, in bytes: anonymous
    resident memory (cgroup rss) and working set (with page cache)."""
    from kubernetes import client

    raw = client.CoreV1Api(admin_client).connect_get_node_proxy_with_path(
        node, "stats/summary", _preload_content=False)
    summary = json.loads(raw.data)
    return {
        pod["podRef"]["name"]: (
            sum(c.get("memory", {}).get("rssBytes", 0) for c in pod.get("containers", [])),
            sum(c.get("memory", {}).get("workingSetBytes", 0) for c in pod.get("containers", [])),
        )
        for pod in summary.get("pods", [])
        if pod["podRef"]["namespace"] == namespace
    }


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class RsaKey:
    """A client's RSA key made with openssl (the tests' Python has no
    crypto library): its public JWK, and RS256-signed JWTs."""

    def __init__(self, directory, kid: str):
        self.kid = kid
        self.path = f"{directory}/{kid}.pem"
        subprocess.run(["openssl", "genrsa", "-out", self.path, "2048"], check=True, capture_output=True)

    def jwk(self) -> dict:
        modulus = subprocess.run(["openssl", "rsa", "-in", self.path, "-noout", "-modulus"],
                                 check=True, capture_output=True, text=True).stdout.strip().split("=", 1)[1]
        return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                "n": b64url(bytes.fromhex(modulus)), "e": b64url((65537).to_bytes(3, "big"))}

    def sign(self, claims: dict) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.path],
                                   input=signing_input.encode(), check=True, capture_output=True).stdout
        return f"{signing_input}.{b64url(signature)}"

    def client_assertion(self, client_id: str, audience: str) -> dict:
        """The token request's client authentication by private_key_jwt (RFC 7523)."""
        now = int(time.time())
        claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 60,
                  "jti": uuid.uuid4().hex}
        return {"client_id": client_id, "client_assertion": self.sign(claims),
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
