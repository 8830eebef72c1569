#!/usr/bin/env bash
# Checkpoints on a full or read-only filesystem (a 96 KiB tmpfs): a save that does not fit is
# refused by the free-space check, one that runs out of space while writing
# (DS_SKIP_FREE_SPACE_CHECK=1) fails on ENOSPC, and a read-only filesystem refuses the save:
# each is one stderr line naming the path, a non-zero exit, the previous checkpoint
# (global_step2) untouched and loadable, and no temporary left behind. Prints PASS, or SKIP when
# tmpfs cannot be mounted (not root, no CAP_SYS_ADMIN).
# usage: full_disk.sh WORKDIR DS_OPT DS_RUN SRC_ROOT
set -u
W=$1 DSOPT=$2 DSRUN=$3 SRC=$4
M=$W/mnt
rm -rf "$W" && mkdir -p "$M"
if ! mount -t tmpfs -o size=96k tmpfs "$M" 2>/dev/null; then
  echo "SKIP: cannot mount a tmpfs at $M (needs root)"
  exit 0
fi
trap 'umount "$M" 2>/dev/null' EXIT
bad() { echo "FAIL: $*"; exit 1; }
expect_fail() {
  local name=$1 pat=$2
  shift 2
  "$@" >"$W/out" 2>"$W/err" && bad "$name: exit 0"
  [ "$(wc -l <"$W/err")" = 1 ] || bad "$name: stderr is not one line: $(cat "$W/err")"
  grep -q -- "$pat" "$W/err" || bad "$name: stderr does not name $pat: $(cat "$W/err")"
  echo "$name: $(cat "$W/err")"
}
intact() {
  [ "$(cat "$M/ck/latest")" = global_step2 ] || bad "$1: latest is $(cat "$M/ck/latest")"
  (cd "$M/ck/global_step2" && md5sum -c --quiet "$W/ck.md5") || bad "$1: global_step2 changed"
  ! ls -A "$M/ck" | grep -q -E '\.tmp-|\.old-|ds-write-probe' || bad "$1: temporary left: $(ls -A "$M/ck")"
  "$DSRUN" "$W/m.dsplan" --nproc 2 --data "$SRC/models/data/mlp" --steps 3 --resume "$M/ck" \
    >/dev/null || bad "$1: global_step2 does not load"
}

"$DSOPT" "$SRC/models/mlp_dynbatch.onnx" --config "$SRC/test/Zero/Inputs/mlp_noacc.json" \
  --zero-stage=1 --world-size=2 -o "$W/m.dsplan" || bad "ds-opt"
RUN=("$DSRUN" "$W/m.dsplan" --nproc 2 --data "$SRC/models/data/mlp")
"${RUN[@]}" --steps 2 --save-checkpoint "$M/ck" >/dev/null || bad "first save"
(cd "$M/ck/global_step2" && md5sum *) >"$W/ck.md5"
used=$(du -sk "$M" | cut -f1)
# Leave room for less than one more save.
dd if=/dev/zero of="$M/fill" bs=1k count=$((96 - used - 30)) 2>/dev/null

expect_fail precheck "$M/ck/global_step4" "${RUN[@]}" --steps 4 --resume "$M/ck" --save-checkpoint "$M/ck"
intact precheck
expect_fail enospc "No space left on device" env DS_SKIP_FREE_SPACE_CHECK=1 "${RUN[@]}" --steps 4 --resume "$M/ck" --save-checkpoint "$M/ck"
intact enospc
rm -f "$M/fill"
mount -o remount,ro "$M" || bad "remount read-only"
expect_fail readonly "$M/ck" "${RUN[@]}" --steps 4 --resume "$M/ck" --save-checkpoint "$M/ck"
intact readonly
echo PASS
