// Makes the kernel that computes a global's new value write the global, dropping the
// copy.
#include "BufferAccesses.h"
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseSet.h"

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

/// The kernels of one block by global: each kernel's position in the block and, per
/// global, the kernels that read or write it (through views). Built once, kept current by
/// the rewrites, so that checking a copy costs the accesses of its own global, not a walk
/// over the rest of the block (the walk made the pass quadratic: 1.6 s of a 66B plan's
/// 2.4 s lowering).
struct GlobalAccesses {
  explicit GlobalAccesses(Block &block) {
    int64_t n = 0;
    for (Operation &op : block) {
      auto kernel = dyn_cast<KernelOp>(&op);
      if (!kernel)
        continue;
      position[kernel] = n++;
      llvm::SmallDenseSet<Attribute, 4> seen;
      for (Value v : kernel->getOperands())
        if (FlatSymbolRefAttr name = globalOf(v); name && seen.insert(name).second)
          byGlobal[name].push_back(kernel);
    }
  }
  bool before(Operation *a, Operation *b) const {
    return position.lookup(a) < position.lookup(b);
  }
  llvm::DenseMap<Operation *, int64_t> position;
  llvm::DenseMap<Attribute, SmallVector<KernelOp>> byGlobal;
};

/// The transient a copy reads: its input, or the source of the view it reads when that
/// view (a reshape, e.g. of an all-gathered flat shard matrix) has no other use.
Value copiedTransient(KernelOp copy) {
  Value in = copy.getInputs()[0];
  if (auto view = in.getDefiningOp<ViewOp>(); view && view->hasOneUse())
    return view.getSource();
  return in;
}

/// Whether the copy `copy` (transient -> global, possibly through a view of the
/// transient) can be dropped by making the transient's writer write the global (a view
/// of it); returns the writer.
KernelOp findElidableWriter(KernelOp copy, SymbolTableCollection &symbols,
                            const GlobalAccesses &accesses) {
  if (copy.getKernel() != "copy" || !copy.getAttrs().empty() ||
      copy.getInputs().size() != 1 || copy.getOutputs().size() != 1)
    return {};
  Value transient = copiedTransient(copy), state = copy.getOutputs()[0];
  bool throughView = transient != copy.getInputs()[0];
  auto alloc = transient.getDefiningOp<AllocOp>();
  auto param = state.getDefiningOp<ParamOp>();
  if (!alloc || !param || copy.getInputs()[0].getType() != state.getType() ||
      alloc.getSpace() != MemorySpace::device)
    return {};
  auto global = symbols.lookupNearestSymbolFrom<GlobalOp>(copy, param.getNameAttr());
  if (!global || global.getSpace() != MemorySpace::device)
    return {};

  // One writer before the copy; every other user a kernel that reads, directly or through
  // views of the transient (whole-buffer reshapes, e.g. a gradient written as a matrix and
  // copied flat into its global).
  std::optional<Accesses> acc = transientAccesses(transient);
  if (!acc || acc->writers.size() != 1)
    return {};
  KernelOp writer = acc->writers[0];
  SmallVector<KernelOp> readers;
  for (KernelOp k : acc->readers)
    if (k != copy)
      readers.push_back(k);
  for (KernelOp k : llvm::concat<KernelOp>(acc->writers, readers))
    if (k->getBlock() != copy->getBlock())
      return {};
  Value writtenAs; // the operand the writer writes: the transient or a view of it
  for (Value out : writer.getOutputs())
    if (getAliasRoot(out) == transient) {
      if (writtenAs)
        return {}; // written twice
      writtenAs = out;
    }
  if (!writer || !accesses.before(writer, copy) || writer.getStream() == Stream::host ||
      writer.getStream() == Stream::io || llvm::is_contained(readers, writer))
    return {};
  Operation *lastReader = copy;
  for (KernelOp r : readers)
    if (accesses.before(lastReader, r))
      lastReader = r;

  // The global's other accesses after the writer.
  FlatSymbolRefAttr name = param.getNameAttr();
  auto it = accesses.byGlobal.find(name);
  if (it != accesses.byGlobal.end())
    for (KernelOp kernel : it->second) {
      if (kernel == copy || kernel == writer || !accesses.before(writer, kernel))
        continue;
      bool beforeCopy = accesses.before(kernel, copy);
      for (Value v : kernel.getInputs())
        if (globalOf(v) == name && beforeCopy)
          return {};
      for (Value v : kernel.getOutputs())
        if (globalOf(v) == name && (beforeCopy || !accesses.before(lastReader, kernel)))
          return {};
    }
  // The writer itself may read the global: the whole buffer, in place, element i where it
  // writes element i (the same shape on both sides: views are whole-buffer reshapes).
  for (auto [i, v] : llvm::enumerate(writer.getInputs())) {
    if (globalOf(v) != name)
      continue;
    Value source = v;
    if (auto view = v.getDefiningOp<ViewOp>())
      source = view.getSource();
    if (throughView || v.getType() != writtenAs.getType() ||
        !source.getDefiningOp<ParamOp>() || !allowsInPlace(writer, i))
      return {};
  }
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
      for (Block &block : func.getBody()) {
        SmallVector<KernelOp> copies;
        for (auto k : block.getOps<KernelOp>())
          if (k.getKernel() == "copy")
            copies.push_back(k);
        if (copies.empty())
          continue;
        GlobalAccesses accesses(block);
        // One at a time, in order: each rewrite changes what the next one sees.
        for (KernelOp copy : copies) {
          KernelOp writer = findElidableWriter(copy, symbols, accesses);
          if (!writer)
            continue;
          Value transient = copiedTransient(copy);
          auto view = copy.getInputs()[0].getDefiningOp<ViewOp>();
          auto param = copy.getOutputs()[0].getDefiningOp<ParamOp>();
          auto alloc = transient.getDefiningOp<AllocOp>();
          SmallVector<KernelOp> &list = accesses.byGlobal[param.getNameAttr()];
          llvm::erase(list, copy);
          accesses.position.erase(copy);
          copy.erase();
          if (view && view->use_empty())
            view.erase();
          // The writer and the transient's readers (through its views too) now access
          // the global.
          std::optional<Accesses> users = transientAccesses(transient);
          for (KernelOp k : llvm::concat<KernelOp>(users->writers, users->readers))
            if (!llvm::is_contained(list, k))
              list.push_back(k);
          // At the transient's place: its views may come before the writer.
          OpBuilder b(alloc);
          Value state =
              ParamOp::create(b, param.getLoc(), param.getType(), param.getNameAttr());
          if (state.getType() != transient.getType())
            state = ViewOp::create(b, alloc.getLoc(), transient.getType(), state);
          if (param->use_empty())
            param.erase();
          transient.replaceAllUsesWith(state);
          alloc.erase();
          ++numElided;
        }
      }
    }
  }
};
} // namespace
