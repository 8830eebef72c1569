// ds-run --verify-kernels: every instruction on a device backend and on the CPU, compared.
#pragma once

#include "ds/runtime/CpuExecutor.h"
#include "ds/runtime/ExecutorBase.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ds::rt {

/// Runs each instruction on the device executor and on the CPU from the same inputs (the
/// device's), compares every output, reports mismatches by instruction on stderr (the first 3
/// per kernel) and feeds the CPU's result back to the device so one wrong kernel does not
/// hide the others. Both executors run the same plan.
class KernelVerifier {
public:
  KernelVerifier(ExecutorBase &device, CpuExecutor &cpu, int rank)
      : dev_(device), cpu_(cpu), rank_(rank) {}
  /// Runs program `p` instruction by instruction on both executors.
  void run(int p);
  int64_t mismatches() const { return mismatches_; }
  int64_t checked() const { return checked_; }

  /// "" when `device` matches `cpu`, else a one-line description of the worst difference.
  /// Floats: max |d - c| within a dtype tolerance of max |c| (f32 2e-4, f64 1e-9, f16 2e-3,
  /// bf16 1.6e-2), NaN and inf in the same places; integers and booleans exactly.
  static std::string compare(const Tensor &device, const Tensor &cpu);

private:
  ExecutorBase &dev_;
  CpuExecutor &cpu_;
  int rank_;
  int64_t mismatches_ = 0, checked_ = 0;
  std::map<std::string, int> reported_;
  std::vector<char> a_, b_;
};

} // namespace ds::rt
