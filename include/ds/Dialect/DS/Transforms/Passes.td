// Passes over the `ds` dialect.
#ifndef DS_TRANSFORMS_PASSES_TD
#define DS_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def MarkFrozenParametersPass : Pass<"ds-mark-frozen", "::mlir::ModuleOp"> {
  let summary = "Freezes parameters that have no differentiable path to the loss";
  let description = [{
    ONNX does not say which float initializers are trainable: a registered buffer such as
    a causal mask looks like a weight. This pass walks back from the loss result (the
    `ds.loss` attribute of each function) through differentiable operands only and marks
    every `ds.parameter` it does not reach `frozen`; so is every parameter whose name
    matches `freeze` (an LLVM regex, anchored at neither end). Functions without
    `ds.loss` (inference) freeze everything they read.
  }];
  let options = [
    Option<"freeze", "freeze", "std::string", /*default=*/"\"\"",
           "Also freeze parameters whose name matches this regex">,
  ];
  let statistics = [
    Statistic<"numFrozen", "num-frozen", "Parameters marked frozen">,
    Statistic<"numTrainable", "num-trainable", "Parameters left trainable">,
  ];
}

#endif // DS_TRANSFORMS_PASSES_TD
