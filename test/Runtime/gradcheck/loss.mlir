// Gradient checks (central differences, f64) of softmax_cross_entropy_loss and nll_loss:
// every reduction, class weights, ignore_index, [N,C] and [N,C,d] scores. Labels are int64
// inputs and are not perturbed; each labels list contains the ignore_index (2) where used.
// Class weights are constants: the loss gradient rules give no gradient for the weights operand
// (as torch, whose cross_entropy weight is not differentiable), so it is not checked here.
// RUN: %python %S/Inputs/gradcheck.py %s %t ds-opt ds-translate ds-gradcheck | FileCheck %s
// CHECK: @sce_nc_mean: gradcheck: PASS
// CHECK: @sce_nc_mean_ign: gradcheck: PASS
// CHECK: @sce_nc_mean_w: gradcheck: PASS
// CHECK: @sce_nc_mean_w_ign: gradcheck: PASS
// CHECK: @sce_nc_sum: gradcheck: PASS
// CHECK: @sce_nc_sum_ign: gradcheck: PASS
// CHECK: @sce_nc_sum_w: gradcheck: PASS
// CHECK: @sce_nc_sum_w_ign: gradcheck: PASS
// CHECK: @sce_nc_none: gradcheck: PASS
// CHECK: @sce_nc_none_ign: gradcheck: PASS
// CHECK: @sce_nc_none_w: gradcheck: PASS
// CHECK: @sce_nc_none_w_ign: gradcheck: PASS
// CHECK: @sce_ncd_mean: gradcheck: PASS
// CHECK: @sce_ncd_mean_ign: gradcheck: PASS
// CHECK: @sce_ncd_mean_w: gradcheck: PASS
// CHECK: @sce_ncd_mean_w_ign: gradcheck: PASS
// CHECK: @sce_ncd_sum: gradcheck: PASS
// CHECK: @sce_ncd_sum_ign: gradcheck: PASS
// CHECK: @sce_ncd_sum_w: gradcheck: PASS
// CHECK: @sce_ncd_sum_w_ign: gradcheck: PASS
// CHECK: @sce_ncd_none: gradcheck: PASS
// CHECK: @sce_ncd_none_ign: gradcheck: PASS
// CHECK: @sce_ncd_none_w: gradcheck: PASS
// CHECK: @sce_ncd_none_w_ign: gradcheck: PASS
// CHECK: @nll_nc_mean: gradcheck: PASS
// CHECK: @nll_nc_mean_ign: gradcheck: PASS
// CHECK: @nll_nc_mean_w: gradcheck: PASS
// CHECK: @nll_nc_mean_w_ign: gradcheck: PASS
// CHECK: @nll_nc_sum: gradcheck: PASS
// CHECK: @nll_nc_sum_ign: gradcheck: PASS
// CHECK: @nll_nc_sum_w: gradcheck: PASS
// CHECK: @nll_nc_sum_w_ign: gradcheck: PASS
// CHECK: @nll_nc_none: gradcheck: PASS
// CHECK: @nll_nc_none_ign: gradcheck: PASS
// CHECK: @nll_nc_none_w: gradcheck: PASS
// CHECK: @nll_nc_none_w_ign: gradcheck: PASS
// CHECK: @nll_ncd_mean: gradcheck: PASS
// CHECK: @nll_ncd_mean_ign: gradcheck: PASS
// CHECK: @nll_ncd_mean_w: gradcheck: PASS
// CHECK: @nll_ncd_mean_w_ign: gradcheck: PASS
// CHECK: @nll_ncd_sum: gradcheck: PASS
// CHECK: @nll_ncd_sum_ign: gradcheck: PASS
// CHECK: @nll_ncd_sum_w: gradcheck: PASS
// CHECK: @nll_ncd_sum_w_ign: gradcheck: PASS
// CHECK: @nll_ncd_none: gradcheck: PASS
// CHECK: @nll_ncd_none_ign: gradcheck: PASS
// CHECK: @nll_ncd_none_w: gradcheck: PASS
// CHECK: @nll_ncd_none_w_ign: gradcheck: PASS
// CHECK: @nll_direct_mean_w_ign: gradcheck: PASS
// CHECK: 0 case(s) failed

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @sce_nc_mean(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %r = ds.softmax_cross_entropy_loss %s, %y reduction = mean : (tensor<6x4xf64>, tensor<6xi64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @sce_nc_mean_ign(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %r = ds.softmax_cross_entropy_loss %s, %y reduction = mean {ignore_index = 2 : i64} : (tensor<6x4xf64>, tensor<6xi64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @sce_nc_mean_w(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %r = ds.softmax_cross_entropy_loss %s, %y, %c reduction = mean : (tensor<6x4xf64>, tensor<6xi64>, tensor<4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @sce_nc_mean_w_ign(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %r = ds.softmax_cross_entropy_loss %s, %y, %c reduction = mean {ignore_index = 2 : i64} : (tensor<6x4xf64>, tensor<6xi64>, tensor<4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @sce_nc_sum(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %r = ds.softmax_cross_entropy_loss %s, %y reduction = sum : (tensor<6x4xf64>, tensor<6xi64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @sce_nc_sum_ign(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %r = ds.softmax_cross_entropy_loss %s, %y reduction = sum {ignore_index = 2 : i64} : (tensor<6x4xf64>, tensor<6xi64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @sce_nc_sum_w(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %r = ds.softmax_cross_entropy_loss %s, %y, %c reduction = sum : (tensor<6x4xf64>, tensor<6xi64>, tensor<4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @sce_nc_sum_w_ign(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %r = ds.softmax_cross_entropy_loss %s, %y, %c reduction = sum {ignore_index = 2 : i64} : (tensor<6x4xf64>, tensor<6xi64>, tensor<4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @sce_nc_none(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<6xf64>
  %r = ds.softmax_cross_entropy_loss %s, %y reduction = none : (tensor<6x4xf64>, tensor<6xi64>) -> tensor<6xf64>
  %m = ds.mul %r, %w : (tensor<6xf64>, tensor<6xf64>) -> tensor<6xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<6xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @sce_nc_none_ign(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<6xf64>
  %r = ds.softmax_cross_entropy_loss %s, %y reduction = none {ignore_index = 2 : i64} : (tensor<6x4xf64>, tensor<6xi64>) -> tensor<6xf64>
  %m = ds.mul %r, %w : (tensor<6xf64>, tensor<6xf64>) -> tensor<6xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<6xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @sce_nc_none_w(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<6xf64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %r = ds.softmax_cross_entropy_loss %s, %y, %c reduction = none : (tensor<6x4xf64>, tensor<6xi64>, tensor<4xf64>) -> tensor<6xf64>
  %m = ds.mul %r, %w : (tensor<6xf64>, tensor<6xf64>) -> tensor<6xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<6xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @sce_nc_none_w_ign(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<6xf64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %r = ds.softmax_cross_entropy_loss %s, %y, %c reduction = none {ignore_index = 2 : i64} : (tensor<6x4xf64>, tensor<6xi64>, tensor<4xf64>) -> tensor<6xf64>
  %m = ds.mul %r, %w : (tensor<6xf64>, tensor<6xf64>) -> tensor<6xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<6xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @sce_ncd_mean(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %r = ds.softmax_cross_entropy_loss %s, %y reduction = mean : (tensor<2x4x4xf64>, tensor<2x4xi64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @sce_ncd_mean_ign(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %r = ds.softmax_cross_entropy_loss %s, %y reduction = mean {ignore_index = 2 : i64} : (tensor<2x4x4xf64>, tensor<2x4xi64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @sce_ncd_mean_w(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %r = ds.softmax_cross_entropy_loss %s, %y, %c reduction = mean : (tensor<2x4x4xf64>, tensor<2x4xi64>, tensor<4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @sce_ncd_mean_w_ign(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %r = ds.softmax_cross_entropy_loss %s, %y, %c reduction = mean {ignore_index = 2 : i64} : (tensor<2x4x4xf64>, tensor<2x4xi64>, tensor<4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @sce_ncd_sum(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %r = ds.softmax_cross_entropy_loss %s, %y reduction = sum : (tensor<2x4x4xf64>, tensor<2x4xi64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @sce_ncd_sum_ign(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %r = ds.softmax_cross_entropy_loss %s, %y reduction = sum {ignore_index = 2 : i64} : (tensor<2x4x4xf64>, tensor<2x4xi64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @sce_ncd_sum_w(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %r = ds.softmax_cross_entropy_loss %s, %y, %c reduction = sum : (tensor<2x4x4xf64>, tensor<2x4xi64>, tensor<4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @sce_ncd_sum_w_ign(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %r = ds.softmax_cross_entropy_loss %s, %y, %c reduction = sum {ignore_index = 2 : i64} : (tensor<2x4x4xf64>, tensor<2x4xi64>, tensor<4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @sce_ncd_none(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x4xf64>
  %r = ds.softmax_cross_entropy_loss %s, %y reduction = none : (tensor<2x4x4xf64>, tensor<2x4xi64>) -> tensor<2x4xf64>
  %m = ds.mul %r, %w : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @sce_ncd_none_ign(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x4xf64>
  %r = ds.softmax_cross_entropy_loss %s, %y reduction = none {ignore_index = 2 : i64} : (tensor<2x4x4xf64>, tensor<2x4xi64>) -> tensor<2x4xf64>
  %m = ds.mul %r, %w : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @sce_ncd_none_w(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x4xf64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %r = ds.softmax_cross_entropy_loss %s, %y, %c reduction = none : (tensor<2x4x4xf64>, tensor<2x4xi64>, tensor<4xf64>) -> tensor<2x4xf64>
  %m = ds.mul %r, %w : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @sce_ncd_none_w_ign(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x4xf64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %r = ds.softmax_cross_entropy_loss %s, %y, %c reduction = none {ignore_index = 2 : i64} : (tensor<2x4x4xf64>, tensor<2x4xi64>, tensor<4xf64>) -> tensor<2x4xf64>
  %m = ds.mul %r, %w : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @nll_nc_mean(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<6x4xf64>
  %r = ds.nll_loss %lp, %y reduction = mean : (tensor<6x4xf64>, tensor<6xi64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @nll_nc_mean_ign(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<6x4xf64>
  %r = ds.nll_loss %lp, %y reduction = mean {ignore_index = 2 : i64} : (tensor<6x4xf64>, tensor<6xi64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @nll_nc_mean_w(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<6x4xf64>
  %r = ds.nll_loss %lp, %y, %c reduction = mean : (tensor<6x4xf64>, tensor<6xi64>, tensor<4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @nll_nc_mean_w_ign(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<6x4xf64>
  %r = ds.nll_loss %lp, %y, %c reduction = mean {ignore_index = 2 : i64} : (tensor<6x4xf64>, tensor<6xi64>, tensor<4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @nll_nc_sum(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<6x4xf64>
  %r = ds.nll_loss %lp, %y reduction = sum : (tensor<6x4xf64>, tensor<6xi64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @nll_nc_sum_ign(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<6x4xf64>
  %r = ds.nll_loss %lp, %y reduction = sum {ignore_index = 2 : i64} : (tensor<6x4xf64>, tensor<6xi64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @nll_nc_sum_w(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<6x4xf64>
  %r = ds.nll_loss %lp, %y, %c reduction = sum : (tensor<6x4xf64>, tensor<6xi64>, tensor<4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @nll_nc_sum_w_ign(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<6x4xf64>
  %r = ds.nll_loss %lp, %y, %c reduction = sum {ignore_index = 2 : i64} : (tensor<6x4xf64>, tensor<6xi64>, tensor<4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @nll_nc_none(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<6xf64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<6x4xf64>
  %r = ds.nll_loss %lp, %y reduction = none : (tensor<6x4xf64>, tensor<6xi64>) -> tensor<6xf64>
  %m = ds.mul %r, %w : (tensor<6xf64>, tensor<6xf64>) -> tensor<6xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<6xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @nll_nc_none_ign(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<6xf64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<6x4xf64>
  %r = ds.nll_loss %lp, %y reduction = none {ignore_index = 2 : i64} : (tensor<6x4xf64>, tensor<6xi64>) -> tensor<6xf64>
  %m = ds.mul %r, %w : (tensor<6xf64>, tensor<6xf64>) -> tensor<6xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<6xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @nll_nc_none_w(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<6xf64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<6x4xf64>
  %r = ds.nll_loss %lp, %y, %c reduction = none : (tensor<6x4xf64>, tensor<6xi64>, tensor<4xf64>) -> tensor<6xf64>
  %m = ds.mul %r, %w : (tensor<6xf64>, tensor<6xf64>) -> tensor<6xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<6xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @nll_nc_none_w_ign(%s: tensor<6x4xf64> {ds.input = "s"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<6xf64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<6x4xf64>
  %r = ds.nll_loss %lp, %y, %c reduction = none {ignore_index = 2 : i64} : (tensor<6x4xf64>, tensor<6xi64>, tensor<4xf64>) -> tensor<6xf64>
  %m = ds.mul %r, %w : (tensor<6xf64>, tensor<6xf64>) -> tensor<6xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<6xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @nll_ncd_mean(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<2x4x4xf64>
  %r = ds.nll_loss %lp, %y reduction = mean : (tensor<2x4x4xf64>, tensor<2x4xi64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @nll_ncd_mean_ign(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<2x4x4xf64>
  %r = ds.nll_loss %lp, %y reduction = mean {ignore_index = 2 : i64} : (tensor<2x4x4xf64>, tensor<2x4xi64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @nll_ncd_mean_w(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<2x4x4xf64>
  %r = ds.nll_loss %lp, %y, %c reduction = mean : (tensor<2x4x4xf64>, tensor<2x4xi64>, tensor<4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @nll_ncd_mean_w_ign(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<2x4x4xf64>
  %r = ds.nll_loss %lp, %y, %c reduction = mean {ignore_index = 2 : i64} : (tensor<2x4x4xf64>, tensor<2x4xi64>, tensor<4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @nll_ncd_sum(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<2x4x4xf64>
  %r = ds.nll_loss %lp, %y reduction = sum : (tensor<2x4x4xf64>, tensor<2x4xi64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @nll_ncd_sum_ign(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<2x4x4xf64>
  %r = ds.nll_loss %lp, %y reduction = sum {ignore_index = 2 : i64} : (tensor<2x4x4xf64>, tensor<2x4xi64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @nll_ncd_sum_w(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<2x4x4xf64>
  %r = ds.nll_loss %lp, %y, %c reduction = sum : (tensor<2x4x4xf64>, tensor<2x4xi64>, tensor<4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @nll_ncd_sum_w_ign(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<2x4x4xf64>
  %r = ds.nll_loss %lp, %y, %c reduction = sum {ignore_index = 2 : i64} : (tensor<2x4x4xf64>, tensor<2x4xi64>, tensor<4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @nll_ncd_none(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x4xf64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<2x4x4xf64>
  %r = ds.nll_loss %lp, %y reduction = none : (tensor<2x4x4xf64>, tensor<2x4xi64>) -> tensor<2x4xf64>
  %m = ds.mul %r, %w : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @nll_ncd_none_ign(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x4xf64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<2x4x4xf64>
  %r = ds.nll_loss %lp, %y reduction = none {ignore_index = 2 : i64} : (tensor<2x4x4xf64>, tensor<2x4xi64>) -> tensor<2x4xf64>
  %m = ds.mul %r, %w : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @nll_ncd_none_w(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x4xf64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<2x4x4xf64>
  %r = ds.nll_loss %lp, %y, %c reduction = none : (tensor<2x4x4xf64>, tensor<2x4xi64>, tensor<4xf64>) -> tensor<2x4xf64>
  %m = ds.mul %r, %w : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: s=2x4x4:f64 y=2x4:i64=0,1,2,1,2,2,0,3
func.func @nll_ncd_none_w_ign(%s: tensor<2x4x4xf64> {ds.input = "s"}, %y: tensor<2x4xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x4xf64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %lp = ds.log_softmax %s {axis = 1 : i64} : tensor<2x4x4xf64>
  %r = ds.nll_loss %lp, %y, %c reduction = none {ignore_index = 2 : i64} : (tensor<2x4x4xf64>, tensor<2x4xi64>, tensor<4xf64>) -> tensor<2x4xf64>
  %m = ds.mul %r, %w : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: p=6x4:f64 y=6:i64=0,3,2,3,1,2
func.func @nll_direct_mean_w_ign(%p: tensor<6x4xf64> {ds.input = "p"}, %y: tensor<6xi64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %c = ds.constant dense<[0.5, 1.25, 2.0, 0.75]> : tensor<4xf64>
  %r = ds.nll_loss %p, %y, %c reduction = mean {ignore_index = 2 : i64} : (tensor<6x4xf64>, tensor<6xi64>, tensor<4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}
