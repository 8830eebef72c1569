#!/usr/bin/env bash
# Times the CPU gemm kernel (ds-bench-gemm: through the executor's entry) beside one raw
# single-threaded cblas_sgemm on the products of issue #18's CPU benchmark GPT (4 layers,
# n_embd 256, MLP 1024, vocab 2048) as its training plan calls them: T rows of tokens per rank
# (default 512: world 2, micro-batch 4 x 128), weights [out, in] read transposed (x Wᵀ + b),
# weight gradients accumulated in place with the bias gradient (db).
#
#   scripts/bench-gemm.sh [--threads N] [--tokens T] [--iters N]
#
# One line per product: medians and minima (ms) of the kernel and of BLAS, timed in
# alternation, and kernel/BLAS of the minima. For --bias and --acc rows BLAS adds the product
# to r in place (beta 1); the kernel also broadcasts the bias into r first, and accumulates
# by adding a separate product to r as the add kernel adds (its bits): a pass more. Not a
# test.
# Needs a build (ninja -C build ds-bench-gemm).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${DS_BUILD_DIR:-$ROOT/build}/bin/ds-bench-gemm
THREADS=1 T=512 ITERS=30
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS=$2; shift 2 ;;
    --tokens) T=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-gemm: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$BENCH" ] || { echo "bench-gemm: $BENCH missing (ninja -C build ds-bench-gemm)" >&2; exit 1; }
# label  M N K flags
while read -r label m n k flags; do
  # shellcheck disable=SC2086 # flags is a list
  "$BENCH" "$m" "$n" "$k" $flags --threads "$THREADS" --iters "$ITERS" |
    awk -v l="$label" -v s="$m x $n x $k $flags" '{v[$1] = $2} END {
      printf "%-10s %-30s kernel %7.3f (min %7.3f)  blas %7.3f (min %7.3f)  min ratio %.3f\n",
        l, s, v["kernel_ms"], v["kernel_min_ms"], v["blas_ms"], v["blas_min_ms"], v["min_ratio"]}'
done <<EOF2
qkv        $T 768 256 --tb --bias
qkv.dx     $T 256 768
qkv.dw     768 256 $T --ta --acc --db
proj       $T 256 256 --tb --bias
proj.dx    $T 256 256
proj.dw    256 256 $T --ta --acc --db
fc1        $T 1024 256 --tb --bias
fc1.dx     $T 256 1024
fc1.dw     1024 256 $T --ta --acc --db
fc2        $T 256 1024 --tb --bias
fc2.dx     $T 1024 256
fc2.dw     256 1024 $T --ta --acc --db
lm_head    $T 2048 256 --tb
lm_head.dx $T 256 2048
lm_head.dw 2048 256 $T --ta
EOF2
