#!/usr/bin/env bash
# One call on a lent GPU (device tool, or any CUDA machine): install the runtime, check every
# kernel of the bundled models against the CPU backend, train 30 steps and compare trajectories,
# run world 2 on one GPU (host-staged), compute-sanitizer one step, then benchmark GPT-2 124M
# (bf16, ZeRO 0 and 3, world 1) against PyTorch eager and torch.compile. Prints a table last.
#
# Here (with a build):   scripts/build.sh && scripts/make-device-bundle.sh   (carry .devbundle)
# There:                 bash scripts/gpu-check.sh [--quick]     results in $OUT (or /tmp/gpu-check)
# Without .devbundle it builds the runtime from this checkout (needs Debian's packages).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
LOG=$OUT/gpu-check.log
QUICK=${1:-}
DEADLINE=${DEADLINE:-480} # seconds: the PyTorch benchmark is cut to finish before it
left() { echo $((DEADLINE - ($(date +%s) - t0))); }
B=$ROOT/.devbundle
PLANS=$B/plans
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PYTHONUNBUFFERED=1
RESULTS=()
res() { RESULTS+=("$(printf '%-44s %s' "$1" "$2")"); echo "== $1: $2" | tee -a "$LOG"; }
run() { echo "+ $*" >>"$LOG"; "$@" >>"$LOG" 2>&1; }
t0=$(date +%s)

echo "== machine" | tee -a "$LOG"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; ldd --version | head -1
  command -v nvcc compute-sanitizer mpirun python3; python3 -c 'import torch; print("torch", torch.__version__)'
} 2>&1 | tee -a "$LOG"

# ---- install: carried binaries + their libraries (never overwriting the image's files)
if [ ! -x "$B/bin/ds-run" ]; then
  echo "== no .devbundle: building here" | tee -a "$LOG"
  run bash scripts/build.sh && run bash scripts/make-device-bundle.sh || { res install FAIL; exit 1; }
fi
if [ -f "$B/sysroot.tar.xz" ] && [ ! -e /.ds-sysroot-installed ]; then
  tar -xJPf "$B/sysroot.tar.xz" --skip-old-files 2>>"$LOG" && ldconfig && touch /.ds-sysroot-installed
fi
mkdir -p /tmp/dsbin
command -v mpirun >/dev/null || ln -sf /usr/bin/orterun /tmp/dsbin/mpirun
export PATH=/tmp/dsbin:$PATH
# CUDA libraries of the image: the toolkit's and PyTorch's wheels (NCCL usually lives there).
extra=$(python3 - <<'PY' 2>/dev/null
import glob, os, site
dirs = set()
for sp in site.getsitepackages():
    for pat in ("nvidia/*/lib", "nvidia/cu13/lib", "nvidia/*/lib64", "nvidia/cudnn/lib"):
        for d in glob.glob(os.path.join(sp, pat)):
            if (glob.glob(d + "/libnccl.so*") or glob.glob(d + "/libcublasLt.so*")
                    or glob.glob(d + "/libcudnn.so*")):
                dirs.add(d)
print(":".join(sorted(dirs)))
PY
)
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/local/cuda/lib:${extra}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
DSRUN=$B/bin/ds-run
missing=$(ldd "$DSRUN" "$B/lib/libds_cuda.so" 2>&1 | grep "not found" | sort -u)
if [ -n "$missing" ]; then echo "$missing" | tee -a "$LOG"; res "install (shared libraries)" FAIL; else res "install (shared libraries)" ok; fi

cmp_losses() { python3 test/Training/Inputs/compare_losses.py "$@" >>"$LOG" 2>&1; }
data() { echo "$ROOT/models/data/${1%%-*}"; }

# ---- 0. kernel unit tests: each kernel on CUDA and on the CPU from the same random inputs
if [ -x "$B/bin/ds_cuda_kernel_tests" ]; then
  timeout 150 "$B/bin/ds_cuda_kernel_tests" --gtest_brief=1 >"$OUT/kernel-tests.log" 2>&1
  r=$?
  res "kernel unit tests (cuda vs cpu)" "$([ $r = 0 ] && echo ok || echo "FAIL rc $r") $(grep -E '^\[  (PASSED|FAILED|SKIPPED)' "$OUT/kernel-tests.log" | tr '\n' ' ' | cut -c1-120)"
  grep -E '^\[  FAILED  \]' "$OUT/kernel-tests.log" | head -60 >>"$LOG"
fi

# ---- 0b. cuDNN fused attention (issue #12): forward/backward vs the CPU kernel within the
#           mixed-precision tolerance (DS_CUDNN_ATTENTION=require: no silent fallback)
if [ -x "$B/bin/ds_cuda_kernel_tests" ]; then
  timeout 120 "$B/bin/ds_cuda_kernel_tests" --gtest_filter='CudnnAttention.*' >"$OUT/cudnn-tests.log" 2>&1
  r=$?
  res "cudnn attention vs cpu (bf16/f16 tolerance)" "$([ $r = 0 ] && grep -q '^\[  PASSED  \] 1 test' "$OUT/cudnn-tests.log" && echo ok || echo "FAIL rc $r") $(grep -E 'cuDNN|Failure|SKIPPED' "$OUT/cudnn-tests.log" | head -2 | tr '\n' ' ' | cut -c1-100)"
  grep -E 'Failure|error|differs' "$OUT/cudnn-tests.log" | head -20 >>"$LOG"
fi

# ---- 1. every kernel of the bundled models against the CPU backend (same inputs)
for p in mlp-fp32-s0-w1 gpt-fp32-s3-w1 gpt-bf16-s0-w1 gpt-fp16-s0-w1; do
  if run "$DSRUN" "$PLANS/$p.dsplan" --backend cuda --verify-kernels --steps 2 --data "$(data $p)" \
      --metrics "$OUT/$p.verify.json"; then r=ok; else r=FAIL; fi
  n=$(python3 -c "import json;d=json.load(open('$OUT/$p.verify.json'));print(d['instructions_verified'],'instructions,',d['kernel_mismatches'],'mismatches')" 2>/dev/null)
  res "verify kernels $p" "$r ${n:-}"
done
grep "verify:" "$LOG" | sed 's/^ds-run: rank [0-9]*: verify: //' | cut -c1-220 | sort | uniq | head -40 > "$OUT/verify-mismatches.txt"

# ---- 2. 30-step trajectories: fp32 equals the CPU backend (rel 1e-4, no TF32), mixed
#          precision tracks the fp32 PyTorch reference (bf16 2%, fp16 0.5%)
for p in mlp-fp32-s0-w1 mlp-fp32-s3-w1 gpt-fp32-s0-w1 gpt-fp32-s3-w1; do
  run "$DSRUN" "$PLANS/$p.dsplan" --backend cuda --steps 30 --data "$(data $p)" --metrics "$OUT/$p.cuda.json" &&
    cmp_losses "$OUT/$p.cuda.json" "$PLANS/$p.cpu.json" 1e-4 30 && r=ok || r=FAIL
  res "train 30 steps $p vs cpu (1e-4)" "$r $(tail -1 "$LOG" | cut -c1-60)"
done
for p in mlp-bf16-s0-w1:0.02 gpt-bf16-s0-w1:0.02 gpt-fp16-s0-w1:0.005; do
  n=${p%%:*}; tol=${p##*:}; m=${n%%-*}
  run "$DSRUN" "$PLANS/$n.dsplan" --backend cuda --steps 30 --data "$(data $n)" --metrics "$OUT/$n.cuda.json" &&
    cmp_losses "$OUT/$n.cuda.json" "models/ref/$m/train_adamw.json" "$tol" 30 && r=ok || r=FAIL
  res "train 30 steps $n vs torch fp32 ($tol)" "$r $(tail -1 "$LOG" | cut -c1-60)"
done
grep -h '"backend"' "$OUT/gpt-fp32-s3-w1.cuda.json" 2>/dev/null | tee -a "$LOG"

# ---- 3. world 2 on one GPU (host-staged through MPI) equals world 1
p=gpt-fp32-s3-w2
run "$DSRUN" "$PLANS/$p.dsplan" --backend cuda --nproc 2 --steps 30 --data "$(data $p)" --metrics "$OUT/$p.cuda.json" &&
  cmp_losses "$OUT/$p.cuda.json" "$OUT/gpt-fp32-s3-w1.cuda.json" 1e-4 30 && r=ok || r=FAIL
res "world 2 on 1 GPU (host-staged) vs world 1" "$r $(tail -1 "$LOG" | cut -c1-60)"
grep -h '"backend"' "$OUT/$p.cuda.json" 2>/dev/null | tee -a "$LOG"
p=gpt-bf16-s3-w2
run "$DSRUN" "$PLANS/$p.dsplan" --backend cuda --nproc 2 --steps 30 --data "$(data $p)" --metrics "$OUT/$p.cuda.json" &&
  cmp_losses "$OUT/$p.cuda.json" "models/ref/gpt/train_adamw.json" 0.02 30 && r=ok || r=FAIL
res "bf16 ZeRO-3 world 2 vs torch fp32 (0.02)" "$r"

# ---- 3b. offload on the GPU (issue #11): host-stream CPU Adam through CUDA host functions,
#           pinned copies on the copy stream, NVMe swaps on the io stream
mkdir -p "${DS_GPU_NVME:-/tmp/ds-gpu-nvme}"   # the nvme_path compiled into the nvme plans
for p in gpt-fp32-s2-w1-offcpu gpt-fp32-s3-w1-offnvme-nvme; do
  run "$DSRUN" "$PLANS/$p.dsplan" --backend cuda --steps 30 --data "$(data $p)" --metrics "$OUT/$p.cuda.json" &&
    cmp_losses "$OUT/$p.cuda.json" "$PLANS/$p.cpu.json" 1e-5 30 && r=ok || r=FAIL
  res "offload $p vs cpu (1e-5)" "$r $(tail -1 "$LOG" | cut -c1-60)"
  cmp_losses "$OUT/$p.cuda.json" "$OUT/gpt-fp32-s0-w1.cuda.json" 1e-5 30 && r=ok || r=FAIL
  res "offload $p vs cuda no offload (1e-5)" "$r $(tail -1 "$LOG" | cut -c1-60)"
done
p=gpt-bf16-s2-w1-offcpu
run "$DSRUN" "$PLANS/$p.dsplan" --backend cuda --steps 30 --data "$(data $p)" --metrics "$OUT/$p.cuda.json" &&
  cmp_losses "$OUT/$p.cuda.json" "$OUT/gpt-bf16-s0-w1.cuda.json" 0.01 30 && r=ok || r=FAIL
res "offload $p vs cuda no offload (0.01)" "$r $(tail -1 "$LOG" | cut -c1-60)"
grep -h '"backend"' "$OUT/gpt-fp32-s2-w1-offcpu.cuda.json" 2>/dev/null | tee -a "$LOG"
left_swaps=$(ls "${DS_GPU_NVME:-/tmp/ds-gpu-nvme}" 2>/dev/null | wc -l)
res "offload nvme: swap files left" "$([ "$left_swaps" = 0 ] && echo ok || echo "FAIL $left_swaps")"

# ---- 3c. torchvision CNNs (issue #14): every instruction equals the CPU backend, and 6 fp32
#           steps follow PyTorch's losses within 1e-4 (test/Runtime/cuda/cnn.test, as a row)
for m in resnet mobilenet vit; do
  p=cnn-$m
  run "$DSRUN" "$PLANS/$p.dsplan" --backend cuda --verify-kernels --steps 2 --data "$ROOT/models/data/cnn" \
    --metrics "$OUT/$p.verify.json" && r=ok || r=FAIL
  n=$(python3 -c "import json;d=json.load(open('$OUT/$p.verify.json'));print(d['instructions_verified'],'instructions,',d['kernel_mismatches'],'mismatches')" 2>/dev/null)
  res "verify kernels $p" "$r ${n:-}"
  run "$DSRUN" "$PLANS/$p.dsplan" --backend cuda --steps 6 --data "$ROOT/models/data/cnn" --metrics "$OUT/$p.cuda.json" &&
    cmp_losses "$OUT/$p.cuda.json" "models/ref/$m/train_adamw.json" 1e-4 6 && r=ok || r=FAIL
  res "train 6 steps $p vs pytorch (1e-4)" "$r $(tail -1 "$LOG" | cut -c1-60)"
done

# ---- 3d. generated PTX for fused_elementwise (issue #18): every instruction equals the CPU
#           backend with the driver-loaded kernels, and the losses equal the interpreter's
p=gpt-bf16-s0-w1-gen
run "$DSRUN" "$PLANS/$p.dsplan" --backend cuda --verify-kernels --steps 2 --data "$(data $p)" \
  --metrics "$OUT/$p.verify.json" && r=ok || r=FAIL
n=$(python3 -c "import json;d=json.load(open('$OUT/$p.verify.json'));print(d['instructions_verified'],'instructions,',d['kernel_mismatches'],'mismatches;',d['backend'][-60:])" 2>/dev/null)
res "verify kernels $p (generated PTX)" "$r ${n:-}"
run "$DSRUN" "$PLANS/$p.dsplan" --backend cuda --steps 6 --data "$(data $p)" --metrics "$OUT/$p.gen.json"
DS_FUSED_INTERPRETER=1 run "$DSRUN" "$PLANS/$p.dsplan" --backend cuda --steps 6 --data "$(data $p)" \
  --metrics "$OUT/$p.interp.json"
cmp_losses "$OUT/$p.gen.json" "$OUT/$p.interp.json" 1e-5 6 && r=ok || r=FAIL
res "train 6 steps generated PTX vs interpreter (1e-5)" "$r"

# ---- 4. compute-sanitizer on one step (eager and with graphs)
if command -v compute-sanitizer >/dev/null; then
  p=gpt-fp32-s3-w1
  if timeout 240 compute-sanitizer --tool memcheck --report-api-errors no --error-exitcode 9 "$DSRUN" "$PLANS/$p.dsplan" \
      --backend cuda --steps 1 --data "$(data $p)" >"$OUT/sanitizer.log" 2>&1; then r=ok; else r="FAIL (rc $?)"; fi
  res "compute-sanitizer memcheck $p, 1 step" "$r: $(grep 'ERROR SUMMARY' "$OUT/sanitizer.log" | tail -1)"
  tail -3 "$OUT/sanitizer.log" >>"$LOG"
else
  res "compute-sanitizer" "not on this machine"
fi
[ "$QUICK" = --quick ] && { printf '%s\n' "${RESULTS[@]}" | tee "$OUT/summary.txt"; exit 0; }

# ---- 5. benchmark: GPT-2 124M, bf16, micro-batch 8 x 1024 tokens, world 1
gen=/tmp/gpt2gen
mkdir -p "$gen"
[ -f "$gen/gpt2_124m_ext.onnx" ] || run python3 models/gen_gpt2.py --external-data --out "$gen/gpt2_124m_ext.onnx"
TOK=8192
bench_ds() { # stage
  local p=gpt2-bf16-s$1-w1
  run "$DSRUN" "$PLANS/$p.dsplan" --backend cuda --model "$gen/gpt2_124m_ext.onnx" --synthetic \
    --steps 12 --metrics "$OUT/$p.bench.json" || return 1
  DS_CUDA_PROFILE=1 "$DSRUN" "$PLANS/$p.dsplan" --backend cuda --model "$gen/gpt2_124m_ext.onnx" \
    --synthetic --steps 3 2>"$OUT/$p.profile.txt" >/dev/null
}
bench_ds 0; bench_ds 3
# cuDNN attention in the GPT-2 plan (the backend line names how many instructions it runs)
# and the same step with the fallback kernels (DS_CUDNN_ATTENTION=0); the step with generated
# PTX for the fused kernels against the interpreter; the cost report's estimate beside it
p=gpt2-bf16-s0-w1-gen
run "$DSRUN" "$PLANS/$p.dsplan" --backend cuda --model "$gen/gpt2_124m_ext.onnx" --synthetic \
  --steps 12 --metrics "$OUT/$p.bench.json"
res "gpt2 step, generated PTX vs interpreter" "$(python3 - "$OUT/$p.bench.json" "$OUT/gpt2-bf16-s0-w1.bench.json" "$PLANS/gpt2-bf16-s0-w1.cost.json" <<'PY' 2>/dev/null || echo FAIL
import json, statistics, sys
a, b = (statistics.median(json.load(open(f))["ms_per_step"][3:]) for f in sys.argv[1:3])
c = json.load(open(sys.argv[3]))
print("%.1f ms vs %.1f ms (cost report: h200 estimate %.1f ms, floor %.1f ms)" %
      (a, b, 1e3 * c["estimated_step_s"]["h200"], 1e3 * c["floor_step_s"]["h200"]))
PY
)"
# The cost report's launch model (device operations per program) against the captured graphs.
p=gpt2-bf16-s0-w1
DS_CUDA_GRAPH_NODES=1 run "$DSRUN" "$PLANS/$p.dsplan" --backend cuda --model "$gen/gpt2_124m_ext.onnx" \
  --synthetic --steps 3 2>"$OUT/$p.graphs.txt" >/dev/null
res "gpt2 device operations: graph vs cost report" "$(python3 - "$OUT/$p.graphs.txt" "$PLANS/$p.cost.json" <<'PY' 2>/dev/null || echo FAIL
import json, re, sys
graphs = {m.group(1): int(m.group(2)) for m in re.finditer(r"program '(\w+)' graph: (\d+) device", open(sys.argv[1]).read())}
model = {q["name"]: q["launches"] for q in json.load(open(sys.argv[2]))["programs"]}
print(", ".join("%s %s vs %d" % (k, graphs.get(k, "?"), model[k]) for k in ("micro_step", "apply_step") if k in model))
PY
)"
res "gpt2 cudnn attention" "$(python3 -c "import json,re;b=json.load(open('$OUT/$p.bench.json'))['backend'];m=re.search(r'cuDNN attention [^,)]*(\([^)]*\))?',b);print(m.group(0) if m else 'not used: '+b)" 2>/dev/null | cut -c1-100)"
DS_CUDNN_ATTENTION=0 run "$DSRUN" "$PLANS/$p.dsplan" --backend cuda --model "$gen/gpt2_124m_ext.onnx" \
  --synthetic --steps 12 --metrics "$OUT/$p.nocudnn.json"
res "gpt2 step, cudnn vs fallback attention" "$(python3 - "$OUT/$p.bench.json" "$OUT/$p.nocudnn.json" <<'PY' 2>/dev/null || echo FAIL
import json, statistics, sys
a, b = (statistics.median(json.load(open(f))["ms_per_step"][3:]) for f in sys.argv[1:3])
la, lb = (json.load(open(f))["loss"] for f in sys.argv[1:3])
rel = max(abs(x - y) / max(abs(y), 1e-30) for x, y in zip(la, lb))
print("%.1f ms vs %.1f ms: %.2fx faster; losses within %.2g" % (a, b, b / a, rel))
PY
)"

# ---- 5b. GPT-2 124M with CPU optimizer offload (stage 2): same losses as without offload,
#           step-time ratio, and the executor's per-stream timeline (copy/host vs compute)
offload_bench() {
  local a=gpt2-bf16-s2-w1 b=gpt2-bf16-s2-w1-offcpu
  run "$DSRUN" "$PLANS/$a.dsplan" --backend cuda --model "$gen/gpt2_124m_ext.onnx" --synthetic \
    --steps 12 --metrics "$OUT/$a.bench.json" || { res "gpt2 124M offload cpu" "FAIL (no offload run)"; return; }
  run "$DSRUN" "$PLANS/$b.dsplan" --backend cuda --model "$gen/gpt2_124m_ext.onnx" --synthetic \
    --steps 12 --metrics "$OUT/$b.bench.json" || { res "gpt2 124M offload cpu" "FAIL (offload run)"; return; }
  cmp_losses "$OUT/$b.bench.json" "$OUT/$a.bench.json" 0.01 12 && r=ok || r=FAIL
  res "gpt2 124M bf16 offload cpu vs none (0.01)" "$r $(tail -1 "$LOG" | cut -c1-60)"
  res "gpt2 124M offload step time" "$(python3 - "$OUT/$a.bench.json" "$OUT/$b.bench.json" <<'PY'
import json, statistics, sys
a, b = (statistics.median(json.load(open(f))["ms_per_step"][3:]) for f in sys.argv[1:3])
print("%.1f ms vs %.1f ms without offload: ratio %.2fx" % (b, a, b / a))
PY
)"
  DS_CUDA_TIMELINE=1 "$DSRUN" "$PLANS/$b.dsplan" --backend cuda --model "$gen/gpt2_124m_ext.onnx" \
    --synthetic --steps 3 2>"$OUT/$b.timeline.txt" >/dev/null
  grep 'stream timeline' "$OUT/$b.timeline.txt" | tee -a "$LOG" | sed 's/^ds-run: rank 0: //' > "$OUT/timeline-lines.txt"
  ov=$(python3 - "$OUT/timeline-lines.txt" <<'PY'
import re, sys
out = []
for line in open(sys.argv[1]):
    prog = re.search(r"'([^']+)'", line).group(1)
    for s in ("copy", "host", "io"):
        m = re.search(s + r" busy ([0-9.]+) overlapping compute ([0-9.]+)", line)
        if m:
            out.append("%s %s %.1f/%.1f ms" % (prog, s, float(m.group(2)), float(m.group(1))))
overlapped = any(o.split()[1] == "copy" and float(o.split()[2].split("/")[0]) > 0 for o in out)
print(("ok " if overlapped else "FAIL (no copy overlapping compute) ") +
      ("; ".join(out) if out else "no timeline"))
PY
)
  res "gpt2 offload overlap (with compute/busy)" "$ov"
}
offload_bench
run timeout $(($(left) > 30 ? $(left) - 20 : 10)) python3 scripts/bench_torch_gpt.py --batch 8 --seq 1024 \
  --steps 10 --warmup 3 --modes eager --json "$OUT/torch-eager.json"
run timeout $(($(left) > 30 ? $(left) - 15 : 10)) python3 scripts/bench_torch_gpt.py --batch 8 --seq 1024 \
  --steps 10 --warmup 3 --modes compile --json "$OUT/torch-compile.json"
python3 - "$OUT" "$TOK" <<'PY' | tee "$OUT/bench-table.txt" | tee -a "$LOG"
import json, os, statistics, sys
out, tok = sys.argv[1], int(sys.argv[2])
t = {"modes": {}}
for mode in ("eager", "compile"):
    try:
        j = json.load(open(os.path.join(out, "torch-%s.json" % mode)))
        t["modes"].update(j.get("modes", {}))
        for k, v in j.items():
            if k != "modes":
                t.setdefault(k, v)
    except Exception as e:
        print("torch %s benchmark missing: %s" % (mode, e))
fpt = t.get("flops_per_token")
peak = t.get("peak_tflops", 989.0) * 1e12
rows = []
for stage in (0, 3):
    try:
        m = json.load(open(os.path.join(out, "gpt2-bf16-s%d-w1.bench.json" % stage)))
        ms = statistics.median(m["ms_per_step"][3:])
        rows.append(("ds-run ZeRO-%d (bf16)" % stage, ms))
    except Exception as e:
        rows.append(("ds-run ZeRO-%d (bf16)" % stage, None))
for mode in ("eager", "compile"):
    r = t.get("modes", {}).get(mode, {})
    rows.append(("PyTorch %s (bf16 autocast)" % mode, r.get("ms_per_step")))
eager = dict(rows).get("PyTorch eager (bf16 autocast)")
print("GPU: %s; GPT-2 124M, 8 x 1024 tokens/step, AdamW, world 1" % t.get("gpu", "?"))
print("%-30s %10s %12s %7s %10s" % ("", "ms/step", "tokens/s", "MFU", "vs eager"))
for name, ms in rows:
    if ms is None:
        print("%-30s %10s" % (name, "failed"))
        continue
    tps = tok / (ms / 1e3)
    mfu = (fpt * tps / peak) if fpt else float("nan")
    print("%-30s %10.1f %12.0f %6.1f%% %10s" % (name, ms, tps, 100 * mfu,
          "%.2fx" % (eager / ms) if eager else "-"))
PY
head -45 "$OUT/gpt2-bf16-s0-w1.profile.txt" >>"$OUT/bench-table.txt" 2>/dev/null
echo "== total $(($(date +%s) - t0)) s" | tee -a "$LOG"
echo; echo "==== summary"; printf '%s\n' "${RESULTS[@]}" | tee "$OUT/summary.txt"; echo; cat "$OUT/bench-table.txt"
# The device tool returns at most 8 files: pack the per-run details into one archive.
(cd "$OUT" && tar czf gpu-check-details.tgz --exclude gpu-check-details.tgz --exclude summary.txt \
   --exclude bench-table.txt --exclude gpu-check.log . &&
 find . -maxdepth 1 -type f ! -name gpu-check-details.tgz ! -name summary.txt ! -name bench-table.txt \
   ! -name gpu-check.log -delete)
