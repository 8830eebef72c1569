// Rewrites GELU written out as elementwise ops (how torch.onnx.export writes nn.GELU before
// opset 20 and Hugging Face's gelu_new) into one ds.gelu.
#include "ds/Dialect/DS/IR/DSOps.h"
#include "ds/Dialect/DS/Transforms/Passes.h"
#include "ScalarConstants.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/SmallPtrSet.h"

#include "llvm/Support/MathExtras.h"

namespace mlir::ds {
#define GEN_PASS_DEF_FUSEGELUPASS
#include "ds/Dialect/DS/Transforms/Passes.h.inc"
} // namespace mlir::ds

using namespace mlir;
using namespace mlir::ds;

namespace {
/// A constant of the formula as an export writes it: a double rounded to f32 at most
/// (an f16 or bf16 constant would make the unfused graph another function).
bool isConstant(Value v, double expected) {
  std::optional<double> c = evaluateScalar(v);
  return c && std::abs(*c - expected) <= 1e-6 * std::abs(expected);
}

/// The only user of `v`, when it has exactly one.
Operation *soleUser(Value v) {
  return v.hasOneUse() ? *v.getUsers().begin() : nullptr;
}

/// The operand of the binary `op` other than `v` (nullptr when `v` is neither).
Value otherOperand(Operation *op, Value v) {
  if (op->getOperand(0) == v)
    return op->getOperand(1);
  if (op->getOperand(1) == v)
    return op->getOperand(0);
  return nullptr;
}

/// `a * c` in either order with `a` of `type`: returns `a`.
Value matchScaled(Value v, double c, Type type) {
  auto mul = v.getDefiningOp<MulOp>();
  if (!mul)
    return nullptr;
  for (auto [a, k] : {std::pair(mul.getLhs(), mul.getRhs()), {mul.getRhs(), mul.getLhs()}})
    if (a.getType() == type && isConstant(k, c))
      return a;
  return nullptr;
}

/// x³ as Pow(x, 3), x * x * x or x * (x * x), the inner product used once: returns x.
Value matchCube(Value v) {
  Operation *def = v.getDefiningOp();
  if (auto pow = dyn_cast_or_null<PowOp>(def))
    return isConstant(pow.getRhs(), 3) && pow.getLhs().getType() == v.getType()
               ? pow.getLhs()
               : nullptr;
  auto mul = dyn_cast_or_null<MulOp>(def);
  if (!mul)
    return nullptr;
  for (auto [sq, x] : {std::pair(mul.getLhs(), mul.getRhs()), {mul.getRhs(), mul.getLhs()}}) {
    auto inner = sq.getDefiningOp<MulOp>();
    if (inner && sq.hasOneUse() && inner.getLhs() == x && inner.getRhs() == x &&
        x.getType() == v.getType())
      return x;
  }
  return nullptr;
}

struct FuseGeluPass : public ds::impl::FuseGeluPassBase<FuseGeluPass> {
  using Base::Base;

  /// x such that `in` is x / √2 or x · (1/√2), used once.
  static Value matchErfArgument(Value in) {
    if (!in.hasOneUse())
      return nullptr;
    if (auto div = in.getDefiningOp<DivOp>())
      return div.getLhs().getType() == in.getType() &&
                     isConstant(div.getRhs(), llvm::numbers::sqrt2)
                 ? div.getLhs()
                 : nullptr;
    return matchScaled(in, 1 / llvm::numbers::sqrt2, in.getType());
  }

  /// x such that `in` is √(2/π) · (x + 0.044715 · x³), each step used once.
  static Value matchTanhArgument(Value in) {
    if (!in.hasOneUse())
      return nullptr;
    Value inner = matchScaled(in, std::sqrt(2 / llvm::numbers::pi), in.getType());
    auto add = inner ? inner.getDefiningOp<AddOp>() : AddOp();
    if (!add || !inner.hasOneUse())
      return nullptr;
    for (auto [x, q] : {std::pair(add.getLhs(), add.getRhs()), {add.getRhs(), add.getLhs()}}) {
      Value cube = q.hasOneUse() ? matchScaled(q, 0.044715, q.getType()) : nullptr;
      if (cube && cube.hasOneUse() && matchCube(cube) == x && x.getType() == in.getType())
        return x;
    }
    return nullptr;
  }

  /// The op computing x · (1 + f) · 0.5 in any association from `f` (erf or tanh of the
  /// argument), every intermediate used once; nullptr when the uses differ.
  static Operation *matchProduct(Value f, Value x) {
    auto onePlus = dyn_cast_or_null<AddOp>(soleUser(f));
    if (!onePlus || !isConstant(otherOperand(onePlus, f), 1) ||
        onePlus.getType() != x.getType())
      return nullptr;
    auto m1 = dyn_cast_or_null<MulOp>(soleUser(onePlus.getResult()));
    if (!m1)
      return nullptr;
    Value other = otherOperand(m1, onePlus.getResult());
    if (matchScaled(other, 0.5, x.getType()) == x && other.hasOneUse())
      return m1; // (x · 0.5) · (1 + f)
    bool timesX = other == x, timesHalf = !timesX && isConstant(other, 0.5);
    if (!timesX && !timesHalf)
      return nullptr;
    auto m2 = dyn_cast_or_null<MulOp>(soleUser(m1.getResult()));
    if (!m2)
      return nullptr;
    Value last = otherOperand(m2, m1.getResult());
    return (timesX ? isConstant(last, 0.5) : last == x) ? m2.getOperation() : nullptr;
  }

  /// Replaces the GELU rooted at the erf or tanh `f`, if it is one.
  bool fuse(Operation *f, GeluApproximation mode) {
    Value in = f->getOperand(0);
    Value x = mode == GeluApproximation::none ? matchErfArgument(in) : matchTanhArgument(in);
    if (!x || !isa<FloatType>(cast<RankedTensorType>(x.getType()).getElementType()))
      return false;
    Operation *root = matchProduct(f->getResult(0), x);
    if (!root || root->getResult(0).getType() != x.getType())
      return false;
    OpBuilder b(root);
    auto gelu = GeluOp::create(b, root->getLoc(), x,
                               GeluApproximationAttr::get(b.getContext(), mode));
    root->getResult(0).replaceAllUsesWith(gelu.getResult());
    // The matched chain, from the root back to x: every op in it had one use (a
    // constant may be shared, hence the set).
    SmallVector<Operation *> work{root};
    llvm::SmallPtrSet<Operation *, 16> erased;
    while (!work.empty()) {
      Operation *op = work.pop_back_val();
      if (erased.contains(op) || !op->use_empty())
        continue;
      SmallVector<Value> operands(op->getOperands());
      erased.insert(op);
      op->erase();
      for (Value v : operands)
        if (Operation *def = v.getDefiningOp(); def && v != x && isPure(def))
          work.push_back(def);
    }
    return true;
  }

  void runOnOperation() override {
    getOperation().walk([&](func::FuncOp func) {
      SmallVector<Operation *> roots;
      func.walk([&](Operation *op) {
        if (isa<ErfOp, TanhOp>(op))
          roots.push_back(op);
      });
      for (Operation *op : roots) {
        bool erf = isa<ErfOp>(op);
        if (fuse(op, erf ? GeluApproximation::none : GeluApproximation::tanh))
          ++(erf ? numErf : numTanh);
      }
    });
  }
};
} // namespace
