# shellcheck shell=bash
# Starts the real SAML 2.0 identity provider of the e2e tests: Keycloak's
# server distribution from Maven Central (version and SHA-512 pinned below),
# cached in "$TOLLGATE_CACHE/keycloak-<version>" and built once there for
# the embedded H2 database (`kc.sh build`; later starts are `start
# --optimized`, half the time of `start-dev`). SOURCE it (do not run it):
#
#   export TOLLGATE_TEST_DIR=$(mktemp -d)
#   source scripts/provision/saml-idp.sh
#   trap tollgate_stop_saml_idp EXIT
#
# Installs Java 17 (openjdk-17-jre-headless) and unzip when missing. Runs one
# Keycloak on 127.0.0.1 from "$TOLLGATE_TEST_DIR/keycloak" (its own home:
# bin/ copied, the cached lib/, themes/, providers/, conf/ linked, data/ and
# the H2 database here, heap at most 512 MB) on TOLLGATE_TEST_SAML_IDP_PORT
# (default 55450; health on the management port
# TOLLGATE_TEST_SAML_IDP_MANAGEMENT_PORT, default 55451), with the realm of
# e2e/idp/saml/tollgate-realm.json imported at start. Exports
# TOLLGATE_TEST_SAML_IDP_URL, TOLLGATE_TEST_SAML_IDP_REALM and the master
# realm's bootstrap admin TOLLGATE_TEST_SAML_IDP_ADMIN_USER /
# TOLLGATE_TEST_SAML_IDP_ADMIN_PASSWORD (random per run); the tests register
# Tollgate's SP with it (e2e/tests/keycloak.py). Safe under
# `set -euo pipefail`.

_tg_kc_version=26.7.3
_tg_kc_sha512=15c764765576eef267cf15cc5225a5826b5394a25a83d9bfa5b8544e4bbba690cb743c9d384200b93bb71ee4c4a328e1dd8c0a00f822fd3e6e154f14b1e47216
# Build-time options of the cached distribution; a change rebuilds it.
_tg_kc_build_opts="--db=dev-file --health-enabled=true"
# A bounded heap (the machine is shared), and the C1 compiler only: a short
# test run never pays back C2, and it halves the start-up (52 s to 28 s on
# two busy cores).
_tg_kc_jvm_heap="-Xms64m -Xmx512m"
_tg_kc_jvm_append="-XX:TieredStopAtLevel=1"

_tg_kc_log() { printf 'provision/saml-idp: %s\n' "$*" >&2; }
_tg_kc_fail() { _tg_kc_log "error: $*"; return 1; }

_tg_kc_port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

_tg_kc_java_ok() {
  command -v java >/dev/null 2>&1 || return 1
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  [ "${major:-0}" -ge 17 ] 2>/dev/null
}

_tg_kc_packages() {
  local need=()
  _tg_kc_java_ok || need+=(openjdk-17-jre-headless)
  command -v unzip >/dev/null 2>&1 || need+=(unzip)
  [ ${#need[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 \
    || { _tg_kc_fail "${need[*]} missing and apt-get is not available"; return 1; }
  _tg_kc_log "installing ${need[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${need[@]}" >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${need[@]}" >/dev/null; } \
    || { _tg_kc_fail "cannot install ${need[*]}"; return 1; }
}

# The verified, unpacked and built distribution in the cache.
_tg_kc_install() {
  local cache="${TOLLGATE_CACHE:-$HOME/.cache/tollgate}"
  local home="$cache/keycloak-$_tg_kc_version"
  local url="https://repo1.maven.org/maven2/org/keycloak/keycloak-quarkus-dist/$_tg_kc_version/keycloak-quarkus-dist-$_tg_kc_version.zip"
  if [ ! -x "$home/bin/kc.sh" ]; then
    local tmp
    tmp=$(mktemp -d "$cache/keycloak-download.XXXXXX")
    _tg_kc_log "downloading Keycloak $_tg_kc_version from Maven Central"
    curl -fsSL --retry 3 -o "$tmp/kc.zip" "$url" \
      || { rm -rf "$tmp"; _tg_kc_fail "cannot download $url"; return 1; }
    echo "$_tg_kc_sha512  $tmp/kc.zip" | sha512sum -c --quiet >/dev/null 2>&1 \
      || { rm -rf "$tmp"; _tg_kc_fail "checksum mismatch for $url"; return 1; }
    unzip -q "$tmp/kc.zip" -d "$tmp" \
      || { rm -rf "$tmp"; _tg_kc_fail "cannot unpack $url"; return 1; }
    rm -rf "$home"
    mv "$tmp/keycloak-$_tg_kc_version" "$home"
    rm -rf "$tmp"
  fi
  if [ "$(cat "$home/lib/quarkus/.tollgate-build" 2>/dev/null)" != "$_tg_kc_build_opts" ]; then
    _tg_kc_log "building Keycloak for the embedded database (once; about a minute)"
    # shellcheck disable=SC2086
    JAVA_OPTS_KC_HEAP="$_tg_kc_jvm_heap" JAVA_OPTS_APPEND="$_tg_kc_jvm_append" "$home/bin/kc.sh" build $_tg_kc_build_opts >"$cache/keycloak-build.log" 2>&1 \
      || { tail -20 "$cache/keycloak-build.log" >&2; _tg_kc_fail "kc.sh build failed"; return 1; }
    echo "$_tg_kc_build_opts" >"$home/lib/quarkus/.tollgate-build"
  fi
  _tg_kc_home="$home"
}

tollgate_stop_saml_idp() {
  local pidfile="${TOLLGATE_TEST_DIR:-/nonexistent}/keycloak/kc.pid" pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  # Only the Keycloak this script started, by its pid: kc.sh passes the
  # TERM on to its JVM and waits for it.
  if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
}

tollgate_start_saml_idp() {
  local port="${TOLLGATE_TEST_SAML_IDP_PORT:-55450}"
  local mport="${TOLLGATE_TEST_SAML_IDP_MANAGEMENT_PORT:-55451}"
  local dir="$TOLLGATE_TEST_DIR/keycloak"
  local realm_file
  realm_file="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/e2e/idp/saml/tollgate-realm.json"
  _tg_kc_packages || return 1
  _tg_kc_install || return 1
  tollgate_stop_saml_idp
  for p in "$port" "$mport"; do
    if _tg_kc_port_busy "$p"; then
      _tg_kc_fail "port $p on 127.0.0.1 is already in use; choose others with TOLLGATE_TEST_SAML_IDP_PORT, TOLLGATE_TEST_SAML_IDP_MANAGEMENT_PORT"
      return 1
    fi
  done
  rm -rf "$dir"
  mkdir -p "$dir/data/import"
  # A home of its own, so the database and the import stay in the test dir.
  cp -a "$_tg_kc_home/bin" "$dir/bin"
  local d
  for d in lib themes providers conf; do ln -s "$_tg_kc_home/$d" "$dir/$d"; done
  cp "$realm_file" "$dir/data/import/"
  local admin_pw started
  admin_pw="$(openssl rand -hex 12)"
  started=$(date +%s)
  (
    cd "$dir" || exit 1
    KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD="$admin_pw" \
      JAVA_OPTS_KC_HEAP="$_tg_kc_jvm_heap" JAVA_OPTS_APPEND="$_tg_kc_jvm_append" \
      exec "$dir/bin/kc.sh" start --optimized --http-enabled=true --hostname-strict=false \
      --http-host=127.0.0.1 --http-port="$port" --http-management-port="$mport" \
      --import-realm </dev/null >"$dir/keycloak.log" 2>&1
  ) &
  echo $! >"$dir/kc.pid"
  local ok="" pid
  pid=$(cat "$dir/kc.pid")
  for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || break
    if curl -fsS -o /dev/null "http://127.0.0.1:$mport/health/ready" 2>/dev/null; then ok=1; break; fi
    sleep 0.5
  done
  if [ -z "$ok" ]; then
    tail -30 "$dir/keycloak.log" >&2
    tollgate_stop_saml_idp
    _tg_kc_fail "Keycloak did not become ready on port $port (log: $dir/keycloak.log)"
    return 1
  fi
  export TOLLGATE_TEST_SAML_IDP_URL="http://127.0.0.1:$port"
  export TOLLGATE_TEST_SAML_IDP_REALM=tollgate
  export TOLLGATE_TEST_SAML_IDP_ADMIN_USER=admin
  export TOLLGATE_TEST_SAML_IDP_ADMIN_PASSWORD="$admin_pw"
  _tg_kc_log "Keycloak $_tg_kc_version ready in $(($(date +%s) - started)) s: $TOLLGATE_TEST_SAML_IDP_URL/realms/tollgate (data in $dir)"
}

# TOLLGATE_PREPARE_ONLY=1: download and build into the cache, start nothing.
if [ "${TOLLGATE_PREPARE_ONLY:-}" = 1 ]; then
  _tg_kc_packages && _tg_kc_install
else
  tollgate_start_saml_idp
fi
