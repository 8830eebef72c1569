#!/usr/bin/env bash
# Packs what a lent GPU machine needs to run ds-run without building it (its image has nvcc,
# CMake and PyTorch but none of Debian's packages: no protobuf, ONNX, OpenBLAS or OpenMPI):
#   .devbundle/bin/ds-run, .devbundle/lib/libds_cuda.so   the binaries built here
#   .devbundle/sysroot.tar.xz   their shared libraries and Debian's OpenMPI (mpirun, orted,
#                               plugins, PMIx, help files) with absolute paths; the device
#                               unpacks it onto / without overwriting any existing file
#   .devbundle/plans/           plans compiled here by scripts/gpu-plans.sh (gpu-check.sh runs them)
# Usage: scripts/make-device-bundle.sh [BUILD_DIR]     (then carry .devbundle)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OUT=.devbundle
grep -qx '/.devbundle/' .git/info/exclude 2>/dev/null || echo '/.devbundle/' >> .git/info/exclude
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib" "$OUT/plans"
cp "$BUILD/bin/ds-run" "$OUT/bin/"
[ -x "$BUILD/bin/ds_cuda_kernel_tests" ] && cp "$BUILD/bin/ds_cuda_kernel_tests" "$OUT/bin/"
cp "$BUILD/lib/libds_cuda.so" "$OUT/lib/"
strip --strip-debug "$OUT/bin/ds-run" "$OUT/lib/libds_cuda.so" 2>/dev/null || true

# Shared libraries: everything ds-run, the MPI launcher and the MPI plugins load, except the C
# runtime, libstdc++ and the CUDA libraries (the device has newer ones).
files=$(mktemp)
for p in openmpi-bin libopenmpi3 openmpi-common libpmix2; do
  dpkg -L "$p" | while read -r f; do if [ -f "$f" ]; then echo "$f"; fi; done
done | grep -v -e '^/usr/share/doc' -e '^/usr/share/man' -e '/include/' -e '\.a$' > "$files"
objs=$( (echo "$BUILD/bin/ds-run"; ls "$OUT"/bin/ds_cuda_kernel_tests 2>/dev/null; grep -E '\.so|/bin/' "$files") )
for o in $objs; do
  { ldd "$o" 2>/dev/null || true; } | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libstdc++*|libgcc_s*|\
    libcuda*|libcublas*|libnccl*|libz.so*) continue ;;
  esac
  dir=$(readlink -f "$(dirname "$lib")")   # /lib -> /usr/lib on merged-/usr systems
  echo "$dir/$(basename "$lib")"
  readlink -f "$lib"
done >> "$files"
# Symlinks named in the lists (so.N -> so.N.M) must travel as links: tar keeps them.
sort -u "$files" | tar -cJf "$OUT/sysroot.tar.xz" --files-from=- -P
rm -f "$files"
DS_BUILD_DIR=$BUILD bash scripts/gpu-plans.sh "$OUT/plans" >/dev/null
du -sh "$OUT"/* | sed 's/^/  /'
