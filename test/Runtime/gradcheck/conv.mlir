// Gradient checks (central differences, f64) of conv (2-D and 1-D, strides, asymmetric
// pads, dilations, groups, depthwise, bias), batch_norm (training-mode batch statistics),
// max_pool and avg_pool (pads, ceil_mode, count_include_pad, dilation).
// RUN: %python %S/Inputs/gradcheck.py %s %t ds-opt ds-translate ds-gradcheck | FileCheck %s
// CHECK: @conv2d_pad_stride: gradcheck: PASS
// CHECK: @conv2d_asym_dilated: gradcheck: PASS
// CHECK: @conv2d_grouped: gradcheck: PASS
// CHECK: @conv2d_depthwise: gradcheck: PASS
// CHECK: @conv1d: gradcheck: PASS
// CHECK: @batch_norm_2d: gradcheck: PASS
// CHECK: @batch_norm_1d: gradcheck: PASS
// CHECK: @max_pool_resnet_stem: gradcheck: PASS
// CHECK: @max_pool_ceil_dilated: gradcheck: PASS
// CHECK: @max_pool_1d: gradcheck: PASS
// CHECK: @avg_pool_pad: gradcheck: PASS
// CHECK: @avg_pool_count_pad_ceil: gradcheck: PASS
// CHECK: 0 case(s) failed

// Tests 2-D, pads and stride 2, bias.
// INPUTS: x=2x3x5x5:f64 w=4x3x3x3:f64 b=4:f64
func.func @conv2d_pad_stride(%x: tensor<2x3x5x5xf64> {ds.input = "x"}, %w: tensor<4x3x3x3xf64> {ds.input = "w"}, %b: tensor<4xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %y = ds.conv %x, %w, %b {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<2x3x5x5xf64>, tensor<4x3x3x3xf64>, tensor<4xf64>) -> tensor<2x4x3x3xf64>
  %lw = ds.constant dense<W> : tensor<2x4x3x3xf64>
  %m = ds.mul %y, %lw : (tensor<2x4x3x3xf64>, tensor<2x4x3x3xf64>) -> tensor<2x4x3x3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x4x3x3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// Tests asymmetric pads, dilation 2 on H.
// INPUTS: x=1x2x6x5:f64 w=3x2x2x3:f64
func.func @conv2d_asym_dilated(%x: tensor<1x2x6x5xf64> {ds.input = "x"}, %w: tensor<3x2x2x3xf64> {ds.input = "w"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %y = ds.conv %x, %w {strides = array<i64: 1, 2>, pads = array<i64: 0, 1, 1, 0>, dilations = array<i64: 2, 1>, group = 1 : i64} : (tensor<1x2x6x5xf64>, tensor<3x2x2x3xf64>) -> tensor<1x3x5x2xf64>
  %lw = ds.constant dense<W> : tensor<1x3x5x2xf64>
  %m = ds.mul %y, %lw : (tensor<1x3x5x2xf64>, tensor<1x3x5x2xf64>) -> tensor<1x3x5x2xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<1x3x5x2xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// Tests 2 groups.
// INPUTS: x=2x4x4x4:f64 w=6x2x3x3:f64 b=6:f64
func.func @conv2d_grouped(%x: tensor<2x4x4x4xf64> {ds.input = "x"}, %w: tensor<6x2x3x3xf64> {ds.input = "w"}, %b: tensor<6xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %y = ds.conv %x, %w, %b {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 2 : i64} : (tensor<2x4x4x4xf64>, tensor<6x2x3x3xf64>, tensor<6xf64>) -> tensor<2x6x4x4xf64>
  %lw = ds.constant dense<W> : tensor<2x6x4x4xf64>
  %m = ds.mul %y, %lw : (tensor<2x6x4x4xf64>, tensor<2x6x4x4xf64>) -> tensor<2x6x4x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x6x4x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// Tests depthwise (group = C = M).
// INPUTS: x=1x3x5x5:f64 w=3x1x3x3:f64
func.func @conv2d_depthwise(%x: tensor<1x3x5x5xf64> {ds.input = "x"}, %w: tensor<3x1x3x3xf64> {ds.input = "w"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %y = ds.conv %x, %w {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 3 : i64} : (tensor<1x3x5x5xf64>, tensor<3x1x3x3xf64>) -> tensor<1x3x3x3xf64>
  %lw = ds.constant dense<W> : tensor<1x3x3x3xf64>
  %m = ds.mul %y, %lw : (tensor<1x3x3x3xf64>, tensor<1x3x3x3xf64>) -> tensor<1x3x3x3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<1x3x3x3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// Tests 1-D.
// INPUTS: x=2x3x7:f64 w=2x3x3:f64 b=2:f64
func.func @conv1d(%x: tensor<2x3x7xf64> {ds.input = "x"}, %w: tensor<2x3x3xf64> {ds.input = "w"}, %b: tensor<2xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %y = ds.conv %x, %w, %b {strides = array<i64: 2>, pads = array<i64: 1, 2>, dilations = array<i64: 1>, group = 1 : i64} : (tensor<2x3x7xf64>, tensor<2x3x3xf64>, tensor<2xf64>) -> tensor<2x2x4xf64>
  %lw = ds.constant dense<W> : tensor<2x2x4xf64>
  %m = ds.mul %y, %lw : (tensor<2x2x4xf64>, tensor<2x2x4xf64>) -> tensor<2x2x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x2x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// Tests 2-D feature maps.
// INPUTS: x=3x2x3x3:f64 s=2:f64 b=2:f64
func.func @batch_norm_2d(%x: tensor<3x2x3x3xf64> {ds.input = "x"}, %s: tensor<2xf64> {ds.input = "s"}, %b: tensor<2xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %y, %mean, %var = ds.batch_norm %x, %s, %b {epsilon = 1.0e-05 : f32} : (tensor<3x2x3x3xf64>, tensor<2xf64>, tensor<2xf64>) -> (tensor<3x2x3x3xf64>, tensor<2xf64>, tensor<2xf64>)
  %lw = ds.constant dense<W> : tensor<3x2x3x3xf64>
  %m = ds.mul %y, %lw : (tensor<3x2x3x3xf64>, tensor<3x2x3x3xf64>) -> tensor<3x2x3x3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3x2x3x3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// Tests 1-D.
// INPUTS: x=4x3x5:f64 s=3:f64 b=3:f64
func.func @batch_norm_1d(%x: tensor<4x3x5xf64> {ds.input = "x"}, %s: tensor<3xf64> {ds.input = "s"}, %b: tensor<3xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %y, %mean, %var = ds.batch_norm %x, %s, %b {epsilon = 1.0e-05 : f32} : (tensor<4x3x5xf64>, tensor<3xf64>, tensor<3xf64>) -> (tensor<4x3x5xf64>, tensor<3xf64>, tensor<3xf64>)
  %lw = ds.constant dense<W> : tensor<4x3x5xf64>
  %m = ds.mul %y, %lw : (tensor<4x3x5xf64>, tensor<4x3x5xf64>) -> tensor<4x3x5xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<4x3x5xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// Tests 3x3 stride 2 pad 1 (ResNet's stem).
// INPUTS: x=2x2x6x6:f64
func.func @max_pool_resnet_stem(%x: tensor<2x2x6x6xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %y = ds.max_pool %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : (tensor<2x2x6x6xf64>) -> tensor<2x2x3x3xf64>
  %lw = ds.constant dense<W> : tensor<2x2x3x3xf64>
  %m = ds.mul %y, %lw : (tensor<2x2x3x3xf64>, tensor<2x2x3x3xf64>) -> tensor<2x2x3x3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x2x3x3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// Tests ceil_mode, dilation.
// INPUTS: x=1x2x7x6:f64
func.func @max_pool_ceil_dilated(%x: tensor<1x2x7x6xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %y = ds.max_pool %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 2, 1>, ceil_mode = true} : (tensor<1x2x7x6xf64>) -> tensor<1x2x3x3xf64>
  %lw = ds.constant dense<W> : tensor<1x2x3x3xf64>
  %m = ds.mul %y, %lw : (tensor<1x2x3x3xf64>, tensor<1x2x3x3xf64>) -> tensor<1x2x3x3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<1x2x3x3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// Tests 1-D.
// INPUTS: x=2x3x8:f64
func.func @max_pool_1d(%x: tensor<2x3x8xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %y = ds.max_pool %x {kernel_shape = array<i64: 2>, strides = array<i64: 2>, pads = array<i64: 0, 0>, dilations = array<i64: 1>} : (tensor<2x3x8xf64>) -> tensor<2x3x4xf64>
  %lw = ds.constant dense<W> : tensor<2x3x4xf64>
  %m = ds.mul %y, %lw : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// Tests pads excluded from the divisor.
// INPUTS: x=2x2x5x5:f64
func.func @avg_pool_pad(%x: tensor<2x2x5x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %y = ds.avg_pool %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : (tensor<2x2x5x5xf64>) -> tensor<2x2x3x3xf64>
  %lw = ds.constant dense<W> : tensor<2x2x3x3xf64>
  %m = ds.mul %y, %lw : (tensor<2x2x3x3xf64>, tensor<2x2x3x3xf64>) -> tensor<2x2x3x3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x2x3x3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// Tests count_include_pad, ceil_mode.
// INPUTS: x=1x2x6x6:f64
func.func @avg_pool_count_pad_ceil(%x: tensor<1x2x6x6xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %y = ds.avg_pool %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, ceil_mode = true, count_include_pad = true} : (tensor<1x2x6x6xf64>) -> tensor<1x2x4x4xf64>
  %lw = ds.constant dense<W> : tensor<1x2x4x4xf64>
  %m = ds.mul %y, %lw : (tensor<1x2x4x4xf64>, tensor<1x2x4x4xf64>) -> tensor<1x2x4x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<1x2x4x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}
