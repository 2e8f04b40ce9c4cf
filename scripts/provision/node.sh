# shellcheck shell=bash
# Starts a real single-node Kubernetes cluster for the end-to-end tests of
# the deployment (e2e/node): etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet and kube-proxy with containerd, runc and the CNI
# bridge, all inside a network namespace of its own. SOURCE it (root only):
#
#   export TOLLGATE_TEST_DIR=$(mktemp -d)
#   source scripts/provision/node.sh
#   trap tollgate_stop_node EXIT
#
# Built once and cached under "$TOLLGATE_CACHE/kube/": the Kubernetes
# components from the Go module proxy (scripts/provision/kube.sh builds etcd
# and the API server; here the kubelet, controller-manager, scheduler and
# kube-proxy, all with their real version), and a static pause binary (the
# pod sandbox image, which cannot be pulled here). containerd, runc, the CNI
# plugins, iptables, conntrack and socat are Debian's.
#
# The network namespace has a veth with the node address 10.250.0.1 and a
# default route that leads nowhere, so nothing in it reaches past this
# machine; pods get 10.244.0.0/24, Services 10.96.0.0/16. Run clients with
# `nsenter --net="$TOLLGATE_NODE_NETNS" ...`. tollgate_node_forward makes a
# service of the host (127.0.0.1:PORT) reachable at the node address through
# a Unix socket, without routing between the host and the namespace; the
# PostgreSQL and Redis of TOLLGATE_TEST_POSTGRES_URL / TOLLGATE_TEST_REDIS_URL
# are forwarded to 10.250.0.1:5432 and :6379 when set.
#
# Exports TOLLGATE_NODE_KUBECONFIG (admin; valid inside the namespace),
# TOLLGATE_NODE_NETNS (/run/netns/<name>), TOLLGATE_NODE_IP,
# TOLLGATE_NODE_CONTAINERD (the containerd socket). tollgate_node_import
# ARCHIVE imports an OCI archive into the node's image store (pods use
# imagePullPolicy: Never).
#
# tollgate_stop_node (the caller's EXIT trap) stops everything and leaves no
# process, mount, cgroup, network namespace or changed sysctl behind, also
# after an interrupted start. TOLLGATE_PREPARE_ONLY=1 only builds into the
# cache (scripts/provision/prepare.sh).

TOLLGATE_NODE_NAME=tollgate-node
TOLLGATE_NODE_IP=10.250.0.1
# Global sysctls the kubelet sets (it refuses to start with other values
# under --protect-kernel-defaults, and sets them otherwise): saved and put
# back by tollgate_stop_node.
TOLLGATE__NODE_SYSCTLS="vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes"

tollgate__node_log() {
    printf 'provision/node: %s\n' "$*" >&2
}

tollgate__node_bins() {
    printf '%s\n' "${TOLLGATE_CACHE:-$HOME/.cache/tollgate}/kube/$TOLLGATE_KUBE_VERSION-node"
}

# The kubelet, controller-manager, scheduler and kube-proxy (same throwaway
# module and version as the API server), and the pause binary.
tollgate__node_build() {
    local bin_dir missing=() cmd
    bin_dir=$(tollgate__node_bins)
    for cmd in kubelet kube-controller-manager kube-scheduler kube-proxy; do
        [ -x "$bin_dir/$cmd" ] || missing+=("$cmd")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        command -v go >/dev/null 2>&1 || {
            tollgate__node_log "go is not installed (needed once to build ${missing[*]})"
            return 1
        }
        tollgate__kube_build_components \
            "${TOLLGATE_CACHE:-$HOME/.cache/tollgate}/kube/src-$TOLLGATE_KUBE_VERSION/node" \
            "$bin_dir" "${missing[@]}" || return 1
    fi
    if [ ! -x "$bin_dir/pause" ]; then
        # The sandbox process of every pod: sleeps, reaps adopted children,
        # exits on SIGTERM/SIGINT. Static, so its image is this one file.
        cat >"$bin_dir/pause.c" <<'EOF'
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>
static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(void) {
    struct sigaction down = {0}, child = {0};
    down.sa_handler = stop;
    sigaction(SIGINT, &down, NULL);
    sigaction(SIGTERM, &down, NULL);
    child.sa_handler = reap;
    child.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &child, NULL);
    for (;;) pause();
}
EOF
        gcc -static -O2 -o "$bin_dir/pause.tmp" "$bin_dir/pause.c" || {
            tollgate__node_log "gcc -static could not build the pause binary"
            return 1
        }
        mv "$bin_dir/pause.tmp" "$bin_dir/pause"
    fi
}

tollgate__node_wait() {
    # $1: description, $2: seconds, $3..: command that succeeds when ready.
    local what="$1" seconds="$2" i
    shift 2
    for ((i = 0; i < seconds * 2; i++)); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.5
    done
    tollgate__node_log "$what did not become ready in ${seconds}s"
    return 1
}

# Runs "$@" inside the node's network namespace, in the background, logging
# to $root/logs/$1.log; records the PID for tollgate_stop_node.
tollgate__node_start() {
    local name="$1"
    shift
    nsenter --net="$TOLLGATE_NODE_NETNS" nice -n 5 "$@" >"$TOLLGATE__NODE_ROOT/logs/$name.log" 2>&1 &
    TOLLGATE__NODE_PIDS="$! $TOLLGATE__NODE_PIDS"
    printf '%s\n' "$!" >"$TOLLGATE__NODE_ROOT/logs/$name.pid"
}

tollgate__node_api() {
    # GET on the API server from inside the namespace, as admin.
    nsenter --net="$TOLLGATE_NODE_NETNS" curl -fsS --max-time 5 --cacert "$TOLLGATE__NODE_ROOT/pki/ca.crt" \
        -H "Authorization: Bearer $(cat "$TOLLGATE__NODE_ROOT/pki/admin.token")" \
        "https://$TOLLGATE_NODE_IP:6443$1"
}

tollgate__node_ready() {
    tollgate__node_api "/api/v1/nodes/$TOLLGATE_NODE_NAME" | python3 -c '
import json, sys
conditions = json.load(sys.stdin)["status"].get("conditions", [])
sys.exit(0 if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) else 1)'
}

tollgate__node_pki() {
    local pki="$1" name token
    mkdir -p "$pki" && (
        cd "$pki" || exit 1
        printf 'subjectAltName=IP:%s,IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
            "$TOLLGATE_NODE_IP" >serving.ext
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=tollgate-node-ca" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
            -keyout ca.key -out ca.crt &&
            openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout serving.key -out serving.csr &&
            openssl x509 -req -in serving.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
                -extfile serving.ext -out serving.crt &&
            openssl genrsa -out sa.key 2048 && openssl rsa -in sa.key -pubout -out sa.pub
    ) >/dev/null 2>&1 || {
        tollgate__node_log "openssl could not create the cluster's certificates"
        return 1
    }
    # Static tokens: admin (system:masters) for the control plane and the
    # tests, the kubelet as system:node:<name> (Node authorizer).
    umask_saved=$(umask)
    umask 077
    : >"$pki/tokens.csv"
    for name in admin kubelet; do
        token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
        printf '%s\n' "$token" >"$pki/$name.token"
        if [ "$name" = admin ]; then
            printf '%s,admin,admin,system:masters\n' "$token" >>"$pki/tokens.csv"
        else
            printf '%s,system:node:%s,kubelet,system:nodes\n' "$token" "$TOLLGATE_NODE_NAME" >>"$pki/tokens.csv"
        fi
        cat >"$pki/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: tollgate-node
  cluster:
    server: https://$TOLLGATE_NODE_IP:6443
    certificate-authority: $pki/ca.crt
users:
- name: $name
  user:
    token: $token
contexts:
- name: tollgate-node
  context:
    cluster: tollgate-node
    user: $name
    namespace: default
current-context: tollgate-node
EOF
    done
    umask "$umask_saved"
}

tollgate__node_containerd_config() {
    local root="$1"
    cat >"$root/containerd.toml" <<EOF
version = 2
root = "$root/containerd/root"
state = "$root/containerd/state"
[grpc]
  address = "$root/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:local"
  # No CAP_SYS_RESOURCE here: containerd must not raise oom_score_adj.
  restrict_oom_score_adj = true
  disable_tcp_service = true
  enable_selinux = false
  disable_apparmor = true
  tolerate_missing_hugetlb_controller = true
  disable_hugetlb_controller = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$root/cni"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$root/runc"
        SystemdCgroup = false
[plugins."io.containerd.internal.v1.opt"]
  path = "$root/containerd/opt"
EOF
    mkdir -p "$root/cni"
    cat >"$root/cni/10-tollgate-node.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "tollgate-node", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]],
            "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$root/cni-ipam"}},
  {"type": "loopback"}]}
EOF
}

tollgate__node_kubelet_config() {
    local root="$1"
    printf 'nameserver %s\n' "$TOLLGATE_NODE_IP" >"$root/resolv.conf"
    cat >"$root/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine has cgroup v1 only, and no systemd.
failCgroupV1: false
cgroupDriver: cgroupfs
# Pods' cgroups under a root of this run's own, removed by the teardown.
cgroupRoot: /$TOLLGATE__NODE_NETNS_NAME
containerRuntimeEndpoint: unix://$root/containerd.sock
address: $TOLLGATE_NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
podLogsDir: $root/pod-logs
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
# Images are imported, never pulled: the kubelet must not collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
resolvConf: $root/resolv.conf
serializeImagePulls: false
maxPods: 40
EOF
}

# Makes 127.0.0.1:$1 of the host reachable at $TOLLGATE_NODE_IP:$2 inside
# the namespace: socat listens there and connects to a Unix socket that a
# second socat, on the host, relays to the port. No route joins the two.
tollgate_node_forward() {
    local host_port="$1" node_port="$2" sock
    sock="$TOLLGATE__NODE_ROOT/forward-$node_port.sock"
    socat "UNIX-LISTEN:$sock,fork,mode=600" "TCP:127.0.0.1:$host_port" >/dev/null 2>&1 &
    TOLLGATE__NODE_PIDS="$! $TOLLGATE__NODE_PIDS"
    tollgate__node_wait "the forward of port $host_port" 10 test -S "$sock" || return 1
    nsenter --net="$TOLLGATE_NODE_NETNS" socat \
        "TCP-LISTEN:$node_port,bind=$TOLLGATE_NODE_IP,fork,reuseaddr" "UNIX-CONNECT:$sock" >/dev/null 2>&1 &
    TOLLGATE__NODE_PIDS="$! $TOLLGATE__NODE_PIDS"
}

# tollgate_node_import ARCHIVE: an OCI archive into the node's image store.
tollgate_node_import() {
    ctr --address "$TOLLGATE_NODE_CONTAINERD" -n k8s.io images import --no-unpack=false "$1" >/dev/null
}

tollgate__node_url_port() {
    # The port of a postgres:// or redis:// URL on 127.0.0.1.
    python3 -c 'import sys, urllib.parse; print(urllib.parse.urlsplit(sys.argv[1]).port or "")' "$1"
}

tollgate__node_provision() {
    local test_dir="${TOLLGATE_TEST_DIR:-}" cmd
    if [ -z "$test_dir" ]; then
        tollgate__node_log "TOLLGATE_TEST_DIR must be set (a scratch directory for this test run)"
        return 1
    fi
    if [ "$(id -u)" != 0 ]; then
        tollgate__node_log "a node needs root (network namespace, mounts, cgroups)"
        return 1
    fi
    for cmd in containerd containerd-shim-runc-v2 runc ctr socat iptables conntrack nsenter ip gcc openssl curl python3; do
        command -v "$cmd" >/dev/null 2>&1 || {
            tollgate__node_log "$cmd is missing (packages.sh installs it)"
            return 1
        }
    done
    local cache="${TOLLGATE_CACHE:-$HOME/.cache/tollgate}"
    TOLLGATE_CACHE="$cache"
    local kube_bins="$cache/kube/$TOLLGATE_KUBE_VERSION-etcd$TOLLGATE_ETCD_VERSION" bins
    bins=$(tollgate__node_bins)
    local start=$SECONDS

    local root="$test_dir/node"
    TOLLGATE__NODE_ROOT="$root"
    mkdir -p "$root/logs" "$root/kubelet" "$root/pod-logs" || return 1
    TOLLGATE__NODE_NETNS_NAME="tollgate-node-$$-$RANDOM"
    TOLLGATE_NODE_NETNS="/run/netns/$TOLLGATE__NODE_NETNS_NAME"
    TOLLGATE_NODE_CONTAINERD="$root/containerd.sock"
    TOLLGATE__NODE_PIDS=""

    # What the teardown puts back or removes: sysctls, /run/netns and
    # containerd's shim socket directory when this run creates them.
    local s
    for s in $TOLLGATE__NODE_SYSCTLS; do
        if [ -r "/proc/sys/$s" ]; then printf '%s %s\n' "$s" "$(cat "/proc/sys/$s")"; fi
    done >"$root/sysctls"
    [ -d /run/netns ] || : >"$root/created-run-netns"
    [ -d /run/containerd ] || : >"$root/created-run-containerd"
    ls /run/containerd/s 2>/dev/null >"$root/shim-sockets-before" || :

    # The namespace: a veth with the node address and a dead-end default route.
    local veth="tgn$$"
    ip netns add "$TOLLGATE__NODE_NETNS_NAME" &&
        ip -n "$TOLLGATE__NODE_NETNS_NAME" link set lo up &&
        ip -n "$TOLLGATE__NODE_NETNS_NAME" link add "${veth}a" type veth peer name "${veth}b" &&
        ip -n "$TOLLGATE__NODE_NETNS_NAME" addr add "$TOLLGATE_NODE_IP/24" dev "${veth}a" &&
        ip -n "$TOLLGATE__NODE_NETNS_NAME" link set "${veth}a" up &&
        ip -n "$TOLLGATE__NODE_NETNS_NAME" link set "${veth}b" up &&
        ip -n "$TOLLGATE__NODE_NETNS_NAME" route add default via 10.250.0.2 dev "${veth}a" onlink &&
        nsenter --net="$TOLLGATE_NODE_NETNS" sh -c \
            'echo 1 > /proc/sys/net/ipv4/ip_forward && echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables' || {
        tollgate__node_log "could not create the network namespace"
        return 1
    }
    # The pods' cgroup root, in every v1 hierarchy (cpuset needs its CPUs
    # and memory nodes copied from the parent before tasks can join).
    local h
    for h in /sys/fs/cgroup/*/; do
        [ -f "$h/cgroup.procs" ] || continue
        mkdir -p "$h$TOLLGATE__NODE_NETNS_NAME" || return 1
        if [ -f "$h/cpuset.cpus" ]; then
            cat "$h/cpuset.cpus" >"$h$TOLLGATE__NODE_NETNS_NAME/cpuset.cpus"
            cat "$h/cpuset.mems" >"$h$TOLLGATE__NODE_NETNS_NAME/cpuset.mems"
        fi
    done

    tollgate__node_pki "$root/pki" || return 1
    local pki="$root/pki"
    tollgate__node_containerd_config "$root"
    tollgate__node_kubelet_config "$root"

    tollgate__node_start containerd containerd --config "$root/containerd.toml"
    tollgate__node_wait containerd 30 ctr --address "$TOLLGATE_NODE_CONTAINERD" version || {
        tail -n 30 "$root/logs/containerd.log" >&2
        return 1
    }
    mkdir -p "$root/pause/bin"
    cp "$bins/pause" "$root/pause/bin/pause"
    python3 "$(tollgate__node_repo)/scripts/oci_pack.py" --rootfs "$root/pause" --entrypoint /bin/pause \
        --tag localhost/pause:local --out "$root/pause.tar" >/dev/null &&
        tollgate_node_import "$root/pause.tar" || {
        tollgate__node_log "could not import the pause image"
        return 1
    }

    tollgate__node_start etcd "$kube_bins/etcd" --name tollgate-node --data-dir "$root/etcd" \
        --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
        --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
        --initial-cluster tollgate-node=http://127.0.0.1:2380 --unsafe-no-fsync --log-level warn
    tollgate__node_start kube-apiserver "$kube_bins/kube-apiserver" --etcd-servers http://127.0.0.1:2379 \
        --bind-address "$TOLLGATE_NODE_IP" --advertise-address "$TOLLGATE_NODE_IP" --secure-port 6443 \
        --tls-cert-file "$pki/serving.crt" --tls-private-key-file "$pki/serving.key" \
        --token-auth-file "$pki/tokens.csv" \
        --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
        --api-audiences https://kubernetes.default.svc.cluster.local \
        --service-cluster-ip-range 10.96.0.0/16 --allow-privileged=true \
        --enable-priority-and-fairness=false --kubelet-preferred-address-types InternalIP
    tollgate__node_wait kube-apiserver 120 tollgate__node_api /readyz || {
        tail -n 40 "$root/logs/kube-apiserver.log" >&2
        return 1
    }
    tollgate__node_start kube-controller-manager "$bins/kube-controller-manager" \
        --kubeconfig "$pki/admin.kubeconfig" --leader-elect=false --bind-address 127.0.0.1 \
        --root-ca-file "$pki/ca.crt" --service-account-private-key-file "$pki/sa.key" \
        --use-service-account-credentials=false --controllers '*' --cluster-name tollgate-node
    tollgate__node_start kube-scheduler "$bins/kube-scheduler" --kubeconfig "$pki/admin.kubeconfig" \
        --leader-elect=false --bind-address 127.0.0.1
    tollgate__node_start kubelet "$bins/kubelet" --config "$root/kubelet.yaml" \
        --kubeconfig "$pki/kubelet.kubeconfig" --hostname-override "$TOLLGATE_NODE_NAME" \
        --node-ip "$TOLLGATE_NODE_IP" --root-dir "$root/kubelet" --cert-dir "$root/kubelet/pki"
    # No conntrack sizing or timeouts: those sysctls are global here.
    tollgate__node_start kube-proxy "$bins/kube-proxy" --kubeconfig "$pki/admin.kubeconfig" \
        --hostname-override "$TOLLGATE_NODE_NAME" --proxy-mode iptables --cluster-cidr 10.244.0.0/16 \
        --conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 \
        --conntrack-tcp-timeout-close-wait 0 \
        --metrics-bind-address 127.0.0.1:10249 --healthz-bind-address 127.0.0.1:10256
    tollgate__node_wait "the node" 120 tollgate__node_ready || {
        tail -n 40 "$root/logs/kubelet.log" >&2
        return 1
    }

    local port
    if [ -n "${TOLLGATE_TEST_POSTGRES_URL:-}" ]; then
        port=$(tollgate__node_url_port "$TOLLGATE_TEST_POSTGRES_URL")
        tollgate_node_forward "$port" 5432 || return 1
    fi
    if [ -n "${TOLLGATE_TEST_REDIS_URL:-}" ]; then
        port=$(tollgate__node_url_port "$TOLLGATE_TEST_REDIS_URL")
        tollgate_node_forward "$port" 6379 || return 1
    fi
    if [ -n "${TOLLGATE_TEST_LDAP_URL:-}" ]; then
        port=$(tollgate__node_url_port "$TOLLGATE_TEST_LDAP_URL")
        tollgate_node_forward "$port" 389 || return 1
    fi
    export TOLLGATE_NODE_KUBECONFIG="$pki/admin.kubeconfig" TOLLGATE_NODE_NETNS TOLLGATE_NODE_IP \
        TOLLGATE_NODE_CONTAINERD
    tollgate__node_log "node $TOLLGATE_NODE_NAME v$TOLLGATE_KUBE_VERSION Ready in $((SECONDS - start))s (namespace $TOLLGATE__NODE_NETNS_NAME, kubeconfig $TOLLGATE_NODE_KUBECONFIG)"
}

tollgate__node_repo() {
    (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
}

# Ends the processes of one kind: SIGTERM, then SIGKILL after $1 seconds.
tollgate__node_kill() {
    local grace="$1" pid i alive
    shift
    [ $# -gt 0 ] || return 0
    kill "$@" 2>/dev/null || :
    for ((i = 0; i < grace * 5; i++)); do
        alive=
        for pid in "$@"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ -n "$alive" ] || break
        sleep 0.2
    done
    kill -9 "$@" 2>/dev/null || :
    for pid in "$@"; do
        wait "$pid" 2>/dev/null || :
    done
}

# PIDs of this node's containerd shims (their command line names our socket).
tollgate__node_shims() {
    local p
    for p in /proc/[0-9]*; do
        tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "-address $TOLLGATE_NODE_CONTAINERD " &&
            printf '%s\n' "${p#/proc/}"
    done
}

# Stops the node and removes every trace of it; safe to call more than once
# and after a start that failed half way.
tollgate_stop_node() {
    local root="${TOLLGATE__NODE_ROOT:-}" name="${TOLLGATE__NODE_NETNS_NAME:-}" h pid target
    [ -n "$root" ] || return 0
    # The control plane and the kubelet first, so nothing restarts a pod.
    # shellcheck disable=SC2086
    tollgate__node_kill 10 $TOLLGATE__NODE_PIDS
    TOLLGATE__NODE_PIDS=""
    # Every process in the pods' cgroups (containers and sandboxes), then
    # the shims, which have no cgroup of their own.
    if [ -n "$name" ]; then
        for h in /sys/fs/cgroup/*/"$name"; do
            [ -d "$h" ] || continue
            find "$h" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null || :
        done
    fi
    # shellcheck disable=SC2046
    tollgate__node_kill 2 $(tollgate__node_shims)
    # Mounts under the node's directory (overlay roots, volumes, shm, pod
    # network namespaces), deepest first.
    for target in $(findmnt -rn -o TARGET | grep -F "$root/" | sort -r); do
        umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || :
    done
    if [ -n "$name" ]; then
        ip netns delete "$name" 2>/dev/null || :
        for h in /sys/fs/cgroup/*/"$name"; do
            [ -d "$h" ] || continue
            for _ in 1 2 3 4 5; do
                find "$h" -depth -type d -exec rmdir {} + 2>/dev/null
                [ -d "$h" ] || break
                sleep 0.2
            done
            [ -d "$h" ] && tollgate__node_log "could not remove the cgroup $h"
        done
    fi
    if [ -f "$root/created-run-netns" ] && [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ]; then
        umount /run/netns 2>/dev/null || :
        rmdir /run/netns 2>/dev/null || :
    fi
    if [ -f "$root/shim-sockets-before" ] && [ -d /run/containerd/s ]; then
        for target in $(ls /run/containerd/s); do
            grep -qxF "$target" "$root/shim-sockets-before" || rm -f "/run/containerd/s/$target"
        done
    fi
    if [ -f "$root/created-run-containerd" ]; then
        rm -rf /run/containerd
    fi
    if [ -f "$root/sysctls" ]; then
        local key value
        while read -r key value; do
            [ "$(cat "/proc/sys/$key")" = "$value" ] || printf '%s\n' "$value" >"/proc/sys/$key"
        done <"$root/sysctls"
    fi
    rm -rf "$root"
    TOLLGATE__NODE_ROOT=
    TOLLGATE__NODE_NETNS_NAME=
}

# The API server and etcd come from kube.sh's build (cached); its
# TOLLGATE_PREPARE_ONLY mode builds them if missing and starts nothing.
# shellcheck source=kube.sh
TOLLGATE_PREPARE_ONLY=1 source "$(dirname "${BASH_SOURCE[0]}")/kube.sh" &&
    tollgate__node_build &&
    if [ "${TOLLGATE_PREPARE_ONLY:-}" != 1 ]; then
        tollgate__node_provision
    fi
