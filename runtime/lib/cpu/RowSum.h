// The row sums of the normalization kernels, in one fixed order on every instruction set:
// included by Softmax.h (softmax, the losses, layer norm) and by LayerNormLoops.cpp (built
// for AVX2 and AVX-512), so it includes no library header with inline code.
#pragma once

#include <cstdint>

namespace ds::rt::cpu {

/// The sum of f(i) for i in [0, n) in double, as 8 interleaved partial sums (element i into
/// partial i mod 8) added pairwise at the end: a fixed order on every instruction set, without
/// one chain of n dependent additions (which bounds a single running sum at one element per
/// addition latency).
template <typename F> inline double rowSum(int64_t n, F f) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k)
      acc[k] += f(i + k);
  for (int k = 0; i < n; ++i, ++k)
    acc[k] += f(i);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/// 8 doubles, one per partial sum of rowSum (a GCC/Clang vector: narrower registers where
/// the instruction set has none this wide).
typedef double RowSumVec __attribute__((vector_size(64)));

/// R of rowSum's sums side by side: out[r] = rowSum(n, f(r, .)), with lane k of a vector
/// the partial sum k (the same additions in the same order, so the same sums); the R
/// independent chains keep the adder busy where one would wait on its latency. fv(r, i)
/// gives the vector {f(r, i), ..., f(r, i + 7)}, fs(r, i) f(r, i) alone (the tail).
template <int R, typename FV, typename FS>
inline void rowSums(int64_t n, FV fv, FS fs, double (&out)[R]) {
  RowSumVec acc[R] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int r = 0; r < R; ++r)
      acc[r] += fv(r, i);
  double part[R][8];
  for (int r = 0; r < R; ++r)
    for (int k = 0; k < 8; ++k)
      part[r][k] = acc[r][k];
  for (int k = 0; i < n; ++i, ++k)
    for (int r = 0; r < R; ++r)
      part[r][k] += fs(r, i);
  for (int r = 0; r < R; ++r) {
    const double *a = part[r];
    out[r] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  }
}

} // namespace ds::rt::cpu
