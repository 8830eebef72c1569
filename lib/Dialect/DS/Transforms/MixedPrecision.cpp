// Converts the forward pass to bf16/fp16 storage with fp32 losses.
#include "ds/Dialect/DS/IR/DSOps.h"
#include "ds/Dialect/DS/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#define DEBUG_TYPE "ds-mixed-precision"

namespace mlir::ds {
#define GEN_PASS_DEF_APPLYMIXEDPRECISIONPASS
#include "ds/Dialect/DS/Transforms/Passes.h.inc"
} // namespace mlir::ds

using namespace mlir;
using namespace mlir::ds;

namespace {
bool isFloatTensor(Type t) {
  auto r = dyn_cast<RankedTensorType>(t);
  return r && isa<FloatType>(r.getElementType());
}

Type withElement(Type t, Type element) {
  return cast<RankedTensorType>(t).clone(element);
}

struct ApplyMixedPrecisionPass
    : ds::impl::ApplyMixedPrecisionPassBase<ApplyMixedPrecisionPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    OpBuilder b(&getContext());
    Type half;
    if (dtype == "bf16")
      half = b.getBF16Type();
    else if (dtype == "f16" || dtype == "fp16")
      half = b.getF16Type();
    else {
      module.emitError("--ds-mixed-precision: dtype must be bf16 or f16, got '")
          << std::string(dtype) << "'";
      return signalPassFailure();
    }

    for (auto param : module.getOps<ParameterOp>())
      if (param.getTensorType().getElementType().isF32())
        param.setType(param.getTensorType().clone(half));

    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      if (failed(convertFunction(func, half)))
        return signalPassFailure();
    }

    if (half.isF16()) {
      b.setInsertionPointToStart(module.getBody());
      StateOp::create(b, module.getLoc(), "loss_scale",
                      RankedTensorType::get({}, b.getF32Type()),
                      StateKind::loss_scale, FlatSymbolRefAttr());
    }
  }

  LogicalResult convertFunction(func::FuncOp func, Type half) {
    Block &body = func.getBody().front();
    OpBuilder b(func.getContext());
    b.setInsertionPointToStart(&body);
    // Float inputs arrive in fp32 and are cast once.
    for (BlockArgument arg : body.getArguments()) {
      if (!isFloatTensor(arg.getType()) ||
          cast<RankedTensorType>(arg.getType()).getElementType() == half)
        continue;
      auto c = CastOp::create(b, func.getLoc(), withElement(arg.getType(), half), arg);
      arg.replaceAllUsesExcept(c, c);
    }

    for (Operation &op : llvm::make_early_inc_range(body.without_terminator())) {
      if (auto ref = dyn_cast<ParamRefOp>(op)) {
        auto param = SymbolTable::lookupNearestSymbolFrom<ParameterOp>(
            &op, ref.getNameAttr());
        ref.getResult().setType(param.getStorageType());
        continue;
      }
      if (auto constant = dyn_cast<ConstantOp>(op)) {
        auto dense = dyn_cast<DenseElementsAttr>(constant.getValue());
        if (!dense || !isa<FloatType>(dense.getElementType()) ||
            dense.getElementType() == half)
          continue;
        auto converted = dense.mapValues(half, [&](const APFloat &v) {
          APFloat x = v;
          bool lost;
          x.convert(cast<FloatType>(half).getFloatSemantics(),
                    APFloat::rmNearestTiesToEven, &lost);
          return x.bitcastToAPInt();
        });
        constant.setValueAttr(converted);
        constant.getResult().setType(cast<RankedTensorType>(converted.getType()));
        continue;
      }
      if (isa<SoftmaxCrossEntropyLossOp, NllLossOp>(op)) {
        // Losses give an fp32 loss. Without class weights they read the 16-bit scores
        // (their kernels compute in f32: the same bits as casting the scores first, without
        // an fp32 copy of the logits, and the gradient comes back 16-bit); class weights
        // are kept in fp32, so a weighted loss gets fp32 scores and weights.
        if (op.getNumOperands() == 2)
          continue;
        b.setInsertionPoint(&op);
        for (OpOperand &operand : op.getOpOperands()) {
          Type t = operand.get().getType();
          if (isFloatTensor(t) && cast<RankedTensorType>(t).getElementType() == half)
            operand.set(CastOp::create(b, op.getLoc(),
                                       withElement(t, b.getF32Type()), operand.get()));
        }
        continue;
      }
      bool anyHalf = llvm::any_of(op.getOperandTypes(), [&](Type t) {
        return isFloatTensor(t) && cast<RankedTensorType>(t).getElementType() == half;
      });
      if (!anyHalf)
        continue;
      if (auto c = dyn_cast<CastOp>(op)) {
        // A float-to-float cast in the model keeps the computation 16-bit.
        if (isFloatTensor(c.getType()))
          c.getResult().setType(cast<RankedTensorType>(withElement(c.getType(), half)));
        continue;
      }
      for (Value r : op.getResults()) {
        // attention's per-row log-sum-exp stays f32 (its verifier's type): the backward
        // pass exponentiates it.
        if (auto attention = dyn_cast<AttentionOp>(op);
            attention && r == attention.getLse())
          continue;
        if (isFloatTensor(r.getType()))
          r.setType(withElement(r.getType(), half));
      }
    }

    // Outputs leave in fp32, as the model declared them.
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    b.setInsertionPoint(ret);
    for (OpOperand &operand : ret->getOpOperands()) {
      Type declared = func.getResultTypes()[operand.getOperandNumber()];
      if (operand.get().getType() != declared && isFloatTensor(declared))
        operand.set(CastOp::create(b, ret.getLoc(), declared, operand.get()));
    }
    return success();
  }
};
} // namespace
