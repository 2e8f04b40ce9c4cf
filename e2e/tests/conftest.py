"""Fixtures: the real `tollgate` binary in two flavours, and third-party
(authlib) clients pointed at it.

* `dev`   -- `tollgate dev` on SQLite with the seeded demo tenant, client and user.
* `serve` -- `tollgate serve all` on PostgreSQL and Redis (TOLLGATE_TEST_POSTGRES_URL,
             TOLLGATE_TEST_REDIS_URL), provisioned through the ops API.

Every server is stopped with SIGTERM at teardown and must exit 0 (graceful
shutdown is a feature). After every test, the part of the server log the
test produced must not contain any secret the suite sent.
"""

from __future__ import annotations

import pytest
from authlib.integrations.requests_client import OAuth2Session

import tollgate
from helpers import RelyingParty, relying_party
from tollgate import NO_USERS_REASON, Server


def pytest_report_header(config):
    return [f"tollgate binary: {tollgate.binary()}"]


def _start_or_skip(flavour: str, workdir) -> Server:
    if flavour == "serve":
        reason = tollgate.serve_unavailable_reason()
        if reason:
            if tollgate.services_required():
                pytest.fail(f"TOLLGATE_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
            pytest.skip(reason)
    return tollgate.start(flavour, workdir)


def _stop_and_check(srv: Server) -> None:
    try:
        code = srv.stop()
        stopped = any(r.get("message") == "stopped" for r in _safe_records(srv))
    finally:
        srv.run_cleanup()
    assert code == 0, f"tollgate ({srv.flavour}) exited with {code} after SIGTERM:\n{srv.log_tail()}"
    assert stopped, f"tollgate ({srv.flavour}) did not log its orderly stop:\n{srv.log_tail()}"
    leaked = srv.leaked_secrets()
    assert not leaked, f"the {srv.flavour} server log contains secrets: {leaked}"


def _safe_records(srv: Server) -> list[dict]:
    try:
        return srv.log_records()
    except Exception:
        return []


@pytest.fixture(scope="session", params=tollgate.FLAVOURS)
def server(request, tmp_path_factory) -> Server:
    """The shared server of one flavour, for the whole session."""
    srv = _start_or_skip(request.param, tmp_path_factory.mktemp(request.param))
    yield srv
    _stop_and_check(srv)


@pytest.fixture
def user_server(server) -> Server:
    """The shared server, for scenarios that need a user of the built-in directory."""
    if not server.has_users:
        pytest.skip(NO_USERS_REASON)
    return server


@pytest.fixture
def isolated_server(server, tmp_path) -> Server:
    """A server of its own (same flavour), for scenarios that end every token
    of a user or client and so must not disturb the shared server."""
    if not server.has_users:
        pytest.skip(NO_USERS_REASON)
    srv = tollgate.start(server.flavour, tmp_path, tag="isolated")
    yield srv
    _stop_and_check(srv)


@pytest.fixture(autouse=True)
def _no_secret_in_log(request):
    """Whatever a test does, the log lines it caused hold no secret."""
    srv = request.getfixturevalue("server") if "server" in request.fixturenames else None
    start = srv.log_size() if srv else 0
    yield
    if srv is not None and srv.proc.poll() is None:
        leaked = srv.leaked_secrets(since=start)
        assert not leaked, f"the server log written during this test contains secrets: {leaked}"


# -- third-party clients -------------------------------------------------------


@pytest.fixture
def session_factory(server):
    """authlib OAuth2Session objects for a client of the server under test."""
    made = []

    def make(client_id=None, client_secret=None, method="client_secret_basic", **kw) -> OAuth2Session:
        s = OAuth2Session(
            client_id or server.client_id,
            client_secret if client_secret is not None else server.client_secret,
            token_endpoint_auth_method=method,
            revocation_endpoint_auth_method=method,
            **kw,
        )
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def oauth(session_factory) -> OAuth2Session:
    return session_factory()


@pytest.fixture
def rp(server) -> RelyingParty:
    return relying_party(server)
