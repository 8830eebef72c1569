// Interfaces of the `ds` dialect.
#ifndef DS_INTERFACES_TD
#define DS_INTERFACES_TD

include "mlir/IR/OpBase.td"

def DS_GradientOpInterface : OpInterface<"GradientOpInterface"> {
  let cppNamespace = "::mlir::ds";
  let description = [{
    An op that knows its reverse-mode derivative. Given the gradient of the loss with
    respect to each result (null where none flows), it builds, at the builder's insertion
    point, the gradient with respect to each operand that `needed` marks, shaped like that
    operand (broadcasting undone). Operands that are not needed get a null gradient.
  }];
  let methods = [
    InterfaceMethod<
      /*desc=*/"Builds the operand gradients from the result gradients.",
      /*retTy=*/"::llvm::LogicalResult",
      /*methodName=*/"buildGradients",
      /*args=*/(ins "::mlir::OpBuilder &":$builder,
                    "::llvm::ArrayRef<::mlir::Value>":$resultGrads,
                    "::llvm::ArrayRef<bool>":$needed,
                    "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads)>,
  ];
}

#endif // DS_INTERFACES_TD
