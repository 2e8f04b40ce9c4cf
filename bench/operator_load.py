#!/usr/bin/env python3
"""Helpers of bench/operator.sh (stdlib only; kubectl for the credentials).

  operator_load.py apply NS COUNT PARALLEL
        server-side applies ContactCenters cc-00000 .. cc-<COUNT-1> to NS,
        PARALLEL requests in flight (kubectl apply sends one object at a time,
        which at 10,000 would measure kubectl rather than the operator).
  operator_load.py watch NS COUNT FILE
        watches NS's ContactCenters and writes to FILE the Unix time at which
        COUNT of them had Ready=True (one watch, no polling: listing 10,000
        objects every half second would load the API server the operator is
        measured against).
"""

# Not named operator.py: scripts in bench/ run with bench/ first on sys.path,
# and that name shadows the standard library module that json imports.

import concurrent.futures
import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

API = "/apis/tollgate.dev/v1alpha1/namespaces/{ns}/contactcenters"


def kube():
    """(server URL, SSL context, headers) of the current kubeconfig context."""
    cfg = json.loads(subprocess.run(["kubectl", "config", "view", "--raw", "--minify", "-o", "json"],
                                    check=True, capture_output=True, text=True).stdout)
    cluster, user = cfg["clusters"][0]["cluster"], cfg["users"][0]["user"]
    ctx = ssl.create_default_context(cafile=cluster.get("certificate-authority"))
    if user.get("client-certificate"):
        ctx.load_cert_chain(user["client-certificate"], user.get("client-key"))
    headers = {"Authorization": f"Bearer {user['token']}"} if user.get("token") else {}
    return cluster["server"], ctx, headers


def contact_center(i):
    return {"apiVersion": "tollgate.dev/v1alpha1", "kind": "ContactCenter",
            "metadata": {"name": f"cc-{i:05d}"},
            "spec": {"environmentRef": "bench", "domains": [f"t{i:05d}"], "auth": "builtin",
                     "settings": {"corsOrigins": [f"https://wwe{i}.example"]}}}


def cmd_apply(ns, count, parallel):
    server, ctx, headers = kube()
    base = server + API.format(ns=ns)

    def one(i):
        obj = contact_center(i)
        req = urllib.request.Request(f"{base}/{obj['metadata']['name']}?fieldManager=bench-operator",
                                     data=json.dumps(obj).encode(), method="PATCH",
                                     headers=dict(headers, **{"Content-Type": "application/apply-patch+yaml"}))
        for attempt in range(5):
            try:
                with urllib.request.urlopen(req, context=ctx, timeout=60):
                    return
            except urllib.error.HTTPError as e:
                # 429/5xx: the API server asks to come back.
                if e.code != 429 and e.code < 500:
                    raise RuntimeError(f"apply {obj['metadata']['name']}: {e.code} {e.read()[:300]!r}") from e
            time.sleep(0.5 * (attempt + 1))
        raise RuntimeError(f"apply {obj['metadata']['name']}: still refused after 5 tries")

    with concurrent.futures.ThreadPoolExecutor(max_workers=int(parallel)) as pool:
        list(pool.map(one, range(int(count))))


def cmd_watch(ns, count, path):
    count, ready = int(count), set()
    # `get --watch` lists what exists, then follows changes; when the API
    # server ends the watch, a new one starts from a fresh list.
    while len(ready) < count:
        proc = subprocess.Popen(["kubectl", "-n", ns, "get", "tgcc", "--watch", "-o",
                                 'jsonpath={.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}'],
                                stdout=subprocess.PIPE, text=True)
        for line in proc.stdout:
            name, _, status = line.strip().partition(" ")
            (ready.add if status == "True" else ready.discard)(name)
            if len(ready) >= count:
                with open(path, "w") as f:
                    f.write(f"{time.time():.3f}\n")
                break
        proc.kill()
        proc.wait()
        if len(ready) < count:
            print(f"operator_load.py: watch ended with {len(ready)} of {count} Ready; watching again", file=sys.stderr)
            time.sleep(0.5)


def main():
    cmds = {"apply": (cmd_apply, 3), "watch": (cmd_watch, 3)}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or len(sys.argv) != 2 + cmds[sys.argv[1]][1]:
        sys.exit(__doc__)
    cmds[sys.argv[1]][0](*sys.argv[2:])


if __name__ == "__main__":
    main()
