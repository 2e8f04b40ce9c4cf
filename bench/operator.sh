#!/usr/bin/env bash
# Operator benchmark: 1,000 ContactCenters applied at once on a real
# kube-apiserver, reconciled into a real PostgreSQL by the operator binary.
# Reports the time until all are Ready=True and the operator's peak RSS.
#
#   bench/operator.sh            # provisions etcd, kube-apiserver, PostgreSQL
#   BENCH_COUNT=200 bench/operator.sh
#
# Uses TOLLGATE_TEST_KUBECONFIG / TOLLGATE_TEST_POSTGRES_URL when already
# set (e.g. from a shell that sourced the provisioning scripts).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
count="${BENCH_COUNT:-1000}"
profile="${BENCH_PROFILE:-release}"
export TOLLGATE_CACHE="${TOLLGATE_CACHE:-$HOME/.cache/tollgate}"
export TOLLGATE_TEST_DIR="${TOLLGATE_TEST_DIR:-$(mktemp -d /tmp/tollgate-bench.XXXXXX)}"
work="$TOLLGATE_TEST_DIR/operator-bench"
mkdir -p "$work"

operator_pid=
cleanup() {
    set +e
    [ -n "$operator_pid" ] && kill "$operator_pid" 2>/dev/null && wait "$operator_pid" 2>/dev/null
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

cargo build -q --locked --profile "$profile" -p tollgate -p tollgate-operator
bin_dir="${CARGO_TARGET_DIR:-$root/target}/$([ "$profile" = dev ] && echo debug || echo "$profile")"

# A fresh database, migrated by the product's own `tollgate migrate`.
db="bench_operator_$$"
psql_url="$TOLLGATE_TEST_POSTGRES_URL"
python3 - "$psql_url" "$db" <<'PY'
import subprocess, sys, urllib.parse
url, db = sys.argv[1], sys.argv[2]
u = urllib.parse.urlparse(url)
subprocess.run(["psql", "-q", "-h", u.hostname, "-p", str(u.port), "-U", u.username, "-d", u.path.lstrip("/"),
                "-c", f'CREATE DATABASE "{db}"'], check=True, env={"PGPASSWORD": u.password, "PATH": "/usr/bin:/bin"})
PY
database_url="${psql_url%/*}/$db"
key=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
TOLLGATE_DATABASE_URL="$database_url" TOLLGATE_ENCRYPTION_KEY="$key" "$bin_dir/tollgate" migrate >/dev/null

ns="bench-$$"
kubectl apply --server-side -f crds/ >/dev/null
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

python3 - "$count" >"$work/contactcenters.yaml" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print(f"""---
apiVersion: tollgate.dev/v1alpha1
kind: ContactCenter
metadata: {{name: cc-{i:04d}}}
spec:
  environmentRef: bench
  domains: [t{i:04d}]
  auth: builtin
  settings: {{corsOrigins: ["https://wwe{i}.example"]}}""")
PY

port="${BENCH_OPERATOR_PORT:-58350}"
KUBECONFIG="$TOLLGATE_TEST_KUBECONFIG" TOLLGATE_LOG=warn \
    "$bin_dir/tollgate-operator" --namespace "$ns" --database-url "$database_url" \
    --encryption-key "$key" --listen "127.0.0.1:$port" --leader-election=false \
    >"$work/operator.log" 2>&1 &
operator_pid=$!

# The environment first, so the contact centers measure themselves only.
until [ "$(kubectl -n "$ns" get tgenv bench -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; do
    sleep 0.2
done

start=$(date +%s.%N)
kubectl -n "$ns" apply --server-side -f "$work/contactcenters.yaml" >/dev/null
applied=$(date +%s.%N)
while :; do
    ready=$(kubectl -n "$ns" get tgcc -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$' || true)
    [ "$ready" -ge "$count" ] && break
    sleep 0.5
done
done_at=$(date +%s.%N)
rows=$(python3 - "$database_url" <<'PY'
import subprocess, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
out = subprocess.run(["psql", "-tA", "-h", u.hostname, "-p", str(u.port), "-U", u.username, "-d", u.path.lstrip("/"),
                      "-c", "SELECT count(*) FROM contact_centers"], check=True, capture_output=True, text=True,
                     env={"PGPASSWORD": u.password, "PATH": "/usr/bin:/bin"})
print(out.stdout.strip())
PY
)
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$operator_pid/status")
printf 'contact centers: %s (rows in PostgreSQL: %s)\n' "$count" "$rows"
printf 'apply (kubectl, server-side): %.1f s\n' "$(echo "$applied - $start" | bc)"
printf 'all Ready after: %.1f s (from the start of the apply)\n' "$(echo "$done_at - $start" | bc)"
printf 'operator peak RSS: %.1f MB (profile %s)\n' "$(echo "$rss_kb / 1024" | bc -l)" "$profile"
