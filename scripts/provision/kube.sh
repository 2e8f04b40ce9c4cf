# shellcheck shell=bash
# Starts a throwaway Kubernetes control plane (etcd + kube-apiserver, no
# kubelet) for the operator tests. SOURCE it (do not run it):
#
#   export TOLLGATE_TEST_DIR=$(mktemp -d)
#   source scripts/provision/kube.sh
#   trap tollgate_stop_kube EXIT
#
# The binaries are built from the Go module proxy — kube-apiserver from
# k8s.io/kubernetes (its staging modules pinned by `replace`, as its own
# go.mod does with local paths) and etcd from go.etcd.io/etcd/server/v3 — and
# cached under "$TOLLGATE_CACHE/kube/<version>/", so only the first run pays
# for the build. Nothing is written to the repository.
#
# The API server listens on 127.0.0.1 (port TOLLGATE_TEST_KUBE_PORT, default
# 56443; etcd on TOLLGATE_TEST_ETCD_PORT, default 52379, peer port + 1) with
# RBAC authorization and service-account token signing (so TokenRequest
# works). An admin kubeconfig (static bearer token in system:masters) is
# written and exported as TOLLGATE_TEST_KUBECONFIG. Returns non-zero with a
# message on stderr when it cannot. Safe under `set -euo pipefail`.

TOLLGATE_KUBE_VERSION="${TOLLGATE_KUBE_VERSION:-1.35.4}"
TOLLGATE_ETCD_VERSION="${TOLLGATE_ETCD_VERSION:-3.6.8}"

tollgate__kube_log() {
    printf 'provision/kube: %s\n' "$*" >&2
}

tollgate__kube_port_taken() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Staging modules of k8s.io/kubernetes: its go.mod replaces them with local
# paths, which a module-proxy build cannot follow, so they are pinned to the
# published v0.X.Y tags instead.
TOLLGATE__KUBE_STAGING="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
cloud-provider cluster-bootstrap code-generator component-base component-helpers controller-manager
cri-api cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils
pod-security-admission sample-apiserver sample-cli-plugin sample-controller"

# Writes a throwaway module in $1 that requires k8s.io/kubernetes at
# TOLLGATE_KUBE_VERSION, then builds the commands $3... into $2, each with
# the version ldflags so it reports its real version (as a release does).
tollgate__kube_build_components() {
    local src="$1" bin_dir="$2" module cmd
    shift 2
    local staging_version="v0.${TOLLGATE_KUBE_VERSION#1.}"
    local minor="${TOLLGATE_KUBE_VERSION#1.}"
    minor="${minor%%.*}"
    mkdir -p "$src" "$bin_dir" || return 1
    {
        printf 'module tollgate.dev/kube-build\n\ngo 1.25\n\n'
        printf 'require k8s.io/kubernetes v%s\n\nreplace (\n' "$TOLLGATE_KUBE_VERSION"
        for module in $TOLLGATE__KUBE_STAGING; do
            printf '\tk8s.io/%s => k8s.io/%s %s\n' "$module" "$module" "$staging_version"
        done
        printf ')\n'
    } >"$src/go.mod"
    # The throwaway module imports the commands' app packages, so
    # `-mod=mod` resolves and records everything they need.
    {
        printf 'package build\n\nimport (\n'
        for cmd in "$@"; do
            printf '\t_ "k8s.io/kubernetes/cmd/%s/app"\n' "$cmd"
        done
        printf ')\n'
    } >"$src/deps.go"
    local v=k8s.io/component-base/version
    local ldflags="-s -X $v.gitVersion=v$TOLLGATE_KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
    for cmd in "$@"; do
        tollgate__kube_log "building $cmd v$TOLLGATE_KUBE_VERSION from the Go module proxy (slow, once)"
        (cd "$src" && GOFLAGS=-mod=mod nice -n 10 go build -trimpath -ldflags="$ldflags" \
            -o "$bin_dir/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd") >&2 || {
            tollgate__kube_log "building $cmd failed"
            return 1
        }
        mv "$bin_dir/$cmd.tmp" "$bin_dir/$cmd"
    done
}

tollgate__kube_build() {
    local bin_dir="$1"
    if ! command -v go >/dev/null 2>&1; then
        tollgate__kube_log "go is not installed (needed once to build kube-apiserver and etcd)"
        return 1
    fi
    local src="$TOLLGATE_CACHE/kube/src-$TOLLGATE_KUBE_VERSION"
    mkdir -p "$src/apiserver" "$src/etcd" "$bin_dir" || return 1
    tollgate__kube_build_components "$src/apiserver" "$bin_dir" kube-apiserver || return 1

    printf 'module tollgate.dev/etcd-build\n\ngo 1.25\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' \
        "$TOLLGATE_ETCD_VERSION" >"$src/etcd/go.mod"
    printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' \
        >"$src/etcd/main.go"
    tollgate__kube_log "building etcd v$TOLLGATE_ETCD_VERSION from the Go module proxy"
    (cd "$src/etcd" && GOFLAGS=-mod=mod nice -n 10 go build -trimpath -ldflags=-s \
        -o "$bin_dir/etcd.tmp" .) >&2 || {
        tollgate__kube_log "building etcd failed"
        return 1
    }
    mv "$bin_dir/etcd.tmp" "$bin_dir/etcd"
}

tollgate__kube_wait() {
    # $1: description, $2..: command that succeeds when ready.
    local what="$1" i
    shift
    for i in $(seq 1 120); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.5
    done
    tollgate__kube_log "$what did not become ready"
    return 1
}

# The first port from $1 on that is free, with the next $2 - 1 ports free too
# (etcd's peer port is client port + 1: a run started just after another can
# find the client port released and the peer port still held).
tollgate__kube_free_port() {
    local port="$1" span="${2:-1}" last=$(($1 + 50)) i busy
    while :; do
        busy=
        for ((i = 0; i < span; i++)); do
            tollgate__kube_port_taken $((port + i)) && { busy=1; break; }
        done
        [ -z "$busy" ] && break
        port=$((port + 1))
        [ "$port" -le "$last" ] || return 1
    done
    printf '%s\n' "$port"
}

tollgate__kube_provision() {
    local test_dir="${TOLLGATE_TEST_DIR:-}"
    if [ -z "$test_dir" ]; then
        tollgate__kube_log "TOLLGATE_TEST_DIR must be set (a scratch directory for this test run)"
        return 1
    fi
    local cache="${TOLLGATE_CACHE:-$HOME/.cache/tollgate}"
    TOLLGATE_CACHE="$cache"
    local bin_dir="$cache/kube/$TOLLGATE_KUBE_VERSION-etcd$TOLLGATE_ETCD_VERSION"
    if [ ! -x "$bin_dir/kube-apiserver" ] || [ ! -x "$bin_dir/etcd" ]; then
        tollgate__kube_build "$bin_dir" || return 1
    fi
    if ! command -v openssl >/dev/null 2>&1; then
        tollgate__kube_log "openssl is needed for the serving certificate and service-account keys"
        return 1
    fi

    local root="$test_dir/kube"
    mkdir -p "$root/etcd" || return 1
    if [ -n "${TOLLGATE_KUBE_APISERVER_PID:-}" ] && kill -0 "$TOLLGATE_KUBE_APISERVER_PID" 2>/dev/null \
        && [ -s "$root/kubeconfig" ]; then
        export TOLLGATE_TEST_KUBECONFIG="$root/kubeconfig"
        tollgate__kube_log "reusing the API server already running"
        return 0
    fi

    local etcd_port kube_port
    etcd_port=$(tollgate__kube_free_port "${TOLLGATE_TEST_ETCD_PORT:-52379}" 2) || {
        tollgate__kube_log "no free port for etcd"
        return 1
    }
    local peer_port=$((etcd_port + 1))
    kube_port=$(tollgate__kube_free_port "${TOLLGATE_TEST_KUBE_PORT:-56443}") || {
        tollgate__kube_log "no free port for kube-apiserver"
        return 1
    }

    # A throwaway CA and the serving certificate it signs (rustls refuses a
    # self-signed CA as the server's own certificate), and the
    # service-account signing key pair.
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
        >"$root/serving.ext"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=tollgate-test-ca" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
        -keyout "$root/ca.key" -out "$root/ca.crt" >/dev/null 2>&1 &&
        openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
            -keyout "$root/serving.key" -out "$root/serving.csr" >/dev/null 2>&1 &&
        openssl x509 -req -in "$root/serving.csr" -CA "$root/ca.crt" -CAkey "$root/ca.key" \
            -CAcreateserial -days 2 -extfile "$root/serving.ext" -out "$root/serving.crt" >/dev/null 2>&1 || {
        tollgate__kube_log "openssl could not create the serving certificate"
        return 1
    }
    openssl genrsa -out "$root/sa.key" 2048 >/dev/null 2>&1 &&
        openssl rsa -in "$root/sa.key" -pubout -out "$root/sa.pub" >/dev/null 2>&1 || {
        tollgate__kube_log "openssl could not create the service-account key"
        return 1
    }
    local token
    token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
    (umask 077 && printf '%s,admin,admin,system:masters\n' "$token" >"$root/tokens.csv") || return 1

    "$bin_dir/etcd" --name tollgate-test --data-dir "$root/etcd" \
        --listen-client-urls "http://127.0.0.1:$etcd_port" \
        --advertise-client-urls "http://127.0.0.1:$etcd_port" \
        --listen-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-cluster "tollgate-test=http://127.0.0.1:$peer_port" \
        --unsafe-no-fsync --log-level warn >"$root/etcd.log" 2>&1 &
    TOLLGATE_KUBE_ETCD_PID=$!
    tollgate__kube_wait "etcd" curl -fsS "http://127.0.0.1:$etcd_port/health" || {
        tail -n 40 "$root/etcd.log" >&2
        return 1
    }

    "$bin_dir/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$etcd_port" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$kube_port" \
        --tls-cert-file "$root/serving.crt" --tls-private-key-file "$root/serving.key" \
        --token-auth-file "$root/tokens.csv" \
        --authorization-mode RBAC \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$root/sa.pub" \
        --service-account-signing-key-file "$root/sa.key" \
        --api-audiences https://kubernetes.default.svc.cluster.local \
        --service-cluster-ip-range 10.96.0.0/16 \
        --allow-privileged=true \
        --enable-priority-and-fairness=false \
        >"$root/apiserver.log" 2>&1 &
    TOLLGATE_KUBE_APISERVER_PID=$!

    cat >"$root/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: tollgate-test
  cluster:
    server: https://127.0.0.1:$kube_port
    certificate-authority: $root/ca.crt
users:
- name: admin
  user:
    token: $token
contexts:
- name: tollgate-test
  context:
    cluster: tollgate-test
    user: admin
    namespace: default
current-context: tollgate-test
EOF
    chmod 600 "$root/kubeconfig"
    tollgate__kube_wait "kube-apiserver" curl -fsS --cacert "$root/ca.crt" \
        -H "Authorization: Bearer $token" "https://127.0.0.1:$kube_port/readyz" || {
        tail -n 60 "$root/apiserver.log" >&2
        return 1
    }
    export TOLLGATE_TEST_KUBECONFIG="$root/kubeconfig"
    export TOLLGATE_KUBE_BIN_DIR="$bin_dir"
    tollgate__kube_log "kube-apiserver v$TOLLGATE_KUBE_VERSION ready on https://127.0.0.1:$kube_port (kubeconfig $TOLLGATE_TEST_KUBECONFIG)"
}

# Stops the API server and etcd started above; safe to call more than once.
tollgate_stop_kube() {
    local pid
    for pid in "${TOLLGATE_KUBE_APISERVER_PID:-}" "${TOLLGATE_KUBE_ETCD_PID:-}"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    TOLLGATE_KUBE_APISERVER_PID=
    TOLLGATE_KUBE_ETCD_PID=
}

# TOLLGATE_PREPARE_ONLY=1: build into the cache and start nothing
# (scripts/provision/prepare.sh, while cargo compiles).
if [ "${TOLLGATE_PREPARE_ONLY:-}" = 1 ]; then
    _tg_kube_bins="${TOLLGATE_CACHE:-$HOME/.cache/tollgate}/kube/$TOLLGATE_KUBE_VERSION-etcd$TOLLGATE_ETCD_VERSION"
    if [ ! -x "$_tg_kube_bins/kube-apiserver" ] || [ ! -x "$_tg_kube_bins/etcd" ]; then
        TOLLGATE_CACHE="${TOLLGATE_CACHE:-$HOME/.cache/tollgate}" tollgate__kube_build "$_tg_kube_bins"
    fi
else
    tollgate__kube_provision
fi
