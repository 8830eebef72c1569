// Gradient checks (central differences, f64) of matmul (2-D, batched with broadcasting, 1-D
// operands) and gemm (every transpose combination, c broadcast, alpha/beta).
// RUN: %python %S/Inputs/gradcheck.py %s %t ds-opt ds-translate ds-gradcheck | FileCheck %s
// CHECK: @matmul_2d: gradcheck: PASS
// CHECK: @matmul_batched: gradcheck: PASS
// CHECK: @matmul_batched_2d_rhs: gradcheck: PASS
// CHECK: @matmul_2d_lhs_batched_rhs: gradcheck: PASS
// CHECK: @matmul_broadcast_batch: gradcheck: PASS
// CHECK: @matmul_vec_mat: gradcheck: PASS
// CHECK: @matmul_mat_vec: gradcheck: PASS
// CHECK: @matmul_vec_vec: gradcheck: PASS
// CHECK: @matmul_vec_batched: gradcheck: PASS
// CHECK: @matmul_batched_vec: gradcheck: PASS
// CHECK: @gemm_nn: gradcheck: PASS
// CHECK: @gemm_tn: gradcheck: PASS
// CHECK: @gemm_nt: gradcheck: PASS
// CHECK: @gemm_tt: gradcheck: PASS
// CHECK: @gemm_no_c: gradcheck: PASS
// CHECK: @gemm_c_row: gradcheck: PASS
// CHECK: 0 case(s) failed

// INPUTS: a=3x4:f64 b=4x5:f64
func.func @matmul_2d(%a: tensor<3x4xf64> {ds.input = "a"}, %b: tensor<4x5xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %r = ds.matmul %a, %b : (tensor<3x4xf64>, tensor<4x5xf64>) -> tensor<3x5xf64>
  %m = ds.mul %r, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: a=2x3x4:f64 b=2x4x5:f64
func.func @matmul_batched(%a: tensor<2x3x4xf64> {ds.input = "a"}, %b: tensor<2x4x5xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3x5xf64>
  %r = ds.matmul %a, %b : (tensor<2x3x4xf64>, tensor<2x4x5xf64>) -> tensor<2x3x5xf64>
  %m = ds.mul %r, %w : (tensor<2x3x5xf64>, tensor<2x3x5xf64>) -> tensor<2x3x5xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3x5xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// a 2-D right operand shared by the batch
// INPUTS: a=2x3x4:f64 b=4x5:f64
func.func @matmul_batched_2d_rhs(%a: tensor<2x3x4xf64> {ds.input = "a"}, %b: tensor<4x5xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3x5xf64>
  %r = ds.matmul %a, %b : (tensor<2x3x4xf64>, tensor<4x5xf64>) -> tensor<2x3x5xf64>
  %m = ds.mul %r, %w : (tensor<2x3x5xf64>, tensor<2x3x5xf64>) -> tensor<2x3x5xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3x5xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: a=3x4:f64 b=2x4x5:f64
func.func @matmul_2d_lhs_batched_rhs(%a: tensor<3x4xf64> {ds.input = "a"}, %b: tensor<2x4x5xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3x5xf64>
  %r = ds.matmul %a, %b : (tensor<3x4xf64>, tensor<2x4x5xf64>) -> tensor<2x3x5xf64>
  %m = ds.mul %r, %w : (tensor<2x3x5xf64>, tensor<2x3x5xf64>) -> tensor<2x3x5xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3x5xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// batch dims broadcast both ways: [2,1] x [3]
// INPUTS: a=2x1x3x4:f64 b=3x4x2:f64
func.func @matmul_broadcast_batch(%a: tensor<2x1x3x4xf64> {ds.input = "a"}, %b: tensor<3x4x2xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3x3x2xf64>
  %r = ds.matmul %a, %b : (tensor<2x1x3x4xf64>, tensor<3x4x2xf64>) -> tensor<2x3x3x2xf64>
  %m = ds.mul %r, %w : (tensor<2x3x3x2xf64>, tensor<2x3x3x2xf64>) -> tensor<2x3x3x2xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3x3x2xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: a=4:f64 b=4x5:f64
func.func @matmul_vec_mat(%a: tensor<4xf64> {ds.input = "a"}, %b: tensor<4x5xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<5xf64>
  %r = ds.matmul %a, %b : (tensor<4xf64>, tensor<4x5xf64>) -> tensor<5xf64>
  %m = ds.mul %r, %w : (tensor<5xf64>, tensor<5xf64>) -> tensor<5xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<5xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: a=3x4:f64 b=4:f64
func.func @matmul_mat_vec(%a: tensor<3x4xf64> {ds.input = "a"}, %b: tensor<4xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3xf64>
  %r = ds.matmul %a, %b : (tensor<3x4xf64>, tensor<4xf64>) -> tensor<3xf64>
  %m = ds.mul %r, %w : (tensor<3xf64>, tensor<3xf64>) -> tensor<3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: a=4:f64 b=4:f64
func.func @matmul_vec_vec(%a: tensor<4xf64> {ds.input = "a"}, %b: tensor<4xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<f64>
  %r = ds.matmul %a, %b : (tensor<4xf64>, tensor<4xf64>) -> tensor<f64>
  %m = ds.mul %r, %w : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<f64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: a=4:f64 b=2x4x3:f64
func.func @matmul_vec_batched(%a: tensor<4xf64> {ds.input = "a"}, %b: tensor<2x4x3xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3xf64>
  %r = ds.matmul %a, %b : (tensor<4xf64>, tensor<2x4x3xf64>) -> tensor<2x3xf64>
  %m = ds.mul %r, %w : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: a=2x3x4:f64 b=4:f64
func.func @matmul_batched_vec(%a: tensor<2x3x4xf64> {ds.input = "a"}, %b: tensor<4xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x3xf64>
  %r = ds.matmul %a, %b : (tensor<2x3x4xf64>, tensor<4xf64>) -> tensor<2x3xf64>
  %m = ds.mul %r, %w : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: a=3x4:f64 b=4x5:f64 c=3x5:f64
func.func @gemm_nn(%a: tensor<3x4xf64> {ds.input = "a"}, %b: tensor<4x5xf64> {ds.input = "b"}, %c: tensor<3x5xf64> {ds.input = "c"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %r = ds.gemm %a, %b, %c : (tensor<3x4xf64>, tensor<4x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %m = ds.mul %r, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: a=4x3:f64 b=4x5:f64 c=5:f64
func.func @gemm_tn(%a: tensor<4x3xf64> {ds.input = "a"}, %b: tensor<4x5xf64> {ds.input = "b"}, %c: tensor<5xf64> {ds.input = "c"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %r = ds.gemm %a, %b, %c {alpha = 0.5 : f32, trans_a} : (tensor<4x3xf64>, tensor<4x5xf64>, tensor<5xf64>) -> tensor<3x5xf64>
  %m = ds.mul %r, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: a=3x4:f64 b=5x4:f64 c=3x1:f64
func.func @gemm_nt(%a: tensor<3x4xf64> {ds.input = "a"}, %b: tensor<5x4xf64> {ds.input = "b"}, %c: tensor<3x1xf64> {ds.input = "c"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %r = ds.gemm %a, %b, %c {beta = -1.5 : f32, trans_b} : (tensor<3x4xf64>, tensor<5x4xf64>, tensor<3x1xf64>) -> tensor<3x5xf64>
  %m = ds.mul %r, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: a=4x3:f64 b=5x4:f64 c=:f64
func.func @gemm_tt(%a: tensor<4x3xf64> {ds.input = "a"}, %b: tensor<5x4xf64> {ds.input = "b"}, %c: tensor<f64> {ds.input = "c"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %r = ds.gemm %a, %b, %c {alpha = 2.0 : f32, beta = 0.25 : f32, trans_a, trans_b} : (tensor<4x3xf64>, tensor<5x4xf64>, tensor<f64>) -> tensor<3x5xf64>
  %m = ds.mul %r, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: a=4x3:f64 b=4x5:f64
func.func @gemm_no_c(%a: tensor<4x3xf64> {ds.input = "a"}, %b: tensor<4x5xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %r = ds.gemm %a, %b {alpha = 1.5 : f32, trans_a} : (tensor<4x3xf64>, tensor<4x5xf64>) -> tensor<3x5xf64>
  %m = ds.mul %r, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: a=3x4:f64 b=5x4:f64 c=1x5:f64
func.func @gemm_c_row(%a: tensor<3x4xf64> {ds.input = "a"}, %b: tensor<5x4xf64> {ds.input = "b"}, %c: tensor<1x5xf64> {ds.input = "c"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %r = ds.gemm %a, %b, %c {trans_b} : (tensor<3x4xf64>, tensor<5x4xf64>, tensor<1x5xf64>) -> tensor<3x5xf64>
  %m = ds.mul %r, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %l : tensor<f64>
}
