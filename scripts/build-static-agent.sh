#!/usr/bin/env bash
# Builds the agent (crate devspaces-agent) as a static executable (glibc, crt-static) that runs in any
# image, and prints its path. The daemon finds it there (or set DEVSPACES_AGENT_BINARY).
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
# --target keeps RUSTFLAGS off build scripts and proc macros, which must stay dynamic.
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" nice cargo build --release -q -p devspaces-agent --bin devspaces-agent --target "$target" >&2
bin="${CARGO_TARGET_DIR:-$PWD/target}/$target/release/devspaces-agent"
# glibc's crt-static gives a static-pie: ldd says "statically linked" (a non-PIE static binary
# would say "not a dynamic executable"); anything else names shared libraries.
case "$(ldd "$bin" 2>&1)" in
  *"statically linked"*|*"not a dynamic executable"*) ;;
  *) echo "error: $bin is dynamically linked: $(ldd "$bin" 2>&1 | head -3)" >&2; exit 1 ;;
esac
echo "$bin"
