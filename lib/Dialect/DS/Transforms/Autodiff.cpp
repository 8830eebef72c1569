// Reverse-mode autodiff: appends parameter gradients to functions with a loss.
#include "ds/Dialect/DS/IR/DSInterfaces.h"
#include "ds/Dialect/DS/IR/DSOps.h"
#include "ds/Dialect/DS/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"

#define DEBUG_TYPE "ds-autodiff"

namespace mlir::ds {
#define GEN_PASS_DEF_DIFFERENTIATEPROGRAMPASS
#include "ds/Dialect/DS/Transforms/Passes.h.inc"
} // namespace mlir::ds

using namespace mlir;
using namespace mlir::ds;

namespace {
bool isFloatTensor(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && isa<FloatType>(t.getElementType());
}

class FunctionDifferentiator {
public:
  FunctionDifferentiator(func::FuncOp func, bool wrtArgs)
      : func(func), wrtArgs(wrtArgs) {}

  LogicalResult run() {
    Block &body = func.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    int64_t lossIndex = func->getAttrOfType<IntegerAttr>(kLossIndexAttr).getInt();
    Value loss = ret.getOperand(lossIndex);
    ModuleOp module = func->getParentOfType<ModuleOp>();

    // Values that depend on something we differentiate.
    llvm::DenseSet<Value> active;
    if (wrtArgs)
      for (BlockArgument arg : body.getArguments())
        if (isFloatTensor(arg))
          active.insert(arg);
    for (Operation &op : body) {
      if (auto ref = dyn_cast<ParamRefOp>(op)) {
        auto param = module.lookupSymbol<ParameterOp>(ref.getNameAttr());
        if (param && !param.getFrozen())
          active.insert(ref.getResult());
        continue;
      }
      bool anyActive = false;
      for (unsigned i = 0; i < op.getNumOperands(); ++i)
        anyActive |= active.contains(op.getOperand(i)) && isDifferentiableOperand(&op, i);
      if (anyActive)
        for (Value r : op.getResults())
          if (isFloatTensor(r))
            active.insert(r);
    }
    // ... and reach the loss through differentiable operands.
    llvm::DenseSet<Value> useful;
    SmallVector<Value> worklist{loss};
    while (!worklist.empty()) {
      Value v = worklist.pop_back_val();
      if (!active.contains(v) || !useful.insert(v).second)
        continue;
      if (Operation *def = v.getDefiningOp())
        for (unsigned i = 0; i < def->getNumOperands(); ++i)
          if (isDifferentiableOperand(def, i))
            worklist.push_back(def->getOperand(i));
    }

    OpBuilder b(ret);
    GradMap grads;
    if (useful.contains(loss)) {
      auto lossType = cast<RankedTensorType>(loss.getType());
      // The backward pass runs on S * loss when fp16 training keeps a loss scale S.
      StateOp scale;
      for (auto state : module.getOps<StateOp>())
        if (state.getKind() == StateKind::loss_scale)
          scale = state;
      if (scale) {
        Value s = StateRefOp::create(b, loss.getLoc(), scale.getTensorType(),
                                     scale.getSymName());
        grads[loss] = s.getType() == lossType
                          ? s
                          : CastOp::create(b, loss.getLoc(), lossType, s).getResult();
      } else {
        grads[loss] = ConstantOp::create(
            b, loss.getLoc(),
            DenseElementsAttr::get(lossType,
                                   b.getFloatAttr(lossType.getElementType(), 1.0)));
      }
    }

    SmallVector<Operation *> ops;
    for (Operation &op : body.without_terminator())
      ops.push_back(&op);
    for (Operation *op : llvm::reverse(ops)) {
      SmallVector<Value> resultGrads;
      bool any = false;
      for (Value r : op->getResults()) {
        resultGrads.push_back(grads.lookup(r));
        any |= bool(resultGrads.back());
      }
      if (!any)
        continue;
      SmallVector<bool> needed;
      bool anyNeeded = false;
      for (unsigned i = 0; i < op->getNumOperands(); ++i) {
        needed.push_back(useful.contains(op->getOperand(i)) &&
                         isDifferentiableOperand(op, i));
        anyNeeded |= needed.back();
      }
      if (!anyNeeded)
        continue;
      auto rule = dyn_cast<GradientOpInterface>(op);
      if (!rule)
        return op->emitError("'")
               << op->getName()
               << "' has no gradient rule, but the gradient of a trainable "
                  "parameter flows through it";
      SmallVector<Value> operandGrads;
      if (failed(rule.buildGradients(b, resultGrads, needed, operandGrads)))
        return failure();
      for (unsigned i = 0; i < op->getNumOperands(); ++i) {
        if (!needed[i] || !operandGrads[i])
          continue;
        Value &slot = grads[op->getOperand(i)];
        slot = slot ? AddOp::create(b, op->getLoc(), slot, operandGrads[i])
                          .getResult()
                    : operandGrads[i];
      }
    }

    // Gradients of parameters, summed over every read of the same parameter.
    llvm::MapVector<StringRef, Value> paramGrads;
    for (auto param : module.getOps<ParameterOp>())
      if (!param.getFrozen())
        paramGrads[param.getSymName()] = Value();
    for (auto ref : body.getOps<ParamRefOp>()) {
      Value g = grads.lookup(ref.getResult());
      auto it = paramGrads.find(ref.getName());
      if (!g || it == paramGrads.end())
        continue;
      it->second = it->second ? AddOp::create(b, ref.getLoc(), it->second, g)
                                    .getResult()
                              : g;
    }

    SmallVector<Value> results(ret.getOperands());
    SmallVector<DictionaryAttr> resultAttrs;
    for (unsigned i = 0; i < results.size(); ++i)
      resultAttrs.push_back(func.getResultAttrDict(i));
    for (auto &[name, g] : paramGrads) {
      auto param = module.lookupSymbol<ParameterOp>(name);
      if (!g) // trainable but unused by this function: a zero gradient
        g = ConstantOp::create(
            b, func.getLoc(),
            DenseElementsAttr::get(param.getTensorType(),
                                   b.getFloatAttr(param.getTensorType().getElementType(), 0.0)));
      results.push_back(g);
      resultAttrs.push_back(b.getDictionaryAttr(
          {b.getNamedAttr(kGradOfAttr, FlatSymbolRefAttr::get(param.getSymNameAttr())),
           b.getNamedAttr(kOutputNameAttr, b.getStringAttr("grad:" + name))}));
    }
    if (wrtArgs) {
      for (BlockArgument arg : body.getArguments()) {
        if (!isFloatTensor(arg))
          continue;
        Value g = grads.lookup(arg);
        if (!g)
          g = ConstantOp::create(
              b, func.getLoc(),
              DenseElementsAttr::get(cast<RankedTensorType>(arg.getType()),
                                     b.getFloatAttr(cast<RankedTensorType>(arg.getType()).getElementType(), 0.0)));
        auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), kInputNameAttr);
        std::string label = name ? name.str() : "arg" + std::to_string(arg.getArgNumber());
        results.push_back(g);
        resultAttrs.push_back(b.getDictionaryAttr(
            {b.getNamedAttr(kGradOfInputAttr, b.getStringAttr(label)),
             b.getNamedAttr(kOutputNameAttr, b.getStringAttr("grad:" + label))}));
      }
    }
    func::ReturnOp::create(b, ret.getLoc(), results);
    ret.erase();
    func.setFunctionType(FunctionType::get(func.getContext(),
                                           body.getArgumentTypes(),
                                           ValueRange(results).getTypes()));
    func.setAllResultAttrs(resultAttrs);
    return success();
  }

private:
  using GradMap = llvm::DenseMap<Value, Value>;
  func::FuncOp func;
  bool wrtArgs;
};

struct DifferentiateProgramPass
    : ds::impl::DifferentiateProgramPassBase<DifferentiateProgramPass> {
  using Base::Base;

  void runOnOperation() override {
    bool found = false;
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal() || !func->hasAttr(kLossIndexAttr))
        continue;
      found = true;
      if (failed(FunctionDifferentiator(func, wrtArgs).run()))
        return signalPassFailure();
    }
    if (!found) {
      getOperation().emitError("no function has a loss (ds.loss) to differentiate");
      signalPassFailure();
    }
  }
};
} // namespace
