// RUN: ds-opt %s --ds-mixed-precision | FileCheck %s --check-prefix=BF16
// RUN: ds-opt %s --ds-mixed-precision=dtype=f16 | FileCheck %s --check-prefix=FP16
// RUN: not ds-opt %s --ds-mixed-precision=dtype=f8 2>&1 | FileCheck %s --check-prefix=DTYPE

// Tests that bf16 stores parameters in bf16, casts float inputs once, computes the
// forward pass and its constants in bf16, lets the unweighted loss read the bf16 scores
// and give an fp32 loss (no fp32 copy of the scores), returns float outputs in fp32, and
// keeps no loss scale.
// BF16-NOT: ds.state
//     BF16: ds.parameter @w : tensor<4x3xbf16> from "w"
// BF16-LABEL: func.func @forward
//  BF16-SAME: (%[[X:.+]]: tensor<2x4xf32> {ds.input = "x"}, %[[Y:.+]]: tensor<2xi64> {ds.input = "y"})
//  BF16-NEXT: %[[XH:.+]] = ds.cast %[[X]] : tensor<2x4xf32> to tensor<2x4xbf16>
//  BF16-NEXT: %[[W:.+]] = ds.param_ref @w : tensor<4x3xbf16>
//  BF16-NEXT: %[[MM:.+]] = ds.matmul %[[XH]], %[[W]] : (tensor<2x4xbf16>, tensor<4x3xbf16>) -> tensor<2x3xbf16>
//  BF16-NEXT: %[[C:.+]] = ds.constant dense<5.000000e-01> : tensor<bf16>
//  BF16-NEXT: %[[S:.+]] = ds.mul %[[MM]], %[[C]] : (tensor<2x3xbf16>, tensor<bf16>) -> tensor<2x3xbf16>
//  BF16-NEXT: %[[L:.+]] = ds.softmax_cross_entropy_loss %[[S]], %[[Y]] : (tensor<2x3xbf16>, tensor<2xi64>) -> tensor<f32>
//  BF16-NEXT: %[[OUT:.+]] = ds.cast %[[S]] : tensor<2x3xbf16> to tensor<2x3xf32>
//  BF16-NEXT: return %[[L]], %[[OUT]] : tensor<f32>, tensor<2x3xf32>

// Tests that fp16 does the same in f16 and adds the loss scale that --ds-autodiff seeds
// the backward pass with.
// FP16: ds.state loss_scale @loss_scale : tensor<f32>
// FP16: ds.parameter @w : tensor<4x3xf16> from "w"
// FP16: ds.matmul %{{.+}}, %{{.+}} : (tensor<2x4xf16>, tensor<4x3xf16>) -> tensor<2x3xf16>
// FP16: ds.softmax_cross_entropy_loss %{{.+}}, %{{.+}} : (tensor<2x3xf16>, tensor<2xi64>) -> tensor<f32>

// Tests that a loss with class weights gets fp32 scores and fp32 weights (PyTorch's autocast
// runs cross_entropy in fp32 with the weights as given).
// BF16-LABEL: func.func @weighted
//       BF16: %[[WS:.+]] = ds.cast %{{.+}} : tensor<2x3xbf16> to tensor<2x3xf32>
//  BF16-NEXT: %[[CW:.+]] = ds.cast %{{.+}} : tensor<3xbf16> to tensor<3xf32>
//  BF16-NEXT: ds.nll_loss %[[WS]], %{{.+}}, %[[CW]] : (tensor<2x3xf32>, tensor<2xi64>, tensor<3xf32>) -> tensor<f32>

// Tests that only bf16 and f16 are accepted.
// DTYPE: error: --ds-mixed-precision: dtype must be bf16 or f16, got 'f8'
module attributes {ds.model_file = "mlp.onnx"} {
ds.parameter @w : tensor<4x3xf32> from "w"
func.func @forward(%x: tensor<2x4xf32> {ds.input = "x"}, %y: tensor<2xi64> {ds.input = "y"}) -> (tensor<f32> {ds.output = "loss"}, tensor<2x3xf32> {ds.output = "scores"}) attributes {ds.loss = 0 : i64} {
  %w = ds.param_ref @w : tensor<4x3xf32>
  %0 = ds.matmul %x, %w : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %c = ds.constant dense<0.5> : tensor<f32>
  %1 = ds.mul %0, %c : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  %2 = ds.softmax_cross_entropy_loss %1, %y : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<f32>
  return %2, %1 : tensor<f32>, tensor<2x3xf32>
}
func.func @weighted(%x: tensor<2x4xf32> {ds.input = "x"}, %y: tensor<2xi64> {ds.input = "y"}) -> (tensor<f32> {ds.output = "loss"}) attributes {ds.loss = 0 : i64} {
  %w = ds.param_ref @w : tensor<4x3xf32>
  %0 = ds.matmul %x, %w : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %cw = ds.constant dense<[1.0, 2.0, 0.5]> : tensor<3xf32>
  %1 = ds.nll_loss %0, %y, %cw : (tensor<2x3xf32>, tensor<2xi64>, tensor<3xf32>) -> tensor<f32>
  return %1 : tensor<f32>
}
}
