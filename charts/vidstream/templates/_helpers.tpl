{{/*
vidstream.validate: refuses combinations that would deploy a release that
cannot work, naming the value to set.
*/}}
{{- define "vidstream.validate" -}}
{{- $g := .Values.global -}}
{{- $services := list "user" "video" "watch-history" "transcoder" -}}
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
{{- $usesDatabase := or (not (hasKey $v.database "enabled")) $v.database.enabled -}}
{{- if and $v.enabled $usesDatabase (not $v.database.existingSecret) -}}
{{- fail (printf "postgresql.enabled=false: set %s.database.existingSecret to a Secret holding the service's DATABASE_URL (key %q)" . $v.database.secretKey) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $video := .Values.video -}}
{{- $transcoder := .Values.transcoder -}}
{{- $queueUsers := list -}}
{{- if and $video.enabled $video.rabbitmq.enabled }}{{ $queueUsers = append $queueUsers "video" }}{{ end -}}
{{- if and $transcoder.enabled $transcoder.rabbitmq.enabled }}{{ $queueUsers = append $queueUsers "transcoder" }}{{ end -}}
{{- $rabbitmqExternal := ($g.rabbitmq | default dict).existingSecret -}}
{{- if and .Values.rabbitmq.enabled $rabbitmqExternal -}}
{{- fail "global.rabbitmq.existingSecret names an existing broker: set rabbitmq.enabled=false too (or clear it to use the release's)" -}}
{{- end -}}
{{- if and (not .Values.rabbitmq.enabled) (not $rabbitmqExternal) $queueUsers -}}
{{- fail (printf "rabbitmq.enabled=false: set global.rabbitmq.existingSecret to a Secret holding the AMQP URL of the existing broker (or %s.rabbitmq.enabled=false)" (first $queueUsers)) -}}
{{- end -}}
{{- if and $video.enabled $video.rabbitmq.enabled (not (and $transcoder.enabled $transcoder.rabbitmq.enabled)) -}}
{{- fail "video.rabbitmq.enabled without the transcoder: every new video would wait in \"processing\" for a consumer that never comes; set video.rabbitmq.enabled=false too (new videos are then ready at once), or transcoder.enabled=true" -}}
{{- end -}}
{{- $redisExternal := or ($g.redis | default dict).url ($g.redis | default dict).existingSecret -}}
{{- if and .Values.redis.enabled $redisExternal -}}
{{- fail "global.redis names an existing server: set redis.enabled=false too (or clear global.redis.url and .existingSecret to use the release's)" -}}
{{- end -}}
{{- if and (not .Values.redis.enabled) (not $redisExternal) $video.enabled $video.redis.enabled -}}
{{- fail "redis.enabled=false: set global.redis.url (or global.redis.existingSecret) to the existing server, or video.redis.enabled=false (no read cache)" -}}
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
{{- range list "user" "video" "watch-history" "transcoder" -}}
{{- $v := index $.Values . -}}
{{- if and $v.enabled (include "common.service.waitsForTopics" (dict "global" $.Values.global "values" $v)) -}}
{{- $waiters = append $waiters . -}}
{{- end -}}
{{- end -}}
{{- $waiters | toJson -}}
{{- end -}}
