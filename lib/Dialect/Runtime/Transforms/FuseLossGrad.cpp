// Computes the cross-entropy loss and its gradient with one kernel, which reads the
// scores (the logits) once for both and, when they die there, writes the gradient over
// them.
#include "BufferAccesses.h"
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#define DEBUG_TYPE "ds-fuse-loss-grad"

namespace mlir::dsrt {
#define GEN_PASS_DEF_FUSELOSSGRADPASS
#include "ds/Dialect/Runtime/Transforms/Passes.h.inc"
} // namespace mlir::dsrt

using namespace mlir;
using namespace mlir::dsrt;

namespace {

constexpr StringLiteral kLoss = "softmax_cross_entropy_loss";
constexpr StringLiteral kLossGrad = "softmax_cross_entropy_loss_grad";
constexpr StringLiteral kLossWithGrad = "softmax_cross_entropy_loss_with_grad";

/// A loss and its gradient that one kernel computes where the loss is.
struct Fusion {
  KernelOp loss, grad;
  /// The kernels between the two that write g (input-less: the seed's constant), which
  /// move before the loss.
  SmallVector<KernelOp> seedWriters;
};

bool isComputeKernel(KernelOp k, StringRef name) {
  return k.getKernel() == name && k.getStream() == Stream::compute;
}

/// Whether a and b are the same bytes seen with one type.
bool sameOperand(Value a, Value b) {
  return a.getType() == b.getType() && getAliasKey(a) == getAliasKey(b);
}

/// The kernels strictly between `from` and `to` that touch `g`'s bytes, when each of them
/// only writes it (no inputs, g its one output); nullopt when one reads it or does more.
std::optional<SmallVector<KernelOp>> seedWritersBetween(Operation *from, Operation *to,
                                                        Value g) {
  AliasKey key = getAliasKey(g);
  SmallVector<KernelOp> writers;
  for (Operation *op = from->getNextNode(); op && op != to; op = op->getNextNode()) {
    auto k = dyn_cast<KernelOp>(op);
    if (!k ||
        llvm::none_of(k->getOperands(), [&](Value v) { return getAliasKey(v) == key; }))
      continue;
    if (!k.getInputs().empty() || k.getOutputs().size() != 1)
      return std::nullopt;
    writers.push_back(k);
  }
  return writers;
}

/// The fusion of `grad` with the loss it differentiates, or nullopt.
std::optional<Fusion> matchFusion(KernelOp grad) {
  if (!isComputeKernel(grad, kLossGrad) || grad.getInputs().size() < 3 ||
      grad.getOutputs().size() != 1)
    return std::nullopt;
  ValueRange gradIns = grad.getInputs();
  Value g = gradIns[0], dscores = grad.getOutputs()[0];
  ValueRange operands = gradIns.drop_front(); // scores, labels[, weights]
  // The nearest loss before the gradient over the same operands and attributes.
  KernelOp loss;
  for (Operation *op = grad->getPrevNode(); op && !loss; op = op->getPrevNode()) {
    auto k = dyn_cast<KernelOp>(op);
    if (k && isComputeKernel(k, kLoss) && k.getInputs().size() == operands.size() &&
        llvm::all_of(llvm::zip(k.getInputs(), operands),
                     [](auto p) { return sameOperand(std::get<0>(p), std::get<1>(p)); }))
      loss = k;
  }
  if (!loss || loss.getOutputs().size() != 1 || loss.getAttrs() != grad.getAttrs())
    return std::nullopt;
  Value lossOut = loss.getOutputs()[0];
  if (memrefOf(g).getElementType() != memrefOf(lossOut).getElementType())
    return std::nullopt;
  // Between the two: the operands keep their values, dscores is not seen, g is only
  // written by kernels that can run before the loss instead.
  if (!unwrittenBetween(loss, grad, operands) || !untouchedBetween(loss, grad, dscores) ||
      !definableBefore(dscores, loss) || !definableBefore(g, loss))
    return std::nullopt;
  std::optional<SmallVector<KernelOp>> writers = seedWritersBetween(loss, grad, g);
  if (!writers)
    return std::nullopt;
  return Fusion{loss, grad, std::move(*writers)};
}

/// Makes `fused` write dscores over the scores' bytes when the scores are a transient
/// that nothing accesses after it and dscores a transient of as many elements of the
/// same dtype that nothing accesses before it: dscores's alloc becomes a view of the
/// scores' alloc, defined right after it. The kernel reads a row's scores before writing
/// its gradient (the catalogue lets dscores share the scores' bytes).
bool writeInPlace(KernelOp fused) {
  Value scores = fused.getInputs()[1], dscores = fused.getOutputs()[1];
  if (memrefOf(scores) != memrefOf(dscores))
    return false;
  std::optional<Accesses> s = transientAccesses(scores), d = transientAccesses(dscores);
  Value sRoot = getAliasRoot(scores), dRoot = getAliasRoot(dscores);
  if (!s || !d || sRoot == dRoot)
    return false;
  MemRefType st = memrefOf(sRoot), dt = memrefOf(dRoot);
  Operation *sDef = sRoot.getDefiningOp(), *dDef = dRoot.getDefiningOp();
  Block *block = fused->getBlock();
  if (st.getElementType() != dt.getElementType() ||
      st.getNumElements() != dt.getNumElements() || sDef->getBlock() != block ||
      dDef->getBlock() != block)
    return false;
  auto all = [](const Accesses &a) {
    SmallVector<KernelOp> ks(a.writers);
    ks.append(a.readers.begin(), a.readers.end());
    return ks;
  };
  for (KernelOp k : all(*s))
    if (k != fused && (k->getBlock() != block || fused->isBeforeInBlock(k)))
      return false;
  for (KernelOp k : all(*d))
    if (k != fused && (k->getBlock() != block || k->isBeforeInBlock(fused)))
      return false;
  for (Operation *user : dRoot.getUsers())
    if (user->getBlock() != block || user->isBeforeInBlock(sDef))
      return false;
  Value bytes = sRoot;
  if (st != dt) {
    OpBuilder b(sDef->getContext());
    b.setInsertionPointAfter(sDef);
    bytes = ViewOp::create(b, dDef->getLoc(), dt, sRoot);
  }
  dRoot.replaceAllUsesWith(bytes);
  dDef->erase();
  return true;
}

struct FuseLossGradPass : dsrt::impl::FuseLossGradPassBase<FuseLossGradPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<Fusion> fusions;
    llvm::DenseSet<Operation *> losses;
    getOperation().walk([&](KernelOp k) {
      if (std::optional<Fusion> f = matchFusion(k); f && losses.insert(f->loss).second)
        fusions.push_back(std::move(*f));
    });
    for (Fusion &f : fusions) {
      Value g = f.grad.getInputs()[0], dscores = f.grad.getOutputs()[0];
      hoistBefore(g, f.loss);
      for (KernelOp w : f.seedWriters)
        w->moveBefore(f.loss);
      hoistBefore(dscores, f.loss);
      // The loss's scores, labels and weights: the same bytes as the gradient's, defined
      // where the loss is.
      SmallVector<Value> ins{g};
      llvm::append_range(ins, f.loss.getInputs());
      OpBuilder b(f.loss);
      KernelOp fused = KernelOp::create(b, f.loss.getLoc(), b.getStringAttr(kLossWithGrad),
                                        ins, ValueRange{f.loss.getOutputs()[0], dscores},
                                        f.loss.getAttrs(), Stream::compute);
      f.grad.erase();
      f.loss.erase();
      ++numFused;
      if (writeInPlace(fused))
        ++numInPlace;
    }
  }
};
} // namespace
