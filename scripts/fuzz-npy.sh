#!/usr/bin/env bash
# Builds the .npy-reader libFuzzer target in build-fuzz/ (clang-22) and runs it for a bounded time.
# Usage: scripts/fuzz-npy.sh [SECONDS [LIBFUZZER FLAGS...]]   (default 60). Crashes land in build-fuzz/fuzz-npy/.
# Seed corpus: runtime/fuzz/npy-corpus (every dtype, header versions 1-3) and the small .npy
# files of models/ and test/.
set -euo pipefail
seconds=${1:-60}
shift || true
source "$(dirname "$0")/lib/fuzz-build.sh"
fuzz_build ds-npy-fuzzer fuzz-npy
cp -n "$root"/runtime/fuzz/npy-corpus/* "$work/corpus/" 2>/dev/null || true
find "$root/models" "$root/test" -name '*.npy' -size -8k | while read -r npy; do
  cp -n "$npy" "$work/corpus/$(echo "${npy#$root/}" | tr '/' '_')"
done
cd "$work"
"$build/bin/ds-npy-fuzzer" -max_total_time="$seconds" -rss_limit_mb=4096 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$@" "$work/corpus"
