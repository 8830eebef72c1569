#!/usr/bin/env bash
# Checkpoint throughput against the filesystem's raw sequential throughput, in one run:
# ds-run --save-checkpoint of an MLP with large weights (AdamW: parameters, gradients and two
# moments, 16 bytes per parameter) and ds-run --resume of it, each against `dd` moving the
# same bytes in the same number of files in the same directory, with the same durability:
#   save            vs the faster of dd if=/dev/zero conv=fsync (page cache, one fsync at
#                   the end) and dd oflag=direct bs=16M conv=fsync (O_DIRECT: the disk's own
#                   sequential rate, no page-cache copy), one dd per shard file of that
#                   file's size: the filesystem's best durable sequential write. (The
#                   buffered dd alone starts its writeback only at the fsync, where ds-run
#                   starts it every 16 MiB: measured 2.5-3x below O_DIRECT on this ext4.)
#   load (cached)   vs dd of each shard file to /dev/null, the files just written (in the
#                   page cache)
#   load (uncached) vs the same, the files' cached pages dropped first (dd iflag=nocache,
#                   as /proc/sys/vm/drop_caches needs root on the host)
# Every figure is a tool's own timer (ds-run's "in S s", the sum of dd's "copied, S s"), so
# process start-up counts for neither. Each of ROUNDS rounds measures both, in alternating
# order; the median of each figure and the ratio of the medians are printed, with the load
# average (the machine may be shared).
# usage: scripts/bench-checkpoint.sh [DIR [HIDDEN [NPROC [ROUNDS]]]]
#        (default /tmp/ds-bench-ckpt, 4096, 1, 5)
# The checkpoint holds about 16 * (HIDDEN^2 + 1024 * HIDDEN) bytes (4096: 320 MiB).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/ds-bench-ckpt}
H=${2:-4096}
N=${3:-1}
R=${4:-5}
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
run() { "$BIN/ds-run" "$W/plan.dsplan" --nproc "$N" --synthetic --steps 0 "$@"; }
# MiB/s of a ds-run line "(... in S s, R MiB/s)".
rate() { sed -n 's/.* in \([0-9.]*\) s, \([0-9.]*\) MiB\/s).*/\2/p' | head -1; }
# Seconds dd reports ("N bytes ... copied, S s, ...") for one dd command.
ddsec() { "$@" 2>&1 | awk '/copied/ {for (i = 1; i <= NF; i++) if ($i == "s,") print $(i - 1)}'; }
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
drop() { for f in "${shards[@]}"; do dd if="$f" iflag=nocache count=0 status=none; done; }
rawwrite() { # MiB/s of the faster dd (see the header) writing files of the shards' sizes
  local s=0 d=0 i=0 t
  for f in "${shards[@]}"; do
    s=$(echo "$s + $(ddsec dd if=/dev/zero of="$W/raw$i" bs=4M iflag=count_bytes \
                      count="$(stat -c %s "$f")" conv=fsync)" | bc -l)
    rm -f "$W/raw$i"
    # A filesystem without O_DIRECT (tmpfs) fails here: the buffered dd alone counts.
    t=$(ddsec dd if=/dev/zero of="$W/raw$i" bs=16M iflag=count_bytes oflag=direct \
               count="$(stat -c %s "$f")" conv=fsync || true)
    d=$([ -n "$t" ] && [ "$d" != x ] && echo "$d + $t" | bc -l || echo x)
    rm -f "$W/raw$i"
    i=$((i + 1))
  done
  if [ "$d" != x ] && (($(echo "$d < $s" | bc -l))); then s=$d; fi
  echo "$bytes / $s / 1048576" | bc -l
}
rawread() { # MiB/s of dd reading the shard files
  local s=0
  for f in "${shards[@]}"; do
    s=$(echo "$s + $(ddsec dd if="$f" of=/dev/null bs=4M)" | bc -l)
  done
  echo "$bytes / $s / 1048576" | bc -l
}
: >"$W/rounds"
save() { rm -rf "$W/ck"; run --save-checkpoint "$W/ck" 2>&1 | grep "saved checkpoint" | rate; }
load() { run --resume "$W/ck" 2>&1 | grep "resumed from" | rate; }
for ((k = 0; k < R; ++k)); do
  # Odd rounds run the peer first, so that neither always follows the other's writeback.
  if ((k % 2 == 0)); then
    s=$(save)
    shards=("$W"/ck/global_step0/*.safetensors)
    bytes=$(du -cb "${shards[@]}" | tail -1 | cut -f1)
    rw=$(rawwrite)
    rr=$(rawread)
    l=$(load)
    drop
    rc=$(rawread)
    drop
    cold=$(load)
  else
    rw=$(rawwrite) # the shards' sizes from the round before
    s=$(save)
    shards=("$W"/ck/global_step0/*.safetensors)
    l=$(load)
    rr=$(rawread)
    drop
    cold=$(load)
    drop
    rc=$(rawread)
  fi
  echo "$s $rw $l $rr $cold $rc" >>"$W/rounds"
  printf 'round %d: save %.0f / %.0f   cached load %.0f / %.0f   uncached load %.0f / %.0f MiB/s (ds-run / dd)\n' \
    "$k" "$s" "$rw" "$l" "$rr" "$cold" "$rc"
done
col() { awk -v c="$1" '{print $c}' "$W/rounds" | median; }
line() { # label, ds-run column, raw column, raw label
  local a b
  a=$(col "$2")
  b=$(col "$3")
  printf '%-15s %8.1f MiB/s   %-28s %8.1f MiB/s   ratio %.2f\n' "$1" "$a" "$4" "$b" "$(echo "$a / $b" | bc -l)"
}
printf 'checkpoint: %s MiB in %s file(s) on %s (%s); median of %d rounds; load average %s\n' \
  "$((bytes / 1048576))" "${#shards[@]}" "$(df --output=fstype "$W" | tail -1 | tr -d ' ')" "$W" "$R" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
line "save" 1 2 "raw write (best dd, fsync)"
line "load cached" 3 4 "raw read (dd, cached)"
line "load uncached" 5 6 "raw read (dd, uncached)"
