// Shared pieces of the CPU kernels: dtype dispatch, f16/bf16 staging, broadcast indexing.
#pragma once

#include "ElementwiseLoops.h"

#include "ds/runtime/Kernels.h"
#include "ds/runtime/ThreadPool.h"

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace ds::rt::cpu {

/// Loops shorter than this run on the calling thread.
constexpr int64_t kGrain = 1 << 15;

/// Input as f32: the buffer itself for f32, else converted into `tmp`.
const float *asF32(const Tensor &t, std::vector<float> &tmp);
/// Destination f32 storage for `t`: the buffer itself for f32, else `tmp` (then storeF32).
float *outF32(const Tensor &t, std::vector<float> &tmp);
/// Converts `src` (numel f32 values) into `t` unless src already is t's storage.
void storeF32(const float *src, const Tensor &t);

/// Runs `kernel` on `c` without its trailing accumulated-into inputs (c.in[first], ...),
/// computing output accOut[k] into scratch and then writing out[accOut[k]] = in[first + k] +
/// that scratch, rounded as the add kernel rounds (f16/bf16: the f32 sum rounded once), so
/// that the result is the unfused kernel's and then add's bits. An output may be its acc's
/// bytes. Float dtypes only.
void runAccumulating(KernelCall &c, size_t first, std::initializer_list<size_t> accOut,
                     void (*kernel)(KernelCall &));
/// r = acc + v elementwise (one shape and float dtype), rounded as the add kernel rounds:
/// runAccumulating's and multi_add's arithmetic. r may be acc's bytes.
void accumulate(const Tensor &acc, const Tensor &v, const Tensor &r);

/// reduce_sum's arithmetic (f64 accumulation in index order, f16/bf16 through f32) over
/// `axes` of x into r: what a gemm's bias gradient computes.
void sumOverAxes(const Tensor &x, const std::vector<int64_t> &axes, const Tensor &r);

/// Element strides of a row-major shape.
std::vector<int64_t> contiguousStrides(const std::vector<int64_t> &shape);
/// Strides of `in` viewed in the broadcast result shape `out` (0 on broadcast dims).
std::vector<int64_t> broadcastStrides(const std::vector<int64_t> &in,
                                      const std::vector<int64_t> &out);

/// Calls fn(rowOffsets, innerCount, innerStrides) for every row of the result shape `out`
/// (all dims but the last), where rowOffsets[k] is operand k's element offset of the row's
/// first element. Rows are split across threads.
template <size_t N, typename Fn>
void forEachRow(const std::vector<int64_t> &out, const std::vector<int64_t> (&strides)[N],
                Fn fn) {
  int64_t inner = out.empty() ? 1 : out.back();
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < out.size(); ++i)
    rows *= out[i];
  if (inner == 0 || rows == 0)
    return;
  int64_t innerStride[N];
  for (size_t k = 0; k < N; ++k)
    innerStride[k] = out.empty() ? 0 : strides[k].back();
  parallelFor(rows, std::max<int64_t>(1, kGrain / inner), [&](int64_t b, int64_t e) {
    int64_t off[N];
    for (int64_t row = b; row < e; ++row) {
      int64_t rem = row;
      for (size_t k = 0; k < N; ++k)
        off[k] = 0;
      for (int64_t d = int64_t(out.size()) - 2; d >= 0; --d) {
        int64_t i = rem % out[size_t(d)];
        rem /= out[size_t(d)];
        for (size_t k = 0; k < N; ++k)
          off[k] += i * strides[k][size_t(d)];
      }
      fn(off, inner, innerStride);
    }
  });
}

/// Calls body(in, out) with T = double for f64 kernels and T = float otherwise (f32 sums
/// accumulate in f64 inside the bodies); float
/// operands are handed over as T pointers (f16/bf16 converted), integer operands as nullptr
/// (kernels read them from c.in). Outputs are written back after the body.
template <typename Body> void floatCall(KernelCall &c, Body body) {
  if (c.out[0].dtype == ds::plan::F64) {
    std::vector<const double *> in;
    std::vector<double *> out;
    for (const Tensor &t : c.in)
      in.push_back(isFloat(t.dtype) ? t.as<double>() : nullptr);
    for (const Tensor &t : c.out)
      out.push_back(t.as<double>());
    body(in, out);
    return;
  }
  std::vector<std::vector<float>> tin(c.in.size()), tout(c.out.size());
  std::vector<const float *> in;
  std::vector<float *> out;
  for (size_t i = 0; i < c.in.size(); ++i)
    in.push_back(isFloat(c.in[i].dtype) ? asF32(c.in[i], tin[i]) : nullptr);
  for (size_t i = 0; i < c.out.size(); ++i)
    out.push_back(outF32(c.out[i], tout[i]));
  body(in, out);
  for (size_t i = 0; i < c.out.size(); ++i)
    storeF32(out[i], c.out[i]);
}

/// r[i] = e^x[i] for i in [0, n) (r may be x), for the kernels that exponentiate rows
/// (softmax, the loss, attention): f32 through the instruction set's ElementwiseLoops (within
/// 1 ulp, the exp kernel's bits), f64 through libm. Made once per kernel call (the choice of
/// loops takes a lock).
struct ExpLoop {
  UnaryLoop f32 = elementwiseLoops().exp;
  void operator()(const float *x, float *r, int64_t n) const { f32(x, r, n); }
  void operator()(const double *x, double *r, int64_t n) const;
};

/// Element i of an i64 or i32 index tensor.
inline int64_t indexAt(const Tensor &t, int64_t i) {
  return t.dtype == ds::plan::I64 ? t.as<int64_t>()[i] : int64_t(t.as<int32_t>()[i]);
}

// Kernel entry points: the catalogue's `run` functions (KernelCatalogue.def), defined in the
// family files, mirrored by lib/cuda (Elementwise, Linalg, Normalization, Loss, Reduction,
// DataMovement, Optimizer; the collectives in comm/CollectiveKernels.cpp).
#define DS_KERNEL(Id, name, S, inputs, outputs, inPlace, Stream, Backends, check, run, summary) \
  void run(KernelCall &c);
#include "ds/runtime/KernelCatalogue.def"

/// The dropout keep-mask bit stream (see README.md: counter-based, reproducible).
uint64_t dropoutBits(uint64_t seed, uint64_t counter, uint64_t index);

} // namespace ds::rt::cpu
