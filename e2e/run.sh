#!/usr/bin/env bash
# Runs the end-to-end suite: the real `tollgate` binary driven by authlib.
#
#   TOLLGATE_BIN                 binary to test (default: target/debug/tollgate
#                                under the repository root; build it first)
#   TOLLGATE_CS_SIM_BIN          Configuration Server simulator (default:
#                                tollgate-cs-sim beside TOLLGATE_BIN)
#   TOLLGATE_TEST_POSTGRES_URL   superuser URL; enables the `serve` flavour
#   TOLLGATE_TEST_REDIS_URL      Redis URL (with password) for the `serve` flavour
#   TOLLGATE_TEST_REDIS_CA       CA file, used when that URL is rediss://
#   TOLLGATE_REQUIRE_SERVICES=1  fail instead of skipping when those are unset
#   TOLLGATE_CACHE               cache directory (default ~/.cache/tollgate);
#                                the venv lives in $TOLLGATE_CACHE/e2e-venv
#   TOLLGATE_E2E_JUNIT           JUnit XML report (default $TOLLGATE_CACHE/e2e-junit.xml)
#   TOLLGATE_REQUIRE_BROWSER=1   fail instead of skipping the browser tests when
#                                Chromium or Node.js is missing (scripts/test.sh
#                                provisions both and sets it)
#   TOLLGATE_SCREENSHOT_DIR      where the browser tests write their screenshots
#                                (default $TOLLGATE_CACHE/e2e-screenshots);
#                                TOLLGATE_UPDATE_SCREENSHOTS=1 also refreshes
#                                docs/screenshots
#
# Extra arguments go to pytest, e.g. `e2e/run.sh -k refresh -x`.
# `e2e/run.sh --prepare` only installs the venv and the npm packages (the test
# command runs it in the background while cargo compiles).
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

# The browser driver's npm packages (pinned by e2e/browser/package-lock.json),
# installed with `npm ci` only when the lock file changed. playwright-core
# downloads no browser: the tests drive Debian's /usr/bin/chromium.
browser="$here/browser"
if command -v npm >/dev/null 2>&1; then
  lock="$(sha256sum "$browser/package-lock.json" | cut -c1-16)"
  if [ "$(cat "$browser/node_modules/.tollgate-stamp" 2>/dev/null)" != "$lock" ]; then
    echo "e2e: npm ci in $browser"
    (cd "$browser" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) \
      || { echo "e2e: npm ci failed in $browser" >&2; exit 1; }
    echo "$lock" > "$browser/node_modules/.tollgate-stamp"
  fi
elif [ "${TOLLGATE_REQUIRE_BROWSER:-}" = 1 ]; then
  echo "e2e: npm not found but TOLLGATE_REQUIRE_BROWSER=1" >&2
  exit 1
fi
[ "${1:-}" = --prepare ] && exit 0
export TOLLGATE_SCREENSHOT_DIR="${TOLLGATE_SCREENSHOT_DIR:-$cache/e2e-screenshots}"

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
sim="${TOLLGATE_CS_SIM_BIN:-$(dirname "$bin")/tollgate-cs-sim}"
if [ ! -x "$sim" ]; then
  echo "e2e: $sim not found; build it with 'cargo build -p tollgate' or set TOLLGATE_CS_SIM_BIN" >&2
  exit 1
fi
cp "$sim" "$work/tollgate-cs-sim"
export TOLLGATE_CS_SIM_BIN="$work/tollgate-cs-sim"
export PYTHONDONTWRITEBYTECODE=1

cd "$here"
"$venv/bin/python" -m pytest -q tests --junitxml="${TOLLGATE_E2E_JUNIT:-$cache/e2e-junit.xml}" "$@"
