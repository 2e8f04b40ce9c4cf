# Sourced by scripts/test.sh: the browser the end-to-end suite drives.
# Debian's Chromium (/usr/bin/chromium) and Node.js (>= 20, for
# playwright-core); e2e/run.sh then installs the pinned npm packages of
# e2e/browser with `npm ci`. Browsers are never downloaded by Playwright.
# Installs only what is missing; fails the run if it cannot.
browser_need=()
[ -x /usr/bin/chromium ] || browser_need+=(chromium)
command -v node >/dev/null 2>&1 || browser_need+=(nodejs)
command -v npm >/dev/null 2>&1 || browser_need+=(npm)
if [ ${#browser_need[@]} -gt 0 ]; then
  echo "installing: ${browser_need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq "${browser_need[@]}" >/dev/null; then
    apt-get update -qq && apt-get install -y -qq "${browser_need[@]}" >/dev/null \
      || { echo "error: cannot install ${browser_need[*]}" >&2; return 1; }
  fi
fi
[ -x /usr/bin/chromium ] || { echo "error: /usr/bin/chromium is missing after installing chromium" >&2; return 1; }
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "error: the browser tests need Node.js >= 20 (playwright-core); found $(node --version 2>/dev/null || echo none)" >&2
  return 1
fi
echo "browser: $(/usr/bin/chromium --version 2>/dev/null), node $(node --version)"
export TOLLGATE_REQUIRE_BROWSER=1
unset browser_need node_major
