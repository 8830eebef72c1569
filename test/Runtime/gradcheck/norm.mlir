// Gradient checks (central differences, f64) of softmax, log_softmax (every axis) and
// layer_norm (with and without bias, broadcast scale/bias, several normalized ranks).
// RUN: %python %S/Inputs/gradcheck.py %s %t ds-opt ds-translate ds-gradcheck | FileCheck %s
// CHECK: @softmax_axis0: gradcheck: PASS
// CHECK: @softmax_axis1: gradcheck: PASS
// CHECK: @softmax_axis2: gradcheck: PASS
// CHECK: @log_softmax_axis0: gradcheck: PASS
// CHECK: @log_softmax_axis1: gradcheck: PASS
// CHECK: @log_softmax_axis2: gradcheck: PASS
// CHECK: @softmax_2d: gradcheck: PASS
// CHECK: @layer_norm_last: gradcheck: PASS
// CHECK: @layer_norm_no_bias: gradcheck: PASS
// CHECK: @layer_norm_two_dims: gradcheck: PASS
// CHECK: @layer_norm_broadcast_scale: gradcheck: PASS
// CHECK: @layer_norm_axis0: gradcheck: PASS
// CHECK: @layer_norm_scalar_scale: gradcheck: PASS
// CHECK: 0 case(s) failed

// INPUTS: x=2x3x4:f64
func.func @softmax_axis0(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3x4xf64>
  %r = ds.softmax %x {axis = 0 : i64} : tensor<2x3x4xf64>
  %m = ds.mul %r, %w : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @softmax_axis1(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3x4xf64>
  %r = ds.softmax %x {axis = 1 : i64} : tensor<2x3x4xf64>
  %m = ds.mul %r, %w : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @softmax_axis2(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3x4xf64>
  %r = ds.softmax %x {axis = 2 : i64} : tensor<2x3x4xf64>
  %m = ds.mul %r, %w : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @log_softmax_axis0(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3x4xf64>
  %r = ds.log_softmax %x {axis = 0 : i64} : tensor<2x3x4xf64>
  %m = ds.mul %r, %w : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @log_softmax_axis1(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3x4xf64>
  %r = ds.log_softmax %x {axis = 1 : i64} : tensor<2x3x4xf64>
  %m = ds.mul %r, %w : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @log_softmax_axis2(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3x4xf64>
  %r = ds.log_softmax %x {axis = 2 : i64} : tensor<2x3x4xf64>
  %m = ds.mul %r, %w : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=3x5:f64:-3:3
func.func @softmax_2d(%x: tensor<3x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %r = ds.softmax %x {axis = 1 : i64} : tensor<3x5xf64>
  %m = ds.mul %r, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=4x6:f64 s=6:f64:0.5:1.5 b=6:f64
func.func @layer_norm_last(%x: tensor<4x6xf64> {ds.input = "x"}, %s: tensor<6xf64> {ds.input = "s"}, %b: tensor<6xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<4x6xf64>
  %r = ds.layer_norm %x, %s, %b {axis = 1 : i64} : (tensor<4x6xf64>, tensor<6xf64>, tensor<6xf64>) -> tensor<4x6xf64>
  %m = ds.mul %r, %w : (tensor<4x6xf64>, tensor<4x6xf64>) -> tensor<4x6xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<4x6xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=4x6:f64 s=6:f64:0.5:1.5
func.func @layer_norm_no_bias(%x: tensor<4x6xf64> {ds.input = "x"}, %s: tensor<6xf64> {ds.input = "s"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<4x6xf64>
  %r = ds.layer_norm %x, %s {axis = 1 : i64} : (tensor<4x6xf64>, tensor<6xf64>) -> tensor<4x6xf64>
  %m = ds.mul %r, %w : (tensor<4x6xf64>, tensor<4x6xf64>) -> tensor<4x6xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<4x6xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64 s=3x4:f64:0.5:1.5 b=3x4:f64
func.func @layer_norm_two_dims(%x: tensor<2x3x4xf64> {ds.input = "x"}, %s: tensor<3x4xf64> {ds.input = "s"}, %b: tensor<3x4xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3x4xf64>
  %r = ds.layer_norm %x, %s, %b {axis = 1 : i64} : (tensor<2x3x4xf64>, tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<2x3x4xf64>
  %m = ds.mul %r, %w : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// scale [4] and bias [3,1] broadcast to the normalized shape [3,4]
// INPUTS: x=2x3x4:f64 s=4:f64:0.5:1.5 b=3x1:f64
func.func @layer_norm_broadcast_scale(%x: tensor<2x3x4xf64> {ds.input = "x"}, %s: tensor<4xf64> {ds.input = "s"}, %b: tensor<3x1xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3x4xf64>
  %r = ds.layer_norm %x, %s, %b {axis = 1 : i64, epsilon = 0.1 : f32} : (tensor<2x3x4xf64>, tensor<4xf64>, tensor<3x1xf64>) -> tensor<2x3x4xf64>
  %m = ds.mul %r, %w : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=3x4:f64 s=1x4:f64:0.5:1.5
func.func @layer_norm_axis0(%x: tensor<3x4xf64> {ds.input = "x"}, %s: tensor<1x4xf64> {ds.input = "s"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x4xf64>
  %r = ds.layer_norm %x, %s {axis = 0 : i64, epsilon = 0.5 : f32} : (tensor<3x4xf64>, tensor<1x4xf64>) -> tensor<3x4xf64>
  %m = ds.mul %r, %w : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x5:f64 s=1:f64:0.5:1.5 b=:f64
func.func @layer_norm_scalar_scale(%x: tensor<2x5xf64> {ds.input = "x"}, %s: tensor<1xf64> {ds.input = "s"}, %b: tensor<f64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x5xf64>
  %r = ds.layer_norm %x, %s, %b {axis = 1 : i64} : (tensor<2x5xf64>, tensor<1xf64>, tensor<f64>) -> tensor<2x5xf64>
  %m = ds.mul %r, %w : (tensor<2x5xf64>, tensor<2x5xf64>) -> tensor<2x5xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x5xf64>) -> tensor<f64>
  return %l : tensor<f64>
}
