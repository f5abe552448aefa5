# Shared settings and helpers of tests/cluster/{build,up,down,env,smoke}.
# Sourced, never run. Everything the cluster creates is named here.

CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# --- pinned versions (the cache key is derived from these files) -------------
K8S_VERSION=v1.34.4          # tests/cluster/mods/kubernetes/go.mod
ETCD_VERSION=v3.5.35         # tests/cluster/mods/etcd/go.mod
HELM_VERSION=v4.0.4          # tests/cluster/mods/helm4/go.mod
HELM3_VERSION=v3.19.2        # tests/cluster/mods/helm3/go.mod
COREDNS_VERSION=v1.15.0      # tests/cluster/coredns/go.mod (cached apart: see COREDNS_DIR)
BUSYBOX_TAG=1.35             # Debian bookworm's busybox-static
PAUSE_IMAGE=devspaces.local/pause:3.10
BUILD_REV=2                  # bump when tests/cluster/build changes what it produces

# --- where things live ---------------------------------------------------------
CACHE_ROOT="${DEVSPACES_CLUSTER_CACHE:-$HOME/.cache/devspaces/cluster}"
STATE="${DEVSPACES_CLUSTER_STATE:-$HOME/.cache/devspaces/cluster-state}"

cluster_version_key() {
  # Changes whenever a pinned version, a wrapper module, the pause source, the
  # BUILD_REV or the Go toolchain changes.
  {
    echo "$K8S_VERSION $ETCD_VERSION $HELM_VERSION $HELM3_VERSION $BUSYBOX_TAG $PAUSE_IMAGE $BUILD_REV"
    cat "$CLUSTER_DIR"/mods/*/go.mod "$CLUSTER_DIR"/pause/main.go
    go version 2>/dev/null || echo "no go"
  } | sha256sum | cut -c1-12
}
VERSION_DIR="$CACHE_ROOT/k8s-${K8S_VERSION}-$(cluster_version_key)"
BIN="$VERSION_DIR/bin"
IMAGES="$VERSION_DIR/images"

# CoreDNS has its own cache folder and key, so a new CoreDNS never rebuilds
# Kubernetes (nor the other way round).
coredns_version_key() {
  {
    echo "$COREDNS_VERSION"
    cat "$CLUSTER_DIR"/coredns/go.mod "$CLUSTER_DIR"/coredns/main.go
    go version 2>/dev/null || echo "no go"
  } | sha256sum | cut -c1-12
}
COREDNS_DIR="$CACHE_ROOT/coredns-${COREDNS_VERSION}-$(coredns_version_key)"
COREDNS_BIN="$COREDNS_DIR/bin/coredns"

# --- network layout ------------------------------------------------------------
# The node (etcd, control plane, containerd, kubelet, registry, pods) lives in
# its own network namespace joined to the host by one veth pair. The netns has
# no default route, so nothing in it can reach any address but its own, the
# pods' and the host end of the veth.
NETNS=devspaces-k8s
VETH_HOST=dsk8s-host        # host end
VETH_NODE=dsk8s-node        # node end (inside $NETNS)
HOST_IP=172.30.213.1        # /30
NODE_IP=172.30.213.2        # /30: node address, apiserver, kubelet, registry
POD_CIDR=10.213.64.0/24
POD_BRIDGE=dsk8s-cni0
SERVICE_CIDR=10.213.96.0/24
KUBERNETES_SERVICE_IP=10.213.96.1
DNS_SERVICE_IP=10.213.96.10  # Service kube-system/kube-dns: the kubelet's clusterDNS
CLUSTER_DOMAIN=cluster.local
APISERVER_PORT=6443
REGISTRY_PORT=5000
REGISTRY="$NODE_IP:$REGISTRY_PORT"
NODE_NAME=devspaces-node

# cgroup v1: the kubelet's cgroupRoot (pods go under it) and a cgroup that
# holds every daemon `up` starts (and so the containerd shims they fork).
CGROUP_PODS=devspaces-k8s
CGROUP_DAEMONS=devspaces-k8s-daemons

# --- state layout ----------------------------------------------------------------
PKI="$STATE/pki"
RUN="$STATE/run"          # pidfiles
LOGS="$STATE/logs"
KUBECONFIG_ADMIN="$STATE/kubeconfig"
CONTAINERD_SOCK="$STATE/containerd/containerd.sock"

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (network namespaces, cgroups, mounts)"; }

# Debian packages the cluster needs at run time and for building images.
DEB_PACKAGES=(containerd runc containernetworking-plugins docker-registry buildah skopeo
  iptables conntrack iproute2 openssl curl util-linux procps ca-certificates bind9-dnsutils)

ensure_debs() {
  local missing=() p
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || apt-get update
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

cgroup_controllers() {
  # every mounted cgroup v1 hierarchy (cpu, memory, pids, ..., name=systemd)
  awk '$3 == "cgroup" {print $2}' /proc/self/mounts
}

pid_alive() { # a zombie counts as gone (PID 1 may reap it late)
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  local st; st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)"
  [ -n "$st" ] && [ "$st" != Z ]
}

in_netns() { nsenter --net="/run/netns/$NETNS" -- "$@"; }

kctl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

# The cluster DNS works: CoreDNS on the node address answers NAME with ADDRESS
# (so it has read the API), and kube-proxy forwards kube-dns's ClusterIP to it.
# (The netns itself has no route to the service range, only pods do: CoreDNS is
# asked at its own address.)
dns_answers() { # dns_answers NAME ADDRESS
  [ "$(in_netns dig +short +time=1 +tries=1 "@$NODE_IP" "$1" A 2>/dev/null)" = "$2" ] &&
    in_netns iptables-save -t nat 2>/dev/null | grep -q -- "-d $DNS_SERVICE_IP/32 -p udp .*kube-system/kube-dns:dns cluster IP"
}
