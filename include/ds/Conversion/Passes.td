// Conversion passes between the project's dialects.
#ifndef DS_CONVERSION_PASSES_TD
#define DS_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertDSToRuntimePass : Pass<"ds-convert-to-runtime", "::mlir::ModuleOp"> {
  let summary = "Lowers ds ops on tensors to dsrt kernel calls on buffers";
  let description = [{
    Every tensor becomes a memref of the same shape: each op result a `dsrt.alloc`
    written by one `dsrt.kernel` named after the op, with the op's attributes (defaults
    made explicit and enums spelled as the plan's strings, so the runtime never
    guesses); `ds.grad_norm_sq` becomes one multi-tensor `grad_norm_sq` kernel (or, with
    multi-tensor-grad-norm=false, the per-gradient cast, mul, reduce_sum and add kernels
    that compute the same bits); `ds.param_ref`
    and `ds.state_ref` become `dsrt.param`, `ds.assign` a copy into it; function
    arguments and results become buffers. Every `ds.parameter` and `ds.state` becomes a
    `dsrt.global` in the same memory space, so that nothing after this pass reads module
    state from the `ds` dialect; the loss scale is named by `dsrt.loss_scale`.
    Functions without `dsrt.role` get `role`.
  }];
  let options = [
    Option<"role", "role", "std::string", /*default=*/"\"inference\"",
           "Role of functions that have none: inference, micro_step, apply_step, init">,
    Option<"multiTensorGradNorm", "multi-tensor-grad-norm", "bool", /*default=*/"true",
           "Lower ds.grad_norm_sq to one grad_norm_sq kernel (false: per-gradient kernels)">,
  ];
  let dependentDialects = ["::mlir::dsrt::RuntimeDialect"];
}

#endif // DS_CONVERSION_PASSES_TD
