#!/usr/bin/env bash
# Times the CPU convolution kernels (conv + conv_grad_input + conv_grad_filter, f32, im2col +
# OpenBLAS) against PyTorch's CPU conv2d forward + backward on ResNet shapes, same threads.
#
#   scripts/bench-conv.sh [--threads N] [--iters N] [--batch N]
#
# Shapes (batch --batch, default 8): ResNet-18's stem (3->64, 7x7/2 on 224x224) and one 3x3
# conv of each stage at CIFAR size (64..512 channels, 32x32 down to 4x4), plus the 1x1/2
# downsample and a 1x1/1 (pointwise, as MobileNet's expansions: no im2col). For each:
# ds-bench-conv (the best of N rounds of each kernel) and
# scripts/bench_conv_torch.py (the best of N forward-only rounds, and of N forward+backward
# rounds), and the ratio ours / torch of forward+backward (< 1: ours is faster).
# Needs a build (ninja -C build ds-bench-conv) and PyTorch under /usr/bin/python3.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${DS_BUILD_DIR:-$ROOT/build}
THREADS=2 ITERS=5 BATCH=8
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-conv: unknown option $1" >&2; exit 2 ;;
  esac
done
ninja -C "$BUILD" -j2 ds-bench-conv >/dev/null
# name C H W M K STRIDE PAD
SHAPES=(
  "stem_224 3 224 224 64 7 2 3"
  "stage1_3x3 64 32 32 64 3 1 1"
  "stage2_3x3 128 16 16 128 3 1 1"
  "stage3_3x3 256 8 8 256 3 1 1"
  "stage4_3x3 512 4 4 512 3 1 1"
  "down_1x1 64 32 32 128 1 2 0"
  "point_1x1 64 32 32 128 1 1 0"
)
key() { awk -v k="$1" '$1 == k { print $2 }'; }
echo "# CPU conv forward+backward, f32, batch $BATCH, $THREADS thread(s), best of $ITERS ($(nproc) cores;"
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
printf "%-12s %-22s %10s %10s %10s %10s %8s\n" shape "x / w" ours_fwd torch_fwd ours_f+b torch_f+b ratio
for s in "${SHAPES[@]}"; do
  read -r name c h w m k st p <<<"$s"
  ours=$(DS_NUM_THREADS=$THREADS "$BUILD/bin/ds-bench-conv" "$BATCH" "$c" "$h" "$w" "$m" "$k" "$st" "$p" \
         --iters "$ITERS" --threads "$THREADS")
  torch=$(OMP_NUM_THREADS=$THREADS /usr/bin/python3 "$ROOT/scripts/bench_conv_torch.py" "$BATCH" "$c" "$h" "$w" \
          "$m" "$k" "$st" "$p" --iters "$ITERS" --threads "$THREADS")
  of=$(key forward_ms <<<"$ours"); ot=$(key total_ms <<<"$ours")
  tf=$(key forward_ms <<<"$torch"); tt=$(key total_ms <<<"$torch")
  printf "%-12s %-22s %10.2f %10.2f %10.2f %10.2f %8.2f\n" "$name" "${c}x${h}x${w} / ${m}x${c}x${k}x${k}" \
    "$of" "$tf" "$ot" "$tt" "$(echo "$ot / $tt" | bc -l)"
done
