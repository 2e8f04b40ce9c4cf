#!/usr/bin/env bash
# Operator benchmark: for each count of BENCH_COUNTS, that many ContactCenters
# applied at once on a real kube-apiserver, reconciled into a real PostgreSQL
# by the operator binary. Measures the time until all are Ready=True and the
# operator's peak RSS (VmHWM); writes operator.json (and, when run alone,
# operator.md) into the results directory. See bench/README.md.
#
#   bench/operator.sh                              # 1,000 and 10,000
#   BENCH_COUNTS="50 200" bench/operator.sh
#   TOLLGATE_BIN=.../tollgate TOLLGATE_OPERATOR_BIN=.../tollgate-operator bench/operator.sh
#   BENCH_RESULTS=bench/results/latest bench/operator.sh   # beside a run.sh run, for report.py
#
# Uses TOLLGATE_TEST_KUBECONFIG / TOLLGATE_TEST_POSTGRES_URL when already
# set (e.g. from a shell that sourced the provisioning scripts); otherwise
# starts etcd + kube-apiserver and PostgreSQL with scripts/provision/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
counts="${BENCH_COUNTS:-1000 10000}"
parallel="${BENCH_APPLY_PARALLEL:-8}"     # server-side apply requests in flight
ready_timeout="${BENCH_READY_TIMEOUT:-900}" # seconds per count before giving up
profile="${BENCH_PROFILE:-release}"        # cargo profile when the binaries are built here
out="${BENCH_RESULTS:-$root/bench/results/operator-$(date -u +%Y%m%dT%H%M%SZ)}"
alone=$([ -z "${BENCH_RESULTS:-}" ] && echo 1 || echo 0)
export TOLLGATE_CACHE="${TOLLGATE_CACHE:-$HOME/.cache/tollgate}"
export TOLLGATE_TEST_DIR="${TOLLGATE_TEST_DIR:-$(mktemp -d /tmp/tollgate-bench.XXXXXX)}"
work="$TOLLGATE_TEST_DIR/operator-bench"
mkdir -p "$work" "$out/logs"

operator_pid=
watch_pid=
cleanup() {
    set +e
    for pid in "$watch_pid" "$operator_pid"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    declare -F tollgate_stop_kube >/dev/null && tollgate_stop_kube
    declare -F tollgate_stop_postgres >/dev/null && tollgate_stop_postgres
}
trap cleanup EXIT

if [ -z "${TOLLGATE_TEST_KUBECONFIG:-}" ]; then
    # shellcheck source=../scripts/provision/kube.sh
    source scripts/provision/kube.sh
fi
if [ -z "${TOLLGATE_TEST_POSTGRES_URL:-}" ]; then
    # shellcheck source=../scripts/provision/postgres.sh
    source scripts/provision/postgres.sh
fi
export KUBECONFIG="$TOLLGATE_TEST_KUBECONFIG"

if [ -z "${TOLLGATE_BIN:-}" ] || [ -z "${TOLLGATE_OPERATOR_BIN:-}" ]; then
    cargo build -q --locked --profile "$profile" -p tollgate -p tollgate-operator
    bin_dir="${CARGO_TARGET_DIR:-$root/target}/$([ "$profile" = dev ] && echo debug || echo "$profile")"
    TOLLGATE_BIN="$bin_dir/tollgate"
    TOLLGATE_OPERATOR_BIN="$bin_dir/tollgate-operator"
fi

# psql URL SQL: runs one statement, prints the result unaligned.
psql_url() {
    python3 - "$1" "$2" <<'PY'
import os, subprocess, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
out = subprocess.run(["psql", "-tAq", "-h", u.hostname, "-p", str(u.port), "-U", u.username,
                      "-d", u.path.lstrip("/"), "-c", sys.argv[2]], check=True, capture_output=True,
                     text=True, env={"PGPASSWORD": u.password or "", "PATH": os.environ["PATH"]})
print(out.stdout.strip())
PY
}

kube_version=$(kubectl version -o json 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')
pg_version=$(psql_url "$TOLLGATE_TEST_POSTGRES_URL" "SHOW server_version")
kubectl apply --server-side -f crds/ >/dev/null
printf '[]\n' >"$out/operator.json"

# measure COUNT: a fresh database, namespace and operator process.
measure() {
    local count=$1
    local ns="bench-$$-$count" db="bench_operator_$$_$count" key database_url
    psql_url "$TOLLGATE_TEST_POSTGRES_URL" "CREATE DATABASE \"$db\"" >/dev/null
    database_url="${TOLLGATE_TEST_POSTGRES_URL%/*}/$db"
    key=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    TOLLGATE_DATABASE_URL="$database_url" TOLLGATE_ENCRYPTION_KEY="$key" "$TOLLGATE_BIN" migrate >/dev/null

    kubectl create namespace "$ns" >/dev/null
    kubectl -n "$ns" create secret generic cs-password --from-literal=password=pw >/dev/null
    cat <<YAML | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: tollgate.dev/v1alpha1
kind: Environment
metadata: {name: bench}
spec:
  username: svc
  passwordSecretRef: {name: cs-password, key: password}
  configServers: [{primaryAddress: cs.example, primaryPort: 8888}]
YAML
    rm -f "$work/ready"

    local port="${BENCH_OPERATOR_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
    TOLLGATE_LOG=warn "$TOLLGATE_OPERATOR_BIN" --namespace "$ns" --database-url "$database_url" \
        --encryption-key "$key" --listen "127.0.0.1:$port" --leader-election=false \
        >"$out/logs/operator-$count.log" 2>&1 &
    operator_pid=$!

    # The environment first, so the contact centers measure themselves only.
    until [ "$(kubectl -n "$ns" get tgenv bench -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; do
        kill -0 "$operator_pid" 2>/dev/null || { echo "operator exited, see $out/logs/operator-$count.log" >&2; exit 1; }
        sleep 0.2
    done
    python3 bench/operator_load.py watch "$ns" "$count" "$work/ready" 2>>"$out/logs/watch.log" &
    watch_pid=$!
    sleep 1 # the watch is established before the first object arrives

    echo "operator: applying $count ContactCenters ($parallel server-side applies in flight)" >&2
    local start applied
    start=$(date +%s.%N)
    python3 bench/operator_load.py apply "$ns" "$count" "$parallel"
    applied=$(date +%s.%N)
    local waited=0
    while kill -0 "$watch_pid" 2>/dev/null; do
        kill -0 "$operator_pid" 2>/dev/null || { echo "operator exited, see $out/logs/operator-$count.log" >&2; exit 1; }
        [ "$waited" -lt $((ready_timeout * 5)) ] || { echo "not all Ready after ${ready_timeout}s" >&2; kill "$watch_pid"; break; }
        sleep 0.2
        waited=$((waited + 1))
    done
    wait "$watch_pid" 2>/dev/null || true
    watch_pid=
    local done_at ready_n rows hwm rss
    done_at=$(cat "$work/ready" 2>/dev/null || echo "")
    ready_n=$(kubectl -n "$ns" get tgcc -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$' || true)
    rows=$(psql_url "$database_url" "SELECT count(*) FROM contact_centers")
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$operator_pid/status")
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$operator_pid/status")
    kill "$operator_pid" && wait "$operator_pid" 2>/dev/null || true
    operator_pid=
    python3 - "$out/operator.json" "$count" "$start" "$applied" "$done_at" "$ready_n" "$rows" "$hwm" "$rss" <<'PY'
import json, sys
path, count, start, applied, done_at, ready, rows, hwm, rss = sys.argv[1:]
results = json.load(open(path))
r = {"count": int(count), "apply_s": round(float(applied) - float(start), 2),
     "ready_s": round(float(done_at) - float(start), 2) if done_at else None,
     "ready": int(ready), "rows": int(rows), "peak_rss_kib": int(hwm), "end_rss_kib": int(rss)}
results.append(r)
json.dump(results, open(path, "w"), indent=1)
print(f"operator: {r}", file=sys.stderr)
PY
}

python3 - "$out/operator.settings.json" "$kube_version" "$pg_version" "$TOLLGATE_OPERATOR_BIN" "$parallel" <<'PY'
import json, subprocess, sys
path, kube, pg, binary, parallel = sys.argv[1:]
version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
json.dump({"kube_apiserver": kube, "postgresql": pg, "operator_bin": binary, "operator_version": version,
           "apply_parallel": int(parallel), "nproc": __import__("os").cpu_count(),
           "loadavg_start": open("/proc/loadavg").read().split()[:3]}, open(path, "w"), indent=1)
PY
for count in $counts; do
    measure "$count"
done
if [ "$alone" = 1 ]; then
    python3 bench/report_operator.py "$out" >"$out/operator.md"
    echo "operator: wrote $out/operator.md" >&2
fi
