// Element-wise ONNX ops: arithmetic, comparisons, unary math, activations, Where, Cast.
#include "ONNXOpTable.h"

#include <cmath>

using namespace mlir;
using namespace mlir::ds;
using namespace mlir::ds::onnx_import;

namespace {
using Node = const onnx::NodeProto &;
using Inputs = FoldInputs;
using Outputs = FoldOutputs;

template <typename OpTy> LogicalResult convertBinary(GraphImporter &imp, Node) {
  Value a = imp.inputValue(0), b = imp.inputValue(1);
  if (!a || !b)
    return failure();
  return setResult(imp, imp.createInferred<OpTy>({a, b}));
}

/// Max and Min take 1 or more inputs: a left-to-right chain of the binary op.
template <typename OpTy> LogicalResult convertVariadic(GraphImporter &imp, Node node) {
  if (node.input_size() == 0)
    return imp.nodeError() << "needs at least one input";
  Value acc = imp.inputValue(0);
  if (!acc)
    return failure();
  for (int i = 1, e = node.input_size(); i < e; ++i) {
    Value next = imp.inputValue(i);
    if (!next)
      return failure();
    auto op = imp.createInferred<OpTy>({acc, next});
    if (failed(op))
      return failure();
    acc = op->getResult();
  }
  if (node.input_size() == 1)
    return setResult(imp, imp.createTyped<IdentityOp>({acc.getType()}, {acc}));
  imp.setOutput(0, acc);
  return success();
}

LogicalResult convertPow(GraphImporter &imp, Node) {
  Value a = imp.inputValue(0), b = imp.inputValue(1);
  if (!a || !b)
    return failure();
  Type elem = typeOf(a).getElementType();
  if (typeOf(b).getElementType() != elem) {
    auto cast = imp.createTyped<CastOp>(typeOf(b).clone(elem), {b});
    if (failed(cast))
      return failure();
    b = cast->getResult();
  }
  return setResult(imp, imp.createInferred<PowOp>({a, b}));
}

template <typename OpTy> LogicalResult convertUnary(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  return setResult(imp, imp.createTyped<OpTy>({x.getType()}, {x}));
}

LogicalResult convertGelu(GraphImporter &imp, Node node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  std::string approx = imp.stringAttr("approximate", "none");
  std::optional<GeluApproximation> mode = symbolizeGeluApproximation(approx);
  if (!mode)
    return imp.nodeError() << "approximate must be \"none\" or \"tanh\", got \"" << approx
                           << "\"";
  SmallVector<NamedAttribute> attrs;
  if (*mode != GeluApproximation::none)
    attrs.push_back(named(imp, "approximate",
                          GeluApproximationAttr::get(imp.builder.getContext(), *mode)));
  return setResult(imp, imp.createTyped<GeluOp>({x.getType()}, {x}, attrs));
}

LogicalResult convertWhere(GraphImporter &imp, Node) {
  Value c = imp.inputValue(0), x = imp.inputValue(1), y = imp.inputValue(2);
  if (!c || !x || !y)
    return failure();
  return setResult(imp, imp.createInferred<WhereOp>({c, x, y}));
}

LogicalResult convertCast(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  int64_t to = imp.intAttr("to", 0);
  Type elem = elementTypeOf(imp.ctx, to);
  if (!elem)
    return imp.nodeError() << "Cast to " << onnxTypeName(to)
                           << " is not supported by the ds dialect";
  if (typeOf(x).getElementType() == elem) {
    imp.setOutput(0, x);
    return success();
  }
  return setResult(imp, imp.createTyped<CastOp>({typeOf(x).clone(elem)}, {x}));
}

template <BinaryKind kind>
LogicalResult foldBinaryNode(GraphImporter &imp, const onnx::NodeProto &, Inputs in,
                             Outputs &out) {
  if (in.size() != 2)
    return imp.nodeError() << "expects 2 inputs, got " << in.size();
  std::optional<ConstTensor> r;
  if (failed(foldBinary(imp, *in[0], *in[1], kind, r)))
    return failure();
  if (r)
    out.push_back(std::move(*r));
  return success();
}

/// Min and Max take any number of inputs.
template <BinaryKind kind>
LogicalResult foldVariadic(GraphImporter &imp, const onnx::NodeProto &, Inputs in,
                           Outputs &out) {
  if (in.empty())
    return imp.nodeError() << "expects at least one input";
  ConstTensor acc = *in[0];
  for (const ConstTensor *next : in.drop_front()) {
    std::optional<ConstTensor> r;
    if (failed(foldBinary(imp, acc, *next, kind, r)))
      return failure();
    if (!r)
      return success();
    acc = std::move(*r);
  }
  out.push_back(std::move(acc));
  return success();
}

LogicalResult foldWhere(GraphImporter &imp, const onnx::NodeProto &, Inputs in,
                        Outputs &out) {
  const ConstTensor &c = *in[0], &x = *in[1], &y = *in[2];
  if (x.elementType != y.elementType)
    return imp.nodeError() << "operand element types differ: " << x.elementType << " vs "
                           << y.elementType;
  auto xy = broadcastShapes(x.shape, y.shape);
  FailureOr<SmallVector<int64_t>> shape = failure();
  if (succeeded(xy))
    shape = broadcastShapes(c.shape, *xy);
  if (failed(shape))
    return imp.nodeError() << "operands are not broadcast-compatible";
  bool splat = isSplatLike(c) && isSplatLike(x) && isSplatLike(y) && product(*shape) != 1;
  if (!foldable(*shape, splat))
    return success();
  ConstTensor t = ConstTensor::make(x.elementType, *shape);
  t.splat = splat;
  int64_t n = splat ? 1 : product(*shape);
  std::vector<int64_t> ic, ix, iy;
  if (!splat) {
    ic = broadcastIndices(c.shape, *shape);
    ix = broadcastIndices(x.shape, *shape);
    iy = broadcastIndices(y.shape, *shape);
  }
  for (int64_t i = 0; i < n; ++i) {
    bool cond = c.asInt(splat ? 0 : ic[i]) != 0;
    if (cond)
      copyElement(x, splat ? 0 : ix[i], t);
    else
      copyElement(y, splat ? 0 : iy[i], t);
  }
  out.push_back(std::move(t));
  return success();
}

/// Abs and Neg are exact in every element type: folded here for integers too (the
/// runtime's kernels, which fold the other unary ops, are float-only; T5's relative
/// position buckets take Abs and Neg of int64 position differences).
template <bool negate>
LogicalResult foldSignOp(GraphImporter &imp, const onnx::NodeProto &, Inputs in,
                         Outputs &out) {
  if (in.size() != 1 || !in[0])
    return imp.nodeError() << "expects 1 input, got " << in.size();
  const ConstTensor &x = *in[0];
  ConstTensor t = ConstTensor::make(x.elementType, x.shape);
  t.splat = x.splat;
  for (int64_t i = 0, e = x.storedElements(); i < e; ++i) {
    if (x.isFloat()) {
      double v = x.realAt(i);
      t.push(negate ? -v : std::fabs(v));
      continue;
    }
    // Two's complement, as the ONNX reference: Abs(INT64_MIN) and Neg(INT64_MIN) wrap.
    uint64_t v = uint64_t(x.intAt(i));
    bool flip = negate || x.intAt(i) < 0;
    t.pushInt(int64_t(flip ? 0 - v : v));
  }
  out.push_back(std::move(t));
  return success();
}

LogicalResult foldCast(GraphImporter &imp, const onnx::NodeProto &, Inputs in,
                       Outputs &out) {
  // A Cast without its input (found by import-onnx-fuzzer) reached here with `in` empty.
  if (in.size() != 1 || !in[0])
    return imp.nodeError() << "Cast takes exactly one input, got " << in.size();
  int64_t to = imp.intAttr("to", 0);
  Type type = elementTypeOf(imp.ctx, to);
  if (!type)
    return imp.nodeError() << "Cast to " << onnxTypeName(to) << " is not supported";
  const ConstTensor &x = *in[0];
  ConstTensor t = ConstTensor::make(type, x.shape);
  t.splat = x.splat;
  for (int64_t i = 0, e = x.storedElements(); i < e; ++i) {
    if (x.isFloat())
      t.push(x.realAt(i));
    else
      t.pushInt(x.intAt(i));
  }
  out.push_back(std::move(t));
  return success();
}
} // namespace

void mlir::ds::onnx_import::populateElementwiseOps(ONNXOpTable &table) {
  // Since 13, the importer's oldest opset: what the conversions handle is each op's
  // definition from 13 to 17 (later versions only add element types).
  table.onOp("Add", 13, convertBinary<AddOp>, foldBinaryNode<BinaryKind::Add>);
  table.onOp("Sub", 13, convertBinary<SubOp>, foldBinaryNode<BinaryKind::Sub>);
  table.onOp("Mul", 13, convertBinary<MulOp>, foldBinaryNode<BinaryKind::Mul>);
  table.onOp("Div", 13, convertBinary<DivOp>, foldBinaryNode<BinaryKind::Div>);
  table.onOp("Pow", 13, convertPow);
  table.onOp("Equal", 13, convertBinary<EqualOp>, foldBinaryNode<BinaryKind::Equal>);
  table.onOp("Less", 13, convertBinary<LessOp>, foldBinaryNode<BinaryKind::Less>);
  table.onOp("Greater", 13, convertBinary<GreaterOp>,
             foldBinaryNode<BinaryKind::Greater>);
  // Folded when every input is a constant (shape computations), else ds.min / ds.max.
  table.onOp("Min", 13, convertVariadic<MinOp>, foldVariadic<BinaryKind::Min>);
  table.onOp("Max", 13, convertVariadic<MaxOp>, foldVariadic<BinaryKind::Max>);
  table.onOp("Sqrt", 13, convertUnary<SqrtOp>);
  table.onOp("Neg", 13, convertUnary<NegOp>, foldSignOp<true>);
  table.onOp("Exp", 13, convertUnary<ExpOp>);
  table.onOp("Log", 13, convertUnary<LogOp>);
  table.onOp("Tanh", 13, convertUnary<TanhOp>);
  table.onOp("Sin", 7, convertUnary<SinOp>);
  table.onOp("Cos", 7, convertUnary<CosOp>);
  table.onOp("Abs", 13, convertUnary<AbsOp>, foldSignOp<false>);
  table.onOp("Reciprocal", 13, convertUnary<ReciprocalOp>);
  table.onOp("Erf", 13, convertUnary<ErfOp>);
  table.onOp("Relu", 13, convertUnary<ReluOp>);
  table.onOp("Sigmoid", 13, convertUnary<SigmoidOp>);
  // ONNX defines Gelu from opset 20; exporters emit it earlier too (and as
  // com.microsoft's contrib op), so it is accepted from 13.
  table.onOp("Gelu", 13, convertGelu);
  table.onOp("com.microsoft", "Gelu", 1, {convertGelu});
  table.onOp("Where", 13, convertWhere, foldWhere);
  table.onOp("Cast", 13, convertCast, foldCast);
}
