"""The chart's monitoring: the PrometheusRule passes `promtool check rules`
and the alert unit tests of rules_test.yaml (`promtool test rules`), and the
rules and the Grafana dashboard use only metric names the services and the
operator expose (charts/tollgate-operator/metric-names.txt, snapshot-tested
by the data plane's tests, and operator-metric-names.txt, by the
operator's). Renders the chart with helm; needs no API server."""

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import CHART, _need
from helm_cli import Helm

HERE = Path(__file__).resolve().parent
# The release namespace of the rendering; the unit tests' series carry it.
NAMESPACE = "tollgate"
RULES = "tollgate-rules.yaml"
# The data plane's management-port label the operator sets on its Services
# (operator/src/platform/children.rs, MANAGEMENT_SCHEME_LABEL).
SCHEME_LABEL = "tollgate.dev/management-scheme"


@pytest.fixture(scope="module")
def promtool() -> str:
    return _need("TOLLGATE_PROMTOOL", "source scripts/provision/k8s-tools.sh (scripts/test.sh does)")


@pytest.fixture(scope="module")
def render(tmp_path_factory):
    """`helm template` of the chart with `--set` options: its documents."""
    binary = _need("TOLLGATE_HELM", "source scripts/provision/k8s-tools.sh (scripts/test.sh does)")
    # `helm template` reads no cluster: an empty kubeconfig will do.
    helm = Helm(binary, os.devnull, tmp_path_factory.mktemp("helm"))

    def render(*settings: str) -> list[dict]:
        kube_version = os.environ.get("TOLLGATE_SCHEMA_K8S_VERSION", "1.35.4")
        args = ["template", "tollgate-operator", str(CHART), "--namespace", NAMESPACE, "--kube-version", kube_version]
        for setting in settings:
            args += ["--set", setting]
        return [doc for doc in yaml.safe_load_all(helm(*args)) if doc]

    return render


def kind(docs: list[dict], name: str) -> list[dict]:
    return [doc for doc in docs if doc["kind"] == name]


@pytest.fixture(scope="module")
def rule(render) -> dict:
    (rule,) = kind(render("metrics.prometheusRule.enabled=true"), "PrometheusRule")
    return rule


@pytest.fixture
def rules_file(rule, tmp_path) -> Path:
    """The PrometheusRule's groups as a Prometheus rule file."""
    path = tmp_path / RULES
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return path


def alerts(rule: dict) -> list[dict]:
    return [r for group in rule["spec"]["groups"] for r in group["rules"] if "alert" in r]


def promtool_run(promtool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120)


def test_monitoring_is_off_by_default(render):
    docs = render()
    assert not kind(docs, "PrometheusRule")
    names = [doc["metadata"]["name"] for doc in kind(docs, "ServiceMonitor") + kind(docs, "ConfigMap")]
    assert not any(name.endswith(("-data-plane", "-dashboard")) for name in names), names


def test_the_rules_pass_promtool_check(promtool, rule, rules_file):
    run = promtool_run(promtool, "check", "rules", str(rules_file))
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(alerts(rule))} rules found" in run.stdout, run.stdout


def test_a_broken_rule_fails_promtool_check(promtool, rule, tmp_path):
    groups = copy.deepcopy(rule["spec"]["groups"])
    groups[0]["rules"][0]["expr"] = groups[0]["rules"][0]["expr"].replace("rate(", "rate((", 1)
    path = tmp_path / RULES
    path.write_text(yaml.safe_dump({"groups": groups}))
    run = promtool_run(promtool, "check", "rules", str(path))
    assert run.returncode != 0, run.stdout


def test_the_alerts_fire_on_synthetic_series(promtool, rule, tmp_path):
    """rules_test.yaml: the error-ratio, key-rotation and certificate alerts
    (labels, summary and description; the runbook text is prose and is
    checked for presence below, not word for word)."""
    groups = copy.deepcopy(rule["spec"]["groups"])
    for alert in (r for group in groups for r in group["rules"]):
        alert["annotations"].pop("runbook")
    (tmp_path / RULES).write_text(yaml.safe_dump({"groups": groups}))
    shutil.copy(HERE / "rules_test.yaml", tmp_path / "rules_test.yaml")
    run = promtool_run(promtool, "test", "rules", str(tmp_path / "rules_test.yaml"))
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_alert_has_a_severity_a_summary_a_description_and_a_runbook(rule):
    found = alerts(rule)
    assert {a["alert"] for a in found} >= {
        "TollgateHighErrorRatio",
        "TollgateHighLatencyP99",
        "TollgateDirectoryUnavailable",
        "TollgateConfigServerTimeouts",
        "TollgateBackingStoreErrors",
        "TollgateSigningKeyRotationOverdue",
        "TollgateCertificateExpiringSoon",
        "TollgateAuditEventsDropped",
        "TollgateOperatorReconcileErrors",
    }
    for alert in found:
        assert alert["labels"]["severity"] in ("warning", "critical"), alert["alert"]
        for note in ("summary", "description", "runbook"):
            assert alert["annotations"].get(note, "").strip(), f"{alert['alert']} has no {note}"


def test_extra_labels_and_thresholds_reach_the_rules(render):
    (rule,) = kind(
        render(
            "metrics.prometheusRule.enabled=true",
            "metrics.prometheusRule.labels.release=prometheus",
            "metrics.prometheusRule.alertLabels.team=identity",
            "metrics.prometheusRule.errorRatio=0.02",
            "metrics.prometheusRule.certificateExpiryDays=30",
        ),
        "PrometheusRule",
    )
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    by_name = {a["alert"]: a for a in alerts(rule)}
    assert all(a["labels"]["team"] == "identity" for a in by_name.values())
    assert "> 0.02" in by_name["TollgateHighErrorRatio"]["expr"]
    assert "< 30 * 86400" in by_name["TollgateCertificateExpiringSoon"]["expr"]


def known_samples() -> set[str]:
    """Every sample name the services and the operator expose, from the
    `# TYPE <family> <type>` lines of the chart's lists."""
    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_count", "_sum"]}
    names = set()
    for listing in ("metric-names.txt", "operator-metric-names.txt"):
        for line in (CHART / listing).read_text().splitlines():
            _, _, family, type_ = line.split()
            names.update(family + suffix for suffix in suffixes[type_])
    return names


# A token that is a metric name rather than a function, label or keyword.
METRIC = re.compile(r"\b(?:tollgate_|auth_cs_)\w+|\b\w+_(?:total|bucket|count|sum|seconds|info)\b")


def dashboard_queries(dashboard: dict) -> list[str]:
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        queries.append(query["query"] if isinstance(query, dict) else query or "")
    return queries


def test_rules_and_dashboard_use_only_exposed_metric_names(rule):
    known = known_samples()
    dashboard = json.loads((CHART / "dashboards" / "tollgate.json").read_text())
    queries = [a["expr"] for a in alerts(rule)] + dashboard_queries(dashboard)
    used = {name for query in queries for name in METRIC.findall(query)}
    assert used, "no metric names found"
    assert used <= known, f"unknown metric names: {sorted(used - known)}"
    # The check itself catches a name that is not exposed.
    assert METRIC.findall("rate(tollgate_tokens_issued_count[5m])")[0] not in known


def test_the_dashboard_ships_as_a_sidecar_config_map(render):
    (config_map,) = [
        doc
        for doc in kind(render("metrics.grafanaDashboard.enabled=true"), "ConfigMap")
        if doc["metadata"]["name"].endswith("-dashboard")
    ]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads(config_map["data"]["tollgate.json"])
    assert shipped == json.loads((CHART / "dashboards" / "tollgate.json").read_text())
    assert {p["title"] for p in shipped["panels"]} >= {
        "Request rate by route",
        "Tokens issued by grant",
        "OAuth errors by grant and error",
        "Dependency latency p50 / p99",
        "Database pool connections",
        "TLS certificates: time to expiry",
        "Signing key: time left before rotation is due",
        "Reconciles by kind",
    }


def test_the_data_plane_service_monitor_scrapes_the_management_ports(render):
    (monitor,) = [
        doc
        for doc in kind(
            render("metrics.dataPlane.serviceMonitor.enabled=true", "platformNamespace=tollgate-platform"),
            "ServiceMonitor",
        )
        if doc["metadata"]["name"].endswith("-data-plane")
    ]
    spec = monitor["spec"]
    assert spec["namespaceSelector"] == {"matchNames": ["tollgate-platform"]}
    assert spec["selector"]["matchLabels"] == {"app.kubernetes.io/name": "tollgate"}
    (endpoint,) = spec["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("management", "/metrics")
    # No scheme set: each Service's label decides.
    assert "scheme" not in endpoint
    (relabel,) = endpoint["relabelings"]
    source = "__meta_kubernetes_service_label_" + re.sub(r"[^A-Za-z0-9_]", "_", SCHEME_LABEL)
    assert relabel["sourceLabels"] == [source] and relabel["targetLabel"] == "__scheme__"

    (forced,) = [
        doc
        for doc in kind(
            render("metrics.dataPlane.serviceMonitor.enabled=true", "metrics.dataPlane.serviceMonitor.scheme=https"),
            "ServiceMonitor",
        )
        if doc["metadata"]["name"].endswith("-data-plane")
    ]
    (endpoint,) = forced["spec"]["endpoints"]
    assert endpoint["scheme"] == "https" and "relabelings" not in endpoint
