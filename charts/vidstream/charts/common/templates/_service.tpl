{{/*
The objects of a vidstream service (user, video, watch-history,
transcoder). Each service chart's templates include these, so the services
are deployed identically and differ only in values: which gRPC services
they call and are called by, whether they serve gRPC, their database,
Kafka, RabbitMQ and Redis, their extra environment.

Ports in Kubernetes: 8080 http (REST, /healthz, /readyz, /metrics) and 9090
grpc (the API, grpc.health.v1 and reflection), for a service that serves
gRPC (grpc.serve, true unless false: the transcoder serves none).
*/}}

{{/* common.service.names: every vidstream service, for the keys each signs its calls with. */}}
{{- define "common.service.names" -}}
{{- list "user" "video" "watch-history" "transcoder" | toJson -}}
{{- end -}}

{{/* common.service.servesGRPC: "true" unless grpc.serve is false. */}}
{{- define "common.service.servesGRPC" -}}
{{- if or (not (hasKey .Values.grpc "serve")) .Values.grpc.serve }}true{{ end -}}
{{- end -}}

{{/* common.service.usesDatabase: "true" unless database.enabled is false (the transcoder keeps no state). */}}
{{- define "common.service.usesDatabase" -}}
{{- if or (not (hasKey .Values.database "enabled")) .Values.database.enabled }}true{{ end -}}
{{- end -}}

{{/* common.service.usesRabbitMQ: "true" with rabbitmq.enabled (video enqueues transcode jobs, the transcoder consumes them). */}}
{{- define "common.service.usesRabbitMQ" -}}
{{- if (.Values.rabbitmq | default dict).enabled }}true{{ end -}}
{{- end -}}

{{/* common.service.usesRedis: "true" with redis.enabled (video's cache invalidations). */}}
{{- define "common.service.usesRedis" -}}
{{- if (.Values.redis | default dict).enabled }}true{{ end -}}
{{- end -}}

{{/* common.service.grpcTarget (dict "root" $ "chart" "user"): the gRPC target of a service: every ready pod, through the headless Service. */}}
{{- define "common.service.grpcTarget" -}}
{{- printf "dns:///%s-grpc.%s.svc.%s:9090" (include "common.nameOf" (dict "root" .root "chart" .chart)) .root.Release.Namespace (include "common.clusterDomain" .root) -}}
{{- end -}}

{{/* common.service.databaseSecret: the Secret with the service's DATABASE_URL. */}}
{{- define "common.service.databaseSecret" -}}
{{- .Values.database.existingSecret | default (printf "%s-%s" (include "common.nameOf" (dict "root" . "chart" "postgresql")) .Chart.Name) -}}
{{- end -}}

{{/*
common.service.configMap: the service's environment that is neither secret
nor per pod: listen addresses, peers, Kafka, OpenTelemetry, logging,
shutdown, and the chart's `env`. The Deployment rolls when it changes.
*/}}
{{- define "common.service.configMap" -}}
{{- $env := dict "HTTP_ADDR" ":8080" "OTEL_SERVICE_NAME" .Chart.Name
  "OTEL_METRICS_EXPORTER" "prometheus" "LOG_LEVEL" .Values.logLevel
  "SHUTDOWN_DRAIN_DELAY" .Values.shutdown.drainDelay "SHUTDOWN_TIMEOUT" .Values.shutdown.timeout -}}
{{- if include "common.service.servesGRPC" . -}}
{{- $_ := set $env "GRPC_ADDR" ":9090" -}}
{{- end -}}
{{- range .Values.grpc.calls -}}
{{- $_ := set $env (printf "%s_GRPC_ADDR" (. | upper | replace "-" "_")) (include "common.service.grpcTarget" (dict "root" $ "chart" .)) -}}
{{- end -}}
{{- if .Values.kafka.enabled -}}
{{- $_ := set $env "KAFKA_BROKERS" (include "common.kafkaBootstrapServers" .) -}}
{{- /* The services create missing topics themselves unless the topic operator manages them. */ -}}
{{- $_ := set $env "KAFKA_TOPICS_MANAGED" (toString (eq (include "common.topicOperator.enabled" .) "true")) -}}
{{- end -}}
{{- if include "common.tracingEnabled" . -}}
{{- $_ := set $env "OTEL_TRACES_EXPORTER" "otlp" -}}
{{- $_ := set $env "OTEL_EXPORTER_OTLP_ENDPOINT" (include "common.otlpEndpoint" .) -}}
{{- $_ := set $env "OTEL_EXPORTER_OTLP_PROTOCOL" "grpc" -}}
{{- $_ := set $env "OTEL_TRACES_SAMPLER" (((.Values.global).tracing).sampler | default "parentbased_traceidratio") -}}
{{- $_ := set $env "OTEL_TRACES_SAMPLER_ARG" (((.Values.global).tracing).samplerArg | default "1") -}}
{{- else -}}
{{- /* Spans keep real ids (trace_id in logs, context propagated to the next hop) but go nowhere. */ -}}
{{- $_ := set $env "OTEL_TRACES_EXPORTER" "none" -}}
{{- end -}}
{{- $_ := set $env "SERVICE_AUTH" "required" -}}
{{- $_ := set $env "SERVICE_KEY_FILE" (printf "/etc/vidstream/service-keys/%s.key" .Chart.Name) -}}
{{- $_ := set $env "SERVICE_PEERS_DIR" "/etc/vidstream/service-keys" -}}
{{- /* The chart's env comes last: it may override any of the above. */ -}}
{{- range $name, $value := .Values.env -}}
{{- $_ := set $env $name (toString $value) -}}
{{- end -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "common.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
data:
  {{- range $name, $value := $env }}
  {{ $name }}: {{ $value | quote }}
  {{- end }}
{{- end -}}

{{- define "common.service.deployment" -}}
{{- $fullname := include "common.fullname" . -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullname }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 3
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  selector:
    matchLabels:
      {{- include "common.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "common.labels" . | nindent 8 }}
        {{- with .Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        {{- /* Prometheus' conventional scrape annotations: /metrics is on the http port. */}}
        prometheus.io/scrape: "true"
        prometheus.io/port: "8080"
        prometheus.io/path: /metrics
        checksum/config: {{ include "common.service.configMap" . | sha256sum }}
        {{- with .Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ $fullname }}
      {{- include "common.podSpecCommon" . | nindent 6 }}
      terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
      {{- $waitDatabase := and (include "common.service.usesDatabase" .) .Values.database.wait.enabled (not .Values.database.existingSecret) }}
      {{- $waitBroker := and (include "common.service.usesRabbitMQ" .) (.Values.rabbitmq.wait | default dict).enabled (not (include "common.rabbitmqExternal" .)) }}
      {{- $waitTopics := include "common.service.waitsForTopics" (dict "global" .Values.global "values" .Values) }}
      {{- if or $waitDatabase $waitBroker $waitTopics }}
      initContainers:
      {{- end }}
      {{- if $waitDatabase }}
      {{- $host := printf "%s.%s.svc.%s" (include "common.nameOf" (dict "root" . "chart" "postgresql")) .Release.Namespace (include "common.clusterDomain" .) }}
      {{- /* The service exits when it cannot open its database at start: wait for the release's PostgreSQL to listen rather than crash-loop through its first minute. */}}
        - name: wait-for-database
          image: {{ .Values.database.wait.image | quote }}
          imagePullPolicy: IfNotPresent
          command:
            - sh
            - -c
            - until nc -z -w 2 {{ $host }} 5432; do echo "waiting for {{ $host }}:5432"; sleep 2; done
          resources:
            {{- toYaml .Values.test.resources | nindent 12 }}
          securityContext:
            {{- include "common.containerSecurityContext" . | nindent 12 }}
      {{- end }}
      {{- if $waitBroker }}
      {{- $host := include "common.rabbitmqHost" . }}
      {{- /* A consumer with nothing to consume: wait for the release's broker to listen rather than crash-loop while it boots. */}}
        - name: wait-for-rabbitmq
          image: {{ .Values.rabbitmq.wait.image | quote }}
          imagePullPolicy: IfNotPresent
          command:
            - sh
            - -c
            - until nc -z -w 2 {{ $host }} 5672; do echo "waiting for {{ $host }}:5672"; sleep 2; done
          resources:
            {{- toYaml .Values.test.resources | nindent 12 }}
          securityContext:
            {{- include "common.containerSecurityContext" . | nindent 12 }}
      {{- end }}
      {{- if $waitTopics }}
      {{- $wait := .Values.global.topicOperator.waitForTopics }}
      {{- /*
        The topic operator owns the topics (KAFKA_TOPICS_MANAGED=true): wait
        until the KafkaTopics of the topics this service produces to and
        consumes from are Ready, so that no consumer joins its group before
        its topic exists. `topic-operator wait` reads them with a token of
        the pod's service account, which only this container mounts: the
        pod's automountServiceAccountToken stays false, and the service
        itself never holds Kubernetes credentials.
      */}}
        - name: wait-for-topics
          image: {{ include "common.topicOperator.image" . | quote }}
          imagePullPolicy: {{ include "common.topicOperator.imagePullPolicy" . }}
          args:
            - wait
            - -timeout
            - {{ $wait.timeout | quote }}
            {{- range .Values.kafka.topics }}
            - {{ . | quote }}
            {{- end }}
          env:
            - name: POD_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            - name: GOMEMLIMIT
              valueFrom:
                resourceFieldRef:
                  resource: limits.memory
          resources:
            {{- toYaml $wait.resources | nindent 12 }}
          securityContext:
            {{- include "common.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: kube-api-access
              mountPath: /var/run/secrets/kubernetes.io/serviceaccount
              readOnly: true
      {{- end }}
      containers:
        - name: {{ .Chart.Name }}
          image: {{ include "common.image" . | quote }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          ports:
            - name: http
              containerPort: 8080
              protocol: TCP
            {{- if include "common.service.servesGRPC" . }}
            - name: grpc
              containerPort: 9090
              protocol: TCP
            {{- end }}
          envFrom:
            - configMapRef:
                name: {{ $fullname }}
          env:
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            - name: POD_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            {{- if include "common.service.usesDatabase" . }}
            - name: DATABASE_URL
              valueFrom:
                secretKeyRef:
                  name: {{ include "common.service.databaseSecret" . }}
                  key: {{ .Values.database.secretKey }}
            {{- end }}
            {{- if include "common.service.usesRabbitMQ" . }}
            - name: RABBITMQ_URL
              valueFrom:
                secretKeyRef:
                  name: {{ include "common.rabbitmqSecret" . }}
                  key: {{ include "common.rabbitmqSecretKey" . }}
            {{- end }}
            {{- if include "common.service.usesRedis" . }}
            {{- include "common.redisURLEnv" . | nindent 12 }}
            {{- end }}
            - name: OTEL_RESOURCE_ATTRIBUTES
              value: {{ printf "service.namespace=vidstream,service.version=%s,service.instance.id=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.name=$(POD_NAME),k8s.deployment.name=%s" (include "common.imageTag" .) $fullname | quote }}
            {{- /* The Go runtime collects harder as the heap nears the container's memory limit, instead of being killed at it. */}}
            - name: GOMEMLIMIT
              valueFrom:
                resourceFieldRef:
                  resource: limits.memory
          {{- if include "common.service.servesGRPC" . }}
          {{- /* The process is up: its gRPC health answers once migrations ran and both listeners are bound. */}}
          startupProbe:
            grpc:
              port: 9090
            periodSeconds: 2
            timeoutSeconds: 2
            failureThreshold: {{ .Values.probes.startupFailureThreshold }}
          {{- /* gRPC health turns NOT_SERVING only while the process shuts down, so a failing liveness probe means a wedged process. */}}
          livenessProbe:
            grpc:
              port: 9090
            periodSeconds: 10
            timeoutSeconds: 2
            failureThreshold: 3
          {{- else }}
          {{- /* No gRPC server: /healthz answers once the process serves, and fails only while it is wedged. */}}
          startupProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 2
            timeoutSeconds: 2
            failureThreshold: {{ .Values.probes.startupFailureThreshold }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 10
            timeoutSeconds: 2
            failureThreshold: 3
          {{- end }}
          {{- /* /readyz checks the service's dependencies too (its database): an instance that cannot reach them leaves the Services' endpoints. */}}
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            periodSeconds: 5
            timeoutSeconds: 2
            failureThreshold: 2
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          securityContext:
            {{- include "common.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            - name: service-keys
              mountPath: /etc/vidstream/service-keys
              readOnly: true
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- /* This service's private key and every service's certificate, from the release's generated Secret (templates/service-keys.yaml of the umbrella chart). */}}
        - name: service-keys
          secret:
            secretName: {{ include "common.nameOf" (dict "root" . "chart" "service-keys") }}
            # Readable by the non-root user the container runs as (no fsGroup);
            # the volume is this pod's alone.
            defaultMode: 0444
            items:
              - key: {{ .Chart.Name }}.key
                path: {{ .Chart.Name }}.key
              {{- range include "common.service.names" . | fromJsonArray }}
              - key: {{ . }}.crt
                path: {{ . }}.crt
              {{- end }}
        {{- if $waitTopics }}
        {{- /* What automountServiceAccountToken would mount, for the wait-for-topics container only. */}}
        - name: kube-api-access
          projected:
            sources:
              - serviceAccountToken:
                  path: token
                  expirationSeconds: 3607
              - configMap:
                  name: kube-root-ca.crt
                  items:
                    - key: ca.crt
                      path: ca.crt
              - downwardAPI:
                  items:
                    - path: namespace
                      fieldRef:
                        apiVersion: v1
                        fieldPath: metadata.namespace
        {{- end }}
{{- end -}}

{{/*
common.service.services: a ClusterIP Service for clients of either API, and
a headless one that gRPC clients resolve to every ready pod, so their
round_robin balancing spreads calls (a ClusterIP would pin each client
connection to one pod).
*/}}
{{- define "common.service.services" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "common.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "common.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: 8080
      targetPort: http
      protocol: TCP
      appProtocol: http
    {{- if include "common.service.servesGRPC" . }}
    - name: grpc
      port: 9090
      targetPort: grpc
      protocol: TCP
      appProtocol: kubernetes.io/h2c
    {{- end }}
{{- if include "common.service.servesGRPC" . }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ include "common.fullname" . }}-grpc
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  clusterIP: None
  selector:
    {{- include "common.selectorLabels" . | nindent 4 }}
  ports:
    - name: grpc
      port: 9090
      targetPort: grpc
      protocol: TCP
      appProtocol: kubernetes.io/h2c
{{- end }}
{{- end -}}

{{/*
common.service.networkPolicy: the flows of docs/architecture.md#transports for one service:
clients reach its REST API; the services that call it reach its gRPC API;
it reaches the gRPC APIs it calls, Kafka, PostgreSQL and the collector.
*/}}
{{- define "common.service.networkPolicy" -}}
{{- if include "common.networkPolicyEnabled" . }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "common.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "common.selectorLabels" . | nindent 6 }}
  policyTypes:
    - Ingress
    - Egress
  ingress:
    # REST clients (and Prometheus on /metrics).
    - ports:
        {{- include "common.tcpPortItems" (list 8080) | nindent 8 }}
      {{- with .Values.networkPolicy.httpFrom }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- with .Values.grpc.calledBy }}
    # The services that call this one over gRPC.
    - from:
        {{- range . }}
        {{- include "common.peer" (dict "root" $ "chart" .) | nindent 8 }}
        {{- end }}
      {{- include "common.tcpPorts" (list 9090) | nindent 6 }}
    {{- end }}
  egress:
    {{- with .Values.grpc.calls }}
    # The services this one calls over gRPC.
    - to:
        {{- range . }}
        {{- include "common.peer" (dict "root" $ "chart" .) | nindent 8 }}
        {{- end }}
      {{- include "common.tcpPorts" (list 9090) | nindent 6 }}
    {{- end }}
    {{- if .Values.kafka.enabled }}
    # Kafka: the outbox relay produces, the consumers consume.
    {{- include "common.kafkaEgress" . | trim | nindent 4 }}
    {{- end }}
    {{- if include "common.service.usesRabbitMQ" . }}
    # RabbitMQ: the transcode work queue.
    {{- include "common.rabbitmqEgress" . | trim | nindent 4 }}
    {{- end }}
    {{- if include "common.service.usesRedis" . }}
    # Redis: cache invalidations (Pub/Sub).
    {{- include "common.redisEgress" . | trim | nindent 4 }}
    {{- end }}
    {{- if not (include "common.service.usesDatabase" .) }}
    {{- else if .Values.database.existingSecret }}
    # PostgreSQL: the service's own database.
    - ports:
        {{- include "common.tcpPortItems" (list .Values.database.port) | nindent 8 }}
      {{- include "common.externalPeers" (dict "root" . "indent" 6) }}
    {{- else }}
    # PostgreSQL: the service's own database.
    - to:
        {{- include "common.peer" (dict "root" . "chart" "postgresql") | nindent 8 }}
      {{- include "common.tcpPorts" (list 5432) | nindent 6 }}
    {{- end }}
    {{- if include "common.tracingEnabled" . }}
    # Traces, over OTLP/gRPC.
    {{- include "common.otlpEgress" . | trim | nindent 4 }}
    {{- end }}
    {{- if include "common.service.waitsForTopics" (dict "global" .Values.global "values" .Values) }}
    # The Kubernetes API server, for the wait-for-topics init container.
    {{- include "common.apiServerEgress" . | nindent 4 }}
    {{- end }}
{{- end }}
{{- end -}}

{{/* common.service.hpa: an optional HorizontalPodAutoscaler on CPU. */}}
{{- define "common.service.hpa" -}}
{{- if .Values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "common.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "common.fullname" . }}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .Values.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- end -}}

{{/*
common.service.test: the `helm test` pod of a service: its readiness, as
the kubelet sees it, through the Service. Its name and labels are its own,
so the service's Services never select it.
*/}}
{{- define "common.service.test" -}}
{{- $name := printf "%s-test" .Chart.Name -}}
apiVersion: v1
kind: Pod
metadata:
  name: {{ include "common.fullname" . }}-test
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "common.labelsOf" (dict "root" . "name" $name "component" "test") | nindent 4 }}
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- include "common.imagePullSecrets" . | nindent 2 }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65534
    runAsGroup: 65534
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: readyz
      image: {{ .Values.test.image | quote }}
      imagePullPolicy: IfNotPresent
      command:
        - wget
        - -q
        - -O-
        - -T
        - "5"
        - http://{{ include "common.fullname" . }}.{{ .Release.Namespace }}.svc.{{ include "common.clusterDomain" . }}:8080/readyz
      resources:
        {{- toYaml .Values.test.resources | nindent 8 }}
      securityContext:
        {{- include "common.containerSecurityContext" . | nindent 8 }}
{{- end -}}

{{/* common.service.testNetworkPolicy: lets the test pod (and only it) reach the service's REST port. */}}
{{- define "common.service.testNetworkPolicy" -}}
{{- if include "common.networkPolicyEnabled" . }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "common.fullname" . }}-test
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "common.labelsOf" (dict "root" . "name" (printf "%s-test" .Chart.Name) "component" "test") | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "common.selectorLabelsOf" (dict "root" . "chart" (printf "%s-test" .Chart.Name)) | nindent 6 }}
  policyTypes:
    - Ingress
    - Egress
  egress:
    - to:
        {{- include "common.peer" (dict "root" . "chart" .Chart.Name) | nindent 8 }}
      {{- include "common.tcpPorts" (list 8080) | nindent 6 }}
{{- end }}
{{- end -}}
