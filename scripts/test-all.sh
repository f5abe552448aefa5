#!/usr/bin/env bash
# Runs every test suite from a fresh machine: installs what it needs, then Rust, Neovim, VS Code, the test cluster and the test engine.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
command -v node >/dev/null || need_apt+=(nodejs npm)
# prep's end-to-end test runs a generated Go service (it skips Go when absent; this keeps it running).
command -v go >/dev/null || need_apt+=(golang-go)
command -v sha256sum >/dev/null || need_apt+=(coreutils)
command -v luacheck >/dev/null || need_apt+=(lua-check)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
# debug_local runs a Python service under debugpy (from PyPI), on its PYTHONPATH from this folder
# (--target: no system install, which Debian's pip refuses); the test installs it too when missing.
debugpy_version=1.8.17  # the same as DEBUGPY_VERSION in tests/src/dap.rs
debugpy_dir="$HOME/.cache/devspaces/debugpy-$debugpy_version"
if [ ! -f "$debugpy_dir/debugpy/__init__.py" ]; then
  rm -rf "$debugpy_dir.installing"
  python3 -m pip install --quiet --disable-pip-version-check --target "$debugpy_dir.installing" "debugpy==$debugpy_version"
  mv "$debugpy_dir.installing" "$debugpy_dir"
fi
# cluster_debug installs debugpy into its image from this wheel (pure Python, for the images' Python
# 3.11): the cluster's builds have no network. The test downloads it too when missing.
debugpy_wheel_dir="$HOME/.cache/devspaces/wheels"
if [ ! -f "$debugpy_wheel_dir/debugpy-$debugpy_version-py2.py3-none-any.whl" ]; then
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: --platform any \
    --implementation py --python-version 3.11 --dest "$debugpy_wheel_dir" "debugpy==$debugpy_version"
fi

echo "== Hygiene: rustfmt, clippy (all targets, warnings are errors), luacheck; the VS Code type-check and eslint run with its tests"
cargo fmt --all --check
nice cargo clippy --workspace --all-targets -q -- -D warnings
(cd editors/neovim && luacheck --no-color -q lua plugin tests)

echo "== Rust: unit, table, protocol golden and end-to-end tests (the real binary on the local backend, debuggers included)"
nice cargo build --workspace --all-targets -q
cargo test --workspace -- --test-threads=3

echo "== Fuzzing (tests/fuzz/run.sh): the editor frame reader, the agent's frames and tar batches, azds.yaml, .dockerignore; 20 s per target"
bash tests/fuzz/run.sh 20

echo "== Neovim plugin"
bash editors/neovim/scripts/test.sh

echo "== VS Code extension"
(cd editors/vscode && npm ci --no-audit --no-fund --loglevel=error && npm test)

echo "== Kubernetes backend on the test cluster: spaces, post-render, the agent in a pod, up --backend kubernetes, the three-service app, team spaces (routing), a debugger in a pod"
(
  trap 'bash tests/cluster/down' EXIT
  bash tests/cluster/up --reuse >/dev/null
  eval "$(bash tests/cluster/env)"
  # The example's base image (python3 from Debian's packages), cached, pushed to the cluster's registry.
  bash tests/cluster/base-image devspaces/python:bookworm python3 >/dev/null
  # The stand-in for Docker Hub's python:3.12-slim (Debian's python3 and pip) that prep's Python
  # Dockerfiles start from, served by the registry as its mirror of docker.io.
  bash tests/cluster/base-image library/python:3.12-slim python3 +python3-pip PIP_BREAK_SYSTEM_PACKAGES=1 >/dev/null
  # The gRPC routing test's services: Debian's python3 and its HTTP/2 library.
  bash tests/cluster/base-image devspaces/python-h2:bookworm python3 +python3-h2 >/dev/null
  nice cargo test -p devspaces-tests --features cluster \
    --test cluster_spaces --test cluster_up --test cluster_whole_app --test cluster_routing --test cluster_debug \
    -- --test-threads=1
)

echo "== Container backend on a real engine: dockerd built from the Go module proxy (tests/engine/), a Node.js service with RUN npm install, a three-service app, node's inspector in a container"
(
  trap 'bash tests/engine/down' EXIT
  bash tests/engine/up
  eval "$(bash tests/engine/env)"
  # Node.js and npm from Debian's packages; this machine's CA bundle so `RUN npm install` reaches the registry.
  node_tar="$(BASE_IMAGE_TRUST=/etc/ssl/certs/ca-certificates.crt bash tests/cluster/base-image --tarball devspaces/node:bookworm nodejs +npm)"
  bash tests/engine/load "$node_tar"
  # The whole-app test's three Python services (python3 from Debian's packages).
  bash tests/engine/load "$(bash tests/cluster/base-image --tarball devspaces/python:bookworm python3)"
  DEVSPACES_TEST_NODE_IMAGE=devspaces/node:bookworm DEVSPACES_TEST_PYTHON_IMAGE=devspaces/python:bookworm \
    nice cargo test -p devspaces-tests --features engine --test container_up -- --test-threads=1
)

echo "== Kubernetes test cluster (built from source once, cached under ~/.cache/devspaces/cluster/)"
bash tests/cluster/smoke
