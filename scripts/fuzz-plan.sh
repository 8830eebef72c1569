#!/usr/bin/env bash
# Builds the plan-loader libFuzzer target in build-fuzz/ (clang-22) and runs it for a bounded time.
# Usage: scripts/fuzz-plan.sh [SECONDS [LIBFUZZER FLAGS...]]   (default 60). Crashes land in build-fuzz/fuzz-plan/.
set -euo pipefail
seconds=${1:-60}
shift || true
source "$(dirname "$0")/lib/fuzz-build.sh"
fuzz_build ds-plan-fuzzer fuzz-plan
cp -n "$root"/runtime/fuzz/corpus/* "$work/corpus/" 2>/dev/null || true
cd "$work"
"$build/bin/ds-plan-fuzzer" -max_total_time="$seconds" -rss_limit_mb=4096 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$@" "$work/corpus"
