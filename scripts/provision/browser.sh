# Sourced by scripts/test.sh after packages.sh (which installs them): checks
# the browser the end-to-end suite drives, Debian's Chromium
# (/usr/bin/chromium), and Node.js (>= 20, for playwright-core); e2e/run.sh
# then installs the pinned npm packages of e2e/browser with `npm ci`.
# Browsers are never downloaded by Playwright. Fails the run if one is missing.
[ -x /usr/bin/chromium ] || { echo "error: /usr/bin/chromium is missing (scripts/provision/packages.sh installs chromium)" >&2; return 1; }
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "error: the browser tests need Node.js >= 20 (playwright-core); found $(node --version 2>/dev/null || echo none)" >&2
  return 1
fi
echo "browser: $(/usr/bin/chromium --version 2>/dev/null), node $(node --version)"
export TOLLGATE_REQUIRE_BROWSER=1
unset node_major
