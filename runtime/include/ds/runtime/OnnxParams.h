// Loading plan parameters from the ONNX model's initializers (inline or external data).
#pragma once

#include "ds/runtime/ExecutorBase.h"

namespace onnx {
class ModelProto;
}

namespace ds::rt {

/// Reads and decodes the ONNX model at `path` into `model` (no size limit beyond protobuf's
/// 2 GiB; external data stays on disk). Throws Error naming the file.
void readOnnxModel(const std::string &path, onnx::ModelProto &model);

/// The name and dims of every initializer of the ONNX model at `path`, in file order.
std::vector<std::pair<std::string, std::vector<int64_t>>>
onnxInitializerShapes(const std::string &path);

/// Fills every parameter buffer of `exec` from the initializers of plan.modelPath: the whole
/// tensor for FULL, this rank's zero-padded flat shard for FLAT_1D (only that byte range is
/// read from external data). Checks dtype and shape against the plan; throws Error naming the
/// parameter and file.
void loadParameters(const LoadedPlan &plan, ExecutorBase &exec, int rank, int worldSize);

} // namespace ds::rt
