"""helm as the tests run it: a binary built by scripts/provision/k8s-tools.sh,
a kubeconfig, and cache/config/data homes of the run's own. Shared by
e2e/kube and e2e/node."""

import os
import subprocess
from pathlib import Path


class Helm:
    def __init__(self, binary: str, kubeconfig: str, home: Path):
        self.binary = binary
        self.env = {
            **os.environ,
            "KUBECONFIG": kubeconfig,
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def __call__(self, *args: str) -> str:
        run = subprocess.run([self.binary, *args], env=self.env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, f"helm {' '.join(args)} failed:\n{run.stdout}\n{run.stderr}"
        return run.stdout
