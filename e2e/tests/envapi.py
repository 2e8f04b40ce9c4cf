"""A thin client of the Environment API (`/environment/v3`), the way an
installer's curl talks to it: JSON bodies `{"data": {...}}`, answers in the
`{"status":{"code":0},"data":...}` envelope.

Used by the serve fixture (to provision the demo tenant and user) and by
the Environment API tests. Every helper returns the raw `requests.Response`
or, for the `*_ok` forms, the checked envelope body.
"""

from __future__ import annotations

import time
import uuid

import requests

BASE = "/environment/v3"

#: Delay within which a change made through the Environment API must reach
#: every auth process (the contract).
PROPAGATION = 2.0


def unique(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def envelope_ok(r: requests.Response, status=(200, 201)) -> dict:
    """The body of a successful answer: expected status, `status.code` 0."""
    statuses = (status,) if isinstance(status, int) else tuple(status)
    assert r.status_code in statuses, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    body = r.json()
    assert body["status"]["code"] == 0, body
    return body


def envelope_error(r: requests.Response, status) -> dict:
    """The body of an error answer: `{"status":{"code":<http>,"message":"…"}}`."""
    statuses = (status,) if isinstance(status, int) else tuple(status)
    assert r.status_code in statuses, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    body = r.json()
    assert body["status"]["code"] == r.status_code, body
    assert body["status"].get("message"), body
    assert "data" not in body, body
    return body


#: The contact-center fields of the contract (what a PUT sends back).
CONTACT_CENTER_FIELDS = ("id", "name", "domains", "environmentId", "auth", "enabled", "version")


def environment_body(**over) -> dict:
    """The original's documented environment (a Configuration Server pair)."""
    body = {
        "username": "default",
        "password": "cfg-password-e2e",
        "connectionProtocol": "addp",
        "localTimeout": 7,
        "remoteTimeout": 7,
        "tenant": "Resources",
        "appName": "Cloud",
        "traceMode": "CFGTMBoth",
        "tlsEnabled": False,
        "configServers": [
            {
                "primaryAddress": "config-server.example.com",
                "primaryPort": 8888,
                "backupAddress": "config-server-backup.example.com",
                "backupPort": 8888,
                "readOnly": False,
                "locations": "/USW1",
            }
        ],
    }
    body.update(over)
    return body


class EnvApi:
    """Calls to one server's Environment API with one set of credentials:
    operator Basic (`auth=(user, password)`) or a bearer `token`."""

    def __init__(self, base_url: str, auth: tuple[str, str] | None = None, token: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def url(self, path: str) -> str:
        return self.base_url + BASE + path

    def call(self, method: str, path: str, data=None, params=None, raw=None, **kw) -> requests.Response:
        if data is not None:
            kw["json"] = {"data": data}
        elif raw is not None:
            kw["json"] = raw
        return requests.request(
            method, self.url(path), params=params, auth=self.auth, headers=self.headers, timeout=15, allow_redirects=False, **kw
        )

    # -- environments -------------------------------------------------------
    def create_environment(self, **fields) -> requests.Response:
        return self.call("POST", "/environments", environment_body(**fields))

    def create_environment_ok(self, **fields) -> dict:
        return created(self.create_environment(**fields), "/environments")

    # -- contact centers ----------------------------------------------------
    def create_contact_center(self, environment_id: str, domains: list[str] | None = None, **fields) -> requests.Response:
        body = {
            "name": fields.pop("name", None) or unique("cc"),
            "domains": domains if domains is not None else [unique("dom")],
            "environmentId": environment_id,
            "auth": "builtin",
            "enabled": True,
            **fields,
        }
        return self.call("POST", "/contact-centers", body)

    def create_contact_center_ok(self, environment_id: str, domains: list[str] | None = None, **fields) -> dict:
        return created(self.create_contact_center(environment_id, domains, **fields), "/contact-centers")

    def contact_center(self, cc_id: str) -> dict:
        return envelope_ok(self.call("GET", f"/contact-centers/{cc_id}"), 200)["data"]

    def update_contact_center(self, cc_id: str, **changes) -> requests.Response:
        """PUT of the current record with `changes` applied (version included)."""
        current = self.contact_center(cc_id)
        body = {k: current[k] for k in CONTACT_CENTER_FIELDS if k in current}
        return self.call("PUT", f"/contact-centers/{cc_id}", {**body, **changes})

    # -- settings and CORS ----------------------------------------------------
    def set_setting(self, cc_id: str, name: str, value, location: str = "/", shared: bool = False) -> requests.Response:
        return self.call(
            "POST", f"/contact-centers/{cc_id}/settings", {"location": location, "name": name, "shared": shared, "value": value}
        )

    def set_cors_origins(self, cc_id: str, origins: list[str]) -> dict:
        return envelope_ok(self.set_setting(cc_id, "cors-origins", ",".join(origins)))

    def settings(self, cc_id: str) -> list[dict]:
        return envelope_ok(self.call("GET", f"/contact-centers/{cc_id}/settings"), 200)["data"]["settings"]

    def add_cors_origin(self, cc_id: str, origin: str) -> requests.Response:
        return self.call("POST", "/cors", {"contactCenterId": cc_id, "origin": origin})

    # -- users ----------------------------------------------------------------
    def create_user(self, cc_id: str, user_name: str | None = None, password: str | None = None, **fields) -> requests.Response:
        body = {
            "userName": user_name or unique("user"),
            "firstName": "Ada",
            "lastName": "Lovelace",
            "email": "ada@example.com",
            "authorities": ["ROLE_AGENT"],
            "properties": {},
            "enabled": True,
            **fields,
        }
        if password is not None:
            body["password"] = password
        return self.call("POST", f"/contact-centers/{cc_id}/users", body)

    def create_user_ok(self, cc_id: str, user_name: str | None = None, password: str | None = None, **fields) -> dict:
        return created(self.create_user(cc_id, user_name, password, **fields), f"/contact-centers/{cc_id}/users")

    def user(self, cc_id: str, user_id: str) -> dict:
        return envelope_ok(self.call("GET", f"/contact-centers/{cc_id}/users/{user_id}"), 200)["data"]


def created(r: requests.Response, collection: str) -> dict:
    """The `data` of a create answer, with `id` and `path` checked. As the
    original's, `path` is relative to the API base (`/environments/<id>`):
    installers take the id with `jq -r .path | cut -d/ -f3`."""
    body = envelope_ok(r, (200, 201))
    path = body.get("path")
    assert path, f"create answer without path: {body}"
    data = body.get("data") or {}
    rid = data.get("id")
    assert rid, f"create answer without data.id: {body}"
    assert path == f"{collection}/{rid}", f"path {path!r}, expected {collection}/{rid}"
    return {**data, "path": path}


def cut_id(path: str) -> str:
    """`cut -d/ -f3` of a path: the id of a top-level resource."""
    return path.split("/")[2]


def provision_tenant(api: EnvApi, domain: str, user_name: str, password: str, **user_fields) -> dict:
    """Environment -> contact center (builtin directory) -> user; returns the ids."""
    env = api.create_environment_ok()
    cc = api.create_contact_center_ok(env["id"], [domain], name=f"{domain} contact center")
    user = api.create_user_ok(cc["id"], user_name, password, **user_fields)
    return {"environment_id": env["id"], "contact_center_id": cc["id"], "user_id": user["id"], "user": user}


def poll(predicate, timeout: float = PROPAGATION, interval: float = 0.05):
    """Calls `predicate` until it returns a truthy value or `timeout` passes.
    Returns (value, seconds waited): the time of the first truthy answer."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        value = predicate()
        now = time.monotonic()
        if value or now > deadline:
            return value, now - start
        time.sleep(interval)
