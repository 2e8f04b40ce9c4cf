#!/usr/bin/env bash
# Builds and downloads into $TOLLGATE_CACHE everything slow the test command
# needs later, so it runs while cargo compiles (scripts/test.sh starts it in
# the background once the Debian packages are in). Each later `source` of a
# provision script then finds its cache warm and only starts its service.
# Nothing here starts a service or touches apt.
#
#   Go (nice 10):   kube-apiserver and etcd (kube.sh), the kubelet,
#                   controller-manager, scheduler and kube-proxy and the
#                   static pause binary (node.sh), helm and kubeconform
#                   and the kubeconform schemas (k8s-tools.sh)
#   downloads:      Keycloak (built once), the npm packages of the OpenID
#                   provider and of the browser driver, the e2e Python venv
set -euo pipefail
cd "$(dirname "$0")/../.."
export TOLLGATE_PREPARE_ONLY=1
export TOLLGATE_CACHE="${TOLLGATE_CACHE:-$HOME/.cache/tollgate}"

go_tools() {
  # shellcheck source=kube.sh
  source scripts/provision/kube.sh
  # shellcheck source=node.sh
  source scripts/provision/node.sh
  # shellcheck source=k8s-tools.sh
  nice -n 10 bash -c 'set -euo pipefail; source scripts/provision/k8s-tools.sh'
}
downloads() {
  # shellcheck source=saml-idp.sh
  source scripts/provision/saml-idp.sh
  # shellcheck source=oidc-idp.sh
  source scripts/provision/oidc-idp.sh
  bash e2e/run.sh --prepare
}

go_tools & go_pid=$!
downloads & dl_pid=$!
status=0
wait "$go_pid" || { echo "prepare: the Go tools failed" >&2; status=1; }
wait "$dl_pid" || { echo "prepare: the downloads failed" >&2; status=1; }
exit "$status"
