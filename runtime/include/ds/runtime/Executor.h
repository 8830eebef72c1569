// Runs a validated plan's programs on the CPU backend of one rank.
#pragma once

#include "ds/runtime/Communicator.h"
#include "ds/runtime/Plan.h"

#include <memory>

namespace ds::rt {

/// What ds-run drives: one rank's executor on some backend (CPU here, CUDA in the plugin).
/// Buffers are reached through upload/download, which copy the whole buffer.
class ExecutorBase {
public:
  virtual ~ExecutorBase() = default;
  /// Executes program `index` (asynchronously on devices: downloads wait for it).
  virtual void run(int index) = 0;
  /// Runs the program with this role; returns false when the plan has none.
  bool runRole(ds::plan::Program::Role role) {
    int p = plan().program(role);
    if (p < 0)
      return false;
    run(p);
    return true;
  }
  /// Runs instruction k of program p alone and waits for it (kernel verification).
  virtual void runInstruction(int program, int k) = 0;
  /// Copies host bytes (the buffer's full size) into buffer `id`.
  virtual void upload(uint32_t id, const void *src) = 0;
  /// Copies buffer `id` (its full size) to host memory, after all queued work.
  virtual void download(uint32_t id, void *dst) = 0;
  /// Highest arena byte (offset + size) touched by any executed instruction so far.
  virtual uint64_t measuredPeakBytes() const = 0;
  /// "cpu", "cuda (NVIDIA H200, nccl)", ...
  virtual std::string describe() const = 0;
  virtual const LoadedPlan &plan() const = 0;
};

class Executor : public ExecutorBase {
public:
  /// Allocates the arena and persistent region (zeroed) and binds every buffer. Throws Error
  /// when a kernel has no CPU implementation or memory cannot be allocated.
  Executor(const LoadedPlan &plan, Communicator &comm);
  ~Executor();
  Executor(const Executor &) = delete;
  Executor &operator=(const Executor &) = delete;

  /// Executes program `index` in order. Errors name the program and instruction.
  void run(int index) override;
  void runInstruction(int program, int k) override;
  void upload(uint32_t id, const void *src) override;
  void download(uint32_t id, void *dst) override;
  std::string describe() const override { return "cpu"; }

  /// The bytes of a buffer by id.
  Tensor tensor(uint32_t id) const;
  /// Highest arena byte (offset + size) touched by any executed instruction so far.
  uint64_t measuredPeakBytes() const override { return measuredPeak_; }
  const LoadedPlan &plan() const override { return plan_; }

private:
  const LoadedPlan &plan_;
  ExecContext ctx_;
  char *arena_ = nullptr, *persistent_ = nullptr;
  std::vector<void *> data_; // per dense buffer index
  std::vector<std::vector<RunFn>> kernels_;
  // Per program, per instruction: the arena end it touches (0 if none).
  std::vector<std::vector<uint64_t>> touchEnd_;
  uint64_t measuredPeak_ = 0;
  void runOne(int index, int k);
};

} // namespace ds::rt
