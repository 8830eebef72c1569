#!/usr/bin/env bash
# Prints the bundled models' training losses (and the final weights' hashes) for a fixed set of
# configs — fp32/bf16/fp16, ZeRO 0-3, world 1 and 2, clipping, accumulation — so that a refactor can
# be shown to change nothing: run before and after, then `diff` the two outputs (bitwise).
#   scripts/loss-fingerprint.sh [BUILD_DIR] > before.txt
# DS_OPT_FLAGS (e.g. --multi-tensor-optimizer=false) is added to every ds-opt command, so that
# one build can compare a compiler option's two settings.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
run() { # name model config [ds-opt flags...] -- [ds-run flags...]
  local n=$1 m=$2 c=$3; shift 3
  local opt=() rt=(); while [ $# -gt 0 ] && [ "$1" != "--" ]; do opt+=("$1"); shift; done
  [ $# -gt 0 ] && shift; rt=("$@")
  # shellcheck disable=SC2086 # DS_OPT_FLAGS is a list of flags
  "$BUILD/bin/ds-opt" "models/${m}_dynbatch.onnx" --config "$c" ${DS_OPT_FLAGS:-} "${opt[@]}" \
    -o "$T/$n.dsplan"
  "$BUILD/bin/ds-run" "$T/$n.dsplan" --data "models/data/$m" --steps 12 --metrics "$T/$n.metrics.json" \
    --save-params "$T/$n.w" "${rt[@]}" > /dev/null
  python3 - "$n" "$T/$n.metrics.json" "$T/$n.w" <<'PY'
import json, sys, hashlib, os
name, metrics, wdir = sys.argv[1:4]
losses = json.load(open(metrics))["loss"]
h = hashlib.sha256()
for f in sorted(os.listdir(wdir)):
    h.update(f.encode()); h.update(open(os.path.join(wdir, f), "rb").read())
print(name, " ".join(float(x).hex() for x in losses), h.hexdigest()[:16])
PY
}
for m in mlp gpt; do
  for c in adamw adamw_warmup_clip sgd adamw_accum4; do
    run "$m-$c" $m "models/configs/$m/$c.json"
  done
  for p in bf16 fp16; do
    python3 -c "import json,sys; c=json.load(open(sys.argv[1])); c[sys.argv[2]]={'enabled': True}; json.dump(c, open(sys.argv[3],'w'))" \
      "models/configs/$m/adamw.json" $p "$T/$m-$p.json"
    run "$m-$p" $m "$T/$m-$p.json"
    run "$m-$p-z3w2" $m "$T/$m-$p.json" --zero-stage=3 --world-size=2 -- --nproc 2
    run "$m-$p-z0w2" $m "$T/$m-$p.json" --zero-stage=0 --world-size=2 -- --nproc 2
  done
  run "$m-clip-z0w2" $m "models/configs/$m/adamw_warmup_clip.json" --zero-stage=0 --world-size=2 -- --nproc 2
  run "$m-z0w2" $m "test/Zero/Inputs/${m}_accum2.json" --zero-stage=0 --world-size=2 -- --nproc 2
  run "$m-z1w2" $m "test/Zero/Inputs/${m}_accum2.json" --zero-stage=1 --world-size=2 -- --nproc 2
  run "$m-z2w2" $m "test/Zero/Inputs/${m}_accum2.json" --zero-stage=2 --world-size=2 -- --nproc 2
  run "$m-z3w2" $m "test/Zero/Inputs/${m}_accum2.json" --zero-stage=3 --world-size=2 -- --nproc 2
done
