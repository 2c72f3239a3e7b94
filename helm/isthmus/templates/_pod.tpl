{{/* Pod template shared by the Deployment and the DaemonSet. */}}
{{- define "isthmus.podTemplate" -}}
{{- $v := .Values -}}
{{- $l := $v.config.listeners -}}
{{- $adminScheme := ternary "HTTPS" "HTTP" (and $v.tls.enabled $v.tls.admin) -}}
metadata:
  labels:
    {{- include "isthmus.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/component: gateway
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # A config or secret change rolls the pods.
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "isthmus.serviceAccountName" . }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ include "isthmus.terminationGrace" . }}
  {{- if eq $v.kind "Deployment" }}
  {{- if $v.affinity }}
  affinity:
    {{- toYaml $v.affinity | nindent 4 }}
  {{- else if ne $v.podAntiAffinity.type "none" }}
  affinity:
    podAntiAffinity:
      {{- if eq $v.podAntiAffinity.type "hard" }}
      requiredDuringSchedulingIgnoredDuringExecution:
        - topologyKey: {{ $v.podAntiAffinity.topologyKey }}
          labelSelector:
            matchLabels:
              {{- include "isthmus.selectorLabels" . | nindent 14 }}
      {{- else }}
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: {{ $v.podAntiAffinity.weight }}
          podAffinityTerm:
            topologyKey: {{ $v.podAntiAffinity.topologyKey }}
            labelSelector:
              matchLabels:
                {{- include "isthmus.selectorLabels" . | nindent 16 }}
      {{- end }}
  {{- end }}
  {{- if $v.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml $v.topologySpreadConstraints | nindent 4 }}
  {{- else if $v.topologySpread.enabled }}
  topologySpreadConstraints:
    - maxSkew: {{ $v.topologySpread.maxSkew }}
      topologyKey: {{ $v.topologySpread.topologyKey }}
      whenUnsatisfiable: {{ $v.topologySpread.whenUnsatisfiable }}
      labelSelector:
        matchLabels:
          {{- include "isthmus.selectorLabels" . | nindent 10 }}
  {{- end }}
  {{- else if $v.affinity }}
  affinity:
    {{- toYaml $v.affinity | nindent 4 }}
  {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: isthmus
      image: {{ include "isthmus.image" . | quote }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      args: ["start", "-c", "{{ include "isthmus.configDir" . }}/config.yaml"]
      ports:
        {{- range $p := (include "isthmus.dataPorts" . | fromJsonArray) }}
        - name: {{ $p.name }}
          containerPort: {{ $p.port }}
          protocol: TCP
        {{- end }}
        - name: admin
          containerPort: {{ $l.admin.port }}
          protocol: TCP
      env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        {{- if $v.redis.enabled }}
        {{- if $v.redis.password.existingSecret }}
        - name: {{ $v.redis.password.env }}
          valueFrom:
            secretKeyRef:
              name: {{ $v.redis.password.existingSecret }}
              key: {{ $v.redis.password.existingSecretKey }}
        {{- else if $v.redis.password.value }}
        - name: {{ $v.redis.password.env }}
          valueFrom:
            secretKeyRef:
              name: {{ include "isthmus.fullname" . }}
              key: redis-password
        {{- end }}
        {{- end }}
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if $v.probes.startup.enabled }}
      startupProbe:
        httpGet:
          path: /healthz
          port: admin
          scheme: {{ $adminScheme }}
        periodSeconds: {{ $v.probes.startup.periodSeconds }}
        timeoutSeconds: {{ $v.probes.startup.timeoutSeconds }}
        failureThreshold: {{ $v.probes.startup.failureThreshold }}
      {{- end }}
      readinessProbe:
        httpGet:
          path: /ready
          port: admin
          scheme: {{ $adminScheme }}
        periodSeconds: {{ $v.probes.readiness.periodSeconds }}
        timeoutSeconds: {{ $v.probes.readiness.timeoutSeconds }}
        failureThreshold: {{ $v.probes.readiness.failureThreshold }}
        successThreshold: {{ $v.probes.readiness.successThreshold }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: admin
          scheme: {{ $adminScheme }}
        periodSeconds: {{ $v.probes.liveness.periodSeconds }}
        timeoutSeconds: {{ $v.probes.liveness.timeoutSeconds }}
        failureThreshold: {{ $v.probes.liveness.failureThreshold }}
      lifecycle:
        # Keep serving while endpoints and load balancers drop this pod; SIGTERM then drains.
        preStop:
          exec:
            command: ["sleep", "{{ $v.lifecycle.preStopSleepSeconds }}"]
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: {{ include "isthmus.configDir" . }}
          readOnly: true
        - name: state
          mountPath: {{ include "isthmus.stateDir" . }}
        - name: audit
          mountPath: {{ include "isthmus.auditDir" . }}
        - name: tmp
          mountPath: /tmp
        {{- with $v.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    {{- if $v.bridge.zookeeper.enabled }}
    {{- include "isthmus.bridgeContainer" . | nindent 4 }}
    {{- end }}
  volumes:
    # One projected volume: config.yaml, secrets/admin-token and tls/* under /etc/isthmus,
    # no subPath, so rotated secrets reach the pod.
    - name: config
      projected:
        # 0440 (decimal: YAML 1.1 and 1.2 read octal differently); group = fsGroup.
        defaultMode: 288
        sources:
          - configMap:
              name: {{ include "isthmus.fullname" . }}
              items:
                - key: config.yaml
                  path: config.yaml
          - secret:
              name: {{ include "isthmus.tokenSecretName" . }}
              items:
                - key: {{ include "isthmus.tokenSecretKey" . }}
                  path: secrets/admin-token
          {{- if eq (include "isthmus.auditKeySource" .) "secret" }}
          - secret:
              name: {{ $v.auditSigningKey.existingSecret }}
              items:
                - key: {{ $v.auditSigningKey.existingSecretKey }}
                  path: audit/audit-key.pem
          {{- end }}
          {{- if $v.tls.enabled }}
          - secret:
              name: {{ include "isthmus.tlsSecretName" . }}
              items:
                - key: tls.crt
                  path: tls/tls.crt
                - key: tls.key
                  path: tls/tls.key
                {{- if include "isthmus.tlsHasCa" . }}
                - key: ca.crt
                  path: tls/ca.crt
                {{- end }}
          {{- end }}
    - name: state
      emptyDir:
        sizeLimit: {{ $v.storage.state.sizeLimit }}
    - name: audit
      emptyDir:
        {{- with $v.storage.audit.medium }}
        medium: {{ . }}
        {{- end }}
        sizeLimit: {{ $v.storage.audit.sizeLimit }}
    - name: tmp
      emptyDir:
        medium: Memory
        sizeLimit: 64Mi
    {{- if and $v.bridge.zookeeper.enabled $v.bridge.admin.tls.secretName }}
    {{- include "isthmus.bridgeVolumes" . | nindent 4 }}
    {{- end }}
    {{- with $v.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}
