"""Process lifecycle: health endpoints, metrics, graceful shutdown."""

import threading
import time

import pytest
import requests

import tollgate
from helpers import http


def test_health_endpoints(server):
    for path in ("/health", "/health/live", "/health/ready"):
        r = http("GET", server.mgmt_url + path)
        assert r.status_code == 200, path
        assert r.json()["status"]["code"] == 0


def test_metrics(server, oauth):
    oauth.fetch_token(server.token_url, grant_type="client_credentials")
    r = http("GET", server.mgmt_url + "/metrics")
    assert r.status_code == 200
    assert "# EOF" in r.text


def test_management_is_not_on_the_public_port(server):
    assert http("GET", server.url("/metrics")).status_code == 404
    assert http("GET", server.mgmt_url + "/auth/v3/oauth/token").status_code == 404


@pytest.mark.parametrize("flavour", tollgate.FLAVOURS)
def test_sigterm_exits_zero_and_releases_ports(flavour, tmp_path):
    if flavour == "serve" and tollgate.serve_unavailable_reason():
        if tollgate.services_required():
            pytest.fail(tollgate.serve_unavailable_reason())
        pytest.skip(tollgate.serve_unavailable_reason())
    srv = tollgate.start(flavour, tmp_path, tag="lifecycle")
    try:
        # A request in flight when SIGTERM arrives is answered (drain).
        results = {}

        def slow_client():
            try:
                results["r"] = requests.post(
                    srv.token_url,
                    data={"grant_type": "client_credentials"},
                    auth=(srv.client_id, srv.client_secret),
                    timeout=10,
                )
            except Exception as e:  # noqa: BLE001
                results["e"] = e

        t = threading.Thread(target=slow_client)
        t.start()
        time.sleep(0.02)
        started = time.monotonic()
        code = srv.stop(timeout=10)
        elapsed = time.monotonic() - started
        t.join(10)
        assert code == 0, srv.log_tail()
        assert elapsed < 5, f"shutdown took {elapsed:.1f}s"
        assert any(r.get("message") == "stopped" for r in srv.log_records())
        assert not srv.leaked_secrets(), srv.leaked_secrets()
        if "r" in results:
            assert results["r"].status_code == 200
        # Both ports are free again.
        port = int(srv.base_url.rsplit(":", 1)[1])
        mport = int(srv.mgmt_url.rsplit(":", 1)[1])
        with pytest.raises(requests.ConnectionError):
            requests.get(srv.mgmt_url + "/health/ready", timeout=2)
        import socket

        for p in (port, mport):
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", p))
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
        srv.run_cleanup()
