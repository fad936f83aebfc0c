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
{{- $operator := (index .Values "topic-operator").enabled -}}
{{- if and (not .Values.kafka.enabled) (not $g.kafka.bootstrapServers) (or $kafkaUsers $operator) -}}
{{- fail "kafka.enabled=false: set global.kafka.bootstrapServers to the existing Kafka (host:port,...)" -}}
{{- end -}}
{{- if ne $operator $g.topicOperator.enabled -}}
{{- fail (printf "topic-operator.enabled=%v but global.topicOperator.enabled=%v: set both (the services read the global one, to leave their topics to the operator or create them themselves)" $operator $g.topicOperator.enabled) -}}
{{- end -}}
{{- if $operator -}}
{{- $declared := include "vidstream.topicNames" . | fromJsonArray -}}
{{- range $kafkaUsers -}}
{{- $svc := . -}}
{{- range (index $.Values $svc).kafka.topics -}}
{{- if not (has . $declared) -}}
{{- fail (printf "%s.kafka.topics names %s, which the release does not declare (topics.names, topics.deadLetter): the topic operator would never create it and %s would wait for it forever" $svc . $svc) -}}
{{- end -}}
{{- end -}}
{{- end -}}
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

{{/* vidstream.topicNames: the topics the release declares (topics.names, and their .dlq with topics.deadLetter), as JSON. */}}
{{- define "vidstream.topicNames" -}}
{{- $topics := list -}}
{{- range .Values.topics.names -}}
{{- $topics = append $topics . -}}
{{- if $.Values.topics.deadLetter }}{{ $topics = append $topics (printf "%s.dlq" .) }}{{ end -}}
{{- end -}}
{{- $topics | toJson -}}
{{- end -}}

{{/* vidstream.topicWaiters: the services that wait for their KafkaTopics (common.service.waitsForTopics), as JSON. */}}
{{- define "vidstream.topicWaiters" -}}
{{- $waiters := list -}}
{{- range list "user" "video" "watch-history" -}}
{{- $v := index $.Values . -}}
{{- if and $v.enabled (include "common.service.waitsForTopics" (dict "global" $.Values.global "values" $v)) -}}
{{- $waiters = append $waiters . -}}
{{- end -}}
{{- end -}}
{{- $waiters | toJson -}}
{{- end -}}
