// Gradient checks (central differences, f64) of the data-movement ops: reshape, transpose,
// squeeze, unsqueeze, expand, concat, split (including unused pieces), slice (steps, negative
// steps), trilu, gather (repeated and negative indices, a tied use) and the reductions.
// RUN: %python %S/Inputs/gradcheck.py %s %t ds-opt ds-translate ds-gradcheck | FileCheck %s
// CHECK: @reshape: gradcheck: PASS
// CHECK: @transpose: gradcheck: PASS
// CHECK: @squeeze: gradcheck: PASS
// CHECK: @unsqueeze: gradcheck: PASS
// CHECK: @expand: gradcheck: PASS
// CHECK: @concat: gradcheck: PASS
// CHECK: @concat_axis0: gradcheck: PASS
// CHECK: @split: gradcheck: PASS
// CHECK: @split_axis0: gradcheck: PASS
// CHECK: @slice_steps: gradcheck: PASS
// CHECK: @slice_negative_steps: gradcheck: PASS
// CHECK: @slice_reverse: gradcheck: PASS
// CHECK: @slice_3d: gradcheck: PASS
// CHECK: @trilu_upper: gradcheck: PASS
// CHECK: @trilu_lower: gradcheck: PASS
// CHECK: @gather_axis0: gradcheck: PASS
// CHECK: @gather_axis1_i32: gradcheck: PASS
// CHECK: @gather_tied: gradcheck: PASS
// CHECK: @reduce_sum_1_keep0: gradcheck: PASS
// CHECK: @reduce_sum_1_keep1: gradcheck: PASS
// CHECK: @reduce_sum_02_keep0: gradcheck: PASS
// CHECK: @reduce_sum_02_keep1: gradcheck: PASS
// CHECK: @reduce_sum_all_keep0: gradcheck: PASS
// CHECK: @reduce_sum_all_keep1: gradcheck: PASS
// CHECK: @reduce_mean_1_keep0: gradcheck: PASS
// CHECK: @reduce_mean_1_keep1: gradcheck: PASS
// CHECK: @reduce_mean_02_keep0: gradcheck: PASS
// CHECK: @reduce_mean_02_keep1: gradcheck: PASS
// CHECK: @reduce_mean_all_keep0: gradcheck: PASS
// CHECK: @reduce_mean_all_keep1: gradcheck: PASS
// CHECK: @reduce_max_1_keep0: gradcheck: PASS
// CHECK: @reduce_max_1_keep1: gradcheck: PASS
// CHECK: @reduce_max_02_keep0: gradcheck: PASS
// CHECK: @reduce_max_02_keep1: gradcheck: PASS
// CHECK: @reduce_max_all_keep0: gradcheck: PASS
// CHECK: @reduce_max_all_keep1: gradcheck: PASS
// CHECK: 0 case(s) failed

// INPUTS: x=3x4:f64
func.func @reshape(%x: tensor<3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x6xf64>
  %r = ds.reshape %x : tensor<3x4xf64> to tensor<2x6xf64>
  %m = ds.mul %r, %w : (tensor<2x6xf64>, tensor<2x6xf64>) -> tensor<2x6xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x6xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @transpose(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<4x2x3xf64>
  %r = ds.transpose %x {perm = array<i64: 2, 0, 1>} : (tensor<2x3x4xf64>) -> tensor<4x2x3xf64>
  %m = ds.mul %r, %w : (tensor<4x2x3xf64>, tensor<4x2x3xf64>) -> tensor<4x2x3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<4x2x3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=3x1x4:f64
func.func @squeeze(%x: tensor<3x1x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x4xf64>
  %r = ds.squeeze %x {axes = array<i64: 1>} : (tensor<3x1x4xf64>) -> tensor<3x4xf64>
  %m = ds.mul %r, %w : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=3x4:f64
func.func @unsqueeze(%x: tensor<3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<1x3x1x4xf64>
  %r = ds.unsqueeze %x {axes = array<i64: 0, 2>} : (tensor<3x4xf64>) -> tensor<1x3x1x4xf64>
  %m = ds.mul %r, %w : (tensor<1x3x1x4xf64>, tensor<1x3x1x4xf64>) -> tensor<1x3x1x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<1x3x1x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=3x1:f64 y=4:f64
func.func @expand(%x: tensor<3x1xf64> {ds.input = "x"}, %y: tensor<4xf64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3x4xf64>
  %e1 = ds.expand %x : tensor<3x1xf64> to tensor<2x3x4xf64>
  %e2 = ds.expand %y : tensor<4xf64> to tensor<2x3x4xf64>
  %r = ds.mul %e1, %e2 : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %m = ds.mul %r, %w : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// the same input twice: its gradient is the sum of both pieces
// INPUTS: a=2x3:f64 b=2x5:f64
func.func @concat(%a: tensor<2x3xf64> {ds.input = "a"}, %b: tensor<2x5xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x11xf64>
  %r = ds.concat %a, %b, %a {axis = 1 : i64} : (tensor<2x3xf64>, tensor<2x5xf64>, tensor<2x3xf64>) -> tensor<2x11xf64>
  %m = ds.mul %r, %w : (tensor<2x11xf64>, tensor<2x11xf64>) -> tensor<2x11xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x11xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: a=1x3:f64 b=2x3:f64
func.func @concat_axis0(%a: tensor<1x3xf64> {ds.input = "a"}, %b: tensor<2x3xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x3xf64>
  %r = ds.concat %b, %a {axis = 0 : i64} : (tensor<2x3xf64>, tensor<1x3xf64>) -> tensor<3x3xf64>
  %m = ds.mul %r, %w : (tensor<3x3xf64>, tensor<3x3xf64>) -> tensor<3x3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3x3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// the middle piece is unused: its gradient is zero
// INPUTS: x=4x5:f64
func.func @split(%x: tensor<4x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<4x2xf64>
  %s:3 = ds.split %x {axis = 1 : i64, sizes = array<i64: 2, 1, 2>} : (tensor<4x5xf64>) -> (tensor<4x2xf64>, tensor<4x1xf64>, tensor<4x2xf64>)
  %r = ds.mul %s#0, %s#2 : (tensor<4x2xf64>, tensor<4x2xf64>) -> tensor<4x2xf64>
  %m = ds.mul %r, %w : (tensor<4x2xf64>, tensor<4x2xf64>) -> tensor<4x2xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<4x2xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=5x3:f64
func.func @split_axis0(%x: tensor<5x3xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3xf64>
  %s:2 = ds.split %x {axis = 0 : i64, sizes = array<i64: 3, 2>} : (tensor<5x3xf64>) -> (tensor<3x3xf64>, tensor<2x3xf64>)
  %r = ds.exp %s#1 : tensor<2x3xf64>
  %m = ds.mul %r, %w : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=4x8:f64
func.func @slice_steps(%x: tensor<4x8xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<4x3xf64>
  %r = ds.slice %x {starts = array<i64: 0, 2>, ends = array<i64: 4, 7>, steps = array<i64: 1, 2>} : (tensor<4x8xf64>) -> tensor<4x3xf64>
  %m = ds.mul %r, %w : (tensor<4x3xf64>, tensor<4x3xf64>) -> tensor<4x3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<4x3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=5x6:f64
func.func @slice_negative_steps(%x: tensor<5x6xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %r = ds.slice %x {starts = array<i64: 4, 5>, ends = array<i64: -1, 0>, steps = array<i64: -2, -1>} : (tensor<5x6xf64>) -> tensor<3x5xf64>
  %m = ds.mul %r, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=6:f64
func.func @slice_reverse(%x: tensor<6xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<6xf64>
  %r = ds.slice %x {starts = array<i64: 5>, ends = array<i64: -1>, steps = array<i64: -1>} : (tensor<6xf64>) -> tensor<6xf64>
  %m = ds.mul %r, %w : (tensor<6xf64>, tensor<6xf64>) -> tensor<6xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<6xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=3x4x5:f64
func.func @slice_3d(%x: tensor<3x4x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x2x3xf64>
  %r = ds.slice %x {starts = array<i64: 1, 0, 4>, ends = array<i64: 3, 4, -1>, steps = array<i64: 1, 3, -2>} : (tensor<3x4x5xf64>) -> tensor<2x2x3xf64>
  %m = ds.mul %r, %w : (tensor<2x2x3xf64>, tensor<2x2x3xf64>) -> tensor<2x2x3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x2x3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @trilu_upper(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3x4xf64>
  %r = ds.trilu %x {upper = true, k = 1 : i64} : tensor<2x3x4xf64>
  %m = ds.mul %r, %w : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=4x3:f64
func.func @trilu_lower(%x: tensor<4x3xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<4x3xf64>
  %r = ds.trilu %x {upper = false, k = -1 : i64} : tensor<4x3xf64>
  %m = ds.mul %r, %w : (tensor<4x3xf64>, tensor<4x3xf64>) -> tensor<4x3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<4x3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// repeated (0, 4 = -1, 0 = -5) and negative indices accumulate
// INPUTS: d=5x3:f64 i=2x3:i64=0,4,-1,2,0,-5
func.func @gather_axis0(%d: tensor<5x3xf64> {ds.input = "d"}, %i: tensor<2x3xi64> {ds.input = "i"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3x3xf64>
  %r = ds.gather %d, %i {axis = 0 : i64} : (tensor<5x3xf64>, tensor<2x3xi64>) -> tensor<2x3x3xf64>
  %m = ds.mul %r, %w : (tensor<2x3x3xf64>, tensor<2x3x3xf64>) -> tensor<2x3x3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3x3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: d=2x4x3:f64 i=3:i32=1,-3,3
func.func @gather_axis1_i32(%d: tensor<2x4x3xf64> {ds.input = "d"}, %i: tensor<3xi32> {ds.input = "i"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3x3xf64>
  %r = ds.gather %d, %i {axis = 1 : i64} : (tensor<2x4x3xf64>, tensor<3xi32>) -> tensor<2x3x3xf64>
  %m = ds.mul %r, %w : (tensor<2x3x3xf64>, tensor<2x3x3xf64>) -> tensor<2x3x3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3x3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// an embedding used twice (gathered rows times the transposed table): both paths accumulate
// INPUTS: e=5x4:f64 i=3:i64=2,0,2
func.func @gather_tied(%e: tensor<5x4xf64> {ds.input = "e"}, %i: tensor<3xi64> {ds.input = "i"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %g = ds.gather %e, %i {axis = 0 : i64} : (tensor<5x4xf64>, tensor<3xi64>) -> tensor<3x4xf64>
  %et = ds.transpose %e {perm = array<i64: 1, 0>} : (tensor<5x4xf64>) -> tensor<4x5xf64>
  %r = ds.matmul %g, %et : (tensor<3x4xf64>, tensor<4x5xf64>) -> tensor<3x5xf64>
  %m = ds.mul %r, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @reduce_sum_1_keep0(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x4xf64>
  %r = ds.reduce_sum %x {axes = array<i64: 1>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<2x4xf64>
  %m = ds.mul %r, %w : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @reduce_sum_1_keep1(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x1x4xf64>
  %r = ds.reduce_sum %x {axes = array<i64: 1>, keepdims = true} : (tensor<2x3x4xf64>) -> tensor<2x1x4xf64>
  %m = ds.mul %r, %w : (tensor<2x1x4xf64>, tensor<2x1x4xf64>) -> tensor<2x1x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x1x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @reduce_sum_02_keep0(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3xf64>
  %r = ds.reduce_sum %x {axes = array<i64: 0, 2>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<3xf64>
  %m = ds.mul %r, %w : (tensor<3xf64>, tensor<3xf64>) -> tensor<3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @reduce_sum_02_keep1(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<1x3x1xf64>
  %r = ds.reduce_sum %x {axes = array<i64: 0, 2>, keepdims = true} : (tensor<2x3x4xf64>) -> tensor<1x3x1xf64>
  %m = ds.mul %r, %w : (tensor<1x3x1xf64>, tensor<1x3x1xf64>) -> tensor<1x3x1xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<1x3x1xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=3x4:f64
func.func @reduce_sum_all_keep0(%x: tensor<3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %r = ds.reduce_sum %x {axes = array<i64>, keepdims = false} : (tensor<3x4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=3x4:f64
func.func @reduce_sum_all_keep1(%x: tensor<3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<1x1xf64>
  %r = ds.reduce_sum %x {axes = array<i64>, keepdims = true} : (tensor<3x4xf64>) -> tensor<1x1xf64>
  %m = ds.mul %r, %w : (tensor<1x1xf64>, tensor<1x1xf64>) -> tensor<1x1xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<1x1xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @reduce_mean_1_keep0(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x4xf64>
  %r = ds.reduce_mean %x {axes = array<i64: 1>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<2x4xf64>
  %m = ds.mul %r, %w : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @reduce_mean_1_keep1(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x1x4xf64>
  %r = ds.reduce_mean %x {axes = array<i64: 1>, keepdims = true} : (tensor<2x3x4xf64>) -> tensor<2x1x4xf64>
  %m = ds.mul %r, %w : (tensor<2x1x4xf64>, tensor<2x1x4xf64>) -> tensor<2x1x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x1x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @reduce_mean_02_keep0(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3xf64>
  %r = ds.reduce_mean %x {axes = array<i64: 0, 2>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<3xf64>
  %m = ds.mul %r, %w : (tensor<3xf64>, tensor<3xf64>) -> tensor<3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @reduce_mean_02_keep1(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<1x3x1xf64>
  %r = ds.reduce_mean %x {axes = array<i64: 0, 2>, keepdims = true} : (tensor<2x3x4xf64>) -> tensor<1x3x1xf64>
  %m = ds.mul %r, %w : (tensor<1x3x1xf64>, tensor<1x3x1xf64>) -> tensor<1x3x1xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<1x3x1xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=3x4:f64
func.func @reduce_mean_all_keep0(%x: tensor<3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %r = ds.reduce_mean %x {axes = array<i64>, keepdims = false} : (tensor<3x4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=3x4:f64
func.func @reduce_mean_all_keep1(%x: tensor<3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<1x1xf64>
  %r = ds.reduce_mean %x {axes = array<i64>, keepdims = true} : (tensor<3x4xf64>) -> tensor<1x1xf64>
  %m = ds.mul %r, %w : (tensor<1x1xf64>, tensor<1x1xf64>) -> tensor<1x1xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<1x1xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @reduce_max_1_keep0(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x4xf64>
  %r = ds.reduce_max %x {axes = array<i64: 1>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<2x4xf64>
  %m = ds.mul %r, %w : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @reduce_max_1_keep1(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x1x4xf64>
  %r = ds.reduce_max %x {axes = array<i64: 1>, keepdims = true} : (tensor<2x3x4xf64>) -> tensor<2x1x4xf64>
  %m = ds.mul %r, %w : (tensor<2x1x4xf64>, tensor<2x1x4xf64>) -> tensor<2x1x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x1x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @reduce_max_02_keep0(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3xf64>
  %r = ds.reduce_max %x {axes = array<i64: 0, 2>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<3xf64>
  %m = ds.mul %r, %w : (tensor<3xf64>, tensor<3xf64>) -> tensor<3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=2x3x4:f64
func.func @reduce_max_02_keep1(%x: tensor<2x3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<1x3x1xf64>
  %r = ds.reduce_max %x {axes = array<i64: 0, 2>, keepdims = true} : (tensor<2x3x4xf64>) -> tensor<1x3x1xf64>
  %m = ds.mul %r, %w : (tensor<1x3x1xf64>, tensor<1x3x1xf64>) -> tensor<1x3x1xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<1x3x1xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=3x4:f64
func.func @reduce_max_all_keep0(%x: tensor<3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %r = ds.reduce_max %x {axes = array<i64>, keepdims = false} : (tensor<3x4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: x=3x4:f64
func.func @reduce_max_all_keep1(%x: tensor<3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<1x1xf64>
  %r = ds.reduce_max %x {axes = array<i64>, keepdims = true} : (tensor<3x4xf64>) -> tensor<1x1xf64>
  %m = ds.mul %r, %w : (tensor<1x1xf64>, tensor<1x1xf64>) -> tensor<1x1xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<1x1xf64>) -> tensor<f64>
  return %l : tensor<f64>
}
