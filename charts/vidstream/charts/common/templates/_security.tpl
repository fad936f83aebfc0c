{{/*
The restricted Pod Security Standard, applied to every workload: non-root,
no privilege escalation, no capabilities, the runtime's default seccomp
profile and a read-only root filesystem (anything that must write gets an
emptyDir or a volume). Only the user and group ids come from values; the
rest is not configurable on purpose.
*/}}

{{/* common.podSecurityContext: the pod-level security context. */}}
{{- define "common.podSecurityContext" -}}
{{- $sc := .Values.securityContext | default dict -}}
runAsNonRoot: true
{{- with $sc.runAsUser }}
runAsUser: {{ . }}
{{- end }}
{{- with $sc.runAsGroup }}
runAsGroup: {{ . }}
{{- end }}
{{- with $sc.fsGroup }}
fsGroup: {{ . }}
fsGroupChangePolicy: OnRootMismatch
{{- end }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* common.containerSecurityContext: the container-level security context. */}}
{{- define "common.containerSecurityContext" -}}
runAsNonRoot: true
privileged: false
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
common.podSpecCommon: what every pod spec of the release starts with. Only
the topic operator talks to the Kubernetes API with its pod's identity, so
no other pod gets a service account token (the services' wait-for-topics
init containers mount one of their own, see common.service.deployment), and
service links (one set of environment variables per Service of the
namespace) are off.
*/}}
{{- define "common.podSpecCommon" -}}
{{- include "common.podSpecCommonOf" (dict "root" . "automountToken" false) }}
{{- end -}}

{{/*
common.podSpecCommonOf (dict "root" $ "automountToken" true): common.podSpecCommon
for the one pod that needs its service account token (the topic operator).
*/}}
{{- define "common.podSpecCommonOf" -}}
{{- $root := .root -}}
automountServiceAccountToken: {{ .automountToken }}
{{- with $root }}
enableServiceLinks: false
{{- include "common.imagePullSecrets" . }}
securityContext:
  {{- include "common.podSecurityContext" . | nindent 2 }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- tpl (toYaml .) $root | nindent 2 }}
{{- end }}
{{- end }}
{{- end -}}

{{/* common.serviceAccount: a ServiceAccount of the chart's own, without an API token. */}}
{{- define "common.serviceAccount" -}}
{{- include "common.serviceAccountOf" (dict "root" . "automountToken" false) }}
{{- end -}}

{{/* common.serviceAccountOf (dict "root" $ "automountToken" true): common.serviceAccount, for the topic operator. */}}
{{- define "common.serviceAccountOf" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "common.fullname" .root }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "common.labels" .root | nindent 4 }}
automountServiceAccountToken: {{ .automountToken }}
{{- end -}}

{{/* common.pdb: a PodDisruptionBudget for the chart's pods, from .Values.podDisruptionBudget. */}}
{{- define "common.pdb" -}}
{{- $pdb := .Values.podDisruptionBudget -}}
{{- if $pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "common.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  {{- if hasKey $pdb "minAvailable" }}
  minAvailable: {{ $pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $pdb.maxUnavailable | default 1 }}
  {{- end }}
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "common.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}
