// softmax, log_softmax, layer_norm and their gradients (the losses: Loss.cpp).
#include "LayerNormLoops.h"
#include "Softmax.h"

#include "ds/runtime/CpuIsa.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

namespace ds::rt::cpu {

const LayerNormLoops &layerNormLoops() {
  std::string isa = cpuIsa();
#if defined(DS_HAVE_X86_OPTIMIZER_LOOPS)
  if (isa == "avx512")
    return avx512::layerNormLoops();
  if (isa == "avx2")
    return avx2::layerNormLoops();
  if (isa == "sse2")
    return sse2::layerNormLoops();
#endif
  return scalar::layerNormLoops();
}

namespace {

// Materializes a parameter broadcast to `normShape` (flattened, norm elements).
template <typename T>
std::vector<T> broadcastParam(const T *p, const std::vector<int64_t> &pshape,
                              const std::vector<int64_t> &normShape, int64_t norm) {
  std::vector<T> out(static_cast<size_t>(norm));
  if (normShape.empty()) {
    out[0] = p[0];
    return out;
  }
  std::vector<int64_t> st = broadcastStrides(pshape, normShape);
  for (int64_t i = 0; i < norm; ++i) {
    int64_t rem = i, off = 0;
    for (int64_t d = int64_t(normShape.size()) - 1; d >= 0; --d) {
      off += (rem % normShape[size_t(d)]) * st[size_t(d)];
      rem /= normShape[size_t(d)];
    }
    out[size_t(i)] = p[off];
  }
  return out;
}

/// The layer norm loops of T (LayerNormLoops.h).
template <typename T> const LayerNormLoopsOf<T> &layerNormLoopsOf() {
  if constexpr (std::is_same_v<T, float>)
    return layerNormLoops().f32;
  else
    return layerNormLoops().f64;
}

/// scale or bias with `norm` elements in normShape's row-major order: p itself when it has
/// that many (a shape that broadcasts to normShape with as many elements is normShape up to
/// leading 1s), else materialized into `tmp`.
template <typename T>
const T *layerNormParam(const T *p, const std::vector<int64_t> &pshape,
                        const std::vector<int64_t> &normShape, int64_t norm,
                        std::vector<T> &tmp) {
  int64_t n = 1;
  for (int64_t d : pshape)
    n *= d;
  if (n == norm)
    return p;
  tmp = broadcastParam(p, pshape, normShape, norm);
  return tmp.data();
}

template <typename T>
void layerNormTyped(const T *x, const std::vector<int64_t> &shape, int64_t axis, double eps,
                    const T *scale, const std::vector<int64_t> &sshape, const T *bias,
                    const std::vector<int64_t> *bshape, T *y, T *mean, T *invStd) {
  std::vector<int64_t> normShape(shape.begin() + axis, shape.end());
  int64_t norm = 1, outer = 1;
  for (int64_t d : normShape)
    norm *= d;
  for (int64_t i = 0; i < axis; ++i)
    outer *= shape[size_t(i)];
  std::vector<T> sc, bi;
  LayerNormRows<T> rows{x,
                        layerNormParam(scale, sshape, normShape, norm, sc),
                        bias ? layerNormParam(bias, *bshape, normShape, norm, bi) : nullptr,
                        y,
                        mean,
                        invStd,
                        norm,
                        eps};
  auto forward = layerNormLoopsOf<T>().forward;
  parallelFor(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(norm, 1)),
              [&](int64_t s, int64_t e) { forward(rows, s, e); });
}

} // namespace

void runSoftmax(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  int64_t axis = c.attrs<AxisAttrs>().axis;
  bool log = c.ins.kernel() == "log_softmax";
  if (x.dtype == ds::plan::F64) {
    softmaxTyped(x.as<double>(), r.as<double>(), *x.shape, axis, log);
    return;
  }
  std::vector<float> tx, tr;
  const float *px = asF32(x, tx);
  float *pr = outF32(r, tr);
  softmaxTyped(px, pr, *x.shape, axis, log);
  storeF32(pr, r);
}

void runLayerNorm(KernelCall &c) {
  const Tensor &x = c.in[0], &y = c.out[0];
  const auto &attrs = c.attrs<LayerNormAttrs>();
  int64_t axis = attrs.axis;
  double eps = attrs.epsilon;
  bool hasBias = c.in.size() == 3;
  const std::vector<int64_t> *bshape = hasBias ? c.in[2].shape : nullptr;
  if (x.dtype == ds::plan::F64) {
    // mean / inv_std_dev may have another float type: stage them in f64.
    std::vector<double> m(c.out.size() > 1 ? size_t(c.out[1].numel) : 0),
        s(c.out.size() > 2 ? size_t(c.out[2].numel) : 0);
    layerNormTyped(x.as<double>(), *x.shape, axis, eps, c.in[1].as<double>(), *c.in[1].shape,
                   hasBias ? c.in[2].as<double>() : nullptr, bshape, y.as<double>(),
                   m.empty() ? nullptr : m.data(), s.empty() ? nullptr : s.data());
    for (size_t k = 1; k < c.out.size(); ++k) {
      const auto &src = k == 1 ? m : s;
      const Tensor &o = c.out[k];
      for (size_t i = 0; i < src.size(); ++i) {
        switch (o.dtype) {
        case ds::plan::F64: o.as<double>()[i] = src[i]; break;
        case ds::plan::F32: o.as<float>()[i] = float(src[i]); break;
        case ds::plan::F16: o.as<uint16_t>()[i] = floatToHalf(float(src[i])); break;
        default: o.as<uint16_t>()[i] = floatToBf16(float(src[i])); break;
        }
      }
    }
    return;
  }
  std::vector<float> tx, ts, tb, ty, tm, tv;
  const float *px = asF32(x, tx), *ps = asF32(c.in[1], ts);
  const float *pb = hasBias ? asF32(c.in[2], tb) : nullptr;
  float *py = outF32(y, ty);
  float *pm = nullptr, *pv = nullptr;
  std::vector<float> m64, v64;
  auto statOut = [&](size_t k, std::vector<float> &tmp) -> float * {
    if (c.out.size() <= k)
      return nullptr;
    if (c.out[k].dtype == ds::plan::F64) {
      tmp.resize(size_t(c.out[k].numel));
      return tmp.data();
    }
    return outF32(c.out[k], tmp);
  };
  pm = statOut(1, tm);
  pv = statOut(2, tv);
  layerNormTyped(px, *x.shape, axis, eps, ps, *c.in[1].shape, pb, bshape, py, pm, pv);
  storeF32(py, y);
  for (size_t k = 1; k < c.out.size(); ++k) {
    float *src = k == 1 ? pm : pv;
    if (c.out[k].dtype == ds::plan::F64)
      for (int64_t i = 0; i < c.out[k].numel; ++i)
        c.out[k].as<double>()[i] = src[i];
    else
      storeF32(src, c.out[k]);
  }
}

// ================================================================ gradients (docs/ops.md "Backward ops")

namespace {

// ---------------------------------------------------------------- softmax family

template <typename T>
void softmaxGradTyped(const T *g, const T *y, T *dx, const std::vector<int64_t> &shape,
                      int64_t axis, bool log) {
  int64_t outer, dim, inner;
  splitAt(shape, axis, outer, dim, inner);
  if (dim == 0)
    return;
  const ExpLoop expLoop;
  parallelFor(outer * inner, std::max<int64_t>(1, kGrain / dim), [&](int64_t s, int64_t e) {
    for (int64_t oi = s; oi < e; ++oi) {
      int64_t base = (oi / inner) * dim * inner + oi % inner;
      const T *pg = g + base, *py = y + base;
      T *pd = dx + base;
      if (log) {
        T sum = T(rowSum(dim, [&](int64_t d) { return double(pg[d * inner]); }));
        if (inner == 1) { // a contiguous row: e^y in one vector call, in pd
          expLoop(py, pd, dim);
          for (int64_t d = 0; d < dim; ++d)
            pd[d] = pg[d] - pd[d] * sum;
        } else {
          for (int64_t d = 0; d < dim; ++d) {
            T ey;
            expLoop(&py[d * inner], &ey, 1);
            pd[d * inner] = pg[d * inner] - ey * sum;
          }
        }
      } else {
        T sum = T(rowSum(
            dim, [&](int64_t d) { return double(pg[d * inner]) * double(py[d * inner]); }));
        for (int64_t d = 0; d < dim; ++d)
          pd[d * inner] = py[d * inner] * (pg[d * inner] - sum);
      }
    }
  });
}


// ---------------------------------------------------------------- layer norm

/// dx, dscale, dbias; each acc (null: none) added to its result as the add kernel adds.
template <typename T>
void layerNormGradTyped(const T *g, const T *x, const T *scale, const T *dxAcc,
                        const T *dscaleAcc, const T *dbiasAcc, T *dx, T *dscale, T *dbias,
                        const std::vector<int64_t> &shape, int64_t axis, double eps) {
  int64_t outer = 1, norm = 1;
  for (int64_t i = 0; i < axis; ++i)
    outer *= shape[size_t(i)];
  for (size_t i = size_t(axis); i < shape.size(); ++i)
    norm *= shape[i];
  std::vector<T> mean(static_cast<size_t>(outer)), inv(static_cast<size_t>(outer));
  LayerNormGradRows<T> rows{g,      x,      scale,       dxAcc,      dscaleAcc, dbiasAcc, dx,
                            dscale, dbias,  mean.data(), inv.data(), outer,     norm,     eps};
  const LayerNormLoopsOf<T> &loops = layerNormLoopsOf<T>();
  parallelFor(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(norm, 1)),
              [&](int64_t s, int64_t e) { loops.gradRows(rows, s, e); });
  // Parameter gradients: each task sums a block of columns of the normalized dims, row
  // after row (each column's sum in row order, as one column at a time would; the row-wise
  // walk reads memory contiguously and vectorises across columns).
  constexpr int64_t kColumns = kLayerNormColumnBlock;
  int64_t blocks = (norm + kColumns - 1) / kColumns;
  parallelFor(blocks, std::max<int64_t>(1, kGrain / std::max<int64_t>(outer * kColumns, 1)),
              [&](int64_t s, int64_t e) { loops.gradColumns(rows, s, e); });
}


} // namespace

void runSoftmaxGrad(KernelCall &c) {
  int64_t axis = c.attrs<AxisAttrs>().axis;
  bool log = c.ins.kernel() == "log_softmax_grad";
  const auto &shape = *c.in[0].shape;
  floatCall(c, [&](auto &in, auto &out) {
    softmaxGradTyped(in[0], in[1], out[0], shape, axis, log);
  });
}


void runLayerNormGrad(KernelCall &c) {
  const auto &attrs = c.attrs<LayerNormAttrs>();
  const auto &shape = *c.in[1].shape;
  const size_t nIn = c.in.size(); // 3, 4 (dx_acc) or 6 (dx_acc, dscale_acc, dbias_acc)
  auto direct = [&](auto zero) { // every operand T: the accs are added in the loops
    using T = decltype(zero);
    auto in = [&](size_t k) -> const T * { return k < nIn ? c.in[k].as<T>() : nullptr; };
    layerNormGradTyped(in(0), in(1), in(2), in(3), in(4), in(5), c.out[0].as<T>(),
                       c.out[1].as<T>(), c.out[2].as<T>(), shape, attrs.axis, attrs.epsilon);
  };
  if (c.in[0].dtype == ds::plan::F32)
    return direct(0.0f);
  if (c.in[0].dtype == ds::plan::F64)
    return direct(0.0);
  // f16, bf16: computed in f32, each acc added as the add kernel adds 16-bit values.
  if (nIn == 4)
    return runAccumulating(c, 3, {0}, runLayerNormGrad);
  if (nIn == 6)
    return runAccumulating(c, 3, {0, 1, 2}, runLayerNormGrad);
  floatCall(c, [&](auto &in, auto &out) {
    using T = std::remove_const_t<std::remove_pointer_t<std::decay_t<decltype(in[0])>>>;
    layerNormGradTyped<T>(in[0], in[1], in[2], nullptr, nullptr, nullptr, out[0], out[1],
                          out[2], shape, attrs.axis, attrs.epsilon);
  });
}


} // namespace ds::rt::cpu
