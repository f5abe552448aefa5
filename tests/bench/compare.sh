#!/usr/bin/env bash
# devspaces beside nodemon, watchexec, entr and lsyncd on the same generated app, interleaved in
# one run (tests/bench/compare.py). Installs the peers once (cached under ~/.cache/devspaces/peers/),
# builds the release devspacesd, prints the Markdown table and writes it to
# tests/bench/results-compare.md. Extra arguments go to compare.py (for example: -n 10 --sizes 1000).
# The container engine's comparison with `docker compose watch` is tests/bench/run-container.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"
command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
nice cargo build --release -p devspacesd
exec python3 "$here/compare.py" --bin "$repo/target/release/devspacesd" --out "$here/results-compare.md" "$@"
