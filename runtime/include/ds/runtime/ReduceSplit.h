// How the CUDA reductions (reduce_sum/mean/max, runtime/lib/cuda/Reduction.cu) split a
// reduced extent over several blocks or threads per output, which then takes a second
// (final) launch; the cost report counts launches by the same rule (lib/Target/KernelCost.cpp).
#pragma once

#include <algorithm>
#include <cstdint>

namespace ds::rt {

struct ReduceSplit {
  /// One block per output (the innermost non-1 dim of x is reduced and long enough), else
  /// one thread per output.
  bool blockVariant = false;
  /// Partial reductions per output: 1 is one launch, more a partials launch and a final one.
  int64_t parts = 1;
};

/// `outCount` outputs of `redCount` elements each on a GPU of `sms` multiprocessors: split
/// when there are fewer outputs than 4 blocks (1024 threads) per SM and each output sums
/// more than 8192 (256) elements, into parts of at least 4096 (128) elements.
inline ReduceSplit reduceSplit(int64_t outCount, int64_t redCount, bool innerReduced,
                               int64_t sms) {
  auto ceilDiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  ReduceSplit s;
  s.blockVariant = innerReduced && redCount >= 32;
  sms = std::max<int64_t>(sms, 1);
  if (outCount <= 0)
    return s;
  if (s.blockVariant) {
    if (outCount < 4 * sms && redCount > 8192)
      s.parts = std::min(ceilDiv(4 * sms, outCount), ceilDiv(redCount, 4096));
  } else if (outCount < 1024 * sms && redCount > 256) {
    s.parts = std::min(ceilDiv(1024 * sms, outCount), ceilDiv(redCount, 128));
  }
  s.parts = std::max<int64_t>(s.parts, 1);
  return s;
}

} // namespace ds::rt
