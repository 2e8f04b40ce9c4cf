"""Zero-downtime upgrade on a real node: `spec.version` changes while a load
loop sends token, introspection and refresh requests through the auth
Service; the migration Job runs as a pod, the Deployments roll, and no
request fails."""

import json
import time
import uuid

from kubernetes import client

from conftest import FAILING, NAMESPACE, resource
from node import TOKEN, LoadLoop, client_token, pod_memory, record, request, wait_for


def demo_user(platform: dict) -> tuple[str, str]:
    """A built-in directory user of the demo contact center, created through
    the Environment Service; it signs in as `demo\\<name>` once here."""
    name, password = f"agent-{uuid.uuid4().hex[:6]}", "Agent-password-" + uuid.uuid4().hex[:8]
    bearer = client_token(platform)["access_token"]
    status, body = request(platform["environment"], "POST",
                           f"/environment/v3/contact-centers/{platform['contact_center']}/users",
                           body={"data": {"userName": name, "password": password, "firstName": "Ada",
                                          "lastName": "Agent", "email": "ada@example.com",
                                          "authorities": ["ROLE_AGENT"]}},
                           bearer=bearer)
    assert status in (200, 201), body
    status, body = request(platform["auth"], "POST", TOKEN,
                           form={"grant_type": "password", "username": f"demo\\{name}", "password": password},
                           basic=(platform["client_id"], platform["client_secret"]))
    assert status == 200 and json.loads(body).get("refresh_token"), body
    return f"demo\\{name}", password


def images(apps: client.AppsV1Api) -> dict[str, str]:
    return {s: apps.read_namespaced_deployment(f"tollgate-{s}", NAMESPACE).spec.template.spec.containers[0].image
            for s in ("auth", "ui", "environment")}


def rolled(apps: client.AppsV1Api, image: str) -> bool:
    for service in ("auth", "ui", "environment"):
        d = apps.read_namespaced_deployment(f"tollgate-{service}", NAMESPACE)
        s = d.status
        if d.spec.template.spec.containers[0].image != image:
            return False
        if (s.observed_generation or 0) < d.metadata.generation:
            return False
        if (s.updated_replicas or 0) != d.spec.replicas or (s.replicas or 0) != d.spec.replicas:
            return False
        if (s.available_replicas or 0) != d.spec.replicas:
            return False
    return True


def only_image(admin, image: str) -> bool:
    """Every pod of the three services runs `image`, none is terminating."""
    pods = client.CoreV1Api(admin).list_namespaced_pod(
        NAMESPACE, label_selector="app.kubernetes.io/component in (auth,ui,environment)").items
    return bool(pods) and all(
        p.metadata.deletion_timestamp is None and p.spec.containers[0].image == image for p in pods)


def test_version_change_rolls_every_service_without_a_failed_request(admin, dyn, platform, versions):
    old, new = versions
    apps = client.AppsV1Api(admin)
    assert set(images(apps).values()) == {f"localhost/tollgate:{old}"}
    loop = LoadLoop(platform, demo_user(platform))
    loop.start()
    time.sleep(5)  # steady traffic before the change
    started = time.monotonic()
    resource(dyn, "Tollgate").patch(name="tollgate", namespace=NAMESPACE, content_type="application/merge-patch+json",
                                    body={"spec": {"version": new}})
    try:
        wait_for("the migration Job of the new version complete", 300,
                 lambda: (client.BatchV1Api(admin).read_namespaced_job(
                     "tollgate-migrate-0-1-0-upgrade", NAMESPACE).status.succeeded or 0) == 1)
        wait_for("every Deployment rolled to the new image", 600,
                 lambda: rolled(apps, f"localhost/tollgate:{new}"), lambda: images(apps))
        wait_for("no pod of the old version left (drained and gone)", 120,
                 lambda: only_image(admin, f"localhost/tollgate:{new}"))
        record("upgrade: spec.version change to last old pod gone", time.monotonic() - started)
        time.sleep(3)  # traffic after the roll, on the new pods only
    finally:
        summary = loop.stop()
    record("upgrade: load", summary)
    status = resource(dyn, "Tollgate").get(name="tollgate", namespace=NAMESPACE).to_dict()["status"]
    assert status.get("version") == new, status
    assert loop.counts["token"] > 50 and loop.counts["refresh"] > 50, summary
    assert not loop.failures, summary
    try:
        for pod, (rss, working_set) in sorted(pod_memory(admin, "tollgate-node", NAMESPACE).items()):
            record(f"memory {pod}", f"rss {rss / 2**20:.1f} MiB, working set {working_set / 2**20:.1f} MiB")
    except Exception as err:  # noqa: BLE001 - a measurement, not the test
        record("memory", f"not read: {err}")


def test_a_failing_migration_leaves_the_old_pods_serving(admin, dyn, platform, versions):
    running = versions[1]  # after the upgrade above
    apps = client.AppsV1Api(admin)
    tollgates = resource(dyn, "Tollgate")
    loop = LoadLoop(platform, demo_user(platform))
    loop.start()
    try:
        time.sleep(3)
        tollgates.patch(name="tollgate", namespace=NAMESPACE, content_type="application/merge-patch+json",
                        body={"spec": {"version": FAILING}})

        def stalled() -> bool:
            conditions = tollgates.get(name="tollgate", namespace=NAMESPACE).to_dict()["status"]["conditions"]
            return any(c["type"] == "Stalled" and c["status"] == "True" and c["reason"] == "MigrationFailed"
                       for c in conditions)

        wait_for("the Tollgate Stalled with MigrationFailed", 300, stalled,
                 lambda: tollgates.get(name="tollgate", namespace=NAMESPACE).to_dict()["status"])
        assert set(images(apps).values()) == {f"localhost/tollgate:{running}"}
        assert only_image(admin, f"localhost/tollgate:{running}")
        time.sleep(3)
    finally:
        summary = loop.stop()
    record("failed migration: load", summary)
    assert loop.counts["token"] > 20, summary
    assert not loop.failures, summary
    # Back to the running version: nothing to migrate, Ready again.
    tollgates.patch(name="tollgate", namespace=NAMESPACE, content_type="application/merge-patch+json",
                    body={"spec": {"version": running}})
    wait_for("the Tollgate Ready on the running version", 120,
             lambda: any(c["type"] == "Ready" and c["status"] == "True" for c in
                         tollgates.get(name="tollgate", namespace=NAMESPACE).to_dict()["status"]["conditions"]))
