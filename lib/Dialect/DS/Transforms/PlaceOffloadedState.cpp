// Decides which module state lives in host memory or on NVMe (ZeRO-Offload / -Infinity).
#include "ds/Dialect/DS/IR/DSOps.h"
#include "ds/Dialect/DS/Transforms/Passes.h"

#include "llvm/ADT/DenseMap.h"

#define DEBUG_TYPE "ds-offload"

namespace mlir::ds {
#define GEN_PASS_DEF_PLACEOFFLOADEDSTATEPASS
#include "ds/Dialect/DS/Transforms/Passes.h.inc"
} // namespace mlir::ds

using namespace mlir;
using namespace mlir::ds;

namespace {
/// The memory space an offload device names ("none" is the device).
FailureOr<MemorySpace> parseOffloadDevice(StringRef device) {
  if (device == "none")
    return MemorySpace::device;
  if (device == "cpu")
    return MemorySpace::host;
  if (device == "nvme")
    return MemorySpace::nvme;
  return failure();
}

bool isOptimizerState(StateKind kind) {
  switch (kind) {
  case StateKind::master:
  case StateKind::exp_avg:
  case StateKind::exp_avg_sq:
  case StateKind::momentum_buffer:
    return true;
  default:
    return false;
  }
}

struct PlaceOffloadedStatePass
    : ds::impl::PlaceOffloadedStatePassBase<PlaceOffloadedStatePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    FailureOr<MemorySpace> optimizerSpace = parseOffloadDevice(optimizer);
    FailureOr<MemorySpace> paramSpace = parseOffloadDevice(param);
    if (failed(optimizerSpace) || failed(paramSpace)) {
      module.emitError("offload devices are none, cpu or nvme; got optimizer='")
          << optimizer << "', param='" << param << "'";
      return signalPassFailure();
    }
    if (ratio < 0 || ratio > 1) {
      module.emitError("ratio must be in [0, 1], got ") << ratio;
      return signalPassFailure();
    }
    MLIRContext *ctx = module.getContext();
    if (*optimizerSpace != MemorySpace::device) {
      // The first `ratio` of the trainable elements, in parameter order, have their
      // optimizer state offloaded.
      llvm::DenseMap<StringRef, bool> offloaded;
      int64_t total = 0, running = 0;
      for (auto p : module.getOps<ParameterOp>())
        if (!p.getFrozen())
          total += p.getTensorType().getNumElements();
      for (auto p : module.getOps<ParameterOp>()) {
        if (p.getFrozen())
          continue;
        running += p.getTensorType().getNumElements();
        offloaded[p.getSymName()] = double(running) <= ratio * double(total);
      }
      for (auto state : module.getOps<StateOp>()) {
        if (!isOptimizerState(state.getKind()) || !state.getOf() ||
            !offloaded.lookup(*state.getOf()))
          continue;
        state.setSpaceAttr(MemorySpaceAttr::get(ctx, *optimizerSpace));
        ++numOffloadedStates;
      }
    }
    if (*paramSpace == MemorySpace::device)
      return;
    int64_t inCpu = 0;
    for (auto p : module.getOps<ParameterOp>()) {
      // Only stage-3 shards move; whole (persistent) and frozen parameters stay.
      if (p.getFrozen() || !p.getShardSize())
        continue;
      MemorySpace space = *paramSpace;
      if (space == MemorySpace::nvme && inCpu + int64_t(*p.getShardSize()) <= maxInCpu) {
        space = MemorySpace::host;
        inCpu += int64_t(*p.getShardSize());
      }
      p.setSpaceAttr(MemorySpaceAttr::get(ctx, space));
      ++numOffloadedParameters;
    }
  }
};
} // namespace
