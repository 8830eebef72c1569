#!/usr/bin/env bash
# Every output on a full filesystem (a 64 KiB tmpfs): --save-params (fresh and over an earlier
# save), --metrics and ds-opt -o fail with one line naming the path and a non-zero exit, leave
# earlier outputs intact and no temporary behind. Prints PASS, or SKIP when tmpfs cannot be
# mounted (not root, no CAP_SYS_ADMIN).
# usage: full_disk.sh WORKDIR DS_OPT DS_RUN SRC_ROOT
set -u
W=$1 DSOPT=$2 DSRUN=$3 SRC=$4
M=$W/mnt
rm -rf "$W" && mkdir -p "$M"
if ! mount -t tmpfs -o size=64k tmpfs "$M" 2>/dev/null; then
  echo "SKIP: cannot mount a tmpfs at $M (needs root)"
  exit 0
fi
trap 'umount "$M" 2>/dev/null' EXIT
bad() { echo "FAIL: $*"; exit 1; }
# expect_fail NAME PATTERN CMD...: non-zero exit, exactly one stderr line, naming PATTERN.
expect_fail() {
  local name=$1 pat=$2
  shift 2
  "$@" >"$W/out" 2>"$W/err" && bad "$name: exit 0"
  [ "$(wc -l <"$W/err")" = 1 ] || bad "$name: stderr is not one line: $(cat "$W/err")"
  grep -q -- "$pat" "$W/err" || bad "$name: stderr does not name $pat: $(cat "$W/err")"
  echo "$name: $(cat "$W/err")"
}
no_temp() { ! ls -a "$M" | grep -q -E '\.tmp-|\.old-|ds-write-probe' || bad "temporary left in $M: $(ls -a "$M")"; }
fill() { rm -f "$M/fill"; dd if=/dev/zero of="$M/fill" bs=4k count=100 2>/dev/null; true; }

"$DSOPT" "$SRC/models/mlp_dynbatch.onnx" --config "$SRC/test/Zero/Inputs/mlp_noacc.json" \
  --zero-stage=3 --world-size=2 -o "$W/m.dsplan" || bad "ds-opt"
RUN=("$DSRUN" "$W/m.dsplan" --nproc 2 --data "$SRC/models/data/mlp" --steps 2)

# A first save fits; then the filesystem is filled.
"${RUN[@]}" --save-params "$M/p" >/dev/null || bad "first save"
[ "$(ls "$M/p" | wc -l)" = 6 ] || bad "first save: $(ls "$M/p")"
(cd "$M/p" && md5sum *) >"$W/p.md5"
fill

# Over the earlier save: refused before training by the free-space check ...
expect_fail save-over-precheck "$M/p" "${RUN[@]}" --save-params "$M/p"
grep -q "step 1" "$W/out" && bad "save-over-precheck: trained before failing"
# ... and, past the check, by the write itself (ENOSPC): the earlier save stays complete.
expect_fail save-over-enospc "$M/p" env DS_SKIP_FREE_SPACE_CHECK=1 "${RUN[@]}" --save-params "$M/p"
grep -q "is unchanged" "$W/err" || bad "save-over-enospc: does not say the old save is intact"
(cd "$M/p" && md5sum --quiet -c "$W/p.md5") || bad "the earlier save changed"
[ "$(ls "$M/p" | wc -l)" = 6 ] || bad "the earlier save lost files: $(ls "$M/p")"
no_temp

# A fresh save: nothing at all is left.
expect_fail save-fresh "$M/q" "${RUN[@]}" --save-params "$M/q"
expect_fail save-fresh-enospc "$M/q" env DS_SKIP_FREE_SPACE_CHECK=1 "${RUN[@]}" --save-params "$M/q"
[ -e "$M/q" ] && bad "a failed fresh save left $M/q"
no_temp

# --metrics: an earlier metrics file stays as it was.
rm -f "$M/fill"
"${RUN[@]}" --metrics "$M/m.json" >/dev/null || bad "first metrics"
cp "$M/m.json" "$W/m.json"
fill
expect_fail metrics-precheck "$M/m.json" "${RUN[@]}" --metrics "$M/m.json"
expect_fail metrics-enospc "$M/m.json" env DS_SKIP_FREE_SPACE_CHECK=1 "${RUN[@]}" --metrics "$M/m.json"
cmp -s "$M/m.json" "$W/m.json" || bad "the earlier metrics file changed"
no_temp

# ds-opt -o: an earlier plan stays as it was.
rm -f "$M/fill"
cp "$W/m.dsplan" "$M/m.dsplan"
fill
expect_fail plan-precheck "$M/m.dsplan" "$DSOPT" "$SRC/models/mlp_dynbatch.onnx" \
  --config "$SRC/test/Zero/Inputs/mlp_noacc.json" --zero-stage=1 -o "$M/m.dsplan"
expect_fail plan-enospc "$M/m.dsplan" env DS_SKIP_FREE_SPACE_CHECK=1 "$DSOPT" \
  "$SRC/models/mlp_dynbatch.onnx" --config "$SRC/test/Zero/Inputs/mlp_noacc.json" \
  --zero-stage=1 -o "$M/m.dsplan"
cmp -s "$M/m.dsplan" "$W/m.dsplan" || bad "the earlier plan changed"
no_temp
# Unwritable outputs (a read-only filesystem: root bypasses permissions, not EROFS) fail
# before training: 200 steps would take seconds, the refusal a fraction of one.
RO=$W/ro
mkdir -p "$RO"
mount -t tmpfs -o size=64k,ro tmpfs "$RO" || bad "read-only tmpfs"
trap 'umount "$M" 2>/dev/null; umount "$RO" 2>/dev/null' EXIT
LONG=("$DSRUN" "$W/m.dsplan" --nproc 2 --data "$SRC/models/data/mlp" --steps 200)
for flag in --metrics:m.json --save-params:p; do
  t0=$(date +%s%N)
  expect_fail "unwritable ${flag%%:*}" "$RO/${flag#*:}" "${LONG[@]}" "${flag%%:*}" "$RO/${flag#*:}"
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  grep -q "step 1" "$W/out" && bad "${flag%%:*}: trained before failing"
  [ "$ms" -lt 5000 ] || bad "${flag%%:*}: took $ms ms to fail"
  echo "unwritable ${flag%%:*}: failed after $ms ms"
done
echo PASS
