// Shared pieces of the CPU kernels: dtype dispatch, f16/bf16 staging, broadcast indexing.
#pragma once

#include "ds/runtime/Kernels.h"
#include "ds/runtime/ThreadPool.h"

#include <cstdint>
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

// Kernel entry points: the catalogue's `run` functions (KernelCatalogue.def), defined in the
// family files (Elementwise, Linalg, Normalization, Reduction, DataMovement, Backward,
// Optimizer; comm/CollectiveKernels.cpp).
#define DS_KERNEL(Id, name, S, inputs, outputs, inPlace, Stream, Backends, check, run, summary) \
  void run(KernelCall &c);
#include "ds/runtime/KernelCatalogue.def"

/// The dropout keep-mask bit stream (see README.md: counter-based, reproducible).
uint64_t dropoutBits(uint64_t seed, uint64_t counter, uint64_t index);

} // namespace ds::rt::cpu
