{{/*
Names and labels. Every object is named "<release>-<chart>" (a chart's own
extra objects add a suffix). Names are deliberately not overridable: the
services find each other, Kafka, PostgreSQL and the collector by these names,
and NetworkPolicies select pods by these labels.
*/}}

{{/* common.fullname: "<release>-<chart>", at most 63 characters. */}}
{{- define "common.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* common.nameOf (dict "root" $ "chart" "kafka"): the fullname another chart of the release gives its objects. */}}
{{- define "common.nameOf" -}}
{{- printf "%s-%s" .root.Release.Name .chart | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* common.chart: "<chart>-<version>" for the helm.sh/chart label. */}}
{{- define "common.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* common.selectorLabels: the labels that select a chart's pods; never change them on upgrade. */}}
{{- define "common.selectorLabels" -}}
{{ include "common.selectorLabelsOf" (dict "root" . "chart" .Chart.Name) }}
{{- end -}}

{{/*
common.selectorLabelsOf (dict "root" $ "chart" "user"): the selector labels
of the pods of a chart of the release (or of a chart's job or test pods,
which take a name of their own so that no Service or policy of the chart
selects them by accident).
*/}}
{{- define "common.selectorLabelsOf" -}}
app.kubernetes.io/name: {{ .chart }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* common.labels: the recommended labels, on every object of a chart. */}}
{{- define "common.labels" -}}
{{ include "common.labelsOf" (dict "root" . "name" .Chart.Name) }}
{{- end -}}

{{/*
common.labelsOf (dict "root" $ "name" "user-test" ["component" "test"]):
the recommended labels for objects of a chart that are not its main
workload. The component defaults to the chart's role.
*/}}
{{- define "common.labelsOf" -}}
{{- $root := .root -}}
{{- $roles := dict "kafka" "broker" "postgresql" "database" "otel-collector" "collector" "jaeger" "tracing" "topic-operator" "operator" "rabbitmq" "queue" "redis" "pubsub" "transcoder" "worker" -}}
helm.sh/chart: {{ include "common.chart" $root }}
{{ include "common.selectorLabelsOf" (dict "root" $root "chart" .name) }}
app.kubernetes.io/version: {{ include "common.imageTag" $root | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: {{ .component | default (get $roles $root.Chart.Name) | default "server" }}
app.kubernetes.io/part-of: vidstream
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
{{- end -}}

{{/* common.imageTag: the image tag, defaulting to the chart's appVersion. */}}
{{- define "common.imageTag" -}}
{{- (.Values.image | default dict).tag | default .Chart.AppVersion -}}
{{- end -}}

{{/*
common.image: "[registry/]repository:tag[@digest]". global.imageRegistry
prefixes the images this project builds (image.local: true), not the
third-party ones, which keep their own repository.
*/}}
{{- define "common.image" -}}
{{- $repo := .Values.image.repository -}}
{{- $registry := "" -}}
{{- if and .Values.image.local .Values.global .Values.global.imageRegistry -}}
{{- $registry = .Values.global.imageRegistry -}}
{{- end -}}
{{- if $registry -}}
{{- $repo = printf "%s/%s" (trimSuffix "/" $registry) $repo -}}
{{- end -}}
{{- $ref := printf "%s:%s" $repo (include "common.imageTag" .) -}}
{{- if .Values.image.digest -}}
{{- $ref = printf "%s@%s" $ref .Values.image.digest -}}
{{- end -}}
{{- $ref -}}
{{- end -}}

{{/* common.imagePullSecrets: the chart's and global pull secrets, if any. */}}
{{- define "common.imagePullSecrets" -}}
{{- $secrets := concat (.Values.imagePullSecrets | default list) ((.Values.global).imagePullSecrets | default list) | uniq -}}
{{- if $secrets }}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ . }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* common.clusterDomain: the DNS suffix of Services. */}}
{{- define "common.clusterDomain" -}}
{{- (.Values.global).clusterDomain | default "cluster.local" -}}
{{- end -}}
