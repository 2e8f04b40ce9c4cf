"""The chart installed by `helm install` on a real kube-apiserver, and the
operator's ServiceAccount (a TokenRequest token, as its Pod would hold)
allowed exactly what the operator needs: every right of the contract is
granted, nothing more is, and calls outside it are refused. Watching every
namespace, the cluster-wide rights only read the tenant kinds: Secrets and
workloads are written in the platform namespace only, and tenant namespaces
give read access to referenced Secrets, nothing more."""

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from conftest import CHART, ROOT, create_namespace, service_account_client, unique

KINDS = ["tollgates", "environments", "contactcenters", "oauthclients"]
TENANT_KINDS = ["environments", "contactcenters", "oauthclients"]
WRITE = ["get", "list", "watch", "create", "patch", "update", "delete"]

# The contract (issue 6 / issue 7, narrowed by issue 14), written out
# independently of the chart.
EVENTS = {("", "events", v) for v in ["create", "patch"]} | {
    ("events.k8s.io", "events", v) for v in ["create", "patch"]
}
# Wherever the tenant kinds are watched (cluster-wide by default).
TENANT = (
    {("tollgate.dev", k, v) for k in TENANT_KINDS for v in ["get", "list", "watch", "patch", "update"]}
    | {("tollgate.dev", f"{k}/status", v) for k in TENANT_KINDS for v in ["get", "patch", "update"]}
    | {("tollgate.dev", f"{k}/finalizers", "update") for k in TENANT_KINDS}
    | EVENTS
)
# The platform namespace only.
PLATFORM = (
    {("tollgate.dev", "tollgates", v) for v in ["get", "list", "watch", "patch", "update"]}
    | {("tollgate.dev", "tollgates/status", v) for v in ["get", "patch", "update"]}
    | {("tollgate.dev", "tollgates/finalizers", "update")}
    | {("", r, v) for r in ["secrets", "configmaps", "services"] for v in WRITE}
    | {(g, r, v) for g, r in [
        ("apps", "deployments"),
        ("batch", "jobs"),
        ("policy", "poddisruptionbudgets"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("networking.k8s.io", "networkpolicies"),
        ("networking.k8s.io", "ingresses"),
    ] for v in WRITE}
)
# A listed tenant namespace: referenced Secrets and ConfigMaps by name, and
# generated client secrets.
SECRET_REFS = {("", "secrets", "get"), ("", "secrets", "create"), ("", "configmaps", "get")}
# One watched namespace that is also the platform namespace: the old set.
WATCHED = TENANT | PLATFORM
LEASES = {("coordination.k8s.io", "leases", v) for v in ["get", "list", "watch", "create", "update", "patch"]}
# What every authenticated identity may do (system:basic-user).
EVERYONE = {
    ("authorization.k8s.io", "selfsubjectaccessreviews", "create"),
    ("authorization.k8s.io", "selfsubjectrulesreviews", "create"),
    ("authentication.k8s.io", "selfsubjectreviews", "create"),
}


def allowed(api: client.ApiClient, group, resource, verb, namespace=None) -> bool:
    resource, _, sub = resource.partition("/")
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(
                group=group, resource=resource, subresource=sub or None, verb=verb, namespace=namespace
            )
        )
    )
    return client.AuthorizationV1Api(api).create_self_subject_access_review(review).status.allowed


def rules(api: client.ApiClient, namespace: str) -> set:
    """Every (group, resource, verb) the identity holds in the namespace."""
    review = client.V1SelfSubjectRulesReview(spec=client.V1SelfSubjectRulesReviewSpec(namespace=namespace))
    status = client.AuthorizationV1Api(api).create_self_subject_rules_review(review).status
    assert not status.incomplete, status.evaluation_error
    held = set()
    for rule in status.resource_rules:
        assert "*" not in rule.verbs and "*" not in rule.resources and "*" not in rule.api_groups, rule
        assert not rule.resource_names, f"unexpected resourceNames in {rule}"
        held |= {(g, r, v) for g in rule.api_groups for r in rule.resources for v in rule.verbs}
    return held - EVERYONE


def refused(call, *args, **kwargs):
    with pytest.raises(ApiException) as raised:
        call(*args, **kwargs)
    assert raised.value.status == 403, raised.value


@pytest.fixture(scope="module")
def cluster_wide(admin, helm):
    """The default install: the operator watches every namespace; one tenant
    namespace is listed for Secret references."""
    namespace = create_namespace(admin, unique("tollgate-system"))
    tenant = create_namespace(admin, unique("tenant"))
    helm(
        "install", "tollgate-operator", str(CHART), "--namespace", namespace,
        "--set", "rbac.tenantNamespaces={" + tenant + "}",
    )
    yield namespace, tenant, service_account_client(admin, namespace, "tollgate-operator")
    helm("uninstall", "tollgate-operator", "--namespace", namespace)


@pytest.fixture(scope="module")
def namespaced(admin, helm, third_party_crds):
    """The production example's values: the operator watches `tollgate` only
    (its release namespace here is another one, to tell the two apart)."""
    release_ns = create_namespace(admin, unique("operators"))
    try:
        create_namespace(admin, "tollgate")
    except client.ApiException as err:
        assert err.status == 409
    helm(
        "install", "tollgate-operator", str(CHART), "--namespace", release_ns,
        "-f", str(ROOT / "examples" / "production" / "operator-values.yaml"),
    )
    yield release_ns, "tollgate", service_account_client(admin, release_ns, "tollgate-operator")
    helm("uninstall", "tollgate-operator", "--namespace", release_ns)


def test_install_creates_the_operator_and_established_crds(admin, cluster_wide):
    namespace, _, _ = cluster_wide
    deployment = client.AppsV1Api(admin).read_namespaced_deployment("tollgate-operator", namespace)
    container = deployment.spec.template.spec.containers[0]
    assert container.command == ["/usr/local/bin/tollgate-operator"]
    assert container.security_context.read_only_root_filesystem is True
    assert container.security_context.allow_privilege_escalation is False
    assert deployment.spec.template.spec.security_context.run_as_non_root is True
    env = {e.name: e for e in container.env}
    assert not env["TOLLGATE_OPERATOR_NAMESPACE"].value  # empty: every namespace
    assert env["TOLLGATE_OPERATOR_PLATFORM_NAMESPACE"].value == namespace
    assert env["TOLLGATE_OPERATOR_ALLOW_UNBOUND_MANAGEMENT_CLIENTS"].value == "false"
    assert env["TOLLGATE_DATABASE_URL"].value_from.secret_key_ref.name == "tollgate-database"
    assert env["TOLLGATE_ENCRYPTION_KEY"].value_from.secret_key_ref.name == "tollgate-encryption-key"
    assert env["POD_NAMESPACE"].value_from.field_ref.field_path == "metadata.namespace"
    assert container.liveness_probe.http_get.path == "/healthz"
    assert container.readiness_probe.http_get.path == "/readyz"
    client.CoreV1Api(admin).read_namespaced_service("tollgate-operator-metrics", namespace)
    client.NetworkingV1Api(admin).read_namespaced_network_policy("tollgate-operator", namespace)
    crds = client.ApiextensionsV1Api(admin)
    for plural in KINDS:
        crd = crds.read_custom_resource_definition(f"{plural}.tollgate.dev")
        established = {c.type: c.status for c in crd.status.conditions or []}
        assert established.get("Established") == "True", crd.status


def test_cluster_wide_rights_are_exactly_the_contract(cluster_wide):
    namespace, tenant, operator = cluster_wide
    # Any namespace: only the tenant kinds; the platform (release) namespace
    # adds the workloads, Secrets and the Lease; the listed tenant namespace
    # adds reading referenced Secrets.
    assert rules(operator, "default") == TENANT
    assert rules(operator, namespace) == TENANT | PLATFORM | LEASES
    assert rules(operator, tenant) == TENANT | SECRET_REFS
    for group, resource, verb in sorted(TENANT):
        assert allowed(operator, group, resource, verb), (group, resource, verb)
    for group, resource, verb in sorted(PLATFORM | LEASES):
        assert allowed(operator, group, resource, verb, namespace), (group, resource, verb)
    # Nothing of the platform's rights anywhere else, nor cluster-wide.
    for group, resource, verb in sorted(PLATFORM - SECRET_REFS):
        assert not allowed(operator, group, resource, verb, tenant), (group, resource, verb)
    for group, resource, verb in sorted(PLATFORM):
        assert not allowed(operator, group, resource, verb), (group, resource, verb)
        assert not allowed(operator, group, resource, verb, "default"), (group, resource, verb)


def test_cluster_wide_real_calls(admin, cluster_wide):
    namespace, tenant, operator = cluster_wide
    apps_ns = create_namespace(admin, unique("apps"))
    custom = client.CustomObjectsApi(operator)
    core = client.CoreV1Api(operator)
    apps = client.AppsV1Api(operator)
    batch = client.BatchV1Api(operator)
    # Allowed: read the tenant kinds everywhere, events, the Lease; children
    # in the platform namespace; a referenced Secret in the tenant namespace.
    custom.list_cluster_custom_object("tollgate.dev", "v1alpha1", "contactcenters")
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="child")))
    core.delete_namespaced_config_map("child", namespace)
    core.create_namespaced_secret(namespace, client.V1Secret(metadata=client.V1ObjectMeta(name="child")))
    core.delete_namespaced_secret("child", namespace)
    core.create_namespaced_event(
        apps_ns,
        client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name="tollgate-"),
            involved_object=client.V1ObjectReference(kind="ContactCenter", name="x", namespace=apps_ns),
            reason="Test", message="allowed", type="Normal",
        ),
    )
    client.CoordinationV1Api(operator).create_namespaced_lease(
        namespace, client.V1Lease(metadata=client.V1ObjectMeta(name="tollgate-operator"))
    )
    client.CoreV1Api(admin).create_namespaced_secret(
        tenant, client.V1Secret(metadata=client.V1ObjectMeta(name="cs-password"), string_data={"password": "x"})
    )
    core.read_namespaced_secret("cs-password", tenant)
    core.create_namespaced_secret(tenant, client.V1Secret(metadata=client.V1ObjectMeta(name="web-client-secret")))
    # Refused: Secrets of any other namespace (read, list, write), Secrets of
    # the tenant namespace beyond get/create, workloads outside the platform
    # namespace, anything cluster-wide of the platform's.
    client.CoreV1Api(admin).create_namespaced_secret(
        apps_ns, client.V1Secret(metadata=client.V1ObjectMeta(name="other"), string_data={"k": "v"})
    )
    refused(core.read_namespaced_secret, "other", apps_ns)
    refused(core.list_namespaced_secret, apps_ns)
    refused(core.list_secret_for_all_namespaces)
    refused(core.list_namespaced_secret, tenant)
    refused(core.delete_namespaced_secret, "cs-password", tenant)
    refused(core.patch_namespaced_secret, "cs-password", tenant, {"stringData": {"password": "y"}})
    refused(core.create_namespaced_secret, apps_ns, client.V1Secret(metadata=client.V1ObjectMeta(name="s")))
    refused(core.create_namespaced_config_map, apps_ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c")))
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="d"),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels={"a": "b"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"a": "b"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="x")]),
            ),
        ),
    )
    refused(apps.create_namespaced_deployment, apps_ns, deployment)
    refused(apps.create_namespaced_deployment, tenant, deployment)
    refused(apps.list_deployment_for_all_namespaces)
    refused(batch.list_job_for_all_namespaces)
    refused(batch.delete_namespaced_job, "j", apps_ns)
    refused(client.NetworkingV1Api(operator).list_ingress_for_all_namespaces)
    refused(custom.list_cluster_custom_object, "tollgate.dev", "v1alpha1", "tollgates")
    # The kinds are created by users, never by the operator; nothing
    # cluster-scoped; no Pods, RBAC or Leases elsewhere.
    body = {"apiVersion": "tollgate.dev/v1alpha1", "kind": "Environment", "metadata": {"name": "e"}, "spec": {"username": "u"}}
    refused(custom.create_namespaced_custom_object, "tollgate.dev", "v1alpha1", apps_ns, "environments", body)
    refused(core.delete_namespace, apps_ns)
    refused(core.list_node)
    refused(core.list_namespaced_pod, apps_ns)
    refused(client.ApiextensionsV1Api(operator).list_custom_resource_definition)
    refused(client.RbacAuthorizationV1Api(operator).list_namespaced_role, apps_ns)
    refused(client.CoordinationV1Api(operator).list_namespaced_lease, apps_ns)


def test_namespaced_rights_are_the_contract_in_one_namespace(admin, namespaced):
    release_ns, watched, operator = namespaced
    assert rules(operator, watched) == WATCHED
    assert rules(operator, release_ns) == LEASES
    assert rules(operator, "default") == set()
    deployment = client.AppsV1Api(admin).read_namespaced_deployment("tollgate-operator", release_ns)
    env = {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}
    assert env["TOLLGATE_OPERATOR_NAMESPACE"] == watched
    assert env["TOLLGATE_OPERATOR_PLATFORM_NAMESPACE"] == watched
    assert deployment.spec.replicas == 2


def test_namespaced_real_calls(admin, namespaced):
    release_ns, watched, operator = namespaced
    core = client.CoreV1Api(operator)
    core.list_namespaced_secret(watched)
    client.CustomObjectsApi(operator).list_namespaced_custom_object("tollgate.dev", "v1alpha1", watched, "oauthclients")
    # Another namespace's Secrets, and a cluster-wide list, are refused.
    refused(core.list_namespaced_secret, "default")
    refused(core.read_namespaced_secret, "tollgate-database", "default")
    refused(client.CustomObjectsApi(operator).list_cluster_custom_object, "tollgate.dev", "v1alpha1", "tollgates")
    refused(core.delete_namespace, watched)
