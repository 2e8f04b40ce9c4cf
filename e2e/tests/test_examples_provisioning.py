"""examples/provisioning/provision.sh, the curl walkthrough of the Environment
API (docs/provisioning.md), run as a user would against a server of its own."""

import json
import os
import subprocess
import uuid
from pathlib import Path

import requests

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "provisioning" / "provision.sh"


def test_provisioning_walkthrough_ends_with_a_user_token(isolated_server):
    tenant = "ex" + uuid.uuid4().hex[:8]
    client_secret = "walkthrough-" + uuid.uuid4().hex
    isolated_server.remember_secret(client_secret)
    env = {
        **os.environ,
        "TOLLGATE_URL": isolated_server.base_url,
        "TOLLGATE_OPS_USERNAME": isolated_server.ops_username,
        "TOLLGATE_OPS_PASSWORD": isolated_server.ops_password,
        "TENANT": tenant,
        "CLIENT_ID": "walkthrough-" + tenant,
        "CLIENT_SECRET": client_secret,
    }
    run = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"provision.sh failed:\n{run.stdout}\n{run.stderr}"
    lines = run.stdout.strip().splitlines()
    assert json.loads(lines[0]) == {"code": 0}
    env_id = next(line.split()[1] for line in lines if line.startswith("environment "))
    cc_id = next(line.split()[2] for line in lines if line.startswith("contact center "))
    assert env_id != "null" and cc_id != "null"
    token = json.loads(lines[-1])
    assert token["token_type"].lower() == "bearer" and token["has_id_token"] is True
    assert token["expires_in"] > 0

    # What the walkthrough made is really there: the contact center answers
    # under the tenant name and the environment id the script printed.
    cc = requests.get(
        isolated_server.url(f"/environment/v3/contact-centers/{cc_id}"), auth=isolated_server.ops, timeout=10
    )
    assert cc.status_code == 200, cc.text
    assert cc.json()["data"]["domains"] == [tenant]
    assert cc.json()["data"]["environmentId"] == env_id
