// CUDA kernels: the two classification losses (softmax_cross_entropy_loss, nll_loss), their
// gradients, and the cross-entropy loss with its gradient in one pass, following
// lib/cpu/Loss.cpp as Softmax.cuh says.
//
// Differences from the CPU, which throws on a label outside [0, C) that is not ignore_index: a
// kernel cannot throw, so such a label yields NaN instead (its loss term and weight are NaN, so
// a 'sum'/'mean' loss is NaN; its gradient column is NaN, and with 'mean' the whole gradient is
// NaN since the weight sum is). Nothing is read out of bounds.
#include "Softmax.cuh"

#include <cstdint>
#include <vector>

namespace ds::rt::cuda {

namespace {

// ---------------------------------------------------------------- losses

enum Reduction : int { kRedNone = 0, kRedSum = 1, kRedMean = 2 };

struct LossParams {
  int reduction = kRedMean;
  int hasIgnore = 0;
  int64_t ignore = 0;
  int64_t N = 0, C = 0, D = 1;
};
LossParams lossParams(KernelCall &c, const std::vector<int64_t> &scoresShape) {
  LossParams a;
  const auto &attrs = c.attrs<LossAttrs>();
  a.reduction = attrs.reduction == LossReduction::None  ? kRedNone
                : attrs.reduction == LossReduction::Sum ? kRedSum
                                                        : kRedMean;
  a.hasIgnore = attrs.ignore_index ? 1 : 0;
  a.ignore = attrs.ignore_index.value_or(0);
  a.N = scoresShape[0];
  a.C = scoresShape[1];
  for (size_t i = 2; i < scoresShape.size(); ++i)
    a.D *= scoresShape[i];
  return a;
}

/// Label status: 0 = valid, 1 = ignored, 2 = invalid (outside [0, C)).
__device__ __forceinline__ int labelStatus(int64_t l, int hasIgnore, int64_t ignore, int64_t C) {
  if (hasIgnore && l == ignore)
    return 1;
  return (l < 0 || l >= C) ? 2 : 0;
}

/// Records the loss term of position k from its log-probability lp (only read when valid):
/// li = A(-w * lp), w = weights[l] (1 without weights); ignored: li = 0, w = 0; invalid: NaN.
/// 'none' stores li into loss[k]; otherwise vals[k] = li and wts[k] = w (f64).
template <typename S, typename U>
__device__ void putLossTerm(int64_t k, int status, int64_t l, typename Acc<U>::type lp,
                            const S *weights, U *lossNone, double *vals, double *wts) {
  using A = typename Acc<U>::type;
  A li = A(0);
  double w = 0;
  if (status == 2) {
    li = A(qnan());
    w = qnan();
  } else if (status == 0) {
    w = weights ? double(ld(weights, l)) : 1.0;
    li = fromD<A>(mulR(-w, double(lp)));
  }
  if (lossNone) {
    st(lossNone, k, li);
  } else {
    vals[k] = double(li);
    wts[k] = w;
  }
}

/// softmax_cross_entropy_loss with D == 1: one block per sample n (C scores).
template <typename S, typename U, typename L>
__global__ void ceLossRowKernel(const S *__restrict__ s, const L *__restrict__ labels,
                                const S *__restrict__ weights, LossParams a, U *lossNone,
                                double *vals, double *wts) {
  using A = typename Acc<U>::type;
  const int64_t C = a.C;
  for (int64_t n = blockIdx.x; n < a.N; n += gridDim.x) {
    const S *ps = s + n * C;
    A mx = negInf<A>();
    for (int64_t d = threadIdx.x; d < C; d += blockDim.x)
      mx = MaxOp()(mx, ld(ps, d));
    mx = blockReduce(mx, MaxOp(), negInf<A>());
    if (mx == negInf<A>())
      mx = A(0);
    A sum = A(0);
    for (int64_t d = threadIdx.x; d < C; d += blockDim.x)
      sum += expA(subR(ld(ps, d), mx));
    sum = blockReduce(sum, SumOp(), A(0));
    if (threadIdx.x == 0) {
      int64_t l = int64_t(labels[n]);
      int status = labelStatus(l, a.hasIgnore, a.ignore, C);
      A lp = status == 0 ? subR(subR(ld(ps, l), mx), logA(sum)) : A(0);
      putLossTerm<S, U>(n, status, l, lp, weights, lossNone, vals, wts);
    }
  }
}

/// softmax_cross_entropy_loss with D > 1: one thread per position (n, j), sequential over C.
template <typename S, typename U, typename L>
__global__ void ceLossColKernel(const S *__restrict__ s, const L *__restrict__ labels,
                                const S *__restrict__ weights, LossParams a, U *lossNone,
                                double *vals, double *wts) {
  using A = typename Acc<U>::type;
  const int64_t C = a.C, D = a.D;
  DS_GRID_STRIDE(k, a.N * D) {
    int64_t n = k / D, j = k % D;
    const S *ps = s + n * C * D + j;
    int64_t l = int64_t(labels[k]);
    int status = labelStatus(l, a.hasIgnore, a.ignore, C);
    A lp = A(0);
    if (status == 0) {
      A mx = negInf<A>();
      for (int64_t ci = 0; ci < C; ++ci)
        mx = MaxOp()(mx, ld(ps, ci * D));
      if (mx == negInf<A>())
        mx = A(0);
      A sum = A(0);
      for (int64_t ci = 0; ci < C; ++ci)
        sum = addR(sum, expA(subR(ld(ps, ci * D), mx)));
      lp = subR(subR(ld(ps, l * D), mx), logA(sum));
    }
    putLossTerm<S, U>(k, status, l, lp, weights, lossNone, vals, wts);
  }
}

/// nll_loss: one thread per position; the scores are log-probabilities.
template <typename S, typename U, typename L>
__global__ void nllLossKernel(const S *__restrict__ lpIn, const L *__restrict__ labels,
                              const S *__restrict__ weights, LossParams a, U *lossNone,
                              double *vals, double *wts) {
  using A = typename Acc<U>::type;
  const int64_t C = a.C, D = a.D;
  DS_GRID_STRIDE(k, a.N * D) {
    int64_t n = k / D, j = k % D;
    int64_t l = int64_t(labels[k]);
    int status = labelStatus(l, a.hasIgnore, a.ignore, C);
    A lp = status == 0 ? ld(lpIn, (n * C + l) * D + j) : A(0);
    putLossTerm<S, U>(k, status, l, lp, weights, lossNone, vals, wts);
  }
}

/// 'sum' / 'mean': one block sums the K terms and weights in f64 and writes
/// loss = A(total) or A(total / wsum) (all ignored: 0/0 = NaN, as on the CPU).
template <typename T>
__global__ void lossFinalKernel(const double *__restrict__ vals, const double *__restrict__ wts,
                                int64_t K, int reduction, T *loss) {
  using A = typename Acc<T>::type;
  double total = 0, wsum = 0;
  for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
    total = addR(total, vals[k]);
    wsum = addR(wsum, wts[k]);
  }
  total = blockReduce(total, SumOp(), 0.0);
  wsum = blockReduce(wsum, SumOp(), 0.0);
  if (threadIdx.x == 0)
    st(loss, 0, fromD<A>(reduction == kRedMean ? total / wsum : total));
}

/// Scores (and class weights, and log_prob) of type S, the loss of type U: S itself, or f32
/// over 16-bit scores (mixed precision's loss, which reads the bf16/f16 logits directly).
template <typename S, typename U, typename L> void lossTyped(KernelCall &c, const LossParams &a) {
  bool logits = c.ins.kernel() == "softmax_cross_entropy_loss";
  const S *s = c.in[0].as<const S>();
  const L *labels = c.in[1].as<const L>();
  const S *w = c.in.size() == 3 ? c.in[2].as<const S>() : nullptr;
  U *loss = c.out[0].as<U>();
  if (logits && c.out.size() == 2)
    launchSoftmax<S>(c, s, c.out[1].as<S>(), a.N, a.C, a.D, true);
  int64_t K = a.N * a.D;
  U *lossNone = nullptr;
  double *vals = nullptr, *wts = nullptr;
  if (a.reduction == kRedNone) {
    if (K == 0)
      return;
    lossNone = loss;
  } else if (K > 0) {
    vals = static_cast<double *>(scratch(c, size_t(2 * K) * sizeof(double)));
    wts = vals + K;
  }
  if (K > 0) {
    if (!logits)
      nllLossKernel<S, U, L><<<gridFor(K), kThreads, 0, stream(c)>>>(s, labels, w, a,
                                                                     lossNone, vals, wts);
    else if (a.D == 1)
      ceLossRowKernel<S, U, L><<<rowGrid(a.N), rowThreads(a.C), 0, stream(c)>>>(
          s, labels, w, a, lossNone, vals, wts);
    else
      ceLossColKernel<S, U, L><<<gridFor(K), kThreads, 0, stream(c)>>>(s, labels, w, a,
                                                                       lossNone, vals, wts);
    DS_CUDA_LAUNCH();
  }
  if (a.reduction != kRedNone) {
    lossFinalKernel<U><<<1, 1024, 0, stream(c)>>>(vals, wts, K, a.reduction, loss);
    DS_CUDA_LAUNCH();
  }
}

/// Runs `Run::run<S, U, L>` for scores of type S and a loss (or loss gradient) of type U: U is
/// S, or f32 over 16-bit scores (KernelSignatures' lossScoresDtype).
template <typename Run, typename S, typename L> void lossWidening(KernelCall &c, bool widened) {
  if constexpr (sizeof(S) == 2) {
    if (widened)
      return Run::template run<S, float, L>(c);
  }
  Run::template run<S, S, L>(c);
}

/// Runs `Run` for the scores c.in[scores] (f16/bf16/f32/f64), their labels c.in[scores + 1]
/// (i64 or i32) and a loss or gradient of dtype `lossDtype` (the scores', or f32 over 16-bit
/// scores).
template <typename Run> void dispatchLoss(KernelCall &c, size_t scores, DType lossDtype) {
  bool i64 = c.in[scores + 1].dtype == ds::plan::I64;
  bool widened = lossDtype != c.in[scores].dtype;
  DS_DISPATCH_FLOAT(c.in[scores].dtype, T, {
    if (i64)
      lossWidening<Run, T, int64_t>(c, widened);
    else
      lossWidening<Run, T, int32_t>(c, widened);
  });
}

struct LossRun {
  template <typename S, typename U, typename L> static void run(KernelCall &c) {
    lossTyped<S, U, L>(c, lossParams(c, *c.in[0].shape));
  }
};

} // namespace

void runLoss(KernelCall &c) { dispatchLoss<LossRun>(c, 0, c.out[0].dtype); }

namespace {

// ---------------------------------------------------------------- loss gradients

/// Sum of the weights of the non-ignored positions (NaN when a label is invalid), in f64, by
/// one block, into *wsum.
template <typename T, typename L>
__global__ void lossWeightSumKernel(const L *__restrict__ labels, const T *__restrict__ weights,
                                    LossParams a, double *wsum) {
  double acc = 0;
  for (int64_t k = threadIdx.x; k < a.N * a.D; k += blockDim.x) {
    int64_t l = int64_t(labels[k]);
    int status = labelStatus(l, a.hasIgnore, a.ignore, a.C);
    if (status == 1)
      continue;
    acc = addR(acc, status == 2 ? qnan() : weights ? double(ld(weights, l)) : 1.0);
  }
  acc = blockReduce(acc, SumOp(), 0.0);
  if (threadIdx.x == 0)
    *wsum = acc;
}

/// The CPU's lossFactor: 0 when ignored, else w * gs with gs = g[k] ('none') or g[0], divided
/// by the weight sum for 'mean'. NaN for an invalid label.
template <typename S, typename U>
__device__ __forceinline__ double lossFactor(int status, int64_t l, int64_t k,
                                             const U *__restrict__ g,
                                             const S *__restrict__ weights, const LossParams &a,
                                             const double *wsum) {
  if (status == 1)
    return 0;
  if (status == 2)
    return qnan();
  double w = weights ? double(ld(weights, l)) : 1.0;
  double gs = a.reduction == kRedNone ? double(ld(g, k)) : double(ld(g, 0));
  if (a.reduction == kRedMean)
    gs = divR(gs, *wsum);
  return mulR(w, gs);
}

/// softmax_cross_entropy_loss_grad, D == 1: one block per sample.
template <typename S, typename U, typename L>
__global__ void ceGradRowKernel(const U *__restrict__ g, const S *__restrict__ s,
                                const L *__restrict__ labels, const S *__restrict__ weights,
                                LossParams a, const double *wsum, S *__restrict__ ds) {
  using A = typename Acc<U>::type;
  const int64_t C = a.C;
  for (int64_t n = blockIdx.x; n < a.N; n += gridDim.x) {
    const S *ps = s + n * C;
    S *pd = ds + n * C;
    int64_t l = int64_t(labels[n]);
    int status = labelStatus(l, a.hasIgnore, a.ignore, C);
    double f = lossFactor(status, l, n, g, weights, a, wsum); // same in every thread
    if (f == 0) {
      for (int64_t ci = threadIdx.x; ci < C; ci += blockDim.x)
        st(pd, ci, A(0));
      continue; // block-uniform
    }
    A mx = negInf<A>();
    for (int64_t ci = threadIdx.x; ci < C; ci += blockDim.x)
      mx = MaxOp()(mx, ld(ps, ci));
    mx = blockReduce(mx, MaxOp(), negInf<A>());
    if (mx == negInf<A>())
      mx = A(0);
    double sum = 0;
    for (int64_t ci = threadIdx.x; ci < C; ci += blockDim.x)
      sum = addR(sum, double(expA(subR(ld(ps, ci), mx))));
    sum = blockReduce(sum, SumOp(), 0.0);
    A inv = fromD<A>(divR(1.0, sum)), tf = fromD<A>(f);
    for (int64_t ci = threadIdx.x; ci < C; ci += blockDim.x) {
      A ev = expA(subR(ld(ps, ci), mx));
      st(pd, ci, mulR(subR(mulR(ev, inv), ci == l ? A(1) : A(0)), tf));
    }
  }
}

/// softmax_cross_entropy_loss_grad, D > 1: one thread per position, sequential over C.
template <typename S, typename U, typename L>
__global__ void ceGradColKernel(const U *__restrict__ g, const S *__restrict__ s,
                                const L *__restrict__ labels, const S *__restrict__ weights,
                                LossParams a, const double *wsum, S *__restrict__ ds) {
  using A = typename Acc<U>::type;
  const int64_t C = a.C, D = a.D;
  DS_GRID_STRIDE(k, a.N * D) {
    int64_t n = k / D, j = k % D;
    const S *ps = s + n * C * D + j;
    S *pd = ds + n * C * D + j;
    int64_t l = int64_t(labels[k]);
    int status = labelStatus(l, a.hasIgnore, a.ignore, C);
    double f = lossFactor(status, l, k, g, weights, a, wsum);
    if (f == 0) {
      for (int64_t ci = 0; ci < C; ++ci)
        st(pd, ci * D, A(0));
      continue;
    }
    A mx = negInf<A>();
    for (int64_t ci = 0; ci < C; ++ci)
      mx = MaxOp()(mx, ld(ps, ci * D));
    if (mx == negInf<A>())
      mx = A(0);
    double sum = 0;
    for (int64_t ci = 0; ci < C; ++ci)
      sum = addR(sum, double(expA(subR(ld(ps, ci * D), mx))));
    A inv = fromD<A>(divR(1.0, sum)), tf = fromD<A>(f);
    for (int64_t ci = 0; ci < C; ++ci) {
      A ev = expA(subR(ld(ps, ci * D), mx));
      st(pd, ci * D, mulR(subR(mulR(ev, inv), ci == l ? A(1) : A(0)), tf));
    }
  }
}

/// nll_loss_grad: one thread per element of dlp ([N, C, D]): -f at the label, 0 elsewhere
/// (a whole NaN column for an invalid label).
template <typename S, typename U, typename L>
__global__ void nllGradKernel(const U *__restrict__ g, const L *__restrict__ labels,
                              const S *__restrict__ weights, LossParams a, const double *wsum,
                              S *__restrict__ dlp) {
  using A = typename Acc<U>::type;
  const int64_t C = a.C, D = a.D;
  DS_GRID_STRIDE(e, a.N * C * D) {
    int64_t n = e / (C * D), rem = e % (C * D);
    int64_t ci = rem / D, j = rem % D;
    int64_t k = n * D + j;
    int64_t l = int64_t(labels[k]);
    int status = labelStatus(l, a.hasIgnore, a.ignore, C);
    A v = A(0);
    if (status == 2) {
      v = A(qnan());
    } else if (ci == l) {
      double f = lossFactor(status, l, k, g, weights, a, wsum);
      if (f != 0)
        v = fromD<A>(-f);
    }
    st(dlp, e, v);
  }
}

/// The gradient g of type U (the loss's), scores, weights and result of type S.
template <typename S, typename U, typename L>
void lossGradTyped(KernelCall &c, const LossParams &a) {
  bool sce = c.ins.kernel() == "softmax_cross_entropy_loss_grad";
  const U *g = c.in[0].as<const U>();
  const S *s = c.in[1].as<const S>();
  const L *labels = c.in[2].as<const L>();
  const S *w = c.in.size() == 4 ? c.in[3].as<const S>() : nullptr;
  S *ds = c.out[0].as<S>();
  int64_t K = a.N * a.D;
  double *wsum = nullptr;
  if (a.reduction == kRedMean) {
    wsum = static_cast<double *>(scratch(c, sizeof(double)));
    lossWeightSumKernel<S, L><<<1, 1024, 0, stream(c)>>>(labels, w, a, wsum);
    DS_CUDA_LAUNCH();
  }
  if (!sce)
    nllGradKernel<S, U, L>
        <<<gridFor(K * a.C), kThreads, 0, stream(c)>>>(g, labels, w, a, wsum, ds);
  else if (a.D == 1)
    ceGradRowKernel<S, U, L>
        <<<rowGrid(a.N), rowThreads(a.C), 0, stream(c)>>>(g, s, labels, w, a, wsum, ds);
  else
    ceGradColKernel<S, U, L>
        <<<gridFor(K), kThreads, 0, stream(c)>>>(g, s, labels, w, a, wsum, ds);
  DS_CUDA_LAUNCH();
}

} // namespace

struct LossGradRun {
  template <typename S, typename U, typename L> static void run(KernelCall &c) {
    lossGradTyped<S, U, L>(c, lossParams(c, *c.in[1].shape));
  }
};

void runLossGrad(KernelCall &c) {
  if (c.out[0].numel == 0)
    return; // N, C or a spatial dim is 0: nothing to write
  dispatchLoss<LossGradRun>(c, 1, c.in[0].dtype);
}

namespace {

// ---------------------------------------------------------------- the loss with its gradient

/// softmax_cross_entropy_loss_with_grad, D == 1: one block per sample. One maximum serves
/// ceLossRowKernel's loss term (from its exp sum in A) and ceGradRowKernel's gradient (from
/// its exp sum in f64), both summed over the same exponentials: the two kernels' bits from
/// three reads of the row (maximum, sums, gradient) instead of five. ds may be s (in place:
/// each element is read before the thread that reads it last writes it; s and ds are
/// therefore not __restrict__).
template <typename S, typename U, typename L>
__global__ void ceLossGradRowKernel(const U *__restrict__ g, const S *s,
                                    const L *__restrict__ labels,
                                    const S *__restrict__ weights, LossParams a,
                                    const double *wsum, U *lossNone, double *vals,
                                    double *wts, S *ds) {
  using A = typename Acc<U>::type;
  const int64_t C = a.C;
  for (int64_t n = blockIdx.x; n < a.N; n += gridDim.x) {
    const S *ps = s + n * C;
    S *pd = ds + n * C;
    int64_t l = int64_t(labels[n]);
    int status = labelStatus(l, a.hasIgnore, a.ignore, C); // the same in every thread
    if (status == 1) {                                     // ignored: block-uniform
      if (threadIdx.x == 0)
        putLossTerm<S, U>(n, status, l, A(0), weights, lossNone, vals, wts);
      for (int64_t ci = threadIdx.x; ci < C; ci += blockDim.x)
        st(pd, ci, A(0));
      continue;
    }
    A mx = negInf<A>();
    for (int64_t ci = threadIdx.x; ci < C; ci += blockDim.x)
      mx = MaxOp()(mx, ld(ps, ci));
    mx = blockReduce(mx, MaxOp(), negInf<A>());
    if (mx == negInf<A>())
      mx = A(0);
    A sum = A(0);
    double sumD = 0;
    for (int64_t ci = threadIdx.x; ci < C; ci += blockDim.x) {
      A ev = expA(subR(ld(ps, ci), mx));
      sum += ev;
      sumD = addR(sumD, double(ev));
    }
    // The score at the label, read before the reductions' barriers: ds may be s (in
    // place), and past them other threads write the row.
    A atLabel = threadIdx.x == 0 && status == 0 ? ld(ps, l) : A(0);
    sum = blockReduce(sum, SumOp(), A(0));
    sumD = blockReduce(sumD, SumOp(), 0.0);
    if (threadIdx.x == 0) {
      A lp = status == 0 ? subR(subR(atLabel, mx), logA(sum)) : A(0);
      putLossTerm<S, U>(n, status, l, lp, weights, lossNone, vals, wts);
    }
    double f = lossFactor(status, l, n, g, weights, a, wsum);
    if (f == 0) {
      for (int64_t ci = threadIdx.x; ci < C; ci += blockDim.x)
        st(pd, ci, A(0));
      continue;
    }
    A inv = fromD<A>(divR(1.0, sumD)), tf = fromD<A>(f);
    for (int64_t ci = threadIdx.x; ci < C; ci += blockDim.x) {
      A ev = expA(subR(ld(ps, ci), mx));
      st(pd, ci, mulR(subR(mulR(ev, inv), ci == l ? A(1) : A(0)), tf));
    }
  }
}

/// softmax_cross_entropy_loss_with_grad, D > 1: one thread per position, sequential over C
/// (ceLossColKernel's and ceGradColKernel's arithmetic).
template <typename S, typename U, typename L>
__global__ void ceLossGradColKernel(const U *__restrict__ g, const S *s,
                                    const L *__restrict__ labels,
                                    const S *__restrict__ weights, LossParams a,
                                    const double *wsum, U *lossNone, double *vals,
                                    double *wts, S *ds) {
  using A = typename Acc<U>::type;
  const int64_t C = a.C, D = a.D;
  DS_GRID_STRIDE(k, a.N * D) {
    int64_t n = k / D, j = k % D;
    const S *ps = s + n * C * D + j;
    S *pd = ds + n * C * D + j;
    int64_t l = int64_t(labels[k]);
    int status = labelStatus(l, a.hasIgnore, a.ignore, C);
    A mx = A(0), lp = A(0);
    double sumD = 0;
    if (status != 1) {
      mx = negInf<A>();
      for (int64_t ci = 0; ci < C; ++ci)
        mx = MaxOp()(mx, ld(ps, ci * D));
      if (mx == negInf<A>())
        mx = A(0);
      A sum = A(0);
      for (int64_t ci = 0; ci < C; ++ci) {
        A ev = expA(subR(ld(ps, ci * D), mx));
        sum = addR(sum, ev);
        sumD = addR(sumD, double(ev));
      }
      if (status == 0)
        lp = subR(subR(ld(ps, l * D), mx), logA(sum));
    }
    putLossTerm<S, U>(k, status, l, lp, weights, lossNone, vals, wts);
    double f = lossFactor(status, l, k, g, weights, a, wsum);
    if (f == 0) {
      for (int64_t ci = 0; ci < C; ++ci)
        st(pd, ci * D, A(0));
      continue;
    }
    A inv = fromD<A>(divR(1.0, sumD)), tf = fromD<A>(f);
    for (int64_t ci = 0; ci < C; ++ci) {
      A ev = expA(subR(ld(ps, ci * D), mx));
      st(pd, ci * D, mulR(subR(mulR(ev, inv), ci == l ? A(1) : A(0)), tf));
    }
  }
}

/// The weight sum of a mean (lossWeightSumKernel), the per-position loss terms and the
/// gradient (one launch), then the loss's reduction (lossFinalKernel): g and the loss of
/// type U, scores, weights and dscores of type S.
template <typename S, typename U, typename L>
void lossWithGradTyped(KernelCall &c, const LossParams &a) {
  const U *g = c.in[0].as<const U>();
  const S *s = c.in[1].as<const S>();
  const L *labels = c.in[2].as<const L>();
  const S *w = c.in.size() == 4 ? c.in[3].as<const S>() : nullptr;
  U *loss = c.out[0].as<U>();
  S *ds = c.out[1].as<S>();
  int64_t K = a.N * a.D;
  // One scratch block: the weight sum, then the terms and weights of a 'sum' / 'mean'.
  constexpr int64_t kHead = 32; // doubles: keeps vals 256-byte aligned
  double *head = static_cast<double *>(scratch(
      c, size_t(kHead + (a.reduction == kRedNone ? 0 : 2 * K)) * sizeof(double)));
  double *wsum = a.reduction == kRedMean ? head : nullptr;
  U *lossNone = a.reduction == kRedNone ? loss : nullptr;
  double *vals = a.reduction == kRedNone ? nullptr : head + kHead;
  double *wts = vals ? vals + K : nullptr;
  if (wsum) {
    lossWeightSumKernel<S, L><<<1, 1024, 0, stream(c)>>>(labels, w, a, wsum);
    DS_CUDA_LAUNCH();
  }
  if (K > 0) {
    if (a.D == 1)
      ceLossGradRowKernel<S, U, L><<<rowGrid(a.N), rowThreads(a.C), 0, stream(c)>>>(
          g, s, labels, w, a, wsum, lossNone, vals, wts, ds);
    else
      ceLossGradColKernel<S, U, L><<<gridFor(K), kThreads, 0, stream(c)>>>(
          g, s, labels, w, a, wsum, lossNone, vals, wts, ds);
    DS_CUDA_LAUNCH();
  }
  if (a.reduction != kRedNone) {
    lossFinalKernel<U><<<1, 1024, 0, stream(c)>>>(vals, wts, K, a.reduction, loss);
    DS_CUDA_LAUNCH();
  }
}

struct LossWithGradRun {
  template <typename S, typename U, typename L> static void run(KernelCall &c) {
    lossWithGradTyped<S, U, L>(c, lossParams(c, *c.in[1].shape));
  }
};

} // namespace

void runLossWithGrad(KernelCall &c) { dispatchLoss<LossWithGradRun>(c, 1, c.in[0].dtype); }

} // namespace ds::rt::cuda
