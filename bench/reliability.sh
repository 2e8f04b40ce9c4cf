#!/usr/bin/env bash
# Long form of the fault, load and soak harness (e2e/faults): every scenario
# with longer outages, then the soak, and docs/reliability.md written from
# the figures of that one run, with the machine, versions and date.
#
#   bench/reliability.sh                       # outages 20 s, soak 30 min
#   RELIABILITY_OUTAGE=10 RELIABILITY_SOAK=180 bench/reliability.sh
#   TOLLGATE_BIN=/path/to/tollgate bench/reliability.sh   # skip the build
#
# RELIABILITY_RATE sets the load (requests/s over both processes, default 40).
# Extra arguments go to pytest (e.g. -k redis); the document is written even
# when a rule fails (its result column says which).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export TOLLGATE_FAULTS_OUTAGE="${RELIABILITY_OUTAGE:-20}"
export TOLLGATE_FAULTS_SOAK="${RELIABILITY_SOAK:-1800}"
export TOLLGATE_FAULTS_RATE="${RELIABILITY_RATE:-40}"
export TOLLGATE_FAULTS_RECOVERY="${RELIABILITY_RECOVERY:-30}"
if [ -z "${TOLLGATE_BIN:-}" ]; then
  cargo build -q --locked --release -p tollgate
  export TOLLGATE_BIN="${CARGO_TARGET_DIR:-$root/target}/release/tollgate"
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-reliability.XXXXXX")
trap 'rm -rf "$out"' EXIT
export TOLLGATE_FAULTS_REPORT="$out/figures.jsonl" TOLLGATE_FAULTS_JUNIT="$out/junit.xml"
started=$(date +%s)
status=0
bash e2e/faults/run.sh "$@" || status=$?
python3 bench/reliability_report.py "$out/figures.jsonl" "$out/junit.xml" "$(($(date +%s) - started))" \
  >docs/reliability.md
echo "wrote docs/reliability.md (pytest exit status $status)"
exit "$status"
