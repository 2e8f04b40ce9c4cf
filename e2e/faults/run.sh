#!/usr/bin/env bash
# The fault, load and soak harness (short form; bench/reliability.sh runs the
# long form). Starts its own PostgreSQL, Redis and slapd on free loopback
# ports in a scratch directory (it kills them), and two `tollgate serve all`
# processes on them; never touches the shared test services.
#
#   TOLLGATE_BIN            binary to test (default: target/debug/tollgate)
#   TOLLGATE_FAULTS_*       durations, rate and bounds (see conftest.py)
#   TOLLGATE_FAULTS_REPORT  JSON-lines file the figures are appended to
#
# Extra arguments go to pytest, e.g. `e2e/faults/run.sh -k redis -x`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$(dirname "$here")")
cache="${TOLLGATE_CACHE:-$HOME/.cache/tollgate}"
# The e2e suite's venv (run.sh --prepare installs it when needed).
bash "$root/e2e/run.sh" --prepare >&2
bin="${TOLLGATE_BIN:-target/debug/tollgate}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
[ -x "$bin" ] || { echo "faults: $bin not found; build it or set TOLLGATE_BIN" >&2; exit 1; }
# A private copy: a rebuild in a shared target directory cannot swap it mid-run.
work=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-faults.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$bin" "$work/tollgate"
export TOLLGATE_BIN="$work/tollgate" PYTHONDONTWRITEBYTECODE=1
cd "$here"
"$cache/e2e-venv/bin/python" -m pytest -q \
  --junitxml="${TOLLGATE_FAULTS_JUNIT:-$cache/faults-junit.xml}" "$@"
