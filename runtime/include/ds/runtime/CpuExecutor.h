// The CPU backend's executor: runs a validated plan's programs in order on one rank.
#pragma once

#include "ds/runtime/Communicator.h"
#include "ds/runtime/ExecutorBase.h"
#include "ds/runtime/Plan.h"

#include <memory>

namespace ds::rt {

class CpuExecutor : public ExecutorBase {
public:
  /// Allocates the arena, persistent and host regions (zeroed) and binds every buffer. Throws
  /// Error when a kernel has no CPU implementation, the plan has an NVMe region or memory
  /// cannot be allocated.
  CpuExecutor(const LoadedPlan &plan, Communicator &comm);
  ~CpuExecutor();
  CpuExecutor(const CpuExecutor &) = delete;
  CpuExecutor &operator=(const CpuExecutor &) = delete;

  /// Executes program `index` in order. Errors name the program and instruction.
  void run(int index) override;
  void runInstruction(int program, int k) override;
  void upload(uint32_t id, const void *src) override;
  void download(uint32_t id, void *dst) override;
  std::string describe() const override { return "cpu"; }
  void setRunCounter(uint64_t runs) override { ctx_.runCounter = runs; }

  /// The bytes of a buffer by id.
  Tensor tensor(uint32_t id) const;
  /// Highest arena byte (offset + size) touched by any executed instruction so far.
  uint64_t measuredPeakBytes() const override { return measuredPeak_; }
  const LoadedPlan &plan() const override { return plan_; }

private:
  const LoadedPlan &plan_;
  ExecContext ctx_;
  char *arena_ = nullptr, *persistent_ = nullptr, *host_ = nullptr;
  std::vector<void *> data_; // per dense buffer index
  std::vector<std::vector<RunFn>> kernels_;
  // Per program, per instruction: the arena end it touches (0 if none).
  std::vector<std::vector<uint64_t>> touchEnd_;
  uint64_t measuredPeak_ = 0;
  void runOne(int index, int k);
  /// The region a placement names (NVME has none: such plans are refused).
  char *regionBase(ds::plan::Placement placement) const;
};

} // namespace ds::rt
