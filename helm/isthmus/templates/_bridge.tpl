{{/*
The ZooKeeper bridge sidecar (`isthmus bridge zookeeper`, off by default): it reads SOFARPC
providers from ZooKeeper and pushes them to this pod's own admin API over loopback, with the
pod's admin token. It has a liveness probe only: a ZooKeeper outage must not take the gateway
out of its Service (the gateway keeps the last pushed state).
*/}}
{{- define "isthmus.bridgeValidate" -}}
{{- $b := .Values.bridge.zookeeper -}}
{{- if $b.enabled -}}
{{- if not $b.connect -}}
{{- fail "bridge.zookeeper.connect is required with bridge.zookeeper.enabled (host:port[,host:port][/chroot])" -}}
{{- end -}}
{{- if not (or $b.services $b.servicePrefixes $b.allServices) -}}
{{- fail "bridge.zookeeper: say which services to export: services, servicePrefixes or allServices" -}}
{{- end -}}
{{- if and .Values.tls.enabled .Values.tls.admin -}}
{{- fail "bridge.zookeeper with tls.admin is not supported yet: the sidecar calls the admin API over loopback HTTP" -}}
{{- end -}}
{{- if eq (int64 $b.metricsPort) (int64 .Values.config.listeners.admin.port) -}}
{{- fail (printf "bridge.zookeeper.metricsPort: %d is the admin port" (int64 $b.metricsPort)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "isthmus.bridgeContainer" -}}
{{- $v := .Values -}}
{{- $b := $v.bridge.zookeeper -}}
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
    - --admin
    - {{ printf "http://127.0.0.1:%d" (int64 $v.config.listeners.admin.port) | quote }}
    - --token-file
    - {{ include "isthmus.tokenFile" . }}
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
{{- end -}}
