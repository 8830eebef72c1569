// ONNX ops that only compute shapes and constants: Constant, Shape, Size,
// ConstantOfShape, Range. They have no ds op: they fold at import time.
#include "ONNXOpTable.h"

using namespace mlir;
using namespace mlir::ds;
using namespace mlir::ds::onnx_import;

namespace {
using Node = const onnx::NodeProto &;
using Inputs = FoldInputs;
using Outputs = FoldOutputs;

LogicalResult foldConstant(GraphImporter &imp, const onnx::NodeProto &node, Inputs,
                           Outputs &out) {
  for (const auto &a : node.attribute()) {
    StringRef name = a.name();
    if (name == "value") {
      auto t =
          decodeTensor(imp.ctx, a.t(), imp.modelDir, [&]() { return imp.nodeError(); });
      if (failed(t))
        return failure();
      out.push_back(std::move(*t));
      return success();
    }
    Type f32 = Float32Type::get(imp.ctx), i64 = IntegerType::get(imp.ctx, 64);
    if (name == "value_float") {
      ConstTensor t = ConstTensor::make(f32, {});
      t.push(a.f());
      out.push_back(std::move(t));
      return success();
    }
    if (name == "value_floats") {
      ConstTensor t = ConstTensor::make(f32, {(int64_t)a.floats_size()});
      for (float f : a.floats())
        t.push(f);
      out.push_back(std::move(t));
      return success();
    }
    if (name == "value_int") {
      out.push_back(ConstTensor::fromInts(i64, {}, {a.i()}));
      return success();
    }
    if (name == "value_ints") {
      out.push_back(
          ConstTensor::fromInts(i64, {(int64_t)a.ints_size()},
                                std::vector<int64_t>(a.ints().begin(), a.ints().end())));
      return success();
    }
    return imp.nodeError() << "Constant attribute '" << name
                           << "' is not supported (use value, value_float(s) "
                              "or value_int(s))";
  }
  return imp.nodeError() << "Constant has no value attribute";
}

LogicalResult foldShape(GraphImporter &imp, const onnx::NodeProto &, Inputs,
                        Outputs &out) {
  const ImportedValue *v = imp.input(0);
  if (!v)
    return imp.nodeError() << "Shape needs an input";
  ArrayRef<int64_t> shape = v->type.getShape();
  int64_t rank = shape.size();
  int64_t start = imp.intAttr("start", 0), end = imp.intAttr("end", rank);
  if (start < 0)
    start += rank;
  if (end < 0)
    end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  std::vector<int64_t> dims;
  for (int64_t i = start; i < end; ++i)
    dims.push_back(shape[i]);
  out.push_back(
      ConstTensor::fromInts(IntegerType::get(imp.ctx, 64), {(int64_t)dims.size()}, dims));
  return success();
}

LogicalResult foldSize(GraphImporter &imp, const onnx::NodeProto &, Inputs,
                       Outputs &out) {
  const ImportedValue *v = imp.input(0);
  if (!v)
    return imp.nodeError() << "Size needs an input";
  out.push_back(ConstTensor::fromInts(IntegerType::get(imp.ctx, 64), {},
                                      {v->type.getNumElements()}));
  return success();
}

LogicalResult foldConstantOfShape(GraphImporter &imp, const onnx::NodeProto &, Inputs in,
                                  Outputs &out) {
  const ConstTensor &shape = *in[0];
  if (shape.shape.size() != 1 || shape.isFloat())
    return imp.nodeError() << "shape input must be a 1-D integer tensor";
  SmallVector<int64_t> dims;
  for (int64_t i = 0, e = shape.numElements(); i < e; ++i) {
    if (shape.intAt(i) < 0)
      return imp.nodeError() << "shape entry " << i << " is negative";
    dims.push_back(shape.intAt(i));
  }
  ConstTensor t = ConstTensor::make(Float32Type::get(imp.ctx), dims);
  t.reals.push_back(0.0);
  if (const onnx::AttributeProto *value = imp.attr("value")) {
    auto v = decodeTensor(imp.ctx, value->t(), imp.modelDir,
                          [&]() { return imp.nodeError(); });
    if (failed(v))
      return failure();
    if (v->numElements() != 1)
      return imp.nodeError() << "value must have one element";
    t = withShape(*v, dims);
  }
  t.splat = true;
  out.push_back(std::move(t));
  return success();
}

LogicalResult foldRange(GraphImporter &imp, const onnx::NodeProto &, Inputs in,
                        Outputs &out) {
  const ConstTensor &start = *in[0], &limit = *in[1], &delta = *in[2];
  for (const ConstTensor *t : in)
    if (t->numElements() != 1)
      return imp.nodeError() << "start, limit and delta must be scalars";
  double s = start.asReal(0), l = limit.asReal(0), d = delta.asReal(0);
  if (d == 0)
    return imp.nodeError() << "delta is 0";
  int64_t n = std::max<int64_t>(0, (int64_t)std::ceil((l - s) / d));
  if (n > kMaxFoldElements)
    return imp.nodeError() << "Range of " << n
                           << " elements is too large to fold (at most "
                           << kMaxFoldElements << ")";
  ConstTensor t = ConstTensor::make(start.elementType, {n});
  for (int64_t i = 0; i < n; ++i) {
    if (start.isFloat())
      t.push(s + i * d);
    else
      t.pushInt(start.intAt(0) + i * delta.intAt(0));
  }
  out.push_back(std::move(t));
  return success();
}
} // namespace

void mlir::ds::onnx_import::populateShapeComputationOps(ONNXOpTable &table) {
  table.onShapeOp("Constant", 13, foldConstant);
  table.onShapeOp("Shape", 13, foldShape, /*foldsFromTypes=*/true);
  table.onShapeOp("Size", 13, foldSize, /*foldsFromTypes=*/true);
  table.onShapeOp("ConstantOfShape", 13, foldConstantOfShape);
  table.onShapeOp("Range", 13, foldRange);
}
