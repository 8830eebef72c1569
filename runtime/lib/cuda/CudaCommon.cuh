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
class CudnnAttention; // CudnnAttention.h

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
  /// This instruction's cuDNN graph (attention / attention_grad that cuDNN runs), else null.
  const CudnnAttention *cudnnAttention = nullptr;
  void *cudnn = nullptr;            // cudnnHandle_t of this stream, when the plan has convs
  /// This instruction's generated kernel (a CUfunction of the plan's PTX), else null.
  void *generatedKernel = nullptr;
};

inline DeviceContext &dev(KernelCall &c) { return *static_cast<DeviceContext *>(c.ctx.device); }
inline cudaStream_t stream(KernelCall &c) { return dev(c).stream; }

/// Throws Error("<expr>: <cuda error string>") when e is not cudaSuccess.
void checkCuda(cudaError_t e, const char *expr);
#define DS_CUDA(x) ::ds::rt::cuda::checkCuda((x), #x)
/// After a kernel launch: reports launch errors (bad configuration) as Error.
#define DS_CUDA_LAUNCH() ::ds::rt::cuda::checkCuda(cudaGetLastError(), "kernel launch")

/// A cuDNN handle (Convolution.cu), created once per stream for plans with convolutions.
void *createCudnnHandle();
void destroyCudnnHandle(void *handle);

/// Scratch of at least `bytes` from the context; throws Error when the scratch is too small.
void *scratch(KernelCall &c, size_t bytes);

/// `bytes` of host data (a kernel's descriptor table) at the start of the device scratch,
/// of which the caller uses `scratchBytes` in all: copied from a pinned host buffer kept per
/// instruction (rewritten only when the contents change), so that the copy is
/// stream-ordered and capturable. One cudaMemcpyAsync.
void *uploadDescriptors(KernelCall &c, const void *data, size_t bytes, size_t scratchBytes);

/// reduce_sum's arithmetic (Reduction.cu) over `axes` of x into r, on c's stream and
/// scratch: the fallback of gemm's bias gradient.
void sumOverAxes(KernelCall &c, const Tensor &x, const std::vector<int64_t> &axes,
                 const Tensor &r);

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

// Dispatch on a dtype: `T` is the element type in the body (a statement list).
#define DS_CASE(DTV, TY, T, ...)                                                               \
  case ds::plan::DTV: { using T = TY; __VA_ARGS__; } break;
#define DS_FLOAT_CASES(T, ...)                                                                 \
  DS_CASE(F32, float, T, __VA_ARGS__) DS_CASE(F64, double, T, __VA_ARGS__)                     \
  DS_CASE(F16, __half, T, __VA_ARGS__) DS_CASE(BF16, __nv_bfloat16, T, __VA_ARGS__)
#define DS_NUMERIC_CASES(T, ...)                                                               \
  DS_FLOAT_CASES(T, __VA_ARGS__)                                                               \
  DS_CASE(I64, int64_t, T, __VA_ARGS__) DS_CASE(I32, int32_t, T, __VA_ARGS__)
#define DS_DISPATCH_DEFAULT(DT)                                                                \
  default: ::ds::rt::fail("unsupported dtype ", ::ds::rt::dtypeName(DT));
/// Floating dtypes: float, double, __half, __nv_bfloat16.
#define DS_DISPATCH_FLOAT(DT, T, ...)                                                          \
  switch (DT) { DS_FLOAT_CASES(T, __VA_ARGS__) DS_DISPATCH_DEFAULT(DT) }
/// Floating and integer dtypes (no i1).
#define DS_DISPATCH_NUMERIC(DT, T, ...)                                                        \
  switch (DT) { DS_NUMERIC_CASES(T, __VA_ARGS__) DS_DISPATCH_DEFAULT(DT) }
/// Any dtype; i1 is bool (one byte holding 0 or 1).
#define DS_DISPATCH_ALL(DT, T, ...)                                                            \
  switch (DT) { DS_NUMERIC_CASES(T, __VA_ARGS__) DS_CASE(I1, bool, T, __VA_ARGS__)            \
                DS_DISPATCH_DEFAULT(DT) }
/// Any dtype; i1 is uint8_t (read as "nonzero" where the CPU reads it so).
#define DS_DISPATCH_ALL_BYTES(DT, T, ...)                                                      \
  switch (DT) { DS_NUMERIC_CASES(T, __VA_ARGS__) DS_CASE(I1, uint8_t, T, __VA_ARGS__)         \
                DS_DISPATCH_DEFAULT(DT) }

/// Non-contracted IEEE arithmetic: every operation rounded as the CPU's (x86-64, no FMA)
/// code rounds it, so f32 results can agree bit for bit.
__device__ __forceinline__ float addR(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float subR(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ float mulR(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float divR(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ float sqrtR(float a) { return __fsqrt_rn(a); }
__device__ __forceinline__ double addR(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ double subR(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ double mulR(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double divR(double a, double b) { return __ddiv_rn(a, b); }
__device__ __forceinline__ double sqrtR(double a) { return __dsqrt_rn(a); }

/// Dispatch on the element size: `E` is an unsigned integer of the dtype's size in the body
/// (for kernels that only move bits).
#define DS_DISPATCH_BY_SIZE(DT, E, ...)                                                        \
  switch (::ds::rt::dtypeSize(DT)) {                                                           \
  case 1: { using E = uint8_t; __VA_ARGS__; } break;                                           \
  case 2: { using E = uint16_t; __VA_ARGS__; } break;                                          \
  case 4: { using E = uint32_t; __VA_ARGS__; } break;                                          \
  case 8: { using E = uint64_t; __VA_ARGS__; } break;                                          \
  default: ::ds::rt::fail("unsupported dtype ", ::ds::rt::dtypeName(DT));                      \
  }

/// Bytes of a tensor.
inline size_t bytesOf(const Tensor &t) { return size_t(t.numel) * dtypeSize(t.dtype); }

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

// ---- kernels: the catalogue's `run` functions (KernelCatalogue.def), defined in the family
// files, mirrored by lib/cpu (Elementwise, Linalg, Normalization, Reduction, DataMovement,
// Optimizer, Collectives).
#define DS_KERNEL(Id, name, S, inputs, outputs, inPlace, Stream, Backends, check, run, summary) \
  void run(KernelCall &c);
#include "ds/runtime/KernelCatalogue.def"

/// The CUDA implementation of a kernel, or nullptr.
RunFn findCudaKernel(KernelId id);
/// The CUDA implementation of `name`, or nullptr.
RunFn findCudaKernel(const std::string &name);

} // namespace ds::rt::cuda
