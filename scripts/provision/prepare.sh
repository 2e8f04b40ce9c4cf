#!/usr/bin/env bash
# Builds and downloads into $TOLLGATE_CACHE everything slow the test command
# needs later, so it runs while cargo compiles and tests (scripts/test.sh
# starts it in the background once the Debian packages are in). Each later
# `source` of a provision script then finds its cache warm and only starts
# its service. Nothing here starts a service or touches apt.
#
#   scripts/provision/prepare.sh [apiserver | node | downloads]...
#
#   apiserver (Go):  kube-apiserver and etcd (kube.sh), for the Rust tests
#   node (Go):       the kubelet, controller-manager, scheduler, kube-proxy
#                    and the static pause binary (node.sh), helm, kubeconform,
#                    promtool and the kubeconform schemas (k8s-tools.sh), for the end
#   downloads:       Keycloak (built once), the npm packages of the OpenID
#                    provider and of the browser driver, the e2e Python venv
#
# The stages' functions are prefixed: a function named `node` would shadow
# Node.js. Without arguments: all of them, the Go stages one after the other
# (two Go builds at once only share the same cores) beside the downloads.
set -euo pipefail
cd "$(dirname "$0")/../.."
export TOLLGATE_PREPARE_ONLY=1
export TOLLGATE_CACHE="${TOLLGATE_CACHE:-$HOME/.cache/tollgate}"

stage_apiserver() {
  # shellcheck source=kube.sh
  source scripts/provision/kube.sh
}
stage_node() {
  # shellcheck source=node.sh
  source scripts/provision/node.sh
  # shellcheck source=k8s-tools.sh
  nice -n 10 bash -c 'set -euo pipefail; source scripts/provision/k8s-tools.sh'
}
stage_downloads() {
  # shellcheck source=saml-idp.sh
  source scripts/provision/saml-idp.sh
  # shellcheck source=oidc-idp.sh
  source scripts/provision/oidc-idp.sh
  bash e2e/run.sh --prepare
}

if [ $# -gt 0 ]; then
  for stage in "$@"; do
    case "$stage" in
      apiserver | node | downloads) (set -euo pipefail; "stage_$stage") ;;
      *) echo "prepare: unknown stage '$stage' (apiserver, node, downloads)" >&2; exit 2 ;;
    esac
  done
  exit 0
fi
(set -euo pipefail; stage_apiserver; stage_node) & go_pid=$!
(set -euo pipefail; stage_downloads) & dl_pid=$!
status=0
wait "$go_pid" || { echo "prepare: the Go tools failed" >&2; status=1; }
wait "$dl_pid" || { echo "prepare: the downloads failed" >&2; status=1; }
exit "$status"
