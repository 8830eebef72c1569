// CUDA kernels: reduce_sum / reduce_mean / reduce_max, with the CPU's precision (lib/cpu/Reduction.cpp):
// sums accumulate in f64 (i64 for integers), f16/bf16 store through f32; deterministic
// fixed-order block reductions and a two-pass reduction through scratch, no float atomics.
#include "BlockReduce.cuh"
#include "ds/runtime/ReduceSplit.h"

#include <cfloat>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace ds::rt::cuda {
namespace {

// ---------------------------------------------------------------- reduce_sum / mean / max

enum RedKind : int { kSum = 0, kMean = 1, kMax = 2 };

// Accumulator: f64 for floating types (f16/bf16 via f32), i64 for integers (as on the CPU).
template <typename T> struct RedTraits {
  using R = double;
  // The CPU's init for max: -inf for floating types (an all--inf slice reduces to -inf).
  static __device__ __forceinline__ R lowest() { return -std::numeric_limits<double>::infinity(); }
  static __device__ __forceinline__ R load(const T *p, int64_t i) { return double(ld(p, i)); }
  /// T(a) of the CPU (f16/bf16: via f32).
  static __device__ __forceinline__ void store(T *p, int64_t i, R a) { st(p, i, float(a)); }
};
template <> struct RedTraits<double> {
  using R = double;
  static __device__ __forceinline__ R lowest() { return -std::numeric_limits<double>::infinity(); }
  static __device__ __forceinline__ R load(const double *p, int64_t i) { return p[i]; }
  static __device__ __forceinline__ void store(double *p, int64_t i, R a) { p[i] = a; }
};
template <typename I> struct RedTraitsInt {
  using R = int64_t;
  static __device__ __forceinline__ R lowest() { return R(std::numeric_limits<I>::lowest()); }
  static __device__ __forceinline__ R load(const I *p, int64_t i) { return R(p[i]); }
  static __device__ __forceinline__ void store(I *p, int64_t i, R a) { p[i] = I(a); }
};
template <> struct RedTraits<int32_t> : RedTraitsInt<int32_t> {};
template <> struct RedTraits<int64_t> : RedTraitsInt<int64_t> {};

template <int K> struct RedOp {
  template <typename V> __device__ __forceinline__ V operator()(V a, V b) const {
    // max: a NaN wins (torch.amax), as on the CPU.
    return K == kMax ? (a < b || b != b ? b : a) : V(a + b);
  }
};

template <typename T, int K> __device__ __forceinline__ typename RedTraits<T>::R redInit() {
  using R = typename RedTraits<T>::R;
  return K == kMax ? RedTraits<T>::lowest() : R(0);
}

template <typename T, int K>
__device__ __forceinline__ void redFinish(T *r, int64_t o, typename RedTraits<T>::R a,
                                          int64_t redCount, const T *accIn) {
  if (accIn) {
    // reduce_sum's acc (float dtypes): the sum rounded to T as above, then the add
    // kernel's arithmetic (the CPU's runAccumulating). r may be accIn's bytes.
    T v[1];
    RedTraits<T>::store(v, 0, a);
    st(r, o, addR(ld(accIn, o), ld(v, 0)));
    return;
  }
  if (K == kMean) {
    // T(double(a) / redCount); only floating types reach mean.
    double v = redCount ? double(a) / double(redCount) : qnan();
    RedTraits<T>::store(r, o, typename RedTraits<T>::R(v));
  } else {
    RedTraits<T>::store(r, o, a);
  }
}

/// Offset of linear index k (< prod(dims)) through ix; fast paths for rank 0 and 1.
__device__ __forceinline__ int64_t ixOffset(const Indexer &ix, int64_t k) {
  if (ix.rank == 0)
    return 0;
  if (ix.rank == 1)
    return k * ix.strides[0];
  return ix.offset(k);
}

// Work item (o, p): output o, reduced indices [p*chunk, min(redCount, (p+1)*chunk)).
// With part == nullptr (P == 1) the result is finished into r[o]; else part[o*P + p] = partial.

/// One block per work item (reduced space contiguous in memory: coalesced over k).
template <typename T, int K>
__global__ void reduceBlockKernel(const T *__restrict__ x, Indexer keptIx, Indexer redIx,
                                  int64_t outCount, int64_t redCount, int64_t P, int64_t chunk,
                                  typename RedTraits<T>::R *part, T *r, const T *accIn) {
  using R = typename RedTraits<T>::R;
  for (int64_t item = blockIdx.x; item < outCount * P; item += gridDim.x) {
    int64_t o = item / P, p = item % P;
    int64_t base = ixOffset(keptIx, o);
    int64_t k0 = p * chunk, k1 = std::min(redCount, k0 + chunk);
    R acc = redInit<T, K>();
    for (int64_t k = k0 + threadIdx.x; k < k1; k += blockDim.x)
      acc = RedOp<K>()(acc, RedTraits<T>::load(x, base + ixOffset(redIx, k)));
    acc = blockReduce(acc, RedOp<K>(), redInit<T, K>());
    if (threadIdx.x == 0) {
      if (part)
        part[item] = acc;
      else
        redFinish<T, K>(r, o, acc, redCount, accIn);
    }
  }
}

/// One thread per work item, consecutive threads on consecutive outputs (coalesced when the
/// innermost kept dim is contiguous).
template <typename T, int K>
__global__ void reduceThreadKernel(const T *__restrict__ x, Indexer keptIx, Indexer redIx,
                                   int64_t outCount, int64_t redCount, int64_t P, int64_t chunk,
                                   typename RedTraits<T>::R *part, T *r, const T *accIn) {
  using R = typename RedTraits<T>::R;
  DS_GRID_STRIDE(item, outCount * P) {
    int64_t p = item / outCount, o = item % outCount;
    int64_t base = ixOffset(keptIx, o);
    int64_t k0 = p * chunk, k1 = std::min(redCount, k0 + chunk);
    R acc = redInit<T, K>();
    for (int64_t k = k0; k < k1; ++k)
      acc = RedOp<K>()(acc, RedTraits<T>::load(x, base + ixOffset(redIx, k)));
    if (part)
      part[o * P + p] = acc;
    else
      redFinish<T, K>(r, o, acc, redCount, accIn);
  }
}

/// Second pass: r[o] = finish(combine of part[o*P .. o*P + P) in order).
template <typename T, int K>
__global__ void reduceFinalKernel(const typename RedTraits<T>::R *__restrict__ part,
                                  int64_t outCount, int64_t redCount, int64_t P, T *r,
                                  const T *accIn) {
  using R = typename RedTraits<T>::R;
  DS_GRID_STRIDE(o, outCount) {
    R acc = redInit<T, K>();
    for (int64_t p = 0; p < P; ++p)
      acc = RedOp<K>()(acc, part[o * P + p]);
    redFinish<T, K>(r, o, acc, redCount, accIn);
  }
}

struct ReducePlan {
  Indexer keptIx, redIx;
  int64_t outCount = 1, redCount = 1;
  bool blockVariant = false;
  int threads = kThreads;
  int64_t P = 1, chunk = 0;
};

/// The operands of one reduction: x, r and reduce_sum's optional acc.
struct ReduceOperands {
  const Tensor &x, &r;
  const Tensor *acc;
};

template <typename T, int K>
void reduceLaunch(KernelCall &c, const ReduceOperands &op, const ReducePlan &pl) {
  using R = typename RedTraits<T>::R;
  const T *x = op.x.as<const T>();
  T *r = op.r.as<T>();
  const T *accIn = op.acc ? op.acc->as<const T>() : nullptr;
  R *part = nullptr;
  if (pl.P > 1)
    part = static_cast<R *>(scratch(c, size_t(pl.outCount * pl.P) * sizeof(R)));
  if (pl.blockVariant)
    reduceBlockKernel<T, K><<<rowGrid(pl.outCount * pl.P), pl.threads, 0, stream(c)>>>(
        x, pl.keptIx, pl.redIx, pl.outCount, pl.redCount, pl.P, pl.chunk, part, r, accIn);
  else
    reduceThreadKernel<T, K><<<gridFor(pl.outCount * pl.P), kThreads, 0, stream(c)>>>(
        x, pl.keptIx, pl.redIx, pl.outCount, pl.redCount, pl.P, pl.chunk, part, r, accIn);
  DS_CUDA_LAUNCH();
  if (pl.P > 1) {
    reduceFinalKernel<T, K><<<gridFor(pl.outCount), kThreads, 0, stream(c)>>>(
        part, pl.outCount, pl.redCount, pl.P, r, accIn);
    DS_CUDA_LAUNCH();
  }
}

template <typename T>
void reduceDispatchKind(KernelCall &c, int kind, const ReduceOperands &op,
                        const ReducePlan &pl) {
  if (kind == kSum)
    reduceLaunch<T, kSum>(c, op, pl);
  else if (kind == kMax)
    reduceLaunch<T, kMax>(c, op, pl);
  else if constexpr (!std::is_integral_v<T>)
    reduceLaunch<T, kMean>(c, op, pl);
  else
    fail("reduce_mean of an integer dtype");
}

void reduceInto(KernelCall &c, int kind, const ReduceOperands &op,
                const std::vector<int64_t> &axesV) {
  const Tensor &x = op.x, &r = op.r;
  const auto &shape = *x.shape;
  size_t rank = shape.size();
  std::vector<bool> isRed(rank, axesV.empty());
  for (int64_t a : axesV)
    isRed[size_t(a)] = true;
  std::vector<int64_t> xStrides = rowMajorStrides(shape);
  std::vector<int64_t> keptDims, keptStrides, redDims, redStrides;
  ReducePlan pl;
  for (size_t i = 0; i < rank; ++i) {
    (isRed[i] ? redDims : keptDims).push_back(shape[i]);
    (isRed[i] ? redStrides : keptStrides).push_back(xStrides[i]);
    (isRed[i] ? pl.redCount : pl.outCount) *= shape[i];
  }
  if (pl.outCount == 0 || r.numel == 0)
    return;
  bool accumulating = op.acc != nullptr; // reduce_sum's acc
  if (accumulating && !isFloat(x.dtype))
    fail("accumulating reduce_sum of ", dtypeName(x.dtype));
  if (pl.redCount == 1 && !accumulating) {
    // Only size-1 dims reduced: the result is x itself (the CPU copies, keeping NaN and -inf).
    DS_CUDA(cudaMemcpyAsync(r.data, x.data, size_t(r.numel) * dtypeSize(x.dtype),
                            cudaMemcpyDeviceToDevice, stream(c)));
    return;
  }
  // Is the innermost non-trivial dim of x reduced? Then the reduced space is (at least
  // partly) contiguous: one block per output; else one thread per output.
  bool innerReduced = false;
  for (size_t i = rank; i-- > 0;)
    if (shape[i] != 1) {
      innerReduced = isRed[i];
      break;
    }
  pl.keptIx = stridedIndexer(keptDims, keptStrides);
  pl.redIx = stridedIndexer(redDims, redStrides);
  ReduceSplit split = reduceSplit(pl.outCount, pl.redCount, innerReduced, dev(c).smCount);
  pl.blockVariant = split.blockVariant;
  int64_t P = split.parts;
  if (pl.redCount > 0) {
    pl.chunk = ceilDiv(pl.redCount, P);
    pl.P = ceilDiv(pl.redCount, pl.chunk); // no empty chunks
  } else {
    pl.chunk = 0;
    pl.P = 1;
  }
  pl.threads = rowThreads(pl.chunk);
  switch (x.dtype) {
  case ds::plan::F32: reduceDispatchKind<float>(c, kind, op, pl); break;
  case ds::plan::F64: reduceDispatchKind<double>(c, kind, op, pl); break;
  case ds::plan::F16: reduceDispatchKind<__half>(c, kind, op, pl); break;
  case ds::plan::BF16: reduceDispatchKind<__nv_bfloat16>(c, kind, op, pl); break;
  case ds::plan::I64: reduceDispatchKind<int64_t>(c, kind, op, pl); break;
  case ds::plan::I32: reduceDispatchKind<int32_t>(c, kind, op, pl); break;
  default: fail("unsupported dtype ", dtypeName(x.dtype));
  }
}

} // namespace

void runReduce(KernelCall &c) {
  const std::string &k = c.ins.kernel();
  int kind = k == "reduce_sum" ? kSum : k == "reduce_mean" ? kMean : kMax;
  reduceInto(c, kind, {c.in[0], c.out[0], c.in.size() == 2 ? &c.in[1] : nullptr},
             c.attrs<ReduceAttrs>().axes.value_or(std::vector<int64_t>{}));
}

void sumOverAxes(KernelCall &c, const Tensor &x, const std::vector<int64_t> &axes,
                 const Tensor &r) {
  reduceInto(c, kSum, {x, r, nullptr}, axes);
}

} // namespace ds::rt::cuda
