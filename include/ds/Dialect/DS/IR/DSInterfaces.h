// Interfaces of the `ds` dialect (the gradient interface).
#ifndef DS_DIALECT_DS_IR_DSINTERFACES_H
#define DS_DIALECT_DS_IR_DSINTERFACES_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpDefinition.h"

#include "ds/Dialect/DS/IR/DSInterfaces.h.inc"

namespace mlir {
class DialectRegistry;
namespace ds {
/// Attaches the gradient rules of the forward ops (external models).
void registerGradientInterfaces(DialectRegistry &registry);
} // namespace ds
} // namespace mlir

#endif // DS_DIALECT_DS_IR_DSINTERFACES_H
