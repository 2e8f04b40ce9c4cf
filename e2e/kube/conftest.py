"""Fixtures of the Kubernetes checks: the real kube-apiserver started by
scripts/provision/kube.sh (TOLLGATE_TEST_KUBECONFIG, admin), helm, and
clients acting as the operator's ServiceAccount."""

import os
import time
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config, dynamic

from helm_cli import Helm

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "tollgate-operator"
# The audience kube.sh's API server accepts (--api-audiences).
AUDIENCE = "https://kubernetes.default.svc.cluster.local"


def _need(variable: str, what: str) -> str:
    value = os.environ.get(variable)
    if not value:
        pytest.fail(f"{variable} is not set: {what}", pytrace=False)
    return value


@pytest.fixture(scope="session")
def kubeconfig() -> str:
    return _need("TOLLGATE_TEST_KUBECONFIG", "source scripts/provision/kube.sh (scripts/test.sh does)")


@pytest.fixture(scope="session")
def admin(kubeconfig) -> client.ApiClient:
    return config.new_client_from_config(config_file=kubeconfig)


@pytest.fixture(scope="session")
def dyn(admin, tmp_path_factory) -> dynamic.DynamicClient:
    # A discovery cache of this run's own: the default one is shared in /tmp.
    cache = tmp_path_factory.mktemp("discovery") / "cache.json"
    return dynamic.DynamicClient(admin, cache_file=str(cache))


@pytest.fixture(scope="session")
def helm(kubeconfig, tmp_path_factory) -> Helm:
    binary = _need("TOLLGATE_HELM", "source scripts/provision/k8s-tools.sh (scripts/test.sh does)")
    return Helm(binary, kubeconfig, tmp_path_factory.mktemp("helm"))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def create_namespace(admin: client.ApiClient, name: str) -> str:
    client.CoreV1Api(admin).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def service_account_client(admin: client.ApiClient, namespace: str, name: str) -> client.ApiClient:
    """A client authenticated as the ServiceAccount, by a TokenRequest token:
    what the operator's Pod would hold."""
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[AUDIENCE], expiration_seconds=600)
    )
    token = client.CoreV1Api(admin).create_namespaced_service_account_token(name, namespace, request).status.token
    conf = client.Configuration()
    conf.host = admin.configuration.host
    conf.ssl_ca_cert = admin.configuration.ssl_ca_cert
    conf.verify_ssl = True
    conf.api_key = {"authorization": "Bearer " + token}
    return client.ApiClient(conf)


def load_all(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def wait_established(admin: client.ApiClient, name: str, timeout: float = 30) -> None:
    api = client.ApiextensionsV1Api(admin)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conditions = api.read_custom_resource_definition(name).status.conditions or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        time.sleep(0.2)
    raise AssertionError(f"CRD {name} not established after {timeout}s")


@pytest.fixture(scope="session")
def third_party_crds(admin) -> list[str]:
    """The CRDs of Argo CD, Flux and the Prometheus Operator the examples and
    the production values use (files from scripts/provision/k8s-tools.sh)."""
    paths = _need("TOLLGATE_THIRD_PARTY_CRDS", "source scripts/provision/k8s-tools.sh").split(":")
    api = client.ApiextensionsV1Api(admin)
    names = []
    for path in paths:
        for crd in load_all(Path(path)):
            name = crd["metadata"]["name"]
            try:
                api.create_custom_resource_definition(crd)
            except client.ApiException as err:
                assert err.status == 409, err
            names.append(name)
    for name in names:
        wait_established(admin, name)
    return names
