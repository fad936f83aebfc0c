{{/* postgresql.host: the Service the clients connect to. */}}
{{- define "postgresql.host" -}}
{{- printf "%s.%s.svc.%s" (include "common.fullname" .) .Release.Namespace (include "common.clusterDomain" .) -}}
{{- end -}}

{{/*
postgresql.secretValue (dict "root" $ "name" "<secret>" "key" "password"):
the value the Secret already holds, or a new random one. Helm renders
Secrets anew on every upgrade; looking the live one up keeps generated
passwords stable (the database was initialised with them). `helm template`
cannot look anything up and always generates.
*/}}
{{- define "postgresql.secretValue" -}}
{{- $live := lookup "v1" "Secret" .root.Release.Namespace .name -}}
{{- if and $live $live.data (hasKey $live.data .key) -}}
{{- index $live.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}
