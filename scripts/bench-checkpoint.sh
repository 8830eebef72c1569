#!/usr/bin/env bash
# Checkpoint throughput against the filesystem's raw sequential throughput, in one run:
# ds-run --save-checkpoint of an MLP with large weights (AdamW: parameters, gradients and two
# moments, 16 bytes per parameter) against `dd conv=fsync` of as many bytes to the same
# directory, and ds-run --resume of it against `dd` reading the shard files back: once from
# the page cache (the files were just written) and once from the device (the files' cached
# pages dropped first with dd iflag=nocache), so each pair compares like with like.
# usage: scripts/bench-checkpoint.sh [DIR [HIDDEN [NPROC]]]   (default /tmp/ds-bench-ckpt, 2048, 1)
# The checkpoint holds about 16 * (HIDDEN^2 + 1024 * HIDDEN) bytes (2048: 96 MiB).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/ds-bench-ckpt}
H=${2:-2048}
N=${3:-1}
BIN=${DS_BUILD_DIR:-$root/build}/bin
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$W" && mkdir -p "$W"
/usr/bin/python3 - "$W/model.onnx" "$H" <<'PY'
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
path, h = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
w = lambda *s: numpy_helper.from_array((rng.standard_normal(s) * 0.01).astype(np.float32))
inits = []
for name, shape in [("w1", (h, 1024)), ("w2", (h, h)), ("w3", (10, h))]:
    t = w(*shape); t.name = name; inits.append(t)
g = helper.make_graph(
    [helper.make_node("Gemm", ["x", "w1"], ["h1"], transB=1),
     helper.make_node("Relu", ["h1"], ["r1"]),
     helper.make_node("Gemm", ["r1", "w2"], ["h2"], transB=1),
     helper.make_node("Relu", ["h2"], ["r2"]),
     helper.make_node("Gemm", ["r2", "w3"], ["logits"], transB=1),
     helper.make_node("SoftmaxCrossEntropyLoss", ["logits", "y"], ["loss"])],
    "bench", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 1024]),
              helper.make_tensor_value_info("y", TensorProto.INT64, [2])],
    [helper.make_tensor_value_info("loss", TensorProto.FLOAT, [])], inits)
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
PY
echo "{\"train_batch_size\": $((2 * N)), \"optimizer\": {\"type\": \"AdamW\", \"params\": {\"lr\": 0.001}}}" >"$W/config.json"
"$BIN/ds-opt" "$W/model.onnx" --config "$W/config.json" --world-size="$N" --zero-stage=$((N > 1 ? 3 : 0)) -o "$W/plan.dsplan" 2>/dev/null
# MiB/s of a ds-run line "(... in S s, R MiB/s)".
rate() { sed -n 's/.* in \([0-9.]*\) s, \([0-9.]*\) MiB\/s).*/\2/p' | head -1; }
save=$("$BIN/ds-run" "$W/plan.dsplan" --nproc "$N" --synthetic --steps 0 --save-checkpoint "$W/ck" | grep "saved checkpoint" | rate)
bytes=$(du -cb "$W"/ck/global_step0/*.safetensors | tail -1 | cut -f1)
mib=$(( (bytes + 1048575) / 1048576 ))
rawwrite=$(dd if=/dev/zero of="$W/raw" bs=1M count="$mib" conv=fsync 2>&1 | tail -1)
shards=("$W"/ck/global_step0/*.safetensors)
drop() { for f in "${shards[@]}"; do dd if="$f" iflag=nocache count=0 status=none; done; }
rawload=$(cat "${shards[@]}" | dd of=/dev/null bs=1M 2>&1 | tail -1)
load=$("$BIN/ds-run" "$W/plan.dsplan" --nproc "$N" --synthetic --steps 0 --resume "$W/ck" | grep "resumed from" | rate)
drop
rawcold=$(cat "${shards[@]}" | dd of=/dev/null bs=1M 2>&1 | tail -1)
drop
cold=$("$BIN/ds-run" "$W/plan.dsplan" --nproc "$N" --synthetic --steps 0 --resume "$W/ck" | grep "resumed from" | rate)
to_mib() { # dd's "N bytes ... copied, S s, R UNIT/s" -> MiB/s
  echo "$1" | awk '{for (i = 1; i <= NF; i++) if ($i == "s,") s = $(i - 1); print $1 / s / 1048576}'
}
rw=$(to_mib "$rawwrite")
rr=$(to_mib "$rawload")
rc=$(to_mib "$rawcold")
rm -f "$W/raw"
printf 'checkpoint: %s MiB on %s (%s)\n' "$mib" "$(df --output=fstype "$W" | tail -1)" "$W"
printf 'save   %8.1f MiB/s   raw write (dd conv=fsync) %8.1f MiB/s   ratio %.2f\n' "$save" "$rw" "$(echo "$save / $rw" | bc -l)"
printf 'load   %8.1f MiB/s   raw read  (dd, cached)    %8.1f MiB/s   ratio %.2f\n' "$load" "$rr" "$(echo "$load / $rr" | bc -l)"
printf 'load   %8.1f MiB/s   raw read  (dd, uncached)  %8.1f MiB/s   ratio %.2f\n' "$cold" "$rc" "$(echo "$cold / $rc" | bc -l)"
