// max_pool, avg_pool and their gradients over 1 or 2 spatial dims; (batch, channel)
// planes on threads.
#include "../KernelSignaturesConvolution.h"
#include "CpuCommon.h"

#include <cmath>
#include <limits>

namespace ds::rt::cpu {
namespace {

/// A pool's sizes with 1-D treated as 2-D of height 1.
struct PoolShape {
  int64_t planes, h, w, oh, ow;
  WindowDim dh, dw;
  bool countPad;
};

PoolShape poolShape(const PoolAttrs &a, const std::vector<int64_t> &x,
                    const std::vector<int64_t> &y) {
  std::vector<WindowDim> dims = poolWindow(a, x);
  bool twoD = dims.size() == 2;
  PoolShape s;
  s.planes = x[0] * x[1];
  s.h = twoD ? x[2] : 1;
  s.w = x.back();
  s.oh = twoD ? y[2] : 1;
  s.ow = y.back();
  s.dh = twoD ? dims[0] : WindowDim();
  s.dw = dims.back();
  s.countPad = a.count_include_pad;
  return s;
}

/// Calls fn(plane offset in x, plane offset in y, oy, ox) for every output position.
template <typename Fn> void eachOutput(const PoolShape &s, Fn fn) {
  parallelFor(s.planes, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, s.oh * s.ow)),
              [&](int64_t begin, int64_t end) {
                for (int64_t p = begin; p < end; ++p)
                  for (int64_t oy = 0; oy < s.oh; ++oy)
                    for (int64_t ox = 0; ox < s.ow; ++ox)
                      fn(p * s.h * s.w, p * s.oh * s.ow + oy * s.ow + ox, oy, ox);
              });
}

/// The input index of the first maximum of window (oy, ox) in one plane (-1: none
/// inside).
template <typename T>
int64_t argmaxOf(const PoolShape &s, const T *x, int64_t oy, int64_t ox) {
  int64_t best = -1;
  for (int64_t i = 0; i < s.dh.kernel; ++i) {
    int64_t iy = oy * s.dh.stride - s.dh.padBegin + i * s.dh.dilation;
    if (iy < 0 || iy >= s.h)
      continue;
    for (int64_t j = 0; j < s.dw.kernel; ++j) {
      int64_t ix = ox * s.dw.stride - s.dw.padBegin + j * s.dw.dilation;
      if (ix < 0 || ix >= s.w)
        continue;
      int64_t k = iy * s.w + ix;
      // NaN wins and stays, as in PyTorch.
      if (best < 0 || x[k] > x[best] || (std::isnan(x[k]) && !std::isnan(x[best])))
        best = k;
    }
  }
  return best;
}

/// Window (oy, ox)'s clipped range [y0, y1) x [x0, x1) and its divisor.
struct AvgWindow {
  int64_t y0, y1, x0, x1;
  double divisor;
};
AvgWindow avgWindow(const PoolShape &s, int64_t oy, int64_t ox) {
  int64_t y0 = oy * s.dh.stride - s.dh.padBegin, x0 = ox * s.dw.stride - s.dw.padBegin;
  int64_t y1 = std::min(y0 + s.dh.kernel, s.h + s.dh.padEnd);
  int64_t x1 = std::min(x0 + s.dw.kernel, s.w + s.dw.padEnd);
  double padded = double((y1 - y0) * (x1 - x0));
  y0 = std::max<int64_t>(y0, 0);
  x0 = std::max<int64_t>(x0, 0);
  y1 = std::min(y1, s.h);
  x1 = std::min(x1, s.w);
  double inside = double(std::max<int64_t>(0, y1 - y0) * std::max<int64_t>(0, x1 - x0));
  return {y0, y1, x0, x1, s.countPad ? padded : inside};
}
} // namespace

void runMaxPool(KernelCall &c) {
  PoolShape s = poolShape(c.attrs<PoolAttrs>(), *c.in[0].shape, *c.out[0].shape);
  floatCall(c, [&](auto in, auto out) {
    using T = std::remove_pointer_t<typename decltype(out)::value_type>;
    eachOutput(s, [&](int64_t xo, int64_t yi, int64_t oy, int64_t ox) {
      int64_t k = argmaxOf(s, in[0] + xo, oy, ox);
      out[0][yi] = k < 0 ? -std::numeric_limits<T>::infinity() : in[0][xo + k];
    });
  });
}

void runMaxPoolGrad(KernelCall &c) {
  PoolShape s = poolShape(c.attrs<PoolAttrs>(), *c.in[1].shape, *c.in[0].shape);
  floatCall(c, [&](auto in, auto out) {
    using T = std::remove_pointer_t<typename decltype(out)::value_type>;
    std::fill(out[0], out[0] + c.out[0].numel, T(0));
    // Windows of one plane may overlap: each plane is one thread's.
    parallelFor(s.planes, 1, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p)
        for (int64_t oy = 0; oy < s.oh; ++oy)
          for (int64_t ox = 0; ox < s.ow; ++ox) {
            int64_t xo = p * s.h * s.w;
            int64_t k = argmaxOf(s, in[1] + xo, oy, ox);
            if (k >= 0)
              out[0][xo + k] += in[0][p * s.oh * s.ow + oy * s.ow + ox];
          }
    });
  });
}

void runAvgPool(KernelCall &c) {
  PoolShape s = poolShape(c.attrs<PoolAttrs>(), *c.in[0].shape, *c.out[0].shape);
  floatCall(c, [&](auto in, auto out) {
    using T = std::remove_pointer_t<typename decltype(out)::value_type>;
    eachOutput(s, [&](int64_t xo, int64_t yi, int64_t oy, int64_t ox) {
      AvgWindow w = avgWindow(s, oy, ox);
      double sum = 0;
      for (int64_t iy = w.y0; iy < w.y1; ++iy)
        for (int64_t ix = w.x0; ix < w.x1; ++ix)
          sum += double(in[0][xo + iy * s.w + ix]);
      out[0][yi] = T(w.divisor > 0 ? sum / w.divisor : 0.0);
    });
  });
}

void runAvgPoolGrad(KernelCall &c) {
  PoolShape s = poolShape(c.attrs<PoolAttrs>(), *c.out[0].shape, *c.in[0].shape);
  floatCall(c, [&](auto in, auto out) {
    using T = std::remove_pointer_t<typename decltype(out)::value_type>;
    std::fill(out[0], out[0] + c.out[0].numel, T(0));
    parallelFor(s.planes, 1, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p)
        for (int64_t oy = 0; oy < s.oh; ++oy)
          for (int64_t ox = 0; ox < s.ow; ++ox) {
            AvgWindow w = avgWindow(s, oy, ox);
            if (w.divisor <= 0)
              continue;
            T share = T(double(in[0][p * s.oh * s.ow + oy * s.ow + ox]) / w.divisor);
            for (int64_t iy = w.y0; iy < w.y1; ++iy)
              for (int64_t ix = w.x0; ix < w.x1; ++ix)
                out[0][p * s.h * s.w + iy * s.w + ix] += share;
          }
    });
  });
}

} // namespace ds::rt::cpu
