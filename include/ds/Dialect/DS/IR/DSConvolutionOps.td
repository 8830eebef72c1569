// Convolution, batch normalization and pooling ops of the `ds` dialect (NC[H]W layout),
// with their backward ops. Included from DSOps.td.
#ifndef DS_CONVOLUTION_OPS_TD
#define DS_CONVOLUTION_OPS_TD

// Geometry shared by the convolution ops: per spatial dim (1 or 2 of them) a stride and
// a dilation, and pads [begin..., end...] as ONNX orders them.
defvar DS_ConvGeometry = (ins DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$pads,
                              DenseI64ArrayAttr:$dilations,
                              DefaultValuedAttr<I64Attr, "1">:$group);

def DS_ConvOp : DS_Op<"conv", [Pure]> {
  let summary = "N-D convolution (cross-correlation) over 1 or 2 spatial dims, grouped";
  let description = [{
    y[n, m, o...] = sum over c in m's group, k... of
    x[n, c, o*stride - pad_begin + k*dilation] * w[m, c', k...] (+ b[m]); x is [N, C, S...],
    w [M, C / group, K...], y [N, M, O...] with O = (S + pads - dilation*(K-1) - 1) / stride + 1.
    Positions outside x read 0. `group` = C = M is a depthwise convolution.
    ```mlir
    %y = ds.conv %x, %w, %b {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<2x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<2x4x8x8xf32>
    ```
  }];
  let arguments = !con((ins DS_FloatTensor:$input, DS_FloatTensor:$weight,
                            Optional<DS_FloatTensor>:$bias),
                       DS_ConvGeometry);
  let results = (outs DS_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def DS_ConvGradInputOp : DS_Op<"conv_grad_input", [Pure]> {
  let summary = "Gradient of conv with respect to its input (a transposed convolution)";
  let description = [{
    dx = the adjoint of x -> conv(x, w) applied to g; the result type gives x's shape.
    ```mlir
    %dx = ds.conv_grad_input %g, %w {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<2x4x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<2x3x8x8xf32>
    ```
  }];
  let arguments = !con((ins DS_FloatTensor:$grad, DS_FloatTensor:$weight),
                       DS_ConvGeometry);
  let results = (outs DS_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $weight attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def DS_ConvGradFilterOp : DS_Op<"conv_grad_filter", [Pure]> {
  let summary = "Gradient of conv with respect to its weight";
  let description = [{
    dw[m, c', k...] = sum over n, o... of g[n, m, o...] * x[n, c, o*stride - pad + k*dilation];
    the result type gives w's shape.
    ```mlir
    %dw = ds.conv_grad_filter %g, %x {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<2x4x8x8xf32>, tensor<2x3x8x8xf32>) -> tensor<4x3x3x3xf32>
    ```
  }];
  let arguments = !con((ins DS_FloatTensor:$grad, DS_FloatTensor:$input),
                       DS_ConvGeometry);
  let results = (outs DS_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def DS_BatchNormOp : DS_Op<"batch_norm", [Pure]> {
  let summary = "Batch normalization with the batch's statistics (training mode)";
  let description = [{
    Per channel c of x [N, C, S...]: mean and the biased variance over N and S...,
    y = (x - mean) / sqrt(var + epsilon) * scale[c] + bias[c]. Returns y, the mean and
    the biased variance ([C], x's element type), from which the caller updates running
    statistics (PyTorch's uses the unbiased variance) and the backward pass recomputes.
    ```mlir
    %y, %mean, %var = ds.batch_norm %x, %s, %b {epsilon = 1.0e-05 : f32} : (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
    ```
  }];
  let arguments = (ins DS_FloatTensor:$input, DS_FloatTensor:$scale, DS_FloatTensor:$bias,
                       DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon);
  let results = (outs DS_FloatTensor:$result, DS_FloatTensor:$mean,
                      DS_FloatTensor:$variance);
  let assemblyFormat = [{
    $input `,` $scale `,` $bias attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def DS_BatchNormGradOp : DS_Op<"batch_norm_grad", [Pure]> {
  let summary = "Gradients of batch_norm with respect to its input, scale and bias";
  let description = [{
    From the saved batch mean and biased variance: with xhat = (x - mean) * r, r =
    1/sqrt(var + eps), dbias = sum g, dscale = sum g xhat, dx = scale r (g - dbias/n -
    xhat dscale/n), sums per channel over the n = N * S... elements.
    ```mlir
    %dx, %ds, %db = ds.batch_norm_grad %g, %x, %s, %mean, %var {epsilon = 1.0e-05 : f32} : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
    ```
  }];
  let arguments = (ins DS_FloatTensor:$grad, DS_FloatTensor:$input, DS_FloatTensor:$scale,
                       DS_FloatTensor:$mean, DS_FloatTensor:$variance,
                       DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon);
  let results = (outs DS_FloatTensor:$input_grad, DS_FloatTensor:$scale_grad,
                      DS_FloatTensor:$bias_grad);
  let assemblyFormat = [{
    $grad `,` $input `,` $scale `,` $mean `,` $variance attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

// Pooling windows: per spatial dim a kernel size, stride and dilation; pads [begin...,
// end...]; `ceil_mode` rounds the output size up (a last window may start in the end pad
// only if it starts inside the input or the begin pad).
defvar DS_PoolGeometry = (ins DenseI64ArrayAttr:$kernel_shape, DenseI64ArrayAttr:$strides,
                              DenseI64ArrayAttr:$pads, DenseI64ArrayAttr:$dilations,
                              DefaultValuedAttr<BoolAttr, "false">:$ceil_mode);

def DS_MaxPoolOp : DS_Op<"max_pool", [Pure]> {
  let summary = "Max pooling over 1 or 2 spatial dims";
  let description = [{
    y[n, c, o...] = max of x over the window's positions inside x (pads never win).
    ```mlir
    %y = ds.max_pool %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : (tensor<2x4x8x8xf32>) -> tensor<2x4x4x4xf32>
    ```
  }];
  let arguments = !con((ins DS_FloatTensor:$input), DS_PoolGeometry);
  let results = (outs DS_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def DS_MaxPoolGradOp : DS_Op<"max_pool_grad", [Pure]> {
  let summary = "Gradient of max_pool: g to the first maximum of each window";
  let description = [{
    Each window's gradient goes to the position of its first maximum (row-major order in
    the window, as PyTorch's max_pool2d picks its index); overlapping windows accumulate.
    ```mlir
    %dx = ds.max_pool_grad %g, %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : (tensor<2x4x4x4xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
    ```
  }];
  let arguments = !con((ins DS_FloatTensor:$grad, DS_FloatTensor:$input),
                       DS_PoolGeometry);
  let results = (outs DS_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def DS_AvgPoolOp : DS_Op<"avg_pool", [Pure]> {
  let summary = "Average pooling over 1 or 2 spatial dims";
  let description = [{
    The mean of the window: divided by the number of its positions inside x, or with
    `count_include_pad` inside x plus its pads (a ceil_mode window past the end pad still
    counts only up to it, as PyTorch does). Dilations must be 1.
    ```mlir
    %y = ds.avg_pool %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<2x4x8x8xf32>) -> tensor<2x4x4x4xf32>
    ```
  }];
  let arguments = !con((ins DS_FloatTensor:$input), DS_PoolGeometry,
                       (ins DefaultValuedAttr<BoolAttr, "false">:$count_include_pad));
  let results = (outs DS_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def DS_AvgPoolGradOp : DS_Op<"avg_pool_grad", [Pure]> {
  let summary = "Gradient of avg_pool: each window's g / divisor spread over its positions";
  let description = [{
    The result type gives x's shape.
    ```mlir
    %dx = ds.avg_pool_grad %g {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<2x4x4x4xf32>) -> tensor<2x4x8x8xf32>
    ```
  }];
  let arguments = !con((ins DS_FloatTensor:$grad), DS_PoolGeometry,
                       (ins DefaultValuedAttr<BoolAttr, "false">:$count_include_pad));
  let results = (outs DS_FloatTensor:$result);
  let assemblyFormat = "$grad attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

#endif // DS_CONVOLUTION_OPS_TD
