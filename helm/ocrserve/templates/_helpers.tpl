{{/* Names and labels shared by every object. */}}
{{- define "ocrserve.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ocrserve.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ocrserve.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ocrserve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ocrserve.labels" -}}
{{ include "ocrserve.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The `helm test` pod: its own name label, so no selector of the server's matches it. */}}
{{- define "ocrserve.testSelectorLabels" -}}
app.kubernetes.io/name: {{ include "ocrserve.name" . }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
{{- end -}}

{{- define "ocrserve.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ocrserve.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The admin API needs a token: the server refuses a non-loopback admin port without one. */}}
{{- define "ocrserve.adminEnabled" -}}
{{- if .Values.admin.enabled -}}
{{- if not .Values.admin.tokenSecret.name -}}
{{- fail "admin.enabled needs admin.tokenSecret.name (the server refuses an admin API without a token)" -}}
{{- end -}}
true
{{- end -}}
{{- end -}}

{{/* A ReadWriteOnce claim attaches to one node: several pods (replicas, HPA) need a
     ReadWriteMany or ReadOnlyMany one, or emptyDir. */}}
{{- define "ocrserve.checkModelClaim" -}}
{{- if and (eq .Values.models.storage "pvc") (not .Values.models.pvc.existingClaim) -}}
{{- $shared := or (has "ReadWriteMany" .Values.models.pvc.accessModes) (has "ReadOnlyMany" .Values.models.pvc.accessModes) -}}
{{- if and (not $shared) (or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1)) -}}
{{- fail "models.storage=pvc with several pods (replicaCount > 1 or autoscaling) needs models.pvc.accessModes with ReadWriteMany or ReadOnlyMany: a ReadWriteOnce volume attaches to one node" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Probes go to the plaintext health port under TLS (kubelet's gRPC probe has no TLS). */}}
{{- define "ocrserve.probePort" -}}
{{- if .Values.tls.enabled -}}{{ .Values.ports.health }}{{- else -}}{{ .Values.ports.grpc }}{{- end -}}
{{- end -}}

{{/* devices: one engine per GPU of the pod, else the CPU. */}}
{{- define "ocrserve.devices" -}}
{{- if gt (int .Values.gpu.count) 0 -}}
{{- $d := list -}}
{{- range $i := until (int .Values.gpu.count) -}}{{- $d = append $d (printf "cuda:%d" $i) -}}{{- end -}}
{{- join "," $d -}}
{{- else -}}cpu{{- end -}}
{{- end -}}

{{/* SIGTERM to SIGKILL must cover the preStop sleep, the drain delay and the grace period. */}}
{{- define "ocrserve.terminationGrace" -}}
{{- $drain := float64 (default 2.0 .Values.server.drain_delay_s) -}}
{{- $grace := float64 (default 10.0 .Values.server.grace_period_s) -}}
{{- $total := addf $drain $grace (float64 .Values.preStopSleepSeconds) (float64 .Values.terminationGraceMarginSeconds) -}}
{{- ceil $total | int -}}
{{- end -}}

{{/* Every container: no root, no privilege escalation, no capabilities, read-only root. */}}
{{- define "ocrserve.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
