#!/usr/bin/env bash
# Times compiling GPT-2 small (124M) into a ZeRO stage-3 training plan for 8 ranks.
# Usage: scripts/bench-compile.sh [BUILD_DIR]   (default: build). Target: < 20 s.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
dsopt=$build/bin/ds-opt
gen=$root/models/gen
mkdir -p "$gen"
[ -f "$gen/gpt2_124m_ext.onnx" ] || /usr/bin/python3 "$root/models/gen_gpt2.py" --external-data --out "$gen/gpt2_124m_ext.onnx"
cfg=$(mktemp --suffix=.json)
cat > "$cfg" <<'JSON'
{"train_batch_size": 8, "gradient_accumulation_steps": 1,
 "optimizer": {"type": "AdamW", "params": {"lr": 6e-4, "weight_decay": 0.1}},
 "zero_optimization": {"stage": 3}}
JSON
out=$(mktemp --suffix=.dsplan)
for world in 8; do
  start=$(date +%s.%N)
  "$dsopt" "$gen/gpt2_124m_ext.onnx" --config "$cfg" --world-size=$world -o "$out" 2>/dev/null
  end=$(date +%s.%N)
  printf 'gpt2_124m stage 3 world %d: compile %.2f s, plan %d bytes\n' "$world" \
    "$(echo "$end - $start" | bc)" "$(stat -c %s "$out")"
  "$dsopt" "$gen/gpt2_124m_ext.onnx" --config "$cfg" --world-size=$world --memory-report 2>/dev/null | sed -n '1,10p'
done
rm -f "$out" "$cfg"
