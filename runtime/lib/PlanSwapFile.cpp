// Opens a plan's NVMe swap file with its aio settings and names it on the rank's status page.
#include "ds/runtime/PlanSwapFile.h"

#include "ds/runtime/JobLifetime.h"

#include <algorithm>
#include <cstring>

namespace ds::rt {

AioConfig planAioConfig(const ds::plan::Plan &p) {
  AioConfig cfg;
  const auto &io = p.io();
  if (io.block_size())
    cfg.blockSize = io.block_size();
  if (io.queue_depth())
    cfg.queueDepth = io.queue_depth();
  if (io.thread_count())
    cfg.threadCount = std::min(io.thread_count(), 64u);
  if (p.has_io()) {
    cfg.singleSubmit = io.single_submit();
    cfg.overlapEvents = io.overlap_events();
  }
  return cfg;
}

std::unique_ptr<SwapFile> openPlanSwapFile(const ds::plan::Plan &p, int rank) {
  if (p.nvme_bytes() == 0)
    return nullptr;
  const std::string &dir = p.io().nvme_path();
  if (dir.empty())
    fail("the plan keeps ", p.nvme_bytes(),
         " bytes per rank on NVMe but names no nvme_path (offload_*.nvme_path)");
  auto swap = SwapFile::create(dir, rank, p.nvme_bytes(), planAioConfig(p));
  // The launcher removes it should this rank be killed (ds-run's status page).
  if (RankStatus *status = rankStatus()) {
    const std::string &path = swap->path();
    size_t n = std::min(path.size(), sizeof(status->swapFile) - 1);
    std::memcpy(status->swapFile, path.data(), n);
    status->swapFile[n] = '\0';
  }
  return swap;
}

} // namespace ds::rt
