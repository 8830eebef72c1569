#!/usr/bin/env bash
# NVMe offload: an nvme_path on a filesystem with too little free space or mounted
# read-only is refused before training with the path named, and no swap file is left.
# Prints one line per case and PASS, or SKIP where a tmpfs cannot be mounted (needs root).
# (A missing directory, a file, an I/O error mid-run and killed ranks:
# test/Runtime/faults/nvme-*.test.)
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

echo PASS
