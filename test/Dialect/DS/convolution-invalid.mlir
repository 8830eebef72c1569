// RUN: ds-opt %s -split-input-file -verify-diagnostics

// Tests that conv's result shape follows the window arithmetic.
func.func @conv_result_shape(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{result must be 'tensor<1x4x6x6xf32>', got 'tensor<1x4x8x8xf32>'}}
  %y = ds.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// Tests that the group must divide the channels and match the weight.
func.func @conv_group(%x: tensor<1x4x8x8xf32>, %w: tensor<6x4x3x3xf32>) {
  // expected-error @+1 {{weight must have C / group = 2 input channels}}
  %y = ds.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 2 : i64} : (tensor<1x4x8x8xf32>, tensor<6x4x3x3xf32>) -> tensor<1x6x8x8xf32>
  return
}

// -----

// Tests that pads need begin and end values per spatial dim.
func.func @conv_pads(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{pads needs 4 values (begin..., end...)}}
  %y = ds.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 1, 1>, dilations = array<i64: 1, 1>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// Tests that only 1 or 2 spatial dims are supported.
func.func @conv_3d(%x: tensor<1x3x4x4x4xf32>, %w: tensor<4x3x1x1x1xf32>) {
  // expected-error @+1 {{input must be [N, C, S...] with 1 or 2 spatial dims}}
  %y = ds.conv %x, %w {strides = array<i64: 1, 1, 1>, pads = array<i64: 0, 0, 0, 0, 0, 0>, dilations = array<i64: 1, 1, 1>} : (tensor<1x3x4x4x4xf32>, tensor<4x3x1x1x1xf32>) -> tensor<1x4x4x4x4xf32>
  return
}

// -----

// Tests that the bias has one value per output channel.
func.func @conv_bias(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{bias must be [4] of 'f32'}}
  %y = ds.conv %x, %w, %b {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<3xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

// Tests that batch_norm's statistics are per channel.
func.func @batch_norm_stats(%x: tensor<2x4x8x8xf32>, %s: tensor<4xf32>) {
  // expected-error @+1 {{mean must be [4] of 'f32', got 'tensor<8xf32>'}}
  %y, %m, %v = ds.batch_norm %x, %s, %s : (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<2x4x8x8xf32>, tensor<8xf32>, tensor<4xf32>)
  return
}

// -----

// Tests that max_pool's result follows ceil_mode.
func.func @max_pool_ceil(%x: tensor<1x1x7x7xf32>) {
  // expected-error @+1 {{result must be 'tensor<1x1x3x3xf32>', got 'tensor<1x1x4x4xf32>'}}
  %y = ds.max_pool %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>} : (tensor<1x1x7x7xf32>) -> tensor<1x1x4x4xf32>
  return
}

// -----

// Tests that a pad must be smaller than the pooling window.
func.func @max_pool_pad(%x: tensor<1x1x7x7xf32>) {
  // expected-error @+1 {{pads must be smaller than the window}}
  %y = ds.max_pool %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 1, 1>, pads = array<i64: 2, 2, 2, 2>, dilations = array<i64: 1, 1>} : (tensor<1x1x7x7xf32>) -> tensor<1x1x10x10xf32>
  return
}

// -----

// Tests that avg_pool refuses dilations.
func.func @avg_pool_dilation(%x: tensor<1x1x7x7xf32>) {
  // expected-error @+1 {{dilations must be 1}}
  %y = ds.avg_pool %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 2, 2>} : (tensor<1x1x7x7xf32>) -> tensor<1x1x5x5xf32>
  return
}
