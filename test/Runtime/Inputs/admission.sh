#!/usr/bin/env bash
# Memory admission: a plan that needs more memory per rank than the rank can get is refused
# before allocating, in one line with both numbers: under ulimit -v (always), and in a 3 GiB
# cgroup v1 memory controller shared by 2 ranks (skipped with a message where no cgroup can be
# created). Prints PASS.
# usage: admission.sh WORKDIR DS_OPT DS_RUN SRC_ROOT
set -u
W=$1 DSOPT=$2 DSRUN=$3 SRC=$4
rm -rf "$W" && mkdir -p "$W"
bad() { echo "FAIL: $*"; exit 1; }
# 12 GiB of arena per rank (micro-batch 2^24 of the MLP).
B=16777216
for n in 1 2; do
  "$DSOPT" "$SRC/models/mlp_dynbatch.onnx" --input-shape x=${B}x16 --input-shape y=$B \
    --world-size=$n -o "$W/big$n.dsplan" || bad "ds-opt"
done

(ulimit -v 4000000; exec "$DSRUN" "$W/big1.dsplan" --synthetic --steps 1) \
  >"$W/out" 2>"$W/err" && bad "ulimit: ran"
grep -q "the plan needs 11.63 GiB (12482279756 bytes" "$W/err" || bad "ulimit: $(cat "$W/err")"
grep -q "ulimit -v 3.81 GiB (RLIMIT_AS" "$W/err" || bad "ulimit: $(cat "$W/err")"
grep -q "step 1" "$W/out" && bad "ulimit: trained"
echo "ulimit: $(head -1 "$W/err")"

CG=/sys/fs/cgroup/memory/ds-admission-$$
if mkdir "$CG" 2>/dev/null && echo $((3 << 30)) >"$CG/memory.limit_in_bytes" 2>/dev/null; then
  trap 'rmdir "$CG" 2>/dev/null' EXIT
  bash -c "echo \$\$ > $CG/cgroup.procs && exec \"$DSRUN\" \"$W/big2.dsplan\" --nproc 2 --synthetic --steps 1" \
    >"$W/out" 2>"$W/err" && bad "cgroup: ran"
  grep -q "the cgroup memory limit 3.00 GiB" "$W/err" || bad "cgroup: $(cat "$W/err")"
  grep -q "for each of the 2 ranks on this node" "$W/err" || bad "cgroup: $(cat "$W/err")"
  echo "cgroup: $(head -1 "$W/err")"
  echo $$ >/sys/fs/cgroup/memory/cgroup.procs 2>/dev/null
else
  echo "cgroup: SKIP (cannot create a cgroup v1 memory group under /sys/fs/cgroup/memory)"
fi
echo PASS
