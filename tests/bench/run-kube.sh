#!/usr/bin/env bash
# Benchmarks the Kubernetes backend on the test cluster (tests/bench/kube.py): builds the release
# devspacesd and the static agent, starts the cluster when it is not up (tests/cluster/up --reuse),
# and writes the Markdown table to tests/bench/results-kube.md. Extra arguments go to kube.py.
# Exits non-zero only on errors, never on a missed target.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"
nice cargo build --release -p devspacesd
scripts/build-static-agent.sh >/dev/null
eval "$(tests/cluster/up --reuse | grep '^export ')"
"$repo/tests/cluster/base-image" devspaces/python:bookworm python3 >/dev/null
exec python3 "$here/kube.py" --bin "$repo/target/release/devspacesd" --out "$here/results-kube.md" "$@"
