"""The Argo CD health check of examples/gitops/argocd/argocd-cm.yaml, run
by real Lua 5.4 (as Argo CD runs it, with the resource as the global `obj`)
against sample statuses of every Tollgate kind."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "gitops" / "argocd" / "argocd-cm.yaml"
KINDS = ["Tollgate", "Environment", "ContactCenter", "OAuthClient"]


def lua_literal(value) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    return "{" + ", ".join(f"[{lua_literal(k)}] = {lua_literal(v)}" for k, v in value.items()) + "}"


def health(obj: dict) -> tuple[str, str]:
    lua = shutil.which("lua5.4")
    assert lua, "lua5.4 is not installed (scripts/provision/k8s-tools.sh installs it)"
    customizations = yaml.safe_load(yaml.safe_load(CONFIG.read_text())["data"]["resource.customizations"])
    script = customizations["tollgate.dev/*"]["health.lua"]
    program = (
        f"obj = {lua_literal(obj)}\n"
        f"local function check()\n{script}\nend\n"
        "local hs = check()\n"
        'io.write(hs.status, "\\t", hs.message or "")\n'
    )
    run = subprocess.run([lua, "-"], input=program, capture_output=True, text=True, timeout=10)
    assert run.returncode == 0, run.stderr
    status, _, message = run.stdout.partition("\t")
    return status, message


def resource(kind, generation=2, observed=2, conditions=None):
    obj = {"apiVersion": "tollgate.dev/v1alpha1", "kind": kind, "metadata": {"name": "x", "generation": generation}}
    if conditions is not None:
        obj["status"] = {"observedGeneration": observed, "conditions": conditions}
    return obj


def cond(type_, status, reason="Because", message=""):
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize("kind", KINDS)
def test_ready_is_healthy(kind):
    obj = resource(kind, conditions=[cond("Ready", "True", "Reconciled", "all children ready"), cond("Reconciling", "False"), cond("Stalled", "False")])
    assert health(obj) == ("Healthy", "all children ready")


@pytest.mark.parametrize("kind", KINDS)
def test_reconciling_is_progressing(kind):
    obj = resource(kind, conditions=[cond("Ready", "False", "Progressing"), cond("Reconciling", "True", "RollingOut", "2 of 3 replicas updated")])
    assert health(obj) == ("Progressing", "2 of 3 replicas updated")


@pytest.mark.parametrize("kind", KINDS)
def test_stalled_is_degraded_even_when_reconciling(kind):
    obj = resource(kind, conditions=[cond("Ready", "False"), cond("Reconciling", "True"), cond("Stalled", "True", "MigrationFailed", "migration job failed: see its logs")])
    assert health(obj) == ("Degraded", "migration job failed: see its logs")


def test_stalled_without_message_reports_its_reason():
    obj = resource("Tollgate", conditions=[cond("Stalled", "True", "DatabaseUnreachable")])
    assert health(obj) == ("Degraded", "DatabaseUnreachable")


def test_no_status_yet_is_progressing():
    assert health(resource("Environment"))[0] == "Progressing"
    assert health(resource("Environment", conditions=[]))[0] == "Progressing"


def test_ready_for_an_older_generation_is_progressing():
    obj = resource("ContactCenter", generation=3, observed=2, conditions=[cond("Ready", "True")])
    assert health(obj) == ("Progressing", "The operator has not seen the latest spec yet")


def test_not_ready_without_stall_is_progressing_with_its_message():
    obj = resource("OAuthClient", conditions=[cond("Ready", "False", "WaitingForSecret", "secret demo not found")])
    assert health(obj) == ("Progressing", "secret demo not found")
