#!/usr/bin/env bash
# Drives one fault into a running 2-rank ds-run job and checks how the job ends: within the limit, with the expected exit code and exactly one stderr line matching a pattern, no process and no session directory left.
#   fault.sh DS_OPT DS_RUN SRC_ROOT WORKDIR TARGET SIGNAL EXPECTED_RC PATTERN LIMIT_S [ds-run flags...]
# TARGET: launcher | mpirun | rank (a rank's pid, the second one mpirun started).
set -u
DS_OPT=$1 DS_RUN=$2 SRC=$3 W=$4 TARGET=$5 SIG=$6 WANT_RC=$7 PATTERN=$8 LIMIT=$9
shift 9
L= M= RANKS=()
die() { echo "FAIL ($TARGET SIG$SIG): $*"; echo "--- stderr:"; cat "$W/err.txt" 2>/dev/null
        for p in $L $M "${RANKS[@]}"; do kill -KILL "$p" 2>/dev/null; done; exit 1; }
rm -rf "$W" && mkdir -p "$W/tmp"
export TMPDIR=$W/tmp # the job's session directory lands here, and nothing else
"$DS_OPT" "$SRC/models/gpt_dynbatch.onnx" --config "$SRC/models/configs/gpt/adamw.json" \
  --world-size 2 -o "$W/plan.dsplan" 2>/dev/null || die "ds-opt failed"
"$DS_RUN" "$W/plan.dsplan" --nproc 2 --data "$SRC/models/data/gpt" --steps 100000000 --print-every 1 "$@" \
  > "$W/out.txt" 2> "$W/err.txt" &
L=$!
# Wait until the job trains (step 2 printed), so the fault lands mid-step.
for i in $(seq 300); do grep -q '^step 2 ' "$W/out.txt" 2>/dev/null && break; sleep 0.1; done
grep -q '^step 2 ' "$W/out.txt" || die "the job did not start training within 30 s"
M=$(pgrep -P "$L" -x mpirun) || die "no mpirun under the launcher"
RANKS=($(pgrep -P "$M" -x ds-run))
[ ${#RANKS[@]} -eq 2 ] || die "expected 2 ranks under mpirun, found ${#RANKS[@]}"
case $TARGET in
launcher) T=$L ;;
mpirun) T=$M ;;
rank) T=${RANKS[1]} ;;
*) die "unknown target" ;;
esac
PATTERN=${PATTERN//@PID@/$T}
start=$(date +%s)
kill -"$SIG" "$T" || die "kill failed"
# The launcher must end within the limit (the shell reaps it: its exit code is wait's).
for i in $(seq $((LIMIT * 10))); do kill -0 "$L" 2>/dev/null || break; sleep 0.1; done
kill -0 "$L" 2>/dev/null && die "the launcher is still running after ${LIMIT} s"
wait "$L"
rc=$?
# Every process of the job is gone soon after (a SIGKILLed launcher's sentinel cleans up).
for i in $(seq 100); do pgrep -f "$W/plan.dsplan" >/dev/null || break; sleep 0.1; done
left=$(pgrep -af "$W/plan.dsplan")
[ -z "$left" ] || die "processes left: $left"
elapsed=$(( $(date +%s) - start ))
[ "$elapsed" -le "$LIMIT" ] || die "took ${elapsed} s (limit ${LIMIT} s)"
[ "$rc" = "$WANT_RC" ] || die "exit code $rc, expected $WANT_RC"
[ "$(wc -l < "$W/err.txt")" = 1 ] || die "expected exactly one line on stderr"
grep -Eq -- "$PATTERN" "$W/err.txt" || die "stderr does not match /$PATTERN/"
dirs=$(ls -A "$W/tmp")
[ -z "$dirs" ] || die "left in TMPDIR: $dirs"
echo "PASS: $TARGET SIG$SIG -> rc $rc in ${elapsed} s: $(cat "$W/err.txt")"
