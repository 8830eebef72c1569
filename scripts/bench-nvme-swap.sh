#!/usr/bin/env bash
# NVMe swap throughput (issue #11, 6b): ds-bench-swap (SwapFile) beside fio's raw O_DIRECT io_uring.
# Usage: scripts/bench-nvme-swap.sh [--dir DIR] [--size BYTES] [--block-size BYTES]
#          [--queue-depth N] [--repeat N] [--build BUILD_DIR]
# Defaults: DIR=$TMPDIR or /tmp, 2G, 1M (aio block_size), 8 (aio queue_depth), 2 repeats (the
# best of each is kept). Both sides write then read SIZE bytes sequentially in DIR with the same
# block size and queue depth; prints one markdown table with MB/s (1e6 bytes) and ours/fio.
# Target: ours/fio >= 85% each way.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
dir=${TMPDIR:-/tmp}
size=2G
bs=1M
qd=8
repeat=2
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
fio_mbps() { # rw
  fio --name=swap --filename="$fio_file" --ioengine=io_uring --direct=1 --rw="$1" \
    --bs="$bs" --iodepth="$qd" --size="$size" --numjobs=1 --output-format=json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; k=sys.argv[1]; print("%.1f" % (j[k]["bw_bytes"]/1e6))' "$2"
}
best() { printf '%s\n' "$@" | sort -g | tail -1; }

ours_w=() ours_r=() fio_w=() fio_r=()
for _ in $(seq "$repeat"); do
  line=$("$bench" --dir "$dir" --size "$size" --block-size "$bs" --queue-depth "$qd")
  ours_w+=("$(sed -n 's/.*write_MBps=\([0-9.]*\).*/\1/p' <<<"$line")")
  ours_r+=("$(sed -n 's/.*read_MBps=\([0-9.]*\).*/\1/p' <<<"$line")")
  direct=$(sed -n 's/.*direct=\([01]\).*/\1/p' <<<"$line")
  fio_w+=("$(fio_mbps write write)")
  fio_r+=("$(fio_mbps read read)")
  rm -f "$fio_file"
done
ow=$(best "${ours_w[@]}") or=$(best "${ours_r[@]}")
fw=$(best "${fio_w[@]}") fr=$(best "${fio_r[@]}")
pct() { /usr/bin/python3 -c 'import sys; print("%.1f%%" % (100*float(sys.argv[1])/float(sys.argv[2])))' "$1" "$2"; }

fs=$(df -T "$dir" | awk 'NR==2 {print $1" ("$2")"}')
echo "NVMe swap throughput, $(date -u +%Y-%m-%dT%H:%MZ), dir $dir on $fs, O_DIRECT=$direct"
echo "size $size, block_size $bs, queue_depth $qd, best of $repeat; runs ours w/r: ${ours_w[*]} / ${ours_r[*]}; fio w/r: ${fio_w[*]} / ${fio_r[*]}"
echo
echo "| direction | ds-bench-swap MB/s | fio io_uring O_DIRECT MB/s | ours/fio |"
echo "|---|---:|---:|---:|"
echo "| write | $ow | $fw | $(pct "$ow" "$fw") |"
echo "| read | $or | $fr | $(pct "$or" "$fr") |"
