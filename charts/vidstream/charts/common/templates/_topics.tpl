{{/*
The topic operator, as the other charts see it. Its settings the services
need too live in global.topicOperator: whether it runs (the services then
leave topics to it, KAFKA_TOPICS_MANAGED=true), its image (the services'
wait-for-topics init containers run it) and the wait's settings.
*/}}

{{/* common.topicOperator.enabled: "true" when global.topicOperator.enabled (a chart rendered alone has no operator). */}}
{{- define "common.topicOperator.enabled" -}}
{{- if ((.Values.global | default dict).topicOperator | default dict).enabled }}true{{ end -}}
{{- end -}}

{{/*
common.topicOperator.image: "[registry/]vidstream/topic-operator:tag[@digest]"
from global.topicOperator.image. The tag defaults to the chart's appVersion,
which every vidstream chart shares. global.imageRegistry prefixes it: this
project builds it.
*/}}
{{- define "common.topicOperator.image" -}}
{{- $g := .Values.global | default dict -}}
{{- $img := ($g.topicOperator | default dict).image | default dict -}}
{{- $repo := $img.repository | default "vidstream/topic-operator" -}}
{{- with $g.imageRegistry }}{{ $repo = printf "%s/%s" (trimSuffix "/" .) $repo }}{{ end -}}
{{- $ref := printf "%s:%s" $repo ($img.tag | default .Chart.AppVersion) -}}
{{- with $img.digest }}{{ $ref = printf "%s@%s" $ref . }}{{ end -}}
{{- $ref -}}
{{- end -}}

{{/* common.topicOperator.imagePullPolicy: global.topicOperator.image.pullPolicy, IfNotPresent by default. */}}
{{- define "common.topicOperator.imagePullPolicy" -}}
{{- ((((.Values.global | default dict).topicOperator | default dict).image | default dict).pullPolicy | default "IfNotPresent") -}}
{{- end -}}

{{/*
common.service.waitsForTopics (dict "global" .Values.global "values" .Values):
"true" when a service waits for its KafkaTopics to be Ready before it starts:
the operator runs, global.topicOperator.waitForTopics.enabled, and the
service uses Kafka and lists topics (kafka.topics). The umbrella calls it
with a service's values to bind the service's account to the reader Role.
*/}}
{{- define "common.service.waitsForTopics" -}}
{{- $op := (.global | default dict).topicOperator | default dict -}}
{{- $wait := $op.waitForTopics | default dict -}}
{{- if and $op.enabled $wait.enabled .values.kafka.enabled .values.kafka.topics }}true{{ end -}}
{{- end -}}
