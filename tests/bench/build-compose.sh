#!/usr/bin/env bash
# Builds Docker Compose ($COMPOSE_VERSION, github.com/docker/compose/v2 from the Go module proxy)
# for the container backend's benchmark (tests/bench/container.py compares with `compose watch`)
# and prints the binary's path. Cached under ~/.cache/devspaces/engine/compose-<version>/, keyed by
# the version: a warm cache builds nothing. The binary runs as `docker-compose ...` or, copied as
# `$DOCKER_CONFIG/cli-plugins/docker-compose`, as `docker compose ...`.
#   COMPOSE_VERSION=v2.40.3 tests/bench/build-compose.sh
set -euo pipefail
version="${COMPOSE_VERSION:-v2.40.3}"
cache="${DEVSPACES_ENGINE_CACHE:-$HOME/.cache/devspaces/engine}/compose-$version"
bin="$cache/docker-compose"
if [ -x "$bin" ] && "$bin" version >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "error: no go command to build docker compose" >&2; exit 1; }
work="$(mktemp -d "${TMPDIR:-/tmp}/compose-build.XXXXXX")"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
echo "[compose] downloading github.com/docker/compose/v2@$version" >&2
dir="$(go mod download -json "github.com/docker/compose/v2@$version" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d["Error"]) if d.get("Error") else print(d["Dir"])')"
# The module cache is read-only; -mod=mod may update go.sum, so build in a copy.
cp -r "$dir" src
chmod -R u+w src
cd src
echo "[compose] building ./cmd (a few minutes on a cold Go build cache)" >&2
mkdir -p "$cache"
GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 nice go build -trimpath \
  -ldflags "-w -X github.com/docker/compose/v2/internal.Version=$version" -o "$bin.tmp" ./cmd
mv "$bin.tmp" "$bin"
"$bin" version >&2
echo "$bin"
