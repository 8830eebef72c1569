#!/usr/bin/env bash
# Builds the DeepSpeed-config libFuzzer target in build-fuzz/ (clang-22) and runs it for a bounded time.
# Usage: scripts/fuzz-config.sh [SECONDS [LIBFUZZER FLAGS...]]   (default 60). Crashes land in build-fuzz/fuzz-config/.
# Seed corpus: every ds_config JSON of models/ and test/.
set -euo pipefail
seconds=${1:-60}
shift || true
source "$(dirname "$0")/lib/fuzz-build.sh"
fuzz_build deepspeed-config-fuzzer fuzz-config
grep -rl --include='*.json' -e train_batch_size -e zero_optimization -e '"optimizer"' \
  "$root/models" "$root/test" 2>/dev/null | while read -r json; do
  cp -n "$json" "$work/corpus/$(echo "${json#$root/}" | tr '/' '_')"
done
cd "$work"
"$build/bin/deepspeed-config-fuzzer" -max_total_time="$seconds" -rss_limit_mb=4096 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$@" "$work/corpus"
