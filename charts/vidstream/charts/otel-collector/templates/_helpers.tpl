{{/* otelcol.exportEndpoint: host:port traces are exported to. */}}
{{- define "otelcol.exportEndpoint" -}}
{{- .Values.exporter.endpoint | default (printf "%s.%s.svc.%s:4317" (include "common.nameOf" (dict "root" . "chart" "jaeger")) .Release.Namespace (include "common.clusterDomain" .)) -}}
{{- end -}}
