#!/usr/bin/env bash
# Builds the ONNX-import libFuzzer target in build-fuzz/ (clang-22) and runs it for a bounded time.
# Usage: scripts/fuzz-import.sh [SECONDS [LIBFUZZER FLAGS...]]   (default 60). Crashes land in build-fuzz/fuzz-import/.
# Seed corpus: every bundled and test model (models/*.onnx, test/**/*.onnx, and each test
# .onnxtxt encoded to binary with protoc).
set -euo pipefail
seconds=${1:-60}
shift || true
source "$(dirname "$0")/lib/fuzz-build.sh"
fuzz_build import-onnx-fuzzer fuzz-import
find "$root/models" "$root/test" -name '*.onnx' -exec cp -n {} "$work/corpus/" \; 2>/dev/null || true
proto=$(ls /usr/include/onnx/onnx.proto 2>/dev/null || true)
if [ -n "$proto" ] && command -v protoc >/dev/null; then
  find "$root/test" -name '*.onnxtxt' | while read -r txt; do
    seed=$work/corpus/$(echo "${txt#$root/}" | tr '/' '_' | sed 's/\.onnxtxt$/.onnx/')
    [ -f "$seed" ] && continue
    grep -v '^#' "$txt" | protoc --encode=onnx.ModelProto -I"$(dirname "$proto")" onnx.proto \
      >"$seed" 2>/dev/null || rm -f "$seed"
  done
fi
cd "$work"
"$build/bin/import-onnx-fuzzer" -max_total_time="$seconds" -rss_limit_mb=4096 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$@" "$work/corpus"
