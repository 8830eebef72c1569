// RUN: ds-opt %s --split-input-file --ds-mark-frozen | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-mark-frozen="freeze=^emb" | FileCheck %s --check-prefix=REGEX

// Tests that a parameter reaching the loss only through a comparison (a mask buffer) is
// frozen, while weights on differentiable paths stay trainable, tied or not.
// CHECK-LABEL: module
// CHECK-DAG: ds.parameter @emb : tensor<8x4xf32>
// CHECK-DAG: ds.parameter @w : tensor<4x4xf32>
// CHECK-DAG: ds.parameter frozen @mask : tensor<4x4xf32>
// CHECK-DAG: ds.parameter frozen @unused : tensor<4xf32>
// REGEX-DAG: ds.parameter frozen @emb
// REGEX-DAG: ds.parameter @w
ds.parameter @emb : tensor<8x4xf32> from "emb"
ds.parameter @w : tensor<4x4xf32> from "w"
ds.parameter @mask : tensor<4x4xf32> from "mask"
ds.parameter @unused : tensor<4xf32> from "unused"
func.func @forward(%ids: tensor<4xi64>, %y: tensor<4xi64>) -> (tensor<f32>, tensor<4xf32>) attributes {ds.loss = 0 : i64} {
  %emb = ds.param_ref @emb : tensor<8x4xf32>
  %w = ds.param_ref @w : tensor<4x4xf32>
  %mask = ds.param_ref @mask : tensor<4x4xf32>
  %unused = ds.param_ref @unused : tensor<4xf32>
  %x = ds.gather %emb, %ids {axis = 0 : i64} : (tensor<8x4xf32>, tensor<4xi64>) -> tensor<4x4xf32>
  %h = ds.matmul %x, %w : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
  %zero = ds.constant dense<0.0> : tensor<f32>
  %c = ds.equal %mask, %zero : (tensor<4x4xf32>, tensor<f32>) -> tensor<4x4xi1>
  %m = ds.where %c, %zero, %h : (tensor<4x4xi1>, tensor<f32>, tensor<4x4xf32>) -> tensor<4x4xf32>
  %et = ds.transpose %emb {perm = array<i64: 1, 0>} : (tensor<8x4xf32>) -> tensor<4x8xf32>
  %logits = ds.matmul %m, %et : (tensor<4x4xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %loss = ds.softmax_cross_entropy_loss %logits, %y : (tensor<4x8xf32>, tensor<4xi64>) -> tensor<f32>
  %side = ds.neg %unused : tensor<4xf32>
  return %loss, %side : tensor<f32>, tensor<4xf32>
}

// -----

// Tests that without a loss (inference) every parameter is frozen.
// CHECK-LABEL: module
// CHECK: ds.parameter frozen @v
ds.parameter @v : tensor<4xf32> from "v"
func.func @forward() -> tensor<4xf32> {
  %v = ds.param_ref @v : tensor<4xf32>
  return %v : tensor<4xf32>
}
