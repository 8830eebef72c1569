// Verifiers of the backward ops of the `ds` dialect.
#include "ds/Dialect/DS/IR/DSOps.h"

#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace mlir::ds;

static RankedTensorType tensorOf(Value v) {
  return cast<RankedTensorType>(v.getType());
}

template <typename Op>
static LogicalResult verifyAxisGrad(Op op) {
  int64_t rank = tensorOf(op.getOutput()).getRank();
  int64_t axis = op.getAxis();
  if (axis < 0 || axis >= rank)
    return op.emitOpError("axis ") << axis << " is out of range for rank " << rank;
  return success();
}
LogicalResult SoftmaxGradOp::verify() { return verifyAxisGrad(*this); }
LogicalResult LogSoftmaxGradOp::verify() { return verifyAxisGrad(*this); }

LogicalResult LayerNormGradOp::verify() {
  auto x = tensorOf(getInput());
  int64_t axis = getAxis();
  if (axis < 0 || axis >= x.getRank())
    return emitOpError("axis ") << axis << " is out of range for rank " << x.getRank();
  if (tensorOf(getGrad()) != x || getInputGrad().getType() != x)
    return emitOpError("grad and input gradient must have the input type ") << x;
  auto norm = RankedTensorType::get(x.getShape().drop_front(getAxis()),
                                    x.getElementType());
  for (Value v : {getScale(), getScaleGrad(), getBiasGrad()})
    if (v.getType() != norm)
      return emitOpError("scale and its gradients must be ")
             << norm << ", got " << v.getType();
  return success();
}

LogicalResult GatherGradOp::verify() {
  auto g = tensorOf(getGrad()), idx = tensorOf(getIndices());
  auto data = tensorOf(getResult());
  int64_t axis = getAxis();
  if (axis < 0 || axis >= data.getRank())
    return emitOpError("axis ") << axis << " is out of range for rank "
                                << data.getRank();
  SmallVector<int64_t> shape(data.getShape().take_front(axis));
  llvm::append_range(shape, idx.getShape());
  llvm::append_range(shape, data.getShape().drop_front(axis + 1));
  if (g.getShape() != ArrayRef<int64_t>(shape) ||
      g.getElementType() != data.getElementType())
    return emitOpError("grad ") << g << " is not the gather result of "
                                << data << " at " << idx;
  return success();
}

LogicalResult SliceGradOp::verify() {
  auto in = tensorOf(getResult());
  auto starts = getStarts(), ends = getEnds(), steps = getSteps();
  if ((int64_t)starts.size() != in.getRank() ||
      (int64_t)ends.size() != in.getRank() || (int64_t)steps.size() != in.getRank())
    return emitOpError("starts, ends and steps need one entry per dim (")
           << in.getRank() << ")";
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < in.getRank(); ++i) {
    if (steps[i] == 0)
      return emitOpError("step of dim ") << i << " is zero";
    int64_t n = steps[i] > 0 ? (ends[i] - starts[i] + steps[i] - 1) / steps[i]
                             : (starts[i] - ends[i] - steps[i] - 1) / -steps[i];
    shape.push_back(std::max<int64_t>(0, n));
  }
  auto g = tensorOf(getGrad());
  if (g.getShape() != ArrayRef<int64_t>(shape) ||
      g.getElementType() != in.getElementType())
    return emitOpError("grad ") << g << " is not the slice of " << in;
  return success();
}

template <typename Op>
static LogicalResult verifyLossGrad(Op op) {
  auto x = tensorOf(op.getInput());
  if (op.getResult().getType() != x)
    return op.emitOpError("result must have the input type ") << x;
  LossReduction r = op.getReduction();
  auto g = tensorOf(op.getGrad());
  auto t = tensorOf(op.getTarget());
  if (r == LossReduction::none ? g.getShape() != t.getShape() : g.getRank() != 0)
    return op.emitOpError("grad ") << g << " does not match reduction \""
                                   << stringifyLossReduction(r) << "\"";
  return success();
}
LogicalResult SoftmaxCrossEntropyLossGradOp::verify() {
  return verifyLossGrad(*this);
}
LogicalResult NllLossGradOp::verify() { return verifyLossGrad(*this); }
