// batch_norm (training-mode batch statistics) and batch_norm_grad; channels on threads,
// sums in f64.
#include "CpuCommon.h"

#include <cmath>

namespace ds::rt::cpu {
namespace {

/// x [N, C, S...] as N blocks of C rows of `inner` elements.
struct Channels {
  int64_t n, c, inner;
  explicit Channels(const std::vector<int64_t> &x) : n(x[0]), c(x[1]), inner(1) {
    for (size_t i = 2; i < x.size(); ++i)
      inner *= x[i];
  }
  int64_t count() const { return n * inner; }
  /// Calls fn(element) for every element of channel ch.
  template <typename Fn> void each(int64_t ch, Fn fn) const {
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < inner; ++i)
        fn((b * c + ch) * inner + i);
  }
};

template <typename T>
void batchNorm(const Channels &s, double eps, const T *x, const T *scale, const T *bias,
               T *y, T *meanOut, T *varOut) {
  parallelFor(s.c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t ch = begin; ch < end; ++ch) {
      double sum = 0, sq = 0;
      s.each(ch, [&](int64_t k) { sum += double(x[k]); });
      double mean = s.count() ? sum / double(s.count()) : 0.0;
      s.each(ch, [&](int64_t k) {
        double d = double(x[k]) - mean;
        sq += d * d;
      });
      double var = s.count() ? sq / double(s.count()) : 0.0;
      double r = 1.0 / std::sqrt(var + eps);
      double a = r * double(scale[ch]), b = double(bias[ch]) - mean * a;
      s.each(ch, [&](int64_t k) { y[k] = T(double(x[k]) * a + b); });
      meanOut[ch] = T(mean);
      varOut[ch] = T(var);
    }
  });
}

template <typename T>
void batchNormGrad(const Channels &s, double eps, const T *g, const T *x, const T *scale,
                   const T *meanIn, const T *varIn, T *dx, T *dscale, T *dbias) {
  parallelFor(s.c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t ch = begin; ch < end; ++ch) {
      double mean = double(meanIn[ch]), r = 1.0 / std::sqrt(double(varIn[ch]) + eps);
      double sg = 0, sgx = 0;
      s.each(ch, [&](int64_t k) {
        sg += double(g[k]);
        sgx += double(g[k]) * (double(x[k]) - mean) * r;
      });
      dbias[ch] = T(sg);
      dscale[ch] = T(sgx);
      double cnt = double(s.count()), a = double(scale[ch]) * r;
      s.each(ch, [&](int64_t k) {
        double xhat = (double(x[k]) - mean) * r;
        dx[k] = T(a * (double(g[k]) - sg / cnt - xhat * sgx / cnt));
      });
    }
  });
}
} // namespace

void runBatchNorm(KernelCall &c) {
  Channels s(*c.in[0].shape);
  double eps = c.attrs<BatchNormAttrs>().epsilon;
  floatCall(c, [&](auto in, auto out) {
    batchNorm(s, eps, in[0], in[1], in[2], out[0], out[1], out[2]);
  });
}

void runBatchNormGrad(KernelCall &c) {
  Channels s(*c.in[1].shape);
  double eps = c.attrs<BatchNormAttrs>().epsilon;
  floatCall(c, [&](auto in, auto out) {
    batchNormGrad(s, eps, in[0], in[1], in[2], in[3], in[4], out[0], out[1], out[2]);
  });
}

} // namespace ds::rt::cpu
