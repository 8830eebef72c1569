// The CUDA backend's executor, as the plugin entry (CudaPlugin.cpp) creates it.
#pragma once

#include "ds/runtime/Communicator.h"
#include "ds/runtime/CudaPluginApi.h"
#include "ds/runtime/ExecutorBase.h"

#include <memory>

namespace ds::rt::cuda {

/// Allocates the plan's regions on the device (the host region pinned), creates the streams
/// and the device communicator over `host`. Throws Error; refuses plans with an NVMe region.
std::unique_ptr<ExecutorBase> makeCudaExecutor(const LoadedPlan &plan, Communicator &host,
                                               const ds_cuda_options &opt);

} // namespace ds::rt::cuda
