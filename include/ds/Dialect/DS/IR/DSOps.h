// Op classes of the `ds` dialect.
#ifndef DS_DIALECT_DS_IR_DSOPS_H
#define DS_DIALECT_DS_IR_DSOPS_H

#include "ds/Dialect/DS/IR/DSDialect.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "ds/Dialect/DS/IR/DSOps.h.inc"

namespace mlir::ds {
/// Numpy broadcast of two static shapes; fails when a dim pair is neither equal nor 1.
FailureOr<SmallVector<int64_t>> broadcastShapes(ArrayRef<int64_t> a,
                                                ArrayRef<int64_t> b);
} // namespace mlir::ds

#endif // DS_DIALECT_DS_IR_DSOPS_H

namespace mlir::ds {
/// Whether a gradient can flow from `op`'s results into operand `index`: false for
/// integer and boolean operands, conditions, indices, labels, and comparisons.
bool isDifferentiableOperand(Operation *op, unsigned index);
/// The element type of ds.attention's per-row log-sum-exp: f32, or f64 for f64 operands.
Type getAttentionLseElementType(Type queryElementType);
} // namespace mlir::ds
