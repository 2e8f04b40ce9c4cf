"""Fixtures: the real `tollgate` binary in two flavours, and third-party
(authlib) clients pointed at it.

* `dev`   -- `tollgate dev` on SQLite with the seeded demo tenant, client and user.
* `serve` -- `tollgate serve all` on PostgreSQL and Redis (TOLLGATE_TEST_POSTGRES_URL,
             TOLLGATE_TEST_REDIS_URL), provisioned through the ops API (client)
             and the Environment API (the same demo tenant and user as dev).

Every server is stopped with SIGTERM at teardown and must exit 0 (graceful
shutdown is a feature). After every test, the part of the server log the
test produced must not contain any secret the suite sent.
"""

from __future__ import annotations

import pytest
from authlib.integrations.requests_client import OAuth2Session

import browser as browser_mod
import tollgate
from helpers import RelyingParty, relying_party
from tollgate import Server


def pytest_report_header(config):
    return [f"tollgate binary: {tollgate.binary()}"]


# -- browser -------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """Debian's Chromium driven through playwright-core (e2e/browser), shared
    by the session; each `browser.page()` is a fresh context (no cookies).
    Skipped when Chromium or the driver is missing, unless
    TOLLGATE_REQUIRE_BROWSER=1 (scripts/test.sh), which makes that a failure."""
    reason = browser_mod.unavailable_reason()
    if reason:
        if browser_mod.required():
            pytest.fail(f"TOLLGATE_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    b = browser_mod.Browser(tmp_path_factory.mktemp("browser") / "driver.log")
    yield b
    b.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory):
    """Directory for the screenshots the browser tests take (never the repo;
    TOLLGATE_UPDATE_SCREENSHOTS=1 copies the dev ones to docs/screenshots)."""
    d = browser_mod.screenshot_dir(tmp_path_factory.mktemp("screenshots"))
    d.mkdir(parents=True, exist_ok=True)
    return d


#: Measured delays (propagation between processes, ...), shown after the run.
_MEASUREMENTS: list[tuple[str, str, float]] = []


@pytest.fixture
def record_delay(request):
    """record_delay(what, seconds): printed (so in the JUnit report's
    system-out) and listed in the terminal summary."""

    def record(what: str, seconds: float) -> None:
        _MEASUREMENTS.append((request.node.nodeid, what, seconds))
        print(f"measured {what}: {seconds * 1000:.0f} ms")

    return record


def pytest_terminal_summary(terminalreporter):
    if _MEASUREMENTS:
        terminalreporter.section("measured delays")
        for nodeid, what, seconds in _MEASUREMENTS:
            terminalreporter.write_line(f"{seconds * 1000:7.0f} ms  {what}  ({nodeid})")


def _start_or_skip(flavour: str, workdir) -> Server:
    if flavour == "serve":
        reason = tollgate.serve_unavailable_reason()
        if reason:
            if tollgate.services_required():
                pytest.fail(f"TOLLGATE_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
            pytest.skip(reason)
    # Loopback is the suite's "ingress": a test that must not charge the
    # shared address (wrong operator logins) names a client of its own in
    # X-Forwarded-For, as a real ingress would.
    return tollgate.start(flavour, workdir, extra_args=["--trusted-proxies", "127.0.0.1/32,::1/128"])


_stop_and_check = tollgate.stop_and_check


@pytest.fixture(scope="session", params=tollgate.FLAVOURS)
def server(request, tmp_path_factory) -> Server:
    """The shared server of one flavour, for the whole session."""
    srv = _start_or_skip(request.param, tmp_path_factory.mktemp(request.param))
    yield srv
    _stop_and_check(srv)


@pytest.fixture
def user_server(server) -> Server:
    """The shared server, for scenarios that need a user of the built-in
    directory (dev seeds it; serve provisions it over the Environment API)."""
    assert server.has_users, f"the {server.flavour} server has no demo user"
    return server


@pytest.fixture
def isolated_server(server, tmp_path) -> Server:
    """A server of its own (same flavour), for scenarios that end every token
    of a user or client and so must not disturb the shared server."""
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
