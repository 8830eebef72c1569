// Per-rank memory breakdown of a planned module, and DeepSpeed's estimator formulas.
#include "ds/Target/MemoryReport.h"
#include "ds/Dialect/DS/IR/DSDialect.h"
#include "ds/Dialect/Runtime/IR/ByteSize.h"
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <cmath>

using namespace mlir;
using namespace mlir::ds;

FailureOr<MemoryBreakdown> mlir::ds::computeMemoryBreakdown(ModuleOp module) {
  auto arena = module->getAttrOfType<IntegerAttr>(dsrt::kArenaBytesAttr);
  auto peak = module->getAttrOfType<IntegerAttr>(dsrt::kPeakBytesAttr);
  if (!arena || !peak)
    return module.emitError("no memory plan: run --ds-plan-memory first");
  MemoryBreakdown m;
  m.arena = arena.getInt();
  m.peak = peak.getInt();
  // Every count is overflow-checked: an overflow is an error naming the tensor, never a
  // wrapped number in the report.
  auto add = [](int64_t &sum, int64_t value) {
    std::optional<int64_t> r = dsrt::checkedAddBytes(sum, value);
    if (r)
      sum = *r;
    return r.has_value();
  };
  // Trainable elements count every parameter, wherever it lives.
  for (auto global : module.getOps<dsrt::GlobalOp>())
    if (global.getInitializer() && global.getSpace() != dsrt::MemorySpace::device) {
      int64_t elements = global.getShardOf() ? *global.getShardOf()
                                             : global.getMemRefType().getNumElements();
      if (!add(global.getTrainable() ? m.trainableElements : m.frozenElements, elements))
        return global.emitError("parameter counts overflow 64 bits");
    }
  if (auto host = module->getAttrOfType<IntegerAttr>(dsrt::kHostBytesAttr))
    m.host = host.getInt();
  if (auto nvme = module->getAttrOfType<IntegerAttr>(dsrt::kNvmeBytesAttr))
    m.nvme = nvme.getInt();
  for (auto global : module.getOps<dsrt::GlobalOp>()) {
    std::optional<int64_t> bytes = dsrt::getCheckedByteSize(global.getMemRefType());
    if (!bytes)
      return global.emitError("global @")
             << global.getSymName() << " of type " << global.getMemRefType()
             << " has more bytes than a 64-bit count holds";
    bool ok;
    if (global.getSpace() == dsrt::MemorySpace::host)
      ok = add(m.hostState, *bytes);
    else if (global.getSpace() == dsrt::MemorySpace::nvme)
      ok = true; // the NVMe region's size is the module's
    else if (global.getInitializer()) {
      // A parameter: whole, or this rank's flat shard of a tensor of shard_of elements.
      int64_t elements = global.getShardOf() ? *global.getShardOf()
                                             : global.getMemRefType().getNumElements();
      if (global.getTrainable())
        ok = add(m.parameters, *bytes) && add(m.trainableElements, elements);
      else
        ok = add(m.frozen, *bytes) && add(m.frozenElements, elements);
    } else {
      auto kind = global->getAttrOfType<StateKindAttr>(kStateKindAttr);
      ok = add(kind && kind.getValue() == StateKind::grad ? m.gradients : m.optimizer, *bytes);
    }
    if (!ok)
      return global.emitError("adding global @")
             << global.getSymName() << " (" << *bytes
             << " bytes) overflows the 64-bit per-rank byte count";
  }
  WalkResult walk = module.walk([&](dsrt::KernelOp kernel) {
    if (kernel.getStream() != dsrt::Stream::comm)
      return WalkResult::advance();
    int64_t bytes = 0;
    for (Value v : kernel->getOperands()) {
      std::optional<int64_t> b = dsrt::getCheckedByteSize(cast<ShapedType>(v.getType()));
      if (!b || !add(bytes, *b)) {
        kernel.emitError("the operands of this collective (type ")
            << v.getType() << ") have more bytes than a 64-bit count holds";
        return WalkResult::interrupt();
      }
    }
    m.communication = std::max(m.communication, bytes);
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  int64_t total = 0;
  if (!add(total, m.parameters) || !add(total, m.frozen) || !add(total, m.gradients) ||
      !add(total, m.optimizer) || !add(total, m.arena))
    return module.emitError("the per-rank total of parameters, gradients, optimizer states "
                            "and arena overflows a 64-bit byte count");
  return m;
}

StateEstimate mlir::ds::estimateZero2(int64_t params, int64_t nodes,
                                      int64_t gpusPerNode, bool offloadOptimizer) {
  double p = double(params), n = double(nodes * gpusPerNode), f = 1.5;
  if (offloadOptimizer)
    return {2 * p, p * std::max(4 * n, 16.0) * f};
  return {2 * p + std::floor(18 * p / n), 4 * p * gpusPerNode * f};
}

StateEstimate mlir::ds::estimateZero3(int64_t params, int64_t largestLayer,
                                      int64_t nodes, int64_t gpusPerNode,
                                      bool offloadParams, bool offloadOptimizer,
                                      bool zeroInit) {
  double p = double(params), n = double(nodes * gpusPerNode), f = 1.5;
  double g = 1.0 / double(nodes), largest = 4.0 * double(largestLayer);
  auto cpu = [&](double k) {
    return zeroInit ? k * p * g * f : p * std::max(4.0 * gpusPerNode, k * g) * f;
  };
  if (offloadParams && offloadOptimizer)
    return {largest, cpu(18)};
  if (offloadOptimizer)
    return {largest + std::floor(2 * p / n), cpu(16)};
  return {largest + std::floor(18 * p / n),
          zeroInit ? 4.0 * double(largestLayer) * gpusPerNode * f
                   : 4.0 * p * gpusPerNode * f};
}
