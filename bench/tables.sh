#!/usr/bin/env bash
# Do the tables that grow with traffic stay bounded? The soak of the fault
# harness (two `serve all` processes on PostgreSQL and Redis, mixed load)
# with lifetimes and retentions of minutes, so that every row written
# expires within the run and the once-a-minute housekeeping must keep up;
# docs/tables.md gets the row counts of each table at seven moments.
#
#   bench/tables.sh                         # 20 min at 40 requests/s
#   TABLES_SOAK=600 TABLES_RATE=80 bench/tables.sh
#   TOLLGATE_BIN=/path/to/tollgate bench/tables.sh   # skip the build
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export TOLLGATE_FAULTS_SOAK="${TABLES_SOAK:-1200}"
export TOLLGATE_FAULTS_RATE="${TABLES_RATE:-40}"
export TOLLGATE_FAULTS_FLAT_TABLES=1
# Access tokens (and so revocations) 1 min, refresh families 3 min, audit
# events 3 min, change-log rows 2 min; spent codes keep their fixed 10 min.
export TOLLGATE_FAULTS_SERVE_ARGS="--max-token-lifetime 1m --refresh-family-lifetime 3m \
--audit-retention 3m --change-log-retention 2m ${TOLLGATE_FAULTS_SERVE_ARGS:-}"
if [ -z "${TOLLGATE_BIN:-}" ]; then
  cargo build -q --locked --release -p tollgate
  export TOLLGATE_BIN="${CARGO_TARGET_DIR:-$root/target}/release/tollgate"
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-tables.XXXXXX")
trap 'rm -rf "$out"' EXIT
export TOLLGATE_FAULTS_REPORT="$out/figures.jsonl" TOLLGATE_FAULTS_JUNIT="$out/junit.xml"
status=0
bash e2e/faults/run.sh -k soak "$@" || status=$?
python3 bench/tables_report.py "$out/figures.jsonl" "$out/junit.xml" >docs/tables.md
echo "wrote docs/tables.md (pytest exit status $status)"
exit "$status"
