#!/usr/bin/env bash
# Builds the parameter-loading libFuzzer target in build-fuzz/ (clang-22) and runs it for a bounded time.
# Usage: scripts/fuzz-params.sh [SECONDS [LIBFUZZER FLAGS...]]   (default 60). Crashes land in build-fuzz/fuzz-params/.
# Seed corpus: runtime/fuzz/params-corpus/*.onnxtxt encoded with protoc (initializers named as
# the fuzzer's plan asks) and the small ONNX models of models/ and test/.
set -euo pipefail
seconds=${1:-60}
shift || true
source "$(dirname "$0")/lib/fuzz-build.sh"
fuzz_build ds-params-fuzzer fuzz-params
find "$root/models" "$root/test" -name '*.onnx' -size -16k -exec cp -n {} "$work/corpus/" \; 2>/dev/null || true
proto=$(ls /usr/include/onnx/onnx.proto 2>/dev/null || true)
if [ -n "$proto" ] && command -v protoc >/dev/null; then
  for txt in "$root"/runtime/fuzz/params-corpus/*.onnxtxt; do
    seed=$work/corpus/$(basename "${txt%.onnxtxt}").onnx
    [ -f "$seed" ] && continue
    grep -v '^#' "$txt" | protoc --encode=onnx.ModelProto -I"$(dirname "$proto")" onnx.proto \
      >"$seed" 2>/dev/null || rm -f "$seed"
  done
fi
cd "$work"
"$build/bin/ds-params-fuzzer" -max_total_time="$seconds" -rss_limit_mb=4096 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$@" "$work/corpus"
