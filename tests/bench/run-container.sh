#!/usr/bin/env bash
# Benchmarks the container backend on the test engine (tests/bench/container.py), beside
# `docker compose watch` when Docker Compose builds (tests/bench/build-compose.sh): builds the
# release devspacesd and the static agent, starts the engine when it is not up (tests/engine/up
# keeps a running one), loads the app's base image into it, and writes the Markdown table to
# tests/bench/results-container.md.
# Extra arguments go to container.py (-n, --restarts, --redeploys, --warmup).
# Exits non-zero only on errors, never on a missed target; a Compose that does not build is
# reported in the results, and devspaces is measured alone.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"
nice cargo build --release -p devspacesd
scripts/build-static-agent.sh >/dev/null
bash tests/engine/up
eval "$(bash tests/engine/env)"
# The app's base image (python3 from Debian's packages, built here, cached), loaded into the engine.
bash tests/engine/load "$(bash tests/cluster/base-image --tarball devspaces/python:bookworm python3)" >/dev/null
compose_version="${COMPOSE_VERSION:-v2.40.3}"
compose_args=(--compose-version "$compose_version")
compose_log="$(mktemp "${TMPDIR:-/tmp}/build-compose.XXXXXX")"
if compose="$(COMPOSE_VERSION="$compose_version" bash "$here/build-compose.sh" 2>"$compose_log")"; then
  compose_args+=(--compose "$compose")
else
  echo "docker compose $compose_version did not build; measuring devspaces alone:" >&2
  tail -5 "$compose_log" >&2
  compose_args+=(--no-compose-reason "Docker Compose $compose_version did not build: $(tail -3 "$compose_log" | tr '\n' ' ')")
fi
rm -f "$compose_log"
exec python3 "$here/container.py" --bin "$repo/target/release/devspacesd" --out "$here/results-container.md" \
  "${compose_args[@]}" "$@"
