// Load-time shape and dtype rules of the normalization, attention and loss kernels and
// their gradients.
#pragma once

#include "ds/runtime/Kernels.h"

namespace ds::rt {
void checkSoftmax(const CheckContext &c);
void checkLayerNorm(const CheckContext &c);
void checkAttention(const CheckContext &c);
void checkAttentionGrad(const CheckContext &c);
void checkPackedAttention(const CheckContext &c);
void checkPackedAttentionGrad(const CheckContext &c);
void checkLoss(const CheckContext &c);
void checkSoftmaxGrad(const CheckContext &c);
void checkLayerNormGrad(const CheckContext &c);
void checkLossGrad(const CheckContext &c);
void checkLossWithGrad(const CheckContext &c);
} // namespace ds::rt
