// The CUDA backend's executor, as the plugin entry (CudaPlugin.cpp) creates it.
#pragma once

#include "ds/runtime/Communicator.h"
#include "ds/runtime/CudaPluginApi.h"
#include "ds/runtime/ExecutorBase.h"

#include <memory>

namespace ds::rt::cuda {

/// Allocates the plan's regions on the device (the host region pinned), creates the streams
/// and the device communicator over `host`. Host- and io-stream instructions and NVMe
/// buffers go through `hostKernels` (ds-run's CPU kernels and swap file; null: such plans are
/// refused). Throws Error.
std::unique_ptr<ExecutorBase> makeCudaExecutor(const LoadedPlan &plan, Communicator &host,
                                               const ds_host_kernels *hostKernels,
                                               const ds_cuda_options &opt);

} // namespace ds::rt::cuda
