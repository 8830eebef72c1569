#!/usr/bin/env bash
# NVMe swap throughput (issue #11, 6b): ds-bench-swap (SwapFile) beside fio's raw O_DIRECT io_uring.
# Usage: scripts/bench-nvme-swap.sh [--dir DIR] [--size BYTES] [--block-size BYTES]
#          [--queue-depth N] [--repeat N] [--build BUILD_DIR]
# Defaults: DIR=$TMPDIR or /tmp, 2G, 1M (aio block_size), 8 (aio queue_depth), 3 repeats.
# Both sides write then read SIZE bytes sequentially in DIR with the same block size and queue
# depth. ds-bench-swap runs twice: with requests of block_size x queue_depth bytes (the memory
# fio moves its bytes through) and with 64 MiB requests (a sub-group tensor). Prints one
# markdown table: MB/s (1e6 bytes), ours/fio. Target: ours/fio >= 85% each way.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
dir=${TMPDIR:-/tmp}
size=2G
bs=1M
qd=8
repeat=3
while [ $# -gt 0 ]; do
  case "$1" in
  --dir) dir=$2; shift 2 ;;
  --size) size=$2; shift 2 ;;
  --block-size) bs=$2; shift 2 ;;
  --queue-depth) qd=$2; shift 2 ;;
  --repeat) repeat=$2; shift 2 ;;
  --build) build=$2; shift 2 ;;
  *) echo "bench-nvme-swap: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -d "$dir" ] || { echo "bench-nvme-swap: '$dir' is not a directory" >&2; exit 2; }

if ! command -v fio >/dev/null; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends fio >/dev/null
fi
[ -f "$build/build.ninja" ] || bash "$root/scripts/build.sh"
ninja -C "$build" ds-bench-swap >/dev/null
bench=$build/bin/ds-bench-swap

# fio: one job, the same file size, block size and depth; MB/s from bw_bytes (bytes/s).
fio_file=$dir/ds-bench-fio-$$.tmp
trap 'rm -f "$fio_file"' EXIT
fio_mbps() { # write|read
  fio --name=swap --filename="$fio_file" --ioengine=io_uring --direct=1 --rw="$1" \
    --bs="$bs" --iodepth="$qd" --size="$size" --numjobs=1 --output-format=json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; k=sys.argv[1]; print("%.1f" % (j[k]["bw_bytes"]/1e6))' "$1"
}

to_bytes() { numfmt --from=iec "$1"; }
window=$(( $(to_bytes "$bs") * qd ))   # what fio keeps in flight (and its buffer memory)
big=$(( 64 << 20 ))                    # a realistic sub-group tensor
ours() { # request-bytes -> "write read"
  "$bench" --dir "$dir" --size "$size" --block-size "$bs" --queue-depth "$qd" --request "$1" |
    sed -n 's/.*write_MBps=\([0-9.]*\) read_MBps=\([0-9.]*\) direct=\([01]\).*/\1 \2 \3/p'
}
ow=() or=() bw=() br=() fw=() fr=()
for _ in $(seq "$repeat"); do
  read -r w r direct <<<"$(ours "$window")"; ow+=("$w"); or+=("$r")
  read -r w r direct <<<"$(ours "$big")"; bw+=("$w"); br+=("$r")
  fw+=("$(fio_mbps write)")
  fr+=("$(fio_mbps read)")
  rm -f "$fio_file"
done
# Best of the repeats (the machine's other load only ever slows a run down) and the median of
# the ratios of runs made back to back.
report() { # label ours[] fio[]  (as "a b c" strings)
  /usr/bin/python3 - "$@" <<'PY'
import statistics, sys
label, ours, fio = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
ratios = [o / f for o, f in zip(ours, fio)]
print("| %s | %.1f | %.1f | %.1f%% | %.1f%% |" % (label, max(ours), max(fio), 100 * max(ours) / max(fio),
                                             100 * statistics.median(ratios)))
PY
}
fs=$(df -T "$dir" | awk 'NR==2 {print $1" ("$2")"}')
echo "NVMe swap throughput, $(date -u +%Y-%m-%dT%H:%MZ), dir $dir on $fs, O_DIRECT=$direct, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "size $size, block_size $bs, queue_depth $qd, $repeat repeats; MB/s = 1e6 bytes/s"
echo "runs ours (${window}-byte requests) w: ${ow[*]} r: ${or[*]}"
echo "runs ours (64 MiB requests) w: ${bw[*]} r: ${br[*]}"
echo "runs fio w: ${fw[*]} r: ${fr[*]}"
echo
echo "| direction | ds-bench-swap MB/s (best) | fio io_uring O_DIRECT MB/s (best) | best/best | median of paired ratios |"
echo "|---|---:|---:|---:|---:|"
report "write" "${ow[*]}" "${fw[*]}"
report "read" "${or[*]}" "${fr[*]}"
report "write, 64 MiB requests" "${bw[*]}" "${fw[*]}"
report "read, 64 MiB requests" "${br[*]}" "${fr[*]}"
