// Row reductions (rowSum: RowSum.h) and softmax over one axis, shared by the normalization
// kernels (Normalization.cpp) and the losses (Loss.cpp).
#pragma once

#include "CpuCommon.h"
#include "RowSum.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ds::rt::cpu {

/// max over f(i) for i in [0, n), from -inf, as std::max over 8 interleaved partial maxima
/// combined at the end: NaNs are skipped (std::max(m, NaN) is m) and the value is a single
/// running maximum's (max is exact; of +0 and -0 either may come out, which the callers,
/// who subtract it, do not see). Without one chain of n dependent comparisons.
template <typename T, typename F> T rowMax(int64_t n, F f) {
  const T ninf = -std::numeric_limits<T>::infinity();
  T acc[8] = {ninf, ninf, ninf, ninf, ninf, ninf, ninf, ninf};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k)
      acc[k] = std::max(acc[k], f(i + k));
  for (int k = 0; i < n; ++i, ++k)
    acc[k] = std::max(acc[k], f(i));
  T m = acc[0];
  for (int k = 1; k < 8; ++k)
    m = std::max(m, acc[k]);
  return m;
}

template <typename T>
void softmaxTyped(const T *x, T *r, const std::vector<int64_t> &shape, int64_t axis, bool log) {
  int64_t outer, dim, inner;
  splitAt(shape, axis, outer, dim, inner);
  if (dim == 0)
    return;
  const ExpLoop expLoop;
  parallelFor(outer * inner, std::max<int64_t>(1, kGrain / dim), [&](int64_t s, int64_t e) {
    for (int64_t oi = s; oi < e; ++oi) {
      int64_t o = oi / inner, i = oi % inner;
      const T *px = x + o * dim * inner + i;
      T *pr = r + o * dim * inner + i;
      T mx = rowMax<T>(dim, [&](int64_t d) { return px[d * inner]; });
      if (std::isinf(mx) && mx < 0)
        mx = 0; // all -inf: avoid inf - inf
      T sum;
      if (inner == 1) { // a contiguous row: the exponentials in one vector call, in pr
        for (int64_t d = 0; d < dim; ++d)
          pr[d] = px[d] - mx;
        expLoop(pr, pr, dim);
        sum = T(rowSum(dim, [&](int64_t d) { return double(pr[d]); }));
      } else {
        sum = T(rowSum(dim, [&](int64_t d) {
          T ev = px[d * inner] - mx;
          expLoop(&ev, &ev, 1);
          if (!log)
            pr[d * inner] = ev;
          return double(ev);
        }));
      }
      if (log) {
        // (x - max) - log(sum): adding max to log(sum) first loses the low bits of
        // log(sum) when max is large.
        T logSum = std::log(sum);
        for (int64_t d = 0; d < dim; ++d)
          pr[d * inner] = (px[d * inner] - mx) - logSum;
      } else {
        T inv = T(1) / sum;
        for (int64_t d = 0; d < dim; ++d)
          pr[d * inner] *= inv;
      }
    }
  });
}

} // namespace ds::rt::cpu
