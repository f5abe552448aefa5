# Shared settings of tests/engine/{build,up,down,env}: a Docker engine for the container
# backend's tests. Sourced, never run.
#
# Debian's dockerd 20.10 stops at "Devices cgroup isn't mounted" here, and Debian's podman cannot
# start a container (runc refuses its rlimits); Docker's own dockerd v28, built from the Go module
# proxy, runs. It starts its own containerd (Debian's) and uses Debian's runc.
#
# Network: `--iptables=false --ip-forward=false --ip-masq=false --bridge=none`: no rule is ever
# added to the host's iptables, nothing is forwarded or masqueraded, and there is no default
# bridge. A session's own network is a bridge that `down` removes; published ports are reached
# through docker-proxy on 127.0.0.1. Builds whose RUN steps need a registry use the host's network
# (`DEVSPACES_BUILD_NETWORK=host`), as `docker build --network host` does.

ENGINE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$ENGINE_DIR/../cluster/lib.sh"
log() { printf '[engine %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

DOCKER_VERSION=v28.5.2       # github.com/docker/docker, from the Go module proxy
ENGINE_BUILD_REV=1           # bump when tests/engine/build changes what it produces
ENGINE_CACHE="${DEVSPACES_ENGINE_CACHE:-$HOME/.cache/devspaces/engine}"
ENGINE_STATE="${DEVSPACES_ENGINE_STATE:-$HOME/.cache/devspaces/engine-state}"
# A short path: containerd's sockets live below the exec root (108-byte limit).
ENGINE_RUN="${DEVSPACES_ENGINE_RUN:-/run/devspaces-engine}"
ENGINE_SOCK="$ENGINE_RUN/docker.sock"

engine_version_key() {
  { echo "$DOCKER_VERSION $ENGINE_BUILD_REV"; go version 2>/dev/null || echo "no go"; } | sha256sum | cut -c1-12
}
ENGINE_BIN="$ENGINE_CACHE/docker-${DOCKER_VERSION}-$(engine_version_key)/bin"
