#!/usr/bin/env bash
# Runs the end-to-end suite: the real `tollgate` binary driven by authlib.
#
#   TOLLGATE_BIN                 binary to test (default: target/debug/tollgate
#                                under the repository root; build it first)
#   TOLLGATE_TEST_POSTGRES_URL   superuser URL; enables the `serve` flavour
#   TOLLGATE_TEST_REDIS_URL      Redis URL (with password) for the `serve` flavour
#   TOLLGATE_TEST_REDIS_CA       CA file, used when that URL is rediss://
#   TOLLGATE_REQUIRE_SERVICES=1  fail instead of skipping when those are unset
#   TOLLGATE_CACHE               cache directory (default ~/.cache/tollgate);
#                                the venv lives in $TOLLGATE_CACHE/e2e-venv
#   TOLLGATE_E2E_JUNIT           JUnit XML report (default $TOLLGATE_CACHE/e2e-junit.xml)
#
# Extra arguments go to pytest, e.g. `e2e/run.sh -k refresh -x`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cache="${TOLLGATE_CACHE:-$HOME/.cache/tollgate}"
venv="$cache/e2e-venv"
python="${PYTHON:-python3}"
mkdir -p "$cache"

# (Re)install only when the requirements or the interpreter changed.
stamp="$(sha256sum "$here/requirements.txt" | cut -c1-16)-$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.tollgate-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "e2e: preparing $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  echo "$stamp" > "$venv/.tollgate-stamp"
fi

bin="${TOLLGATE_BIN:-target/debug/tollgate}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
if [ ! -x "$bin" ]; then
  echo "e2e: $bin not found; build it with 'cargo build -p tollgate' or set TOLLGATE_BIN" >&2
  exit 1
fi
# Test a private copy, so a rebuild in a shared target directory during the
# run cannot swap the binary under the suite.
work=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-e2e.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$bin" "$work/tollgate"
export TOLLGATE_BIN="$work/tollgate"
export PYTHONDONTWRITEBYTECODE=1

cd "$here"
"$venv/bin/python" -m pytest -q tests --junitxml="${TOLLGATE_E2E_JUNIT:-$cache/e2e-junit.xml}" "$@"
