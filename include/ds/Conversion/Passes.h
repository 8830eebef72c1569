// Conversion pass declarations.
#ifndef DS_CONVERSION_PASSES_H
#define DS_CONVERSION_PASSES_H

#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::ds {
#define GEN_PASS_DECL
#include "ds/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "ds/Conversion/Passes.h.inc"
} // namespace mlir::ds

#endif // DS_CONVERSION_PASSES_H
