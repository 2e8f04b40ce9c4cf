"""Every manifest under examples/ applied to the real kube-apiserver (server-
side apply, as `kubectl apply --server-side` does) and read back: what the
API server stored holds every field the example sets, so no field was
pruned as unknown and no value rejected. The Tollgate CRDs come from crds/,
the Argo CD, Flux and Prometheus Operator CRDs from their releases."""

import base64
from pathlib import Path

import pytest
from kubernetes import client

from conftest import ROOT, create_namespace, load_all, unique, wait_established

EXAMPLES = ROOT / "examples"
# Values files for the chart are not resources (helm renders them: see
# test_chart_rbac.py, which installs the production values).
NOT_MANIFESTS = {"operator-values.yaml"}
FILES = sorted(p for p in EXAMPLES.rglob("*.yaml") if p.name not in NOT_MANIFESTS)


@pytest.fixture(scope="module")
def tollgate_crds(admin, dyn):
    crds = sorted((ROOT / "crds").glob("*.yaml"))
    assert len(crds) == 4, f"expected the four Tollgate CRDs in crds/, found {crds}"
    api = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    for path in crds:
        for crd in load_all(path):
            api.server_side_apply(body=crd, field_manager="tollgate-e2e", force_conflicts=True)
            wait_established(admin, crd["metadata"]["name"])
    dyn.resources.invalidate_cache()


def subset(expected, actual, where="") -> list[str]:
    """Where `actual` lacks or differs from what `expected` sets."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, stored {actual!r}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{where}.{key}: missing in the stored object")
            else:
                problems += subset(value, actual[key], f"{where}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected {expected!r}, stored {actual!r}"]
        return [p for i, (e, a) in enumerate(zip(expected, actual)) for p in subset(e, a, f"{where}[{i}]")]
    if expected != actual and str(expected) != str(actual):
        return [f"{where}: expected {expected!r}, stored {actual!r}"]
    return []


def stored_form(doc: dict) -> dict:
    """The example as the API server stores it: a Secret's stringData is data."""
    if doc["kind"] == "Secret" and "stringData" in doc:
        doc = dict(doc)
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in doc.pop("stringData").items()}
        doc["data"] = {**doc.get("data", {}), **encoded}
    return doc


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_applies_and_reads_back(admin, dyn, tollgate_crds, third_party_crds, path: Path):
    default_ns = unique("ex-" + path.parent.name.replace("_", "-"))
    create_namespace(admin, default_ns)
    docs = load_all(path)
    assert docs, f"{path} holds no manifest"
    for doc in docs:
        namespace = doc["metadata"].get("namespace")
        if namespace:
            try:
                create_namespace(admin, namespace)
            except client.ApiException as err:
                assert err.status == 409, err
        namespace = namespace or default_ns
        api = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        api.server_side_apply(body=doc, namespace=namespace, field_manager="tollgate-e2e", force_conflicts=True)
        stored = api.get(name=doc["metadata"]["name"], namespace=namespace).to_dict()
        expected = {k: v for k, v in stored_form(doc).items() if k not in ("metadata", "apiVersion", "kind")}
        problems = subset(expected, stored)
        problems += subset(doc["metadata"].get("labels", {}), stored["metadata"].get("labels") or {}, ".metadata.labels")
        assert not problems, f"{path.name} {doc['kind']}/{doc['metadata']['name']}:\n" + "\n".join(problems)


def test_every_example_folder_has_a_readme_and_a_manifest_or_script():
    for folder in ["quickstart", "production", "gitops/argocd", "gitops/flux", "provisioning"]:
        assert (EXAMPLES / folder / "README.md").is_file(), folder
    assert (EXAMPLES / "provisioning" / "provision.sh").is_file()
