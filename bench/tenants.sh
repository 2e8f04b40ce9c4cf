#!/usr/bin/env bash
# Tenant scaling: for each N of BENCH_TENANTS, `tollgate dev` (SQLite +
# in-process store) with N contact centers, each with its own confidential
# client and one built-in user, provisioned through the ops API and the
# Environment API; then a fresh process on that data: start-up time, idle
# RSS, client-credentials and password-grant throughput spread over the
# tenants, RSS after the load. Writes tenants.json (and, run alone,
# tenants.md) into the results directory. See bench/README.md.
#
#   TOLLGATE_BIN=target/release/tollgate bench/tenants.sh
#   BENCH_TENANTS="1 100" BENCH_DURATION=3 BENCH_WARMUP=1 bench/tenants.sh
#
# bench/run.sh calls it at the end of its run with BENCH_RESULTS set to its
# own results directory (BENCH_SKIP_TENANTS=1 skips it there).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export BENCH_TENANTS=${BENCH_TENANTS:-1 100 1000 10000}
export BENCH_TENANT_SAMPLE=${BENCH_TENANT_SAMPLE:-100}   # tenants wrk spreads requests over; 0 = all
export BENCH_TENANT_WORKERS=${BENCH_TENANT_WORKERS:-8}   # provisioning requests in flight
export BENCH_DURATION=${BENCH_DURATION:-15} BENCH_WARMUP=${BENCH_WARMUP:-3}
export BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-64} BENCH_THREADS=${BENCH_THREADS:-2}
export BENCH_IDLE_SECONDS=${BENCH_IDLE_SECONDS:-5}
export BENCH_QUIET_TIMEOUT=${BENCH_QUIET_TIMEOUT:-300}
export BENCH_TOLLGATE_LISTEN=${BENCH_TOLLGATE_LISTEN:-127.0.0.1:8095}
export BENCH_TOLLGATE_MANAGEMENT=${BENCH_TOLLGATE_MANAGEMENT:-127.0.0.1:9095}
export TOLLGATE_OPS_USERNAME=${TOLLGATE_OPS_USERNAME:-ops}
export TOLLGATE_OPS_PASSWORD=${TOLLGATE_OPS_PASSWORD:-Ops-Passw0rd-2026}
# All load comes from 127.0.0.1: lift the per-IP rate limit and the lockout's
# bound on attempts in flight per user and address (as run.sh does).
export TOLLGATE_RATE_LIMIT_PER_MINUTE=${TOLLGATE_RATE_LIMIT_PER_MINUTE:-4000000000}
export TOLLGATE_LOCKOUT_THRESHOLD=${TOLLGATE_LOCKOUT_THRESHOLD:-1000000}

alone=0
if [[ -z ${BENCH_RESULTS:-} ]]; then
  alone=1
  BENCH_RESULTS=$ROOT/bench/results/tenants-$(date -u +%Y%m%dT%H%M%SZ)
fi
mkdir -p "$BENCH_RESULTS"
for tool in wrk python3; do
  command -v "$tool" >/dev/null || { echo "tenants.sh: $tool not found" >&2; exit 1; }
done
if [[ -z ${TOLLGATE_BIN:-} ]]; then
  cargo build --release -p tollgate >"$BENCH_RESULTS/cargo-build-tenants.log" 2>&1
  TOLLGATE_BIN=$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/tollgate
fi
export TOLLGATE_BIN
echo "tenants.sh: results in $BENCH_RESULTS" >&2
python3 bench/tenants.py run "$BENCH_RESULTS"
if [[ $alone == 1 ]]; then
  python3 bench/report_tenants.py "$BENCH_RESULTS" >"$BENCH_RESULTS/tenants.md"
  echo "tenants.sh: wrote $BENCH_RESULTS/tenants.md" >&2
fi
