// Backward ops of the `ds` dialect: gradients that composing forward ops would make slow
// or unstable. Included from DSOps.td.
#ifndef DS_GRAD_OPS_TD
#define DS_GRAD_OPS_TD

class DS_AxisGradOp<string mnemonic> : DS_Op<mnemonic,
    [Pure, AllTypesMatch<["grad", "output", "result"]>]> {
  let arguments = (ins DS_FloatTensor:$grad, DS_FloatTensor:$output, I64Attr:$axis);
  let results = (outs DS_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $output attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def DS_SoftmaxGradOp : DS_AxisGradOp<"softmax_grad"> {
  let summary = "Gradient of softmax from its output: y * (g - sum(g * y, axis))";
  let description = "```mlir\n%dx = ds.softmax_grad %g, %y {axis = 1 : i64} : tensor<4x8xf32>\n```";
}
def DS_LogSoftmaxGradOp : DS_AxisGradOp<"log_softmax_grad"> {
  let summary = "Gradient of log_softmax from its output: g - exp(y) * sum(g, axis)";
  let description = "```mlir\n%dx = ds.log_softmax_grad %g, %y {axis = 1 : i64} : tensor<4x8xf32>\n```";
}

def DS_GeluGradOp : DS_Op<"gelu_grad",
    [Pure, AllTypesMatch<["grad", "input", "result"]>]> {
  let summary = "Gradient of gelu: g * gelu'(x)";
  let description = "```mlir\n%dx = ds.gelu_grad %g, %x : tensor<4xf32>\n```";
  let arguments = (ins DS_FloatTensor:$grad, DS_FloatTensor:$input,
                       DefaultValuedAttr<DS_GeluApproximationAttr,
                           "::mlir::ds::GeluApproximation::none">:$approximate);
  let results = (outs DS_FloatTensor:$result);
  let assemblyFormat = [{
    $grad `,` $input (`approximate` `=` `` $approximate^)? attr-dict `:` type($result)
  }];
}

def DS_LayerNormGradOp : DS_Op<"layer_norm_grad", [Pure]> {
  let summary = "Gradients of layer_norm with respect to its input, scale and bias";
  let description = [{
    Recomputes the mean and inverse standard deviation over dims [axis, rank) of the
    input. `scale` has the normalized shape x.shape[axis:] (broadcast by the caller);
    the scale and bias gradients are summed over the leading dims.
    ```mlir
    %dx, %dg, %db = ds.layer_norm_grad %g, %x, %s {axis = 1 : i64, epsilon = 1.0e-05 : f32} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>)
    ```
  }];
  let arguments = (ins DS_FloatTensor:$grad, DS_FloatTensor:$input,
                       DS_FloatTensor:$scale, I64Attr:$axis,
                       DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon);
  let results = (outs DS_FloatTensor:$input_grad, DS_FloatTensor:$scale_grad,
                      DS_FloatTensor:$bias_grad);
  let assemblyFormat = "$grad `,` $input `,` $scale attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def DS_AttentionGradOp : DS_Op<"attention_grad", [Pure]> {
  let summary = "Gradients of attention with respect to q, k and v from its output and LSE";
  let description = [{
    Recomputes the probabilities tile by tile from q, k and the forward's per-row
    log-sum-exp, never holding the [T, S] matrix: dv = pᵀ g, ds = p (g vᵀ - rowsum(g out)),
    dq = scale ds k, dk = scale dsᵀ q. Attributes and mask as the forward `ds.attention`.
    ```mlir
    %dq, %dk, %dv = ds.attention_grad %g, %q, %k, %v, %o, %lse {causal = true, scale = 2.500000e-01 : f32} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>)
    ```
  }];
  let arguments = (ins DS_FloatTensor:$grad, DS_FloatTensor:$query, DS_FloatTensor:$key,
                       DS_FloatTensor:$value, DS_FloatTensor:$output,
                       DS_FloatTensor:$lse, Optional<DS_Tensor>:$mask, F32Attr:$scale,
                       DefaultValuedAttr<BoolAttr, "false">:$causal,
                       DefaultValuedAttr<F32Attr, "0.0">:$dropout);
  let results = (outs DS_FloatTensor:$query_grad, DS_FloatTensor:$key_grad,
                      DS_FloatTensor:$value_grad);
  let assemblyFormat = [{
    $grad `,` $query `,` $key `,` $value `,` $output `,` $lse (`mask` $mask^)? attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def DS_GatherGradOp : DS_Op<"gather_grad", [Pure]> {
  let summary = "Scatter-adds the gradient of a gather into zeros shaped like its data";
  let description = [{
    ```mlir
    %dt = ds.gather_grad %g, %ids {axis = 0 : i64} : (tensor<4x32x64xf32>, tensor<4x32xi64>) -> tensor<65x64xf32>
    ```
  }];
  let arguments = (ins DS_FloatTensor:$grad, DS_IndexTensor:$indices, I64Attr:$axis);
  let results = (outs DS_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $indices attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def DS_SliceGradOp : DS_Op<"slice_grad", [Pure]> {
  let summary = "Places the gradient of a slice into zeros shaped like its input";
  let description = [{
    ```mlir
    %dx = ds.slice_grad %g {starts = array<i64: 0, 2>, ends = array<i64: 4, 6>, steps = array<i64: 1, 2>} : (tensor<4x2xf32>) -> tensor<4x8xf32>
    ```
  }];
  let arguments = (ins DS_FloatTensor:$grad, DenseI64ArrayAttr:$starts,
                       DenseI64ArrayAttr:$ends, DenseI64ArrayAttr:$steps);
  let results = (outs DS_FloatTensor:$result);
  let assemblyFormat = "$grad attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

class DS_LossGradOp<string mnemonic> : DS_Op<mnemonic, [Pure]> {
  let arguments = (ins DS_FloatTensor:$grad, DS_FloatTensor:$input,
                       DS_IndexTensor:$target, Optional<DS_FloatTensor>:$weights,
                       DefaultValuedAttr<DS_LossReductionAttr,
                           "::mlir::ds::LossReduction::mean">:$reduction,
                       OptionalAttr<I64Attr>:$ignore_index);
  let results = (outs DS_FloatTensor:$result);
  let assemblyFormat = [{
    $grad `,` $input `,` $target (`,` $weights^)? (`reduction` `=` `` $reduction^)? attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def DS_SoftmaxCrossEntropyLossGradOp
    : DS_LossGradOp<"softmax_cross_entropy_loss_grad"> {
  let summary = "Gradient of softmax_cross_entropy_loss with respect to the scores";
  let description = [{
    (softmax(scores) - onehot(labels)) * w[label] * g, divided by the summed weights
    of the non-ignored labels for "mean"; ignored positions get zero.
    ```mlir
    %ds = ds.softmax_cross_entropy_loss_grad %g, %s, %y : (tensor<f32>, tensor<8x10xf32>, tensor<8xi64>) -> tensor<8x10xf32>
    ```
  }];
}
def DS_NllLossGradOp : DS_LossGradOp<"nll_loss_grad"> {
  let summary = "Gradient of nll_loss with respect to the log-probabilities";
  let description = [{
    -w[label] * g at each label position (divided by the summed weights for "mean").
    ```mlir
    %dlp = ds.nll_loss_grad %g, %lp, %y : (tensor<f32>, tensor<8x10xf32>, tensor<8xi64>) -> tensor<8x10xf32>
    ```
  }];
}

#endif // DS_GRAD_OPS_TD
