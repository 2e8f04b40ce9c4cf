"""Fixtures of the real-node tests: the single-node cluster of
scripts/provision/node.sh (run this suite inside its network namespace:
`nsenter --net="$TOLLGATE_NODE_NETNS"`), the Tollgate image imported into
its containerd under two tags, helm, and the platform of
examples/quickstart installed by the operator chart.

PostgreSQL, Redis and the LDAP directory run beside the node, as managed
services would: the tests' own servers, forwarded by node.sh to the node
address, reached from pods through selector-less Services. The node has no
cluster DNS, so the connection URLs name those Services by their cluster IP.
The pods connect to PostgreSQL over TLS with the test CA mounted from
`spec.database.caSecretRef` (`sslmode=require`: the certificate names
127.0.0.1, not the Service's cluster IP, so the chain and host name are
verified by the store's own test, not here).
"""

import base64
import os
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config, dynamic
from kubernetes.client.exceptions import ApiException

from node import Timer, record, request, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kube"))
from helm_cli import Helm  # noqa: E402 - the shared helper of e2e/kube

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "tollgate-operator"
QUICKSTART = ROOT / "examples" / "quickstart"
REPOSITORY = "localhost/tollgate"
NAMESPACE = "tollgate"
#: A tag of the same layer whose every command exits non-zero.
FAILING = "0.1.0-failing"


def need(variable: str, what: str) -> str:
    value = os.environ.get(variable)
    if not value:
        pytest.fail(f"{variable} is not set: {what}", pytrace=False)
    return value


@pytest.fixture(scope="session")
def admin() -> client.ApiClient:
    kubeconfig = need("TOLLGATE_NODE_KUBECONFIG", "source scripts/provision/node.sh (scripts/test.sh does)")
    return config.new_client_from_config(config_file=kubeconfig)


@pytest.fixture(scope="session")
def dyn(admin, tmp_path_factory) -> dynamic.DynamicClient:
    cache = tmp_path_factory.mktemp("discovery") / "cache.json"
    return dynamic.DynamicClient(admin, cache_file=str(cache))


@pytest.fixture(scope="session")
def versions() -> tuple[str, str]:
    """Two tags of one image build (scripts/oci_pack.py): the upgrade's from
    and to. Their images differ only in the version label; `spec.version`
    picks the tag, so an upgrade is a real image change for the node.
    TOLLGATE_IMAGE_CONTEXT: the build context of scripts/image.sh, made
    by it when unset."""
    context = os.environ.get("TOLLGATE_IMAGE_CONTEXT") or subprocess.run(
        ["bash", str(ROOT / "scripts" / "image.sh"), "--context-only"],
        check=True, capture_output=True, text=True, timeout=3600,
    ).stdout.strip()
    archive = Path(need("TOLLGATE_TEST_DIR", "a scratch directory")) / "tollgate-image.tar"
    old, new = "0.1.0", "0.1.0-upgrade"
    with Timer("image packed and imported into containerd"):
        subprocess.run(
            ["python3", str(ROOT / "scripts" / "oci_pack.py"), "--rootfs", f"{context}/rootfs",
             "--containerfile", str(ROOT / "Containerfile"), "--out", str(archive),
             "--tag", f"{REPOSITORY}:{old}", "--tag", f"{REPOSITORY}:{new}",
             "--failing-tag", f"{REPOSITORY}:{FAILING}"],
            check=True, timeout=600,
        )
        subprocess.run(
            ["ctr", "--address", need("TOLLGATE_NODE_CONTAINERD", "node.sh"), "-n", "k8s.io",
             "images", "import", str(archive)],
            check=True, capture_output=True, timeout=600,
        )
    archive.unlink()
    return old, new


@pytest.fixture(scope="session")
def helm(tmp_path_factory) -> Helm:
    return Helm(
        need("TOLLGATE_HELM", "source scripts/provision/k8s-tools.sh (scripts/test.sh does)"),
        need("TOLLGATE_NODE_KUBECONFIG", "node.sh"),
        tmp_path_factory.mktemp("helm"),
    )


def external_service(core: client.CoreV1Api, name: str, port: int) -> str:
    """A selector-less Service whose endpoint is the node address, where
    node.sh forwards the host's server; returns its cluster IP."""
    core.create_namespaced_service(NAMESPACE, {
        "metadata": {"name": name},
        "spec": {"ports": [{"name": "tcp", "port": port, "targetPort": port}]},
    })
    discovery = client.DiscoveryV1Api(core.api_client)
    discovery.create_namespaced_endpoint_slice(NAMESPACE, {
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [need("TOLLGATE_NODE_IP", "node.sh")]}],
        "ports": [{"name": "tcp", "port": port, "protocol": "TCP"}],
    })
    return core.read_namespaced_service(name, NAMESPACE).spec.cluster_ip


def with_host(url: str, host: str, port: int, path: str | None = None) -> str:
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[0] + f"@{host}:{port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, path=parts.path if path is None else path))


@pytest.fixture(scope="session")
def backing_services(admin) -> dict:
    """The quickstart's Secret with URLs of this run's own database (created
    here) and of the tests' Redis, both behind selector-less Services."""
    core = client.CoreV1Api(admin)
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    postgres = need("TOLLGATE_TEST_POSTGRES_URL", "source scripts/provision/postgres.sh")
    redis = need("TOLLGATE_TEST_REDIS_URL", "source scripts/provision/redis.sh")
    node_ip = need("TOLLGATE_NODE_IP", "node.sh")
    database = f"quickstart_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", with_host(postgres, node_ip, 5432), "-qc", f"CREATE DATABASE {database}"],
                   check=True, timeout=60)
    pg_ip = external_service(core, "quickstart-postgres", 5432)
    redis_ip = external_service(core, "quickstart-redis", 6379)
    secret = next(d for d in yaml.safe_load_all((QUICKSTART / "backing-services.yaml").read_text())
                  if d and d["kind"] == "Secret")
    data = secret["stringData"]
    operator_url = with_host(postgres, pg_ip, 5432, "/" + database)
    data["database-url"] = operator_url + "?sslmode=require"
    data["redis-url"] = with_host(redis, redis_ip, 6379)
    core.create_namespaced_secret(NAMESPACE, secret)
    core.create_namespaced_secret(NAMESPACE, {
        "metadata": {"name": "quickstart-postgres-ca"},
        "stringData": {"ca.crt": Path(need("TOLLGATE_TEST_POSTGRES_CA", "postgres.sh")).read_text()},
    })
    # The operator's own database access (README, "Install with Helm").
    core.create_namespaced_secret(NAMESPACE, {
        "metadata": {"name": "tollgate-database"}, "stringData": {"url": operator_url},
    })
    yield data
    subprocess.run(["psql", with_host(postgres, node_ip, 5432), "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"],
                   timeout=60)


def image_values(version: str) -> list[str]:
    """helm arguments: the operator runs the image imported into the node."""
    return ["--set", f"image.repository={REPOSITORY}", "--set", f"image.tag={version}",
            "--set", "image.pullPolicy=Never"]


def on_this_node(tollgate_spec: dict, version: str) -> dict:
    """A platform's spec running the image imported into the node (no
    registry: imagePullPolicy Never)."""
    tollgate_spec.update(image=REPOSITORY, version=version, imagePullPolicy="Never")
    return tollgate_spec


@pytest.fixture(scope="session")
def operator(admin, helm, versions, backing_services) -> dict:
    """The chart installed as the README says (image from the node's store)."""
    started = time.monotonic()
    helm("install", "tollgate-operator", str(CHART), "--namespace", NAMESPACE, *image_values(versions[0]),
         "--set", "encryptionKey.existingSecret=quickstart-backing-services",
         "--set", "encryptionKey.key=encryption-key")
    apps = client.AppsV1Api(admin)
    wait_for("the operator Deployment available", 300,
             lambda: (apps.read_namespaced_deployment("tollgate-operator", NAMESPACE).status.available_replicas or 0) >= 1)
    record("helm install to operator Ready", time.monotonic() - started)
    return {"installed_at": started}


def ready(obj: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions", []))


def resource(dyn, kind: str):
    return dyn.resources.get(api_version="tollgate.dev/v1alpha1", kind=kind)


def current(obj: dict) -> bool:
    """Ready, and every condition about the latest spec (not a status left
    from before a change)."""
    generation = obj["metadata"].get("generation")
    conditions = (obj.get("status") or {}).get("conditions", [])
    return ready(obj) and all(c.get("observedGeneration", generation) == generation for c in conditions)


def wait_ready(dyn, kind: str, name: str, seconds: float = 120) -> dict:
    """Waits until a Tollgate resource is Ready for its latest spec; returns it."""
    api = resource(dyn, kind)
    wait_for(f"the {kind} {name} Ready", seconds,
             lambda: current(api.get(name=name, namespace=NAMESPACE).to_dict()),
             lambda: api.get(name=name, namespace=NAMESPACE).to_dict().get("status"))
    return api.get(name=name, namespace=NAMESPACE).to_dict()


def apply(dyn, doc: dict, namespace: str = NAMESPACE) -> None:
    """Creates the object, or replaces it whole when it exists (the stored
    spec is then exactly `doc`'s, nothing left from before)."""
    api = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
    try:
        api.create(body=doc, namespace=namespace)
    except ApiException as err:
        if err.status != 409:
            raise
        existing = api.get(name=doc["metadata"]["name"], namespace=namespace)
        doc = {**doc, "metadata": {**doc["metadata"], "resourceVersion": existing.metadata.resourceVersion}}
        api.replace(body=doc, namespace=namespace)


def rolled_out(apps: client.AppsV1Api, name: str, replicas: int) -> bool:
    """The Deployment's latest template on `replicas` available pods, no other pod."""
    d = apps.read_namespaced_deployment(name, NAMESPACE)
    s = d.status
    return ((s.observed_generation or 0) >= d.metadata.generation and s.replicas == replicas
            and s.updated_replicas == replicas and s.available_replicas == replicas)


@pytest.fixture(scope="session")
def platform(admin, dyn, operator, versions) -> dict:
    """examples/quickstart applied (its backing-services.yaml replaced by the
    fixtures above): every resource Ready. The Tollgate runs the imported
    image with imagePullPolicy Never and connects to PostgreSQL over TLS
    with the test CA mounted; the per-address rate limit is raised (a typed setting) because every
    request of these tests comes from one address."""
    for path in ("environment.yaml", "contact-center.yaml", "oauth-client.yaml", "tollgate.yaml"):
        for doc in yaml.safe_load_all((QUICKSTART / path).read_text()):
            if not doc:
                continue
            if doc["kind"] == "Tollgate":
                on_this_node(doc["spec"], versions[0])
                # The tests' directory is an in-cluster Service: a private address.
                doc["spec"]["settings"] = {"rateLimitPerMinute": 1000000, "outboundAllow": ["10.96.0.0/16"]}
                doc["spec"]["database"]["caSecretRef"] = {"name": "quickstart-postgres-ca", "key": "ca.crt"}
            api = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
            api.create(body=doc, namespace=NAMESPACE)
    wait_ready(dyn, "Tollgate", "tollgate", 600)
    wait_ready(dyn, "OAuthClient", "demo-client")
    center = wait_ready(dyn, "ContactCenter", "demo")
    core = client.CoreV1Api(admin)
    secret = core.read_namespaced_secret("demo-client-client-secret", NAMESPACE).data["client_secret"]
    auth = core.read_namespaced_service("tollgate-auth", NAMESPACE).spec.cluster_ip
    # Ready pods reach kube-proxy's rules a moment later (its sync period).
    wait_for("the auth Service answering", 30,
             lambda: request(auth, "GET", "/.well-known/openid-configuration")[0] == 200)
    return {
        "auth": auth,
        "environment": core.read_namespaced_service("tollgate-environment", NAMESPACE).spec.cluster_ip,
        "client_id": "demo-client",
        "client_secret": base64.b64decode(secret).decode(),
        "contact_center": center["status"]["id"],
    }


#: The files in the order a user meets them: install, HTTPS (which gives the
#: platform back on plain HTTP), upgrade, faults; then the other examples,
#: which turn the quickstart's install into production's.
ORDER = ["test_quickstart.py", "test_ldap.py", "test_tls.py", "test_upgrade.py", "test_faults.py",
         "test_examples.py"]


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: ORDER.index(item.path.name) if item.path.name in ORDER else len(ORDER))
