{{/* Names, labels and the pieces several templates share. */}}

{{- define "isthmus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "isthmus.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "isthmus.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "isthmus.selectorLabels" -}}
app.kubernetes.io/name: {{ include "isthmus.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "isthmus.labels" -}}
helm.sh/chart: {{ include "isthmus.chart" . }}
{{ include "isthmus.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: isthmus
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "isthmus.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "isthmus.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "isthmus.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* "true" when a value is given: not null/missing and not "" (0 counts as given). */}}
{{- define "isthmus.isSet" -}}
{{- if not (or (kindIs "invalid" .) (eq (toString .) "")) -}}true{{- end -}}
{{- end -}}

{{/* Fixed paths inside the pod; the gateway config points at them. */}}
{{- define "isthmus.configDir" -}}/etc/isthmus{{- end -}}
{{- define "isthmus.tokenFile" -}}/etc/isthmus/secrets/admin-token{{- end -}}
{{- define "isthmus.tlsDir" -}}/etc/isthmus/tls{{- end -}}
{{- define "isthmus.stateDir" -}}/var/lib/isthmus/state{{- end -}}
{{- define "isthmus.auditDir" -}}/var/lib/isthmus/audit{{- end -}}

{{/* Where the audit checkpoint signing key comes from: tls | secret | none. */}}
{{- define "isthmus.auditKeySource" -}}
{{- $s := .Values.auditSigningKey.source -}}
{{- if $s -}}{{ $s }}{{- else if .Values.tls.enabled -}}tls{{- else -}}none{{- end -}}
{{- end -}}

{{/* Path of the signing key in the pod ("" when checkpoints are unsigned). */}}
{{- define "isthmus.auditKeyPath" -}}
{{- $s := include "isthmus.auditKeySource" . -}}
{{- if eq $s "tls" -}}{{ include "isthmus.tlsDir" . }}/tls.key{{- else if eq $s "secret" -}}{{ include "isthmus.configDir" . }}/audit/audit-key.pem{{- end -}}
{{- end -}}

{{/* Secret the chart writes (admin token, Redis password), when any value is inline. */}}
{{- define "isthmus.ownSecret" -}}
{{- if or .Values.admin.token.value (and .Values.redis.enabled .Values.redis.password.value) -}}true{{- end -}}
{{- end -}}

{{- define "isthmus.tokenSecretName" -}}
{{- default (include "isthmus.fullname" .) .Values.admin.token.existingSecret -}}
{{- end -}}

{{- define "isthmus.tokenSecretKey" -}}
{{- if .Values.admin.token.existingSecret -}}{{ .Values.admin.token.existingSecretKey }}{{- else -}}admin-token{{- end -}}
{{- end -}}

{{- define "isthmus.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "isthmus.fullname" .)) .Values.tls.existingSecret -}}
{{- end -}}

{{/* The client CA is mounted when mTLS is required or the admin verifies client identities. */}}
{{- define "isthmus.tlsHasCa" -}}
{{- $t := .Values.tls -}}
{{- if or $t.requireClientCert $t.ca (and $t.admin .Values.config.listeners.admin.adminIdentities) -}}true{{- end -}}
{{- end -}}

{{/*
terminationGracePeriodSeconds: the preStop sleep runs first, then SIGTERM starts the drain,
which may take drain.timeoutMs; the extra seconds cover process exit.
*/}}
{{- define "isthmus.terminationGrace" -}}
{{- $drainSeconds := div (add (int64 .Values.config.drain.timeoutMs) 999) 1000 -}}
{{- add $drainSeconds (int64 .Values.lifecycle.preStopSleepSeconds) (int64 .Values.lifecycle.terminationGraceExtraSeconds) -}}
{{- end -}}

{{/* Enabled data listeners as a list of dicts {name, port, service}. */}}
{{- define "isthmus.dataPorts" -}}
{{- $l := .Values.config.listeners -}}
{{- $out := list -}}
{{- if $l.triple.enabled -}}
{{- $out = append $out (dict "name" "triple" "port" (int64 $l.triple.port) "service" .Values.service.triple) -}}
{{- end -}}
{{- if $l.bolt.enabled -}}
{{- $out = append $out (dict "name" "bolt" "port" (int64 $l.bolt.port) "service" .Values.service.bolt) -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Cross-field rules a JSON schema cannot say; each fails rendering with a clear message. */}}
{{- define "isthmus.validate" -}}
{{- $v := .Values -}}
{{- if and (not $v.admin.token.value) (not $v.admin.token.existingSecret) -}}
{{- fail "admin.token.value or admin.token.existingSecret is required: the admin API listens on the pod address (probes reach it there) and Isthmus refuses a non-loopback admin listener without a token" -}}
{{- end -}}
{{- if and $v.admin.token.value $v.admin.token.existingSecret -}}
{{- fail "set only one of admin.token.value and admin.token.existingSecret" -}}
{{- end -}}
{{- $l := $v.config.listeners -}}
{{- if not (or $l.triple.enabled $l.bolt.enabled) -}}
{{- fail "config.listeners: enable triple or bolt (or both)" -}}
{{- end -}}
{{- $ports := list (int64 $l.admin.port) -}}
{{- range $p := (include "isthmus.dataPorts" . | fromJsonArray) -}}
{{- if has (int64 $p.port) $ports -}}
{{- fail (printf "config.listeners.%s.port: %d is already used by another listener" $p.name (int64 $p.port)) -}}
{{- end -}}
{{- $ports = append $ports (int64 $p.port) -}}
{{- end -}}
{{- if $v.tls.enabled -}}
{{- $sources := 0 -}}
{{- if $v.tls.existingSecret -}}{{- $sources = add1 $sources -}}{{- end -}}
{{- if $v.tls.certManager.enabled -}}{{- $sources = add1 $sources -}}{{- end -}}
{{- if or $v.tls.cert $v.tls.key -}}{{- $sources = add1 $sources -}}{{- end -}}
{{- if ne (int $sources) 1 -}}
{{- fail "tls.enabled: set exactly one certificate source: tls.existingSecret, tls.certManager.enabled, or tls.cert + tls.key" -}}
{{- end -}}
{{- if and (or $v.tls.cert $v.tls.key) (not (and $v.tls.cert $v.tls.key)) -}}
{{- fail "tls.cert and tls.key go together" -}}
{{- end -}}
{{- if and $v.tls.cert $v.tls.requireClientCert (not $v.tls.ca) -}}
{{- fail "tls.requireClientCert needs tls.ca (the CA that signs peer client certificates)" -}}
{{- end -}}
{{- if and $v.tls.certManager.enabled (not $v.tls.certManager.issuerRef.name) -}}
{{- fail "tls.certManager.issuerRef.name is required with tls.certManager.enabled" -}}
{{- end -}}
{{- if not (or $v.tls.triple $v.tls.bolt $v.tls.admin) -}}
{{- fail "tls.enabled: pick at least one of tls.triple, tls.bolt, tls.admin" -}}
{{- end -}}
{{- end -}}
{{- if $v.redis.enabled -}}
{{- if not $v.redis.url -}}
{{- fail "redis.url is required with redis.enabled" -}}
{{- end -}}
{{- if and $v.redis.password.value $v.redis.password.existingSecret -}}
{{- fail "set only one of redis.password.value and redis.password.existingSecret" -}}
{{- end -}}
{{- end -}}
{{- if and $v.config.audit.queue (not $v.redis.enabled) -}}
{{- fail "config.audit.queue needs redis.enabled (the audit queue lives in Redis)" -}}
{{- end -}}
{{- $keySource := include "isthmus.auditKeySource" . -}}
{{- if and (eq $keySource "tls") (not $v.tls.enabled) -}}
{{- fail "auditSigningKey.source tls needs tls.enabled (it signs with the listeners' TLS key)" -}}
{{- end -}}
{{- if and (eq $keySource "secret") (not $v.auditSigningKey.existingSecret) -}}
{{- fail "auditSigningKey.source secret needs auditSigningKey.existingSecret (make a key with: isthmus audit keygen)" -}}
{{- end -}}
{{- if $v.auditExporter.enabled -}}
{{- if not (and $v.config.audit.enabled $v.config.audit.queue) -}}
{{- fail "auditExporter.enabled needs config.audit.enabled and config.audit.queue (it drains the audit queue)" -}}
{{- end -}}
{{- if not ($v.config.audit.export.sinks) -}}
{{- fail "auditExporter.enabled needs config.audit.export.sinks (file, http or stdout)" -}}
{{- end -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (eq $v.kind "DaemonSet") -}}
{{- fail "autoscaling.enabled works with kind Deployment only" -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (gt (int64 $v.autoscaling.minReplicas) (int64 $v.autoscaling.maxReplicas)) -}}
{{- fail "autoscaling.minReplicas must be <= autoscaling.maxReplicas" -}}
{{- end -}}
{{- if $v.podDisruptionBudget.enabled -}}
{{- $min := include "isthmus.isSet" $v.podDisruptionBudget.minAvailable -}}
{{- $max := include "isthmus.isSet" $v.podDisruptionBudget.maxUnavailable -}}
{{- if or (and $min $max) (not (or $min $max)) -}}
{{- fail "podDisruptionBudget: set exactly one of minAvailable and maxUnavailable (\"\" for the other)" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The gateway's config.yaml, built as a dict so toYaml quotes and nests it correctly. */}}
{{- define "isthmus.config" -}}
{{- $v := .Values -}}
{{- $c := $v.config -}}
{{- $host := $c.listenHost -}}
{{- $tlsDir := include "isthmus.tlsDir" . -}}
{{- $tls := dict "cert" (printf "%s/tls.crt" $tlsDir) "key" (printf "%s/tls.key" $tlsDir) -}}
{{- if include "isthmus.tlsHasCa" . -}}
{{- $_ := set $tls "ca" (printf "%s/ca.crt" $tlsDir) -}}
{{- end -}}
{{- $listeners := dict -}}
{{- if $c.listeners.triple.enabled -}}
{{- $t := deepCopy (omit $c.listeners.triple "enabled") -}}
{{- $_ := set $t "host" $host -}}
{{- if and $v.tls.enabled $v.tls.triple -}}
{{- $_ := set $t "tls" (merge (dict "requireClientCert" $v.tls.requireClientCert) $tls) -}}
{{- end -}}
{{- $_ := set $listeners "triple" $t -}}
{{- end -}}
{{- if $c.listeners.bolt.enabled -}}
{{- $b := deepCopy (omit $c.listeners.bolt "enabled") -}}
{{- $_ := set $b "host" $host -}}
{{- if and $v.tls.enabled $v.tls.bolt -}}
{{- $_ := set $b "tls" (merge (dict "requireClientCert" $v.tls.requireClientCert) $tls) -}}
{{- end -}}
{{- $_ := set $listeners "bolt" $b -}}
{{- end -}}
{{- $a := deepCopy (omit $c.listeners.admin "adminIdentities") -}}
{{- $_ := set $a "host" $host -}}
{{- $_ := set $a "tokenFile" (include "isthmus.tokenFile" .) -}}
{{- with $c.listeners.admin.adminIdentities -}}
{{- $_ := set $a "adminIdentities" . -}}
{{- end -}}
{{- if and $v.tls.enabled $v.tls.admin -}}
{{- $_ := set $a "tls" (merge (dict "requireClientCert" false) $tls) -}}
{{- end -}}
{{- $_ := set $listeners "admin" $a -}}
{{- $audit := deepCopy $c.audit -}}
{{- $_ := set $audit "dir" (include "isthmus.auditDir" .) -}}
{{- $keyPath := include "isthmus.auditKeyPath" . -}}
{{- if $keyPath -}}
{{- $cp := deepCopy (default (dict) $c.audit.checkpoint) -}}
{{- $_ := set $cp "key" $keyPath -}}
{{- $_ := set $audit "checkpoint" $cp -}}
{{- end -}}
{{- $cfg := dict "entity" $c.entity "trustDomain" $c.trustDomain "listeners" $listeners -}}
{{- $_ := set $cfg "clusters" $c.clusters -}}
{{- $_ := set $cfg "routes" $c.routes -}}
{{- $_ := set $cfg "filters" $c.filters -}}
{{- with $c.ldc -}}{{- $_ := set $cfg "ldc" . -}}{{- end -}}
{{- with $c.policies -}}{{- $_ := set $cfg "policies" . -}}{{- end -}}
{{- $_ := set $cfg "audit" $audit -}}
{{- $_ := set $cfg "state" (printf "%s/state.json" (include "isthmus.stateDir" .)) -}}
{{- $_ := set $cfg "log" $c.log -}}
{{- $_ := set $cfg "drain" $c.drain -}}
{{- if $v.redis.enabled -}}
{{- $redis := dict "url" $v.redis.url "keyPrefix" $v.redis.keyPrefix -}}
{{- if or $v.redis.password.value $v.redis.password.existingSecret -}}
{{- $_ := set $redis "passwordEnv" $v.redis.password.env -}}
{{- end -}}
{{- $_ := set $cfg "redis" $redis -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}
