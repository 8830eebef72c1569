// The CPU backend's executor: runs a validated plan's programs in order on one rank.
#pragma once

#include "ds/runtime/Communicator.h"
#include "ds/runtime/ExecutorBase.h"
#include "ds/runtime/NvmeSwap.h"
#include "ds/runtime/Plan.h"

#include <memory>

namespace ds::rt {

class CpuExecutor : public ExecutorBase {
public:
  /// Allocates the arena, persistent and host regions (zeroed), creates the rank's NVMe
  /// swap file when the plan has an NVMe region, and binds every buffer. Throws Error
  /// when a kernel has no CPU implementation, the swap file cannot be made (naming the
  /// path) or memory cannot be allocated.
  CpuExecutor(const LoadedPlan &plan, Communicator &comm);
  ~CpuExecutor();
  CpuExecutor(const CpuExecutor &) = delete;
  CpuExecutor &operator=(const CpuExecutor &) = delete;

  /// Executes program `index` in order. Errors name the program and instruction.
  void run(int index) override;
  void runInstruction(int program, int k) override;
  void upload(uint32_t id, const void *src) override;
  void download(uint32_t id, void *dst) override;
  char *hostBytes(uint32_t id) override;
  std::string describe() const override { return "cpu"; }
  void setRunCounter(uint64_t runs) override { ctx_.runCounter = runs; }
  bool startPhaseTiming(const std::vector<int> &splits) override;
  std::vector<PhaseSeconds> takePhaseSeconds() override;

  /// The bytes of a buffer by id.
  Tensor tensor(uint32_t id) const;
  /// Highest arena byte (offset + size) touched by any executed instruction so far.
  uint64_t measuredPeakBytes() const override { return measured_.arena; }
  uint64_t measuredHostBytes() const override { return measured_.host; }
  uint64_t measuredNvmeBytes() const override { return measured_.nvme; }
  const LoadedPlan &plan() const override { return plan_; }

private:
  const LoadedPlan &plan_;
  ExecContext ctx_;
  char *arena_ = nullptr, *persistent_ = nullptr, *host_ = nullptr;
  std::vector<void *> data_; // per dense buffer index
  std::vector<std::vector<RunFn>> kernels_;
  /// The highest byte (offset + size) of each region an instruction touches (0: none).
  struct RegionEnds {
    uint64_t arena = 0, host = 0, nvme = 0;
    void raise(const RegionEnds &o);
  };
  // Per program, per instruction.
  std::vector<std::vector<RegionEnds>> touchEnd_;
  RegionEnds measured_;
  std::unique_ptr<SwapFile> swap_;
  // wall_clock_breakdown: per program, the split instruction, which instructions are
  // collectives, and the seconds so far (empty: not timing).
  std::vector<int> splits_;
  std::vector<std::vector<bool>> isCollective_;
  std::vector<PhaseSeconds> seconds_;
  // DS_CPU_PROFILE=1: seconds and calls per program, per instruction (empty: off), printed
  // by kernel name and by kernel and operands when the executor ends.
  std::vector<std::vector<double>> profileSeconds_;
  std::vector<std::vector<int64_t>> profileCalls_;
  void printProfile() const;
  void runOne(int index, int k);
  /// The bytes of the buffer at dense index i (an NVMe one: its swap-file offset).
  Tensor tensorAt(size_t i) const;
  /// Waits for the swaps in flight that read or write the host bytes of instruction k of
  /// program `index` (all of them when k < 0).
  void waitForSwaps(int index, int k);
  /// The region a placement names (NVME has none: its bytes are in the swap file).
  char *regionBase(ds::plan::Placement placement) const;
};

} // namespace ds::rt
