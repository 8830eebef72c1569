// Marks parameters without a differentiable path to the loss as frozen.
#include "ds/Dialect/DS/IR/DSOps.h"
#include "ds/Dialect/DS/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/Regex.h"

#define DEBUG_TYPE "ds-mark-frozen"

namespace mlir::ds {
#define GEN_PASS_DEF_MARKFROZENPARAMETERSPASS
#include "ds/Dialect/DS/Transforms/Passes.h.inc"
} // namespace mlir::ds

using namespace mlir;
using namespace mlir::ds;

namespace {
/// Collects the parameters read on a differentiable path into the loss of `func`.
void collectTrainable(func::FuncOp func, llvm::DenseSet<StringRef> &trainable) {
  auto lossAttr = func->getAttrOfType<IntegerAttr>(kLossIndexAttr);
  if (!lossAttr || func.isExternal())
    return;
  auto ret = cast<func::ReturnOp>(func.getBody().back().getTerminator());
  SmallVector<Value> worklist{ret.getOperand(lossAttr.getInt())};
  llvm::DenseSet<Value> seen;
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    if (!seen.insert(v).second)
      continue;
    Operation *def = v.getDefiningOp();
    if (!def)
      continue;
    if (auto ref = dyn_cast<ParamRefOp>(def)) {
      trainable.insert(ref.getName());
      continue;
    }
    for (unsigned i = 0, e = def->getNumOperands(); i < e; ++i)
      if (isDifferentiableOperand(def, i))
        worklist.push_back(def->getOperand(i));
  }
}

struct MarkFrozenParametersPass
    : ds::impl::MarkFrozenParametersPassBase<MarkFrozenParametersPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<llvm::Regex> regex;
    if (!freeze.empty()) {
      regex.emplace(freeze);
      std::string error;
      if (!regex->isValid(error)) {
        module.emitError() << "invalid --freeze regex '" << freeze
                           << "': " << error;
        return signalPassFailure();
      }
    }
    llvm::DenseSet<StringRef> trainable;
    for (auto func : module.getOps<func::FuncOp>())
      collectTrainable(func, trainable);
    for (auto param : module.getOps<ParameterOp>()) {
      bool frozen = param.getFrozen() || !trainable.contains(param.getSymName()) ||
                    (regex && regex->match(param.getSymName()));
      param.setFrozen(frozen);
      if (frozen)
        ++numFrozen;
      else
        ++numTrainable;
    }
  }
};
} // namespace
