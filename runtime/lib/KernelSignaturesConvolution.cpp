// Load-time shape and dtype rules of the convolution, batch normalization and pooling
// kernels.
#include "KernelSignaturesConvolution.h"

#include <algorithm>

namespace ds::rt {
namespace {
using T = const TensorType *;

std::string desc(T t) { return dtypeName(t->dtype) + shapeString(t->shape); }

void sameFloat(T a, T b, const char *what) {
  if (!isFloat(a->dtype))
    fail(what, " must be floating point, got ", desc(a));
  if (a->dtype != b->dtype)
    fail(what, " must have the same element type, got ", desc(a), " and ", desc(b));
}

/// x [N, C, S...], w [M, C/group, K...], y [N, M, O...] of one float type.
void checkConvShapes(const CheckContext &c, T x, T w, T y) {
  sameFloat(x, w, "x and w");
  sameFloat(x, y, "x and y");
  if (x->rank() < 3 || x->rank() > 4)
    fail("x must be [N, C, S...] with 1 or 2 spatial dims, got ", desc(x));
  if (w->rank() != x->rank() || y->rank() != x->rank())
    fail("x, w and y must have the same rank, got ", desc(x), ", ", desc(w), ", ",
         desc(y));
  const auto &a = c.attrs<ConvAttrs>();
  std::vector<WindowDim> dims = convWindow(a, x->shape, w->shape);
  int64_t ch = x->shape[1], m = w->shape[0];
  if (a.group < 1 || ch % a.group || m % a.group || w->shape[1] != ch / a.group)
    fail("group ", a.group, " does not fit x ", desc(x), " and w ", desc(w));
  std::vector<int64_t> expect{x->shape[0], m};
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t o = windowOutputSize(x->shape[i + 2], dims[i], false);
    if (o < 1)
      fail("the kernel does not fit spatial dim ", i, " of x ", desc(x));
    expect.push_back(o);
  }
  if (y->shape != expect)
    fail("the convolution's output has shape ", shapeString(y->shape), ", expected ",
         shapeString(expect));
}

/// x [N, C, S...] pooled to y [N, C, O...].
void checkPoolShapes(const CheckContext &c, T x, T y) {
  sameFloat(x, y, "x and y");
  if (x->rank() < 3 || x->rank() > 4 || y->rank() != x->rank())
    fail("x and y must be [N, C, S...] with 1 or 2 spatial dims, got ", desc(x), " and ",
         desc(y));
  const auto &a = c.attrs<PoolAttrs>();
  std::vector<WindowDim> dims = poolWindow(a, x->shape);
  std::vector<int64_t> expect{x->shape[0], x->shape[1]};
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t o = windowOutputSize(x->shape[i + 2], dims[i], a.ceil_mode);
    if (o < 1)
      fail("the window does not fit spatial dim ", i, " of x ", desc(x));
    expect.push_back(o);
  }
  if (y->shape != expect)
    fail("the pooled output has shape ", shapeString(y->shape), ", expected ",
         shapeString(expect));
}

void channelVector(T x, T v, const char *what) {
  sameFloat(x, v, what);
  if (v->shape != std::vector<int64_t>{x->shape[1]})
    fail(what, ": expected [", x->shape[1], "], got ", desc(v));
}

void checkEpsilon(const CheckContext &c) {
  if (!(c.attrs<BatchNormAttrs>().epsilon >= 0))
    fail("attribute 'epsilon' must be >= 0");
}
} // namespace

std::vector<WindowDim> convWindow(const ConvAttrs &a, const std::vector<int64_t> &x,
                                  const std::vector<int64_t> &w) {
  std::vector<WindowDim> dims;
  std::string err = windowDims({}, a.strides, a.pads, a.dilations, x.size() - 2, dims);
  if (!err.empty())
    fail(err);
  for (size_t i = 0; i < dims.size(); ++i)
    dims[i].kernel = w[i + 2];
  return dims;
}

std::vector<WindowDim> poolWindow(const PoolAttrs &a, const std::vector<int64_t> &x) {
  std::vector<WindowDim> dims;
  std::string err =
      windowDims(a.kernel_shape, a.strides, a.pads, a.dilations, x.size() - 2, dims);
  if (!err.empty())
    fail(err);
  return dims;
}

void checkConv(const CheckContext &c) {
  checkConvShapes(c, c.in[0], c.in[1], c.out[0]);
  if (c.in.size() == 3)
    channelVector(c.out[0], c.in[2], "b");
}

void checkConvGradInput(const CheckContext &c) {
  checkConvShapes(c, c.out[0], c.in[1], c.in[0]);
}

void checkConvGradFilter(const CheckContext &c) {
  checkConvShapes(c, c.in[1], c.out[0], c.in[0]);
}

void checkBatchNorm(const CheckContext &c) {
  T x = c.in[0];
  if (x->rank() < 2)
    fail("x must be [N, C, ...], got ", desc(x));
  checkEpsilon(c);
  channelVector(x, c.in[1], "scale");
  channelVector(x, c.in[2], "bias");
  sameFloat(x, c.out[0], "x and y");
  if (c.out[0]->shape != x->shape)
    fail("y must have x's shape ", shapeString(x->shape), ", got ", desc(c.out[0]));
  channelVector(x, c.out[1], "mean");
  channelVector(x, c.out[2], "var");
}

void checkBatchNormGrad(const CheckContext &c) {
  T g = c.in[0], x = c.in[1];
  if (x->rank() < 2)
    fail("x must be [N, C, ...], got ", desc(x));
  checkEpsilon(c);
  sameFloat(x, g, "x and g");
  if (g->shape != x->shape || c.out[0]->shape != x->shape)
    fail("g and dx must have x's shape ", shapeString(x->shape));
  sameFloat(x, c.out[0], "x and dx");
  channelVector(x, c.in[2], "scale");
  channelVector(x, c.in[3], "mean");
  channelVector(x, c.in[4], "var");
  channelVector(x, c.out[1], "dscale");
  channelVector(x, c.out[2], "dbias");
}

void checkPool(const CheckContext &c) {
  checkPoolShapes(c, c.in[0], c.out[0]);
  if (c.ins.kernel() == "avg_pool" &&
      std::any_of(c.attrs<PoolAttrs>().dilations.begin(),
                  c.attrs<PoolAttrs>().dilations.end(), [](int64_t d) { return d != 1; }))
    fail("avg_pool needs dilations of 1");
}

void checkPoolGrad(const CheckContext &c) {
  // max_pool_grad: g, x -> dx (dx like x); avg_pool_grad: g -> dx.
  T x = c.in.size() == 2 ? c.in[1] : c.out[0];
  checkPoolShapes(c, x, c.in[0]);
  if (c.out[0]->shape != x->shape || c.out[0]->dtype != x->dtype)
    fail("dx must have x's type ", desc(x), ", got ", desc(c.out[0]));
}

} // namespace ds::rt
