"""HTTPS on the platform's own listeners (`spec.tls`) on the real node: a
test CA and a certificate naming the three Services (made with openssl),
given to the quickstart's platform as a `kubernetes.io/tls` Secret with
`management: true`. The operator mounts it and switches the Services,
probes and ports; the pods roll and become Ready on HTTPS probes. Through
each Service's cluster IP (kube-proxy, the path a pod's request takes) the
public port answers over TLS with that certificate, verified against the
CA by the Service's DNS name, a token is issued over HTTPS, plain HTTP is
gone, and the management port serves `/metrics` over TLS only. Then the
platform goes back to plain HTTP, as the later tests expect it."""

import base64
import http.client
import json
import socket
import ssl
import subprocess
import urllib.parse
from pathlib import Path

from kubernetes import client

from conftest import NAMESPACE, apply, resource, rolled_out, wait_ready
from node import TOKEN, Timer, request, wait_for

SERVICES = ("auth", "ui", "environment")
SECRET = "tollgate-tls"
MANAGEMENT_PORT = 9095


def service_names(service: str) -> list[str]:
    base = f"tollgate-{service}"
    return [base, f"{base}.{NAMESPACE}", f"{base}.{NAMESPACE}.svc", f"{base}.{NAMESPACE}.svc.cluster.local"]


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_certificates(directory: Path) -> dict[str, Path]:
    """A CA, and a P-256 server certificate it signs naming every Service."""
    files = {name: directory / name for name in ("ca.key", "ca.crt", "tls.key", "tls.csr", "tls.crt")}
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(files["ca.key"]), "-out", str(files["ca.crt"]), "-days", "2",
            "-subj", "/CN=Tollgate node test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    names = ",".join(f"DNS:{n}" for s in SERVICES for n in service_names(s))
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(files["tls.key"]), "-out", str(files["tls.csr"]), "-subj", "/CN=tollgate-auth",
            "-addext", f"subjectAltName={names}", "-addext", "extendedKeyUsage=serverAuth")
    openssl("x509", "-req", "-in", str(files["tls.csr"]), "-CA", str(files["ca.crt"]),
            "-CAkey", str(files["ca.key"]), "-CAcreateserial", "-days", "2", "-copy_extensions", "copy",
            "-out", str(files["tls.crt"]))
    return files


def https(context: ssl.SSLContext, ip: str, port: int, name: str, method: str = "GET", path: str = "/",
          form: dict | None = None, basic: tuple[str, str] | None = None) -> tuple[int, bytes, bytes]:
    """One request over TLS to `ip`, the certificate verified for `name`:
    status, body and the certificate the server presented (DER)."""
    sock = context.wrap_socket(socket.create_connection((ip, port), timeout=5), server_hostname=name)
    presented = sock.getpeercert(binary_form=True)
    conn = http.client.HTTPConnection(ip, port, timeout=5)
    conn.sock = sock
    headers = {"Connection": "close", "Host": name}
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if basic is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(), presented
    finally:
        conn.close()


def pem_to_der(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())


def old_pods_gone(core: client.CoreV1Api) -> bool:
    """No pod of the three services is terminating: a rolled-out Deployment's
    old pods keep serving while they drain (the preStop sleep), and until
    they are gone a request may still reach one."""
    pods = core.list_namespaced_pod(
        NAMESPACE, label_selector="app.kubernetes.io/component in (auth,ui,environment)").items
    return all(p.metadata.deletion_timestamp is None for p in pods)


def serves_tls(apps: client.AppsV1Api, service: str, on: bool) -> bool:
    """The Deployment's template mounts the TLS Secret (or not), rolled out."""
    d = apps.read_namespaced_deployment(f"tollgate-{service}", NAMESPACE)
    volumes = d.spec.template.spec.volumes or []
    return any(v.name == "tls" for v in volumes) == on and rolled_out(apps, f"tollgate-{service}", d.spec.replicas or 1)


def diagnosis(core: client.CoreV1Api, service: str) -> str:
    """What the pods of `service` are doing: phase, readiness, container
    states and the end of the logs of those not ready; printed too, as the
    run's output is where a failure on the node is read."""
    lines = []
    pods = core.list_namespaced_pod(NAMESPACE, label_selector=f"app.kubernetes.io/component={service}").items
    for pod in pods:
        ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
        lines.append(f"{pod.metadata.name}: {pod.status.phase}, ready={ready}")
        for c in pod.status.container_statuses or []:
            lines.append(f"  {c.name}: restarts={c.restart_count} state={c.state} last={c.last_state}")
        if not ready:
            try:
                log = core.read_namespaced_pod_log(pod.metadata.name, NAMESPACE, tail_lines=20)
            except Exception as err:  # noqa: BLE001 - no log yet
                log = f"(no log: {err})"
            lines.append("  log: " + log.replace("\n", "\n       "))
            lines += [f"  event: {e.reason}: {e.message}" for e in core.list_namespaced_event(
                NAMESPACE, field_selector=f"involvedObject.name={pod.metadata.name}").items]
    events = core.list_namespaced_event(NAMESPACE).items[-15:]
    lines += [f"event {e.involved_object.name}: {e.reason}: {e.message}" for e in events]
    text = "\n".join(lines)
    print(f"\nDIAGNOSIS tollgate-{service}:\n{text}", flush=True)
    return text


def set_tls(dyn, tls: dict | None) -> None:
    api = resource(dyn, "Tollgate")
    api.patch(name="tollgate", namespace=NAMESPACE, body={"spec": {"tls": tls}},
              content_type="application/merge-patch+json")


def test_the_platform_serves_https_with_its_certificate(admin, dyn, platform, tmp_path):
    core, apps = client.CoreV1Api(admin), client.AppsV1Api(admin)
    files = make_certificates(tmp_path)
    apply(dyn, {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": SECRET},
        "stringData": {"tls.crt": files["tls.crt"].read_text(), "tls.key": files["tls.key"].read_text()},
    })
    context = ssl.create_default_context(cafile=str(files["ca.crt"]))
    ips = {s: core.read_namespaced_service(f"tollgate-{s}", NAMESPACE).spec.cluster_ip for s in SERVICES}
    try:
        with Timer("spec.tls set to every pod Ready on HTTPS probes"):
            set_tls(dyn, {"secretName": SECRET, "management": True})
            for service in SERVICES:
                wait_for(f"tollgate-{service} rolled out with TLS", 300, lambda s=service: serves_tls(apps, s, True),
                         detail=lambda s=service: diagnosis(core, s))
            wait_ready(dyn, "Tollgate", "tollgate", 300)
            wait_for("the plain-HTTP pods drained and gone", 120, lambda: old_pods_gone(core))

        for service in SERVICES:
            svc = core.read_namespaced_service(f"tollgate-{service}", NAMESPACE)
            ports = {p.name: p.port for p in svc.spec.ports}
            assert ports == {"https": 443, "management": MANAGEMENT_PORT}, ports
            assert svc.metadata.labels["tollgate.dev/management-scheme"] == "https"
            pods = core.list_namespaced_pod(NAMESPACE, label_selector=f"app.kubernetes.io/component={service}").items
            for pod in (p for p in pods if p.metadata.deletion_timestamp is None):
                probe = pod.spec.containers[0].readiness_probe.http_get
                assert probe.scheme == "HTTPS", probe
                assert any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions), pod.status

            name = service_names(service)[2]
            wait_for(f"{name} answering over HTTPS", 30,
                     lambda s=service, n=name: https(context, ips[s], 443, n, path="/health")[0] < 500)
            status, _, presented = https(context, ips[service], 443, name, path="/.well-known/openid-configuration")
            assert presented == pem_to_der(files["tls.crt"])
            status, body, presented = https(context, ips[service], MANAGEMENT_PORT, name, path="/metrics")
            assert status == 200 and b"tollgate_http_request_duration_seconds" in body, body[:300]
            assert presented == pem_to_der(files["tls.crt"])
            # Plain HTTP is gone from both ports.
            for port in (80, MANAGEMENT_PORT):
                try:
                    conn = http.client.HTTPConnection(ips[service], port, timeout=3)
                    conn.request("GET", "/health")
                    answer = conn.getresponse().status
                except (OSError, http.client.HTTPException):
                    answer = None
                assert answer is None, f"{service}:{port} answered plain HTTP ({answer})"

        status, body, _ = https(context, ips["auth"], 443, service_names("auth")[2], "POST", TOKEN,
                                form={"grant_type": "client_credentials"},
                                basic=(platform["client_id"], platform["client_secret"]))
        assert status == 200 and json.loads(body)["access_token"], body
        # A client that does not trust the CA is refused the handshake.
        try:
            https(ssl.create_default_context(), ips["auth"], 443, service_names("auth")[2])
            raise AssertionError("a client without the test CA completed the handshake")
        except ssl.SSLCertVerificationError:
            pass
    finally:
        # The later tests use the platform over plain HTTP.
        set_tls(dyn, None)
        for service in SERVICES:
            wait_for(f"tollgate-{service} rolled out without TLS", 300, lambda s=service: serves_tls(apps, s, False))
        wait_ready(dyn, "Tollgate", "tollgate", 300)
        wait_for("the HTTPS pods drained and gone", 120, lambda: old_pods_gone(core))
        wait_for("the auth Service answering plain HTTP again", 60,
                 lambda: request(platform["auth"], "GET", "/.well-known/openid-configuration")[0] == 200)
