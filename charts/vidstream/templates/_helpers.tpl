{{/*
vidstream.validate: refuses combinations that would deploy a release that
cannot work, naming the value to set.
*/}}
{{- define "vidstream.validate" -}}
{{- $g := .Values.global -}}
{{- $services := list "user" "video" "watch-history" -}}
{{- $kafkaUsers := list -}}
{{- range $services -}}
{{- $v := index $.Values . -}}
{{- if and $v.enabled $v.kafka.enabled }}{{ $kafkaUsers = append $kafkaUsers . }}{{ end -}}
{{- end -}}
{{- if and .Values.kafka.enabled $g.kafka.bootstrapServers -}}
{{- fail "global.kafka.bootstrapServers names an existing Kafka: set kafka.enabled=false too (or clear it to use the release's)" -}}
{{- end -}}
{{- if and (not .Values.kafka.enabled) (not $g.kafka.bootstrapServers) (or $kafkaUsers .Values.topics.create) -}}
{{- fail "kafka.enabled=false: set global.kafka.bootstrapServers to the existing Kafka (host:port,...)" -}}
{{- end -}}
{{- if not .Values.postgresql.enabled -}}
{{- range $services -}}
{{- $v := index $.Values . -}}
{{- if and $v.enabled (not $v.database.existingSecret) -}}
{{- fail (printf "postgresql.enabled=false: set %s.database.existingSecret to a Secret holding the service's DATABASE_URL (key %q)" . $v.database.secretKey) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $g.tracing.enabled -}}
{{- $collector := index .Values "otel-collector" -}}
{{- if and $collector.enabled $g.otlp.endpoint -}}
{{- fail "global.otlp.endpoint sends traces past the release's collector: set otel-collector.enabled=false too (or clear it)" -}}
{{- end -}}
{{- if and (not $collector.enabled) (not $g.otlp.endpoint) -}}
{{- fail "otel-collector.enabled=false: set global.otlp.endpoint to an OTLP/gRPC endpoint (or global.tracing.enabled=false)" -}}
{{- end -}}
{{- if and $collector.enabled (not .Values.jaeger.enabled) (not $collector.exporter.endpoint) -}}
{{- fail "jaeger.enabled=false: set otel-collector.exporter.endpoint to the trace backend's OTLP/gRPC host:port" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* vidstream.kafkaBootstrapServers: the Kafka the release's clients use. */}}
{{- define "vidstream.kafkaBootstrapServers" -}}
{{- include "common.kafkaBootstrapServers" . -}}
{{- end -}}
