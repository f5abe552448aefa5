// Wrapper module: builds Helm 3 (helm.sh/helm/v3/cmd/helm), installed as helm3.
module devspaces.test/cluster/helm3

go 1.24.0

require helm.sh/helm/v3 v3.19.2
