// softmax, log_softmax, layer_norm, the two classification losses, and their gradients.
#include "CpuCommon.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ds::rt::cpu {
namespace {

/// The sum of f(i) for i in [0, n) in double, as 8 interleaved partial sums (element i into
/// partial i mod 8) added pairwise at the end: a fixed order on every instruction set, without
/// one chain of n dependent additions (which bounds a single running sum at one element per
/// addition latency).
template <typename F> double rowSum(int64_t n, F f) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k)
      acc[k] += f(i + k);
  for (int k = 0; i < n; ++i, ++k)
    acc[k] += f(i);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

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

// Shared by softmax_cross_entropy_loss (fromLogits) and nll_loss.
template <typename T, typename L>
void lossTyped(const T *scores, const std::vector<int64_t> &sshape, const L *labels,
               const T *weights, LossReduction reduction, bool hasIgnore, int64_t ignore,
               bool fromLogits, T *loss, T *logProbOut) {
  int64_t N = sshape[0], C = sshape[1], D = 1;
  for (size_t i = 2; i < sshape.size(); ++i)
    D *= sshape[i];
  auto ignored = [&](int64_t l) { return hasIgnore && l == ignore; };
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < D; ++j)
      if (int64_t l = int64_t(labels[n * D + j]); !ignored(l) && (l < 0 || l >= C))
        fail("label ", l, " at sample ", n, " is outside [0, ", C, ")");
  // The log-probabilities at the labels: from the scores, or from logits through log_softmax
  // (into logProbOut when asked for it, else only at the labels - log_softmax's arithmetic
  // for those elements, the same bits, without an N x C buffer).
  std::vector<T> lpAtLabel;
  if (fromLogits && logProbOut) {
    softmaxTyped(scores, logProbOut, sshape, 1, true);
  } else if (fromLogits) {
    lpAtLabel.resize(size_t(N * D));
    const ExpLoop expLoop;
    parallelFor(N * D, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)),
                [&](int64_t b, int64_t e) {
                  std::vector<T> row(D == 1 ? size_t(C) : 0);
                  for (int64_t k = b; k < e; ++k) {
                    int64_t n = k / D, j = k % D, l = int64_t(labels[k]);
                    if (ignored(l))
                      continue;
                    const T *px = scores + n * C * D + j;
                    T mx = rowMax<T>(C, [&](int64_t d) { return px[d * D]; });
                    if (std::isinf(mx) && mx < 0)
                      mx = 0;
                    T sum;
                    if (D == 1) {
                      for (int64_t d = 0; d < C; ++d)
                        row[size_t(d)] = px[d] - mx;
                      expLoop(row.data(), row.data(), C);
                      sum = T(rowSum(C, [&](int64_t d) { return double(row[size_t(d)]); }));
                    } else {
                      sum = T(rowSum(C, [&](int64_t d) {
                        T ev = px[d * D] - mx;
                        expLoop(&ev, &ev, 1);
                        return double(ev);
                      }));
                    }
                    T logSum = std::log(sum);
                    lpAtLabel[size_t(k)] = (px[l * D] - mx) - logSum;
                  }
                });
  }
  auto lpAt = [&](int64_t n, int64_t j, int64_t l) {
    if (!lpAtLabel.empty())
      return lpAtLabel[size_t(n * D + j)];
    return (fromLogits ? logProbOut : scores)[(n * C + l) * D + j];
  };
  double total = 0, wsum = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < D; ++j) {
      int64_t l = int64_t(labels[n * D + j]);
      T li = 0;
      double w = 0;
      if (!ignored(l)) {
        w = weights ? double(weights[l]) : 1.0;
        li = T(-w * double(lpAt(n, j, l)));
      }
      if (reduction == LossReduction::None)
        loss[n * D + j] = li;
      total += double(li);
      wsum += w;
    }
  if (reduction == LossReduction::Sum)
    loss[0] = T(total);
  else if (reduction == LossReduction::Mean)
    loss[0] = T(total / wsum);
}

template <typename T> void lossDispatch(KernelCall &c, const T *s, const T *w, T *loss, T *lp) {
  const Tensor &lab = c.in[1];
  const auto &attrs = c.attrs<LossAttrs>();
  LossReduction red = attrs.reduction;
  bool hasIgnore = attrs.ignore_index.has_value();
  int64_t ignore = attrs.ignore_index.value_or(0);
  bool logits = c.ins.kernel() == "softmax_cross_entropy_loss";
  if (lab.dtype == ds::plan::I64)
    lossTyped(s, *c.in[0].shape, lab.as<int64_t>(), w, red, hasIgnore, ignore, logits, loss, lp);
  else
    lossTyped(s, *c.in[0].shape, lab.as<int32_t>(), w, red, hasIgnore, ignore, logits, loss, lp);
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

void runLoss(KernelCall &c) {
  const Tensor &s = c.in[0];
  bool hasW = c.in.size() == 3;
  bool hasLp = c.out.size() == 2;
  if (s.dtype == ds::plan::F64) {
    lossDispatch(c, s.as<double>(), hasW ? c.in[2].as<double>() : nullptr, c.out[0].as<double>(),
                 hasLp ? c.out[1].as<double>() : nullptr);
    return;
  }
  std::vector<float> ts, tw, tl, tlp;
  const float *ps = asF32(s, ts);
  const float *pw = hasW ? asF32(c.in[2], tw) : nullptr;
  float *pl = outF32(c.out[0], tl);
  float *plp = hasLp ? outF32(c.out[1], tlp) : nullptr;
  lossDispatch(c, ps, pw, pl, plp);
  storeF32(pl, c.out[0]);
  if (hasLp)
    storeF32(plp, c.out[1]);
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
  const ExpLoop expLoop;
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
                  T mx = rowMax<T>(C, [&](int64_t ci) { return ps[ci * D]; });
                  if (std::isinf(mx) && mx < 0)
                    mx = 0;
                  for (int64_t ci = 0; ci < C; ++ci) // the exponentials, in pd
                    pd[ci * D] = ps[ci * D] - mx;
                  if (D == 1) { // a contiguous row: one vector call
                    expLoop(pd, pd, C);
                  } else {
                    for (int64_t ci = 0; ci < C; ++ci)
                      expLoop(&pd[ci * D], &pd[ci * D], 1);
                  }
                  double sum = rowSum(C, [&](int64_t ci) { return double(pd[ci * D]); });
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
