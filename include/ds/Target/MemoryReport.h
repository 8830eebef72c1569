// Per-rank memory of a compiled plan, and DeepSpeed's model-state estimators.
#ifndef DS_TARGET_MEMORYREPORT_H
#define DS_TARGET_MEMORYREPORT_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::ds {

/// Bytes per rank of a module after --ds-plan-memory. The categories count what lives on
/// the device; offloaded state (ZeRO-Offload / -Infinity) counts in `host` and `nvme`.
struct MemoryBreakdown {
  int64_t trainableElements = 0; // Ψ: elements of the trainable parameters
  int64_t frozenElements = 0;
  int64_t parameters = 0;   // trainable parameter storage (whole or ZeRO-3 shard)
  int64_t frozen = 0;       // frozen parameters and buffers (masks)
  int64_t gradients = 0;    // gradient accumulators
  int64_t optimizer = 0;    // moments, momentum, fp32 master shards, step counter
  int64_t arena = 0;        // activations and transients: the planned arena
  int64_t peak = 0;         // what the runtime measures: the arena high-water mark
  int64_t communication = 0; // the largest collective's operand + result bytes
  int64_t hostState = 0;    // offloaded parameters and optimizer state in host memory
  int64_t host = 0;         // the host region: hostState + the host staging arena
  int64_t nvme = 0;         // the NVMe region: offloaded state in the swap file
  int64_t modelStates() const { return parameters + gradients + optimizer; }
  /// Device bytes: model states, frozen buffers and the arena.
  int64_t total() const { return parameters + frozen + gradients + optimizer + arena; }
};

/// Reads the breakdown from a memory-planned module; fails if it has no plan.
FailureOr<MemoryBreakdown> computeMemoryBreakdown(ModuleOp planned);

/// DeepSpeed's estimate_zero2/3_model_states_mem_needs (REFERENCE.md §1), in bytes,
/// for `params` parameters on `nodes` x `gpusPerNode` GPUs; `largestLayer` is the
/// largest module's own parameter count (stage 3). Mixed precision, as DeepSpeed's
/// estimators assume; additional_buffer_factor 1.5.
struct StateEstimate {
  double gpu, cpu;
};
StateEstimate estimateZero2(int64_t params, int64_t nodes, int64_t gpusPerNode,
                            bool offloadOptimizer);
StateEstimate estimateZero3(int64_t params, int64_t largestLayer, int64_t nodes,
                            int64_t gpusPerNode, bool offloadParams,
                            bool offloadOptimizer, bool zeroInit = true);

} // namespace mlir::ds

#endif // DS_TARGET_MEMORYREPORT_H
