// Linear-algebra ONNX ops: MatMul, Gemm and Trilu.
#include "ONNXOpTable.h"

using namespace mlir;
using namespace mlir::ds;
using namespace mlir::ds::onnx_import;

namespace {
using Node = const onnx::NodeProto &;
using Inputs = FoldInputs;
using Outputs = FoldOutputs;

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
  return setResult(imp, imp.createTyped<TriluOp>(
                            {x.getType()}, {x},
                            {named(imp, "upper",
                                   imp.builder.getBoolAttr(imp.intAttr("upper", 1) != 0)),
                             i64Attr(imp, "k", k)}));
}
} // namespace

void mlir::ds::onnx_import::populateLinalgOps(ONNXOpTable &table) {
  table.onOp("MatMul", 13, convertMatMul);
  table.onOp("Gemm", 13, convertGemm);
  table.onOp("Trilu", 14, convertTrilu);
}
