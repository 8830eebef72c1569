// RUN: ds-opt %s --ds-autodiff --ds-build-train-step="accumulation=4 gradient-clipping=1.0 weight-decay=0.1 scheduler=WarmupLR warmup-num-steps=10 warmup-type=linear" | FileCheck %s
// RUN: ds-opt %s --ds-autodiff --ds-build-train-step="optimizer=sgd momentum=0.9 gradient-clipping=0" | FileCheck %s --check-prefix=SGD
// RUN: ds-opt %s --ds-autodiff --ds-build-train-step="optimizer=lamb max-coeff=5.0 gradient-clipping=0" | FileCheck %s --check-prefix=LAMB

// Tests that the micro-step adds grad / G into a per-parameter accumulator and returns
// the loss only (the model's other output, the scores, is not returned: nothing reads it in
// training; the loss index becomes 0), and that the optimizer step clips by the global norm,
// takes the scheduled learning rate, updates parameter and moments, zeroes the
// accumulator and counts the step.
// CHECK: module attributes {ds.gradient_accumulation_steps = 4 : i64}
// CHECK-DAG: ds.state grad @w.grad : tensor<4x3xf32> of @w
// CHECK-DAG: ds.state exp_avg @w.exp_avg : tensor<4x3xf32> of @w
// CHECK-DAG: ds.state exp_avg_sq @w.exp_avg_sq : tensor<4x3xf32> of @w
// CHECK-DAG: ds.state step @step : tensor<i64>
// CHECK-LABEL: func.func @micro_step
//  CHECK-SAME: -> (tensor<f32> {ds.output = "loss"})
//  CHECK-SAME: attributes {ds.loss = 0 : i64, dsrt.role = #dsrt.role<micro_step>}
//       CHECK: ds.softmax_cross_entropy_loss_grad
//       CHECK: %[[DW:[0-9]+]] = ds.gemm
//       CHECK: %[[ACC:[0-9]+]] = ds.state_ref @w.grad
//       CHECK: %[[QUARTER:[0-9]+]] = ds.constant dense<2.500000e-01> : tensor<f32>
//       CHECK: %[[SCALED:[0-9]+]] = ds.mul %[[DW]], %[[QUARTER]]
//       CHECK: %[[SUM:[0-9]+]] = ds.add %[[ACC]], %[[SCALED]]
//       CHECK: ds.assign @w.grad, %[[SUM]]
//       CHECK: return %{{.+}} : tensor<f32>
// CHECK-LABEL: func.func @apply_step
//  CHECK-SAME: attributes {dsrt.role = #dsrt.role<apply_step>}
//       CHECK: %[[K:[0-9]+]] = ds.state_ref @step : tensor<i64>
//       CHECK: %[[T:[0-9]+]] = ds.add %[[K]]
//       CHECK: %[[LR:[0-9]+]] = ds.lr_schedule WarmupLR %[[K]] {{{.*}}warmup_num_steps = 10 : i64, warmup_type = "linear"}
//       CHECK: %[[G:[0-9]+]] = ds.state_ref @w.grad
//       CHECK: %[[NSQ:[0-9]+]] = ds.grad_norm_sq %[[G]] : tensor<4x3xf32>
//  CHECK-NEXT: %[[NORM:[0-9]+]] = ds.sqrt %[[NSQ]]
//       CHECK: %[[COEF:[0-9]+]] = ds.where
//       CHECK: %[[CLIPPED:[0-9]+]] = ds.mul %[[G]], %[[COEF]]
//       CHECK: %[[P:[0-9]+]] = ds.param_ref @w
//       CHECK: %[[NP:.+]], %[[NM:.+]], %[[NV:.+]] = ds.adam_update %[[P]], %[[CLIPPED]], %{{.+}}, %{{.+}}, %[[LR]], %[[T]] {{{.*}}weight_decay = 1.000000e-01 : f32}
//       CHECK: ds.assign @w, %[[NP]]
//       CHECK: ds.assign @w.exp_avg, %[[NM]]
//       CHECK: ds.assign @w.exp_avg_sq, %[[NV]]
//       CHECK: ds.assign @w.grad, %{{.+}}
//       CHECK: ds.assign @step, %[[T]]

// LAMB-DAG: ds.state exp_avg @w.exp_avg : tensor<4x3xf32>
// LAMB-DAG: ds.state exp_avg_sq @w.exp_avg_sq : tensor<4x3xf32>
// LAMB-LABEL: func.func @apply_step
//      LAMB: ds.lamb_update {{.*}}max_coeff = 5.000000e+00 : f32, min_coeff = 0.00999999977 : f32{{.*}} : tensor<4x3xf32>

// SGD-DAG: ds.state momentum_buffer @w.momentum_buffer : tensor<4x3xf32> of @w
// SGD-LABEL: func.func @apply_step
//   SGD-NOT: ds.sqrt
//       SGD: ds.sgd_update {{.*}}momentum = 0.899999976 : f32
module {
ds.parameter @w : tensor<4x3xf32> from "w"
func.func @forward(%x: tensor<2x4xf32> {ds.input = "x"}, %y: tensor<2xi64> {ds.input = "y"}) -> (tensor<2x3xf32> {ds.output = "scores"}, tensor<f32> {ds.output = "loss"}) attributes {ds.loss = 1 : i64} {
  %w = ds.param_ref @w : tensor<4x3xf32>
  %0 = ds.matmul %x, %w : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %l = ds.softmax_cross_entropy_loss %0, %y : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<f32>
  return %0, %l : tensor<2x3xf32>, tensor<f32>
}
}
