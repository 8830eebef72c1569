#!/usr/bin/env bash
# End-to-end tests of ds-run on plans written by ds-make-test-plan.
#   ds-run-e2e.sh BIN_DIR WORK_DIR CASE
set -u
BIN=$1 WORK=$2 CASE=$3
RUN=$BIN/ds-run MAKE=$BIN/ds-make-test-plan
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1

die() { echo "FAIL: $*" >&2; exit 1; }

# expect_error NEEDLE LINES cmd...: non-zero exit, every stderr line is a "ds-run: " error
# containing NEEDLE, exactly LINES lines (one per rank), nothing on stdout.
expect_error() {
  local needle=$1 lines=$2; shift 2
  timeout 90 "$@" >out.txt 2>err.txt
  local rc=$?
  [ $rc -ne 0 ] || die "$* succeeded"
  [ $rc -ne 124 ] || die "$* hung"
  [ "$(wc -l <err.txt)" -eq "$lines" ] || { cat err.txt; die "$*: expected $lines stderr lines"; }
  grep -v -q "^ds-run: " err.txt && { cat err.txt; die "$*: stray stderr output"; }
  grep -q -- "$needle" err.txt || { cat err.txt; die "$*: no '$needle' in stderr"; }
  [ ! -s out.txt ] || { cat out.txt; die "$*: unexpected stdout"; }
  return 0
}

# json_list FILE KEY: the numbers of a one-line JSON list, one per line.
json_list() { grep "\"$2\"" "$1" | sed 's/.*\[//; s/\].*//' | tr ',' '\n' | tr -d ' '; }

case $CASE in
collectives-*)
  W=${CASE#collectives-}
  $MAKE collectives c --world "$W" || die "make-test-plan"
  $RUN c/plan.dsplan --nproc "$W" --data c/data --eval --out c/out >out.txt 2>err.txt \
    || { cat err.txt; die "collectives at world $W"; }
  [ ! -s err.txt ] || { cat err.txt; die "stderr not empty"; }
  grep -q "wrote 2 outputs" out.txt || die "no eval summary"
  # gathered = whole global batch [4W, 12] f32: 4W*12*4 bytes of data after the 128-byte header.
  [ "$(stat -c %s c/out/gathered.npy)" -eq $((128 + 4 * W * 12 * 4)) ] || die "gathered.npy size"
  ;;
train-equivalence)
  # The same global batch (8) at world 1, 2 (ZeRO-3 sharded w) and 4 gives the same losses.
  $MAKE linreg w1 --world 1 --micro-batch 4 --accum 2 || die make
  $MAKE linreg w2 --world 2 --micro-batch 2 --accum 2 --zero3 || die make
  $MAKE linreg w4 --world 4 --micro-batch 1 --accum 2 || die make
  $MAKE linreg w4z --world 4 --micro-batch 2 --accum 1 --zero3 || die make
  for d in w1 w2 w4 w4z; do
    W=$(echo $d | tr -dc 0-9)
    $RUN $d/plan.dsplan --nproc "$W" --data $d/data --steps 12 --print-every 1 --metrics $d/m.json >$d/log.txt \
      2>$d/err.txt || { cat $d/err.txt; die "training at $d"; }
    [ "$(grep -c '^step ' $d/log.txt)" -eq 12 ] || die "$d: expected 12 step lines"
    [ "$(json_list $d/m.json loss | wc -l)" -eq 12 ] || die "$d: 12 losses"
    [ "$(json_list $d/m.json measured_peak_bytes | wc -l)" -eq "$W" ] || die "$d: per-rank peaks"
    [ "$(json_list $d/m.json measured_peak_bytes | sort -u)" = \
      "$(json_list $d/m.json predicted_peak_bytes | sort -u)" ] || die "$d: measured != predicted peak"
  done
  for d in w2 w4 w4z; do
    paste <(json_list w1/m.json loss) <(json_list $d/m.json loss) | awk -v d=$d '
      { r = ($1 - $2) / $1; if (r < 0) r = -r; if (r > 1e-5) { print d ": loss " NR ": " $1 " vs " $2; bad = 1 } }
      END { exit bad }' || die "loss trajectories differ"
  done
  first=$(json_list w1/m.json loss | head -1) last=$(json_list w1/m.json loss | tail -1)
  awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a / 4) }' || die "loss did not decrease ($first -> $last)"
  ;;
eval)
  $MAKE linreg m --world 1 --micro-batch 4 --accum 1 || die make
  $RUN m/plan.dsplan --data m/data --eval --out m/out/nested >/dev/null 2>err.txt || { cat err.txt; die eval; }
  [ -f m/out/nested/loss.npy ] && [ -f m/out/nested/pred.npy ] || die "outputs missing"
  [ -z "$(ls m/out/nested | grep tmp)" ] || die "temporary files left behind"
  # pred is [4,1] f32: 128-byte header + 16 bytes.
  [ "$(stat -c %s m/out/nested/pred.npy)" -eq 144 ] || die "pred.npy size"
  ;;
bad-plans)
  $MAKE linreg m --world 1 --micro-batch 4 --accum 1 || die make
  expect_error "cannot open plan file" 1 $RUN missing.dsplan --data m/data
  expect_error "bad magic" 1 $RUN m/bad/not-a-plan.dsplan --data m/data
  expect_error "checksum mismatch" 1 $RUN m/bad/truncated.dsplan --data m/data
  # One flipped bit in the middle of a valid plan; the same payload in the old format 0.1.
  python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[len(b) // 2] ^= 1
open(sys.argv[2], "wb").write(b); open(sys.argv[3], "wb").write(b"DSPLAN\0\1" + open(sys.argv[1], "rb").read()[16:])' \
    m/plan.dsplan m/bad/flipped.dsplan m/bad/format1.dsplan || die "flip"
  expect_error "checksum mismatch" 1 $RUN m/bad/flipped.dsplan --data m/data
  expect_error "re-compile the model with this ds-opt" 1 $RUN m/bad/format1.dsplan --data m/data
  expect_error "unsupported plan version 2" 1 $RUN m/bad/version2.dsplan --data m/data
  expect_error "outside the persistent region" 1 $RUN m/bad/oob.dsplan --data m/data
  expect_error "bad magic" 2 $RUN m/bad/not-a-plan.dsplan --nproc 2 --data m/data
  expect_error "give --data DIR or --synthetic" 1 $RUN m/plan.dsplan
  mv m/model.weights m/model.weights.gone
  expect_error "cannot open external data file" 1 $RUN m/plan.dsplan --data m/data
  ;;
bad-data)
  $MAKE linreg m --world 2 --micro-batch 2 --accum 2 || die make
  expect_error "y.npy does not exist" 2 $RUN m/plan.dsplan --nproc 2 --data m/bad/data-missing
  expect_error "dtype f64 does not match input 'x'" 2 $RUN m/plan.dsplan --nproc 2 --data m/bad/data-dtype
  expect_error "fewer than one global batch of 8" 2 $RUN m/plan.dsplan --nproc 2 --data m/bad/data-few
  ;;
world-mismatch)
  $MAKE linreg m --world 2 --micro-batch 2 --accum 1 || die make
  expect_error "compiled for world size 2 but the job has 1" 1 $RUN m/plan.dsplan --data m/data
  expect_error "compiled for world size 2 but the job has 4" 4 $RUN m/plan.dsplan --nproc 4 --data m/data
  expect_error "--nproc 4 does not match the 2 ranks" 2 \
    mpirun -np 2 --oversubscribe --quiet $RUN m/plan.dsplan --nproc 4 --data m/data
  # Started by mpirun directly: picked up as is.
  mpirun -np 2 --oversubscribe --quiet $RUN m/plan.dsplan --data m/data --steps 2 >out.txt 2>err.txt \
    || { cat err.txt; die "direct mpirun"; }
  [ "$(grep -c '^step ' out.txt)" -eq 2 ] || die "direct mpirun: rank 0 prints 2 step lines"
  ;;
rank-dies)
  # Rank 1's data slice is wrong: it fails mid-program while the others wait in a collective.
  for W in 2 4; do
    $MAKE collectives c$W --world $W || die make
    start=$(date +%s)
    expect_error "rank 1: program 'check' instruction 2 (assert_close)" 1 \
      $RUN c$W/plan.dsplan --nproc $W --data c$W/bad-rank1 --eval --out c$W/out
    [ $(( $(date +%s) - start )) -lt 30 ] || die "the job took too long to abort"
    [ ! -e c$W/out ] || die "outputs written by a failed job"
  done
  ;;
synthetic)
  $MAKE linreg m --world 2 --micro-batch 2 --accum 3 || die make
  $RUN m/plan.dsplan --nproc 2 --synthetic --steps 3 --seed 5 --metrics m/a.json >/dev/null 2>err.txt || { cat err.txt; die synthetic; }
  $RUN m/plan.dsplan --nproc 2 --synthetic --steps 3 --seed 5 --metrics m/b.json >/dev/null 2>err.txt || { cat err.txt; die synthetic; }
  $RUN m/plan.dsplan --nproc 2 --synthetic --steps 3 --seed 6 --metrics m/c.json >/dev/null 2>err.txt || { cat err.txt; die synthetic; }
  [ "$(json_list m/a.json loss)" = "$(json_list m/b.json loss)" ] || die "same seed, different losses"
  [ "$(json_list m/a.json loss)" != "$(json_list m/c.json loss)" ] || die "different seeds, same losses"
  ;;
*) die "unknown case $CASE" ;;
esac
echo "PASS: $CASE"
