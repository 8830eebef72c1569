#!/usr/bin/env bash
# Times a ZeRO training step at world 2 on the CPU: ds-run against DeepSpeed on its CPU
# accelerator, every ZeRO stage, in one run (issue #18: "at world 2 every ZeRO stage is <= 0.8x
# DeepSpeed-on-CPU's time").
#
#   scripts/bench-zero-cpu.sh [--stages "0 1 2 3"] [--rounds N] [--steps N] [--warmup N]
#                             [--threads N] [--ds-optimizer fused|torch] [--dsrun-comm mpi|tcp]
#                             [--tol X] [--dry-run]
#
# Model: the issue-#18 GPT of `bench-step.sh --train` (models/gen_gpt2.py: 4 layers, n_embd 256,
# 4 heads, vocab 2048, seq 128, 3.72M parameters, fp32, dropout 0), global batch 8 x 128 =
# micro-batch 4 per rank x 2 ranks, AdamW (lr 6e-4, betas 0.9/0.95, eps 1e-8, weight_decay 0.1
# on every parameter, gradient_clipping 0), 2 processes of --threads threads each (default 1).
# Both sides get the same ONNX initializers (DeepSpeed's torch model, scripts/bench_torch_gpt.py's
# nanoGPT twin with SDPA attention, loads them by name), the same data files read in ds-run's
# sample order, and the same DeepSpeed config file per stage.
#   ds-run:    ds-opt --zero-stage=S --world-size=2, then ds-run --nproc 2 (mpirun); its
#              per-step ms from --metrics (rank 0's wall clock per step). --dsrun-comm tcp:
#              the 2 ranks are started as torchrun starts workers (RANK, WORLD_SIZE,
#              MASTER_ADDR, MASTER_PORT), so ds-run uses its TCP communicator instead of MPI.
#   DeepSpeed: scripts/bench_zero_deepspeed.py under torchrun --nproc_per_node 2, gloo backend,
#              DS_ACCELERATOR=cpu; per-step ms timed in the script (rank 0). Optimizer:
#              --ds-optimizer fused (default): the config's "AdamW" as DeepSpeed builds it, i.e.
#              its FusedAdam (the CPU op builder compiles it on first use; DS_BUILD_OPS=0 at
#              install); torch: "torch_adam": true in the config, DeepSpeed then runs
#              torch.optim.AdamW. ds-opt reads the same file (torch_adam changes nothing there).
# DeepSpeed (pinned, $DS_VERSION below) and PyTorch from PyPI live in $BUILD/bench-venv (the
# venv of bench-step.sh --train; created on first use, about 5 GiB).
# Each stage runs --rounds rounds (default 2) of --warmup untimed + --steps timed steps
# (defaults 2 and 10) per side; the side that goes first alternates between rounds and stages
# (the machine is shared). Per stage: the median over all timed steps of all rounds of each side,
# the ratio ds-run / DeepSpeed (target <= 0.8), the 1-minute load average before each run (min-max),
# and the largest |loss difference| of the first min(steps, 5) steps of the first round (both
# sides train the same model from the same weights: it must be <= --tol, default 1e-5, else the
# script exits 1 after printing the table).
# --dry-run: check the options, print the settings and exit (nothing is built or run).
# Files: $BUILD/bench-zero-cpu/ (model, weights, data, configs, plans, per-run logs and JSON).
# Needs a build (made with scripts/build.sh if missing), mpirun, and onnx under /usr/bin/python3.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${DS_BUILD_DIR:-$ROOT/build}
PY=/usr/bin/python3
DS_VERSION=0.19.8
STAGES="0 1 2 3" ROUNDS=2 STEPS=10 WARMUP=2 THREADS=1 DSOPTIM=fused TOL=1e-5 DRYRUN=0 COMM=mpi
while [ $# -gt 0 ]; do
  case "$1" in
    --stages) STAGES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --ds-optimizer) DSOPTIM=$2; shift 2 ;;
    --tol) TOL=$2; shift 2 ;;
    --dsrun-comm) COMM=$2; shift 2 ;;
    --dry-run) DRYRUN=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "bench-zero-cpu: unknown option $1" >&2; exit 2 ;;
  esac
done
posint() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || { echo "bench-zero-cpu: $1 must be a positive integer, not '$2'" >&2; exit 2; }; }
posint --rounds "$ROUNDS"; posint --steps "$STEPS"; posint --threads "$THREADS"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || { echo "bench-zero-cpu: --warmup must be an integer >= 0, not '$WARMUP'" >&2; exit 2; }
for s in $STAGES; do
  [[ "$s" =~ ^[0-3]$ ]] || { echo "bench-zero-cpu: --stages takes ZeRO stages 0-3, not '$s'" >&2; exit 2; }
done
[ -n "${STAGES// /}" ] || { echo "bench-zero-cpu: --stages is empty" >&2; exit 2; }
case "$COMM" in mpi|tcp) ;; *) echo "bench-zero-cpu: --dsrun-comm is mpi or tcp, not '$COMM'" >&2; exit 2 ;; esac
case "$DSOPTIM" in fused|torch) ;; *) echo "bench-zero-cpu: --ds-optimizer is fused or torch, not '$DSOPTIM'" >&2; exit 2 ;; esac
awk -v t="$TOL" 'BEGIN {exit !(t + 0 > 0)}' || { echo "bench-zero-cpu: --tol must be a number > 0, not '$TOL'" >&2; exit 2; }
[ "$DRYRUN" = 1 ] && { echo "bench-zero-cpu: stages $STAGES, $ROUNDS rounds, $WARMUP+$STEPS steps, $THREADS threads, DeepSpeed optimizer $DSOPTIM, ds-run over $COMM, tol $TOL"; exit 0; }

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS

# Build if needed (-j2: shared machines).
if [ ! -f "$BUILD/build.ninja" ]; then
  DS_BUILD_DIR=$BUILD bash "$ROOT/scripts/build.sh" -j2 ds-opt ds-run
else
  ninja -C "$BUILD" -j2 ds-opt ds-run >/dev/null
fi
if ! $PY -c "import onnx, numpy" 2>/dev/null; then
  bash "$ROOT/scripts/setup.sh" --models
fi
VENV=$BUILD/bench-venv
if ! "$VENV/bin/python" -c "import torch, numpy" 2>/dev/null; then
  echo "bench-zero-cpu: installing PyTorch from PyPI into $VENV (once)"
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch numpy
fi
if [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("deepspeed"))' 2>/dev/null)" != "$DS_VERSION" ]; then
  echo "bench-zero-cpu: installing DeepSpeed $DS_VERSION from PyPI into $VENV (DS_BUILD_OPS=0)"
  DS_BUILD_OPS=0 "$VENV/bin/pip" install -q "deepspeed==$DS_VERSION"
fi

W=$BUILD/bench-zero-cpu
mkdir -p "$W/data"
DSOPT=$BUILD/bin/ds-opt
DSRUN=$BUILD/bin/ds-run
LAYERS=4 HEADS=4 EMBD=256 VOCAB=2048 SEQ=128 MICRO=4 WORLD=2
model=$W/gpt_l${LAYERS}_e${EMBD}_v${VOCAB}_s${SEQ}.onnx
[ -f "$model" ] || $PY "$ROOT/models/gen_gpt2.py" --layers $LAYERS --embd $EMBD --heads $HEADS \
  --vocab $VOCAB --seq $SEQ --block $SEQ --out "$model" >/dev/null
$PY - "$model" "$W/weights.npz" "$W/data" $VOCAB $SEQ $((MICRO * WORLD)) $((WARMUP + STEPS)) <<'EOF'
import sys, numpy as np, onnx
from onnx import numpy_helper
model, weights, data, vocab, seq, G, steps = sys.argv[1:3] + [sys.argv[3]] + [int(a) for a in sys.argv[4:]]
m = onnx.load(model)
np.savez(weights, **{t.name: numpy_helper.to_array(t) for t in m.graph.initializer})
rng = np.random.default_rng(0)
row = rng.integers(0, vocab, (G * steps, seq + 1), dtype=np.int64)   # nanoGPT pairs, distinct per step
np.save(data + "/idx.npy", row[:, :-1].copy())
np.save(data + "/targets.npy", row[:, 1:].copy())
EOF

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) exit 1; print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
load1() { cut -d' ' -f1 /proc/loadavg; }
# jsonlist FILE KEY [SKIP]: the numbers of list KEY, one a line, the first SKIP left out.
jsonlist() { $PY -c "import json, sys; [print(repr(x)) for x in json.load(open(sys.argv[1]))[sys.argv[2]][int(sys.argv[3]):]]" "$1" "$2" "${3:-0}"; }

# tcp_ranks N COMMAND...: N copies with torchrun's worker environment; the first failure's status.
tcp_ranks() {
  local n=$1 port r rc=0 pids=()
  shift
  port=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  for ((r = 0; r < n; ++r)); do
    RANK=$r LOCAL_RANK=$r WORLD_SIZE=$n LOCAL_WORLD_SIZE=$n MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$@" &
    pids+=($!)
  done
  for r in "${pids[@]}"; do wait "$r" || { [ $rc -ne 0 ] || rc=$?; }; done
  return $rc
}
run_dsrun() {  # STAGE ROUND
  local d=$W/stage$1 launch=("$DSRUN" "$W/stage$1/plan.dsplan" --nproc $WORLD)
  [ "$COMM" = tcp ] && launch=(tcp_ranks $WORLD "$DSRUN" "$d/plan.dsplan")
  "${launch[@]}" --threads "$THREADS" --data "$W/data" \
    --steps $((WARMUP + STEPS)) --print-every 1 --metrics "$d/ds-run.r$2.json" > "$d/ds-run.r$2.log" 2>&1 ||
    { cat "$d/ds-run.r$2.log" >&2; echo "bench-zero-cpu: ds-run failed at stage $1 (log above)" >&2; exit 1; }
  jsonlist "$d/ds-run.r$2.json" ms_per_step "$WARMUP" >> "$d/ds-run.ms"
}
run_deepspeed() {  # STAGE ROUND
  local d=$W/stage$1
  DS_ACCELERATOR=cpu "$VENV/bin/torchrun" --standalone --nproc_per_node $WORLD \
    "$ROOT/scripts/bench_zero_deepspeed.py" --weights "$W/weights.npz" --data "$W/data" \
    --config "$d/config.json" --layers $LAYERS --heads $HEADS --embd $EMBD --vocab $VOCAB --seq $SEQ \
    --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS" --json "$d/deepspeed.r$2.json" \
    > "$d/deepspeed.r$2.log" 2>&1 ||
    { tail -40 "$d/deepspeed.r$2.log" >&2; echo "bench-zero-cpu: DeepSpeed failed at stage $1 (log: $d/deepspeed.r$2.log)" >&2; exit 1; }
  jsonlist "$d/deepspeed.r$2.json" ms_per_step >> "$d/deepspeed.ms"
}

TORCH_ADAM=false
[ "$DSOPTIM" = torch ] && TORCH_ADAM=true
rows=() bad=0 flip=0 opts=
for S in $STAGES; do
  d=$W/stage$S
  rm -rf "$d" && mkdir -p "$d"
  cat > "$d/config.json" <<EOF
{"train_batch_size": $((MICRO * WORLD)), "train_micro_batch_size_per_gpu": $MICRO, "gradient_accumulation_steps": 1,
 "gradient_clipping": 0.0, "steps_per_print": 1000000, "zero_allow_untested_optimizer": true,
 "optimizer": {"type": "AdamW", "params": {"lr": 6e-4, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1,
                                           "torch_adam": $TORCH_ADAM}},
 "zero_optimization": {"stage": $S}}
EOF
  "$DSOPT" "$model" --config "$d/config.json" --zero-stage=$S --world-size=$WORLD -o "$d/plan.dsplan"
  : > "$d/ds-run.ms"; : > "$d/deepspeed.ms"; : > "$d/load"
  for ((r = 1; r <= ROUNDS; ++r)); do
    if [ $(((r + flip) % 2)) = 1 ]; then order="dsrun deepspeed"; else order="deepspeed dsrun"; fi
    for side in $order; do
      load1 >> "$d/load"
      echo "bench-zero-cpu: stage $S round $r: $side (load $(load1))" >&2
      "run_$side" "$S" "$r"
    done
  done
  flip=$((flip + 1))
  ds=$(median < "$d/ds-run.ms")
  dp=$(median < "$d/deepspeed.ms")
  n=$((WARMUP + STEPS < 5 ? WARMUP + STEPS : 5))
  dl=$($PY - "$d/ds-run.r1.json" "$d/deepspeed.r1.json" "$n" <<'EOF'
import json, sys
a, b = (json.load(open(p))["loss"] for p in sys.argv[1:3])
n = int(sys.argv[3])
print("%.2e" % max(abs(x - y) for x, y in zip(a[:n], b[:n])))
EOF
)
  awk -v x="$dl" -v t="$TOL" 'BEGIN {exit !(x + 0 <= t + 0)}' || bad=1
  read -r opt dsv tv backend < <("$VENV/bin/python" -c "import json, sys; d = json.load(open(sys.argv[1])); \
print(d['optimizer'], d['deepspeed'], d['torch'], d['backend'])" "$d/deepspeed.r1.json")
  case " $opts " in *" $opt "*) ;; *) opts="${opts:+$opts }$opt" ;; esac
  rows+=("$(printf '%5s  %10.2f  %12.2f  %6.2f  %11s  %s-%s' "$S" "$ds" "$dp" \
    "$(awk -v a="$ds" -v b="$dp" 'BEGIN {print a / b}')" "$dl" "$(sort -g "$d/load" | head -1)" "$(sort -g "$d/load" | tail -1)")")
done

echo "bench-zero-cpu: 3.72M-parameter GPT (4 layers, d 256, vocab 2048), global batch 8 x 128 (micro 4 x world $WORLD), fp32 AdamW, $THREADS thread(s) per rank, $ROUNDS round(s) of $WARMUP warm-up + $STEPS timed steps per side, medians"
if [ "$COMM" = mpi ]; then echo "  ds-run: ds-run --nproc $WORLD (mpirun, MPI communicator), its AdamW kernel"
else echo "  ds-run: $WORLD ranks with torchrun's worker environment (ds-run's TCP communicator), its AdamW kernel"; fi
echo "  DeepSpeed $dsv on torch $tv, DS_ACCELERATOR=cpu, backend $backend, optimizer $opts"
printf '%5s  %10s  %12s  %6s  %11s  %s\n' stage "ds-run ms" "DeepSpeed ms" ratio "max|dloss|" "load (1 min)"
printf '%s\n' "${rows[@]}"
echo "ratio = ds-run / DeepSpeed (target <= 0.8); max|dloss| over the first $n steps of round 1 (tolerance $TOL)"
if [ "$bad" = 1 ]; then
  echo "bench-zero-cpu: the two sides' losses differ by more than $TOL: not the same computation" >&2
  exit 1
fi
