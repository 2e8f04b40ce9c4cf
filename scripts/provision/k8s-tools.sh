# shellcheck shell=bash
# Sourced by scripts/test.sh: the tools of the chart and manifest checks.
#
#   helm, kubeconform,  built from the Go module proxy (go install) into
#   promtool            $TOLLGATE_CACHE/bin/<tool>-<version>/, once (promtool
#                       checks and unit-tests the chart's alert rules)
#   lua5.4              checked here, installed by packages.sh (Argo CD health checks)
#   kube-venv           Python venv from e2e/kube/requirements.txt
#   schemas             kubeconform JSON schemas, strict, in
#                       $TOLLGATE_CACHE/kube-schemas/: the built-in kinds from
#                       the OpenAPI document of k8s.io/kubernetes (the same
#                       version as the test API server), and the CRDs of the
#                       tools the examples and the chart target (Argo CD, Flux,
#                       Prometheus Operator) from their Go modules
#
# Exports TOLLGATE_HELM, TOLLGATE_KUBECONFORM, TOLLGATE_PROMTOOL, TOLLGATE_KUBE_PYTHON,
# TOLLGATE_KUBE_SCHEMAS (a directory of <kind>-<group>-<version>.json) and
# TOLLGATE_THIRD_PARTY_CRDS (the third-party CRD files, colon-separated).
# Returns non-zero with a message when something cannot be provisioned.

TOLLGATE_HELM_VERSION="${TOLLGATE_HELM_VERSION:-v3.22.0}"
TOLLGATE_KUBECONFORM_VERSION="${TOLLGATE_KUBECONFORM_VERSION:-v0.8.0}"
# promtool's module is Prometheus's: its v0.x tags are the v3.x releases.
TOLLGATE_PROMTOOL_VERSION="${TOLLGATE_PROMTOOL_VERSION:-v0.316.0}"
# The built-in schemas follow the API server of scripts/provision/kube.sh.
TOLLGATE_SCHEMA_K8S_VERSION="${TOLLGATE_SCHEMA_K8S_VERSION:-${TOLLGATE_KUBE_VERSION:-1.35.4}}"
# Modules whose CRD manifests the examples use, and the files in them.
tollgate__third_party_crds=(
  "github.com/argoproj/argo-cd/v3@v3.1.0 manifests/crds/application-crd.yaml"
  "github.com/fluxcd/helm-controller@v1.4.0 config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml"
  "github.com/fluxcd/kustomize-controller@v1.7.3 config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml"
  "github.com/fluxcd/source-controller@v1.7.0 config/crd/bases/source.toolkit.fluxcd.io_gitrepositories.yaml"
  "github.com/prometheus-operator/prometheus-operator@v0.85.0 example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
  "github.com/prometheus-operator/prometheus-operator@v0.85.0 example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"
)

tollgate__k8s_log() { printf 'provision/k8s-tools: %s\n' "$*" >&2; }

tollgate__go_tool() { # name package version
  local dir="$TOLLGATE_CACHE/bin/$1-$3"
  if [ ! -x "$dir/$1" ]; then
    command -v go >/dev/null 2>&1 || { tollgate__k8s_log "go is needed to build $1"; return 1; }
    tollgate__k8s_log "building $1 $3 from the Go module proxy (once)"
    mkdir -p "$dir"
    GOBIN="$dir" GOFLAGS=-trimpath go install "$2@$3" >&2 || { tollgate__k8s_log "go install $2@$3 failed"; return 1; }
  fi
  printf '%s\n' "$dir/$1"
}

tollgate__module_dir() { # module@version
  (cd / && go mod download -json "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error")))')
}

tollgate__k8s_provision() {
  command -v lua5.4 >/dev/null 2>&1 || { tollgate__k8s_log "lua5.4 is missing (scripts/provision/packages.sh installs it)"; return 1; }
  TOLLGATE_HELM=$(tollgate__go_tool helm helm.sh/helm/v3/cmd/helm "$TOLLGATE_HELM_VERSION") || return 1
  TOLLGATE_KUBECONFORM=$(tollgate__go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$TOLLGATE_KUBECONFORM_VERSION") || return 1
  TOLLGATE_PROMTOOL=$(tollgate__go_tool promtool github.com/prometheus/prometheus/cmd/promtool "$TOLLGATE_PROMTOOL_VERSION") || return 1

  local here requirements venv stamp
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  requirements="$here/e2e/kube/requirements.txt"
  venv="$TOLLGATE_CACHE/kube-venv"
  stamp="$(sha256sum "$requirements" | cut -c1-16)-$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.tollgate-stamp" 2>/dev/null)" != "$stamp" ]; then
    tollgate__k8s_log "preparing $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" \
      || { tollgate__k8s_log "cannot prepare $venv"; return 1; }
    echo "$stamp" > "$venv/.tollgate-stamp"
  fi
  TOLLGATE_KUBE_PYTHON="$venv/bin/python"

  # The third-party CRD files (the tests also install them on the API server).
  local entry module file dir crds=()
  for entry in "${tollgate__third_party_crds[@]}"; do
    module=${entry% *} file=${entry#* }
    dir=$(tollgate__module_dir "$module") || { tollgate__k8s_log "cannot download $module"; return 1; }
    [ -f "$dir/$file" ] || { tollgate__k8s_log "$module has no $file"; return 1; }
    crds+=("$dir/$file")
  done
  TOLLGATE_THIRD_PARTY_CRDS=$(IFS=:; printf '%s' "${crds[*]}")

  # Built-in and third-party schemas change only with the pinned versions.
  local schemas_stamp schemas k8s_dir
  schemas_stamp=$(printf '%s\n' "$TOLLGATE_SCHEMA_K8S_VERSION" "${tollgate__third_party_crds[@]}" \
    | cat - "$here/scripts/kube_schemas.py" | sha256sum | cut -c1-16)
  schemas="$TOLLGATE_CACHE/kube-schemas/$schemas_stamp"
  if [ ! -f "$schemas/.complete" ]; then
    tollgate__k8s_log "writing kubeconform schemas into $schemas (once)"
    rm -rf "$TOLLGATE_CACHE/kube-schemas"  # older versions' schemas too
    k8s_dir=$(tollgate__module_dir "k8s.io/kubernetes@v$TOLLGATE_SCHEMA_K8S_VERSION") \
      || { tollgate__k8s_log "cannot download k8s.io/kubernetes@v$TOLLGATE_SCHEMA_K8S_VERSION"; return 1; }
    "$TOLLGATE_KUBE_PYTHON" "$here/scripts/kube_schemas.py" "$schemas" \
      --swagger "$k8s_dir/api/openapi-spec/swagger.json" "${crds[@]}" >&2 || return 1
    touch "$schemas/.complete"
  fi
  TOLLGATE_KUBE_SCHEMAS="$schemas"
  export TOLLGATE_SCHEMA_K8S_VERSION TOLLGATE_HELM TOLLGATE_KUBECONFORM TOLLGATE_PROMTOOL TOLLGATE_KUBE_PYTHON TOLLGATE_KUBE_SCHEMAS TOLLGATE_THIRD_PARTY_CRDS
  tollgate__k8s_log "helm $TOLLGATE_HELM_VERSION, kubeconform $TOLLGATE_KUBECONFORM_VERSION, promtool $TOLLGATE_PROMTOOL_VERSION, schemas of Kubernetes $TOLLGATE_SCHEMA_K8S_VERSION"
}

tollgate__k8s_provision
