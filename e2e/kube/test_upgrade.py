"""The documented upgrade path (charts/tollgate-operator/README.md, "CRDs and
upgrades"): install one chart version, apply the next version's CRDs with
server-side apply (`helm show crds NEW | kubectl apply --server-side
--force-conflicts -f -`), then `helm upgrade`: the CRDs carry the new schema
and the operator Deployment rolls to the new image."""

import shutil

import yaml
from kubernetes import client

from conftest import CHART, create_namespace, unique, wait_established

# A field of the current Tollgate schema the "old" chart's CRD lacks, as a
# field added by a release would be.
NEW_FIELD = "labels"


def tollgate_spec_fields(admin) -> set:
    crd = client.ApiextensionsV1Api(admin).read_custom_resource_definition("tollgates.tollgate.dev")
    version = next(v for v in crd.spec.versions if v.name == "v1alpha1")
    return set(version.schema.open_apiv3_schema.properties["spec"].properties)


def chart_copy(tmp_path, version: str, drop_field: bool):
    chart = tmp_path / f"tollgate-operator-{version}"
    shutil.copytree(CHART, chart)
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    meta["version"] = meta["appVersion"] = version
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    if drop_field:
        path = chart / "crds" / "tollgates.tollgate.dev.yaml"
        crd = yaml.safe_load(path.read_text())
        for v in crd["spec"]["versions"]:
            v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"].pop(NEW_FIELD)
        path.write_text(yaml.safe_dump(crd))
    return chart


def replace_crds_with(admin, chart) -> None:
    """Puts the chart's CRDs in place as they are (PUT), like a cluster that
    was installed from that chart version."""
    api = client.ApiextensionsV1Api(admin)
    for path in sorted((chart / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        name = crd["metadata"]["name"]
        try:
            current = api.read_custom_resource_definition(name)
        except client.ApiException as err:
            assert err.status == 404, err
            api.create_custom_resource_definition(crd)
        else:
            crd["metadata"]["resourceVersion"] = current.metadata.resource_version
            api.replace_custom_resource_definition(name, crd)
        wait_established(admin, name)


def test_upgrade_applies_new_crds_then_rolls_the_operator(admin, dyn, helm, tmp_path):
    old = chart_copy(tmp_path, "0.1.0", drop_field=True)
    new = chart_copy(tmp_path, "0.2.0", drop_field=False)
    namespace = create_namespace(admin, unique("upgrade"))
    # A cluster installed from the old chart: its CRDs lack the new field.
    replace_crds_with(admin, old)
    helm("install", "tollgate-operator", str(old), "--namespace", namespace, "--set", "watchNamespace=" + namespace)
    assert NEW_FIELD not in tollgate_spec_fields(admin)
    apps = client.AppsV1Api(admin)
    before = apps.read_namespaced_deployment("tollgate-operator", namespace)
    assert before.spec.template.spec.containers[0].image.endswith(":0.1.0")

    # 1. The documented step: the new chart's CRDs, server-side applied.
    api = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    for crd in yaml.safe_load_all(helm("show", "crds", str(new))):
        if crd:
            api.server_side_apply(body=crd, field_manager="kubectl", force_conflicts=True)
    assert NEW_FIELD in tollgate_spec_fields(admin)

    # 2. helm upgrade: the operator Deployment rolls to the new image.
    helm("upgrade", "tollgate-operator", str(new), "--namespace", namespace, "--reuse-values")
    after = apps.read_namespaced_deployment("tollgate-operator", namespace)
    assert after.spec.template.spec.containers[0].image.endswith(":0.2.0")
    assert after.metadata.generation > before.metadata.generation
    assert after.metadata.labels["helm.sh/chart"] == "tollgate-operator-0.2.0"
    # Values given at install survive the upgrade.
    env = {e.name: e.value for e in after.spec.template.spec.containers[0].env}
    assert env["TOLLGATE_OPERATOR_NAMESPACE"] == namespace

    # Why step 1 exists: Helm itself never touches CRDs on upgrade (nor on
    # rollback), whatever the chart's crds/ hold.
    helm("upgrade", "tollgate-operator", str(old), "--namespace", namespace, "--reuse-values")
    assert NEW_FIELD in tollgate_spec_fields(admin)
    replace_crds_with(admin, CHART)
