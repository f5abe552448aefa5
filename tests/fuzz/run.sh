#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ (cargo-fuzz, libFuzzer, the nightly toolchain) for SECONDS each
# (default 20) and prints the executions of each. Installs cargo-fuzz once under
# ~/.cache/devspaces/cargo-fuzz (and the nightly toolchain if missing). New inputs accumulate in fuzz/corpus/<target>/ (not in git);
# fuzz/seeds/<target>/ is read as well. Exits non-zero on a crash, a panic, a leak or an
# allocation over the limit; the input is then in fuzz/artifacts/<target>/, and
#   cargo +nightly fuzz run -s none -a <target> fuzz/artifacts/<target>/<file>
# (in fuzz/) replays it.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-20}"
targets=(framing agent_wire agent_tar azds_yaml dockerignore)

tools="$HOME/.cache/devspaces/cargo-fuzz"
if [ ! -x "$tools/bin/cargo-fuzz" ]; then
  echo "installing cargo-fuzz into $tools" >&2
  nice cargo install --locked --quiet --root "$tools" cargo-fuzz
fi
export PATH="$tools/bin:$PATH"
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "installing the nightly toolchain (libFuzzer's instrumentation needs it)" >&2
  rustup toolchain install nightly --profile minimal
fi

# Scratch space for the targets that write files (agent_tar): in memory when there is /dev/shm.
scratch="$(mktemp -d -p "$([ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")" devspaces-fuzz.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
export DEVSPACES_FUZZ_SCRATCH="$scratch"

cd fuzz
# No sanitizer (the fuzzed code is safe Rust over a few syscalls; this keeps the build and the runs
# fast), debug assertions on. One build for every target.
nice cargo +nightly fuzz build -s none -a >&2
failed=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  args=(-max_total_time="$seconds" -malloc_limit_mb=256 -rss_limit_mb=1024 -print_final_stats=1)
  [ -f "dicts/$t.dict" ] && args+=(-dict="dicts/$t.dict")
  dirs=("corpus/$t")
  [ -d "seeds/$t" ] && dirs+=("seeds/$t")
  log="$(mktemp)"
  if nice cargo +nightly fuzz run -s none -a "$t" "${dirs[@]}" -- "${args[@]}" >"$log" 2>&1; then
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    echo "fuzz $t: ${runs:-?} executions in ${seconds}s, nothing found"
  else
    echo "fuzz $t: FAILED; the end of its log:" >&2
    tail -40 "$log" >&2
    failed+=("$t")
  fi
  rm -f "$log"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "error: fuzz targets failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
