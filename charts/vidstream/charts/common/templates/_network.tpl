{{/*
NetworkPolicy building blocks. The umbrella chart denies all traffic to and
from the release's pods and allows DNS; each chart then allows exactly the
flows of its component. Peers inside the release are selected by pod
labels; an external endpoint (global.kafka.bootstrapServers, an external
database, global.otlp.endpoint) is reached on its port, at the addresses
global.networkPolicy.externalEgressTo lists (anywhere when empty).
*/}}

{{/* common.networkPolicyEnabled: "true" unless global.networkPolicy.enabled is false. */}}
{{- define "common.networkPolicyEnabled" -}}
{{- $np := (.Values.global | default dict).networkPolicy | default dict -}}
{{- if hasKey $np "enabled" }}{{ $np.enabled }}{{ else }}true{{ end -}}
{{- end -}}

{{/* common.peer (dict "root" $ "chart" "kafka"): a "from"/"to" peer selecting a chart's pods. */}}
{{- define "common.peer" -}}
- podSelector:
    matchLabels:
      {{- include "common.selectorLabelsOf" . | nindent 6 }}
{{- end -}}

{{/*
common.externalPeers (dict "root" $ "indent" 6): the "to" peers of an
external endpoint, indented; nothing (anywhere) when none are configured.
*/}}
{{- define "common.externalPeers" -}}
{{- $np := (.root.Values.global | default dict).networkPolicy | default dict -}}
{{- with $np.externalEgressTo -}}
{{- printf "to:\n%s" (toYaml . | indent 2) | nindent $.indent -}}
{{- end -}}
{{- end -}}

{{/* common.tcpPorts (list 9092 9093): a NetworkPolicy "ports" list. */}}
{{- define "common.tcpPorts" -}}
ports:
{{- range . }}
  - protocol: TCP
    port: {{ . }}
{{- end }}
{{- end -}}

{{/* common.tcpPortItems (list 9092 9093): the items of a NetworkPolicy "ports" list. */}}
{{- define "common.tcpPortItems" -}}
{{- range $i, $port := . -}}
{{- if $i }}{{ "\n" }}{{ end -}}
- protocol: TCP
  port: {{ $port }}
{{- end -}}
{{- end -}}

{{/* common.portsOfHostPorts "a:9092,b:9093": the distinct ports of a host:port list, as JSON. */}}
{{- define "common.portsOfHostPorts" -}}
{{- $ports := list -}}
{{- range splitList "," . -}}
{{- $p := regexFind "[0-9]+$" (trim .) -}}
{{- if not $p }}{{ fail (printf "%q has no port (want host:port)" (trim .)) }}{{ end -}}
{{- $ports = append $ports ($p | int) -}}
{{- end -}}
{{- $ports | uniq | toJson -}}
{{- end -}}

{{/* common.portOfURL "http://otel:4317": the URL's port, or the scheme's default. */}}
{{- define "common.portOfURL" -}}
{{- $u := urlParse . -}}
{{- $p := regexFind ":[0-9]+$" $u.host | trimPrefix ":" -}}
{{- if $p }}{{ $p }}{{ else if eq $u.scheme "https" }}443{{ else }}80{{ end -}}
{{- end -}}

{{/*
common.apiServerEgress: an egress rule to the
Kubernetes API server, for the topic operator and the services'
wait-for-topics init containers. The API server is not a pod of the
cluster network that a pod or namespace selector could name (it runs on the
control-plane hosts, or outside the cluster altogether), so the rule allows
ports 443 (the kubernetes Service) and 6443 (the API server itself: most
CNIs apply policies after the Service address is translated) to the peers
global.networkPolicy.apiServerTo lists, typically an ipBlock of the API
server's addresses; any address when it is empty.
*/}}
{{- define "common.apiServerEgress" -}}
{{- $np := (.Values.global | default dict).networkPolicy | default dict -}}
- ports:
    {{- include "common.tcpPortItems" (list 443 6443) | nindent 4 }}
  {{- with $np.apiServerTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* common.kafkaEgress: the egress rule to the Kafka the release uses (its broker, or the bootstrap servers' ports). */}}
{{- define "common.kafkaEgress" -}}
{{- if include "common.kafkaExternal" . }}
- ports:
    {{- include "common.tcpPortItems" (include "common.portsOfHostPorts" (include "common.kafkaBootstrapServers" .) | fromJsonArray) | nindent 4 }}
  {{- include "common.externalPeers" (dict "root" . "indent" 2) }}
{{- else }}
- to:
    {{- include "common.peer" (dict "root" . "chart" "kafka") | nindent 4 }}
  {{- include "common.tcpPorts" (list 9092) | nindent 2 }}
{{- end }}
{{- end -}}

{{/* common.otlpEgress: the egress rule to the OTLP/gRPC endpoint traces go to (the collector, or the endpoint's port). */}}
{{- define "common.otlpEgress" -}}
{{- if include "common.otlpExternal" . }}
- ports:
    {{- include "common.tcpPortItems" (list (include "common.portOfURL" (include "common.otlpEndpoint" .))) | nindent 4 }}
  {{- include "common.externalPeers" (dict "root" . "indent" 2) }}
{{- else }}
- to:
    {{- include "common.peer" (dict "root" . "chart" "otel-collector") | nindent 4 }}
  {{- include "common.tcpPorts" (list 4317) | nindent 2 }}
{{- end }}
{{- end -}}

{{/* common.rabbitmqEgress: the egress rule to the AMQP broker (the release's, or the existing one's port). */}}
{{- define "common.rabbitmqEgress" -}}
{{- if include "common.rabbitmqExternal" . }}
- ports:
    {{- include "common.tcpPortItems" (list (((.Values.global | default dict).rabbitmq | default dict).port | default 5672)) | nindent 4 }}
  {{- include "common.externalPeers" (dict "root" . "indent" 2) }}
{{- else }}
- to:
    {{- include "common.peer" (dict "root" . "chart" "rabbitmq") | nindent 4 }}
  {{- include "common.tcpPorts" (list 5672) | nindent 2 }}
{{- end }}
{{- end -}}

{{/* common.redisEgress: the egress rule to Redis (the release's, or the existing server's port). */}}
{{- define "common.redisEgress" -}}
{{- $r := (.Values.global | default dict).redis | default dict -}}
{{- if include "common.redisExternal" . }}
{{- $port := $r.port | default 6379 -}}
{{- if $r.url }}{{ $port = regexFind ":[0-9]+$" (urlParse $r.url).host | trimPrefix ":" | default "6379" }}{{ end }}
- ports:
    {{- include "common.tcpPortItems" (list $port) | nindent 4 }}
  {{- include "common.externalPeers" (dict "root" . "indent" 2) }}
{{- else }}
- to:
    {{- include "common.peer" (dict "root" . "chart" "redis") | nindent 4 }}
  {{- include "common.tcpPorts" (list 6379) | nindent 2 }}
{{- end }}
{{- end -}}
