#!/usr/bin/env bash
# Builds the checkpoint-reader libFuzzer target in build-fuzz/ (clang-22) and runs it for a bounded
# time. Usage: scripts/fuzz-checkpoint.sh [SECONDS [LIBFUZZER FLAGS...]] (default 60). Crashes land
# in build-fuzz/fuzz-checkpoint/. Seed corpus: runtime/fuzz/checkpoint-corpus (a world-1
# checkpoint of each bundled model: 4-byte manifest length, manifest.json, rank00000.safetensors).
set -euo pipefail
seconds=${1:-60}
shift || true
source "$(dirname "$0")/lib/fuzz-build.sh"
fuzz_build ds-checkpoint-fuzzer fuzz-checkpoint
cp -n "$root"/runtime/fuzz/checkpoint-corpus/* "$work/corpus/" 2>/dev/null || true
cd "$work"
"$build/bin/ds-checkpoint-fuzzer" -max_total_time="$seconds" -rss_limit_mb=4096 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$@" "$work/corpus"
