#!/usr/bin/env bash
# Configures (once) and builds ds-opt, ds-translate, the runtime and ds-run into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD=${DS_BUILD_DIR:-build}
if [ ! -f "$BUILD/build.ninja" ]; then
  # ccache, where installed, makes rebuilds in other checkouts (worktrees) cheap.
  LAUNCHER=()
  command -v ccache >/dev/null && LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  cmake -G Ninja -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ "${LAUNCHER[@]}" >/dev/null
fi
ninja -C "$BUILD" "$@"
