{{/* Chart name, overridable. */}}
{{- define "tollgate-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of every resource: the release name, plus the chart name unless the release already holds it. */}}
{{- define "tollgate-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tollgate-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tollgate-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tollgate-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tollgate-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: tollgate
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tollgate-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tollgate-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tollgate-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The platform namespace: platformNamespace, else watchNamespace, else the release namespace. */}}
{{- define "tollgate-operator.platformNamespace" -}}
{{- .Values.platformNamespace | default .Values.watchNamespace | default .Release.Namespace }}
{{- end }}

{{/*
Rights on the tenant kinds, wherever they are watched (a ClusterRole for all
namespaces, else a Role): read them, set finalizers and status, record
Events. Nothing that reads Secrets or writes workloads.
*/}}
{{- define "tollgate-operator.watchRules" -}}
- apiGroups: ["tollgate.dev"]
  resources: ["environments", "contactcenters", "oauthclients"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["tollgate.dev"]
  resources: ["environments/status", "contactcenters/status", "oauthclients/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["tollgate.dev"]
  resources: ["environments/finalizers", "contactcenters/finalizers", "oauthclients/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/*
Rights in the platform namespace only: the platform resource and every
workload, Secret and Service it deploys.
*/}}
{{- define "tollgate-operator.platformRules" -}}
- apiGroups: ["tollgate.dev"]
  resources: ["tollgates"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["tollgate.dev"]
  resources: ["tollgates/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["tollgate.dev"]
  resources: ["tollgates/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["secrets", "configmaps", "services"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies", "ingresses"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
{{- end }}

{{/*
Rights in a tenant namespace: read the Secrets and ConfigMaps its resources
reference, by name (get, never list or watch), and create the Secret of a
generated client secret. RBAC cannot narrow a verb by label, so the
namespaces are listed instead.
*/}}
{{- define "tollgate-operator.tenantRules" -}}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "create"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get"]
{{- end }}
