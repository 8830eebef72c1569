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

// Kernel entry points, grouped by file.
void runBinary(KernelCall &c);
void runCompare(KernelCall &c);
void runWhere(KernelCall &c);
void runUnary(KernelCall &c);
void runCast(KernelCall &c);
void runDropout(KernelCall &c);
void runMatmul(KernelCall &c);
void runGemm(KernelCall &c);
void runSoftmax(KernelCall &c);
void runLayerNorm(KernelCall &c);
void runLoss(KernelCall &c);
void runReduce(KernelCall &c);
void runReshape(KernelCall &c);
void runTranspose(KernelCall &c);
void runGather(KernelCall &c);
void runSlice(KernelCall &c);
void runSplit(KernelCall &c);
void runConcat(KernelCall &c);
void runExpand(KernelCall &c);
void runTrilu(KernelCall &c);
void runConstant(KernelCall &c);
void runCopy(KernelCall &c);
void runFill(KernelCall &c);
void runAssertClose(KernelCall &c);
void runCollective(KernelCall &c);
// Backward.cpp
void runSoftmaxGrad(KernelCall &c);
void runGeluGrad(KernelCall &c);
void runLayerNormGrad(KernelCall &c);
void runGatherGrad(KernelCall &c);
void runSliceGrad(KernelCall &c);
void runLossGrad(KernelCall &c);
// Optimizer.cpp
void runAdamUpdate(KernelCall &c);
void runLambUpdate(KernelCall &c);
void runSgdUpdate(KernelCall &c);
void runLrSchedule(KernelCall &c);
void runAllFinite(KernelCall &c);
void runLossScaleUpdate(KernelCall &c);

/// The dropout keep-mask bit stream (see README.md: counter-based, reproducible).
uint64_t dropoutBits(uint64_t seed, uint64_t counter, uint64_t index);

} // namespace ds::rt::cpu
