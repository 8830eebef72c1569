// CUDA kernels: softmax, log_softmax, their gradients, layer_norm, layer_norm_grad, the two
// classification losses and their gradients (reductions: Reduction.cu). Semantics and
// precision follow the CPU kernels (lib/cpu/Normalization.cpp):
//
// * f16/bf16 buffers compute in f32 and round on store; f64 computes in f64. Values the CPU keeps
//   in f32 before storing (e.g. a loss or a scale gradient summed in f64) are converted
//   f64 -> f32 -> f16/bf16 like the CPU, never f64 -> f16 directly.
// * Sums the CPU accumulates in f64 (layer-norm statistics, softmax-grad sums, loss totals,
//   reductions) are accumulated in f64 here too; softmax's own exp sum is f32 (f64 for f64) as
//   on the CPU. Per-element arithmetic uses the round-to-nearest intrinsics (no FMA contraction)
//   in the CPU's evaluation order; only the summation order differs (tree vs sequential).
// * Every reduction is deterministic: fixed launch geometry, fixed-order block reductions
//   (warp shuffles + shared memory) and two-pass reductions through scratch. No float atomics.
//
// Differences from the CPU, which throws on a label outside [0, C) that is not ignore_index: a
// kernel cannot throw, so such a label yields NaN instead (its loss term and weight are NaN, so
// a 'sum'/'mean' loss is NaN; its gradient column is NaN, and with 'mean' the whole gradient is
// NaN since the weight sum is). Nothing is read out of bounds.
#include "BlockReduce.cuh"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace ds::rt::cuda {
namespace {

// ---------------------------------------------------------------- arithmetic helpers

// Non-contracted IEEE arithmetic (the CPU rounds every operation; x86-64 without FMA).
__device__ __forceinline__ float expA(float v) { return expf(v); }
__device__ __forceinline__ double expA(double v) { return ::exp(v); }
__device__ __forceinline__ float logA(float v) { return logf(v); }
__device__ __forceinline__ double logA(double v) { return ::log(v); }

template <typename A> __device__ __forceinline__ A negInf() {
  return -std::numeric_limits<A>::infinity();
}

/// A(x) for a value the CPU computes in double and then converts to its compute type T.
template <typename A> __device__ __forceinline__ A fromD(double v) { return A(v); }

// ---------------------------------------------------------------- softmax / log_softmax

/// inner == 1: one block per row of `dim` elements.
template <typename T, bool LOG>
__global__ void softmaxRowKernel(const T *__restrict__ x, T *__restrict__ r, int64_t rows,
                                 int64_t dim) {
  using A = typename Acc<T>::type;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T *px = x + row * dim;
    T *pr = r + row * dim;
    A mx = negInf<A>();
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x)
      mx = MaxOp()(mx, ld(px, d));
    mx = blockReduce(mx, MaxOp(), negInf<A>());
    if (mx == negInf<A>())
      mx = A(0); // all -inf: avoid inf - inf
    A sum = A(0);
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x)
      sum += expA(subR(ld(px, d), mx));
    sum = blockReduce(sum, SumOp(), A(0));
    if (LOG) {
      A logSum = logA(sum);
      for (int64_t d = threadIdx.x; d < dim; d += blockDim.x)
        st(pr, d, subR(subR(ld(px, d), mx), logSum));
    } else {
      A inv = divR(A(1), sum);
      for (int64_t d = threadIdx.x; d < dim; d += blockDim.x)
        st(pr, d, mulR(expA(subR(ld(px, d), mx)), inv));
    }
  }
}

/// inner > 1: one thread per (outer, inner) column, sequential over dim (coalesced over inner).
template <typename T, bool LOG>
__global__ void softmaxColKernel(const T *__restrict__ x, T *__restrict__ r, int64_t outer,
                                 int64_t dim, int64_t inner) {
  using A = typename Acc<T>::type;
  DS_GRID_STRIDE(oi, outer * inner) {
    int64_t o = oi / inner, i = oi % inner;
    const T *px = x + o * dim * inner + i;
    T *pr = r + o * dim * inner + i;
    A mx = negInf<A>();
    for (int64_t d = 0; d < dim; ++d)
      mx = MaxOp()(mx, ld(px, d * inner));
    if (mx == negInf<A>())
      mx = A(0);
    A sum = A(0);
    for (int64_t d = 0; d < dim; ++d)
      sum = addR(sum, expA(subR(ld(px, d * inner), mx)));
    if (LOG) {
      A logSum = logA(sum);
      for (int64_t d = 0; d < dim; ++d)
        st(pr, d * inner, subR(subR(ld(px, d * inner), mx), logSum));
    } else {
      A inv = divR(A(1), sum);
      for (int64_t d = 0; d < dim; ++d)
        st(pr, d * inner, mulR(expA(subR(ld(px, d * inner), mx)), inv));
    }
  }
}

template <typename T>
void launchSoftmax(KernelCall &c, const T *x, T *r, int64_t outer, int64_t dim, int64_t inner,
                   bool log) {
  if (outer * dim * inner == 0)
    return;
  if (inner == 1) {
    int th = rowThreads(dim);
    if (log)
      softmaxRowKernel<T, true><<<rowGrid(outer), th, 0, stream(c)>>>(x, r, outer, dim);
    else
      softmaxRowKernel<T, false><<<rowGrid(outer), th, 0, stream(c)>>>(x, r, outer, dim);
  } else {
    if (log)
      softmaxColKernel<T, true>
          <<<gridFor(outer * inner), kThreads, 0, stream(c)>>>(x, r, outer, dim, inner);
    else
      softmaxColKernel<T, false>
          <<<gridFor(outer * inner), kThreads, 0, stream(c)>>>(x, r, outer, dim, inner);
  }
  DS_CUDA_LAUNCH();
}

} // namespace

void runSoftmax(KernelCall &c) {
  const Tensor &x = c.in[0], &r = c.out[0];
  int64_t axis = c.attrs<AxisAttrs>().axis;
  bool log = c.ins.kernel() == "log_softmax";
  int64_t outer, dim, inner;
  splitAt(*x.shape, axis, outer, dim, inner);
  DS_DISPATCH_FLOAT(x.dtype, T, {
    launchSoftmax<T>(c, x.as<const T>(), r.as<T>(), outer, dim, inner, log);
  });
}

namespace {

// ---------------------------------------------------------------- softmax_grad / log_softmax_grad

// softmax:     dx = y * (g - sum(g*y));   log_softmax: dx = g - exp(y) * sum(g)
// (sums in f64, then converted to the compute type, as on the CPU).
template <typename T, bool LOG>
__global__ void softmaxGradRowKernel(const T *__restrict__ g, const T *__restrict__ y,
                                     T *__restrict__ dx, int64_t rows, int64_t dim) {
  using A = typename Acc<T>::type;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T *pg = g + row * dim, *py = y + row * dim;
    T *pd = dx + row * dim;
    double acc = 0;
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x)
      acc = LOG ? addR(acc, double(ld(pg, d)))
                : addR(acc, mulR(double(ld(pg, d)), double(ld(py, d))));
    acc = blockReduce(acc, SumOp(), 0.0);
    A sum = fromD<A>(acc);
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
      A gv = ld(pg, d), yv = ld(py, d);
      st(pd, d, LOG ? subR(gv, mulR(expA(yv), sum)) : mulR(yv, subR(gv, sum)));
    }
  }
}

template <typename T, bool LOG>
__global__ void softmaxGradColKernel(const T *__restrict__ g, const T *__restrict__ y,
                                     T *__restrict__ dx, int64_t outer, int64_t dim,
                                     int64_t inner) {
  using A = typename Acc<T>::type;
  DS_GRID_STRIDE(oi, outer * inner) {
    int64_t base = (oi / inner) * dim * inner + oi % inner;
    const T *pg = g + base, *py = y + base;
    T *pd = dx + base;
    double acc = 0;
    for (int64_t d = 0; d < dim; ++d)
      acc = LOG ? addR(acc, double(ld(pg, d * inner)))
                : addR(acc, mulR(double(ld(pg, d * inner)), double(ld(py, d * inner))));
    A sum = fromD<A>(acc);
    for (int64_t d = 0; d < dim; ++d) {
      A gv = ld(pg, d * inner), yv = ld(py, d * inner);
      st(pd, d * inner, LOG ? subR(gv, mulR(expA(yv), sum)) : mulR(yv, subR(gv, sum)));
    }
  }
}

template <typename T, bool LOG>
void launchSoftmaxGrad(KernelCall &c, const T *g, const T *y, T *dx, int64_t outer, int64_t dim,
                       int64_t inner) {
  if (inner == 1)
    softmaxGradRowKernel<T, LOG>
        <<<rowGrid(outer), rowThreads(dim), 0, stream(c)>>>(g, y, dx, outer, dim);
  else
    softmaxGradColKernel<T, LOG>
        <<<gridFor(outer * inner), kThreads, 0, stream(c)>>>(g, y, dx, outer, dim, inner);
  DS_CUDA_LAUNCH();
}

} // namespace

void runSoftmaxGrad(KernelCall &c) {
  const Tensor &g = c.in[0], &y = c.in[1], &dx = c.out[0];
  int64_t axis = c.attrs<AxisAttrs>().axis;
  bool log = c.ins.kernel() == "log_softmax_grad";
  int64_t outer, dim, inner;
  splitAt(*g.shape, axis, outer, dim, inner);
  if (outer * dim * inner == 0)
    return;
  DS_DISPATCH_FLOAT(g.dtype, T, {
    if (log)
      launchSoftmaxGrad<T, true>(c, g.as<const T>(), y.as<const T>(), dx.as<T>(), outer, dim,
                                 inner);
    else
      launchSoftmaxGrad<T, false>(c, g.as<const T>(), y.as<const T>(), dx.as<T>(), outer, dim,
                                  inner);
  });
}

namespace {

// ---------------------------------------------------------------- layer_norm

/// Codes of a statistics output's dtype (mean / inv_std_dev may differ from x's dtype).
enum StatCode : int { kStatF32 = 0, kStatF64 = 1, kStatF16 = 2, kStatBF16 = 3 };
int statCode(DType dt) {
  switch (dt) {
  case ds::plan::F32: return kStatF32;
  case ds::plan::F64: return kStatF64;
  case ds::plan::F16: return kStatF16;
  case ds::plan::BF16: return kStatBF16;
  default: fail("unsupported statistics dtype ", dtypeName(dt));
  }
}
/// Stores a statistic computed in A like the CPU: f64 outputs get the value itself, the others
/// its f32 rounding (then rounded to f16/bf16).
template <typename A> __device__ void storeStat(void *p, int code, int64_t i, A v) {
  if (code == kStatF64) {
    static_cast<double *>(p)[i] = double(v);
    return;
  }
  float f = float(v);
  if (code == kStatF32)
    static_cast<float *>(p)[i] = f;
  else if (code == kStatF16)
    static_cast<__half *>(p)[i] = __float2half_rn(f);
  else
    static_cast<__nv_bfloat16 *>(p)[i] = __float2bfloat16_rn(f);
}

/// A parameter (scale / bias) broadcast to the normalized shape: element i of the flattened
/// normalized shape is p[direct ? i : ix.offset(i)].
struct Param {
  bool direct = true;
  Indexer ix;
};
Param paramOf(const std::vector<int64_t> &pshape, const std::vector<int64_t> &normShape,
              int64_t norm) {
  Param p;
  int64_t n = 1;
  for (int64_t d : pshape)
    n *= d;
  // Broadcasting to normShape with as many elements means the same shape up to leading 1s.
  p.direct = n == norm;
  if (!p.direct)
    p.ix = broadcastIndexer(pshape, normShape);
  return p;
}
__device__ __forceinline__ int64_t paramOffset(const Param &p, int64_t i) {
  return p.direct ? i : p.ix.offset(i);
}

/// Row mean and inverse standard deviation exactly as the CPU computes them: two passes
/// accumulated in f64, mu = T(sum/norm), inv = T(1/sqrt(sq/norm + eps)). Block-wide.
template <typename T>
__device__ void rowStats(const T *px, int64_t norm, double eps, typename Acc<T>::type &mu,
                         typename Acc<T>::type &inv) {
  using A = typename Acc<T>::type;
  double sum = 0;
  for (int64_t i = threadIdx.x; i < norm; i += blockDim.x)
    sum = addR(sum, double(ld(px, i)));
  sum = blockReduce(sum, SumOp(), 0.0);
  mu = fromD<A>(norm ? divR(sum, double(norm)) : 0.0);
  double sq = 0;
  for (int64_t i = threadIdx.x; i < norm; i += blockDim.x) {
    double d = double(subR(ld(px, i), mu));
    sq = addR(sq, mulR(d, d));
  }
  sq = blockReduce(sq, SumOp(), 0.0);
  double var = norm ? divR(sq, double(norm)) : 0.0;
  inv = fromD<A>(divR(1.0, __dsqrt_rn(addR(var, eps))));
}

template <typename T>
__global__ void layerNormKernel(const T *__restrict__ x, const T *__restrict__ scale, Param sp,
                                const T *__restrict__ bias, Param bp, T *__restrict__ y,
                                void *mean, int meanCode, void *invStd, int invCode,
                                int64_t rows, int64_t norm, double eps) {
  using A = typename Acc<T>::type;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T *px = x + row * norm;
    T *py = y + row * norm;
    A mu, inv;
    rowStats(px, norm, eps, mu, inv);
    for (int64_t i = threadIdx.x; i < norm; i += blockDim.x) {
      A v = mulR(mulR(subR(ld(px, i), mu), inv), ld(scale, paramOffset(sp, i)));
      v = addR(v, bias ? ld(bias, paramOffset(bp, i)) : A(0));
      st(py, i, v);
    }
    if (threadIdx.x == 0) {
      if (mean)
        storeStat(mean, meanCode, row, mu);
      if (invStd)
        storeStat(invStd, invCode, row, inv);
    }
  }
}

} // namespace

void runLayerNorm(KernelCall &c) {
  const Tensor &x = c.in[0], &y = c.out[0];
  const auto &attrs = c.attrs<LayerNormAttrs>();
  int64_t axis = attrs.axis;
  double eps = attrs.epsilon;
  const auto &shape = *x.shape;
  std::vector<int64_t> normShape(shape.begin() + axis, shape.end());
  int64_t rows = 1, norm = 1;
  for (int64_t i = 0; i < axis; ++i)
    rows *= shape[size_t(i)];
  for (int64_t d : normShape)
    norm *= d;
  if (rows == 0)
    return; // no rows: y and the statistics are empty
  bool hasBias = c.in.size() == 3;
  Param sp = paramOf(*c.in[1].shape, normShape, norm);
  Param bp = hasBias ? paramOf(*c.in[2].shape, normShape, norm) : Param();
  void *mean = c.out.size() > 1 ? c.out[1].data : nullptr;
  void *inv = c.out.size() > 2 ? c.out[2].data : nullptr;
  int meanCode = mean ? statCode(c.out[1].dtype) : 0;
  int invCode = inv ? statCode(c.out[2].dtype) : 0;
  DS_DISPATCH_FLOAT(x.dtype, T, {
    layerNormKernel<T><<<rowGrid(rows), rowThreads(norm), 0, stream(c)>>>(
        x.as<const T>(), c.in[1].as<const T>(), sp,
        hasBias ? c.in[2].as<const T>() : nullptr, bp, y.as<T>(), mean, meanCode, inv, invCode,
        rows, norm, eps);
    DS_CUDA_LAUNCH();
  });
}

namespace {

// ---------------------------------------------------------------- layer_norm_grad

// Two launches. (1) Block p takes rows [p*chunk, (p+1)*chunk): per row, its mean and inv-std,
// dx, and the column partials of its rows, in row order in f64: part[p*norm + i] = sum
// g*xhat, part[(P + p)*norm + i] = sum g (each thread owns the columns it writes dx for, so
// no two threads touch one partial). (2) The final kernel adds the P partials per column.
template <typename T>
__global__ void layerNormGradChunkKernel(const T *__restrict__ g, const T *__restrict__ x,
                                         const T *__restrict__ scale, T *dx, const T *accDx,
                                         double *__restrict__ part, int64_t rows, int64_t norm,
                                         int64_t P, int64_t chunk, double eps) {
  using A = typename Acc<T>::type;
  int64_t p = blockIdx.x;
  int64_t r0 = p * chunk, r1 = std::min(rows, r0 + chunk);
  double *pds = part + p * norm, *pdb = part + (P + p) * norm;
  if (r0 >= r1) // an empty chunk adds nothing
    for (int64_t i = threadIdx.x; i < norm; i += blockDim.x) {
      pds[i] = 0;
      pdb[i] = 0;
    }
  for (int64_t row = r0; row < r1; ++row) {
    const T *px = x + row * norm, *pg = g + row * norm;
    T *pd = dx + row * norm;
    A mu, is;
    rowStats(px, norm, eps, mu, is);
    double sg = 0, sgx = 0; // sums of g*scale and g*scale*xhat
    for (int64_t i = threadIdx.x; i < norm; i += blockDim.x) {
      A gh = mulR(ld(pg, i), ld(scale, i));
      A xh = mulR(subR(ld(px, i), mu), is);
      sg = addR(sg, double(gh));
      sgx = addR(sgx, mulR(double(gh), double(xh)));
    }
    sg = blockReduce(sg, SumOp(), 0.0);
    sgx = blockReduce(sgx, SumOp(), 0.0);
    A mg = fromD<A>(norm ? divR(sg, double(norm)) : 0.0);
    A mgx = fromD<A>(norm ? divR(sgx, double(norm)) : 0.0);
    for (int64_t i = threadIdx.x; i < norm; i += blockDim.x) {
      A gv = ld(pg, i);
      A xh = mulR(subR(ld(px, i), mu), is);
      A gh = mulR(gv, ld(scale, i));
      A v = mulR(is, subR(subR(gh, mg), mulR(xh, mgx)));
      if (accDx) { // dx_acc: dx rounded to T, then the add kernel's arithmetic
        T r[1];
        st(r, 0, v);
        v = addR(ld(accDx, row * norm + i), ld(r, 0));
      }
      st(pd, i, v);
      pds[i] = addR(row == r0 ? 0.0 : pds[i], mulR(double(gv), double(xh)));
      pdb[i] = addR(row == r0 ? 0.0 : pdb[i], double(gv));
    }
  }
}

template <typename T>
__global__ void layerNormGradColFinalKernel(const double *__restrict__ part, T *dscale, T *dbias,
                                            const T *accScale, const T *accBias, int64_t norm,
                                            int64_t P) {
  using A = typename Acc<T>::type;
  DS_GRID_STRIDE(i, norm) {
    double ds = 0, db = 0;
    for (int64_t p = 0; p < P; ++p) {
      ds = addR(ds, part[p * norm + i]);
      db = addR(db, part[(P + p) * norm + i]);
    }
    if (accScale) {
      // dscale_acc, dbias_acc: the gradients rounded to T, then the add kernel's
      // arithmetic (the CPU's runAccumulating); the outputs may be the accs' bytes.
      T v[2];
      st(v, 0, fromD<A>(ds));
      st(v, 1, fromD<A>(db));
      st(dscale, i, addR(ld(accScale, i), ld(v, 0)));
      st(dbias, i, addR(ld(accBias, i), ld(v, 1)));
      continue;
    }
    st(dscale, i, fromD<A>(ds));
    st(dbias, i, fromD<A>(db));
  }
}

/// Row chunks of layer_norm_grad (>= 1): about 8 rows each, at most 8 blocks per SM, and at
/// most 16 MiB of partials (2 * P * norm doubles of scratch, added per column by the final
/// kernel; GPT-2's 768 columns: 1,056 chunks on 132 SMs, 13 MB).
int64_t lnGradChunks(KernelCall &c, int64_t rows, int64_t norm) {
  constexpr int64_t kPartialBytes = int64_t(16) << 20;
  int64_t P = std::min({ceilDiv(rows, 8), int64_t(8) * std::max(dev(c).smCount, 1),
                        kPartialBytes / (int64_t(2 * sizeof(double)) * std::max<int64_t>(norm, 1))});
  return std::max<int64_t>(P, 1);
}

} // namespace

void runLayerNormGrad(KernelCall &c) {
  const Tensor &g = c.in[0], &x = c.in[1], &scale = c.in[2];
  const auto &attrs = c.attrs<LayerNormAttrs>();
  int64_t axis = attrs.axis;
  double eps = attrs.epsilon;
  const auto &shape = *x.shape;
  int64_t rows = 1, norm = 1;
  for (int64_t i = 0; i < axis; ++i)
    rows *= shape[size_t(i)];
  for (size_t i = size_t(axis); i < shape.size(); ++i)
    norm *= shape[i];
  if (norm == 0)
    return; // every output is empty
  int64_t P = lnGradChunks(c, rows, norm);
  int64_t chunk = ceilDiv(rows, P); // 0 when rows == 0: the sums stay 0
  DS_DISPATCH_FLOAT(x.dtype, T, {
    auto *part = static_cast<double *>(scratch(c, size_t(2 * P * norm) * sizeof(double)));
    layerNormGradChunkKernel<T><<<unsigned(P), rowThreads(norm), 0, stream(c)>>>(
        g.as<const T>(), x.as<const T>(), scale.as<const T>(), c.out[0].as<T>(),
        c.in.size() >= 4 ? c.in[3].as<const T>() : nullptr, part, rows, norm, P, chunk, eps);
    DS_CUDA_LAUNCH();
    layerNormGradColFinalKernel<T><<<gridFor(norm), kThreads, 0, stream(c)>>>(
        part, c.out[1].as<T>(), c.out[2].as<T>(),
        c.in.size() == 6 ? c.in[4].as<const T>() : nullptr,
        c.in.size() == 6 ? c.in[5].as<const T>() : nullptr, norm, P);
    DS_CUDA_LAUNCH();
  });
}

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

struct LossRun {
  template <typename S, typename U, typename L> static void run(KernelCall &c) {
    lossTyped<S, U, L>(c, lossParams(c, *c.in[0].shape));
  }
};

} // namespace

void runLoss(KernelCall &c) {
  bool i64 = c.in[1].dtype == ds::plan::I64;
  bool widened = c.out[0].dtype != c.in[0].dtype;
  DS_DISPATCH_FLOAT(c.in[0].dtype, T, {
    if (i64)
      lossWidening<LossRun, T, int64_t>(c, widened);
    else
      lossWidening<LossRun, T, int32_t>(c, widened);
  });
}

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
  bool i64 = c.in[2].dtype == ds::plan::I64;
  bool widened = c.in[0].dtype != c.in[1].dtype;
  DS_DISPATCH_FLOAT(c.in[1].dtype, T, {
    if (i64)
      lossWidening<LossGradRun, T, int64_t>(c, widened);
    else
      lossWidening<LossGradRun, T, int32_t>(c, widened);
  });
}

} // namespace ds::rt::cuda
