// Pass declarations of the `dsrt` dialect.
#ifndef DS_DIALECT_RUNTIME_TRANSFORMS_PASSES_H
#define DS_DIALECT_RUNTIME_TRANSFORMS_PASSES_H

#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::dsrt {
#define GEN_PASS_DECL
#include "ds/Dialect/Runtime/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "ds/Dialect/Runtime/Transforms/Passes.h.inc"
} // namespace mlir::dsrt

#endif // DS_DIALECT_RUNTIME_TRANSFORMS_PASSES_H
