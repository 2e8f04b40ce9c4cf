# shellcheck shell=bash
# Provisions throwaway Redis servers for the ephemeral-store contract tests.
#
# SOURCE this file (it exports variables into the caller):
#
#   export TOLLGATE_TEST_DIR=$(mktemp -d)
#   source scripts/provision/redis.sh
#   trap tollgate_stop_redis EXIT
#
# Starts, under "$TOLLGATE_TEST_DIR/redis":
#   1. a standalone server with a password     (TOLLGATE_TEST_REDIS_PORT, default 56379)
#   2. a TLS-only server with a password and a throwaway CA
#                                              (TOLLGATE_TEST_REDIS_TLS_PORT, default 56380)
#   3. a 3-node cluster with the same password (TOLLGATE_TEST_REDIS_CLUSTER_PORT, default 57001..57003)
# and exports TOLLGATE_TEST_REDIS_URL, TOLLGATE_TEST_REDIS_TLS_URL, TOLLGATE_TEST_REDIS_CA,
# TOLLGATE_TEST_REDIS_CLUSTER_NODES.
#
# Safe under `set -euo pipefail`: it changes no shell options, every step is checked
# explicitly, and on failure it prints why and returns non-zero (which aborts a `set -e` caller).
# Our own redis-server processes are used, never the distro's service.

# shellcheck source=test-ca.sh
source "$(dirname "${BASH_SOURCE[0]}")/test-ca.sh"

_tg_redis_fail() {
  echo "redis provisioning: $*" >&2
  return 1
}

# True when something accepts TCP connections on 127.0.0.1:$1.
_tg_redis_port_busy() {
  timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

_tg_redis_ensure_tools() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || missing+=(redis-server)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    _tg_redis_fail "missing ${missing[*]} and not root: install redis-server (Redis >= 6.2, with TLS) and openssl"
    return 1
  fi
  echo "redis provisioning: installing ${missing[*]}" >&2
  # The package index may be stale or absent; refresh only if the first attempt fails.
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null; then
    apt-get update >/dev/null || { _tg_redis_fail "apt-get update failed"; return 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null ||
      { _tg_redis_fail "apt-get install ${missing[*]} failed"; return 1; }
  fi
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 ||
    { _tg_redis_fail "redis-server/redis-cli still missing after install"; return 1; }
}


# Writes a config file (kept out of argv so the password is not visible in `ps`) and starts it.
# $1 name, $2 plain port (0 = none), then extra config lines.
_tg_redis_start() {
  local name="$1" port="$2"
  shift 2
  local d="$_TG_REDIS_DIR/$name"
  mkdir -p "$d" || { _tg_redis_fail "cannot create $d"; return 1; }
  # A cluster node refuses to join a new cluster while it remembers the previous one.
  rm -f "$d/nodes.conf"
  (
    umask 077
    {
      echo "bind 127.0.0.1"
      echo "port $port"
      echo "daemonize yes"
      echo "pidfile $d/redis.pid"
      echo "logfile $d/redis.log"
      echo "dir $d"
      echo 'save ""'
      echo "appendonly no"
      echo "protected-mode yes"
      echo "requirepass $_TG_REDIS_PASS"
      printf '%s\n' "$@"
    } >"$d/redis.conf"
  ) || { _tg_redis_fail "cannot write $d/redis.conf"; return 1; }
  redis-server "$d/redis.conf" >"$d/start.log" 2>&1 || {
    cat "$d/start.log" "$d/redis.log" >&2 2>/dev/null
    _tg_redis_fail "redis-server '$name' failed to start"
    return 1
  }
}

# Waits until a server answers PING. $1 name, then redis-cli connection arguments.
_tg_redis_wait() {
  local name="$1"
  shift
  local i
  for i in $(seq 1 100); do
    if [ "$(REDISCLI_AUTH="$_TG_REDIS_PASS" redis-cli "$@" ping 2>/dev/null)" = "PONG" ]; then
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$_TG_REDIS_DIR/$name/redis.log" >&2 2>/dev/null
  _tg_redis_fail "redis '$name' did not answer PING within 10 s"
  return 1
}

tollgate_stop_redis() {
  local dir="${_TG_REDIS_DIR:-${TOLLGATE_TEST_DIR:-}/redis}"
  [ -d "$dir" ] || return 0
  local pidfile pid i
  for pidfile in "$dir"/*/redis.pid; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    # Only signal a process that is still one of our redis-servers (pids get reused).
    case "$pid" in '' | *[!0-9]*) continue ;; esac
    if grep -q redis "/proc/$pid/comm" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$pidfile"
  done
  return 0
}

_tg_redis_main() {
  : "${TOLLGATE_TEST_DIR:?TOLLGATE_TEST_DIR must be set (e.g. to a mktemp -d directory)}"
  _TG_REDIS_DIR="$TOLLGATE_TEST_DIR/redis"
  local port="${TOLLGATE_TEST_REDIS_PORT:-56379}"
  local tls_port="${TOLLGATE_TEST_REDIS_TLS_PORT:-56380}"
  local cport="${TOLLGATE_TEST_REDIS_CLUSTER_PORT:-57001}"
  local cports=("$cport" "$((cport + 1))" "$((cport + 2))")

  _tg_redis_ensure_tools || return 1
  mkdir -p "$_TG_REDIS_DIR" || { _tg_redis_fail "cannot create $_TG_REDIS_DIR"; return 1; }
  # Re-sourcing with the same directory replaces the servers started last time.
  tollgate_stop_redis

  local p
  for p in "$port" "$tls_port" "${cports[@]}"; do
    if _tg_redis_port_busy "$p"; then
      _tg_redis_fail "port $p on 127.0.0.1 is already in use; choose others with TOLLGATE_TEST_REDIS_PORT, TOLLGATE_TEST_REDIS_TLS_PORT, TOLLGATE_TEST_REDIS_CLUSTER_PORT (uses 3 consecutive ports)"
      return 1
    fi
  done

  # Random per run; hex so it needs no escaping in URLs or config files.
  _TG_REDIS_PASS="$(openssl rand -hex 16)" || { _tg_redis_fail "openssl rand failed"; return 1; }

  # 1. Standalone with a password.
  _tg_redis_start standalone "$port" || return 1
  _tg_redis_wait standalone -h 127.0.0.1 -p "$port" || return 1

  # 2. TLS only, with a password; clients are not asked for certificates.
  local tls="$_TG_REDIS_DIR/tls"
  mkdir -p "$tls" || { _tg_redis_fail "cannot create $tls"; return 1; }
  tollgate_test_certs "$tls" Redis || { _tg_redis_fail "could not generate the test certificates"; return 1; }
  _tg_redis_start tls 0 \
    "tls-port $tls_port" \
    "tls-cert-file $tls/server.pem" \
    "tls-key-file $tls/server.key" \
    "tls-ca-cert-file $tls/ca.pem" \
    "tls-auth-clients no" || return 1
  _tg_redis_wait tls --tls --cacert "$tls/ca.pem" -h 127.0.0.1 -p "$tls_port" || return 1

  # 3. Three-node cluster. The bus port defaults to port+10000, which would exceed 65535
  #    for the default ports, so it is set explicitly below the client port.
  local node
  for p in "${cports[@]}"; do
    _tg_redis_start "cluster-$p" "$p" \
      "cluster-enabled yes" \
      "cluster-config-file nodes.conf" \
      "cluster-node-timeout 5000" \
      "cluster-port $((p - 10000))" \
      "masterauth $_TG_REDIS_PASS" || return 1
  done
  for p in "${cports[@]}"; do
    _tg_redis_wait "cluster-$p" -h 127.0.0.1 -p "$p" || return 1
  done
  local nodes=()
  for p in "${cports[@]}"; do nodes+=("127.0.0.1:$p"); done
  REDISCLI_AUTH="$_TG_REDIS_PASS" redis-cli --cluster create "${nodes[@]}" \
    --cluster-replicas 0 --cluster-yes >"$_TG_REDIS_DIR/cluster-create.log" 2>&1 || {
    cat "$_TG_REDIS_DIR/cluster-create.log" >&2
    _tg_redis_fail "redis-cli --cluster create failed"
    return 1
  }
  local i ok
  for i in $(seq 1 200); do
    ok=0
    for p in "${cports[@]}"; do
      REDISCLI_AUTH="$_TG_REDIS_PASS" redis-cli -h 127.0.0.1 -p "$p" cluster info 2>/dev/null |
        grep -q '^cluster_state:ok' && ok=$((ok + 1))
    done
    [ "$ok" -eq "${#cports[@]}" ] && break
    sleep 0.1
  done
  if [ "$ok" -ne "${#cports[@]}" ]; then
    for node in "${cports[@]}"; do
      REDISCLI_AUTH="$_TG_REDIS_PASS" redis-cli -h 127.0.0.1 -p "$node" cluster info >&2 2>&1
    done
    _tg_redis_fail "cluster did not reach cluster_state:ok within 20 s"
    return 1
  fi

  export TOLLGATE_TEST_REDIS_URL="redis://:$_TG_REDIS_PASS@127.0.0.1:$port"
  export TOLLGATE_TEST_REDIS_TLS_URL="rediss://:$_TG_REDIS_PASS@127.0.0.1:$tls_port"
  export TOLLGATE_TEST_REDIS_CA="$tls/ca.pem"
  local urls=()
  for p in "${cports[@]}"; do urls+=("redis://:$_TG_REDIS_PASS@127.0.0.1:$p"); done
  TOLLGATE_TEST_REDIS_CLUSTER_NODES="$(IFS=,; echo "${urls[*]}")"
  export TOLLGATE_TEST_REDIS_CLUSTER_NODES
  echo "redis provisioning: standalone :$port, TLS :$tls_port, cluster :${cports[0]}-${cports[2]} (logs in $_TG_REDIS_DIR)" >&2
}

# Called from an `if` so a failure inside cannot trip the caller's `set -e` half-way;
# on failure, stop whatever did start and hand the failure to the caller.
if ! _tg_redis_main; then
  tollgate_stop_redis
  echo "redis provisioning: FAILED" >&2
  return 1 2>/dev/null || exit 1
fi
