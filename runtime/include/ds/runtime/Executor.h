// Runs a validated plan's programs on the CPU backend of one rank.
#pragma once

#include "ds/runtime/Communicator.h"
#include "ds/runtime/Plan.h"

#include <memory>

namespace ds::rt {

class Executor {
public:
  /// Allocates the arena and persistent region (zeroed) and binds every buffer. Throws Error
  /// when a kernel has no CPU implementation or memory cannot be allocated.
  Executor(const LoadedPlan &plan, Communicator &comm);
  ~Executor();
  Executor(const Executor &) = delete;
  Executor &operator=(const Executor &) = delete;

  /// Executes program `index` in order. Errors name the program and instruction.
  void run(int index);
  /// Runs the program with this role; returns false when the plan has none.
  bool runRole(ds::plan::Program::Role role);

  /// The bytes of a buffer by id.
  Tensor tensor(uint32_t id) const;
  /// Highest arena byte (offset + size) touched by any executed instruction so far.
  uint64_t measuredPeakBytes() const { return measuredPeak_; }
  const LoadedPlan &plan() const { return plan_; }

private:
  const LoadedPlan &plan_;
  ExecContext ctx_;
  char *arena_ = nullptr, *persistent_ = nullptr;
  std::vector<void *> data_; // per dense buffer index
  std::vector<std::vector<RunFn>> kernels_;
  // Per program, per instruction: the arena end it touches (0 if none).
  std::vector<std::vector<uint64_t>> touchEnd_;
  uint64_t measuredPeak_ = 0;
};

} // namespace ds::rt
