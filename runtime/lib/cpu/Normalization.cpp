// softmax, log_softmax, layer_norm and their gradients (the losses: Loss.cpp).
#include "Softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ds::rt::cpu {
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
  std::vector<T> sc = broadcastParam(scale, sshape, normShape, norm);
  std::vector<T> bi = bias ? broadcastParam(bias, *bshape, normShape, norm) : std::vector<T>();
  parallelFor(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(norm, 1)),
              [&](int64_t s, int64_t e) {
                for (int64_t o = s; o < e; ++o) {
                  const T *px = x + o * norm;
                  T *py = y + o * norm;
                  double sum = rowSum(norm, [&](int64_t i) { return double(px[i]); });
                  T mu = T(norm ? sum / double(norm) : 0);
                  double sq = rowSum(norm, [&](int64_t i) {
                    double d = double(px[i] - mu);
                    return d * d;
                  });
                  T inv = T(1.0 / std::sqrt((norm ? sq / double(norm) : 0) + eps));
                  for (int64_t i = 0; i < norm; ++i)
                    py[i] = (px[i] - mu) * inv * sc[size_t(i)] + (bias ? bi[size_t(i)] : T(0));
                  if (mean)
                    mean[o] = mu;
                  if (invStd)
                    invStd[o] = inv;
                }
              });
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

template <typename T>
void layerNormGradTyped(const T *g, const T *x, const T *scale, T *dx, T *dscale, T *dbias,
                        const std::vector<int64_t> &shape, int64_t axis, double eps) {
  int64_t outer = 1, norm = 1;
  for (int64_t i = 0; i < axis; ++i)
    outer *= shape[size_t(i)];
  for (size_t i = size_t(axis); i < shape.size(); ++i)
    norm *= shape[i];
  std::vector<T> mean(size_t(outer), T(0)), inv(size_t(outer), T(0));
  int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(norm, 1));
  parallelFor(outer, grain, [&](int64_t s, int64_t e) {
    for (int64_t o = s; o < e; ++o) {
      const T *px = x + o * norm, *pg = g + o * norm;
      T *pd = dx + o * norm;
      // Two-pass mean and (biased) variance, accumulated in f64 (as layer_norm does).
      double sum = rowSum(norm, [&](int64_t i) { return double(px[i]); });
      T mu = T(norm ? sum / double(norm) : 0);
      double sq = rowSum(norm, [&](int64_t i) {
        double d = double(px[i] - mu);
        return d * d;
      });
      T is = T(1.0 / std::sqrt((norm ? sq / double(norm) : 0) + eps));
      mean[size_t(o)] = mu;
      inv[size_t(o)] = is;
      // Sums of g*scale and g*scale*xhat.
      double sg = rowSum(norm, [&](int64_t i) { return double(T(pg[i] * scale[i])); });
      double sgx = rowSum(norm, [&](int64_t i) {
        T gh = pg[i] * scale[i];
        T xh = (px[i] - mu) * is;
        return double(gh) * double(xh);
      });
      T mg = T(norm ? sg / double(norm) : 0), mgx = T(norm ? sgx / double(norm) : 0);
      for (int64_t i = 0; i < norm; ++i) {
        T xh = (px[i] - mu) * is;
        pd[i] = is * (pg[i] * scale[i] - mg - xh * mgx);
      }
    }
  });
  // Parameter gradients: each task sums a block of columns of the normalized dims, row
  // after row (each column's sum in row order, as one column at a time would; the row-wise
  // walk reads memory contiguously and vectorises across columns).
  constexpr int64_t kColumns = 64;
  int64_t blocks = (norm + kColumns - 1) / kColumns;
  parallelFor(blocks, std::max<int64_t>(1, kGrain / std::max<int64_t>(outer * kColumns, 1)),
              [&](int64_t bs, int64_t be) {
                double ds[kColumns], db[kColumns];
                for (int64_t blk = bs; blk < be; ++blk) {
                  int64_t c0 = blk * kColumns, n = std::min(kColumns, norm - c0);
                  std::fill(ds, ds + n, 0.0);
                  std::fill(db, db + n, 0.0);
                  for (int64_t o = 0; o < outer; ++o) {
                    const T *pg = g + o * norm + c0, *px = x + o * norm + c0;
                    T mu = mean[size_t(o)], is = inv[size_t(o)];
                    for (int64_t i = 0; i < n; ++i) {
                      T xh = (px[i] - mu) * is;
                      ds[i] += double(pg[i]) * double(xh);
                      db[i] += double(pg[i]);
                    }
                  }
                  for (int64_t i = 0; i < n; ++i) {
                    dscale[c0 + i] = T(ds[i]);
                    dbias[c0 + i] = T(db[i]);
                  }
                }
              });
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
  if (c.in.size() == 4) // dx_acc
    return runAccumulating(c, 3, {0}, runLayerNormGrad);
  if (c.in.size() == 6) // dx_acc, dscale_acc, dbias_acc
    return runAccumulating(c, 3, {0, 1, 2}, runLayerNormGrad);
  const auto &attrs = c.attrs<LayerNormAttrs>();
  int64_t axis = attrs.axis;
  double eps = attrs.epsilon;
  const auto &shape = *c.in[1].shape;
  floatCall(c, [&](auto &in, auto &out) {
    layerNormGradTyped(in[0], in[1], in[2], out[0], out[1], out[2], shape, axis, eps);
  });
}


} // namespace ds::rt::cpu
