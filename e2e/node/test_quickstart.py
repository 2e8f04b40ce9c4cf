"""examples/quickstart on a real node: the operator chart installed with
helm, the platform's pods running the Tollgate image, a token through the
auth Service as the README's curl gets it."""

import json
import time

from kubernetes import client

from conftest import NAMESPACE
from node import TOKEN, record, request


def test_quickstart_serves_a_token_through_the_service(admin, operator, platform):
    apps = client.AppsV1Api(admin)
    for service in ("auth", "ui", "environment"):
        deployment = apps.read_namespaced_deployment(f"tollgate-{service}", NAMESPACE)
        assert deployment.status.available_replicas == deployment.spec.replicas, deployment.status
    job = client.BatchV1Api(admin).read_namespaced_job("tollgate-migrate-0-1-0", NAMESPACE)
    assert job.status.succeeded == 1, job.status

    # curl -s -u "demo-client:$SECRET" -d grant_type=client_credentials http://tollgate-auth/auth/v3/oauth/token
    status, body = request(platform["auth"], "POST", TOKEN, form={"grant_type": "client_credentials"},
                           basic=(platform["client_id"], platform["client_secret"]))
    assert status == 200, body
    token = json.loads(body)
    assert token["token_type"].lower() == "bearer" and token["access_token"]
    record("helm install to first token", time.monotonic() - operator["installed_at"])

    status, body = request(platform["auth"], "POST", "/auth/v3/oauth/introspect",
                           form={"token": token["access_token"]},
                           basic=(platform["client_id"], platform["client_secret"]))
    assert status == 200 and json.loads(body)["active"] is True, body
