// Registers every dialect (and external model) the ds tools read, print or create.
#ifndef DS_INITALLDIALECTS_H
#define DS_INITALLDIALECTS_H

#include "ds/Dialect/DS/IR/DSDialect.h"
#include "ds/Dialect/DS/IR/DSInterfaces.h"
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Shard/IR/ShardDialect.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"

namespace mlir::ds {

/// The dialects of ds-opt, ds-translate and the importer, with the gradient rules.
inline void registerAllDialects(DialectRegistry &registry) {
  registry.insert<DSDialect, dsrt::RuntimeDialect, func::FuncDialect, shard::ShardDialect,
                  tensor::TensorDialect, arith::ArithDialect>();
  registerGradientInterfaces(registry);
}

} // namespace mlir::ds

#endif // DS_INITALLDIALECTS_H
