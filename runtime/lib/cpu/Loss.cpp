// The two classification losses (softmax_cross_entropy_loss, nll_loss), their gradients,
// and the cross-entropy loss with its gradient in one pass.
#include "Softmax.h"

namespace ds::rt::cpu {
namespace {

/// The loss from the log-probabilities at the labels, lossTyped's arithmetic: per position
/// li = T(-w lp) (0 when ignored), then 'sum' / 'mean' over positions in order in f64.
template <typename T, typename Label, typename Ignored, typename LpAt>
void reduceLoss(int64_t N, int64_t D, LossReduction reduction, Label labelAt, Ignored ignored,
                const T *weights, LpAt lpAt, T *loss) {
  double total = 0, wsum = 0;
  for (int64_t k = 0; k < N * D; ++k) {
    int64_t l = labelAt(k);
    T li = 0;
    double w = 0;
    if (!ignored(l)) {
      w = weights ? double(weights[l]) : 1.0;
      li = T(-w * double(lpAt(k)));
    }
    if (reduction == LossReduction::None)
      loss[k] = li;
    total += double(li);
    wsum += w;
  }
  if (reduction == LossReduction::Sum)
    loss[0] = T(total);
  else if (reduction == LossReduction::Mean)
    loss[0] = T(total / wsum);
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
  reduceLoss<T>(
      N, D, reduction, [&](int64_t k) { return int64_t(labels[k]); }, ignored, weights,
      [&](int64_t k) { return lpAt(k / D, k % D, int64_t(labels[k])); }, loss);
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

namespace {

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

/// softmax_cross_entropy_loss and its gradient from one pass over each row of scores: one
/// maximum, one set of exponentials (kept in ds) and one sum serve the log-probability at
/// the label (lossTyped's arithmetic) and the gradient (softmaxCrossEntropyGradTyped's), so
/// loss and ds are the two kernels' bits. ds may be the scores' bytes (in place): a row's
/// scores are read before any of its gradient is written, and rows are disjoint.
template <typename T>
void lossWithGradTyped(KernelCall &c, const T *g, const T *scores, const T *weights, T *loss,
                       T *ds) {
  LossGradSetup s = lossSetup(c, weights);
  const Tensor &lab = c.in[2];
  int64_t C = s.C, D = s.D;
  auto ignored = [&](int64_t l) { return s.hasIgnore && l == s.ignore; };
  std::vector<T> lpAtLabel(size_t(s.N * D));
  const ExpLoop expLoop;
  parallelFor(s.N * D, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)),
              [&](int64_t b, int64_t e) {
                for (int64_t k = b; k < e; ++k) {
                  int64_t n = k / D, j = k % D;
                  int64_t l = indexAt(lab, k);
                  const T *ps = scores + n * C * D + j;
                  T *pd = ds + n * C * D + j;
                  auto zeroRow = [&] {
                    for (int64_t ci = 0; ci < C; ++ci)
                      pd[ci * D] = T(0);
                  };
                  if (ignored(l)) {
                    zeroRow();
                    continue;
                  }
                  T mx = rowMax<T>(C, [&](int64_t ci) { return ps[ci * D]; });
                  if (std::isinf(mx) && mx < 0)
                    mx = 0;
                  const T atLabel = ps[l * D]; // before pd, which may be ps, is written
                  for (int64_t ci = 0; ci < C; ++ci) // the exponentials, in pd
                    pd[ci * D] = ps[ci * D] - mx;
                  if (D == 1) {
                    expLoop(pd, pd, C);
                  } else {
                    for (int64_t ci = 0; ci < C; ++ci)
                      expLoop(&pd[ci * D], &pd[ci * D], 1);
                  }
                  double sum = rowSum(C, [&](int64_t ci) { return double(pd[ci * D]); });
                  lpAtLabel[size_t(k)] = (atLabel - mx) - std::log(T(sum));
                  double f = lossFactor(s, g, weights, l, k);
                  if (f == 0) {
                    zeroRow();
                    continue;
                  }
                  T inv = T(1.0 / sum), tf = T(f);
                  for (int64_t ci = 0; ci < C; ++ci)
                    pd[ci * D] = (pd[ci * D] * inv - (ci == l ? T(1) : T(0))) * tf;
                }
              });
  reduceLoss<T>(s.N, D, s.reduction, [&](int64_t k) { return indexAt(lab, k); }, ignored,
                weights, [&](int64_t k) { return lpAtLabel[size_t(k)]; }, loss);
}

} // namespace

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

void runLossWithGrad(KernelCall &c) {
  bool hasW = c.in.size() == 4;
  floatCall(c, [&](auto &in, auto &out) {
    lossWithGradTyped(c, in[0], in[1], hasW ? in[3] : nullptr, out[0], out[1]);
  });
}

} // namespace ds::rt::cpu
