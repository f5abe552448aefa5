#!/usr/bin/env bash
# Builds the release devspacesd and runs the local-backend benchmark (tests/bench/local.py).
# Prints the Markdown results table and writes it to tests/bench/results-local.md.
# Extra arguments go to local.py (for example: -n 10 --only static,restart).
# Exits non-zero only on errors (a failed build, a broken run), never on a missed target.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"
nice cargo build --release -p devspacesd
exec python3 "$here/local.py" --bin "$repo/target/release/devspacesd" --out "$here/results-local.md" "$@"
