// ds-run --init-weights FILE.safetensors: parameters from a safetensors file by
// initializer name.
#pragma once

#include "ds/runtime/ExecutorBase.h"

#include <string>

namespace ds::rt {

/// Fills every parameter buffer from the tensor of `path` named like its ONNX
/// initializer: the whole tensor (FULL) or this rank's zero-padded flat shard (FLAT_1D);
/// f32 tensors fill f16/bf16 buffers rounded to nearest even. Every tensor must have the
/// initializer's shape (from plan.modelPath) and the buffer's dtype (or f32 for a 16-bit
/// buffer), and the file must hold exactly the plan's initializers: otherwise throws one
/// Error naming the file and listing every missing, extra, mis-shaped and mis-typed
/// tensor.
void loadInitWeights(const LoadedPlan &plan, const std::string &path, ExecutorBase &exec,
                     int rank, int worldSize);

} // namespace ds::rt
