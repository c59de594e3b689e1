{{/* Names and labels. */}}
{{- define "agent-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agent-gateway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "agent-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agent-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "agent-gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "agent-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "agent-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "agent-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "agent-gateway.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Host values the gateway's Host check accepts beyond loopback: the Service's
DNS names in every form a client in the cluster may use, then the values'.
*/}}
{{- define "agent-gateway.allowedHosts" -}}
{{- $svc := include "agent-gateway.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $hosts := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain) }}
{{- range .Values.gateway.allowedHosts }}
{{- $hosts = append $hosts . }}
{{- end }}
{{- toJson ($hosts | uniq) }}
{{- end }}

{{/* SIGKILL comes after this: above the preStop sleep plus the drain. */}}
{{- define "agent-gateway.terminationGracePeriodSeconds" -}}
{{- if .Values.gateway.terminationGracePeriodSeconds }}
{{- .Values.gateway.terminationGracePeriodSeconds }}
{{- else }}
{{- add (int .Values.gateway.preStopSleepSeconds) (div (add (int .Values.gateway.shutdownGraceMs) 999) 1000) 5 }}
{{- end }}
{{- end }}

{{/* Where the gateway reads tools and fields. */}}
{{- define "agent-gateway.toolsDir" -}}
{{- if .Values.gitSync.enabled }}
{{- printf "%s/%s/%s" .Values.gitSync.root .Values.gitSync.link .Values.gitSync.toolsPath }}
{{- else }}
{{- print "/srv/agent-gateway/tools" }}
{{- end }}
{{- end }}

{{- define "agent-gateway.fieldsDir" -}}
{{- if .Values.gitSync.enabled }}
{{- printf "%s/%s/%s" .Values.gitSync.root .Values.gitSync.link .Values.gitSync.fieldsPath }}
{{- else }}
{{- print "/srv/agent-gateway/fields" }}
{{- end }}
{{- end }}

{{/* git-sync's flags (v4): the repository checked out under root, link flipped per revision. */}}
{{- define "agent-gateway.gitSyncArgs" -}}
- --repo={{ required "gitSync.repo is required" .Values.gitSync.repo }}
- --ref={{ .Values.gitSync.ref }}
- --root={{ .Values.gitSync.root }}
- --link={{ .Values.gitSync.link }}
- --period={{ .Values.gitSync.period }}
- --depth={{ .Values.gitSync.depth }}
{{- end }}

{{- define "agent-gateway.gitSyncEnv" -}}
{{- if .Values.gitSync.credentialsSecret -}}
env:
  - name: GITSYNC_USERNAME
    valueFrom:
      secretKeyRef:
        name: {{ .Values.gitSync.credentialsSecret }}
        key: username
  - name: GITSYNC_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ .Values.gitSync.credentialsSecret }}
        key: password
{{- end }}
{{- end }}
