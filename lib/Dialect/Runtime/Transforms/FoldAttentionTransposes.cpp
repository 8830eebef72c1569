// Folds the head transposes around attention kernels ([B, S, H, D] <-> [B, H, S, D]) into
// the kernels' layout attribute (bshd): q, k, v are read where the projections wrote
// them, the output is written where the output projection reads it, and the same in the
// backward pass.
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#define DEBUG_TYPE "ds-fold-attention-transposes"

namespace mlir::dsrt {
#define GEN_PASS_DEF_FOLDATTENTIONTRANSPOSESPASS
#include "ds/Dialect/Runtime/Transforms/Passes.h.inc"
} // namespace mlir::dsrt

using namespace mlir;
using namespace mlir::dsrt;

namespace {

/// A transpose kernel swapping dims 1 and 2 of a rank-4 buffer (the heads and the
/// sequence), else null.
KernelOp asHeadTranspose(Operation *op) {
  auto k = dyn_cast_or_null<KernelOp>(op);
  if (!k || k.getKernel() != "transpose" || k.getStream() != Stream::compute ||
      k.getInputs().size() != 1 || k.getOutputs().size() != 1 ||
      cast<MemRefType>(k.getInputs()[0].getType()).getRank() != 4)
    return {};
  auto perm = dyn_cast_or_null<DenseI64ArrayAttr>(k.getAttrs().get("perm"));
  if (!perm || perm.asArrayRef() != ArrayRef<int64_t>{0, 2, 1, 3})
    return {};
  return k;
}

/// Every use of the device alloc `v` as a kernel operand (through views when
/// `throughViews`), split into writers and readers; false when it has other uses or is
/// not a device alloc.
bool getKernelAccesses(Value v, SmallVectorImpl<KernelOp> &writers,
                       SmallVectorImpl<KernelOp> &readers, bool throughViews = false) {
  auto alloc = v.getDefiningOp<AllocOp>();
  if (!alloc || alloc.getSpace() != MemorySpace::device)
    return false;
  SmallVector<Value> work{v};
  while (!work.empty()) {
    Value cur = work.pop_back_val();
    for (OpOperand &use : cur.getUses()) {
      if (auto view = dyn_cast<ViewOp>(use.getOwner()); view && throughViews) {
        work.push_back(view.getResult());
        continue;
      }
      auto k = dyn_cast<KernelOp>(use.getOwner());
      if (!k)
        return false;
      auto [begin, length] = k.getODSOperandIndexAndLength(1); // the outputs
      unsigned n = use.getOperandNumber();
      auto &list = n >= begin && n < begin + length ? writers : readers;
      if (!llvm::is_contained(list, k))
        list.push_back(k);
    }
  }
  return true;
}

/// Whether `k` reads and writes [batch..., H, S, D] (its layout spelled out as the
/// catalogue's default "bhsd", or absent).
bool hasDefaultLayout(KernelOp k) {
  auto layout = dyn_cast_or_null<StringAttr>(k.getAttrs().get("layout"));
  return !k.getAttrs().get("layout") || (layout && layout.getValue() == "bhsd");
}

bool isAttentionKernel(KernelOp k) {
  return k.getKernel() == "attention" || k.getKernel() == "attention_grad";
}

/// One forward attention kernel and the attention_grad kernels that read its lse.
struct Group {
  KernelOp forward;
  SmallVector<KernelOp> grads;
};

class Folder {
public:
  explicit Folder(Block &block) : block(block) {}

  int64_t folded = 0, transposesErased = 0;

  void run() {
    SmallVector<KernelOp> forwards;
    for (Operation &op : block)
      if (auto k = dyn_cast<KernelOp>(op); k && k.getKernel() == "attention")
        forwards.push_back(k);
    for (KernelOp f : forwards)
      fold(f);
  }

private:
  Block &block;
  /// Pending rewrites of one group: operand replacements and transposes to erase.
  struct Plan {
    SmallVector<std::pair<OpOperand *, Value>> replace;
    SmallVector<KernelOp> erase;
    SmallVector<Value> dead; ///< the kernels' own outputs, unused once rewritten
    /// Allocs of the new destinations, each to go before the kernel that writes it.
    SmallVector<std::pair<Operation *, Operation *>> hoist;
  };

  /// An input buffer `v` of the group, written only by a head transpose of `src` that
  /// comes before every reader, read only by the group's attention kernels: read `src`
  /// instead. `src` is written by one kernel before the transpose (nothing changes it
  /// while the kernels read it later).
  bool planInput(Value v, const Group &g, Plan &plan) {
    SmallVector<KernelOp> writers, readers;
    if (!getKernelAccesses(v, writers, readers) || writers.size() != 1)
      return false;
    KernelOp t = asHeadTranspose(writers[0]);
    if (!t || t->getBlock() != &block)
      return false;
    for (KernelOp r : readers) {
      if (!isAttentionKernel(r) || (r != g.forward && !llvm::is_contained(g.grads, r)) ||
          r->getBlock() != &block || !t->isBeforeInBlock(r))
        return false;
      // Only as q, k, v (or a grad's g): a mask keeps its [batch..., T, S] reading.
      unsigned last = r.getKernel() == "attention" ? 2 : 3;
      for (OpOperand &operand : r->getOpOperands())
        if (operand.get() == v && operand.getOperandNumber() > last)
          return false;
    }
    Value src = t.getInputs()[0];
    Value root = getAliasRoot(src);
    if (!root.getDefiningOp<AllocOp>() || !hasSingleWriterBefore(root, t))
      return false;
    for (KernelOp r : readers)
      for (OpOperand &operand : r->getOpOperands())
        if (operand.get() == v)
          plan.replace.push_back({&operand, src});
    if (!llvm::is_contained(plan.erase, t))
      plan.erase.push_back(t);
    return true;
  }

  /// Whether the transient behind `root` (through views) is written by exactly one
  /// kernel, placed before `at`.
  bool hasSingleWriterBefore(Value root, Operation *at) {
    SmallVector<Value> work{root};
    int writers = 0;
    while (!work.empty()) {
      Value cur = work.pop_back_val();
      for (OpOperand &use : cur.getUses()) {
        Operation *owner = use.getOwner();
        if (auto view = dyn_cast<ViewOp>(owner)) {
          work.push_back(view.getResult());
          continue;
        }
        auto k = dyn_cast<KernelOp>(owner);
        if (!k)
          return false;
        if (llvm::is_contained(k.getOutputs(), cur)) {
          if (k->getBlock() != at->getBlock() || !k->isBeforeInBlock(at))
            return false;
          ++writers;
        }
      }
    }
    return writers == 1;
  }

  /// An output buffer `v` of `writer` (one of the group), read only by one head transpose
  /// and by the group's attention_grad kernels: write the transpose's result (allocated
  /// before `writer`) instead.
  bool planOutput(Value v, KernelOp writer, const Group &g, Plan &plan) {
    SmallVector<KernelOp> writers, readers;
    if (!getKernelAccesses(v, writers, readers) || writers.size() != 1 ||
        writers[0] != writer)
      return false;
    KernelOp t;
    for (KernelOp r : readers) {
      if (KernelOp h = asHeadTranspose(r); h && !t && h.getInputs()[0] == v) {
        t = h;
        continue;
      }
      if (r.getKernel() != "attention_grad" || !llvm::is_contained(g.grads, r))
        return false;
    }
    if (!t || t->getBlock() != &block || !writer->isBeforeInBlock(t))
      return false;
    Value dst = t.getOutputs()[0];
    SmallVector<KernelOp> dstWriters, dstReaders;
    // The destination: a plain transient that only the transpose writes (its readers
    // then read what the kernel wrote).
    if (!getKernelAccesses(dst, dstWriters, dstReaders, /*throughViews=*/true) ||
        dstWriters.size() != 1)
      return false;
    for (KernelOp r : readers)
      for (OpOperand &operand : r->getOpOperands())
        if (operand.get() == v && r != t)
          plan.replace.push_back({&operand, dst});
    for (OpOperand &operand : writer->getOpOperands())
      if (operand.get() == v)
        plan.replace.push_back({&operand, dst});
    plan.erase.push_back(t);
    plan.dead.push_back(v);
    // The destination's alloc must dominate the kernel that now writes it.
    Operation *alloc = dst.getDefiningOp();
    if (writer->isBeforeInBlock(alloc))
      plan.hoist.push_back({alloc, writer});
    return true;
  }

  void fold(KernelOp forward) {
    if (!hasDefaultLayout(forward) || forward.getInputs().size() < 3 ||
        forward.getOutputs().size() != 2 || forward->getBlock() != &block)
      return;
    Group g{forward, {}};
    Value lse = forward.getOutputs()[1];
    for (Operation *user : lse.getUsers()) {
      auto k = dyn_cast<KernelOp>(user);
      if (k && k.getKernel() == "attention_grad" && k.getInputs().size() >= 6 &&
          k.getInputs()[5] == lse) {
        if (!hasDefaultLayout(k))
          return;
        // It must read the forward's q, k, v and out.
        for (int i = 0; i < 3; ++i)
          if (k.getInputs()[i + 1] != forward.getInputs()[i])
            return;
        if (k.getInputs()[4] != forward.getOutputs()[0])
          return;
        g.grads.push_back(k);
      }
    }
    Plan plan;
    for (int i = 0; i < 3; ++i)
      if (!planInput(forward.getInputs()[i], g, plan))
        return;
    if (!planOutput(forward.getOutputs()[0], forward, g, plan))
      return;
    for (KernelOp grad : g.grads) {
      if (!planInput(grad.getInputs()[0], g, plan))
        return;
      for (int i = 0; i < 3; ++i)
        if (!planOutput(grad.getOutputs()[i], grad, g, plan))
          return;
    }
    // Every condition held: rewrite.
    for (auto [alloc, writer] : plan.hoist)
      if (writer->isBeforeInBlock(alloc))
        alloc->moveBefore(writer);
    for (auto [operand, value] : plan.replace)
      operand->set(value);
    Builder b(forward.getContext());
    auto setLayout = [&](KernelOp k) {
      NamedAttrList attrs(k.getAttrs());
      attrs.set("layout", b.getStringAttr("bshd"));
      k.setAttrsAttr(attrs.getDictionary(b.getContext()));
    };
    setLayout(forward);
    for (KernelOp grad : g.grads)
      setLayout(grad);
    for (KernelOp t : plan.erase) {
      Value out = t.getOutputs()[0];
      t.erase();
      ++transposesErased;
      if (auto alloc = out.getDefiningOp<AllocOp>(); alloc && alloc->use_empty())
        alloc.erase();
    }
    for (Value v : plan.dead)
      if (auto alloc = v.getDefiningOp<AllocOp>(); alloc && alloc->use_empty())
        alloc.erase();
    ++folded;
  }
};

struct FoldAttentionTransposesPass
    : public dsrt::impl::FoldAttentionTransposesPassBase<FoldAttentionTransposesPass> {
  using Base::Base;
  void runOnOperation() override {
    getOperation().walk([&](func::FuncOp func) {
      for (Block &block : func.getBody()) {
        Folder folder(block);
        folder.run();
        numFolded += folder.folded;
        numTransposes += folder.transposesErased;
      }
    });
  }
};
} // namespace
