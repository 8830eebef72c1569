// CUDA kernels: softmax, log_softmax, their gradients, layer_norm and layer_norm_grad (the
// losses: Loss.cu; reductions: Reduction.cu), following lib/cpu/Normalization.cpp as
// Softmax.cuh says.
#include "Softmax.cuh"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace ds::rt::cuda {

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

} // namespace ds::rt::cuda
