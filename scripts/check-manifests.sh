#!/usr/bin/env bash
# Static checks of the chart and every manifest (scripts/test.sh checks the
# CRDs against crdgen before): the chart's values table,
# `helm lint --strict`, `helm template` with the default values and with
# every option set, and `kubeconform -strict` over the rendered output,
# examples/ and crds/ (built-in kinds, the Tollgate CRDs and the CRDs of
# Argo CD, Flux and the Prometheus Operator).
# Needs scripts/provision/k8s-tools.sh sourced first (scripts/test.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TOLLGATE_HELM:?source scripts/provision/k8s-tools.sh first}"
chart=charts/tollgate-operator
out=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-manifests.XXXXXX")
trap 'rm -rf "$out"' EXIT

"$TOLLGATE_KUBE_PYTHON" scripts/chart_readme.py --check "$chart"

"$TOLLGATE_HELM" lint --strict "$chart"
"$TOLLGATE_HELM" lint --strict "$chart" -f "$chart/ci/all-options-values.yaml"

template=("$TOLLGATE_HELM" template tollgate-operator "$chart" --namespace tollgate
  --kube-version "$TOLLGATE_SCHEMA_K8S_VERSION")
"${template[@]}" > "$out/default.yaml"
"${template[@]}" -f "$chart/ci/all-options-values.yaml" > "$out/all-options.yaml"
"${template[@]}" -f examples/production/operator-values.yaml > "$out/production.yaml"
# The template must fail loudly without the database Secret.
if "${template[@]}" --set database.existingSecret= >/dev/null 2>&1; then
  echo "helm template without database.existingSecret should fail" >&2
  exit 1
fi

# Schemas of our own CRDs, fresh from crds/ on every run.
"$TOLLGATE_KUBE_PYTHON" scripts/kube_schemas.py "$out/schemas" crds/*.yaml >/dev/null
manifests=("$out"/*.yaml crds/ "$chart/crds/")
while IFS= read -r -d '' file; do
  case "$file" in
    # A values file is not a resource.
    */operator-values.yaml) ;;
    *) manifests+=("$file") ;;
  esac
done < <(find examples -name '*.yaml' -print0 | sort -z)
"$TOLLGATE_KUBECONFORM" -strict -summary -output text \
  -schema-location "$out/schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
  -schema-location "$TOLLGATE_KUBE_SCHEMAS/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
  "${manifests[@]}"
