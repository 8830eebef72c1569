// Normalizing ONNX ops: Softmax, LogSoftmax and LayerNormalization.
#include "ONNXOpTable.h"

using namespace mlir;
using namespace mlir::ds;
using namespace mlir::ds::onnx_import;

namespace {
using Node = const onnx::NodeProto &;
using Inputs = FoldInputs;
using Outputs = FoldOutputs;

template <typename OpTy> LogicalResult convertSoftmax(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  auto axis = imp.normalizeAxis(imp.intAttr("axis", -1), typeOf(x).getRank());
  if (failed(axis))
    return failure();
  return setResult(
      imp, imp.createTyped<OpTy>({x.getType()}, {x}, {i64Attr(imp, "axis", *axis)}));
}

LogicalResult convertLayerNorm(GraphImporter &imp, Node) {
  if (imp.outputUsed(1) || imp.outputUsed(2))
    return imp.nodeError()
           << "only output 0 (Y) of LayerNormalization is supported; the Mean "
              "and InvStdDev outputs are used";
  Value x = imp.inputValue(0), scale = imp.inputValue(1);
  if (!x || !scale)
    return failure();
  if (typeOf(x).getRank() == 0)
    return imp.nodeError() << "input '" << imp.node->input(0)
                           << "' is a scalar; LayerNormalization needs rank >= 1";
  SmallVector<Value> operands{x, scale};
  if (imp.input(2)) {
    Value b = imp.inputValue(2);
    if (!b)
      return failure();
    operands.push_back(b);
  }
  auto axis = imp.normalizeAxis(imp.intAttr("axis", -1), typeOf(x).getRank());
  if (failed(axis))
    return failure();
  return setResult(
      imp, imp.createTyped<LayerNormOp>(
               {x.getType()}, operands,
               {i64Attr(imp, "axis", *axis),
                named(imp, "epsilon",
                      imp.builder.getF32FloatAttr(imp.floatAttr("epsilon", 1e-5f)))}));
}
} // namespace

void mlir::ds::onnx_import::populateNormalizationOps(ONNXOpTable &table) {
  // Softmax-13 normalizes along one axis (older versions flatten to 2-D).
  table.onOp("Softmax", 13, convertSoftmax<SoftmaxOp>);
  table.onOp("LogSoftmax", 13, convertSoftmax<LogSoftmaxOp>);
  table.onOp("LayerNormalization", 17, convertLayerNorm);
}
