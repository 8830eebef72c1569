// The arithmetic helpers and softmax kernels that Normalization.cu and Loss.cu share.
// Semantics and precision follow the CPU kernels (lib/cpu/Normalization.cpp, Loss.cpp):
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
#pragma once

#include "BlockReduce.cuh"

#include <cstdint>
#include <limits>

// In an anonymous namespace, as they were in Normalization.cu: each including file has its
// own instances of the kernels.
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
} // namespace ds::rt::cuda
