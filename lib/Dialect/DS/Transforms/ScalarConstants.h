// Scalar constants of the imported graph as the pattern-fusion passes (ds-fuse-attention,
// ds-fuse-gelu) read them: exporters leave small computations over constants (GPT-2's
// scale, Pow(16, 0.5)) unfolded.
#ifndef DS_DIALECT_DS_TRANSFORMS_SCALARCONSTANTS_H
#define DS_DIALECT_DS_TRANSFORMS_SCALARCONSTANTS_H

#include "ds/Dialect/DS/IR/DSOps.h"

#include <cmath>
#include <optional>

namespace mlir::ds {
/// The value of a float constant whose elements are all equal (a scalar in effect).
inline std::optional<double> getSplatFloat(Value v) {
  auto constant = v.getDefiningOp<ConstantOp>();
  if (!constant)
    return std::nullopt;
  auto dense = dyn_cast<DenseFPElementsAttr>(constant.getValue());
  if (!dense || !dense.isSplat())
    return std::nullopt;
  return dense.getSplatValue<APFloat>().convertToDouble();
}

/// The value of a one-element float computation over constants (casts, sqrt and the four
/// arithmetic ops and pow), or nullopt.
inline std::optional<double> evaluateScalar(Value v, int depth = 0) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || type.getNumElements() != 1 || depth > 8)
    return std::nullopt;
  Operation *def = v.getDefiningOp();
  if (!def)
    return std::nullopt;
  if (isa<ConstantOp>(def))
    return getSplatFloat(v);
  if (auto cast = dyn_cast<CastOp>(def))
    return evaluateScalar(cast.getInput(), depth + 1);
  if (auto sqrt = dyn_cast<SqrtOp>(def)) {
    auto x = evaluateScalar(sqrt.getInput(), depth + 1);
    return x ? std::optional<double>(std::sqrt(*x)) : std::nullopt;
  }
  if (def->getNumOperands() != 2 || !isa<AddOp, SubOp, MulOp, DivOp, PowOp>(def))
    return std::nullopt;
  auto a = evaluateScalar(def->getOperand(0), depth + 1);
  auto b = evaluateScalar(def->getOperand(1), depth + 1);
  if (!a || !b)
    return std::nullopt;
  if (isa<AddOp>(def))
    return *a + *b;
  if (isa<SubOp>(def))
    return *a - *b;
  if (isa<MulOp>(def))
    return *a * *b;
  if (isa<DivOp>(def))
    return *a / *b;
  return std::pow(*a, *b);
}
} // namespace mlir::ds

#endif // DS_DIALECT_DS_TRANSFORMS_SCALARCONSTANTS_H
