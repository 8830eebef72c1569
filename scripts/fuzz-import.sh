#!/usr/bin/env bash
# Builds the ONNX-import libFuzzer target in build-fuzz/ (clang-22) and runs it for a bounded time.
# Usage: scripts/fuzz-import.sh [SECONDS]   (default 60). Crashes land in build-fuzz/fuzz-import/.
set -euo pipefail
seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-fuzz
if [ ! -f "$build/build.ninja" ]; then
  CC=clang-22 CXX=clang++-22 cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DDS_BUILD_FUZZERS=ON >/dev/null
fi
ninja -C "$build" -j"${JOBS:-2}" import-onnx-fuzzer
work=$build/fuzz-import
mkdir -p "$work/corpus" "$work/artifacts"
cp -n "$root/models/mlp.onnx" "$work/corpus/" 2>/dev/null || true
cd "$work"
"$build/bin/import-onnx-fuzzer" -max_total_time="$seconds" -rss_limit_mb=4096 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus"
