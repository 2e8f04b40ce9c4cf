#!/usr/bin/env bash
# OpenID Foundation conformance suite against Tollgate: builds the suite,
# starts it with an in-memory MongoDB-compatible server, starts Tollgate with
# the clients the plans need, runs the plans with the suite's own runner and
# writes docs/conformance.md. Run by hand, like bench/: the suite's source
# comes from its public repository, not from a registry.
#
#   git clone https://github.com/openid-certification/conformance-suite ~/src/conformance-suite
#   TOLLGATE_BIN=target/release/tollgate scripts/conformance.sh ~/src/conformance-suite
#   scripts/conformance.sh --storage serve ~/src/conformance-suite   # serve all on PostgreSQL + Redis
#   scripts/conformance.sh --plan basic --plan config SUITE_DIR       # a subset of the plans
#       plans: basic, config, implicit, hybrid, formpost-basic, formpost-implicit, formpost-hybrid,
#       logout (RP-initiated), backchannel (back-channel logout): certification plans, client_secret_basic;
#       auth-post, auth-jwt, auth-pkjwt (oidcc-test-plan, code flow, with that client authentication)
#   scripts/conformance.sh --out /tmp/results.md SUITE_DIR            # default docs/conformance.md
#                                                                      # (docs/conformance-serve-all.md for serve)
#   scripts/conformance.sh --build-only SUITE_DIR                     # cache the builds, run nothing
#
# Environment:
#   CONFORMANCE_SUITE_DIR   the suite's checkout (instead of the argument)
#   CONFORMANCE_SUITE_COMMIT  the checkout's commit when it has no .git (e.g. an exported tree)
#   TOLLGATE_BIN            the tollgate binary (default: cargo build --release)
#   TOLLGATE_CACHE          cache root (default ~/.cache/tollgate); builds go to $TOLLGATE_CACHE/conformance/
#   CONFORMANCE_JAVA_HOME   a JDK 21 or newer (default /usr/lib/jvm/temurin-25-jdk-amd64)
#   CONFORMANCE_TOLLGATE_ARGS  more flags for tollgate
#   TOLLGATE_TEST_POSTGRES_URL, TOLLGATE_TEST_REDIS_URL   for --storage serve: a database is
#                           created (and dropped after) on that server; Redis database 13 unless
#                           the URL names one (CONFORMANCE_REDIS_DB)
#
# Needs: a JDK 21+ (with keytool), Maven, python3 (venv), curl, openssl; psql for --storage serve.
# The first run builds the suite (about 6 min on 2 cores); later runs take the
# cached jar and need a few minutes per plan.
set -euo pipefail
caller_dir=$(pwd)  # relative paths in the arguments are the caller's
cd "$(dirname "$0")/.."
root=$(pwd)
here="$root/scripts/conformance"

java_home="${CONFORMANCE_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
cache="${TOLLGATE_CACHE:-$HOME/.cache/tollgate}/conformance"
# Loopback ports of the pieces; the suite must be https://localhost:PORT
# because its redirect URIs and certificate name that host.
suite_port=38443 mongo_port=37018 tollgate_port=38095 mgmt_port=38096 proxy_port=38444
suite_url="https://localhost:$suite_port/"
# Back-channel logout tokens reach the suite through this proxy (tools.py tls-proxy).
proxy_url="https://localhost:$proxy_port/"
# Tollgate is served over HTTPS too: the suite fails an issuer or endpoint
# that is not https.
tollgate_url="https://localhost:$tollgate_port"
ops_user=ops ops_password="conformance-ops-$$-$RANDOM"
storage=dev build_only=0 suite_dir="${CONFORMANCE_SUITE_DIR:-}" out=""
plans=()
work="" pids=() failed_plans=()

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit "${1:-0}"
}

log() { printf '%s conformance: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --storage) storage="$2"; shift 2 ;;
      --plan) plans+=("$2"); shift 2 ;;
      --out) out="$2"; shift 2 ;;
      --build-only) build_only=1; shift ;;
      -h|--help) usage 0 ;;
      -*) usage 2 ;;
      *) suite_dir="$1"; shift ;;
    esac
  done
  [ -n "$suite_dir" ] || die "give the suite's checkout (argument or CONFORMANCE_SUITE_DIR); see --help"
  [ -f "$(cd "$caller_dir" && cd "$suite_dir" && pwd)/pom.xml" ] || die "$suite_dir is not a checkout of the conformance suite"
  suite_dir=$(cd "$caller_dir" && cd "$suite_dir" && pwd)
  case "$storage" in dev|serve) ;; *) die "--storage is dev or serve" ;; esac
  [ ${#plans[@]} -gt 0 ] || plans=(basic config implicit hybrid formpost-basic formpost-implicit formpost-hybrid
    logout backchannel auth-post auth-jwt auth-pkjwt)
  local p; for p in "${plans[@]}"; do plan_spec "$p" >/dev/null; done
  # Each storage mode has its page, so one run does not overwrite the other's.
  [ -n "$out" ] || out="$root/docs/conformance$([ "$storage" = dev ] || echo -serve-all).md"
  case "$out" in /*) ;; *) out="$caller_dir/$out" ;; esac
  [ -x "$java_home/bin/java" ] || die "no JDK at $java_home (set CONFORMANCE_JAVA_HOME to a JDK 21 or newer)"
}

# The suite's commit names its cached build; an exported tree without .git
# says it through CONFORMANCE_SUITE_COMMIT, or is keyed by its content.
suite_commit() {
  if [ -n "${CONFORMANCE_SUITE_COMMIT:-}" ]; then
    echo "$CONFORMANCE_SUITE_COMMIT"
  elif git -C "$suite_dir" rev-parse HEAD 2>/dev/null; then
    :
  else
    (cd "$suite_dir" && find pom.xml src -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-40)
  fi
}

mvn_quiet() {
  JAVA_HOME="$java_home" PATH="$java_home/bin:$PATH" nice -n 19 mvn -B -q "$@"
}

# Builds the suite into the cache once per commit. The build runs on a copy:
# the pin below must not touch the user's checkout.
#  - org.multipaz 0.99.0 is not on Maven Central; 0.101.0 compiles cleanly.
#  - tests, git-commit-id (no .git in an exported tree), jacoco, pmd and
#    checkstyle are skipped: they add minutes and judge the suite, not us.
build_suite() {
  suite_jar="$cache/suite-$(suite_commit).jar"
  [ -f "$suite_jar" ] && { log "suite: cached $suite_jar"; return; }
  local src="$cache/build/suite"
  log "suite: building $(suite_commit) (about 6 min on 2 cores, log in $cache/build/suite.log)"
  rm -rf "$src" && mkdir -p "$src"
  tar -C "$suite_dir" --exclude=./.git --exclude=./target --exclude=./node_modules -cf - . | tar -C "$src" -xf -
  sed -i '/<artifactId>multipaz-[a-z-]*jvm<\/artifactId>/{n;s/<version>0\.99\.0</<version>0.101.0</}' "$src/pom.xml"
  (cd "$src" && mvn_quiet -Dmaven.test.skip=true -Dmaven.gitcommitid.skip=true -Djacoco.skip=true \
    -Dpmd.skip=true -Dcheckstyle.skip=true package) >"$cache/build/suite.log" 2>&1 \
    || die "suite build failed: see $cache/build/suite.log"
  cp "$src/target/fapi-test-suite.jar" "$suite_jar.tmp" && mv "$suite_jar.tmp" "$suite_jar"
  rm -rf "$src"
}

# The in-memory MongoDB-compatible server the suite keeps its logs in; its
# sources are ours (scripts/conformance/mongo), its jars come from Maven
# Central. Cached by the hash of those sources.
build_mongo() {
  local key
  key=$(cat "$here/mongo/pom.xml" "$here/mongo/src/main/java/MongoLauncher.java" | sha256sum | cut -c1-16)
  mongo_dir="$cache/mongo-$key"
  [ -d "$mongo_dir" ] && { log "mongo: cached $mongo_dir"; return; }
  log "mongo: building the launcher"
  local src="$cache/build/mongo"
  rm -rf "$src" && cp -r "$here/mongo" "$src"
  (cd "$src" && mvn_quiet package dependency:copy-dependencies -DoutputDirectory=target/lib) \
    >"$cache/build/mongo.log" 2>&1 || die "mongo launcher build failed: see $cache/build/mongo.log"
  mkdir -p "$mongo_dir.tmp"
  cp -r "$src/target/classes" "$src/target/lib" "$mongo_dir.tmp/"
  mv "$mongo_dir.tmp" "$mongo_dir" && rm -rf "$src"
}

# The suite's runner needs httpx and pyparsing; tools.py needs cryptography.
make_venv() {
  local key
  key=$( (python3 --version; cat "$here/requirements.txt") | sha256sum | cut -c1-16)
  venv="$cache/venv-$key"
  [ -f "$venv/complete" ] && return
  log "venv: installing $(tr '\n' ' ' <"$here/requirements.txt")"
  rm -rf "$venv"
  python3 -m venv "$venv" || die "venv: python3 -m venv failed"
  "$venv/bin/pip" install -q -r "$here/requirements.txt" || die "venv: pip install failed"
  touch "$venv/complete"
}

# Runs a command in the background, its output in $work/NAME.log; cleanup
# stops it.
start_bg() {
  local name=$1; shift
  "$@" >"$work/$name.log" 2>&1 &
  pids+=("$!")
  log "$name: started (pid $!, log $work/$name.log)"
}

# Waits until URL answers (curl options before it), or dies after SECONDS.
wait_http() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until curl -sf -o /dev/null --max-time 5 "$@"; do
    [ $SECONDS -lt $deadline ] || die "$what did not come up in ${seconds}s (see $work/$what.log)"
    sleep 2
  done
  log "$what: up"
}

cleanup() {
  local status=$? i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  [ -n "${drop_database:-}" ] && "$drop_database"
  [ $status -eq 0 ] || log "failed (exit status $status); logs and configs in $work"
  exit $status
}

start_mongo() {
  start_bg mongo "$java_home/bin/java" -Xmx1g -cp "$mongo_dir/classes:$mongo_dir/lib/*" MongoLauncher "$mongo_port"
  local deadline=$((SECONDS + 60))
  until grep -q listening "$work/mongo.log"; do
    [ $SECONDS -lt $deadline ] || die "mongo did not start (see $work/mongo.log)"
    sleep 1
  done
}

# A throwaway CA (ca.pem) and its certificate for localhost, which serves
# both the suite and Tollgate. Everything trusts the CA: the suite's JVM (its
# browser checks certificates), curl, the Python tools and Tollgate, whose
# back-channel logout tokens go to the suite (rustls refuses a self-signed
# CA certificate as a server's own, hence the two).
make_certificate() {
  tls_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj '/CN=conformance run CA' \
    -keyout "$work/ca-key.pem" -out "$work/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
    -keyout "$work/tls-key.pem" -out "$work/tls.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    >"$work/tls.ext"
  openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.pem" -CAkey "$work/ca-key.pem" -CAcreateserial \
    -days 7 -extfile "$work/tls.ext" -out "$work/tls-cert.pem" 2>/dev/null
  openssl pkcs12 -export -name localhost -inkey "$work/tls-key.pem" -in "$work/tls-cert.pem" \
    -out "$work/tls.p12" -passout "pass:$tls_password"
  "$java_home/bin/keytool" -importcert -noprompt -alias conformance-ca -file "$work/ca.pem" \
    -storetype PKCS12 -keystore "$work/trust.p12" -storepass "$tls_password" >/dev/null 2>&1
}

start_suite() {
  start_bg suite nice -n 10 "$java_home/bin/java" -Xmx2g -Djdk.tls.maxHandshakeMessageSize=65536 \
    -Djavax.net.ssl.trustStore="$work/trust.p12" -Djavax.net.ssl.trustStoreType=PKCS12 \
    -Djavax.net.ssl.trustStorePassword="$tls_password" \
    -jar "$suite_jar" \
    --server.address=127.0.0.1 --server.port="$suite_port" \
    --server.ssl.enabled=true --server.ssl.key-store="$work/tls.p12" \
    --server.ssl.key-store-password="$tls_password" --server.ssl.key-store-type=PKCS12 \
    --spring.mongodb.uri="mongodb://127.0.0.1:$mongo_port/test_suite" \
    --fintechlabs.devmode=true \
    --fintechlabs.base_url="${suite_url%/}" --fintechlabs.base_mtls_url="${suite_url%/}"
  wait_http suite 300 --cacert "$work/ca.pem" "${suite_url}api/runner/available"
  start_bg tls-proxy "$venv/bin/python" "$here/tools.py" tls-proxy "$proxy_port" "$suite_url" \
    "$work/tls-cert.pem" "$work/tls-key.pem"
  wait_http tls-proxy 30 --cacert "$work/ca.pem" "${proxy_url}api/runner/available"
}

# RS256: the suite's OIDC plans sign and expect RS256 unless told otherwise.
# The suite's client assertions name the token endpoint as their audience
# (OIDC Core §9's SHOULD); Tollgate accepts only its issuer unless told
# (RFC 7523bis, against audience injection), so the flag is set, and named
# in the report. CONFORMANCE_TOLLGATE_ARGS adds flags (the report names them).
assertion_audience=--client-assertion-token-endpoint-audience
tollgate_args() {
  echo --listen "127.0.0.1:$tollgate_port" --management-listen "127.0.0.1:$mgmt_port" \
    --public-url "$tollgate_url" --tls-cert-file "$work/tls-cert.pem" --tls-key-file "$work/tls-key.pem" \
    --signing-algorithm RS256 --log-format json "$assertion_audience" "${CONFORMANCE_TOLLGATE_ARGS:-}"
}

start_tollgate_dev() {
  # shellcheck disable=SC2046 # word splitting of tollgate_args is meant
  start_bg tollgate env SSL_CERT_FILE="$work/ca.pem" TOLLGATE_OPS_PASSWORD="$ops_password" TOLLGATE_DEMO_PASSWORD="$TOLLGATE_DEMO_PASSWORD" \
    "$tollgate_bin" dev --data-dir "$work/tollgate-data" $(tollgate_args)
  wait_http tollgate 60 "http://127.0.0.1:$mgmt_port/health/ready"
}

# `serve all` as e2e/ starts it: a fresh database on the test PostgreSQL,
# the test Redis, the demo tenant provisioned over the Environment API.
start_tollgate_serve() {
  : "${TOLLGATE_TEST_POSTGRES_URL:?--storage serve needs TOLLGATE_TEST_POSTGRES_URL}"
  : "${TOLLGATE_TEST_REDIS_URL:?--storage serve needs TOLLGATE_TEST_REDIS_URL}"
  local db="tollgate_conformance_$$" pg=$TOLLGATE_TEST_POSTGRES_URL redis=$TOLLGATE_TEST_REDIS_URL
  psql -q "$pg" -c "CREATE DATABASE $db" || die "cannot create database $db"
  drop_database=drop_serve_database serve_db=$db
  # The same server and options, the new database's name as the path.
  local pg_base=${pg%%\?*} pg_query=""
  [ "$pg_base" = "$pg" ] || pg_query="?${pg#*\?}"
  # A logical Redis database of its own (unless the URL names one): rate-limit
  # and lockout counters are per client address, and others use 127.0.0.1 too.
  case "${redis#*://}" in */*) ;; *) redis="$redis/${CONFORMANCE_REDIS_DB:-13}" ;; esac
  # shellcheck disable=SC2046 # word splitting of tollgate_args is meant
  start_bg tollgate env SSL_CERT_FILE="$work/ca.pem" TOLLGATE_OPS_PASSWORD="$ops_password" \
    "$tollgate_bin" serve all --database-url "${pg_base%/*}/$db$pg_query" --redis-url "$redis" \
    --encryption-key "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    --outbound-allow 127.0.0.0/8,::1/128 $(tollgate_args)
  wait_http tollgate 60 "http://127.0.0.1:$mgmt_port/health/ready"
  TOLLGATE_OPS_PASSWORD="$ops_password" SSL_CERT_FILE="$work/ca.pem" "$venv/bin/python" "$here/tools.py" provision "$tollgate_url" "$ops_user" \
    || die "provisioning the demo tenant failed"
  # The sign-in side reads new tenants from the change log every second.
  sleep 3
}

drop_serve_database() {
  psql -q "$TOLLGATE_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $serve_db WITH (FORCE)" || true
}

# Two clients of each kind of client authentication, created through the
# ops API as an operator would.
create_clients() {
  "$venv/bin/python" "$here/tools.py" clients "$work/clients" "${suite_url}test/a/tollgate/callback" "$proxy_url"
  local f
  for f in "$work"/clients/*/client*.json; do
    curl -sf -o /dev/null --cacert "$work/ca.pem" -u "$ops_user:$ops_password" -H 'Content-Type: application/json' \
      --data-binary @"$f" "$tollgate_url/auth/v3/ops/clients" || die "creating the client of $f failed"
  done
  log "clients: created $(find "$work/clients" -name 'client*.json' | wc -l)"
}

# NAME -> "KIND PLAN": the client kind (tools.py KINDS) and the plan with its
# variants. The client_auth_type variants run the full oidcc-test-plan,
# because the certification plans fix client_secret_basic.
plan_spec() {
  local static='[server_metadata=discovery][client_registration=static_client]'
  local code='[response_type=code][response_mode=default][client_registration=static_client]'
  case "$1" in
    basic) echo "secret oidcc-basic-certification-test-plan$static" ;;
    config) echo "secret oidcc-config-certification-test-plan" ;;
    implicit) echo "secret oidcc-implicit-certification-test-plan$static" ;;
    hybrid) echo "secret oidcc-hybrid-certification-test-plan$static" ;;
    formpost-basic) echo "secret oidcc-formpost-basic-certification-test-plan$static" ;;
    formpost-implicit) echo "secret oidcc-formpost-implicit-certification-test-plan$static" ;;
    formpost-hybrid) echo "secret oidcc-formpost-hybrid-certification-test-plan$static" ;;
    # The logout plans set server_metadata themselves.
    logout) echo "secret oidcc-rp-initiated-logout-certification-test-plan[response_type=code][client_registration=static_client]" ;;
    backchannel) echo "backchannel oidcc-backchannel-rp-initiated-logout-certification-test-plan[response_type=code][client_registration=static_client]" ;;
    auth-post) echo "secret oidcc-test-plan[client_auth_type=client_secret_post]$code" ;;
    auth-jwt) echo "jwt oidcc-test-plan[client_auth_type=client_secret_jwt]$code" ;;
    auth-pkjwt) echo "pkjwt oidcc-test-plan[client_auth_type=private_key_jwt]$code" ;;
    *) die "unknown plan $1 (see --help)" ;;
  esac
}

# Runs one plan with the suite's runner. A non-zero exit only says that some
# module did not pass: the report shows which, so the run goes on.
run_plan() {
  local name=$1 kind plan status=0
  read -r kind plan <<<"$(plan_spec "$name")"
  "$venv/bin/python" "$here/tools.py" config "$here/oidcc.json" "$work/clients/$kind" "$tollgate_url" "$work/$name.json"
  log "plan $name: $plan"
  CONFORMANCE_SERVER="$suite_url" CONFORMANCE_SERVER_MTLS="$suite_url" CONFORMANCE_DEV_MODE=1 \
    timeout 3600 "$venv/bin/python" "$suite_dir/scripts/run-test-plan.py" --verbose \
    "$plan" "$work/$name.json" >"$work/plan-$name.log" 2>&1 || status=$?
  local id
  id=$(sed -n 's/.*Created test plan, new id: //p' "$work/plan-$name.log")
  if [ -z "$id" ]; then
    log "plan $name did not start (see $work/plan-$name.log)"
    failed_plans+=("$name")
    return
  fi
  echo "$id" >>"$work/plan-ids"
  log "plan $name: done (runner exit status $status)"
}

write_report() {
  local meta="$work/meta.json"
  cat >"$meta" <<JSON
{"date": "$(date -u +%Y-%m-%dT%H:%MZ)",
 "tollgate_version": "$("$tollgate_bin" --version)",
 "tollgate_commit": "$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- . ':!docs' ':!README.md' || echo ' + local changes')",
 "storage": "$(if [ "$storage" = dev ]; then echo 'tollgate dev'; else echo 'tollgate serve all (PostgreSQL + Redis)'; fi) $assertion_audience${CONFORMANCE_TOLLGATE_ARGS:+ $CONFORMANCE_TOLLGATE_ARGS}",
 "suite_commit": "$(suite_commit)",
 "machine": "$(uname -sm), $(nproc) cores, $(awk '/MemTotal/ {printf "%d GiB", $2 / 1048576}' /proc/meminfo), $("$java_home/bin/java" -version 2>&1 | head -1 | tr -d '"')"}
JSON
  "$venv/bin/python" "$here/tools.py" save "$suite_url" "$work/plan-ids" "$work/results.json"
  "$venv/bin/python" "$here/tools.py" report "$work/results.json" "$meta" "$out"
  log "wrote $out"
}

main() {
  parse_args "$@"
  mkdir -p "$cache/build"
  build_suite
  build_mongo
  make_venv
  [ "$build_only" = 1 ] && { log "builds cached in $cache"; return; }
  tollgate_bin="${TOLLGATE_BIN:-}"
  if [ -z "$tollgate_bin" ]; then
    cargo build -q --locked --release -p tollgate
    tollgate_bin="${CARGO_TARGET_DIR:-$root/target}/release/tollgate"
  fi
  # One run's logs and configs, kept until the next run for a look after it.
  work="$cache/run"
  rm -rf "$work" && mkdir -p "$work"
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  export TOLLGATE_DEMO_PASSWORD="demo-${RANDOM}${RANDOM}-pass"
  make_certificate
  start_mongo
  start_suite
  "start_tollgate_$storage"
  TOLLGATE_OPS_PASSWORD="$ops_password" SSL_CERT_FILE="$work/ca.pem" "$venv/bin/python" "$here/tools.py" \
    profile "$tollgate_url" "$ops_user" || die "giving the demo user its claims failed"
  create_clients
  local p
  for p in "${plans[@]}"; do run_plan "$p"; done
  TOLLGATE_OPS_PASSWORD="$ops_password" SSL_CERT_FILE="$work/ca.pem" "$venv/bin/python" "$here/tools.py" \
    rotate-keys "$suite_url" "$work/plan-ids" "$tollgate_url" "$ops_user"
  write_report
  [ ${#failed_plans[@]} -eq 0 ] || die "plans that did not start: ${failed_plans[*]}"
}

main "$@"
