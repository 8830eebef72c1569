// CUDA max_pool, avg_pool and their gradients (1-D as height 1): one thread per output
// element forward, one per input element backward (gathering from the windows that cover
// it: no atomics).
#include "../KernelSignaturesConvolution.h"
#include "CudaCommon.cuh"

namespace ds::rt::cuda {
namespace {

/// A pool's sizes with 1-D as 2-D of height 1 (plain values: passed to kernels).
struct PoolGeom {
  int64_t planes, h, w, oh, ow;
  int64_t kh, kw, sh, sw, ph, pw, peh, pew, dh, dw;
  bool countPad;
};

PoolGeom geometry(const PoolAttrs &a, const std::vector<int64_t> &x,
                  const std::vector<int64_t> &y) {
  std::vector<WindowDim> dims = poolWindow(a, x);
  bool twoD = dims.size() == 2;
  WindowDim H = twoD ? dims[0] : WindowDim(), W = dims.back();
  return {x[0] * x[1], twoD ? x[2] : 1, x.back(),   twoD ? y[2] : 1,
          y.back(),    H.kernel,        W.kernel,   H.stride,
          W.stride,    H.padBegin,      W.padBegin, H.padEnd,
          W.padEnd,    H.dilation,      W.dilation, a.count_include_pad};
}

/// Input index (within the plane) of the first maximum of window (oy, ox); -1 if none.
template <typename T>
__device__ int64_t windowArgmax(const PoolGeom &g, const T *x, int64_t oy, int64_t ox) {
  int64_t best = -1;
  double bv = 0;
  for (int64_t i = 0; i < g.kh; ++i) {
    int64_t iy = oy * g.sh - g.ph + i * g.dh;
    if (iy < 0 || iy >= g.h)
      continue;
    for (int64_t j = 0; j < g.kw; ++j) {
      int64_t ix = ox * g.sw - g.pw + j * g.dw;
      if (ix < 0 || ix >= g.w)
        continue;
      double v = double(ld(x, iy * g.w + ix));
      if (best < 0 || v > bv || (v != v && bv == bv)) {
        best = iy * g.w + ix;
        bv = v;
      }
    }
  }
  return best;
}

/// Window (oy, ox)'s clipped rows/cols and divisor (as the CPU kernel's avgWindow).
__device__ void avgWindow(const PoolGeom &g, int64_t oy, int64_t ox, int64_t &y0,
                          int64_t &y1, int64_t &x0, int64_t &x1, double &divisor) {
  y0 = oy * g.sh - g.ph;
  x0 = ox * g.sw - g.pw;
  y1 = min(y0 + g.kh, g.h + g.peh);
  x1 = min(x0 + g.kw, g.w + g.pew);
  double padded = double((y1 - y0) * (x1 - x0));
  y0 = max(y0, int64_t(0));
  x0 = max(x0, int64_t(0));
  y1 = min(y1, g.h);
  x1 = min(x1, g.w);
  double inside = double(max(int64_t(0), y1 - y0) * max(int64_t(0), x1 - x0));
  divisor = g.countPad ? padded : inside;
}

template <typename T> __global__ void maxPoolKernel(PoolGeom g, const T *x, T *y) {
  DS_GRID_STRIDE(t, g.planes * g.oh * g.ow) {
    int64_t p = t / (g.oh * g.ow), oy = (t / g.ow) % g.oh, ox = t % g.ow;
    const T *xp = x + p * g.h * g.w;
    int64_t k = windowArgmax(g, xp, oy, ox);
    st(y, t, k < 0 ? -INFINITY : double(ld(xp, k)));
  }
}

template <typename T> __global__ void avgPoolKernel(PoolGeom g, const T *x, T *y) {
  DS_GRID_STRIDE(t, g.planes * g.oh * g.ow) {
    int64_t p = t / (g.oh * g.ow), oy = (t / g.ow) % g.oh, ox = t % g.ow;
    int64_t y0, y1, x0, x1;
    double div, sum = 0;
    avgWindow(g, oy, ox, y0, y1, x0, x1, div);
    for (int64_t iy = y0; iy < y1; ++iy)
      for (int64_t ix = x0; ix < x1; ++ix)
        sum += double(ld(x, p * g.h * g.w + iy * g.w + ix));
    st(y, t, div > 0 ? sum / div : 0.0);
  }
}

/// Calls fn(oy, ox) for every output window that covers input (iy, ix).
template <typename Fn>
__device__ void coveringWindows(const PoolGeom &g, int64_t iy, int64_t ix, Fn fn) {
  for (int64_t i = 0; i < g.kh; ++i) {
    int64_t sy = iy + g.ph - i * g.dh;
    if (sy < 0 || sy % g.sh || sy / g.sh >= g.oh)
      continue;
    for (int64_t j = 0; j < g.kw; ++j) {
      int64_t sx = ix + g.pw - j * g.dw;
      if (sx < 0 || sx % g.sw || sx / g.sw >= g.ow)
        continue;
      fn(sy / g.sh, sx / g.sw);
    }
  }
}

template <typename T>
__global__ void maxPoolGradKernel(PoolGeom g, const T *gy, const T *x, T *dx) {
  DS_GRID_STRIDE(t, g.planes * g.h * g.w) {
    int64_t p = t / (g.h * g.w), iy = (t / g.w) % g.h, ix = t % g.w;
    const T *xp = x + p * g.h * g.w;
    double acc = 0;
    coveringWindows(g, iy, ix, [&](int64_t oy, int64_t ox) {
      if (windowArgmax(g, xp, oy, ox) == iy * g.w + ix)
        acc += double(ld(gy, (p * g.oh + oy) * g.ow + ox));
    });
    st(dx, t, acc);
  }
}

template <typename T> __global__ void avgPoolGradKernel(PoolGeom g, const T *gy, T *dx) {
  DS_GRID_STRIDE(t, g.planes * g.h * g.w) {
    int64_t p = t / (g.h * g.w), iy = (t / g.w) % g.h, ix = t % g.w;
    double acc = 0;
    coveringWindows(g, iy, ix, [&](int64_t oy, int64_t ox) {
      int64_t y0, y1, x0, x1;
      double div;
      avgWindow(g, oy, ox, y0, y1, x0, x1, div);
      if (div > 0)
        acc += double(ld(gy, (p * g.oh + oy) * g.ow + ox)) / div;
    });
    st(dx, t, acc);
  }
}
} // namespace

void runMaxPool(KernelCall &c) {
  PoolGeom g = geometry(c.attrs<PoolAttrs>(), *c.in[0].shape, *c.out[0].shape);
  int64_t n = c.out[0].numel;
  if (n == 0)
    return;
  DS_DISPATCH_FLOAT(c.in[0].dtype, T, {
    maxPoolKernel<T>
        <<<gridFor(n), kThreads, 0, stream(c)>>>(g, c.in[0].as<T>(), c.out[0].as<T>());
  });
  DS_CUDA_LAUNCH();
}

void runAvgPool(KernelCall &c) {
  PoolGeom g = geometry(c.attrs<PoolAttrs>(), *c.in[0].shape, *c.out[0].shape);
  int64_t n = c.out[0].numel;
  if (n == 0)
    return;
  DS_DISPATCH_FLOAT(c.in[0].dtype, T, {
    avgPoolKernel<T>
        <<<gridFor(n), kThreads, 0, stream(c)>>>(g, c.in[0].as<T>(), c.out[0].as<T>());
  });
  DS_CUDA_LAUNCH();
}

void runMaxPoolGrad(KernelCall &c) {
  PoolGeom g = geometry(c.attrs<PoolAttrs>(), *c.in[1].shape, *c.in[0].shape);
  int64_t n = c.out[0].numel;
  if (n == 0)
    return;
  DS_DISPATCH_FLOAT(c.in[1].dtype, T, {
    maxPoolGradKernel<T><<<gridFor(n), kThreads, 0, stream(c)>>>(
        g, c.in[0].as<T>(), c.in[1].as<T>(), c.out[0].as<T>());
  });
  DS_CUDA_LAUNCH();
}

void runAvgPoolGrad(KernelCall &c) {
  PoolGeom g = geometry(c.attrs<PoolAttrs>(), *c.out[0].shape, *c.in[0].shape);
  int64_t n = c.out[0].numel;
  if (n == 0)
    return;
  DS_DISPATCH_FLOAT(c.out[0].dtype, T, {
    avgPoolGradKernel<T>
        <<<gridFor(n), kThreads, 0, stream(c)>>>(g, c.in[0].as<T>(), c.out[0].as<T>());
  });
  DS_CUDA_LAUNCH();
}

} // namespace ds::rt::cuda
