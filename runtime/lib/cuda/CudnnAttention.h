// cuDNN's fused SDPA (frontend graph API) for attention / attention_grad instructions.
#pragma once

#include "ds/runtime/Kernels.h"
#include "ds/runtime/Plan.h"

#include <cuda_runtime.h>

#include <memory>
#include <string>

namespace ds::rt::cuda {

/// One attention or attention_grad instruction as a cuDNN graph, built and planned at load;
/// instructions with the same shapes, dtype, mask layout, scale and causal flag share one.
class CudnnAttention;
using CudnnAttentionPtr = std::shared_ptr<const CudnnAttention>;

/// The cuDNN graph for instruction k of `program` (kernel attention, attention_grad or
/// their packed forms), or null with the reason in `why`: cuDNN missing (libcudnn.so.9
/// not loadable, or the plugin built without the frontend headers), turned off
/// (DS_CUDNN_ATTENTION=0), or the instruction outside what cuDNN runs (f32/f64, a boolean
/// mask or one broadcast over rows or columns, dropout, or a shape cuDNN's heuristics
/// refuse). Call after cudaSetDevice.
CudnnAttentionPtr buildCudnnAttention(const LoadedPlan &plan, int program, int k,
                                      std::string &why);

/// Enqueues the graph on `stream` with the call's operands. Throws Error.
void runCudnnAttention(const CudnnAttention &a, KernelCall &c, cudaStream_t stream);

/// "cuDNN 9.19.0 (frontend 1.32.0)", or why cuDNN is not available.
std::string cudnnDescription();

} // namespace ds::rt::cuda
