// conv, conv_grad_input and conv_grad_filter: im2col / col2im around OpenBLAS GEMMs,
// batch on threads.
#include "../KernelSignaturesConvolution.h"
#include "CpuCommon.h"

#include <cblas.h>
#include <cstring>

namespace ds::rt::cpu {
namespace {

inline void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *a,
                 const float *b, float beta, float *c) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, int(M), int(N), int(K), 1.0f, a,
              int(ta ? M : K), b, int(tb ? K : N), beta, c, int(N));
}
inline void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const double *a,
                 const double *b, double beta, double *c) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, int(M), int(N), int(K), 1.0, a,
              int(ta ? M : K), b, int(tb ? K : N), beta, c, int(N));
}

/// A conv's sizes with 1-D treated as 2-D of height 1.
struct ConvShape {
  int64_t n, c, h, w, m, kh, kw, oh, ow, group;
  WindowDim dh, dw;
  int64_t cg() const { return c / group; }        // input channels per group
  int64_t mg() const { return m / group; }        // output channels per group
  int64_t rows() const { return cg() * kh * kw; } // im2col rows
  int64_t cols() const { return oh * ow; }
};

ConvShape convShape(const ConvAttrs &a, const std::vector<int64_t> &x,
                    const std::vector<int64_t> &w, const std::vector<int64_t> &y) {
  std::vector<WindowDim> dims = convWindow(a, x, w);
  bool twoD = dims.size() == 2;
  ConvShape s;
  s.n = x[0];
  s.c = x[1];
  s.m = w[0];
  s.h = twoD ? x[2] : 1;
  s.w = x.back();
  s.kh = twoD ? w[2] : 1;
  s.kw = w.back();
  s.oh = twoD ? y[2] : 1;
  s.ow = y.back();
  s.group = a.group;
  s.dh = twoD ? dims[0] : WindowDim();
  s.dw = dims.back();
  return s;
}

/// col[(ci*kh + i)*kw + j][oy*ow + ox] = x[ci][oy*sh - ph + i*dh][ox*sw - pw + j*dw] (0
/// outside).
template <typename T> void im2col(const ConvShape &s, const T *x, T *col) {
  for (int64_t ci = 0; ci < s.cg(); ++ci)
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t j = 0; j < s.kw; ++j) {
        T *row = col + ((ci * s.kh + i) * s.kw + j) * s.cols();
        for (int64_t oy = 0; oy < s.oh; ++oy) {
          int64_t iy = oy * s.dh.stride - s.dh.padBegin + i * s.dh.dilation;
          T *out = row + oy * s.ow;
          if (iy < 0 || iy >= s.h) {
            std::fill(out, out + s.ow, T(0));
            continue;
          }
          const T *in = x + (ci * s.h + iy) * s.w;
          for (int64_t ox = 0; ox < s.ow; ++ox) {
            int64_t ix = ox * s.dw.stride - s.dw.padBegin + j * s.dw.dilation;
            out[ox] = ix >= 0 && ix < s.w ? in[ix] : T(0);
          }
        }
      }
}

/// The adjoint of im2col: adds every column entry back into dx (zeroed by the caller).
template <typename T> void col2im(const ConvShape &s, const T *col, T *dx) {
  for (int64_t ci = 0; ci < s.cg(); ++ci)
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t j = 0; j < s.kw; ++j) {
        const T *row = col + ((ci * s.kh + i) * s.kw + j) * s.cols();
        for (int64_t oy = 0; oy < s.oh; ++oy) {
          int64_t iy = oy * s.dh.stride - s.dh.padBegin + i * s.dh.dilation;
          if (iy < 0 || iy >= s.h)
            continue;
          T *out = dx + (ci * s.h + iy) * s.w;
          for (int64_t ox = 0; ox < s.ow; ++ox) {
            int64_t ix = ox * s.dw.stride - s.dw.padBegin + j * s.dw.dilation;
            if (ix >= 0 && ix < s.w)
              out[ix] += row[oy * s.ow + ox];
          }
        }
      }
}

template <typename T>
void convForward(const ConvShape &s, const T *x, const T *w, const T *b, T *y) {
  parallelFor(s.n, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> col(size_t(s.rows() * s.cols()));
    for (int64_t n = begin; n < end; ++n)
      for (int64_t g = 0; g < s.group; ++g) {
        im2col(s, x + (n * s.c + g * s.cg()) * s.h * s.w, col.data());
        T *out = y + (n * s.m + g * s.mg()) * s.cols();
        gemm(false, false, s.mg(), s.cols(), s.rows(), w + g * s.mg() * s.rows(),
             col.data(), T(0), out);
        if (b)
          for (int64_t mi = 0; mi < s.mg(); ++mi)
            for (int64_t k = 0; k < s.cols(); ++k)
              out[mi * s.cols() + k] += b[g * s.mg() + mi];
      }
  });
}

template <typename T>
void convGradInput(const ConvShape &s, const T *gy, const T *w, T *dx) {
  parallelFor(s.n, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> col(size_t(s.rows() * s.cols()));
    for (int64_t n = begin; n < end; ++n) {
      std::fill(dx + n * s.c * s.h * s.w, dx + (n + 1) * s.c * s.h * s.w, T(0));
      for (int64_t g = 0; g < s.group; ++g) {
        // col = W_gᵀ [rows, mg] g_g [mg, cols]
        gemm(true, false, s.rows(), s.cols(), s.mg(), w + g * s.mg() * s.rows(),
             gy + (n * s.m + g * s.mg()) * s.cols(), T(0), col.data());
        col2im(s, col.data(), dx + (n * s.c + g * s.cg()) * s.h * s.w);
      }
    }
  });
}

template <typename T>
void convGradFilter(const ConvShape &s, const T *gy, const T *x, T *dw) {
  // Each group's filter gradient sums over the batch: groups on threads, batch in order.
  int64_t per = s.mg() * s.rows();
  std::fill(dw, dw + s.group * per, T(0));
  parallelFor(s.group, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> col(size_t(s.rows() * s.cols()));
    for (int64_t g = begin; g < end; ++g)
      for (int64_t n = 0; n < s.n; ++n) {
        im2col(s, x + (n * s.c + g * s.cg()) * s.h * s.w, col.data());
        // dW_g [mg, rows] += g_g [mg, cols] colᵀ [cols, rows]
        gemm(false, true, s.mg(), s.rows(), s.cols(),
             gy + (n * s.m + g * s.mg()) * s.cols(), col.data(), T(1), dw + g * per);
      }
  });
}
} // namespace

void runConv(KernelCall &c) {
  ConvShape s =
      convShape(c.attrs<ConvAttrs>(), *c.in[0].shape, *c.in[1].shape, *c.out[0].shape);
  floatCall(c, [&](auto in, auto out) {
    convForward(s, in[0], in[1], in.size() > 2 ? in[2] : nullptr, out[0]);
  });
}

void runConvGradInput(KernelCall &c) {
  ConvShape s =
      convShape(c.attrs<ConvAttrs>(), *c.out[0].shape, *c.in[1].shape, *c.in[0].shape);
  floatCall(c, [&](auto in, auto out) { convGradInput(s, in[0], in[1], out[0]); });
}

void runConvGradFilter(KernelCall &c) {
  ConvShape s =
      convShape(c.attrs<ConvAttrs>(), *c.in[1].shape, *c.out[0].shape, *c.in[0].shape);
  floatCall(c, [&](auto in, auto out) { convGradFilter(s, in[0], in[1], out[0]); });
}

} // namespace ds::rt::cpu
