// ONNX ops imported as compositions of ds ops: LessOrEqual, GreaterOrEqual, Not, And, Or, Tile, CumSum.
//
// Each works on activations (with the gradients of the ops it is made of) and, with constant
// inputs, is evaluated at import time by the general constant folder through the same ops.
#include "ONNXOpTable.h"

using namespace mlir;
using namespace mlir::ds;
using namespace mlir::ds::onnx_import;

namespace {
using Node = const onnx::NodeProto &;

/// A scalar boolean constant.
Value boolConstant(GraphImporter &imp, bool v) {
  auto type = RankedTensorType::get({}, imp.builder.getI1Type());
  return ConstantOp::create(imp.builder, imp.loc, DenseElementsAttr::get(type, v));
}

/// cond ? x : y with the result type inferred.
FailureOr<Value> select(GraphImporter &imp, Value cond, Value x, Value y) {
  auto op = imp.createInferred<WhereOp>({cond, x, y});
  if (failed(op))
    return failure();
  return op->getResult();
}

/// a <= b as (a < b) or (a == b), and a >= b likewise: false where either is NaN, as
/// ONNX and PyTorch compare.
template <typename StrictOp> LogicalResult convertOrEqual(GraphImporter &imp, Node) {
  Value a = imp.inputValue(0), b = imp.inputValue(1);
  if (!a || !b)
    return failure();
  auto strict = imp.createInferred<StrictOp>({a, b});
  auto equal = imp.createInferred<EqualOp>({a, b});
  if (failed(strict) || failed(equal))
    return failure();
  auto r = select(imp, strict->getResult(), boolConstant(imp, true), equal->getResult());
  if (failed(r))
    return failure();
  imp.setOutput(0, *r);
  return success();
}

LogicalResult convertNot(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  return setResult(imp, imp.createInferred<EqualOp>({x, boolConstant(imp, false)}));
}

/// a and b = a ? b : false; a or b = a ? true : b.
template <bool IsAnd> LogicalResult convertLogical(GraphImporter &imp, Node) {
  Value a = imp.inputValue(0), b = imp.inputValue(1);
  if (!a || !b)
    return failure();
  auto r = IsAnd ? select(imp, a, b, boolConstant(imp, false))
                 : select(imp, a, boolConstant(imp, true), b);
  if (failed(r))
    return failure();
  imp.setOutput(0, *r);
  return success();
}

/// Tile(x, repeats): x viewed as [1, d0, 1, d1, ...], expanded to [r0, d0, r1, d1, ...] and
/// viewed as [r0*d0, r1*d1, ...] (out[i] = x[i mod d] along every axis).
LogicalResult convertTile(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  const ConstTensor *repeats = imp.constantInput(1, "repeats");
  if (!repeats)
    return failure();
  ArrayRef<int64_t> shape = typeOf(x).getShape();
  if (repeats->isFloat() || repeats->shape.size() != 1 ||
      repeats->numElements() != (int64_t)shape.size())
    return imp.nodeError() << "repeats must be " << shape.size()
                           << " integers (one per input dim), got "
                           << formatShape(repeats->shape) << " of "
                           << (repeats->isFloat() ? "floats" : "integers");
  SmallVector<int64_t> interleaved, expanded, tiled;
  bool identity = true;
  for (auto [i, d] : llvm::enumerate(shape)) {
    int64_t r = repeats->intAt(i);
    if (r < 0)
      return imp.nodeError() << "repeats[" << i << "] is negative (" << r << ")";
    identity &= r == 1;
    interleaved.append({1, d});
    expanded.append({r, d});
    tiled.push_back(r * d);
  }
  if (identity)
    return setResult(imp, imp.createTyped<IdentityOp>({x.getType()}, {x}));
  auto view = imp.createTyped<ReshapeOp>({typeOf(x).clone(interleaved)}, {x});
  if (failed(view))
    return failure();
  auto expand = imp.createTyped<ExpandOp>({typeOf(x).clone(expanded)}, {view->getResult()});
  if (failed(expand))
    return failure();
  return setResult(
      imp, imp.createTyped<ReshapeOp>({typeOf(x).clone(tiled)}, {expand->getResult()}));
}

/// CumSum(x, axis) as a product with a 0/1 triangular matrix along the axis (moved last):
/// out[.., j] = sum_i x[.., i] * M[i][j], M[i][j] = 1 where i <= j (exclusive: i < j;
/// reverse: i >= j, i > j). Integer inputs are summed in f64 (exact below 2^53).
LogicalResult convertCumSum(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  const ConstTensor *axisInput = imp.constantInput(1, "axis");
  if (!axisInput)
    return failure();
  if (axisInput->isFloat() || axisInput->numElements() != 1)
    return imp.nodeError() << "axis must be one integer, got "
                           << formatShape(axisInput->shape);
  RankedTensorType type = typeOf(x);
  int64_t rank = type.getRank();
  if (rank == 0)
    return imp.nodeError() << "input '" << imp.node->input(0)
                           << "' is a scalar; CumSum needs rank >= 1";
  auto axis = imp.normalizeAxis(axisInput->intAt(0), rank);
  if (failed(axis))
    return failure();
  bool exclusive = imp.intAttr("exclusive", 0), reverse = imp.intAttr("reverse", 0);
  int64_t n = type.getDimSize(*axis);

  Type elem = type.getElementType();
  Type sumType = isa<FloatType>(elem) ? elem : imp.builder.getF64Type();
  Value v = x;
  if (sumType != elem) {
    auto cast = imp.createTyped<CastOp>({type.clone(sumType)}, {v});
    if (failed(cast))
      return failure();
    v = cast->getResult();
  }
  // The axis last.
  SmallVector<int64_t> perm;
  for (int64_t i = 0; i < rank; ++i)
    if (i != *axis)
      perm.push_back(i);
  perm.push_back(*axis);
  bool moved = *axis != rank - 1;
  if (moved) {
    auto t = imp.createInferred<TransposeOp>({v}, {arrayAttr(imp, "perm", perm)});
    if (failed(t))
      return failure();
    v = t->getResult();
  }
  ConstTensor m = ConstTensor::make(sumType, {n, n});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      bool in = reverse ? (exclusive ? i > j : i >= j) : (exclusive ? i < j : i <= j);
      m.push(in ? 1.0 : 0.0);
    }
  Value mat = ConstantOp::create(imp.builder, imp.loc, m.toAttr());
  auto mm = imp.createInferred<MatMulOp>({v, mat});
  if (failed(mm))
    return failure();
  v = mm->getResult();
  if (moved) {
    SmallVector<int64_t> inverse(rank);
    for (int64_t i = 0; i < rank; ++i)
      inverse[perm[i]] = i;
    auto t = imp.createInferred<TransposeOp>({v}, {arrayAttr(imp, "perm", inverse)});
    if (failed(t))
      return failure();
    v = t->getResult();
  }
  if (sumType != elem) {
    auto cast = imp.createTyped<CastOp>({type}, {v});
    if (failed(cast))
      return failure();
    v = cast->getResult();
  }
  imp.setOutput(0, v);
  return success();
}
} // namespace

void mlir::ds::onnx_import::populateComposedOps(ONNXOpTable &table) {
  table.onOp("LessOrEqual", 12, convertOrEqual<LessOp>);
  table.onOp("GreaterOrEqual", 12, convertOrEqual<GreaterOp>);
  table.onOp("Not", 1, convertNot);
  table.onOp("And", 7, convertLogical<true>);
  table.onOp("Or", 7, convertLogical<false>);
  table.onOp("Tile", 6, convertTile);
  table.onOp("CumSum", 11, convertCumSum);
}
