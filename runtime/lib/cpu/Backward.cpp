// Backward ops (docs/ops.md "Backward ops"): softmax_grad, log_softmax_grad, gelu_grad,
// layer_norm_grad, gather_grad, slice_grad, softmax_cross_entropy_loss_grad, nll_loss_grad.
// f64 computes in f64; f32 in f32 with f64 accumulation of sums; f16/bf16 are staged in f32.
#include "CpuCommon.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace ds::rt::cpu {
namespace {

/// Calls body(in, out) with T = double for f64 kernels and T = float otherwise; float
/// operands are handed over as T pointers (f16/bf16 converted), integer operands as nullptr
/// (kernels read them from c.in). Outputs are written back after the body.
template <typename Body> void floatCall(KernelCall &c, Body body) {
  if (c.out[0].dtype == ds::plan::F64) {
    std::vector<const double *> in;
    std::vector<double *> out;
    for (const Tensor &t : c.in)
      in.push_back(isFloat(t.dtype) ? t.as<double>() : nullptr);
    for (const Tensor &t : c.out)
      out.push_back(t.as<double>());
    body(in, out);
    return;
  }
  std::vector<std::vector<float>> tin(c.in.size()), tout(c.out.size());
  std::vector<const float *> in;
  std::vector<float *> out;
  for (size_t i = 0; i < c.in.size(); ++i)
    in.push_back(isFloat(c.in[i].dtype) ? asF32(c.in[i], tin[i]) : nullptr);
  for (size_t i = 0; i < c.out.size(); ++i)
    out.push_back(outF32(c.out[i], tout[i]));
  body(in, out);
  for (size_t i = 0; i < c.out.size(); ++i)
    storeF32(out[i], c.out[i]);
}

int64_t indexAt(const Tensor &t, int64_t i) {
  return t.dtype == ds::plan::I64 ? t.as<int64_t>()[i] : int64_t(t.as<int32_t>()[i]);
}

// ---------------------------------------------------------------- softmax family

template <typename T>
void softmaxGradTyped(const T *g, const T *y, T *dx, const std::vector<int64_t> &shape,
                      int64_t axis, bool log) {
  int64_t outer, dim, inner;
  splitAt(shape, axis, outer, dim, inner);
  if (dim == 0)
    return;
  parallelFor(outer * inner, std::max<int64_t>(1, kGrain / dim), [&](int64_t s, int64_t e) {
    for (int64_t oi = s; oi < e; ++oi) {
      int64_t base = (oi / inner) * dim * inner + oi % inner;
      const T *pg = g + base, *py = y + base;
      T *pd = dx + base;
      double acc = 0;
      if (log) {
        for (int64_t d = 0; d < dim; ++d)
          acc += double(pg[d * inner]);
        T sum = T(acc);
        for (int64_t d = 0; d < dim; ++d)
          pd[d * inner] = pg[d * inner] - std::exp(py[d * inner]) * sum;
      } else {
        for (int64_t d = 0; d < dim; ++d)
          acc += double(pg[d * inner]) * double(py[d * inner]);
        T sum = T(acc);
        for (int64_t d = 0; d < dim; ++d)
          pd[d * inner] = py[d * inner] * (pg[d * inner] - sum);
      }
    }
  });
}

// ---------------------------------------------------------------- gelu

template <typename T> T geluDeriv(T x, bool tanhForm) {
  if (tanhForm) {
    const T k = T(0.7978845608028654); // sqrt(2/pi)
    const T a = T(0.044715);
    T x2 = x * x;
    T t = std::tanh(k * (x + a * x2 * x));
    return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * k * (T(1) + T(3) * a * x2);
  }
  const T invSqrt2Pi = T(0.3989422804014327); // 1/sqrt(2*pi)
  T cdf = T(0.5) * (T(1) + std::erf(x * T(M_SQRT1_2)));
  return cdf + x * invSqrt2Pi * std::exp(T(-0.5) * x * x);
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
      // Two-pass mean and (biased) variance, accumulated in f64.
      double sum = 0;
      for (int64_t i = 0; i < norm; ++i)
        sum += double(px[i]);
      T mu = T(norm ? sum / double(norm) : 0);
      double sq = 0;
      for (int64_t i = 0; i < norm; ++i) {
        double d = double(px[i] - mu);
        sq += d * d;
      }
      T is = T(1.0 / std::sqrt((norm ? sq / double(norm) : 0) + eps));
      mean[size_t(o)] = mu;
      inv[size_t(o)] = is;
      double sg = 0, sgx = 0; // sums of g*scale and g*scale*xhat
      for (int64_t i = 0; i < norm; ++i) {
        T gh = pg[i] * scale[i];
        T xh = (px[i] - mu) * is;
        sg += double(gh);
        sgx += double(gh) * double(xh);
      }
      T mg = T(norm ? sg / double(norm) : 0), mgx = T(norm ? sgx / double(norm) : 0);
      for (int64_t i = 0; i < norm; ++i) {
        T xh = (px[i] - mu) * is;
        pd[i] = is * (pg[i] * scale[i] - mg - xh * mgx);
      }
    }
  });
  // Parameter gradients: one column of the normalized dims per task.
  int64_t colGrain = std::max<int64_t>(1, kGrain / std::max<int64_t>(outer, 1));
  parallelFor(norm, colGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      double ds = 0, db = 0;
      for (int64_t o = 0; o < outer; ++o) {
        T gv = g[o * norm + i];
        T xh = (x[o * norm + i] - mean[size_t(o)]) * inv[size_t(o)];
        ds += double(gv) * double(xh);
        db += double(gv);
      }
      dscale[i] = T(ds);
      dbias[i] = T(db);
    }
  });
}

// ---------------------------------------------------------------- losses

/// The per-position factor s·w of the loss gradient (0 for ignored positions), and the
/// validated label. Shared by both loss gradients.
struct LossGradSetup {
  int64_t N, C, D;
  LossReduction reduction;
  bool hasIgnore;
  int64_t ignore;
  double wsum = 0; // mean only
};

template <typename T>
LossGradSetup lossSetup(KernelCall &c, const T *weights) {
  LossGradSetup s;
  const auto &shape = *c.in[1].shape;
  s.N = shape[0];
  s.C = shape[1];
  s.D = 1;
  for (size_t i = 2; i < shape.size(); ++i)
    s.D *= shape[i];
  const auto &attrs = c.attrs<LossAttrs>();
  s.reduction = attrs.reduction;
  s.hasIgnore = attrs.ignore_index.has_value();
  s.ignore = attrs.ignore_index.value_or(0);
  const Tensor &lab = c.in[2];
  for (int64_t k = 0; k < s.N * s.D; ++k) {
    int64_t l = indexAt(lab, k);
    if (s.hasIgnore && l == s.ignore)
      continue;
    if (l < 0 || l >= s.C)
      fail("label ", l, " at sample ", k / s.D, " is outside [0, ", s.C, ")");
    s.wsum += weights ? double(weights[l]) : 1.0;
  }
  return s;
}

/// Gradient factor for position k (n·D + j): w[label]·s, or 0 when ignored.
template <typename T>
double lossFactor(const LossGradSetup &s, const T *g, const T *weights, int64_t label,
                  int64_t k) {
  if (s.hasIgnore && label == s.ignore)
    return 0;
  double w = weights ? double(weights[label]) : 1.0;
  double gs = s.reduction == LossReduction::None ? double(g[k]) : double(g[0]);
  if (s.reduction == LossReduction::Mean)
    gs /= s.wsum;
  return w * gs;
}

template <typename T>
void softmaxCrossEntropyGradTyped(KernelCall &c, const T *g, const T *scores, const T *weights,
                                  T *ds) {
  LossGradSetup s = lossSetup(c, weights);
  const Tensor &lab = c.in[2];
  int64_t C = s.C, D = s.D;
  parallelFor(s.N * D, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)),
              [&](int64_t b, int64_t e) {
                for (int64_t k = b; k < e; ++k) {
                  int64_t n = k / D, j = k % D;
                  int64_t l = indexAt(lab, k);
                  const T *ps = scores + n * C * D + j;
                  T *pd = ds + n * C * D + j;
                  double f = lossFactor(s, g, weights, l, k);
                  if (f == 0) {
                    for (int64_t ci = 0; ci < C; ++ci)
                      pd[ci * D] = T(0);
                    continue;
                  }
                  T mx = -std::numeric_limits<T>::infinity();
                  for (int64_t ci = 0; ci < C; ++ci)
                    mx = std::max(mx, ps[ci * D]);
                  if (std::isinf(mx) && mx < 0)
                    mx = 0;
                  double sum = 0;
                  for (int64_t ci = 0; ci < C; ++ci) {
                    T ev = std::exp(ps[ci * D] - mx);
                    pd[ci * D] = ev;
                    sum += double(ev);
                  }
                  T inv = T(1.0 / sum), tf = T(f);
                  for (int64_t ci = 0; ci < C; ++ci)
                    pd[ci * D] = (pd[ci * D] * inv - (ci == l ? T(1) : T(0))) * tf;
                }
              });
}

template <typename T>
void nllGradTyped(KernelCall &c, const T *g, const T *weights, T *dlp) {
  LossGradSetup s = lossSetup(c, weights);
  const Tensor &lab = c.in[2];
  int64_t C = s.C, D = s.D;
  std::fill(dlp, dlp + s.N * C * D, T(0));
  for (int64_t k = 0; k < s.N * D; ++k) {
    int64_t n = k / D, j = k % D;
    int64_t l = indexAt(lab, k);
    double f = lossFactor(s, g, weights, l, k);
    if (f != 0)
      dlp[(n * C + l) * D + j] = T(-f);
  }
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

void runGeluGrad(KernelCall &c) {
  bool tanhForm = c.attrs<GeluAttrs>().approximate == GeluApproximation::Tanh;
  int64_t n = c.in[0].numel;
  floatCall(c, [&](auto &in, auto &out) {
    auto *g = in[0];
    auto *x = in[1];
    auto *dx = out[0];
    parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        dx[i] = g[i] * geluDeriv(x[i], tanhForm);
    });
  });
}

void runLayerNormGrad(KernelCall &c) {
  const auto &attrs = c.attrs<LayerNormAttrs>();
  int64_t axis = attrs.axis;
  double eps = attrs.epsilon;
  const auto &shape = *c.in[1].shape;
  floatCall(c, [&](auto &in, auto &out) {
    layerNormGradTyped(in[0], in[1], in[2], out[0], out[1], out[2], shape, axis, eps);
  });
}

void runGatherGrad(KernelCall &c) {
  const Tensor &idx = c.in[1], &r = c.out[0];
  int64_t axis = c.attrs<AxisAttrs>().axis;
  int64_t outer, dim, inner;
  splitAt(*r.shape, axis, outer, dim, inner);
  int64_t n = idx.numel;
  std::vector<int64_t> picked(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    int64_t v = indexAt(idx, j);
    if (v < -dim || v >= dim)
      fail("index ", v, " at position ", j, " is outside [", -dim, ", ", dim, ")");
    picked[size_t(j)] = v < 0 ? v + dim : v;
  }
  floatCall(c, [&](auto &in, auto &out) {
    auto *g = in[0];
    auto *dd = out[0];
    std::fill(dd, dd + r.numel, 0);
    // Each outer slice writes only its own rows: safe to split over outer.
    parallelFor(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(n * inner, 1)),
                [&](int64_t b, int64_t e) {
                  for (int64_t o = b; o < e; ++o)
                    for (int64_t j = 0; j < n; ++j) {
                      auto *dst = dd + (o * dim + picked[size_t(j)]) * inner;
                      auto *src = g + (o * n + j) * inner;
                      for (int64_t i = 0; i < inner; ++i)
                        dst[i] += src[i];
                    }
                });
  });
}

void runSliceGrad(KernelCall &c) {
  const Tensor &g = c.in[0], &r = c.out[0];
  const auto &attrs = c.attrs<SliceAttrs>();
  const auto &starts = attrs.starts;
  auto steps = attrs.steps.value_or(std::vector<int64_t>(r.shape->size(), 1));
  size_t es = dtypeSize(r.dtype);
  std::memset(r.data, 0, size_t(r.numel) * es);
  if (g.numel == 0)
    return;
  const auto &gs = *g.shape;
  std::vector<int64_t> rstr = contiguousStrides(*r.shape);
  size_t rank = gs.size();
  if (rank == 0) {
    std::memcpy(r.data, g.data, es);
    return;
  }
  int64_t inner = gs.back(), rows = g.numel / inner;
  int64_t innerStep = steps.back() * rstr.back();
  const char *src = static_cast<const char *>(g.data);
  char *dst = static_cast<char *>(r.data);
  parallelFor(rows, std::max<int64_t>(1, kGrain / inner), [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      int64_t rem = row, off = starts.back() * rstr.back();
      for (int64_t d = int64_t(rank) - 2; d >= 0; --d) {
        int64_t i = rem % gs[size_t(d)];
        rem /= gs[size_t(d)];
        off += (starts[size_t(d)] + i * steps[size_t(d)]) * rstr[size_t(d)];
      }
      const char *s = src + size_t(row * inner) * es;
      for (int64_t i = 0; i < inner; ++i)
        std::memcpy(dst + size_t(off + i * innerStep) * es, s + size_t(i) * es, es);
    }
  });
}

void runLossGrad(KernelCall &c) {
  bool hasW = c.in.size() == 4;
  bool sce = c.ins.kernel() == "softmax_cross_entropy_loss_grad";
  floatCall(c, [&](auto &in, auto &out) {
    auto *w = hasW ? in[3] : nullptr;
    if (sce)
      softmaxCrossEntropyGradTyped(c, in[0], in[1], w, out[0]);
    else
      nllGradTyped(c, in[0], w, out[0]);
  });
}

} // namespace ds::rt::cpu
