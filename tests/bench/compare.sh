#!/usr/bin/env bash
# devspaces beside its peers, end to end from a clean checkout, in one invocation:
#   1. the local backend beside nodemon, watchexec, entr and lsyncd on the same generated app,
#      interleaved (tests/bench/compare.py; peers installed once, cached under
#      ~/.cache/devspaces/peers/), written to tests/bench/results-compare.md;
#   2. the container backend beside `docker compose watch` (its sync, sync+restart and rebuild
#      actions) on the same app, the two tools' rounds alternating (tests/bench/run-container.sh:
#      the test engine, Compose built from the Go module proxy), written to
#      tests/bench/results-container.md.
# Extra arguments go to compare.py (for example: -n 10 --sizes 1000). --no-container skips part 2.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"
container=1
args=()
for a in "$@"; do
  case "$a" in
    --no-container) container=0 ;;
    *) args+=("$a") ;;
  esac
done
command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
nice cargo build --release -p devspacesd
python3 "$here/compare.py" --bin "$repo/target/release/devspacesd" --out "$here/results-compare.md" "${args[@]}"
if [ "$container" = 1 ]; then
  # The engine is stopped again at the end when this script started it.
  started_engine=0
  if ! DOCKER_HOST="$(bash tests/engine/env 2>/dev/null | sed -n 's/^export DOCKER_HOST=//p')" docker info >/dev/null 2>&1; then
    started_engine=1
  fi
  status=0
  bash "$here/run-container.sh" || status=$?
  if [ "$started_engine" = 1 ]; then bash tests/engine/down >/dev/null 2>&1 || true; fi
  exit "$status"
fi
