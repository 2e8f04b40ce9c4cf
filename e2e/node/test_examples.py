"""The examples beyond the quickstart on the real node (test_quickstart.py
runs examples/quickstart):

- examples/production, applied over the quickstart's install as a user
  would turn it into production: its Secrets (test values), the operator
  chart upgraded with operator-values.yaml, tollgate.yaml and tenant.yaml.
  The platform's Deployments, PodDisruptionBudgets, HorizontalPodAutoscalers
  and migration Job, the tenant's Environment, ContactCenters and
  OAuthClient; a token for its `private_key_jwt` client, whose key the test
  holds.
- examples/provisioning/provision.sh against the deployed auth and
  Environment API Services.
- examples/gitops: what the node serves is applied; what needs Argo CD or
  Flux is named (neither runs here).

What the node cannot give, and what stands in for it (examples/README.md
lists the same):
- PostgreSQL and Redis: the tests' servers behind selector-less Services
  (conftest.py). Redis is the plain standalone one (`mode: standalone`, no
  `caSecretRef`): the tests' cluster announces 127.0.0.1, which a pod
  cannot reach, and the TLS server's certificate names 127.0.0.1, not a
  Service (the store's own tests cover Redis over TLS and in a cluster).
- the Prometheus Operator (ServiceMonitor and PrometheusRule CRDs):
  `metrics.serviceMonitor`, `metrics.dataPlane.serviceMonitor` and
  `metrics.prometheusRule` off (the dashboard's ConfigMap is created). NetworkPolicies are created; the node's CNI bridge does not enforce
  them.
- metrics-server: the autoscalers hold the `replicas` floor but cannot
  scale on CPU (ScalingActive False).
- an ingress controller of class nginx: the Ingress and its TLS Secret
  (made here) exist, nothing serves them.
- the backend's JWKS URL (https://backend.corp.example): the same client
  with its public key inline (`spec.jwks`).
- the domain controllers (corp), the OpenID provider (retail), the partner
  IdP: their contact centers are Ready, nobody signs in there
  (test_ldap.py signs a directory user in); the SAML IdP (wholesale):
  `Stalled`/`IdpMetadataUnreachable`, its metadata URL cannot be fetched.
"""

import base64
import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from conftest import (CHART, NAMESPACE, ROOT, apply, image_values, need, on_this_node, resource, rolled_out,
                      wait_ready)
from node import TOKEN, RsaKey, Timer, request, wait_for

EXAMPLES = ROOT / "examples"
PRODUCTION = EXAMPLES / "production"
#: (service, replicas, maxReplicas) of examples/production/tollgate.yaml.
SERVICES = [("auth", 3, 10), ("ui", 2, 4), ("environment", 2, None)]
#: API groups of the GitOps examples whose controllers do not run on the node.
GITOPS_CONTROLLERS = {
    "argoproj.io": "Argo CD",
    "source.toolkit.fluxcd.io": "Flux source-controller",
    "kustomize.toolkit.fluxcd.io": "Flux kustomize-controller",
    "helm.toolkit.fluxcd.io": "Flux helm-controller",
}
#: Every example folder and the node test that runs it.
RUN_BY = {
    "quickstart": "test_quickstart.py",
    "production": "test_examples.py",
    "provisioning": "test_examples.py",
    "gitops/argocd": "test_examples.py",
    "gitops/flux": "test_examples.py",
}


def manifests(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def production_secrets(backing_services: dict, ops_password: str) -> dict[str, dict]:
    """Test values of every Secret of secrets.yaml: the quickstart's
    database (over TLS, its CA for `caSecretRef`), Redis and encryption key
    (its data is sealed with it)."""
    return {
        "tollgate-database": {"url": backing_services["database-url"],
                              "ca.crt": Path(need("TOLLGATE_TEST_POSTGRES_CA", "postgres.sh")).read_text()},
        "tollgate-redis": {"url": backing_services["redis-url"],
                           "ca.crt": Path(need("TOLLGATE_TEST_REDIS_CA", "redis.sh")).read_text()},
        "tollgate-encryption-key": {"key": backing_services["encryption-key"]},
        "tollgate-operator-credentials": {"username": "ops", "password": ops_password},
        "prod-config-server": {"password": "config-server-" + uuid.uuid4().hex},
        "corp-ldap-bind": {"password": "directory-" + uuid.uuid4().hex},
        "retail-oidc-client": {"clientSecret": "oidc-" + uuid.uuid4().hex},
    }


def tls_secret(directory: Path, name: str, host: str) -> dict:
    """The ingress's certificate, self-signed (no certificate authority here)."""
    key, cert = directory / "tls.key", directory / "tls.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={host}",
                    "-addext", f"subjectAltName=DNS:{host}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "kubernetes.io/tls",
            "stringData": {"tls.crt": cert.read_text(), "tls.key": key.read_text()}}


def migration_job_name(version: str) -> str:
    """The operator's name of the migration Job (children::migration_job_name)."""
    return "tollgate-migrate-" + re.sub("[^a-z0-9]", "-", version.lower()).strip("-")


@pytest.fixture(scope="module")
def production(admin, dyn, helm, platform, backing_services, versions, tmp_path_factory) -> dict:
    """examples/production applied in the quickstart's namespace, the way
    its README says, with the substitutions of this module's docstring."""
    scratch = tmp_path_factory.mktemp("production")
    running = resource(dyn, "Tollgate").get(name="tollgate", namespace=NAMESPACE).spec.version
    ops_password = "ops-" + uuid.uuid4().hex
    key = RsaKey(scratch, "corp-backend-1")
    apps = client.AppsV1Api(admin)
    with Timer("production: applied over the quickstart to every resource Ready"):
        values = production_secrets(backing_services, ops_password)
        for secret in manifests(PRODUCTION / "secrets.yaml"):
            secret["stringData"] = values[secret["metadata"]["name"]]
            apply(dyn, secret)
        apply(dyn, tls_secret(scratch, "auth-example-com-tls", "auth.example.com"))
        helm("upgrade", "tollgate-operator", str(CHART), "--namespace", NAMESPACE,
             "-f", str(PRODUCTION / "operator-values.yaml"), *image_values(versions[0]),
             "--set", "metrics.serviceMonitor.enabled=false",
             "--set", "metrics.dataPlane.serviceMonitor.enabled=false",
             "--set", "metrics.prometheusRule.enabled=false",
             "--set", f"networkPolicy.database[0].ipBlock.cidr={need('TOLLGATE_NODE_IP', 'node.sh')}/32")
        wait_for("the operator's two replicas rolled out", 180, lambda: rolled_out(apps, "tollgate-operator", 2))

        (tollgate,) = manifests(PRODUCTION / "tollgate.yaml")
        on_this_node(tollgate["spec"], running)
        tollgate["spec"]["redis"] = {"mode": "standalone", "urlSecretRef": tollgate["spec"]["redis"]["urlSecretRef"]}
        apply(dyn, tollgate)
        for doc in manifests(PRODUCTION / "tenant.yaml"):
            if doc["kind"] == "ConfigMap":
                doc["data"]["ca.crt"] = Path(need("TOLLGATE_TEST_LDAP_CA", "ldap.sh")).read_text()
            if doc["kind"] == "OAuthClient":
                del doc["spec"]["jwksUri"]
                doc["spec"]["jwks"] = {"keys": [key.jwk()]}
            apply(dyn, doc)

        wait_ready(dyn, "Tollgate", "tollgate", 300)
        for service, replicas, _ in SERVICES:
            wait_for(f"tollgate-{service} rolled out on {replicas} pods", 300,
                     lambda: rolled_out(apps, f"tollgate-{service}", replicas))
        for kind, name in (("Environment", "prod"), ("ContactCenter", "corp"), ("ContactCenter", "retail"),
                           ("OAuthClient", "corp-backend")):
            wait_ready(dyn, kind, name)
    core = client.CoreV1Api(admin)
    auth = core.read_namespaced_service("tollgate-auth", NAMESPACE).spec.cluster_ip
    wait_for("the auth Service answering", 30,
             lambda: request(auth, "GET", "/.well-known/openid-configuration")[0] == 200)
    return {
        "version": running,
        "auth": auth,
        "environment": core.read_namespaced_service("tollgate-environment", NAMESPACE).spec.cluster_ip,
        "issuer": json.loads(request(auth, "GET", "/.well-known/openid-configuration")[1])["issuer"],
        "key": key,
        "ops_password": ops_password,
    }


def test_production_runs_every_service_with_its_budget_and_autoscaler(admin, production):
    apps, policy = client.AppsV1Api(admin), client.PolicyV1Api(admin)
    hpas = client.AutoscalingV2Api(admin)
    for service, replicas, max_replicas in SERVICES:
        name = f"tollgate-{service}"
        assert rolled_out(apps, name, replicas), apps.read_namespaced_deployment(name, NAMESPACE).status
        budget = policy.read_namespaced_pod_disruption_budget(name, NAMESPACE).status
        assert budget.current_healthy == replicas and budget.disruptions_allowed == 1, budget
        if max_replicas is None:
            with pytest.raises(client.ApiException) as missing:
                hpas.read_namespaced_horizontal_pod_autoscaler(name, NAMESPACE)
            assert missing.value.status == 404
            continue
        hpa = hpas.read_namespaced_horizontal_pod_autoscaler(name, NAMESPACE)
        assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (replicas, max_replicas), hpa.spec
        # A CPU utilization target needs a CPU request on every container.
        pod = apps.read_namespaced_deployment(name, NAMESPACE).spec.template.spec
        assert all((c.resources.requests or {}).get("cpu") for c in pod.containers), \
            f"{name} has an autoscaler on CPU but no CPU request: it can never scale"

        def conditions() -> dict:
            status = hpas.read_namespaced_horizontal_pod_autoscaler(name, NAMESPACE).status
            return {c.type: c for c in status.conditions or []}

        wait_for(f"the autoscaler {name} evaluated", 60, lambda: "ScalingActive" in conditions())
        assert conditions()["AbleToScale"].status == "True", conditions()
        active = conditions()["ScalingActive"]
        print(f"\nEXTERNAL {name} autoscaler: ScalingActive {active.status} ({active.reason}): "
              "no metrics-server on the node")

    job = client.BatchV1Api(admin).read_namespaced_job(migration_job_name(production["version"]), NAMESPACE)
    assert job.status.succeeded == 1, job.status
    assert rolled_out(apps, "tollgate-operator", 2)
    assert policy.read_namespaced_pod_disruption_budget("tollgate-operator", NAMESPACE).status.current_healthy == 2

    ingress = client.NetworkingV1Api(admin).read_namespaced_ingress("tollgate-ingress", NAMESPACE)
    assert ingress.spec.ingress_class_name == "nginx"
    assert [(t.hosts, t.secret_name) for t in ingress.spec.tls] == [(["auth.example.com"], "auth-example-com-tls")]
    print("\nEXTERNAL ingress: class nginx, no controller on the node")


def test_production_tenant_is_ready_and_its_private_key_jwt_client_gets_a_token(dyn, production):
    # The SAML IdP's metadata URL is on the internet, which the node cannot reach.
    wholesale = resource(dyn, "ContactCenter").get(name="wholesale", namespace=NAMESPACE).to_dict()
    stalled = {c["type"]: c for c in wholesale["status"]["conditions"]}["Stalled"]
    assert (stalled["status"], stalled["reason"]) == ("True", "IdpMetadataUnreachable"), wholesale["status"]

    auth, key = production["auth"], production["key"]
    form = {"grant_type": "client_credentials", **key.client_assertion("corp-backend", production["issuer"])}
    status, body = request(auth, "POST", TOKEN, form=form)
    assert status == 200, body
    token = json.loads(body)["access_token"]
    status, body = request(auth, "POST", "/auth/v3/oauth/introspect",
                           form={"token": token, **key.client_assertion("corp-backend", production["issuer"])})
    claims = json.loads(body)
    assert status == 200 and claims["active"] is True and claims["client_id"] == "corp-backend", body

    # An assertion for another audience is refused: the key really is checked.
    form = {"grant_type": "client_credentials", **key.client_assertion("corp-backend", "https://elsewhere.example")}
    status, body = request(auth, "POST", TOKEN, form=form)
    assert status == 401 and json.loads(body)["error"] == "invalid_client", body


def test_provision_sh_provisions_a_tenant_through_the_deployed_services(production):
    tenant = "ex" + uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "TOLLGATE_URL": f"http://{production['auth']}",
        "TOLLGATE_ENVIRONMENT_URL": f"http://{production['environment']}",
        "TOLLGATE_OPS_PASSWORD": production["ops_password"],
        "TENANT": tenant,
    }
    with Timer("provisioning: provision.sh"):
        run = subprocess.run(["bash", "-x", str(EXAMPLES / "provisioning" / "provision.sh")], env=env,
                             capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"provision.sh failed:\n{run.stdout}\n{run.stderr}"
    lines = run.stdout.strip().splitlines()
    token = json.loads(lines[-1])
    assert token["token_type"].lower() == "bearer" and token["has_id_token"] is True, lines
    cc_id = next(line.split()[2] for line in lines if line.startswith("contact center "))
    status, body = request(production["environment"], "GET", f"/environment/v3/contact-centers/{cc_id}",
                           basic=("ops", production["ops_password"]))
    assert status == 200 and json.loads(body)["data"]["domains"] == [tenant], body


@pytest.mark.parametrize("folder", ["argocd", "flux"])
def test_gitops_example_applies_what_the_node_serves(admin, dyn, folder):
    """The GitOps controllers are not installed: their resources are named,
    and what they would sync (the chart, examples/quickstart) is what this
    suite runs. The rest (argocd-cm) is applied."""
    core = client.CoreV1Api(admin)
    needs = []
    for path in sorted((EXAMPLES / "gitops" / folder).rglob("*.yaml")):
        for doc in manifests(path):
            group = doc["apiVersion"].rpartition("/")[0]
            name = f"{path.relative_to(EXAMPLES)}: {doc['kind']} {doc['metadata']['name']}"
            if group in GITOPS_CONTROLLERS:
                with pytest.raises(ResourceNotFoundError):
                    dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
                for synced in synced_paths(doc):
                    assert (ROOT / synced).is_dir(), f"{name} syncs {synced}, not in the repository"
                needs.append(f"{name} (needs {GITOPS_CONTROLLERS[group]})")
                continue
            namespace = doc["metadata"].get("namespace", NAMESPACE)
            if namespace not in {n.metadata.name for n in core.list_namespace().items}:
                core.create_namespace({"metadata": {"name": namespace}})
            apply(dyn, doc, namespace=namespace)
    print("\nEXTERNAL " + "\nEXTERNAL ".join(needs))
    assert needs, f"gitops/{folder} holds no resource of its controllers"


def synced_paths(doc: dict) -> list[str]:
    """The repository folders an Argo CD Application or a Flux Kustomization
    or HelmRelease syncs."""
    spec = doc["spec"]
    paths = [spec.get("source", {}).get("path"), spec.get("path"),
             spec.get("chart", {}).get("spec", {}).get("chart")]
    return [p.removeprefix("./") for p in paths if p]


def test_every_example_folder_runs_on_the_node():
    folders = {str(p.parent.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("README.md")} - {"."}
    assert folders == set(RUN_BY), f"examples without a node test (add them to RUN_BY): {folders - set(RUN_BY)}"
    for runner in RUN_BY.values():
        assert (Path(__file__).parent / runner).is_file(), runner
