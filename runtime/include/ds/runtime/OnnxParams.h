// Loading plan parameters from the ONNX model's initializers (inline or external data).
#pragma once

#include "ds/runtime/ExecutorBase.h"

namespace ds::rt {

/// Fills every parameter buffer of `exec` from the initializers of plan.modelPath: the whole
/// tensor for FULL, this rank's zero-padded flat shard for FLAT_1D (only that byte range is
/// read from external data). Checks dtype and shape against the plan; throws Error naming the
/// parameter and file.
void loadParameters(const LoadedPlan &plan, ExecutorBase &exec, int rank, int worldSize);

} // namespace ds::rt
