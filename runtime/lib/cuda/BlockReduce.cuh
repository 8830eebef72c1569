// Deterministic block reductions and launch geometry shared by the row-wise CUDA kernels (Normalization.cu, Reduction.cu).
#pragma once

#include "CudaCommon.cuh"

#include <algorithm>
#include <limits>

namespace ds::rt::cuda {

/// The quiet NaN an empty mean or an invalid label yields.
__device__ __forceinline__ double qnan() { return std::numeric_limits<double>::quiet_NaN(); }

struct SumOp {
  template <typename V> __device__ __forceinline__ V operator()(V a, V b) const { return a + b; }
};
/// std::max semantics: (a < b) ? b : a (a NaN b is ignored).
struct MaxOp {
  template <typename V> __device__ __forceinline__ V operator()(V a, V b) const {
    return a < b || b != b ? b : a; // a NaN wins (torch.max), else std::max's choice
  }
};

template <typename V, typename Op> __device__ __forceinline__ V warpReduce(V v, Op op) {
  for (int o = 16; o > 0; o >>= 1)
    v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/// Reduces v over the block (blockDim.x a multiple of 32, at most 1024); every thread of the
/// block must call it, and every thread gets the result. Fixed order: deterministic.
template <typename V, typename Op> __device__ V blockReduce(V v, Op op, V identity) {
  __shared__ V sh[33];
  int lane = int(threadIdx.x & 31), w = int(threadIdx.x >> 5), nw = int(blockDim.x >> 5);
  v = warpReduce(v, op);
  __syncthreads(); // a previous call's readers of sh[32] are done
  if (lane == 0)
    sh[w] = v;
  __syncthreads();
  if (w == 0) {
    V t = lane < nw ? sh[lane] : identity;
    t = warpReduce(t, op);
    if (lane == 0)
      sh[32] = t;
  }
  __syncthreads();
  return sh[32];
}

/// Threads per block for one row of n elements (a multiple of 32).
inline int rowThreads(int64_t n) {
  if (n <= 64)
    return 32;
  if (n <= 512)
    return 64;
  if (n <= 2048)
    return 128;
  if (n <= 8192)
    return 256;
  return 512;
}
/// Blocks for a block-per-row loop over `rows` (> 0) rows (the kernels loop with gridDim.x).
inline unsigned rowGrid(int64_t rows) { return unsigned(std::min<int64_t>(rows, int64_t(1) << 20)); }

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

} // namespace ds::rt::cuda
