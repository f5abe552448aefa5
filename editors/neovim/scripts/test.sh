#!/usr/bin/env bash
# Runs the Neovim plugin's headless tests (tests/*_spec.lua) and prints "N passed, M failed" last.
# Usage: scripts/test.sh [--unit]   runs every spec, including tests/e2e_spec.lua against the real
# daemon ($DEVSPACESD, else target/debug/devspacesd, built here when missing); --unit skips that one.
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$here/../.." && pwd)

e2e=1
for arg in "$@"; do
  case "$arg" in
    --e2e) e2e=1 ;;
    --unit) e2e=0 ;;
    *) echo "usage: $0 [--unit]" >&2; exit 2 ;;
  esac
done

if ! nvim=$("$here/scripts/install-nvim.sh" | tail -n 1) || [ -z "$nvim" ]; then
  echo "not ok - install nvim"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "# $("$nvim" --version | head -n 1) at $nvim"

files=()
for f in "$here"/tests/*_spec.lua; do
  if [ "$(basename "$f")" = e2e_spec.lua ] && [ "$e2e" = 0 ]; then
    continue
  fi
  files+=("$f")
done

if [ "$e2e" = 1 ] && [ -z "${DEVSPACESD:-}" ]; then
  echo "# building devspacesd for the end-to-end test"
  if ! (cd "$repo" && nice cargo build -q -p devspacesd); then
    echo "not ok - cargo build -p devspacesd"
    echo "0 passed, 1 failed"
    exit 1
  fi
  export DEVSPACESD="$repo/target/debug/devspacesd"
fi

# Keep Neovim's own state (lsp.log, shada) out of the user's folders.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/devspaces-nvim-test-XXXXXX")
export XDG_STATE_HOME="$scratch/state" XDG_CACHE_HOME="$scratch/cache" XDG_DATA_HOME="$scratch/data"

passed=0
failed=0
for f in "${files[@]}"; do
  name=${f#"$here"/}
  echo "# $name"
  out=$(cd "$here" && timeout 600 "$nvim" --clean --headless -l "$f" 2>"$scratch/stderr")
  rc=$?
  printf '%s\n' "$out"
  p=$(printf '%s\n' "$out" | grep -c '^ok - ' || true)
  n=$(printf '%s\n' "$out" | grep -c '^not ok - ' || true)
  if [ "$rc" != 0 ] && [ "$n" = 0 ]; then
    echo "not ok - $name exited with code $rc"
    n=1
  fi
  if [ "$n" != 0 ] && [ -s "$scratch/stderr" ]; then
    sed 's/^/#   stderr: /' "$scratch/stderr"
  fi
  passed=$((passed + p))
  failed=$((failed + n))
done
rm -rf "$scratch"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
