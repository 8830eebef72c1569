#!/usr/bin/env bash
# NVMe offload faults (issue #11): an unusable nvme_path (missing, a file, too little free
# space, read-only) is refused before training with the path named; an I/O error mid-run
# (the swap file truncated under the job) and SIGTERM stop every rank; no swap file is left
# behind in any case. Prints one line per case and PASS; the cases that need a tmpfs mount
# (root) print SKIP lines where mounting is impossible.
# usage: nvme_faults.sh WORKDIR DS_OPT DS_RUN SRC_ROOT PYTHON
set -u
W=$1 DSOPT=$2 DSRUN=$3 SRC=$4 PY=$5
rm -rf "$W" && mkdir -p "$W/nvme"
bad() { echo "FAIL: $*"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# plan DIR: an MLP plan (stage 2, 2 ranks) with its optimizer state in DIR.
plan() {
  "$PY" "$SRC/test/Offload/Inputs/offload_config.py" "$SRC/test/Zero/Inputs/mlp_noacc.json" \
    "$W/c.json" nvme none "$1" && \
  "$DSOPT" "$SRC/models/mlp_dynbatch.onnx" --config "$W/c.json" --zero-stage=2 --world-size=2 \
    -o "$W/m.dsplan" || bad "ds-opt"
}
run() { "$DSRUN" "$W/m.dsplan" --nproc 2 --data "$SRC/models/data/mlp" "$@"; }
no_swap() { ! ls "$1" 2>/dev/null | grep -q 'ds-swap' || bad "swap file left in $1: $(ls "$1")"; }
# refused NAME DIR PATTERN: the run fails before step 1, naming DIR and PATTERN.
refused() {
  plan "$2"
  run --steps 3 >"$W/out" 2>"$W/err" && bad "$1: exit 0"
  grep -q "^step" "$W/out" && bad "$1: trained before refusing"
  grep -q -- "'$2'.*$3" "$W/err" || bad "$1: stderr does not name '$2' ($3): $(cat "$W/err")"
  no_swap "$2"
  echo "$1: $(head -1 "$W/err")"
}

refused missing "$W/absent" "does not exist"
touch "$W/file"
refused not-a-directory "$W/file" "is not a directory"

M=$W/mnt
mkdir -p "$M"
if mount -t tmpfs -o size=64k tmpfs "$M" 2>/dev/null; then
  trap 'umount "$M" 2>/dev/null' EXIT
  refused no-space "$M" "too little free space"
  umount "$M"
  mount -t tmpfs -o size=1m,ro tmpfs "$M" || bad "read-only mount"
  refused read-only "$M" "not writable"
  umount "$M"
else
  echo "SKIP: no-space, read-only (cannot mount a tmpfs: needs root)"
fi

# An I/O error mid-run: rank 0's swap file is truncated while the job trains.
plan "$W/nvme"
(for i in $(seq 1000); do
   f=$(ls "$W"/nvme/ds-swap-rank0-*.swp 2>/dev/null | head -1)
   if [ -n "$f" ]; then sleep 0.5; truncate -s 0 "$f"; exit 0; fi
   sleep 0.01
 done) &
run --steps 1000000 --print-every 1000000 >"$W/out" 2>"$W/err" && bad "io-error: exit 0"
wait
grep -q "nvme swap: $W/nvme/ds-swap-rank0-.*failed" "$W/err" || bad "io-error: $(cat "$W/err")"
no_swap "$W/nvme"
echo "io-error: $(grep -m1 'nvme swap' "$W/err" | sed 's/.*\(nvme swap: \)/\1/')"

# SIGTERM to the launcher mid-run: every rank stops, no swap file is left.
"$DSRUN" "$W/m.dsplan" --nproc 2 --data "$SRC/models/data/mlp" --steps 1000000 \
  --print-every 1000000 >"$W/out" 2>"$W/err" & # not through run(): $! must be ds-run
pid=$!
for i in $(seq 1000); do ls "$W"/nvme/ds-swap-rank1-*.swp >/dev/null 2>&1 && break; sleep 0.01; done
sleep 0.5
kill -TERM $pid
wait $pid && bad "sigterm: exit 0"
sleep 0.5
no_swap "$W/nvme"
echo "sigterm: no swap file left"

# SIGKILL to a rank (it cannot clean up): the launcher removes its swap file. The file name
# carries the rank's pid.
"$DSRUN" "$W/m.dsplan" --nproc 2 --data "$SRC/models/data/mlp" --steps 1000000 \
  --print-every 1000000 >"$W/out" 2>"$W/err" &
pid=$!
for i in $(seq 1000); do ls "$W"/nvme/ds-swap-rank1-*.swp >/dev/null 2>&1 && break; sleep 0.01; done
sleep 0.5
f=$(ls "$W"/nvme/ds-swap-rank1-*.swp | head -1)
rankpid=${f##*-}
kill -KILL "${rankpid%.swp}"
wait $pid && bad "sigkill: exit 0"
no_swap "$W/nvme"
echo "sigkill: $(grep -m1 'rank 1' "$W/err")"
echo PASS
