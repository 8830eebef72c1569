// ONNX ops of a training graph: Dropout and the losses.
#include "ONNXOpTable.h"

using namespace mlir;
using namespace mlir::ds;
using namespace mlir::ds::onnx_import;

namespace {
using Node = const onnx::NodeProto &;
using Inputs = FoldInputs;
using Outputs = FoldOutputs;

LogicalResult convertDropout(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  float ratio = imp.floatAttr("ratio", 0.5f);
  if (imp.opset >= 12 && imp.input(1)) {
    const ConstTensor *r = imp.constantInput(1, "ratio");
    if (!r)
      return failure();
    if (r->numElements() != 1)
      return imp.nodeError() << "ratio must be a scalar";
    ratio = r->asReal(0);
  }
  bool training = false;
  if (imp.input(2)) {
    const ConstTensor *t = imp.constantInput(2, "training_mode");
    if (!t)
      return failure();
    if (t->numElements() != 1)
      return imp.nodeError() << "training_mode must be a scalar";
    training = t->asInt(0) != 0;
  }
  if (!(ratio >= 0.0f && ratio < 1.0f))
    return imp.nodeError() << "ratio must be in [0, 1), got " << ratio;
  if (!training || imp.options.inference) {
    imp.setOutput(0, x);
    if (imp.outputUsed(1)) {
      ConstTensor mask =
          ConstTensor::make(IntegerType::get(imp.ctx, 1), typeOf(x).getShape());
      mask.ints.push_back(1);
      mask.splat = true;
      imp.setOutput(1, std::move(mask));
    }
    return success();
  }
  // Without a seed, each dropout node gets its own stream: its ordinal.
  int64_t seed = imp.intAttr("seed", imp.numDropouts++);
  auto op = imp.createInferred<DropoutOp>(
      {x}, {named(imp, "ratio", imp.builder.getF32FloatAttr(ratio)),
            i64Attr(imp, "seed", seed)});
  if (failed(op))
    return failure();
  imp.setOutput(0, op->getResult());
  imp.setOutput(1, op->getMask());
  return success();
}

template <typename OpTy> LogicalResult convertLoss(GraphImporter &imp, Node node) {
  Value x = imp.inputValue(0), target = imp.inputValue(1);
  if (!x || !target)
    return failure();
  SmallVector<Value> operands{x, target};
  if (imp.input(2)) {
    Value w = imp.inputValue(2);
    if (!w)
      return failure();
    operands.push_back(w);
  }
  std::string reduction = imp.stringAttr("reduction", "mean");
  std::optional<LossReduction> mode = symbolizeLossReduction(reduction);
  if (!mode)
    return imp.nodeError() << "reduction must be \"mean\", \"sum\" or \"none\", got \""
                           << reduction << "\"";
  SmallVector<NamedAttribute> attrs{named(
      imp, "reduction", LossReductionAttr::get(imp.builder.getContext(), *mode))};
  if (imp.attr("ignore_index"))
    attrs.push_back(i64Attr(imp, "ignore_index", imp.intAttr("ignore_index", 0)));
  if (failed(setResult(imp, imp.createInferred<OpTy>(operands, attrs))))
    return failure();
  if (imp.outputUsed(1)) {
    if (!std::is_same_v<OpTy, SoftmaxCrossEntropyLossOp>)
      return imp.nodeError() << "has only one output";
    auto logProb =
        imp.createTyped<LogSoftmaxOp>({x.getType()}, {x}, {i64Attr(imp, "axis", 1)});
    if (failed(logProb))
      return failure();
    imp.setOutput(1, logProb->getResult());
  }
  return success();
}
} // namespace

void mlir::ds::onnx_import::populateTrainingOps(ONNXOpTable &table) {
  table.onOp("Dropout", 13, convertDropout);
  table.onOp("SoftmaxCrossEntropyLoss", 13, convertLoss<SoftmaxCrossEntropyLossOp>);
  table.onOp("NegativeLogLikelihoodLoss", 13, convertLoss<NllLossOp>);
}
