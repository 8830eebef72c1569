// The rank's NVMe swap file for a plan with an NVMe region (any backend).
#pragma once

#include "ds/runtime/NvmeSwap.h"
#include "ds/runtime/Plan.h"

#include <memory>

namespace ds::rt {

/// The aio settings a plan carries (defaults where it gives none).
AioConfig planAioConfig(const ds::plan::Plan &plan);

/// Null when the plan keeps nothing on NVMe; else the rank's swap file under the plan's
/// nvme_path, sized to nvme_bytes and named on ds-run's status page (so the launcher removes
/// it should the rank be killed). Throws Error naming the path (SwapFile::create).
std::unique_ptr<SwapFile> openPlanSwapFile(const ds::plan::Plan &plan, int rank);

} // namespace ds::rt
