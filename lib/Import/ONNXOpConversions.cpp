// Conversion of ONNX ops into ds ops: one function per op type, in a table.
#include "ONNXImporterImpl.h"

using namespace mlir;
using namespace mlir::ds;
using namespace mlir::ds::onnx_import;

namespace {
using Node = const onnx::NodeProto &;

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

NamedAttribute named(GraphImporter &imp, StringRef name, Attribute a) {
  return imp.builder.getNamedAttr(name, a);
}
NamedAttribute i64Attr(GraphImporter &imp, StringRef name, int64_t v) {
  return named(imp, name, imp.builder.getI64IntegerAttr(v));
}
NamedAttribute arrayAttr(GraphImporter &imp, StringRef name,
                         ArrayRef<int64_t> v) {
  return named(imp, name, imp.builder.getDenseI64ArrayAttr(v));
}

/// Sets output 0 from a created op, or fails.
template <typename OpTy>
LogicalResult setResult(GraphImporter &imp, FailureOr<OpTy> op) {
  if (failed(op))
    return failure();
  imp.setOutput(0, (*op)->getResult(0));
  return success();
}

template <typename OpTy>
LogicalResult convertBinary(GraphImporter &imp, Node) {
  Value a = imp.inputValue(0), b = imp.inputValue(1);
  if (!a || !b)
    return failure();
  return setResult(imp, imp.createInferred<OpTy>({a, b}));
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

template <typename OpTy>
LogicalResult convertUnary(GraphImporter &imp, Node) {
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
    return imp.nodeError() << "approximate must be \"none\" or \"tanh\", got \""
                           << approx << "\"";
  SmallVector<NamedAttribute> attrs;
  if (*mode != GeluApproximation::none)
    attrs.push_back(named(imp, "approximate",
                          GeluApproximationAttr::get(imp.builder.getContext(), *mode)));
  return setResult(imp, imp.createTyped<GeluOp>({x.getType()}, {x}, attrs));
}

template <typename OpTy>
LogicalResult convertSoftmax(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  auto axis = imp.normalizeAxis(imp.intAttr("axis", -1), typeOf(x).getRank());
  if (failed(axis))
    return failure();
  return setResult(imp, imp.createTyped<OpTy>({x.getType()}, {x},
                                              {i64Attr(imp, "axis", *axis)}));
}

LogicalResult convertMatMul(GraphImporter &imp, Node) {
  Value a = imp.inputValue(0), b = imp.inputValue(1);
  if (!a || !b)
    return failure();
  return setResult(imp, imp.createInferred<MatMulOp>({a, b}));
}

LogicalResult convertGemm(GraphImporter &imp, Node) {
  Value a = imp.inputValue(0), b = imp.inputValue(1);
  if (!a || !b)
    return failure();
  SmallVector<Value> operands{a, b};
  if (imp.input(2)) {
    Value c = imp.inputValue(2);
    if (!c)
      return failure();
    operands.push_back(c);
  }
  SmallVector<NamedAttribute> attrs;
  float alpha = imp.floatAttr("alpha", 1.0f), beta = imp.floatAttr("beta", 1.0f);
  if (alpha != 1.0f)
    attrs.push_back(named(imp, "alpha", imp.builder.getF32FloatAttr(alpha)));
  if (beta != 1.0f)
    attrs.push_back(named(imp, "beta", imp.builder.getF32FloatAttr(beta)));
  if (imp.intAttr("transA", 0))
    attrs.push_back(named(imp, "trans_a", imp.builder.getUnitAttr()));
  if (imp.intAttr("transB", 0))
    attrs.push_back(named(imp, "trans_b", imp.builder.getUnitAttr()));
  return setResult(imp, imp.createInferred<GemmOp>(operands, attrs));
}

LogicalResult convertLayerNorm(GraphImporter &imp, Node) {
  if (imp.outputUsed(1) || imp.outputUsed(2))
    return imp.nodeError()
           << "only output 0 (Y) of LayerNormalization is supported; the Mean "
              "and InvStdDev outputs are used";
  Value x = imp.inputValue(0), scale = imp.inputValue(1);
  if (!x || !scale)
    return failure();
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
                      imp.builder.getF32FloatAttr(
                          imp.floatAttr("epsilon", 1e-5f)))}));
}

LogicalResult convertReshape(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  auto shape = reshapeTarget(imp, typeOf(x).getShape());
  if (failed(shape))
    return failure();
  auto type = typeOf(x).clone(*shape);
  if (type == x.getType()) {
    imp.setOutput(0, x);
    return success();
  }
  return setResult(imp, imp.createTyped<ReshapeOp>({type}, {x}));
}

LogicalResult convertTranspose(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  int64_t rank = typeOf(x).getRank();
  SmallVector<int64_t> perm;
  if (auto p = imp.intsAttr("perm")) {
    if ((int64_t)p->size() != rank)
      return imp.nodeError() << "perm has " << p->size()
                             << " entries for an input of rank " << rank;
    auto norm = imp.normalizeAxes(*p, rank);
    if (failed(norm))
      return failure();
    perm = *norm;
  } else {
    for (int64_t i = rank - 1; i >= 0; --i)
      perm.push_back(i);
  }
  return setResult(imp, imp.createInferred<TransposeOp>(
                            {x}, {arrayAttr(imp, "perm", perm)}));
}

LogicalResult convertGather(GraphImporter &imp, Node) {
  Value data = imp.inputValue(0), idx = imp.inputValue(1);
  if (!data || !idx)
    return failure();
  auto axis =
      imp.normalizeAxis(imp.intAttr("axis", 0), typeOf(data).getRank());
  if (failed(axis))
    return failure();
  return setResult(imp, imp.createInferred<GatherOp>(
                            {data, idx}, {i64Attr(imp, "axis", *axis)}));
}

LogicalResult convertSlice(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  auto b = sliceBounds(imp, typeOf(x).getShape());
  if (failed(b))
    return failure();
  return setResult(imp, imp.createInferred<SliceOp>(
                            {x}, {arrayAttr(imp, "starts", b->starts),
                                  arrayAttr(imp, "ends", b->ends),
                                  arrayAttr(imp, "steps", b->steps)}));
}

LogicalResult convertSplit(GraphImporter &imp, Node node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  auto type = typeOf(x);
  auto axis = imp.normalizeAxis(imp.intAttr("axis", 0), type.getRank());
  if (failed(axis))
    return failure();
  int64_t dim = type.getDimSize(*axis);
  SmallVector<int64_t> sizes;
  if (imp.opset >= 13 && imp.input(1)) {
    const ConstTensor *split = imp.constantInput(1, "split");
    if (!split)
      return failure();
    for (int64_t i = 0, e = split->numElements(); i < e; ++i)
      sizes.push_back(split->asInt(i));
  } else if (auto attr = imp.intsAttr("split"); attr && imp.opset < 13) {
    sizes = *attr;
  } else {
    int64_t n = imp.intAttr("num_outputs", node.output_size());
    if (n <= 0)
      return imp.nodeError() << "Split needs at least one output";
    // Equal pieces; the last one smaller when the dim does not divide (opset 18).
    int64_t piece = (dim + n - 1) / n;
    for (int64_t i = 0; i < n; ++i)
      sizes.push_back(std::max<int64_t>(0, std::min(piece, dim - i * piece)));
  }
  if ((int64_t)sizes.size() != node.output_size())
    return imp.nodeError() << "Split into " << sizes.size()
                           << " pieces, but the node has "
                           << node.output_size() << " outputs";
  auto op = imp.createInferred<SplitOp>(
      {x}, {i64Attr(imp, "axis", *axis), arrayAttr(imp, "sizes", sizes)});
  if (failed(op))
    return failure();
  for (int i = 0, e = sizes.size(); i < e; ++i)
    imp.setOutput(i, (*op)->getResult(i));
  return success();
}

LogicalResult convertConcat(GraphImporter &imp, Node node) {
  SmallVector<Value> inputs;
  for (int i = 0, e = node.input_size(); i < e; ++i) {
    Value v = imp.inputValue(i);
    if (!v)
      return failure();
    inputs.push_back(v);
  }
  if (inputs.empty())
    return imp.nodeError() << "Concat needs at least one input";
  auto axis =
      imp.normalizeAxis(imp.intAttr("axis", 0), typeOf(inputs[0]).getRank());
  if (failed(axis))
    return failure();
  if (inputs.size() == 1) {
    imp.setOutput(0, inputs[0]);
    return success();
  }
  return setResult(imp, imp.createInferred<ConcatOp>(
                            inputs, {i64Attr(imp, "axis", *axis)}));
}

LogicalResult convertSqueeze(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  auto axes = squeezeAxes(imp, typeOf(x).getShape());
  if (failed(axes))
    return failure();
  llvm::sort(*axes);
  return setResult(imp, imp.createInferred<SqueezeOp>(
                            {x}, {arrayAttr(imp, "axes", *axes)}));
}

LogicalResult convertUnsqueeze(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  auto axes = unsqueezeAxes(imp, typeOf(x).getRank());
  if (failed(axes))
    return failure();
  llvm::sort(*axes);
  return setResult(imp, imp.createInferred<UnsqueezeOp>(
                            {x}, {arrayAttr(imp, "axes", *axes)}));
}

LogicalResult convertExpand(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  auto shape = expandTarget(imp, typeOf(x).getShape());
  if (failed(shape))
    return failure();
  auto type = typeOf(x).clone(*shape);
  if (type == x.getType()) {
    imp.setOutput(0, x);
    return success();
  }
  return setResult(imp, imp.createTyped<ExpandOp>({type}, {x}));
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
  return setResult(imp,
                   imp.createTyped<CastOp>({typeOf(x).clone(elem)}, {x}));
}

template <typename OpTy>
LogicalResult convertReduce(GraphImporter &imp, Node) {
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

template <typename OpTy>
LogicalResult convertLoss(GraphImporter &imp, Node node) {
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
    auto logProb = imp.createTyped<LogSoftmaxOp>({x.getType()}, {x},
                                                 {i64Attr(imp, "axis", 1)});
    if (failed(logProb))
      return failure();
    imp.setOutput(1, logProb->getResult());
  }
  return success();
}

LogicalResult convertTrilu(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  int64_t k = 0;
  if (imp.input(1)) {
    const ConstTensor *kt = imp.constantInput(1, "k");
    if (!kt)
      return failure();
    if (kt->numElements() != 1)
      return imp.nodeError() << "k must be a scalar";
    k = kt->asInt(0);
  }
  if (typeOf(x).getRank() < 2)
    return imp.nodeError() << "Trilu needs an input of rank >= 2";
  return setResult(
      imp, imp.createTyped<TriluOp>(
               {x.getType()}, {x},
               {named(imp, "upper",
                      imp.builder.getBoolAttr(imp.intAttr("upper", 1) != 0)),
                i64Attr(imp, "k", k)}));
}

LogicalResult convertIdentity(GraphImporter &imp, Node) {
  const ImportedValue *v = imp.input(0);
  if (!v)
    return imp.nodeError() << "Identity needs an input";
  imp.setOutputAlias(0, *v);
  return success();
}
} // namespace

const llvm::StringMap<ConvertFn> &mlir::ds::onnx_import::getOpConversions() {
  static const llvm::StringMap<ConvertFn> conversions = {
      {"MatMul", convertMatMul},
      {"Gemm", convertGemm},
      {"Add", convertBinary<AddOp>},
      {"Sub", convertBinary<SubOp>},
      {"Mul", convertBinary<MulOp>},
      {"Div", convertBinary<DivOp>},
      {"Pow", convertPow},
      {"Equal", convertBinary<EqualOp>},
      {"Less", convertBinary<LessOp>},
      {"Greater", convertBinary<GreaterOp>},
      {"Sqrt", convertUnary<SqrtOp>},
      {"Neg", convertUnary<NegOp>},
      {"Exp", convertUnary<ExpOp>},
      {"Log", convertUnary<LogOp>},
      {"Tanh", convertUnary<TanhOp>},
      {"Erf", convertUnary<ErfOp>},
      {"Relu", convertUnary<ReluOp>},
      {"Sigmoid", convertUnary<SigmoidOp>},
      {"Gelu", convertGelu},
      {"Softmax", convertSoftmax<SoftmaxOp>},
      {"LogSoftmax", convertSoftmax<LogSoftmaxOp>},
      {"LayerNormalization", convertLayerNorm},
      {"Reshape", convertReshape},
      {"Transpose", convertTranspose},
      {"Gather", convertGather},
      {"Slice", convertSlice},
      {"Split", convertSplit},
      {"Concat", convertConcat},
      {"Squeeze", convertSqueeze},
      {"Unsqueeze", convertUnsqueeze},
      {"Expand", convertExpand},
      {"Where", convertWhere},
      {"Cast", convertCast},
      {"ReduceMean", convertReduce<ReduceMeanOp>},
      {"ReduceSum", convertReduce<ReduceSumOp>},
      {"ReduceMax", convertReduce<ReduceMaxOp>},
      {"Dropout", convertDropout},
      {"SoftmaxCrossEntropyLoss", convertLoss<SoftmaxCrossEntropyLossOp>},
      {"NegativeLogLikelihoodLoss", convertLoss<NllLossOp>},
      {"Trilu", convertTrilu},
      {"Identity", convertIdentity},
  };
  return conversions;
}
