// Shared pieces of the CUDA kernels: the per-instruction device context, error checks, dtype
// dispatch, element conversions and broadcast indexing. Kernels have the CPU kernels' signature
// (void(KernelCall &)) with device pointers in Tensor::data, and are enqueued on dev(c).stream:
// they never synchronize the host and never allocate (the plan's arena is allocated once).
#pragma once

#include "ds/runtime/Kernels.h"

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ds::rt::cuda {

class DeviceComm;

/// What a CUDA kernel sees besides its operands; KernelCall::ctx.device points here.
struct DeviceContext {
  cudaStream_t stream = nullptr;    // the stream this instruction runs on
  cublasLtHandle_t lt = nullptr;
  void *workspace = nullptr;        // cuBLASLt workspace of this stream
  size_t workspaceBytes = 0;
  void *scratch = nullptr;          // device scratch of this stream, 256-byte aligned, free for
  size_t scratchBytes = 0;          // the duration of one kernel call (contents undefined)
  const uint64_t *runCounter = nullptr; // device pointer: program runs so far (dropout stream)
  DeviceComm *comm = nullptr;       // collectives (NCCL or host-staged)
  bool allowTf32 = false;           // f32 GEMMs may use TF32 tensor cores
  int smCount = 132;
};

inline DeviceContext &dev(KernelCall &c) { return *static_cast<DeviceContext *>(c.ctx.device); }
inline cudaStream_t stream(KernelCall &c) { return dev(c).stream; }

/// Throws Error("<expr>: <cuda error string>") when e is not cudaSuccess.
void checkCuda(cudaError_t e, const char *expr);
#define DS_CUDA(x) ::ds::rt::cuda::checkCuda((x), #x)
/// After a kernel launch: reports launch errors (bad configuration) as Error.
#define DS_CUDA_LAUNCH() ::ds::rt::cuda::checkCuda(cudaGetLastError(), "kernel launch")

/// Scratch of at least `bytes` from the context; throws Error when the scratch is too small.
void *scratch(KernelCall &c, size_t bytes);

// ---- launch geometry: grid-stride loops over n elements
constexpr int kThreads = 256;
inline unsigned gridFor(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1)
    b = 1;
  if (b > (1 << 20))
    b = 1 << 20; // grid-stride loops cover the rest
  return unsigned(b);
}
#define DS_GRID_STRIDE(i, n)                                                                   \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);                    \
       i += int64_t(blockDim.x) * gridDim.x)

// ---- element types. Floating kernels compute in Acc<T> (f32, or f64 for f64 buffers).
template <typename T> struct Acc { using type = float; };
template <> struct Acc<double> { using type = double; };

template <typename T> __device__ __forceinline__ typename Acc<T>::type ld(const T *p, int64_t i) {
  return static_cast<typename Acc<T>::type>(p[i]);
}
template <> __device__ __forceinline__ float ld<__half>(const __half *p, int64_t i) {
  return __half2float(p[i]);
}
template <> __device__ __forceinline__ float ld<__nv_bfloat16>(const __nv_bfloat16 *p,
                                                               int64_t i) {
  return __bfloat162float(p[i]);
}
/// Converts (round to nearest even for f16/bf16, like the CPU's floatToHalf/floatToBf16).
template <typename T, typename V> __device__ __forceinline__ T cvt(V v) { return T(v); }
template <> __device__ __forceinline__ __half cvt<__half, float>(float v) {
  return __float2half_rn(v);
}
template <> __device__ __forceinline__ __half cvt<__half, double>(double v) {
  return __double2half(v);
}
template <> __device__ __forceinline__ __nv_bfloat16 cvt<__nv_bfloat16, float>(float v) {
  return __float2bfloat16_rn(v);
}
template <> __device__ __forceinline__ __nv_bfloat16 cvt<__nv_bfloat16, double>(double v) {
  return __float2bfloat16_rn(float(v));
}
template <typename T, typename V> __device__ __forceinline__ void st(T *p, int64_t i, V v) {
  p[i] = cvt<T>(v);
}

/// Dispatch on a floating dtype: `T` is float, double, __half or __nv_bfloat16 in the body.
#define DS_DISPATCH_FLOAT(DT, T, ...)                                                          \
  switch (DT) {                                                                                \
  case ds::plan::F32: { using T = float; __VA_ARGS__; } break;                                 \
  case ds::plan::F64: { using T = double; __VA_ARGS__; } break;                                \
  case ds::plan::F16: { using T = __half; __VA_ARGS__; } break;                                \
  case ds::plan::BF16: { using T = __nv_bfloat16; __VA_ARGS__; } break;                        \
  default: ::ds::rt::fail("unsupported dtype ", ::ds::rt::dtypeName(DT));                     \
  }
/// Dispatch on any dtype: adds int64_t, int32_t and bool (i1, one byte holding 0 or 1).
#define DS_DISPATCH_ALL(DT, T, ...)                                                            \
  switch (DT) {                                                                                \
  case ds::plan::F32: { using T = float; __VA_ARGS__; } break;                                 \
  case ds::plan::F64: { using T = double; __VA_ARGS__; } break;                                \
  case ds::plan::F16: { using T = __half; __VA_ARGS__; } break;                                \
  case ds::plan::BF16: { using T = __nv_bfloat16; __VA_ARGS__; } break;                        \
  case ds::plan::I64: { using T = int64_t; __VA_ARGS__; } break;                               \
  case ds::plan::I32: { using T = int32_t; __VA_ARGS__; } break;                               \
  case ds::plan::I1: { using T = bool; __VA_ARGS__; } break;                                   \
  default: ::ds::rt::fail("unsupported dtype ", ::ds::rt::dtypeName(DT));                     \
  }

// ---- broadcast / strided indexing (row-major), up to kMaxDims dims
constexpr int kMaxDims = 8;
struct Indexer {
  int rank = 0;
  bool small = false;             // the iteration space has < 2^31 elements: 32-bit divisions
  int64_t dims[kMaxDims] = {};    // the iteration (output) shape, unit dims dropped and
                                  // dims the operand walks contiguously merged
  int64_t strides[kMaxDims] = {}; // element strides of the operand in that shape (0 = bcast)
  /// Element offset in the operand of the iteration space's linear index.
  __device__ __forceinline__ int64_t offset(int64_t linear) const {
    int64_t off = 0;
    if (small) {
      uint32_t l = uint32_t(linear);
      for (int d = rank - 1; d >= 0; --d) {
        uint32_t n = uint32_t(dims[d]);
        uint32_t q = l / n;
        off += int64_t(l - q * n) * strides[d];
        l = q;
      }
      return off;
    }
    for (int d = rank - 1; d >= 0; --d) {
      int64_t q = linear / dims[d];
      off += (linear - q * dims[d]) * strides[d];
      linear = q;
    }
    return off;
  }
};
/// Indexer of an operand of shape `in` broadcast (numpy rules, right-aligned) to shape `out`.
/// Throws Error when out has more than kMaxDims dims.
Indexer broadcastIndexer(const std::vector<int64_t> &in, const std::vector<int64_t> &out);
/// Indexer of an operand with explicit element strides over the iteration shape `dims`.
Indexer stridedIndexer(const std::vector<int64_t> &dims, const std::vector<int64_t> &strides);
/// Row-major element strides of a shape.
std::vector<int64_t> rowMajorStrides(const std::vector<int64_t> &shape);

// ---- kernel tables, one registration function per source file
using KernelTable = std::map<std::string, RunFn>;
void registerElementwise(KernelTable &t);   // Elementwise.cu
void registerNormalization(KernelTable &t); // Normalization.cu (softmax, layer norm, losses,
                                            // reductions and their gradients)
void registerDataMovement(KernelTable &t);  // DataMovement.cu
void registerOptimizer(KernelTable &t);     // Optimizer.cu
void registerLinalg(KernelTable &t);        // Linalg.cu (cuBLASLt)
void registerCollectives(KernelTable &t);   // Collectives.cu

/// The CUDA implementation of `name`, or nullptr.
RunFn findCudaKernel(const std::string &name);

} // namespace ds::rt::cuda
