// Computes a Linear layer's bias gradient in its weight-gradient gemm (the db output) instead
// of a reduce_sum, and runs the accumulations of those gradients as grouped multi_add kernels.
#include "BufferAccesses.h"
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"
#include "ds/runtime/GemmBiasGrad.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#define DEBUG_TYPE "ds-fuse-bias-grad"

namespace mlir::dsrt {
#define GEN_PASS_DEF_FUSEBIASGRADPASS
#include "ds/Dialect/Runtime/Transforms/Passes.h.inc"
} // namespace mlir::dsrt

using namespace mlir;
using namespace mlir::dsrt;

namespace {

/// A reduce_sum that a gemm computes as its db, and where the accumulation may run.
struct Fusion {
  KernelOp reduce, gemm;
  bool reducesA;
  /// The gradient: reduce_sum's acc and its result (the same bytes); without an acc (ZeRO
  /// 2/3 at world > 1: the sum goes to a transient that is reduce-scattered) the result
  /// alone, which the gemm then writes as its db.
  Value acc, result;
  Operation *earliest;    // the later of the reduce_sum and the gemm
  Operation *deadline;    // the first kernel after the reduce_sum touching the gradient,
                          // or the block's terminator
  Value db;               // the gemm's new output
};

bool isTrue(KernelOp k, StringRef name) {
  auto a = dyn_cast_or_null<BoolAttr>(k.getAttrs().get(name));
  return a && a.getValue();
}

/// Whether `k` is a compute-stream gemm that may take a db: one output, no db yet, alpha 1.
bool isPlainGemm(KernelOp k) {
  if (k.getKernel() != "gemm" || k.getStream() != Stream::compute ||
      k.getOutputs().size() != 1 || k.getInputs().size() < 2 || k.getInputs().size() > 3)
    return false;
  if (auto bg = dyn_cast_or_null<StringAttr>(k.getAttrs().get("bias_grad"));
      bg && bg.getValue() != "none")
    return false;
  auto alpha = dyn_cast_or_null<FloatAttr>(k.getAttrs().get("alpha"));
  return !alpha || alpha.getValueAsDouble() == 1.0;
}

/// Whether reduce_sum over `axes` of `x` sums exactly the contraction dim of `operand` (a
/// 2-D view of x's bytes) that gemm reads as [K, *] (kIsDim0) or [*, K], leaving `kept`
/// elements.
bool reducesContraction(MemRefType x, ArrayRef<int64_t> axes, MemRefType operand, bool kIsDim0,
                        int64_t kept) {
  int64_t rank = x.getRank();
  int64_t k = operand.getDimSize(kIsDim0 ? 0 : 1), other = operand.getDimSize(kIsDim0 ? 1 : 0);
  if (int64_t(axes.size()) == 0 || int64_t(axes.size()) >= rank + 1 || other != kept)
    return false;
  // The reduced axes: the first n dims (kIsDim0) or the last n, in order.
  int64_t n = int64_t(axes.size()), first = kIsDim0 ? 0 : rank - n, product = 1;
  for (int64_t i = 0; i < n; ++i) {
    if (axes[size_t(i)] != first + i)
      return false;
    product *= x.getDimSize(first + i);
  }
  return product == k;
}

/// The first kernel strictly after `from` that reads or writes `v`'s bytes, else the
/// block's terminator.
Operation *firstTouchAfter(Operation *from, Value v) {
  AliasKey key = getAliasKey(v);
  Operation *op = from->getNextNode();
  for (; op && op->getNextNode(); op = op->getNextNode())
    if (auto k = dyn_cast<KernelOp>(op))
      if (llvm::any_of(k->getOperands(), [&](Value w) { return getAliasKey(w) == key; }))
        return op;
  return op;
}

/// The fusion of reduce_sum `r` into a gemm of its block not in `taken`, or nullopt.
std::optional<Fusion> matchFusion(KernelOp r, const llvm::DenseSet<Operation *> &taken) {
  if (r.getKernel() != "reduce_sum" || r.getStream() != Stream::compute ||
      r.getInputs().empty() || r.getInputs().size() > 2 || r.getOutputs().size() != 1)
    return std::nullopt;
  bool accumulates = r.getInputs().size() == 2;
  Value x = r.getInputs()[0], result = r.getOutputs()[0];
  Value acc = accumulates ? r.getInputs()[1] : Value();
  MemRefType xt = memrefOf(x), at = memrefOf(result);
  if (!isa<FloatType>(xt.getElementType()) || at.getElementType() != xt.getElementType())
    return std::nullopt;
  // Accumulated in place into a whole device global of the sum's float dtype, or written
  // into a device transient that the gemm can write instead (defined before it, or an alloc
  // that moves there).
  if (accumulates && (memrefOf(acc) != at || !sameBytes(acc, result) ||
                      !acc.getDefiningOp<ParamOp>() || !onDevice(acc, r)))
    return std::nullopt;
  if (!accumulates && !transientAccesses(result))
    return std::nullopt;
  auto axesAttr = dyn_cast_or_null<DenseI64ArrayAttr>(r.getAttrs().get("axes"));
  if (!axesAttr)
    return std::nullopt;
  SmallVector<int64_t> axes(axesAttr.asArrayRef());
  llvm::sort(axes);
  AliasKey xKey = getAliasKey(x), gradKey = getAliasKey(result);
  for (Operation &op : *r->getBlock()) {
    auto g = dyn_cast<KernelOp>(op);
    if (!g || g == r || taken.contains(g) || !isPlainGemm(g))
      continue;
    Value a = g.getInputs()[0], b = g.getInputs()[1];
    if (getAliasRoot(a) == getAliasRoot(b))
      continue;
    for (bool reducesA : {true, false}) {
      Value operand = reducesA ? a : b;
      MemRefType ot = memrefOf(operand);
      if (getAliasRoot(operand) != getAliasRoot(x) || ot.getRank() != 2 ||
          ot.getElementType() != xt.getElementType() ||
          ot.getNumElements() != xt.getNumElements())
        continue;
      bool kIsDim0 = reducesA ? isTrue(g, "trans_a") : !isTrue(g, "trans_b");
      if (!reducesContraction(xt, axes, ot, kIsDim0, at.getNumElements()))
        continue;
      // The gemm neither writes x nor touches the gradient; between the two kernels nothing
      // writes x, and when the gemm comes later nothing touches the gradient before it
      // (the accumulation then moves past the gemm).
      if (llvm::any_of(g.getOutputs(), [&](Value w) { return getAliasKey(w) == xKey; }) ||
          llvm::any_of(g->getOperands(), [&](Value w) { return getAliasKey(w) == gradKey; }))
        continue;
      bool gemmLater = r->isBeforeInBlock(g);
      Operation *first = gemmLater ? r.getOperation() : g.getOperation();
      Operation *second = gemmLater ? g.getOperation() : r.getOperation();
      if (!unwrittenBetween(first, second, ValueRange{x}))
        continue;
      if (accumulates) {
        if (gemmLater && !untouchedBetween(r, g, acc))
          continue;
        return Fusion{r, g, reducesA, acc, result, second, firstTouchAfter(r, acc), Value()};
      }
      // The gemm writes the sum where the reduce_sum did: nothing in between may see the
      // result's bytes, and the result must exist where the gemm runs.
      if (!untouchedBetween(first, second, result) || !definableBefore(result, g))
        continue;
      return Fusion{r, g, reducesA, Value(), result, second, nullptr, Value()};
    }
  }
  return std::nullopt;
}

struct FuseBiasGradPass : dsrt::impl::FuseBiasGradPassBase<FuseBiasGradPass> {
  using Base::Base;

  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (!func.isExternal())
        for (Block &block : func.getBody())
          runOnBlock(block);
  }

  void runOnBlock(Block &block) {
    SmallVector<Fusion> fusions;
    llvm::DenseSet<Operation *> taken;
    for (auto r : llvm::to_vector(block.getOps<KernelOp>()))
      if (std::optional<Fusion> f = matchFusion(r, taken)) {
        taken.insert(f->gemm);
        fusions.push_back(*f);
      }
    if (fusions.empty())
      return;
    // The gemms write db into new transients (the reduce_sum's own transient when it had
    // no acc).
    for (Fusion &f : fusions) {
      if (!f.acc) {
        hoistBefore(f.result, f.gemm);
        f.db = reshaped(f.result, {memrefOf(f.result).getNumElements()}, f.gemm);
        continue;
      }
      OpBuilder b(f.gemm);
      MemRefType ot = memrefOf(f.gemm.getInputs()[f.reducesA ? 0 : 1]);
      MemRefType dbType =
          MemRefType::get({memrefOf(f.acc).getNumElements()}, ot.getElementType());
      f.db = AllocOp::create(b, f.gemm.getLoc(), dbType, IntegerAttr(),
                             MemorySpaceAttr::get(b.getContext(), MemorySpace::device));
    }
    // Accumulations in program order of their earliest position, each group placed at the
    // first deadline of its members: a member joins while its earliest position is before
    // that point, its gradient is not already in the group, and the dtype matches.
    llvm::sort(fusions, [](const Fusion &l, const Fusion &r) {
      return l.earliest != r.earliest && l.earliest->isBeforeInBlock(r.earliest);
    });
    SmallVector<SmallVector<Fusion *>> groups;
    SmallVector<Operation *> at;
    for (Fusion &f : fusions) {
      if (!f.acc)
        continue;
      if (group && !groups.empty()) {
        SmallVector<Fusion *> &g = groups.back();
        bool joins = f.earliest->isBeforeInBlock(at.back()) &&
                     int64_t(g.size()) < ::ds::rt::kMaxMultiAddTensors &&
                     memrefOf(g.front()->acc).getElementType() ==
                         memrefOf(f.acc).getElementType() &&
                     llvm::none_of(g, [&](Fusion *m) {
                       return getAliasKey(m->acc) == getAliasKey(f.acc);
                     });
        if (joins) {
          g.push_back(&f);
          if (f.deadline->isBeforeInBlock(at.back()))
            at.back() = f.deadline;
          continue;
        }
      }
      groups.push_back({&f});
      at.push_back(group ? f.deadline : f.earliest->getNextNode());
    }
    // The multi_adds first (a group may sit before a reduce_sum or gemm that is replaced
    // below), then the gemms, then the reduce_sums go.
    for (auto [members, where] : llvm::zip(groups, at)) {
      SmallVector<Value> ins, outs;
      for (Fusion *f : members) {
        ins.push_back(f->acc);
        ins.push_back(reshaped(f->db, memrefOf(f->acc).getShape(), where));
        outs.push_back(f->result);
      }
      OpBuilder b(where);
      KernelOp::create(b, members.front()->reduce.getLoc(), b.getStringAttr("multi_add"), ins,
                       outs, b.getDictionaryAttr({}), Stream::compute);
      ++numGroups;
    }
    for (Fusion &f : fusions) {
      OpBuilder b(f.gemm);
      NamedAttrList attrs(f.gemm.getAttrs());
      attrs.set("bias_grad", b.getStringAttr(f.reducesA ? "a" : "b"));
      KernelOp::create(b, f.gemm.getLoc(), f.gemm.getKernelAttr(), f.gemm.getInputs(),
                       ValueRange{f.gemm.getOutputs()[0], f.db},
                       attrs.getDictionary(b.getContext()), Stream::compute);
      f.gemm.erase();
      f.reduce.erase();
      ++numFused;
    }
  }
};
} // namespace
