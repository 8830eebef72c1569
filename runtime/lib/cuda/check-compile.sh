#!/bin/bash
# Compiles one CUDA source of the backend standalone (syntax/type check without touching the
# shared build directory): runtime/lib/cuda/check-compile.sh runtime/lib/cuda/Foo.cu
set -e
root=$(cd "$(dirname "$0")/../../.." && pwd)
gen=${DS_PLAN_GEN_DIR:-$root/build/runtime/proto-lite} # the plugin's protobuf-lite plan.pb.h
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
/usr/local/cuda/bin/nvcc -I"$root/runtime/include" -I"$gen" -isystem=/usr/local/cuda/include \
  -O3 --generate-code=arch=compute_90,code=[compute_90,sm_90] -Xcompiler=-fPIC \
  --expt-relaxed-constexpr -Xcompiler=-fexceptions,-frtti,-Wall -std=c++17 -x cu -c "$1" \
  -o "$out/x.o" -Xptxas -warn-spills
echo "ok: $1"
