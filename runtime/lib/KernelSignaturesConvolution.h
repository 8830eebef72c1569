// Load-time shape and dtype rules of the convolution, batch normalization and pooling
// kernels.
#pragma once

#include "ds/runtime/Kernels.h"
#include "ds/runtime/WindowGeometry.h"

namespace ds::rt {
void checkConv(const CheckContext &c);
void checkConvGradInput(const CheckContext &c);
void checkConvGradFilter(const CheckContext &c);
void checkBatchNorm(const CheckContext &c);
void checkBatchNormGrad(const CheckContext &c);
void checkPool(const CheckContext &c);
void checkPoolGrad(const CheckContext &c);

/// The window dims of a conv (kernel sizes from the weight) or pool instruction whose
/// input is `x`; throws Error on bad attributes.
std::vector<WindowDim> convWindow(const ConvAttrs &a, const std::vector<int64_t> &x,
                                  const std::vector<int64_t> &w);
std::vector<WindowDim> poolWindow(const PoolAttrs &a, const std::vector<int64_t> &x);
} // namespace ds::rt
