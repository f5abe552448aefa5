// Wrapper module: builds Helm 4 (helm.sh/helm/v4/cmd/helm). Helm 4.0.x is the
// line whose Kubernetes client libraries match the cluster (v0.34).
module devspaces.test/cluster/helm4

go 1.24.0

require helm.sh/helm/v4 v4.0.4
