#!/usr/bin/env bash
# Times compiling GPT-2 small (124M) into a ZeRO stage-3 training plan for 8 ranks, and the
# 66B GPT of models/gen_large_gpt.py (sparse weights, nothing trained) for 512 ranks, bf16,
# stage 3, with zero_optimization.contiguous_gradients unset (ds-opt compiles the plan with
# and without gradient copy-in and keeps the smaller) and set to false (one compile).
# Usage: scripts/bench-compile.sh [BUILD_DIR]   (default: build). Target: < 20 s;
# ds-opt --mlir-timing shows where a compile's time goes.
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
[ -f "$gen/gpt_66b.onnx" ] || /usr/bin/python3 "$root/models/gen_large_gpt.py" 66b --out "$gen/gpt_66b.onnx" > /dev/null
for contiguous in unset false; do
  extra=""
  [ "$contiguous" = unset ] || extra=", \"contiguous_gradients\": $contiguous"
  echo "{\"train_micro_batch_size_per_gpu\": 1, \"bf16\": {\"enabled\": true}, \"zero_optimization\": {\"stage\": 3$extra}}" > "$cfg"
  /usr/bin/time -f "gpt_66b stage 3 world 512, contiguous_gradients $contiguous: compile %e s wall, %U s user" \
    "$dsopt" "$gen/gpt_66b.onnx" --config "$cfg" --world-size=512 -o "$out" 2>&1 | grep -v '^ds-opt: warning'
done
rm -f "$out" "$cfg"
