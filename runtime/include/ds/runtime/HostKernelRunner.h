// ds-run's CPU side of an offloaded plan on a device backend: host- and io-stream instructions.
#pragma once

#include "ds/runtime/CudaPluginApi.h"
#include "ds/runtime/Kernels.h"
#include "ds/runtime/Plan.h"

#include <vector>

namespace ds::rt {

class SwapFile;

/// Runs a plan's host-stream instructions (the optimizer step on host buffers) and io-stream
/// instructions (swap_in / swap_out) with the CPU kernels, over a host region a device
/// executor allocated (pinned) and the rank's swap file, for the CUDA plugin's host
/// functions (the ds_host_kernels table). Calls may come from several threads at once.
class HostKernelRunner {
public:
  /// `swap` may be null when the plan has no NVMe region; it must outlive the runner.
  HostKernelRunner(const LoadedPlan &plan, int rank, int worldSize, SwapFile *swap);
  HostKernelRunner(const HostKernelRunner &) = delete;
  HostKernelRunner &operator=(const HostKernelRunner &) = delete;

  /// Runs instruction k of `program` on the CPU: HOST operands at hostRegion + offset,
  /// NVME operands in the swap file. Returns a swap_in / swap_out's ticket (its I/O is in
  /// flight until swapWait), else 0. Throws Error for a device operand or a kernel error.
  uint64_t run(int program, int k, char *hostRegion) const;
  void swapWait(uint64_t ticket) const;
  void swapRead(uint64_t offset, void *dst, uint64_t bytes) const;
  void swapWrite(uint64_t offset, const void *src, uint64_t bytes) const;

  /// The C table the plugin calls (valid while the runner lives).
  const ds_host_kernels *table() const { return &table_; }

private:
  const LoadedPlan &plan_;
  int rank_, worldSize_;
  SwapFile *swap_;
  std::vector<std::vector<RunFn>> kernels_; // CPU kernels of host/io-stream instructions
  ds_host_kernels table_{};
};

} // namespace ds::rt
