// Makes the kernel that computes a global's new value write the global, dropping the
// copy.
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include "ds/runtime/KernelCatalogue.h"

#define DEBUG_TYPE "ds-elide-state-copies"

namespace mlir::dsrt {
#define GEN_PASS_DEF_ELIDESTATECOPIESPASS
#include "ds/Dialect/Runtime/Transforms/Passes.h.inc"
} // namespace mlir::dsrt

using namespace mlir;
using namespace mlir::dsrt;

namespace {
/// The global `v`'s bytes belong to, through views, or null.
FlatSymbolRefAttr globalOf(Value v) {
  auto param = getAliasRoot(v).getDefiningOp<ParamOp>();
  return param ? param.getNameAttr() : FlatSymbolRefAttr();
}

/// Whether the kernel may write over its input `input`.
bool allowsInPlace(KernelOp kernel, unsigned input) {
  const ::ds::rt::KernelInfo *info = ::ds::rt::findKernelInfo(kernel.getKernel().str());
  return info && ::ds::rt::mayShareOutputBytes(info->id, info->inPlace, input);
}

/// Whether the copy `copy` (transient -> global) can be dropped by making the
/// transient's writer write the global; returns the writer.
KernelOp findElidableWriter(KernelOp copy, SymbolTableCollection &symbols) {
  if (copy.getKernel() != "copy" || !copy.getAttrs().empty() ||
      copy.getInputs().size() != 1 || copy.getOutputs().size() != 1)
    return {};
  Value transient = copy.getInputs()[0], state = copy.getOutputs()[0];
  auto alloc = transient.getDefiningOp<AllocOp>();
  auto param = state.getDefiningOp<ParamOp>();
  if (!alloc || !param || transient.getType() != state.getType() ||
      alloc.getSpace() != MemorySpace::device)
    return {};
  auto global = symbols.lookupNearestSymbolFrom<GlobalOp>(copy, param.getNameAttr());
  if (!global || global.getSpace() != MemorySpace::device)
    return {};

  // One writer before the copy; every other user a kernel that reads.
  KernelOp writer;
  SmallVector<KernelOp> readers;
  for (OpOperand &use : transient.getUses()) {
    auto kernel = dyn_cast<KernelOp>(use.getOwner());
    if (!kernel)
      return {}; // a view or a returned buffer
    auto [begin, length] = kernel.getODSOperandIndexAndLength(1); // the outputs
    bool isOutput =
        use.getOperandNumber() >= begin && use.getOperandNumber() < begin + length;
    if (isOutput) {
      if (writer)
        return {};
      writer = kernel;
    } else if (kernel != copy) {
      readers.push_back(kernel);
    }
  }
  if (!writer || !writer->isBeforeInBlock(copy) || writer.getStream() == Stream::host ||
      writer.getStream() == Stream::io || llvm::is_contained(readers, writer))
    return {};
  Operation *lastReader = copy;
  for (KernelOp r : readers)
    if (lastReader->isBeforeInBlock(r))
      lastReader = r;

  // The global's other accesses after the writer.
  FlatSymbolRefAttr name = param.getNameAttr();
  for (Operation *op = writer->getNextNode(); op; op = op->getNextNode()) {
    auto kernel = dyn_cast<KernelOp>(op);
    if (!kernel || kernel == copy)
      continue;
    bool beforeCopy = op->isBeforeInBlock(copy);
    for (Value v : kernel.getInputs())
      if (globalOf(v) == name && beforeCopy)
        return {};
    for (Value v : kernel.getOutputs())
      if (globalOf(v) == name && (beforeCopy || !lastReader->isBeforeInBlock(op)))
        return {};
  }
  // The writer itself may read the global: the whole buffer, in place.
  for (auto [i, v] : llvm::enumerate(writer.getInputs()))
    if (globalOf(v) == name && (v.getType() != state.getType() ||
                                !v.getDefiningOp<ParamOp>() || !allowsInPlace(writer, i)))
      return {};
  for (Value v : writer.getOutputs())
    if (globalOf(v) == name)
      return {};
  return writer;
}

struct ElideStateCopiesPass : dsrt::impl::ElideStateCopiesPassBase<ElideStateCopiesPass> {
  using Base::Base;

  void runOnOperation() override {
    SymbolTableCollection symbols;
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      SmallVector<KernelOp> copies;
      func.walk([&](KernelOp k) {
        if (k.getKernel() == "copy")
          copies.push_back(k);
      });
      // One at a time, in order: each rewrite changes what the next one sees.
      for (KernelOp copy : copies) {
        KernelOp writer = findElidableWriter(copy, symbols);
        if (!writer)
          continue;
        Value transient = copy.getInputs()[0];
        auto param = copy.getOutputs()[0].getDefiningOp<ParamOp>();
        OpBuilder b(writer);
        Value state =
            ParamOp::create(b, param.getLoc(), param.getType(), param.getNameAttr());
        auto alloc = transient.getDefiningOp<AllocOp>();
        copy.erase();
        if (param->use_empty())
          param.erase();
        transient.replaceAllUsesWith(state);
        alloc.erase();
        ++numElided;
      }
    }
  }
};
} // namespace
