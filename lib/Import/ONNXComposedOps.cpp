// ONNX ops imported as compositions of ds ops: LessOrEqual, GreaterOrEqual, Not, And, Or,
// Tile, CumSum, GatherND, ScatterND.
//
// Each works on activations (with the gradients of the ops it is made of) and, with
// constant inputs, is evaluated at import time by the general constant folder through the
// same ops.
#include "ONNXOpTable.h"

#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::ds;
using namespace mlir::ds::onnx_import;

namespace {
using Node = const onnx::NodeProto &;

/// The most elements a composition may build as a constant (CumSum's triangle,
/// ScatterND's row map, GatherND's batch offsets).
constexpr int64_t kMaxBuiltElements = int64_t(1) << 24;

/// The product of `dims`, INT64_MAX when it overflows.
int64_t saturatingProduct(ArrayRef<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    if (llvm::MulOverflow(n, d, n))
      return INT64_MAX;
  return n;
}

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

/// Tile(x, repeats): x viewed as [1, d0, 1, d1, ...], expanded to [r0, d0, r1, d1, ...]
/// and viewed as [r0*d0, r1*d1, ...] (out[i] = x[i mod d] along every axis).
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
  auto expand =
      imp.createTyped<ExpandOp>({typeOf(x).clone(expanded)}, {view->getResult()});
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
  if (n > 4096)
    return imp.nodeError() << "CumSum along a dim of " << n
                           << " is not supported (at most 4096: it is a product with an "
                              "n x n triangle)";

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

/// A constant of `elem` (i64 or i32) and `shape` holding `values`.
Value intConstant(GraphImporter &imp, Type elem, ArrayRef<int64_t> shape,
                  std::vector<int64_t> values) {
  return ConstantOp::create(
      imp.builder, imp.loc,
      ConstTensor::fromInts(elem, shape, std::move(values)).toAttr());
}

/// GatherND(data, indices) with batch_dims b: the index tuples (negative ones counted
/// from the end) become flat row numbers of data viewed as [prod(shape[:b+k]),
/// shape[b+k:]...] (batch position times the rows per batch, plus the tuple's row-major
/// offset), and a Gather along that first axis takes the rows. Indices may be data.
LogicalResult convertGatherND(GraphImporter &imp, Node) {
  Value data = imp.inputValue(0), indices = imp.inputValue(1);
  if (!data || !indices)
    return failure();
  RankedTensorType dataType = typeOf(data), idxType = typeOf(indices);
  ArrayRef<int64_t> ds = dataType.getShape(), is = idxType.getShape();
  int64_t r = ds.size(), q = is.size(), b = imp.intAttr("batch_dims", 0);
  if (q < 1)
    return imp.nodeError() << "indices must have rank >= 1";
  int64_t k = is.back();
  if (b < 0 || b >= std::min(r, q))
    return imp.nodeError() << "batch_dims " << b << " must be in [0, min(rank of data "
                           << r << ", rank of indices " << q << "))";
  if (k < 1 || b + k > r)
    return imp.nodeError() << "the last dim of indices (" << k
                           << ") must be in [1, rank of data - batch_dims = " << r - b
                           << "]";
  for (int64_t i = 0; i < b; ++i)
    if (ds[i] != is[i])
      return imp.nodeError() << "batch dim " << i << " differs: data " << formatShape(ds)
                             << ", indices " << formatShape(is);
  Type elem = idxType.getElementType();
  // Tuple entries made non-negative: idx + dim where idx < 0.
  SmallVector<int64_t> indexed(ds.begin() + b, ds.begin() + b + k);
  Value dims =
      intConstant(imp, elem, {k}, std::vector<int64_t>(indexed.begin(), indexed.end()));
  auto shifted = imp.createInferred<AddOp>({indices, dims});
  auto negative = imp.createInferred<LessOp>({indices, intConstant(imp, elem, {}, {0})});
  if (failed(shifted) || failed(negative))
    return failure();
  auto norm = select(imp, negative->getResult(), shifted->getResult(), indices);
  if (failed(norm))
    return failure();
  // Row-major offsets of the tuples.
  std::vector<int64_t> strideValues(k);
  int64_t rowsPerBatch = 1;
  for (int64_t j = k - 1; j >= 0; --j) {
    strideValues[j] = rowsPerBatch;
    rowsPerBatch *= indexed[j];
  }
  auto scaled =
      imp.createInferred<MulOp>({*norm, intConstant(imp, elem, {k}, strideValues)});
  if (failed(scaled))
    return failure();
  SmallVector<int64_t> rowShape(is.begin(), is.end() - 1);
  auto rows = imp.createTyped<ReduceSumOp>(
      {RankedTensorType::get(rowShape, elem)}, {scaled->getResult()},
      {arrayAttr(imp, "axes", {q - 1}),
       named(imp, "keepdims", imp.builder.getBoolAttr(false))});
  if (failed(rows))
    return failure();
  Value row = rows->getResult();
  int64_t batches = saturatingProduct(ds.take_front(b));
  if (batches > kMaxBuiltElements || saturatingProduct(ds) == INT64_MAX)
    return imp.nodeError() << "batch dims of " << batches
                           << " positions are not supported (at most "
                           << kMaxBuiltElements << ")";
  if (b > 0) {
    // Batch position times the rows per batch, broadcast over the tuple dims.
    SmallVector<int64_t> batchShape(is.begin(), is.begin() + b);
    batchShape.append(q - 1 - b, 1);
    std::vector<int64_t> starts(batches);
    for (int64_t i = 0; i < batches; ++i)
      starts[i] = i * rowsPerBatch;
    auto withBatch = imp.createInferred<AddOp>(
        {row, intConstant(imp, elem, batchShape, std::move(starts))});
    if (failed(withBatch))
      return failure();
    row = withBatch->getResult();
  }
  SmallVector<int64_t> flatShape{batches * rowsPerBatch};
  flatShape.append(ds.begin() + b + k, ds.end());
  auto flat = imp.createTyped<ReshapeOp>({dataType.clone(flatShape)}, {data});
  if (failed(flat))
    return failure();
  return setResult(imp, imp.createInferred<GatherOp>({flat->getResult(), row},
                                                     {i64Attr(imp, "axis", 0)}));
}

/// ScatterND(data, indices, updates) with constant indices and no reduction: data viewed
/// as rows [P, S] (S = the elements of one indexed slice), updates as [U, S]; each data
/// row takes the update row last written to it (a constant row map and mask), else keeps
/// its own: where(mask, gather(updates, map), data).
LogicalResult convertScatterND(GraphImporter &imp, Node) {
  Value data = imp.inputValue(0), updates = imp.inputValue(2);
  if (!data || !updates)
    return failure();
  const ConstTensor *indices = imp.constantInput(1, "indices");
  if (!indices)
    return failure();
  if (imp.stringAttr("reduction", "none") != "none")
    return imp.nodeError() << "reduction '" << imp.stringAttr("reduction", "none")
                           << "' is not supported (only 'none')";
  RankedTensorType dataType = typeOf(data);
  ArrayRef<int64_t> ds = dataType.getShape();
  ArrayRef<int64_t> is = indices->shape;
  int64_t r = ds.size(), q = is.size();
  if (q < 1 || indices->isFloat())
    return imp.nodeError() << "indices must be integers of rank >= 1";
  int64_t k = is.back();
  if (k < 1 || k > r)
    return imp.nodeError() << "the last dim of indices (" << k
                           << ") must be in [1, rank of data = " << r << "]";
  SmallVector<int64_t> wantUpdates(is.begin(), is.end() - 1);
  wantUpdates.append(ds.begin() + k, ds.end());
  if (typeOf(updates).getShape() != ArrayRef<int64_t>(wantUpdates))
    return imp.nodeError() << "updates are " << formatShape(typeOf(updates).getShape())
                           << ", but data " << formatShape(ds) << " and indices "
                           << formatShape(is) << " need " << formatShape(wantUpdates);
  int64_t rows = saturatingProduct(ds.take_front(k)), slice = product(ds.drop_front(k));
  if (rows > kMaxBuiltElements || saturatingProduct(ds) == INT64_MAX)
    return imp.nodeError() << "data has " << rows << " indexed slices, more than the "
                           << kMaxBuiltElements << " supported";
  int64_t tuples = product(is.drop_back());
  std::vector<int64_t> map(rows, 0), mask(rows, 0);
  for (int64_t u = 0; u < tuples; ++u) {
    int64_t row = 0;
    for (int64_t j = 0; j < k; ++j) {
      int64_t v = indices->intAt(u * k + j);
      if (v < -ds[j] || v >= ds[j])
        return imp.nodeError() << "index " << v << " (tuple " << u << ", entry " << j
                               << ") is out of range for dim " << j << " of size "
                               << ds[j];
      row = row * ds[j] + (v < 0 ? v + ds[j] : v);
    }
    map[row] = u;
    mask[row] = 1;
  }
  Type i64 = imp.builder.getI64Type();
  auto updateRows = imp.createTyped<ReshapeOp>(
      {dataType.clone(SmallVector<int64_t>{tuples, slice})}, {updates});
  auto dataRows = imp.createTyped<ReshapeOp>(
      {dataType.clone(SmallVector<int64_t>{rows, slice})}, {data});
  if (failed(updateRows) || failed(dataRows))
    return failure();
  auto taken = imp.createInferred<GatherOp>(
      {updateRows->getResult(), intConstant(imp, i64, {rows}, std::move(map))},
      {i64Attr(imp, "axis", 0)});
  if (failed(taken))
    return failure();
  Value maskValue = ConstantOp::create(
      imp.builder, imp.loc,
      ConstTensor::fromInts(imp.builder.getI1Type(), {rows, 1}, std::move(mask))
          .toAttr());
  auto merged = select(imp, maskValue, taken->getResult(), dataRows->getResult());
  if (failed(merged))
    return failure();
  return setResult(imp, imp.createTyped<ReshapeOp>({dataType}, {*merged}));
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
  table.onOp("GatherND", 12, convertGatherND);
  table.onOp("ScatterND", 13, convertScatterND);
}
