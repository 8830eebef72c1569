# Sourced by scripts/fuzz-*.sh: `fuzz_build TARGET NAME` configures build-fuzz/ once (clang-22,
# libFuzzer + ASan, ccache when installed), builds TARGET and sets root, build and work
# (build-fuzz/NAME, with corpus/ and artifacts/ in it).
fuzz_build() {
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  build=$root/build-fuzz
  if [ ! -f "$build/build.ninja" ]; then
    local launcher=()
    command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache
      -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    CC=clang-22 CXX=clang++-22 cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
      -DDS_BUILD_FUZZERS=ON "${launcher[@]}" >/dev/null
  fi
  ninja -C "$build" -j"${JOBS:-2}" "$1"
  work=$build/$2
  mkdir -p "$work/corpus" "$work/artifacts"
}
