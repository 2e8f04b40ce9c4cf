#!/usr/bin/env bash
# The one test command. On a fresh machine it installs what the tests need,
# starts throwaway PostgreSQL, Redis (standalone, TLS and a 3-node
# cluster), OpenLDAP, a Kubernetes API server (etcd + kube-apiserver, built
# once from the Go module proxy and cached) and Keycloak as the SAML identity
# provider, then runs the linters, every Rust test and the end-to-end suite
# (including the browser tests on Debian's Chromium), then the container
# image, the Helm chart and the examples (on that API server), and last a
# real single-node cluster (scripts/provision/node.sh) where the chart
# installs the quickstart platform and upgrades it under load.
# A dependency that cannot be provisioned fails the run; nothing is skipped.
#
# Each thing is built once, and the slow builds overlap: after the Debian
# packages, the Go tools, Keycloak and the npm/Python packages are prepared
# in the background (scripts/provision/prepare.sh) while cargo compiles and
# the tests run, each step waiting only for what it needs (the API server
# before the Rust tests, the downloads before the end-to-end suite, the node
# components and Helm at the end), and the release build of the image runs
# throughout at the lowest priority, on the cores the rest leaves idle. The
# end-to-end suite tests the debug binaries `cargo test` built.
set -euo pipefail
cd "$(dirname "$0")/.."

export TOLLGATE_REQUIRE_SERVICES=1
export TOLLGATE_TEST_DIR="${TOLLGATE_TEST_DIR:-$(mktemp -d /tmp/tollgate-test.XXXXXX)}"
export TOLLGATE_CACHE="${TOLLGATE_CACHE:-$HOME/.cache/tollgate}"
mkdir -p "$TOLLGATE_CACHE"
# Cargo's target directory is a cache like the others: a new clone on the
# same machine rebuilds only the workspace's own crates.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$TOLLGATE_CACHE/target}"
target="$CARGO_TARGET_DIR"
logs="$TOLLGATE_TEST_DIR/logs"
mkdir -p "$logs"

started=$(date +%s)
step() { printf '\n== [%4ss] %s\n' "$(($(date +%s) - started))" "$*"; }

# The test servers' fixed ports lie in the kernel's ephemeral range, so an
# outgoing connection of an earlier test could take one before a late server
# binds it (EADDRINUSE): reserve them for the run, and give the setting back.
reserved=/proc/sys/net/ipv4/ip_local_reserved_ports
reserved_before=$(cat "$reserved" 2>/dev/null || true)
reserve_ports() {
  local etcd=${TOLLGATE_TEST_ETCD_PORT:-52379} cluster=${TOLLGATE_TEST_REDIS_CLUSTER_PORT:-57001}
  local saml=${TOLLGATE_TEST_SAML_IDP_PORT:-55450}
  local ports="$etcd-$((etcd + 1)),${TOLLGATE_TEST_LDAP_PORT:-55389},${TOLLGATE_TEST_LDAPS_PORT:-55636}"
  ports+=",${TOLLGATE_TEST_POSTGRES_PORT:-55432},${TOLLGATE_TEST_OIDC_PORT:-55440}"
  ports+=",$saml,${TOLLGATE_TEST_SAML_IDP_MANAGEMENT_PORT:-55451},${TOLLGATE_TEST_KUBE_PORT:-56443}"
  ports+=",${TOLLGATE_TEST_REDIS_PORT:-56379},${TOLLGATE_TEST_REDIS_TLS_PORT:-56380},$cluster-$((cluster + 2))"
  printf '%s\n' "${reserved_before:+$reserved_before,}$ports" >"$reserved"
}
if [ -w "$reserved" ]; then
  reserve_ports
else
  echo "note: cannot reserve the test ports ($reserved is not writable); a late server may find its port taken" >&2
fi

background=()
cleanup() {
  set +e
  [ -w "$reserved" ] && printf '%s\n' "$reserved_before" >"$reserved"
  local pid
  for pid in "${background[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null; done
  declare -F tollgate_stop_node >/dev/null && tollgate_stop_node
  declare -F tollgate_stop_saml_idp >/dev/null && tollgate_stop_saml_idp
  declare -F tollgate_stop_kube >/dev/null && tollgate_stop_kube
  declare -F tollgate_stop_ldap >/dev/null && tollgate_stop_ldap
  declare -F tollgate_stop_redis >/dev/null && tollgate_stop_redis
  declare -F tollgate_stop_postgres >/dev/null && tollgate_stop_postgres
  rm -rf "$TOLLGATE_TEST_DIR"
}
trap cleanup EXIT

# Waits for a background job; on failure prints its log and stops the run.
await() { # name pid log
  if ! wait "$2"; then
    echo "error: $1 failed; its log:" >&2
    tail -n 80 "$3" >&2
    exit 1
  fi
}

# Starts a command in the background in its own process group (so cleanup
# stops all of it); its pid is in $last_pid.
in_background() { # log command...
  local log=$1
  shift
  set -m
  "$@" >"$log" 2>&1 &
  last_pid=$!
  background+=("$last_pid")
  set +m
}

# Waits until a background job has created `file` (a stage of it is done).
await_file() { # name file pid log
  while [ ! -e "$2" ]; do
    if ! kill -0 "$3" 2>/dev/null; then
      wait "$3" || true
      [ -e "$2" ] && return 0
      echo "error: $1 failed; its log:" >&2
      tail -n 80 "$4" >&2
      exit 1
    fi
    sleep 2
  done
}

step "packages (one apt-get run)"
# shellcheck source=provision/packages.sh
source scripts/provision/packages.sh
# shellcheck source=provision/browser.sh
source scripts/provision/browser.sh

step "background: Go tools (log: go.log), Keycloak, npm and Python packages (log: downloads.log)"
in_background "$logs/go.log" bash -c "bash scripts/provision/prepare.sh apiserver && touch '$logs/apiserver.ready' && bash scripts/provision/prepare.sh node"
go_pid=$last_pid
in_background "$logs/downloads.log" bash scripts/provision/prepare.sh downloads
downloads_pid=$last_pid

step "background: release build of the image's binaries, lowest priority (log: release.log)"
in_background "$logs/release.log" nice -n 19 bash scripts/image.sh --build-only
release_pid=$last_pid

step "format and lint"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
python3 scripts/openapi_reference.py --check
# The CRD YAML (and the chart's copy) must match the operator's types.
cargo run -q -p tollgate-operator --bin crdgen --locked -- --check crds/
cargo run -q -p tollgate-operator --bin crdgen --locked -- --check charts/tollgate-operator/crds/
# The CRD reference must match the CRDs.
python3 scripts/crd_reference.py --check

step "build the Rust tests (and the binaries the end-to-end suite runs)"
cargo test --workspace --locked --no-run
# The configuration reference must match the flags of the binary just built.
python3 scripts/config_reference.py --check --bin "$target/debug/tollgate"

step "PostgreSQL"
# shellcheck source=provision/postgres.sh
source scripts/provision/postgres.sh

step "Redis (standalone, TLS, cluster)"
# shellcheck source=provision/redis.sh
source scripts/provision/redis.sh

step "OpenLDAP (slapd with a seeded tree, StartTLS and LDAPS)"
# shellcheck source=provision/ldap.sh
source scripts/provision/ldap.sh

step "waiting for the API server's build (go.log)"
await_file "the Go build of the API server" "$logs/apiserver.ready" "$go_pid" "$logs/go.log"

step "Kubernetes API server (etcd, kube-apiserver; no kubelet)"
# shellcheck source=provision/kube.sh
source scripts/provision/kube.sh

step "Rust tests (unit, router, storage and ephemeral contracts on every backend, operator on the API server)"
cargo test --workspace --locked

step "waiting for the downloads (downloads.log)"
await "the downloads" "$downloads_pid" "$logs/downloads.log"

step "OpenID provider for the e2e tests (oidc-provider from npm)"
# shellcheck source=provision/oidc-idp.sh
source scripts/provision/oidc-idp.sh

step "SAML identity provider for the e2e tests (Keycloak from Maven Central, on Java 17)"
# shellcheck source=provision/saml-idp.sh
source scripts/provision/saml-idp.sh

step "end-to-end (real binary, PostgreSQL, Redis, third-party OAuth client, Chromium)"
export TOLLGATE_BIN="$target/debug/tollgate"
export TOLLGATE_CS_SIM_BIN="$target/debug/tollgate-cs-sim"
bash e2e/run.sh

step "faults, load and soak, short form (own PostgreSQL, Redis and slapd, killed and restarted under load)"
bash e2e/faults/run.sh

step "container image (release binaries with their shared libraries, chroot run, buildah where the machine allows)"
await "the release build" "$release_pid" "$logs/release.log"
bash scripts/image.sh

step "waiting for the node components and Helm (go.log)"
await "the Go builds" "$go_pid" "$logs/go.log"

step "Kubernetes tools (helm, kubeconform, promtool, schemas; built by the preparation)"
# shellcheck source=provision/k8s-tools.sh
source scripts/provision/k8s-tools.sh

step "chart and manifests (values table, helm lint --strict, helm template, kubeconform -strict)"
bash scripts/check-manifests.sh

step "Kubernetes end-to-end (chart install and RBAC, examples, upgrade, Argo CD health checks, alert rules with promtool)"
(cd e2e/kube && PYTHONDONTWRITEBYTECODE=1 "$TOLLGATE_KUBE_PYTHON" -m pytest -q -p no:cacheprovider .)

step "real Kubernetes node (kubelet, containerd, kube-proxy): the chart, the quickstart and a zero-downtime upgrade on real pods"
# shellcheck source=provision/node.sh
source scripts/provision/node.sh
TOLLGATE_IMAGE_CONTEXT=$(bash scripts/image.sh --context-only)
export TOLLGATE_IMAGE_CONTEXT
nsenter --net="$TOLLGATE_NODE_NETNS" "$TOLLGATE_KUBE_PYTHON" -m pytest -q -s -p no:cacheprovider e2e/node

step "done"
