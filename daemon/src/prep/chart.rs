//! The Helm chart `prep` writes: Chart.yaml, values.yaml, the name and labels in _helpers.tpl (as `helm
//! create` writes them), a Deployment, a Service and, with `--enable-ingress`, an Ingress. `__NAME__` and
//! `__PORT__` are filled in; `{{ }}` is Helm's.

const CHART: &str = "# Helm chart for __NAME__, written by `devspacesd prep` (installed by devspaces from azds.yaml).
apiVersion: v2
name: __NAME__
description: __NAME__ for devspaces
type: application
version: 0.1.0
appVersion: \"1.0.0\"
";

const VALUES: &str = "# Default values for __NAME__; azds.yaml's install.set overrides image and replicaCount.
replicaCount: 1

image:
  repository: __NAME__
  tag: latest
  pullPolicy: IfNotPresent

service:
  type: ClusterIP
  port: 80

# More environment variables for the container, NAME: value.
env: {}
resources: {}
";

const VALUES_INGRESS: &str = "
# The public URL (azds.yaml's install.set.ingress.hosts names the host per space).
ingress:
  enabled: true
  annotations: {}
  hosts:
  - __NAME__.local
";

const HELPERS: &str = "{{/* The name and labels of every __NAME__ object; the labels that select its pods. */}}
{{- define \"__NAME__.selectorLabels\" -}}
app.kubernetes.io/name: __NAME__
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define \"__NAME__.labels\" -}}
{{ include \"__NAME__.selectorLabels\" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define \"__NAME__.metadata\" -}}
name: {{ .Release.Name }}
labels:
  {{- include \"__NAME__.labels\" . | nindent 2 }}
{{- end }}
";

const DEPLOYMENT: &str = "{{- /* The __NAME__ Deployment: one container running the built image on port __PORT__. */}}
apiVersion: apps/v1
kind: Deployment
metadata:
  {{- include \"__NAME__.metadata\" . | nindent 2 }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      {{- include \"__NAME__.selectorLabels\" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include \"__NAME__.selectorLabels\" . | nindent 8 }}
    spec:
      containers:
      - name: __NAME__
        image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"
        imagePullPolicy: {{ .Values.image.pullPolicy }}
        env:
        - name: PORT
          value: \"__PORT__\"
        {{- range $name, $value := .Values.env }}
        - name: {{ $name }}
          value: {{ $value | quote }}
        {{- end }}
        ports:
        - name: http
          containerPort: __PORT__
          protocol: TCP
        resources:
          {{- toYaml .Values.resources | nindent 10 }}
";

const SERVICE: &str = "{{- /* The __NAME__ Service: its port to the container's http port. */}}
apiVersion: v1
kind: Service
metadata:
  {{- include \"__NAME__.metadata\" . | nindent 2 }}
spec:
  type: {{ .Values.service.type }}
  ports:
  - port: {{ .Values.service.port }}
    targetPort: http
    protocol: TCP
    name: http
  selector:
    {{- include \"__NAME__.selectorLabels\" . | nindent 4 }}
";

const INGRESS: &str = "{{- /* The __NAME__ Ingress, one rule per host in .Values.ingress.hosts. */}}
{{- if .Values.ingress.enabled -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  {{- include \"__NAME__.metadata\" . | nindent 2 }}
  {{- with .Values.ingress.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  rules:
  {{- range .Values.ingress.hosts }}
  - host: {{ . | quote }}
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: {{ $.Release.Name }}
            port:
              number: {{ $.Values.service.port }}
  {{- end }}
{{- end }}
";

/// The chart's files as `(path relative to the chart folder, contents)`.
pub fn files(name: &str, port: u16, ingress: bool) -> Vec<(String, String)> {
    let fill = |t: &str| t.replace("__NAME__", name).replace("__PORT__", &port.to_string());
    let mut values = fill(VALUES);
    if ingress {
        values.push_str(&fill(VALUES_INGRESS));
    }
    let mut out = vec![
        ("Chart.yaml".to_string(), fill(CHART)),
        ("values.yaml".to_string(), values),
        ("templates/_helpers.tpl".to_string(), fill(HELPERS)),
        ("templates/deployment.yaml".to_string(), fill(DEPLOYMENT)),
        ("templates/service.yaml".to_string(), fill(SERVICE)),
    ];
    if ingress {
        out.push(("templates/ingress.yaml".to_string(), fill(INGRESS)));
    }
    out
}
