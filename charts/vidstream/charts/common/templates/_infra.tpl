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

{{/*
RabbitMQ (the transcode work queue) and Redis (the cache invalidations):
the release's, or existing ones named by global.rabbitmq.existingSecret
(a Secret holding the AMQP URL, credentials included) and global.redis.url
or global.redis.existingSecret.
*/}}

{{/* common.rabbitmqExternal: "true" when global.rabbitmq.existingSecret names an existing broker's URL. */}}
{{- define "common.rabbitmqExternal" -}}
{{- if ((.Values.global | default dict).rabbitmq | default dict).existingSecret }}true{{ end -}}
{{- end -}}

{{/* common.rabbitmqSecret: the Secret holding RABBITMQ_URL: the existing broker's, or the release's. */}}
{{- define "common.rabbitmqSecret" -}}
{{- ((.Values.global | default dict).rabbitmq | default dict).existingSecret | default (include "common.nameOf" (dict "root" . "chart" "rabbitmq")) -}}
{{- end -}}

{{/* common.rabbitmqSecretKey: the key of the AMQP URL in that Secret. */}}
{{- define "common.rabbitmqSecretKey" -}}
{{- if include "common.rabbitmqExternal" . -}}
{{- ((.Values.global | default dict).rabbitmq | default dict).secretKey | default "url" -}}
{{- else -}}
url
{{- end -}}
{{- end -}}

{{/* common.rabbitmqHost: the release's broker's Service. */}}
{{- define "common.rabbitmqHost" -}}
{{- printf "%s.%s.svc.%s" (include "common.nameOf" (dict "root" . "chart" "rabbitmq")) .Release.Namespace (include "common.clusterDomain" .) -}}
{{- end -}}

{{/* common.redisExternal: "true" when global.redis.url or global.redis.existingSecret names an existing server. */}}
{{- define "common.redisExternal" -}}
{{- $r := (.Values.global | default dict).redis | default dict -}}
{{- if or $r.url $r.existingSecret }}true{{ end -}}
{{- end -}}

{{/* common.redisHost: the release's Redis Service. */}}
{{- define "common.redisHost" -}}
{{- printf "%s.%s.svc.%s" (include "common.nameOf" (dict "root" . "chart" "redis")) .Release.Namespace (include "common.clusterDomain" .) -}}
{{- end -}}

{{/*
common.redisURLEnv: the REDIS_URL entry of a container's env: the value of
global.redis.url, or a reference to the Secret holding it (the release's,
whose URL carries its generated password, or global.redis.existingSecret).
*/}}
{{- define "common.redisURLEnv" -}}
{{- $r := (.Values.global | default dict).redis | default dict -}}
- name: REDIS_URL
{{- if $r.url }}
  value: {{ $r.url | quote }}
{{- else }}
  valueFrom:
    secretKeyRef:
      name: {{ $r.existingSecret | default (include "common.nameOf" (dict "root" . "chart" "redis")) }}
      key: {{ if $r.existingSecret }}{{ $r.secretKey | default "url" }}{{ else }}url{{ end }}
{{- end }}
{{- end -}}

{{/*
common.generatedSecret (dict "root" $ "name" "<secret>" "key" "password"):
the value the live Secret already holds, or a new random one. Helm renders
Secrets anew on every upgrade; looking the live one up keeps a generated
password stable (a broker's user database was initialised with it, and
running clients hold it). `helm template` cannot look anything up and
always generates.
*/}}
{{- define "common.generatedSecret" -}}
{{- $live := lookup "v1" "Secret" .root.Release.Namespace .name -}}
{{- if and $live $live.data (hasKey $live.data .key) -}}
{{- index $live.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}
