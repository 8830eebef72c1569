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

def AutodiffPass : Pass<"ds-autodiff", "::mlir::ModuleOp"> {
  let summary = "Appends the gradients of the loss to every function that has one";
  let description = [{
    Reverse-mode differentiation of each function with a `ds.loss`: seeds the loss
    with 1, walks the ops backwards through their gradient rules
    (`GradientOpInterface`), sums the gradients of values used several times (tied
    weights), and returns the gradient of every trainable `ds.parameter` the function
    reads, after its original results, with `ds.grad = @param` on each. Only values that
    depend on a trainable parameter and reach the loss get gradients; an op on such a
    path without a gradient rule is an error naming it. With `wrt-args`, float
    arguments are differentiated too (`ds.grad_of_input = "name"`), which gradient
    checks use.
  }];
  let options = [
    Option<"wrtArgs", "wrt-args", "bool", /*default=*/"false",
           "Also return the gradients of float function arguments">,
  ];
  let dependentDialects = ["::mlir::ds::DSDialect"];
}

#endif // DS_TRANSFORMS_PASSES_TD
