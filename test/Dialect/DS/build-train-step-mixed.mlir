// RUN: ds-opt %s --ds-mixed-precision=dtype=f16 --ds-autodiff --ds-build-train-step="gradient-clipping=1.0" --canonicalize --cse | FileCheck %s

// Tests the optimizer step's schedule under mixed precision: the overflow check and the
// clipping norm read the 16-bit gradient accumulators directly (no f32 copy of every
// gradient at once), the norm is unscaled after the sum, and each gradient is cast to
// f32, unscaled and clipped only right before its own update, after the previous
// parameter's update (so one parameter's f32 copy is alive at a time), also after CSE.
// CHECK-LABEL: func.func @apply_step
//       CHECK: %[[GW:[0-9]+]] = ds.state_ref @w.grad : tensor<4x3xf16>
//       CHECK: %[[GV:[0-9]+]] = ds.state_ref @v.grad : tensor<3x3xf16>
//       CHECK: %[[S:[0-9]+]] = ds.state_ref @loss_scale
//       CHECK: %[[INV:[0-9]+]] = ds.div %{{.+}}, %[[S]]
//   CHECK-NOT: ds.cast
//       CHECK: %[[OK:[0-9]+]] = ds.all_finite %[[GW]], %[[GV]] : tensor<4x3xf16>, tensor<3x3xf16>
//   CHECK-NOT: ds.cast
//       CHECK: %[[NSQ:[0-9]+]] = ds.grad_norm_sq %[[GW]], %[[GV]] : tensor<4x3xf16>, tensor<3x3xf16>
//  CHECK-NEXT: %[[N1:[0-9]+]] = ds.mul %[[NSQ]], %[[INV]]
//  CHECK-NEXT: %[[N2:[0-9]+]] = ds.mul %[[N1]], %[[INV]]
//  CHECK-NEXT: ds.sqrt %[[N2]]
//   CHECK-NOT: ds.cast
//       CHECK: %[[COEF:[0-9]+]] = ds.where
//  CHECK-NEXT: %[[CW:[0-9]+]] = ds.cast %[[GW]] : tensor<4x3xf16> to tensor<4x3xf32>
//  CHECK-NEXT: %[[UW:[0-9]+]] = ds.mul %[[CW]], %[[INV]]
//  CHECK-NEXT: %[[KW:[0-9]+]] = ds.mul %[[UW]], %[[COEF]]
//   CHECK-NOT: ds.cast
//       CHECK: ds.adam_update %{{.+}}, %[[KW]], {{.*}} if %[[OK]]
//       CHECK: ds.assign @w.grad
//  CHECK-NEXT: %[[CV:[0-9]+]] = ds.cast %[[GV]] : tensor<3x3xf16> to tensor<3x3xf32>
//  CHECK-NEXT: %[[UV:[0-9]+]] = ds.mul %[[CV]], %[[INV]]
//  CHECK-NEXT: %[[KV:[0-9]+]] = ds.mul %[[UV]], %[[COEF]]
//       CHECK: ds.adam_update %{{.+}}, %[[KV]], {{.*}} if %[[OK]]
module {
ds.parameter @w : tensor<4x3xf32> from "w"
ds.parameter @v : tensor<3x3xf32> from "v"
func.func @forward(%x: tensor<2x4xf32> {ds.input = "x"}, %y: tensor<2xi64> {ds.input = "y"}) -> (tensor<f32> {ds.output = "loss"}) attributes {ds.loss = 0 : i64} {
  %w = ds.param_ref @w : tensor<4x3xf32>
  %v = ds.param_ref @v : tensor<3x3xf32>
  %0 = ds.matmul %x, %w : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %1 = ds.matmul %0, %v : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x3xf32>
  %l = ds.softmax_cross_entropy_loss %1, %y : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<f32>
  return %l : tensor<f32>
}
}
