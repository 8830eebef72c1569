// Type inference, verifiers and folders of the `ds` ops.
#include "ds/Dialect/DS/IR/DSOps.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallSet.h"

using namespace mlir;
using namespace mlir::ds;

namespace {
std::string shapeStr(ArrayRef<int64_t> shape) {
  if (shape.empty())
    return "scalar";
  std::string s;
  llvm::raw_string_ostream os(s);
  llvm::interleave(shape, os, "x");
  return s;
}

RankedTensorType tensorOf(Value v) {
  return cast<RankedTensorType>(v.getType());
}

template <typename... Args>
LogicalResult fail(std::optional<Location> loc, Args &&...args) {
  return emitOptionalError(loc, std::forward<Args>(args)...);
}

LogicalResult checkSameElementType(std::optional<Location> loc, Type a,
                                   Type b) {
  if (a != b)
    return fail(loc, "operand element types differ: ", a, " vs ", b);
  return success();
}

/// Checks `axes` are in [0, rank) and unique.
LogicalResult checkAxes(std::optional<Location> loc, ArrayRef<int64_t> axes,
                        int64_t rank, StringRef what) {
  llvm::SmallSet<int64_t, 8> seen;
  for (int64_t a : axes) {
    if (a < 0 || a >= rank)
      return fail(loc, what, " axis ", a, " is out of range for rank ", rank);
    if (!seen.insert(a).second)
      return fail(loc, what, " axis ", a, " is repeated");
  }
  return success();
}
} // namespace

FailureOr<SmallVector<int64_t>> mlir::ds::broadcastShapes(ArrayRef<int64_t> a,
                                                          ArrayRef<int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  SmallVector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      return failure();
    out[i] = da == 1 ? db : da;
  }
  return out;
}

static LogicalResult inferBroadcast(std::optional<Location> loc, Value lhs,
                                    Value rhs, Type resultElement,
                                    SmallVectorImpl<Type> &results) {
  auto a = tensorOf(lhs), b = tensorOf(rhs);
  if (failed(checkSameElementType(loc, a.getElementType(), b.getElementType())))
    return failure();
  auto shape = broadcastShapes(a.getShape(), b.getShape());
  if (failed(shape))
    return fail(loc, "operands are not broadcast-compatible: ",
                shapeStr(a.getShape()), " vs ", shapeStr(b.getShape()));
  results.push_back(RankedTensorType::get(
      *shape, resultElement ? resultElement : a.getElementType()));
  return success();
}

#define DS_INFER_BINARY(OP)                                                    \
  LogicalResult OP::inferReturnTypes(MLIRContext *, std::optional<Location> loc, \
                                     Adaptor adaptor,                          \
                                     SmallVectorImpl<Type> &results) {         \
    return inferBroadcast(loc, adaptor.getLhs(), adaptor.getRhs(), Type(),     \
                          results);                                            \
  }
DS_INFER_BINARY(AddOp)
DS_INFER_BINARY(SubOp)
DS_INFER_BINARY(MulOp)
DS_INFER_BINARY(DivOp)
DS_INFER_BINARY(PowOp)
DS_INFER_BINARY(MaxOp)
DS_INFER_BINARY(MinOp)
#undef DS_INFER_BINARY

#define DS_INFER_COMPARE(OP)                                                   \
  LogicalResult OP::inferReturnTypes(MLIRContext *ctx,                         \
                                     std::optional<Location> loc,              \
                                     Adaptor adaptor,                          \
                                     SmallVectorImpl<Type> &results) {         \
    return inferBroadcast(loc, adaptor.getLhs(), adaptor.getRhs(),             \
                          IntegerType::get(ctx, 1), results);                  \
  }
DS_INFER_COMPARE(EqualOp)
DS_INFER_COMPARE(LessOp)
DS_INFER_COMPARE(GreaterOp)
#undef DS_INFER_COMPARE

LogicalResult WhereOp::inferReturnTypes(MLIRContext *,
                                        std::optional<Location> loc,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &results) {
  auto c = tensorOf(adaptor.getCondition());
  auto t = tensorOf(adaptor.getOnTrue()), f = tensorOf(adaptor.getOnFalse());
  if (failed(checkSameElementType(loc, t.getElementType(), f.getElementType())))
    return failure();
  auto tf = broadcastShapes(t.getShape(), f.getShape());
  FailureOr<SmallVector<int64_t>> all = failure();
  if (succeeded(tf))
    all = broadcastShapes(c.getShape(), *tf);
  if (failed(all))
    return fail(loc, "operands are not broadcast-compatible: ",
                shapeStr(c.getShape()), " vs ", shapeStr(t.getShape()), " vs ",
                shapeStr(f.getShape()));
  results.push_back(RankedTensorType::get(*all, t.getElementType()));
  return success();
}

LogicalResult MatMulOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  auto a = tensorOf(adaptor.getLhs()), b = tensorOf(adaptor.getRhs());
  if (failed(checkSameElementType(loc, a.getElementType(), b.getElementType())))
    return failure();
  if (a.getRank() == 0 || b.getRank() == 0)
    return fail(loc, "matmul operands must have rank >= 1");
  SmallVector<int64_t> as(a.getShape()), bs(b.getShape());
  bool dropM = as.size() == 1, dropN = bs.size() == 1;
  if (dropM)
    as.insert(as.begin(), 1);
  if (dropN)
    bs.push_back(1);
  int64_t m = as[as.size() - 2], k = as.back();
  int64_t k2 = bs[bs.size() - 2], n = bs.back();
  if (k != k2)
    return fail(loc, "contracting dims differ: ", shapeStr(a.getShape()),
                " times ", shapeStr(b.getShape()));
  auto batch = broadcastShapes(ArrayRef<int64_t>(as).drop_back(2),
                               ArrayRef<int64_t>(bs).drop_back(2));
  if (failed(batch))
    return fail(loc, "batch dims are not broadcast-compatible: ",
                shapeStr(a.getShape()), " vs ", shapeStr(b.getShape()));
  SmallVector<int64_t> shape = *batch;
  if (!dropM)
    shape.push_back(m);
  if (!dropN)
    shape.push_back(n);
  results.push_back(RankedTensorType::get(shape, a.getElementType()));
  return success();
}

LogicalResult GemmOp::inferReturnTypes(MLIRContext *,
                                       std::optional<Location> loc,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &results) {
  auto a = tensorOf(adaptor.getA()), b = tensorOf(adaptor.getB());
  if (a.getRank() != 2 || b.getRank() != 2)
    return fail(loc, "gemm operands a and b must be 2-D, got ",
                shapeStr(a.getShape()), " and ", shapeStr(b.getShape()));
  if (failed(checkSameElementType(loc, a.getElementType(), b.getElementType())))
    return failure();
  bool ta = adaptor.getTransA(), tb = adaptor.getTransB();
  int64_t m = a.getDimSize(ta ? 1 : 0), k = a.getDimSize(ta ? 0 : 1);
  int64_t k2 = b.getDimSize(tb ? 1 : 0), n = b.getDimSize(tb ? 0 : 1);
  if (k != k2)
    return fail(loc, "contracting dims differ: ", k, " vs ", k2);
  if (Value cv = adaptor.getC()) {
    auto c = tensorOf(cv);
    if (failed(checkSameElementType(loc, a.getElementType(), c.getElementType())))
      return failure();
    auto bc = broadcastShapes(c.getShape(), {m, n});
    if (c.getRank() > 2 || failed(bc) || (*bc)[0] != m || (*bc)[1] != n)
      return fail(loc, "c of shape ", shapeStr(c.getShape()),
                  " does not broadcast to ", m, "x", n);
  }
  results.push_back(RankedTensorType::get({m, n}, a.getElementType()));
  return success();
}

static LogicalResult verifyAxis(Operation *op, int64_t axis, int64_t rank) {
  if (axis < 0 || axis >= rank)
    return op->emitOpError("axis ")
           << axis << " is out of range for rank " << rank;
  return success();
}

template <typename Op>
static LogicalResult verifyAxisOp(Op op) {
  return verifyAxis(op, op.getAxis(), tensorOf(op.getInput()).getRank());
}
LogicalResult SoftmaxOp::verify() { return verifyAxisOp(*this); }
LogicalResult LogSoftmaxOp::verify() { return verifyAxisOp(*this); }

LogicalResult LayerNormOp::verify() {
  auto x = tensorOf(getInput());
  if (failed(verifyAxis(*this, getAxis(), x.getRank())))
    return failure();
  if (getResult().getType() != x)
    return emitOpError("result type ")
           << getResult().getType() << " must equal the input type " << x;
  ArrayRef<int64_t> normShape = x.getShape().drop_front(getAxis());
  for (Value v : {getScale(), getBias()}) {
    if (!v)
      continue;
    auto t = tensorOf(v);
    if (t.getElementType() != x.getElementType())
      return emitOpError("scale and bias must have element type ")
             << x.getElementType() << ", got " << t.getElementType();
    auto bc = broadcastShapes(t.getShape(), normShape);
    if ((size_t)t.getRank() > normShape.size() || failed(bc) ||
        ArrayRef<int64_t>(*bc) != normShape)
      return emitOpError("scale/bias of shape ")
             << shapeStr(t.getShape()) << " does not broadcast to the normalized shape "
             << shapeStr(normShape);
  }
  return success();
}

LogicalResult ReshapeOp::verify() {
  auto in = tensorOf(getInput()), out = tensorOf(getResult());
  if (in.getElementType() != out.getElementType())
    return emitOpError("element type changes from ")
           << in.getElementType() << " to " << out.getElementType();
  if (in.getNumElements() != out.getNumElements())
    return emitOpError("cannot reshape ")
           << shapeStr(in.getShape()) << " (" << in.getNumElements()
           << " elements) to " << shapeStr(out.getShape()) << " ("
           << out.getNumElements() << " elements)";
  return success();
}

OpFoldResult ReshapeOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  // reshape(reshape(x)) reads x directly.
  if (auto inner = getInput().getDefiningOp<ReshapeOp>()) {
    getInputMutable().assign(inner.getInput());
    return getResult();
  }
  return {};
}

LogicalResult TransposeOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto in = tensorOf(adaptor.getInput());
  ArrayRef<int64_t> perm = adaptor.getPerm();
  if ((int64_t)perm.size() != in.getRank())
    return fail(loc, "perm has ", perm.size(), " entries for rank ",
                in.getRank());
  if (failed(checkAxes(loc, perm, in.getRank(), "perm")))
    return failure();
  SmallVector<int64_t> shape;
  for (int64_t p : perm)
    shape.push_back(in.getDimSize(p));
  results.push_back(RankedTensorType::get(shape, in.getElementType()));
  return success();
}

LogicalResult GatherOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  auto data = tensorOf(adaptor.getData());
  auto idx = tensorOf(adaptor.getIndices());
  int64_t axis = adaptor.getAxis();
  if (axis < 0 || axis >= data.getRank())
    return fail(loc, "axis ", axis, " is out of range for rank ",
                data.getRank());
  SmallVector<int64_t> shape(data.getShape().take_front(axis));
  llvm::append_range(shape, idx.getShape());
  llvm::append_range(shape, data.getShape().drop_front(axis + 1));
  results.push_back(RankedTensorType::get(shape, data.getElementType()));
  return success();
}

LogicalResult SliceOp::inferReturnTypes(MLIRContext *,
                                        std::optional<Location> loc,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &results) {
  auto in = tensorOf(adaptor.getInput());
  ArrayRef<int64_t> starts = adaptor.getStarts(), ends = adaptor.getEnds(),
                    steps = adaptor.getSteps();
  int64_t rank = in.getRank();
  if ((int64_t)starts.size() != rank || (int64_t)ends.size() != rank ||
      (int64_t)steps.size() != rank)
    return fail(loc, "starts, ends and steps need one entry per dim (", rank,
                "), got ", starts.size(), ", ", ends.size(), ", ",
                steps.size());
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t d = in.getDimSize(i), s = starts[i], e = ends[i], st = steps[i];
    if (st == 0)
      return fail(loc, "step of dim ", i, " is zero");
    bool ok = st > 0 ? (0 <= s && s <= d && s <= e && e <= d)
                     : (-1 <= e && e <= s && s < d && (d > 0 || s == -1));
    if (!ok)
      return fail(loc, "dim ", i, ": start ", s, ", end ", e, ", step ", st,
                  " are not clamped to the dim size ", d);
    int64_t n = st > 0 ? (e - s + st - 1) / st : (s - e + (-st) - 1) / (-st);
    shape.push_back(std::max<int64_t>(0, n));
  }
  results.push_back(RankedTensorType::get(shape, in.getElementType()));
  return success();
}

LogicalResult SplitOp::inferReturnTypes(MLIRContext *,
                                        std::optional<Location> loc,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &results) {
  auto in = tensorOf(adaptor.getInput());
  int64_t axis = adaptor.getAxis();
  if (axis < 0 || axis >= in.getRank())
    return fail(loc, "axis ", axis, " is out of range for rank ", in.getRank());
  int64_t total = 0;
  for (int64_t s : adaptor.getSizes()) {
    if (s < 0)
      return fail(loc, "split size ", s, " is negative");
    total += s;
  }
  if (total != in.getDimSize(axis))
    return fail(loc, "split sizes add up to ", total, ", but dim ", axis,
                " has size ", in.getDimSize(axis));
  for (int64_t s : adaptor.getSizes()) {
    SmallVector<int64_t> shape(in.getShape());
    shape[axis] = s;
    results.push_back(RankedTensorType::get(shape, in.getElementType()));
  }
  return success();
}

LogicalResult ConcatOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  if (adaptor.getInputs().empty())
    return fail(loc, "concat needs at least one input");
  auto first = tensorOf(adaptor.getInputs().front());
  int64_t axis = adaptor.getAxis();
  if (axis < 0 || axis >= first.getRank())
    return fail(loc, "axis ", axis, " is out of range for rank ",
                first.getRank());
  SmallVector<int64_t> shape(first.getShape());
  shape[axis] = 0;
  for (Value v : adaptor.getInputs()) {
    auto t = tensorOf(v);
    if (failed(checkSameElementType(loc, first.getElementType(),
                                    t.getElementType())))
      return failure();
    if (t.getRank() != first.getRank())
      return fail(loc, "inputs differ in rank: ", shapeStr(first.getShape()),
                  " vs ", shapeStr(t.getShape()));
    for (int64_t i = 0; i < t.getRank(); ++i)
      if (i != axis && t.getDimSize(i) != first.getDimSize(i))
        return fail(loc, "inputs differ outside the concat axis: ",
                    shapeStr(first.getShape()), " vs ",
                    shapeStr(t.getShape()));
    shape[axis] += t.getDimSize(axis);
  }
  results.push_back(RankedTensorType::get(shape, first.getElementType()));
  return success();
}

LogicalResult SqueezeOp::inferReturnTypes(MLIRContext *,
                                          std::optional<Location> loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &results) {
  auto in = tensorOf(adaptor.getInput());
  ArrayRef<int64_t> axes = adaptor.getAxes();
  if (failed(checkAxes(loc, axes, in.getRank(), "squeeze")))
    return failure();
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < in.getRank(); ++i) {
    if (!llvm::is_contained(axes, i)) {
      shape.push_back(in.getDimSize(i));
      continue;
    }
    if (in.getDimSize(i) != 1)
      return fail(loc, "cannot squeeze dim ", i, " of size ", in.getDimSize(i));
  }
  results.push_back(RankedTensorType::get(shape, in.getElementType()));
  return success();
}

LogicalResult UnsqueezeOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto in = tensorOf(adaptor.getInput());
  ArrayRef<int64_t> axes = adaptor.getAxes();
  int64_t outRank = in.getRank() + axes.size();
  if (failed(checkAxes(loc, axes, outRank, "unsqueeze")))
    return failure();
  SmallVector<int64_t> shape;
  int64_t next = 0;
  for (int64_t i = 0; i < outRank; ++i)
    shape.push_back(llvm::is_contained(axes, i) ? 1 : in.getDimSize(next++));
  results.push_back(RankedTensorType::get(shape, in.getElementType()));
  return success();
}

LogicalResult ExpandOp::verify() {
  auto in = tensorOf(getInput()), out = tensorOf(getResult());
  if (in.getElementType() != out.getElementType())
    return emitOpError("element type changes from ")
           << in.getElementType() << " to " << out.getElementType();
  auto bc = broadcastShapes(in.getShape(), out.getShape());
  if (failed(bc) || ArrayRef<int64_t>(*bc) != out.getShape())
    return emitOpError("cannot expand ")
           << shapeStr(in.getShape()) << " to " << shapeStr(out.getShape());
  return success();
}

LogicalResult TriluOp::verify() {
  if (tensorOf(getInput()).getRank() < 2)
    return emitOpError("input must have rank >= 2, got ")
           << tensorOf(getInput()).getRank();
  return success();
}

static LogicalResult inferReduce(std::optional<Location> loc, Value input,
                                 ArrayRef<int64_t> axes, bool keepdims,
                                 SmallVectorImpl<Type> &results) {
  auto in = tensorOf(input);
  if (failed(checkAxes(loc, axes, in.getRank(), "reduction")))
    return failure();
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < in.getRank(); ++i) {
    bool reduced = axes.empty() || llvm::is_contained(axes, i);
    if (!reduced)
      shape.push_back(in.getDimSize(i));
    else if (keepdims)
      shape.push_back(1);
  }
  results.push_back(RankedTensorType::get(shape, in.getElementType()));
  return success();
}

#define DS_INFER_REDUCE(OP)                                                    \
  LogicalResult OP::inferReturnTypes(MLIRContext *, std::optional<Location> loc, \
                                     Adaptor adaptor,                          \
                                     SmallVectorImpl<Type> &results) {         \
    return inferReduce(loc, adaptor.getInput(), adaptor.getAxes(),             \
                       adaptor.getKeepdims(), results);                        \
  }
DS_INFER_REDUCE(ReduceSumOp)
DS_INFER_REDUCE(ReduceMeanOp)
DS_INFER_REDUCE(ReduceMaxOp)
#undef DS_INFER_REDUCE

LogicalResult DropoutOp::inferReturnTypes(MLIRContext *ctx,
                                          std::optional<Location>,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &results) {
  auto in = tensorOf(adaptor.getInput());
  results.push_back(in);
  results.push_back(in.clone(IntegerType::get(ctx, 1)));
  return success();
}

LogicalResult DropoutOp::verify() {
  float r = getRatio().convertToFloat();
  if (!(r >= 0.0f && r < 1.0f))
    return emitOpError("ratio must be in [0, 1), got ") << r;
  return success();
}

static LogicalResult inferLoss(std::optional<Location> loc, Value input,
                               Value target, Value weights,
                               LossReduction reduction,
                               SmallVectorImpl<Type> &results) {
  auto x = tensorOf(input), t = tensorOf(target);
  if (x.getRank() < 2)
    return fail(loc, "scores must be [N, C, d...], got ",
                shapeStr(x.getShape()));
  SmallVector<int64_t> expected{x.getDimSize(0)};
  llvm::append_range(expected, x.getShape().drop_front(2));
  if (t.getShape() != ArrayRef<int64_t>(expected))
    return fail(loc, "labels of shape ", shapeStr(t.getShape()),
                " do not match scores of shape ", shapeStr(x.getShape()),
                " (expected ", shapeStr(expected), ")");
  if (weights) {
    auto w = tensorOf(weights);
    if (w.getRank() != 1 || w.getDimSize(0) != x.getDimSize(1) ||
        w.getElementType() != x.getElementType())
      return fail(loc, "weights must be a [", x.getDimSize(1), "] tensor of ",
                  x.getElementType(), ", got ", w);
  }
  if (reduction == LossReduction::none)
    results.push_back(RankedTensorType::get(expected, x.getElementType()));
  else
    results.push_back(RankedTensorType::get({}, x.getElementType()));
  return success();
}

/// The loss's type as inferred (the scores' element type) or f32 over bf16/f16 scores.
static bool lossResultCompatible(TypeRange inferred, TypeRange actual) {
  if (inferred == actual)
    return true;
  if (inferred.size() != 1 || actual.size() != 1)
    return false;
  auto i = dyn_cast<RankedTensorType>(inferred[0]);
  auto a = dyn_cast<RankedTensorType>(actual[0]);
  return i && a && i.getShape() == a.getShape() && a.getElementType().isF32() &&
         (i.getElementType().isBF16() || i.getElementType().isF16());
}

bool SoftmaxCrossEntropyLossOp::isCompatibleReturnTypes(TypeRange l, TypeRange r) {
  return lossResultCompatible(l, r);
}
bool NllLossOp::isCompatibleReturnTypes(TypeRange l, TypeRange r) {
  return lossResultCompatible(l, r);
}

LogicalResult SoftmaxCrossEntropyLossOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &results) {
  return inferLoss(loc, adaptor.getInput(), adaptor.getTarget(),
                   adaptor.getWeights(), adaptor.getReduction(), results);
}

LogicalResult NllLossOp::inferReturnTypes(MLIRContext *,
                                          std::optional<Location> loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &results) {
  return inferLoss(loc, adaptor.getInput(), adaptor.getTarget(),
                   adaptor.getWeights(), adaptor.getReduction(), results);
}

LogicalResult ConstantOp::inferReturnTypes(MLIRContext *,
                                           std::optional<Location> loc,
                                           Adaptor adaptor,
                                           SmallVectorImpl<Type> &results) {
  auto type = dyn_cast<RankedTensorType>(adaptor.getValue().getType());
  if (!type)
    return fail(loc, "value must be a ranked tensor");
  results.push_back(type);
  return success();
}

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

LogicalResult
ParamRefOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  auto param = symbolTable.lookupNearestSymbolFrom<ParameterOp>(
      *this, getNameAttr());
  if (!param)
    return emitOpError("'") << getName() << "' does not name a ds.parameter";
  if (param.getStorageType() != getResult().getType())
    return emitOpError("type ")
           << getResult().getType() << " differs from the parameter's "
           << (param.getShardSize() ? "shard type " : "") << param.getStorageType();
  return success();
}

LogicalResult RankSliceOp::verify() {
  auto in = tensorOf(getInput()), out = tensorOf(getResult());
  if (in.getRank() != 1 || out.getRank() != 1 ||
      in.getElementType() != out.getElementType())
    return emitOpError("input and result must be 1-D tensors of one element type");
  if (out.getDimSize(0) <= 0 || in.getDimSize(0) % out.getDimSize(0) != 0)
    return emitOpError("input length ")
           << in.getDimSize(0) << " is not a multiple of the shard length "
           << out.getDimSize(0);
  return success();
}

OpFoldResult RankSliceOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  return {};
}

bool mlir::ds::isDifferentiableOperand(Operation *op, unsigned index) {
  Value v = op->getOperand(index);
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || !isa<FloatType>(type.getElementType()))
    return false;
  if (isa<EqualOp, LessOp, GreaterOp>(op))
    return false;
  if (auto cast = dyn_cast<CastOp>(op))
    return isa<FloatType>(cast.getResult().getType().getElementType());
  if (isa<WhereOp>(op))
    return index != 0;
  if (auto loss = dyn_cast<SoftmaxCrossEntropyLossOp>(op))
    return v == loss.getInput();
  if (auto loss = dyn_cast<NllLossOp>(op))
    return v == loss.getInput();
  if (isa<GatherOp>(op))
    return index == 0;
  if (auto attention = dyn_cast<AttentionOp>(op))
    return v != attention.getMask(); // masks are constants of the model, not learned
  return true;
}

#define GET_OP_CLASSES
#include "ds/Dialect/DS/IR/DSOps.cpp.inc"
