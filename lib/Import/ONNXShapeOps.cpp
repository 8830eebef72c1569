// Data-movement ONNX ops: Reshape, Transpose, Gather, Slice, Split, Concat, Squeeze,
// Unsqueeze, Expand, Identity; their shape rules serve both conversion and folding.
#include "ONNXOpTable.h"

using namespace mlir;
using namespace mlir::ds;
using namespace mlir::ds::onnx_import;

FailureOr<std::optional<SmallVector<int64_t>>>
mlir::ds::onnx_import::readAxes(GraphImporter &imp, int inputIndex, bool asInput) {
  if (!asInput)
    return imp.intsAttr("axes");
  if (!imp.input(inputIndex))
    return std::optional<SmallVector<int64_t>>();
  const ConstTensor *axes = imp.constantInput(inputIndex, "axes");
  if (!axes)
    return failure();
  SmallVector<int64_t> out;
  for (int64_t i = 0, e = axes->numElements(); i < e; ++i)
    out.push_back(axes->asInt(i));
  return std::optional<SmallVector<int64_t>>(out);
}

namespace {
using Node = const onnx::NodeProto &;
using Inputs = FoldInputs;
using Outputs = FoldOutputs;

/// Shape rules shared by folding and conversion; they read the current node's
/// constant inputs and attributes and emit errors on it.
FailureOr<SmallVector<int64_t>> reshapeTarget(GraphImporter &imp,
                                              ArrayRef<int64_t> inShape) {
  const ConstTensor *shape = imp.constantInput(1, "shape");
  if (!shape)
    return failure();
  if (shape->shape.size() != 1 || shape->isFloat())
    return imp.nodeError() << "shape input must be a 1-D integer tensor, got "
                           << shape->getType();
  bool allowZero = imp.intAttr("allowzero", 0) != 0;
  SmallVector<int64_t> out;
  int64_t inferIndex = -1, known = 1;
  for (int64_t i = 0, e = shape->numElements(); i < e; ++i) {
    int64_t d = shape->intAt(i);
    if (d == 0 && !allowZero) {
      if (i >= (int64_t)inShape.size())
        return imp.nodeError() << "shape entry " << i
                               << " is 0 (copy the input dim), but the input "
                                  "has rank "
                               << inShape.size();
      d = inShape[i];
    } else if (d == -1) {
      if (inferIndex != -1)
        return imp.nodeError() << "shape " << shape->getType() << " has more than one -1";
      inferIndex = i;
      out.push_back(-1);
      continue;
    } else if (d < 0) {
      return imp.nodeError() << "shape entry " << i << " is " << d;
    }
    out.push_back(d);
    known *= d;
  }
  int64_t total = product(inShape);
  if (inferIndex != -1) {
    if (known == 0 || total % known != 0)
      return imp.nodeError() << "cannot reshape " << formatShape(inShape)
                             << " with a -1 among the dims of " << formatShape(out);
    out[inferIndex] = total / known;
  } else if (known != total) {
    return imp.nodeError() << "cannot reshape " << formatShape(inShape) << " (" << total
                           << " elements) to " << formatShape(out) << " (" << known
                           << " elements)";
  }
  return out;
}

FailureOr<SmallVector<int64_t>> expandTarget(GraphImporter &imp,
                                             ArrayRef<int64_t> inShape) {
  const ConstTensor *shape = imp.constantInput(1, "shape");
  if (!shape)
    return failure();
  if (shape->shape.size() != 1 || shape->isFloat())
    return imp.nodeError() << "shape input must be a 1-D integer tensor, got "
                           << shape->getType();
  SmallVector<int64_t> target;
  for (int64_t i = 0, e = shape->numElements(); i < e; ++i) {
    if (shape->intAt(i) < 0)
      return imp.nodeError() << "shape entry " << i << " is negative";
    target.push_back(shape->intAt(i));
  }
  auto out = broadcastShapes(inShape, target);
  if (failed(out))
    return imp.nodeError() << "cannot expand " << formatShape(inShape) << " to "
                           << formatShape(target);
  return *out;
}

FailureOr<SmallVector<int64_t>> squeezeAxes(GraphImporter &imp,
                                            ArrayRef<int64_t> inShape) {
  auto axes = readAxes(imp, 1, imp.opset >= 13);
  if (failed(axes))
    return failure();
  SmallVector<int64_t> out;
  if (!*axes) {
    for (int64_t i = 0, e = inShape.size(); i < e; ++i)
      if (inShape[i] == 1)
        out.push_back(i);
    return out;
  }
  auto norm = imp.normalizeAxes(**axes, inShape.size());
  if (failed(norm))
    return failure();
  for (int64_t a : *norm)
    if (inShape[a] != 1)
      return imp.nodeError() << "cannot squeeze dim " << a << " of size " << inShape[a];
  return *norm;
}

FailureOr<SmallVector<int64_t>> unsqueezeAxes(GraphImporter &imp, int64_t inRank) {
  auto axes = readAxes(imp, 1, imp.opset >= 13);
  if (failed(axes))
    return failure();
  if (!*axes)
    return imp.nodeError() << "Unsqueeze needs axes";
  return imp.normalizeAxes(**axes, inRank + (**axes).size());
}

struct SliceBounds {
  SmallVector<int64_t> starts, ends, steps, resultShape;
};

FailureOr<SliceBounds> sliceBounds(GraphImporter &imp, ArrayRef<int64_t> inShape) {
  int64_t rank = inShape.size();
  const ConstTensor *starts = imp.constantInput(1, "starts");
  const ConstTensor *ends = starts ? imp.constantInput(2, "ends") : nullptr;
  if (!starts || !ends)
    return failure();
  int64_t n = starts->numElements();
  if (ends->numElements() != n)
    return imp.nodeError() << "starts has " << n << " entries but ends has "
                           << ends->numElements();
  SmallVector<int64_t> axes, steps;
  if (imp.input(3)) {
    const ConstTensor *a = imp.constantInput(3, "axes");
    if (!a)
      return failure();
    if (a->numElements() != n)
      return imp.nodeError() << "axes has " << a->numElements() << " entries, starts "
                             << n;
    for (int64_t i = 0; i < n; ++i)
      axes.push_back(a->asInt(i));
  } else {
    for (int64_t i = 0; i < n; ++i)
      axes.push_back(i);
  }
  if (imp.input(4)) {
    const ConstTensor *s = imp.constantInput(4, "steps");
    if (!s)
      return failure();
    if (s->numElements() != n)
      return imp.nodeError() << "steps has " << s->numElements() << " entries, starts "
                             << n;
    for (int64_t i = 0; i < n; ++i)
      steps.push_back(s->asInt(i));
  } else {
    steps.assign(n, 1);
  }
  auto normAxes = imp.normalizeAxes(axes, rank);
  if (failed(normAxes))
    return failure();
  SliceBounds b;
  b.starts.assign(rank, 0);
  b.ends.assign(inShape.begin(), inShape.end());
  b.steps.assign(rank, 1);
  for (int64_t i = 0; i < n; ++i) {
    int64_t axis = axes[i] < 0 ? axes[i] + rank : axes[i];
    int64_t dim = inShape[axis], step = steps[i];
    if (step == 0)
      return imp.nodeError() << "step of axis " << axis << " is 0";
    int64_t s = starts->asInt(i), e = ends->asInt(i);
    if (s < 0)
      s += dim;
    if (e < 0)
      e += dim;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      e = std::max(e, s);
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      if (dim == 0)
        s = e = -1;
      e = std::min(e, s);
    }
    b.starts[axis] = s;
    b.ends[axis] = e;
    b.steps[axis] = step;
  }
  for (int64_t i = 0; i < rank; ++i) {
    int64_t s = b.starts[i], e = b.ends[i], st = b.steps[i];
    int64_t len = st > 0 ? (e - s + st - 1) / st : (s - e + (-st) - 1) / (-st);
    b.resultShape.push_back(std::max<int64_t>(0, len));
  }
  return b;
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
  return setResult(imp,
                   imp.createInferred<TransposeOp>({x}, {arrayAttr(imp, "perm", perm)}));
}

LogicalResult convertGather(GraphImporter &imp, Node) {
  Value data = imp.inputValue(0), idx = imp.inputValue(1);
  if (!data || !idx)
    return failure();
  auto axis = imp.normalizeAxis(imp.intAttr("axis", 0), typeOf(data).getRank());
  if (failed(axis))
    return failure();
  return setResult(
      imp, imp.createInferred<GatherOp>({data, idx}, {i64Attr(imp, "axis", *axis)}));
}

LogicalResult convertSlice(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  auto b = sliceBounds(imp, typeOf(x).getShape());
  if (failed(b))
    return failure();
  return setResult(imp,
                   imp.createInferred<SliceOp>({x}, {arrayAttr(imp, "starts", b->starts),
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
                           << " pieces, but the node has " << node.output_size()
                           << " outputs";
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
  auto axis = imp.normalizeAxis(imp.intAttr("axis", 0), typeOf(inputs[0]).getRank());
  if (failed(axis))
    return failure();
  if (inputs.size() == 1) {
    imp.setOutput(0, inputs[0]);
    return success();
  }
  return setResult(imp,
                   imp.createInferred<ConcatOp>(inputs, {i64Attr(imp, "axis", *axis)}));
}

LogicalResult convertSqueeze(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  auto axes = squeezeAxes(imp, typeOf(x).getShape());
  if (failed(axes))
    return failure();
  llvm::sort(*axes);
  return setResult(imp,
                   imp.createInferred<SqueezeOp>({x}, {arrayAttr(imp, "axes", *axes)}));
}

LogicalResult convertUnsqueeze(GraphImporter &imp, Node) {
  Value x = imp.inputValue(0);
  if (!x)
    return failure();
  auto axes = unsqueezeAxes(imp, typeOf(x).getRank());
  if (failed(axes))
    return failure();
  llvm::sort(*axes);
  return setResult(imp,
                   imp.createInferred<UnsqueezeOp>({x}, {arrayAttr(imp, "axes", *axes)}));
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

LogicalResult convertIdentity(GraphImporter &imp, Node) {
  const ImportedValue *v = imp.input(0);
  if (!v)
    return imp.nodeError() << "Identity needs an input";
  imp.setOutputAlias(0, *v);
  return success();
}

LogicalResult foldGather(GraphImporter &imp, const onnx::NodeProto &, Inputs in,
                         Outputs &out) {
  const ConstTensor &data = *in[0], &idx = *in[1];
  if (idx.isFloat())
    return imp.nodeError() << "indices must be integers";
  int64_t rank = data.shape.size();
  auto axis = imp.normalizeAxis(imp.intAttr("axis", 0), rank);
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(ArrayRef<int64_t>(data.shape).take_front(*axis));
  llvm::append_range(shape, idx.shape);
  llvm::append_range(shape, ArrayRef<int64_t>(data.shape).drop_front(*axis + 1));
  if (!foldable(shape, false))
    return success();
  int64_t outer = product(ArrayRef<int64_t>(data.shape).take_front(*axis));
  int64_t inner = product(ArrayRef<int64_t>(data.shape).drop_front(*axis + 1));
  int64_t dim = data.shape[*axis], nIdx = idx.numElements();
  ConstTensor t = ConstTensor::make(data.elementType, shape);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < nIdx; ++j) {
      int64_t k = idx.intAt(j);
      if (k < 0)
        k += dim;
      if (k < 0 || k >= dim)
        return imp.nodeError() << "index " << idx.intAt(j)
                               << " is out of range for a dim of size " << dim;
      for (int64_t i = 0; i < inner; ++i)
        copyElement(data, (o * dim + k) * inner + i, t);
    }
  out.push_back(std::move(t));
  return success();
}

LogicalResult foldConcat(GraphImporter &imp, const onnx::NodeProto &, Inputs in,
                         Outputs &out) {
  if (in.empty())
    return imp.nodeError() << "Concat needs inputs";
  const ConstTensor &first = *in[0];
  int64_t rank = first.shape.size();
  auto axis = imp.normalizeAxis(imp.intAttr("axis", 0), rank);
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape = first.shape;
  shape[*axis] = 0;
  for (const ConstTensor *t : in) {
    if ((int64_t)t->shape.size() != rank || t->elementType != first.elementType)
      return imp.nodeError() << "inputs differ in rank or element type";
    for (int64_t d = 0; d < rank; ++d)
      if (d != *axis && t->shape[d] != first.shape[d])
        return imp.nodeError() << "inputs differ outside the concat axis";
    shape[*axis] += t->shape[*axis];
  }
  if (!foldable(shape, false))
    return success();
  int64_t outer = product(ArrayRef<int64_t>(shape).take_front(*axis));
  int64_t inner = product(ArrayRef<int64_t>(shape).drop_front(*axis + 1));
  ConstTensor r = ConstTensor::make(first.elementType, shape);
  for (int64_t o = 0; o < outer; ++o)
    for (const ConstTensor *t : in) {
      int64_t chunk = t->shape[*axis] * inner;
      for (int64_t i = 0; i < chunk; ++i)
        copyElement(*t, o * chunk + i, r);
    }
  out.push_back(std::move(r));
  return success();
}

LogicalResult foldReshape(GraphImporter &imp, const onnx::NodeProto &, Inputs in,
                          Outputs &out) {
  auto shape = reshapeTarget(imp, in[0]->shape);
  if (failed(shape))
    return failure();
  return emitReshaped(*in[0], *shape, out);
}

LogicalResult foldIdentity(GraphImporter &, const onnx::NodeProto &, Inputs in,
                           Outputs &out) {
  out.push_back(*in[0]);
  return success();
}

LogicalResult foldSqueeze(GraphImporter &imp, const onnx::NodeProto &, Inputs in,
                          Outputs &out) {
  auto axes = squeezeAxes(imp, in[0]->shape);
  if (failed(axes))
    return failure();
  SmallVector<int64_t> shape;
  for (int64_t i = 0, e = in[0]->shape.size(); i < e; ++i)
    if (!llvm::is_contained(*axes, i))
      shape.push_back(in[0]->shape[i]);
  return emitReshaped(*in[0], shape, out);
}

LogicalResult foldUnsqueeze(GraphImporter &imp, const onnx::NodeProto &, Inputs in,
                            Outputs &out) {
  int64_t rank = in[0]->shape.size();
  auto axes = unsqueezeAxes(imp, rank);
  if (failed(axes))
    return failure();
  SmallVector<int64_t> shape;
  int64_t next = 0;
  for (int64_t i = 0, e = rank + axes->size(); i < e; ++i)
    shape.push_back(llvm::is_contained(*axes, i) ? 1 : in[0]->shape[next++]);
  return emitReshaped(*in[0], shape, out);
}

LogicalResult foldExpand(GraphImporter &imp, const onnx::NodeProto &, Inputs in,
                         Outputs &out) {
  const ConstTensor &x = *in[0];
  auto shape = expandTarget(imp, x.shape);
  if (failed(shape))
    return failure();
  if (isSplatLike(x) && product(*shape) != 1) {
    ConstTensor t = withShape(x, *shape);
    t.splat = true;
    if (!x.splat) {
      t.ints.resize(std::min<size_t>(t.ints.size(), 1));
      t.reals.resize(std::min<size_t>(t.reals.size(), 1));
    }
    out.push_back(std::move(t));
    return success();
  }
  if (!foldable(*shape, false))
    return success();
  ConstTensor t = ConstTensor::make(x.elementType, *shape);
  for (int64_t i : broadcastIndices(x.shape, *shape))
    copyElement(x, i, t);
  out.push_back(std::move(t));
  return success();
}

LogicalResult foldSlice(GraphImporter &imp, const onnx::NodeProto &, Inputs in,
                        Outputs &out) {
  const ConstTensor &x = *in[0];
  auto b = sliceBounds(imp, x.shape);
  if (failed(b))
    return failure();
  if (x.splat)
    return emitReshaped(x, b->resultShape, out);
  if (!foldable(b->resultShape, false))
    return success();
  ConstTensor t = ConstTensor::make(x.elementType, b->resultShape);
  SmallVector<int64_t> inStrides = strides(x.shape), outStrides = strides(b->resultShape);
  int64_t n = product(b->resultShape);
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i, flat = 0;
    for (size_t d = 0; d < x.shape.size(); ++d) {
      int64_t c = rem / outStrides[d];
      rem %= outStrides[d];
      flat += (b->starts[d] + c * b->steps[d]) * inStrides[d];
    }
    copyElement(x, flat, t);
  }
  out.push_back(std::move(t));
  return success();
}
} // namespace

void mlir::ds::onnx_import::populateShapeOps(ONNXOpTable &table) {
  // Since 13: Squeeze, Unsqueeze and Split take axes and sizes as inputs.
  table.onOp("Reshape", 13, convertReshape, foldReshape);
  table.onOp("Transpose", 13, convertTranspose);
  table.onOp("Gather", 13, convertGather, foldGather);
  table.onOp("Slice", 13, convertSlice, foldSlice);
  table.onOp("Split", 13, convertSplit);
  table.onOp("Concat", 13, convertConcat, foldConcat);
  table.onOp("Squeeze", 13, convertSqueeze, foldSqueeze);
  table.onOp("Unsqueeze", 13, convertUnsqueeze, foldUnsqueeze);
  table.onOp("Expand", 13, convertExpand, foldExpand);
  table.onOp("Identity", 13, convertIdentity, foldIdentity);
}
