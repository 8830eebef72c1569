#!/usr/bin/env bash
# Builds the DeepSpeed-config libFuzzer target in build-fuzz/ (clang-22) and runs it for a bounded time.
# Usage: scripts/fuzz-config.sh [SECONDS [LIBFUZZER FLAGS...]]   (default 60). Crashes land in build-fuzz/fuzz-config/.
# Seed corpus: every ds_config JSON of models/ and test/.
set -euo pipefail
seconds=${1:-60}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-fuzz
if [ ! -f "$build/build.ninja" ]; then
  LAUNCHER=()
  command -v ccache >/dev/null && LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  CC=clang-22 CXX=clang++-22 cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DDS_BUILD_FUZZERS=ON "${LAUNCHER[@]}" >/dev/null
fi
ninja -C "$build" -j"${JOBS:-2}" deepspeed-config-fuzzer
work=$build/fuzz-config
mkdir -p "$work/corpus" "$work/artifacts"
grep -rl --include='*.json' -e train_batch_size -e zero_optimization -e '"optimizer"' \
  "$root/models" "$root/test" 2>/dev/null | while read -r json; do
  cp -n "$json" "$work/corpus/$(echo "${json#$root/}" | tr '/' '_')"
done
cd "$work"
"$build/bin/deepspeed-config-fuzzer" -max_total_time="$seconds" -rss_limit_mb=4096 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$@" "$work/corpus"
