// Small builder helpers shared by the gradient rules of the `ds` ops.
#ifndef DS_LIB_DIALECT_DS_IR_GRADIENTBUILDER_H
#define DS_LIB_DIALECT_DS_IR_GRADIENTBUILDER_H

#include "ds/Dialect/DS/IR/DSOps.h"

namespace mlir::ds {

class GradientBuilder {
public:
  GradientBuilder(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  static RankedTensorType typeOf(Value v) {
    return llvm::cast<RankedTensorType>(v.getType());
  }

  /// A scalar constant of `elementType`.
  Value scalar(double value, Type elementType) {
    auto type = RankedTensorType::get({}, elementType);
    return ConstantOp::create(
        b, loc, DenseElementsAttr::get(type, b.getFloatAttr(elementType, value)));
  }
  /// A tensor of zeros of `type`.
  Value zeros(RankedTensorType type) {
    Attribute zero = llvm::isa<FloatType>(type.getElementType())
                         ? Attribute(b.getFloatAttr(type.getElementType(), 0.0))
                         : Attribute(b.getIntegerAttr(type.getElementType(), 0));
    return ConstantOp::create(b, loc, DenseElementsAttr::get(type, zero));
  }

  Value add(Value x, Value y) { return AddOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return SubOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return MulOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return DivOp::create(b, loc, x, y); }
  Value neg(Value x) { return NegOp::create(b, loc, x); }
  Value sin(Value x) { return SinOp::create(b, loc, x); }
  Value cos(Value x) { return CosOp::create(b, loc, x); }
  Value scale(Value x, double s) {
    return mul(x, scalar(s, typeOf(x).getElementType()));
  }
  Value reshape(Value x, ArrayRef<int64_t> shape) {
    if (typeOf(x).getShape() == shape)
      return x;
    return ReshapeOp::create(b, loc, typeOf(x).clone(shape), x);
  }
  Value expand(Value x, ArrayRef<int64_t> shape) {
    if (typeOf(x).getShape() == shape)
      return x;
    return ExpandOp::create(b, loc, typeOf(x).clone(shape), x);
  }
  Value reduceSum(Value x, ArrayRef<int64_t> axes, bool keepdims) {
    return ReduceSumOp::create(b, loc, x, b.getDenseI64ArrayAttr(axes),
                               b.getBoolAttr(keepdims));
  }
  Value cast(Value x, Type elementType) {
    if (typeOf(x).getElementType() == elementType)
      return x;
    return CastOp::create(b, loc, typeOf(x).clone(elementType), x);
  }

  /// Sums `grad` over the dims that broadcasting stretched, giving `target`'s shape.
  Value unbroadcast(Value grad, RankedTensorType target) {
    auto g = typeOf(grad);
    if (g.getShape() == target.getShape())
      return grad;
    int64_t lead = g.getRank() - target.getRank();
    SmallVector<int64_t> axes;
    for (int64_t i = 0; i < g.getRank(); ++i)
      if (i < lead || (target.getDimSize(i - lead) == 1 && g.getDimSize(i) != 1))
        axes.push_back(i);
    Value summed = axes.empty() ? grad : reduceSum(grad, axes, /*keepdims=*/true);
    return reshape(summed, target.getShape());
  }

  OpBuilder &b;
  Location loc;
};

} // namespace mlir::ds

#endif // DS_LIB_DIALECT_DS_IR_GRADIENTBUILDER_H
