#!/usr/bin/env bash
# The main job on a fresh machine: build, compile the bundled GPT for ZeRO stage 3 with a
# DeepSpeed config, and train it for 50 steps on the bundled data with ds-run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
BUILD=${DS_BUILD_DIR:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$BUILD/bin/ds-opt" --zero-stage=3 models/gpt_dynbatch.onnx \
  --config models/configs/gpt/adamw_warmup_clip.json -o "$BUILD/gpt.dsplan"
"$BUILD/bin/ds-run" "$BUILD/gpt.dsplan" --data models/data/gpt --steps "${STEPS:-50}" \
  --metrics "$BUILD/gpt-metrics.json"
