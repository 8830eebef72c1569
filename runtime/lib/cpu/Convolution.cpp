// conv, conv_grad_input and conv_grad_filter: per group one GEMM (Gemm.h) over the whole
// batch, im2col / col2im with the images on threads; 1x1 convs at stride 1 without
// padding are plain GEMMs per image.
#include "../KernelSignaturesConvolution.h"
#include "CpuCommon.h"
#include "Gemm.h"

#include <algorithm>
#include <cstring>
#include <memory>

namespace ds::rt::cpu {
namespace {

/// C[M,N] = op(A) op(B) + beta C with dense operands, split across the pool.
template <typename T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T *a, const T *b, T beta,
          T *c) {
  parallelGemm(ta, tb, M, N, K, T(1), a, ta ? M : K, b, tb ? K : N, beta, c, N);
}

/// A conv's sizes with 1-D treated as 2-D of height 1.
struct ConvShape {
  int64_t n, c, h, w, m, kh, kw, oh, ow, group;
  WindowDim dh, dw;
  int64_t cg() const { return c / group; }        // input channels per group
  int64_t mg() const { return m / group; }        // output channels per group
  int64_t rows() const { return cg() * kh * kw; } // im2col rows
  int64_t cols() const { return oh * ow; }
  /// A 1x1 window at stride 1 without padding: im2col of an image is the image itself,
  /// so each image is one plain GEMM on x and y as they lie.
  bool pointwise() const {
    return kh == 1 && kw == 1 && dh.stride == 1 && dw.stride == 1 && dh.padBegin == 0 &&
           dw.padBegin == 0 && oh == h && ow == w;
  }
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
/// outside); rows `ld` elements apart.
template <typename T> void im2col(const ConvShape &s, const T *x, T *col, int64_t ld) {
  for (int64_t ci = 0; ci < s.cg(); ++ci)
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t j = 0; j < s.kw; ++j) {
        T *row = col + ((ci * s.kh + i) * s.kw + j) * ld;
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
template <typename T> void col2im(const ConvShape &s, const T *col, int64_t ld, T *dx) {
  for (int64_t ci = 0; ci < s.cg(); ++ci)
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t j = 0; j < s.kw; ++j) {
        const T *row = col + ((ci * s.kh + i) * s.kw + j) * ld;
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

// Each group is one GEMM over the whole batch: the im2col columns of every image side by
// side, col [rows, N*cols] (image n at columns [n*cols, (n+1)*cols)), built and scattered
// back with the images on threads; OpenBLAS threads the GEMM itself.

/// An uninitialized buffer (every element is written before it is read).
template <typename T> struct Scratch {
  std::unique_ptr<T[]> p;
  explicit Scratch(int64_t n) : p(new T[size_t(std::max<int64_t>(n, 1))]) {}
  T *data() { return p.get(); }
};

/// col = im2col of group g of every image.
template <typename T>
void batchIm2col(const ConvShape &s, const T *x, int64_t g, T *col) {
  int64_t ld = s.n * s.cols();
  parallelFor(s.n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n)
      im2col(s, x + (n * s.c + g * s.cg()) * s.h * s.w, col + n * s.cols(), ld);
  });
}

/// Group g's output channels of every image as [mg, N*cols] (from y [N, M, cols]), or
/// back.
template <typename T>
void gatherChannels(const ConvShape &s, const T *y, int64_t g, T *out, bool back) {
  parallelFor(s.n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n)
      for (int64_t mi = 0; mi < s.mg(); ++mi) {
        T *packed = out + mi * s.n * s.cols() + n * s.cols();
        T *image = const_cast<T *>(y) + (n * s.m + g * s.mg() + mi) * s.cols();
        if (back)
          std::copy(packed, packed + s.cols(), image);
        else
          std::copy(image, image + s.cols(), packed);
      }
  });
}

// Pointwise (1x1, stride 1, no padding): per image and group, y_n = W_g x_n,
// dx_n = W_gᵀ gy_n, dW_g = Σ_n gy_n x_nᵀ, with no column buffer or channel gather.

template <typename T>
void pointwiseForward(const ConvShape &s, const T *x, const T *w, const T *b, T *y) {
  int64_t hw = s.cols();
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t g = 0; g < s.group; ++g) {
      T *out = y + (n * s.m + g * s.mg()) * hw;
      gemm(false, false, s.mg(), hw, s.cg(), w + g * s.mg() * s.cg(),
           x + (n * s.c + g * s.cg()) * hw, T(0), out);
      if (b)
        for (int64_t mi = 0; mi < s.mg(); ++mi) {
          T bias = b[g * s.mg() + mi], *row = out + mi * hw;
          std::transform(row, row + hw, row, [&](T v) { return v + bias; });
        }
    }
}

template <typename T>
void pointwiseGradInput(const ConvShape &s, const T *gy, const T *w, T *dx) {
  int64_t hw = s.cols();
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t g = 0; g < s.group; ++g)
      gemm(true, false, s.cg(), hw, s.mg(), w + g * s.mg() * s.cg(),
           gy + (n * s.m + g * s.mg()) * hw, T(0), dx + (n * s.c + g * s.cg()) * hw);
}

template <typename T>
void pointwiseGradFilter(const ConvShape &s, const T *gy, const T *x, T *dw) {
  int64_t hw = s.cols();
  for (int64_t g = 0; g < s.group; ++g)
    for (int64_t n = 0; n < s.n; ++n)
      gemm(false, true, s.mg(), s.cg(), hw, gy + (n * s.m + g * s.mg()) * hw,
           x + (n * s.c + g * s.cg()) * hw, n == 0 ? T(0) : T(1),
           dw + g * s.mg() * s.cg());
}

template <typename T>
void convForward(const ConvShape &s, const T *x, const T *w, const T *b, T *y) {
  if (s.pointwise())
    return pointwiseForward(s, x, w, b, y);
  Scratch<T> col(s.rows() * s.n * s.cols()), out(s.mg() * s.n * s.cols());
  for (int64_t g = 0; g < s.group; ++g) {
    batchIm2col(s, x, g, col.data());
    gemm(false, false, s.mg(), s.n * s.cols(), s.rows(), w + g * s.mg() * s.rows(),
         col.data(), T(0), out.data());
    if (b)
      for (int64_t mi = 0; mi < s.mg(); ++mi) {
        T *row = out.data() + mi * s.n * s.cols();
        std::transform(row, row + s.n * s.cols(), row,
                       [&](T v) { return v + b[g * s.mg() + mi]; });
      }
    gatherChannels(s, y, g, out.data(), /*back=*/true);
  }
}

template <typename T>
void convGradInput(const ConvShape &s, const T *gy, const T *w, T *dx) {
  if (s.pointwise())
    return pointwiseGradInput(s, gy, w, dx);
  Scratch<T> col(s.rows() * s.n * s.cols()), gg(s.mg() * s.n * s.cols());
  std::fill(dx, dx + s.n * s.c * s.h * s.w, T(0));
  for (int64_t g = 0; g < s.group; ++g) {
    gatherChannels(s, gy, g, gg.data(), /*back=*/false);
    // col = W_gᵀ [rows, mg] G_g [mg, N*cols]
    gemm(true, false, s.rows(), s.n * s.cols(), s.mg(), w + g * s.mg() * s.rows(),
         gg.data(), T(0), col.data());
    parallelFor(s.n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n)
        col2im(s, col.data() + n * s.cols(), s.n * s.cols(),
               dx + (n * s.c + g * s.cg()) * s.h * s.w);
    });
  }
}

template <typename T>
void convGradFilter(const ConvShape &s, const T *gy, const T *x, T *dw) {
  if (s.pointwise())
    return pointwiseGradFilter(s, gy, x, dw);
  Scratch<T> col(s.rows() * s.n * s.cols()), gg(s.mg() * s.n * s.cols());
  for (int64_t g = 0; g < s.group; ++g) {
    batchIm2col(s, x, g, col.data());
    gatherChannels(s, gy, g, gg.data(), /*back=*/false);
    // dW_g [mg, rows] = G_g [mg, N*cols] colᵀ [N*cols, rows]
    gemm(false, true, s.mg(), s.rows(), s.n * s.cols(), gg.data(), col.data(), T(0),
         dw + g * s.mg() * s.rows());
  }
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
