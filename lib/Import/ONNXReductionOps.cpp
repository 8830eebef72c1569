// Reducing ONNX ops: ReduceMean, ReduceSum, ReduceMax and (folded only) ReduceProd.
#include "ONNXOpTable.h"

using namespace mlir;
using namespace mlir::ds;
using namespace mlir::ds::onnx_import;

namespace {
using Node = const onnx::NodeProto &;
using Inputs = FoldInputs;
using Outputs = FoldOutputs;

/// Axes of a Reduce* node (attribute or input by op and opset), normalized; empty
/// means all dims, std::nullopt means the reduction is a no-op.
FailureOr<std::optional<SmallVector<int64_t>>> reduceAxes(GraphImporter &imp,
                                                          int64_t rank) {
  StringRef op = imp.node->op_type();
  // ReduceSum takes axes as an input from opset 13, the others from opset 18.
  bool asInput = op == "ReduceSum" ? imp.opset >= 13 : imp.opset >= 18;
  auto axes = readAxes(imp, 1, asInput);
  if (failed(axes))
    return failure();
  using Result = std::optional<SmallVector<int64_t>>;
  if (!*axes || (*axes)->empty()) {
    if (imp.intAttr("noop_with_empty_axes", 0))
      return Result();
    return Result(SmallVector<int64_t>());
  }
  auto norm = imp.normalizeAxes(**axes, rank);
  if (failed(norm))
    return failure();
  llvm::sort(*norm);
  return Result(*norm);
}

/// Result shape of a reduction.
SmallVector<int64_t> reducedShape(ArrayRef<int64_t> in, ArrayRef<int64_t> axes,
                                  bool keepdims) {
  SmallVector<int64_t> out;
  for (int64_t i = 0, e = in.size(); i < e; ++i) {
    bool reduced = axes.empty() || llvm::is_contained(axes, i);
    if (!reduced)
      out.push_back(in[i]);
    else if (keepdims)
      out.push_back(1);
  }
  return out;
}

template <typename OpTy> LogicalResult convertReduce(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  auto axes = reduceAxes(imp, typeOf(x).getRank());
  if (failed(axes))
    return failure();
  if (!*axes) {
    imp.setOutput(0, x);
    return success();
  }
  return setResult(
      imp, imp.createInferred<OpTy>(
               {x}, {arrayAttr(imp, "axes", **axes),
                     named(imp, "keepdims",
                           imp.builder.getBoolAttr(imp.intAttr("keepdims", 1)))}));
}

template <bool isProduct>
LogicalResult foldReduce(GraphImporter &imp, const onnx::NodeProto &, Inputs in,
                         Outputs &out) {
  const ConstTensor &x = *in[0];
  int64_t rank = x.shape.size();
  auto axes = reduceAxes(imp, rank);
  if (failed(axes))
    return failure();
  if (!*axes) {
    out.push_back(x);
    return success();
  }
  bool keepdims = imp.intAttr("keepdims", 1) != 0;
  SmallVector<int64_t> shape = reducedShape(x.shape, **axes, keepdims);
  SmallVector<int64_t> kept = reducedShape(x.shape, **axes, true);
  if (!foldable(shape, false) || x.numElements() > kMaxFoldElements)
    return success();
  int64_t n = product(kept);
  std::vector<double> racc(n, isProduct ? 1.0 : 0.0);
  std::vector<int64_t> iacc(n, isProduct ? 1 : 0);
  std::vector<int64_t> map = broadcastIndices(kept, x.shape);
  for (int64_t i = 0, e = x.numElements(); i < e; ++i) {
    if (x.isFloat())
      racc[map[i]] = isProduct ? racc[map[i]] * x.realAt(i) : racc[map[i]] + x.realAt(i);
    else
      iacc[map[i]] = isProduct ? iacc[map[i]] * x.intAt(i) : iacc[map[i]] + x.intAt(i);
  }
  ConstTensor t = ConstTensor::make(x.elementType, shape);
  for (int64_t i = 0; i < n; ++i) {
    if (x.isFloat())
      t.push(racc[i]);
    else
      t.pushInt(iacc[i]);
  }
  out.push_back(std::move(t));
  return success();
}
} // namespace

void mlir::ds::onnx_import::populateReductionOps(ONNXOpTable &table) {
  // ReduceSum takes its axes as an input from 13, the others from 18 (reduceAxes).
  table.onOp("ReduceMean", 13, convertReduce<ReduceMeanOp>);
  table.onOp("ReduceSum", 13, convertReduce<ReduceSumOp>, foldReduce<false>);
  table.onOp("ReduceMax", 13, convertReduce<ReduceMaxOp>);
  table.onShapeOp("ReduceProd", 13, foldReduce<true>);
}
