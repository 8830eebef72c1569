#!/usr/bin/env bash
# The main job on a fresh machine: installs and builds (progress shown), compiles the bundled GPT for ZeRO-3 on 2 ranks and for stage 0, prints both per-rank memory tables and draws their memory timelines, trains the ZeRO-3 plan on 2 MPI ranks with a checkpoint at the end, and ends with the summary and the files written.
#   scripts/run.sh   (STEPS=N trains N steps, default 50; DS_BUILD_DIR picks the build folder,
#                     DS_RUN_OUT the folder of what the run writes, default $DS_BUILD_DIR/run)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${DS_BUILD_DIR:-build}
STEPS=${STEPS:-50}
MODEL=models/gpt_dynbatch.onnx
CONFIG=models/configs/gpt/adamw_warmup_clip.json
WORLD=2
OUT=${DS_RUN_OUT:-$BUILD/run}
T0=$SECONDS
phase() { printf '\n== [%3ds] %s\n' "$((SECONDS - T0))" "$*"; }

phase "1/5 dependencies: Debian's LLVM/MLIR 22, protobuf, ONNX, OpenMPI, OpenBLAS (scripts/setup.sh; skips what is installed)"
bash scripts/setup.sh

phase "2/5 building ds-opt and ds-run into $BUILD/ (ninja; the first build takes several minutes)"
# One line per ~5% of ninja's steps (and every compiler message), not a screenful per file.
bash scripts/build.sh ds-opt ds-run 2>&1 | awk '
  /^\[[0-9]+\/[0-9]+\]/ {
    split(substr($1, 2, length($1) - 2), n, "/"); done = n[1] + 0; total = n[2] + 0
    if (total > 0 && (done == total || done * 20 >= (last + 1) * total)) {
      last = int(done * 20 / total); printf "  build %d/%d steps\n", done, total; fflush()
    }
    next
  }
  /^ninja: no work to do/ { print "  build: up to date"; next }
  /^ninja: Entering directory/ { next }
  { print; fflush() }'

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
phase "3/5 compiling $MODEL with $CONFIG for $WORLD ranks: ZeRO stage 3, and stage 0 to compare"
mkdir -p "$OUT"
for stage in 3 0; do
  "$BUILD/bin/ds-opt" "$MODEL" --config "$CONFIG" --zero-stage=$stage --world-size=$WORLD \
    --memory-report -o "$OUT/gpt-zero$stage.dsplan" > "$OUT/gpt-zero$stage.memory.txt"
done
# Both stages' planned memory over the step, one panel each on one scale.
TIMELINE="$OUT/gpt-zero0-vs-zero3.memory-timeline.svg"
"$BUILD/bin/ds-opt" "$MODEL" --config "$CONFIG" --zero-stage=3 --world-size=$WORLD \
  --memory-timeline="$TIMELINE" --memory-timeline-stages=0,3 -o "$OUT/gpt-zero3.dsplan"
echo "  wrote $OUT/gpt-zero3.dsplan and $OUT/gpt-zero0.dsplan"

phase "4/5 predicted memory per rank (ds-opt --memory-report)"
sed -n '1,/^$/p' "$OUT/gpt-zero0.memory.txt" | sed '/^$/d'
echo
# The ZeRO-3 report: its own rows, then every stage side by side (stage 0 is the first row).
sed -n '1,/^DeepSpeed/p' "$OUT/gpt-zero3.memory.txt" | sed '$d'
echo "  (full report with DeepSpeed's estimator: $OUT/gpt-zero3.memory.txt)"
echo "  memory over the step, stage 0 vs 3 (ds-opt --memory-timeline): $TIMELINE"

phase "5/5 training the ZeRO-3 plan on $WORLD ranks for $STEPS steps (ds-run --nproc $WORLD)"
rm -rf "$OUT/checkpoints"
"$BUILD/bin/ds-run" "$OUT/gpt-zero3.dsplan" --nproc $WORLD --data models/data/gpt \
  --steps "$STEPS" --metrics "$OUT/gpt-metrics.json" --save-checkpoint "$OUT/checkpoints"

# Loss and throughput curves (matplotlib, which scripts/setup.sh installs) when it can draw.
PLOT="metrics plot: not drawn (no matplotlib for /usr/bin/python3)"
if /usr/bin/python3 -c "import matplotlib" 2>/dev/null &&
  /usr/bin/python3 scripts/plot-metrics.py "$OUT/gpt-metrics.json" -o "$OUT/gpt-metrics.svg" \
    --label "ZeRO-3, $WORLD ranks" --title "$MODEL, $STEPS steps" >/dev/null; then
  PLOT="loss and throughput curves (scripts/plot-metrics.py): $OUT/gpt-metrics.svg"
fi

phase "done in $((SECONDS - T0)) s"
echo "  metrics (loss, lr per step; predicted/measured peak per rank): $OUT/gpt-metrics.json"
echo "  $PLOT"
echo "  checkpoint: $OUT/checkpoints/$(cat "$OUT/checkpoints/latest") (resume: ds-run ... --resume $OUT/checkpoints)"
echo "  plans: $OUT/gpt-zero3.dsplan (trained), $OUT/gpt-zero0.dsplan (stage 0, for comparison)"
echo "  memory timeline, stage 0 vs 3: $TIMELINE"
echo "  next: $BUILD/bin/ds-opt $MODEL --config $CONFIG --print-config"
