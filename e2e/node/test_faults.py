"""Faults on a real node under load: a data-plane pod deleted (graceful:
no request fails), a container killed with SIGKILL (failures only while
the node notices, counted), and the operator's leader pod deleted (the
standby takes the Lease and reconciles the next change)."""

import glob
import os
import signal
import time

from kubernetes import client

from conftest import CHART, NAMESPACE, ready, resource, rolled_out
from node import LoadLoop, record, wait_for
from test_upgrade import demo_user

AUTH = "app.kubernetes.io/component=auth"


def auth_pods(admin) -> list:
    return client.CoreV1Api(admin).list_namespaced_pod(NAMESPACE, label_selector=AUTH).items


def two_auth_pods_ready(admin) -> bool:
    pods = [p for p in auth_pods(admin) if p.metadata.deletion_timestamp is None]
    return len(pods) == 2 and all(
        any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or [])) for p in pods)


def scale_auth_to_two(admin, dyn) -> None:
    resource(dyn, "Tollgate").patch(name="tollgate", namespace=NAMESPACE, content_type="application/merge-patch+json",
                                    body={"spec": {"auth": {"replicas": 2}}})
    wait_for("two auth pods Ready", 180, lambda: two_auth_pods_ready(admin))


def test_deleting_a_pod_under_load_fails_no_request(admin, dyn, platform):
    scale_auth_to_two(admin, dyn)
    victim = auth_pods(admin)[0].metadata.name
    loop = LoadLoop(platform, demo_user(platform))
    loop.start()
    try:
        time.sleep(3)
        started = time.monotonic()
        client.CoreV1Api(admin).delete_namespaced_pod(victim, NAMESPACE)
        wait_for("the deleted pod gone and two auth pods Ready again", 180,
                 lambda: victim not in {p.metadata.name for p in auth_pods(admin)} and two_auth_pods_ready(admin))
        record("pod deletion: replacement Ready and old pod gone", time.monotonic() - started)
        time.sleep(3)
    finally:
        summary = loop.stop()
    record("pod deletion: load", summary)
    assert loop.counts["token"] > 20, summary
    assert not loop.failures, summary


def container_pids(pod) -> list[int]:
    """The processes of the pod's tollgate container, from its cgroup (the
    directory named by the container's id, under the node's cgroup root)."""
    container_id = pod.status.container_statuses[0].container_id.split("://", 1)[1]
    pids = []
    for procs in glob.glob(f"/sys/fs/cgroup/pids/**/pod{pod.metadata.uid}/{container_id}/cgroup.procs", recursive=True):
        with open(procs) as f:
            pids += [int(line) for line in f if line.strip()]
    return pids


def test_a_killed_container_fails_requests_only_until_the_node_notices(admin, dyn, platform):
    scale_auth_to_two(admin, dyn)
    victim = auth_pods(admin)[0]
    restarts = victim.status.container_statuses[0].restart_count
    pids = container_pids(victim)
    assert pids, "no process found in the container's cgroup"
    loop = LoadLoop(platform, demo_user(platform))
    loop.start()
    try:
        time.sleep(3)
        killed_at = time.monotonic()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_for("the container restarted and Ready", 180, lambda: two_auth_pods_ready(admin) and any(
            p.metadata.name == victim.metadata.name and p.status.container_statuses[0].restart_count > restarts
            for p in auth_pods(admin)))
        recovered = time.monotonic() - killed_at
        time.sleep(5)
    finally:
        summary = loop.stop()
    record("SIGKILL of an auth container: restarted and Ready after", recovered)
    record("SIGKILL of an auth container: load", summary)
    # Requests fail only until the kubelet sees the container gone and the
    # endpoint is withdrawn; nothing fails once the pod is Ready again.
    assert loop.counts["token"] > 20, summary
    assert all(f.split(":", 1)[1].strip().startswith(("ConnectionRefusedError", "ConnectionResetError",
                                                     "RemoteDisconnected", "BrokenPipeError", "timeout",
                                                     "TimeoutError"))
               for f in loop.failures), loop.failures[:5]
    late = [f for f in loop.failures_at if f > killed_at + recovered]
    assert not late, f"{len(late)} requests failed after the pod was Ready again"


def lease_holder(admin) -> str:
    return client.CoordinationV1Api(admin).read_namespaced_lease("tollgate-operator", NAMESPACE).spec.holder_identity


def operator_pods(core) -> set[str]:
    return {p.metadata.name for p in core.list_namespaced_pod(
        NAMESPACE, label_selector="app.kubernetes.io/name=tollgate-operator").items}


def test_the_standby_operator_takes_over_when_the_leader_pod_is_deleted(admin, dyn, helm, platform):
    helm("upgrade", "tollgate-operator", str(CHART), "--namespace", NAMESPACE, "--reuse-values",
         "--set", "replicaCount=2")
    apps, core = client.AppsV1Api(admin), client.CoreV1Api(admin)
    # Two replicas change the pod template (anti-affinity): a rollout.
    wait_for("two operator replicas rolled out", 180, lambda: rolled_out(apps, "tollgate-operator", 2))
    wait_for("one of them holding the Lease", 60, lambda: lease_holder(admin) in operator_pods(core))
    leader = lease_holder(admin)

    started = time.monotonic()
    core.delete_namespaced_pod(leader, NAMESPACE)
    wait_for("the leader pod gone", 60, lambda: leader not in operator_pods(core))
    # Changed only now, so the old leader cannot have reconciled it.
    centers = resource(dyn, "ContactCenter")
    generation = centers.patch(name="demo", namespace=NAMESPACE, content_type="application/merge-patch+json",
                               body={"spec": {"settings": {"corsOrigins": [
                                   "https://agent.demo.example.com", "https://failover.demo.example.com"]}}}
                               ).metadata.generation

    def reconciled() -> bool:
        cc = centers.get(name="demo", namespace=NAMESPACE).to_dict()
        conditions = (cc.get("status") or {}).get("conditions", [])
        return ready(cc) and bool(conditions) and all(c.get("observedGeneration") == generation for c in conditions)

    wait_for("the ContactCenter change reconciled by the new leader", 180, reconciled,
             lambda: centers.get(name="demo", namespace=NAMESPACE).to_dict().get("status"))
    record("operator failover: leader pod deleted to change reconciled", time.monotonic() - started)
    new_leader = lease_holder(admin)
    assert new_leader != leader and new_leader in operator_pods(core), (leader, new_leader)
