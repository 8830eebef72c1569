// Folds the add that accumulates a bias gradient (reduce_sum), a layer norm's parameter
// gradients and its input gradient (layer_norm_grad) into the kernel that computes them,
// through its acc inputs.
#include "BufferAccesses.h"
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#define DEBUG_TYPE "ds-fold-accumulation"

namespace mlir::dsrt {
#define GEN_PASS_DEF_FOLDACCUMULATIONPASS
#include "ds/Dialect/Runtime/Transforms/Passes.h.inc"
} // namespace mlir::dsrt

using namespace mlir;
using namespace mlir::dsrt;

namespace {

/// An add that accumulates output `index` of `producer` into `acc`, writing `out`.
struct Accumulation {
  KernelOp add;
  unsigned index;
  Value acc, out;
};

/// The outputs of a kernel that may take acc inputs, in the order of its acc inputs: the
/// ones that must all be folded, then the ones that may follow, all or none
/// (layer_norm_grad's dscale and dbias after its dx); empty when it takes none (or has
/// them already).
struct AccumulatedOutputs {
  SmallVector<unsigned> required, optional;
};
AccumulatedOutputs accumulatedOutputs(KernelOp k) {
  if (k.getStream() != Stream::compute)
    return {};
  size_t ins = k.getInputs().size(), outs = k.getOutputs().size();
  if (k.getKernel() == "reduce_sum" && ins == 1 && outs == 1)
    return {{0}, {}};
  if (k.getKernel() == "layer_norm_grad" && ins == 3 && outs == 3)
    return {{0}, {1, 2}};
  return {};
}

/// The add that accumulates `k`'s output `index` when it can be folded into `k` (run
/// where `k` is); nullopt otherwise.
std::optional<Accumulation> foldableAdd(KernelOp k, unsigned index) {
  Value product = k.getOutputs()[index];
  if (!isa<FloatType>(memrefOf(product).getElementType()))
    return std::nullopt;
  std::optional<Accesses> acc = transientAccesses(product);
  if (!acc || acc->writers.size() != 1 || acc->writers[0] != k ||
      acc->readers.size() != 1 || getAliasRoot(product) != product)
    return std::nullopt;
  KernelOp add = acc->readers[0];
  if (add.getKernel() != "add" || add.getStream() != Stream::compute ||
      add.getInputs().size() != 2 || add.getOutputs().size() != 1 ||
      add->getBlock() != k->getBlock() || !k->isBeforeInBlock(add))
    return std::nullopt;
  Value out = add.getOutputs()[0];
  MemRefType ot = memrefOf(out);
  for (int side = 0; side < 2; ++side) {
    Value p = add.getInputs()[side], other = add.getInputs()[1 - side];
    if (getAliasRoot(p) != product || getAliasKey(other) == getAliasKey(product))
      continue;
    // No broadcast: the add sums two buffers of the result's type, element for element.
    if (memrefOf(p) != ot || memrefOf(other) != ot)
      return std::nullopt;
    if (!onDevice(other, add) || !onDevice(out, add))
      return std::nullopt;
    // The kernel reads acc and writes out where it ran: both must be there, unchanged and
    // unused in between, and out may be acc's bytes but none of the kernel's other
    // operands.
    if (!definableBefore(other, k) || !definableBefore(out, k) ||
        !unwrittenBetween(k, add, ValueRange{other}) || !untouchedBetween(k, add, out))
      return std::nullopt;
    AliasKey outKey = getAliasKey(out);
    if (outKey == getAliasKey(other) && !sameBytes(other, out))
      return std::nullopt;
    for (Value v : k->getOperands())
      if (v != product &&
          (getAliasKey(v) == outKey || getAliasKey(v) == getAliasKey(other)))
        return std::nullopt;
    return Accumulation{add, index, other, out};
  }
  return std::nullopt;
}

/// The shape of reduce_sum `k`'s result with or without the reduced dims kept as 1s.
SmallVector<int64_t> reducedShape(KernelOp k, bool keepdims) {
  ArrayRef<int64_t> in = memrefOf(k.getInputs()[0]).getShape();
  auto axes = dyn_cast_or_null<DenseI64ArrayAttr>(k.getAttrs().get("axes"));
  SmallVector<int64_t> shape;
  for (auto [i, d] : llvm::enumerate(in)) {
    bool reduced =
        !axes || axes.empty() || llvm::is_contained(axes.asArrayRef(), int64_t(i));
    if (!reduced)
      shape.push_back(d);
    else if (keepdims)
      shape.push_back(1);
  }
  return shape;
}

DictionaryAttr withKeepdimsFalse(DictionaryAttr attrs) {
  NamedAttrList list(attrs);
  list.set("keepdims", BoolAttr::get(attrs.getContext(), false));
  return list.getDictionary(attrs.getContext());
}

/// Whether `a` shares no add and no written bytes with the folds already taken (each
/// output accumulates by its own add into its own result, and reads no other's result).
bool independent(const Accumulation &a, ArrayRef<Accumulation> folds) {
  AliasKey out = getAliasKey(a.out), acc = getAliasKey(a.acc);
  return llvm::none_of(folds, [&](const Accumulation &f) {
    return f.add == a.add || getAliasKey(f.out) == out || getAliasKey(f.out) == acc ||
           getAliasKey(f.acc) == out;
  });
}

struct FoldAccumulationPass : dsrt::impl::FoldAccumulationPassBase<FoldAccumulationPass> {
  using Base::Base;

  void runOnOperation() override {
    // Only the kernels that may take acc inputs: the adds folded below are erased, so a
    // list of every kernel would hold freed ops.
    SmallVector<KernelOp> kernels;
    getOperation().walk([&](KernelOp k) {
      if (!accumulatedOutputs(k).required.empty())
        kernels.push_back(k);
    });
    for (KernelOp k : kernels) {
      AccumulatedOutputs outputs = accumulatedOutputs(k);
      if (outputs.required.empty())
        continue;
      SmallVector<Accumulation> folds;
      for (unsigned index : outputs.required)
        if (std::optional<Accumulation> a = foldableAdd(k, index);
            a && independent(*a, folds))
          folds.push_back(*a);
      if (folds.size() != outputs.required.size())
        continue;
      SmallVector<Accumulation> optional(folds);
      for (unsigned index : outputs.optional)
        if (std::optional<Accumulation> a = foldableAdd(k, index);
            a && independent(*a, optional))
          optional.push_back(*a);
      if (optional.size() == folds.size() + outputs.optional.size())
        folds = std::move(optional);
      SmallVector<Value> ins(k.getInputs()), outs(k.getOutputs());
      DictionaryAttr attrs = k.getAttrsAttr();
      // A reduce_sum whose kept 1s the add's view dropped drops them itself (keepdims
      // false): the result is then the add's buffer as it is, no view, which lets
      // --ds-elide-state-copies write a gradient global in place.
      if (k.getKernel() == "reduce_sum" &&
          memrefOf(folds[0].out).getShape() ==
              ArrayRef(reducedShape(k, /*keepdims=*/false)))
        attrs = withKeepdimsFalse(attrs);
      for (const Accumulation &a : folds) {
        hoistBefore(a.acc, k);
        hoistBefore(a.out, k);
        SmallVector<int64_t> shape(memrefOf(outs[a.index]).getShape());
        if (attrs != k.getAttrsAttr())
          shape = reducedShape(k, /*keepdims=*/false);
        ins.push_back(reshaped(a.acc, shape, k));
        outs[a.index] = reshaped(a.out, shape, k);
      }
      OpBuilder b(k);
      KernelOp::create(b, k.getLoc(), k.getKernelAttr(), ins, outs, attrs, k.getStream());
      SmallVector<Value> dead;
      for (Accumulation &a : folds) {
        dead.push_back(k.getOutputs()[a.index]);
        a.add.erase();
      }
      k.erase();
      for (Value v : dead)
        eraseIfDead(v);
      numFolded += folds.size();
    }
  }
};
} // namespace
