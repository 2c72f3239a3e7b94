{{/*
The ZooKeeper bridge sidecar (`isthmus bridge zookeeper`, off by default): it reads SOFARPC
providers from ZooKeeper and pushes them to this pod's own admin API over loopback, with the
pod's admin token over HTTP, or, with tls.admin, over HTTPS with its own admin client
certificate (bridge.admin.tls.secretName; admin mTLS). It has a liveness probe only: a
ZooKeeper outage must not take the gateway out of its Service (the gateway keeps the last
pushed state).
*/}}
{{- define "isthmus.bridgeTlsDir" -}}/etc/isthmus-bridge/admin-tls{{- end -}}

{{/* The name the bridge checks the admin listener's certificate against. */}}
{{- define "isthmus.bridgeAdminServerName" -}}
{{- $t := .Values.bridge.admin.tls -}}
{{- if $t.serverName -}}{{ $t.serverName }}
{{- else if and .Values.tls.certManager.enabled .Values.tls.certManager.dnsNames -}}{{ first .Values.tls.certManager.dnsNames }}
{{- else -}}localhost
{{- end -}}
{{- end -}}
{{- define "isthmus.bridgeValidate" -}}
{{- $b := .Values.bridge.zookeeper -}}
{{- if $b.enabled -}}
{{- if not $b.connect -}}
{{- fail "bridge.zookeeper.connect is required with bridge.zookeeper.enabled (host:port[,host:port][/chroot])" -}}
{{- end -}}
{{- if not (or $b.services $b.servicePrefixes $b.allServices) -}}
{{- fail "bridge.zookeeper: say which services to export: services, servicePrefixes or allServices" -}}
{{- end -}}
{{- $adminTls := and .Values.tls.enabled .Values.tls.admin -}}
{{- if and $adminTls (not .Values.bridge.admin.tls.secretName) -}}
{{- fail "bridge.zookeeper with tls.admin needs bridge.admin.tls.secretName: a Secret with the bridge's admin client certificate (tls.crt, tls.key) and ca.crt, the CA that verifies the admin listener" -}}
{{- end -}}
{{- if and .Values.bridge.admin.tls.secretName (not $adminTls) -}}
{{- fail "bridge.admin.tls.secretName needs tls.enabled and tls.admin: the admin listener must serve TLS to take the bridge's client certificate" -}}
{{- end -}}
{{- if and .Values.bridge.admin.tls.secretName (not .Values.config.listeners.admin.adminIdentities) -}}
{{- fail "bridge.admin.tls.secretName: list the bridge certificate's SPIFFE identity in config.listeners.admin.adminIdentities (else the admin refuses it)" -}}
{{- end -}}
{{- if eq (int64 $b.metricsPort) (int64 .Values.config.listeners.admin.port) -}}
{{- fail (printf "bridge.zookeeper.metricsPort: %d is the admin port" (int64 $b.metricsPort)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "isthmus.bridgeContainer" -}}
{{- $v := .Values -}}
{{- $b := $v.bridge.zookeeper -}}
{{- $mtls := $v.bridge.admin.tls.secretName -}}
- name: bridge-zookeeper
  image: {{ include "isthmus.image" . | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  args:
    - bridge
    - zookeeper
    - --connect
    - {{ $b.connect | quote }}
    - --root
    - {{ $b.root | quote }}
    - --layout
    - {{ $b.layout }}
    {{- if $mtls }}
    - --admin
    - {{ printf "https://127.0.0.1:%d" (int64 $v.config.listeners.admin.port) | quote }}
    - --cert
    - {{ include "isthmus.bridgeTlsDir" . }}/tls.crt
    - --key
    - {{ include "isthmus.bridgeTlsDir" . }}/tls.key
    - --ca
    - {{ include "isthmus.bridgeTlsDir" . }}/ca.crt
    - --admin-servername
    - {{ include "isthmus.bridgeAdminServerName" . | quote }}
    {{- else }}
    - --admin
    - {{ printf "http://127.0.0.1:%d" (int64 $v.config.listeners.admin.port) | quote }}
    - --token-file
    - {{ include "isthmus.tokenFile" . }}
    {{- end }}
    {{- range $b.services }}
    - --service
    - {{ . | quote }}
    {{- end }}
    {{- range $b.servicePrefixes }}
    - --service-prefix
    - {{ . | quote }}
    {{- end }}
    {{- if $b.allServices }}
    - --all-services
    {{- end }}
    {{- range $field, $param := $b.map }}
    - --map
    - {{ printf "%s=%s" $field $param | quote }}
    {{- end }}
    {{- range $key, $param := $b.labels }}
    - --label
    - {{ printf "%s=%s" $key $param | quote }}
    {{- end }}
    - --bridge-id
    - {{ $b.bridgeId | quote }}
    - --coalesce-ms
    - {{ $b.coalesceMs | quote }}
    - --session-timeout-ms
    - {{ $b.sessionTimeoutMs | quote }}
    - --verify-interval-ms
    - {{ $b.verifyIntervalMs | quote }}
    - --metrics-host
    - 0.0.0.0
    - --metrics-port
    - {{ $b.metricsPort | quote }}
    - --log-level
    - {{ $b.logLevel }}
  ports:
    - name: bridge-metrics
      containerPort: {{ $b.metricsPort }}
      protocol: TCP
  livenessProbe:
    httpGet:
      path: /healthz
      port: bridge-metrics
    periodSeconds: 10
    timeoutSeconds: 2
    failureThreshold: 3
  resources:
    {{- toYaml $b.resources | nindent 4 }}
  securityContext:
    {{- toYaml $v.securityContext | nindent 4 }}
  volumeMounts:
    - name: config
      mountPath: {{ include "isthmus.configDir" . }}
      readOnly: true
    - name: tmp
      mountPath: /tmp
    {{- if $mtls }}
    - name: bridge-admin-tls
      mountPath: {{ include "isthmus.bridgeTlsDir" . }}
      readOnly: true
    {{- end }}
{{- end -}}

{{/* The bridge's admin client certificate: its own volume, mounted only in the sidecar. */}}
{{- define "isthmus.bridgeVolumes" -}}
- name: bridge-admin-tls
  secret:
    secretName: {{ .Values.bridge.admin.tls.secretName }}
    # 0440 (decimal), group = fsGroup, as the config volume.
    defaultMode: 288
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
      - key: ca.crt
        path: ca.crt
{{- end -}}
