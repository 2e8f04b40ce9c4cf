# shellcheck shell=bash
# Installs the real OpenID provider of the e2e tests (panva oidc-provider,
# pinned by e2e/idp/oidc/package-lock.json) with `npm ci`, its downloads
# cached in "$TOLLGATE_CACHE/npm". SOURCE it after browser.sh (Node.js):
#
#   source scripts/provision/oidc-idp.sh
#
# The tests start the provider themselves (e2e/tests/test_sso_oidc.py): it
# needs the redirect URI of the Tollgate under test and is restarted with a
# new signing key. Exports TOLLGATE_TEST_OIDC_IDP_DIR (the app) and
# TOLLGATE_TEST_OIDC_PORT (its port, default 55440). Safe under
# `set -euo pipefail`.

_tg_oidc_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/e2e/idp/oidc"
_tg_oidc_lock="$(sha256sum "$_tg_oidc_dir/package-lock.json" | cut -c1-16)"
if [ "$(cat "$_tg_oidc_dir/node_modules/.tollgate-stamp" 2>/dev/null)" != "$_tg_oidc_lock" ]; then
  echo "provision/oidc-idp: npm ci in $_tg_oidc_dir"
  (cd "$_tg_oidc_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
      --cache "${TOLLGATE_CACHE:-$HOME/.cache/tollgate}/npm") \
    || { echo "provision/oidc-idp: npm ci failed" >&2; return 1; }
  echo "$_tg_oidc_lock" > "$_tg_oidc_dir/node_modules/.tollgate-stamp"
fi
export TOLLGATE_TEST_OIDC_IDP_DIR="$_tg_oidc_dir"
export TOLLGATE_TEST_OIDC_PORT="${TOLLGATE_TEST_OIDC_PORT:-55440}"
unset _tg_oidc_dir _tg_oidc_lock
