{{/* kafka.headless: the headless Service that names the broker pod. */}}
{{- define "kafka.headless" -}}
{{ include "common.fullname" . }}-headless
{{- end -}}

{{/*
kafka.clusterId: .Values.clusterId, or 16 bytes derived from the namespace
and release name, base64url without padding (what kafka-storage.sh
random-uuid prints), so that upgrades keep the id the storage was formatted with.
*/}}
{{- define "kafka.clusterId" -}}
{{- if .Values.clusterId -}}
{{- .Values.clusterId -}}
{{- else -}}
{{- printf "%s/%s" .Release.Namespace .Release.Name | sha256sum | substr 0 16 | b64enc | trimSuffix "==" | replace "+" "-" | replace "/" "_" -}}
{{- end -}}
{{- end -}}
