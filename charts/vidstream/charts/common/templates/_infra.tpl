{{/*
Where the services find the infrastructure: the parts the release installs,
unless global values point at existing ones.
*/}}

{{/* common.kafkaExternal: "true" when global.kafka.bootstrapServers names an existing Kafka. */}}
{{- define "common.kafkaExternal" -}}
{{- if ((.Values.global | default dict).kafka | default dict).bootstrapServers }}true{{ end -}}
{{- end -}}

{{/* common.kafkaBootstrapServers: "host:port,..." of the Kafka the services use. */}}
{{- define "common.kafkaBootstrapServers" -}}
{{- $external := ((.Values.global | default dict).kafka | default dict).bootstrapServers -}}
{{- if $external -}}
{{- $external -}}
{{- else -}}
{{- printf "%s.%s.svc.%s:9092" (include "common.nameOf" (dict "root" . "chart" "kafka")) .Release.Namespace (include "common.clusterDomain" .) -}}
{{- end -}}
{{- end -}}

{{/* common.tracingEnabled: "true" unless global.tracing.enabled is false. */}}
{{- define "common.tracingEnabled" -}}
{{- $t := (.Values.global | default dict).tracing | default dict -}}
{{- if or (not (hasKey $t "enabled")) $t.enabled }}true{{ end -}}
{{- end -}}

{{/* common.otlpExternal: "true" when global.otlp.endpoint names an existing OTLP endpoint. */}}
{{- define "common.otlpExternal" -}}
{{- if ((.Values.global | default dict).otlp | default dict).endpoint }}true{{ end -}}
{{- end -}}

{{/* common.otlpEndpoint: the OTLP/gRPC endpoint the services export traces to. */}}
{{- define "common.otlpEndpoint" -}}
{{- $external := ((.Values.global | default dict).otlp | default dict).endpoint -}}
{{- if $external -}}
{{- $external -}}
{{- else -}}
{{- printf "http://%s.%s.svc.%s:4317" (include "common.nameOf" (dict "root" . "chart" "otel-collector")) .Release.Namespace (include "common.clusterDomain" .) -}}
{{- end -}}
{{- end -}}
