// The cost report of a compiled plan: kernel launches, FLOPs and bytes per program and
// per step, a roofline estimate of the step time on a named GPU, and the model's floor.
#ifndef DS_TARGET_COSTREPORT_H
#define DS_TARGET_COSTREPORT_H

#include "ds/Target/KernelCost.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <string>

namespace mlir::ds {

/// Sums over the calls of one kernel (or all kernels of a program).
struct CostTotals {
  int64_t launches = 0;
  double flops = 0;
  double tensorFlops16 = 0; // tensor-core FLOPs on 16-bit inputs
  double tensorFlops32 = 0; // tensor-core FLOPs on 32-bit inputs
  double bytesRead = 0;
  double bytesWritten = 0;
  std::map<std::string, double>
      seconds; // roofline time by device name, no launch overhead
  void add(const CostTotals &other, double times);
  double tensorFlops() const { return tensorFlops16 + tensorFlops32; }
  double bytes() const { return bytesRead + bytesWritten; }
  /// Roofline time plus the launch overhead on `device`.
  double estimatedSeconds(const cost::Device &device) const;
};

struct ProgramCosts {
  std::string name, role;
  int64_t timesPerStep =
      0; // micro_step: gradient_accumulation_steps; apply_step: 1; else 0
  CostTotals total;
  std::map<std::string, CostTotals> byKernel;
};

struct CostReport {
  std::vector<ProgramCosts> programs;
  int64_t accumulation = 1;
  CostTotals perStep; // micro_step x accumulation + apply_step
  std::map<std::string, CostTotals> byKernelPerStep;
  double floorBytes = 0; // one pass over model state and activations
  double floorSeconds(const cost::Device &device) const;
};

/// Costs every dsrt.kernel of a memory-planned module. Kernels on the io and host streams
/// are not device launches and are left out.
FailureOr<CostReport> computeCostReport(ModuleOp planned);

/// The human table (for `device`) or the JSON object (every device).
void printCostReport(const CostReport &report, const cost::Device &device, bool json,
                     llvm::raw_ostream &os);

} // namespace mlir::ds

#endif // DS_TARGET_COSTREPORT_H
