#!/usr/bin/env bash
# Times the ONNX import of GPT-2 small (124M) with ds-opt: inline weights and external data.
# Usage: scripts/bench-import.sh [BUILD_DIR]   (default: build). Targets: < 5 s, < 1 MB of IR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
dsopt=$build/bin/ds-opt
gen=$root/models/gen
mkdir -p "$gen"
[ -f "$gen/gpt2_124m.onnx" ] || /usr/bin/python3 "$root/models/gen_gpt2.py" --out "$gen/gpt2_124m.onnx"
[ -f "$gen/gpt2_124m_ext.onnx" ] || /usr/bin/python3 "$root/models/gen_gpt2.py" --external-data --out "$gen/gpt2_124m_ext.onnx"
for model in gpt2_124m gpt2_124m_ext; do
  out=$(mktemp)
  start=$(date +%s.%N)
  "$dsopt" --emit=import "$gen/$model.onnx" --input-shape idx=1x1024 --input-shape targets=1x1024 -o "$out"
  end=$(date +%s.%N)
  printf '%-16s import %.2f s, IR %d bytes (%d lines)\n' "$model" \
    "$(echo "$end - $start" | bc)" "$(stat -c %s "$out")" "$(wc -l < "$out")"
  rm -f "$out"
done
