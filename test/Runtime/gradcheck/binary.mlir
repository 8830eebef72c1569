// Gradient checks (central differences, f64) of the broadcasting binary ops: each op with the
// broadcast stretching the first operand, the second, and both.
// RUN: %python %S/Inputs/gradcheck.py %s %t ds-opt ds-translate ds-gradcheck | FileCheck %s
// CHECK: @add: gradcheck: PASS
// CHECK: @sub: gradcheck: PASS
// CHECK: @mul: gradcheck: PASS
// CHECK: @div: gradcheck: PASS
// CHECK: @pow: gradcheck: PASS
// CHECK: @pow_scalar_exponent: gradcheck: PASS
// CHECK: @max: gradcheck: PASS
// CHECK: @min: gradcheck: PASS
// CHECK: @max_min_ties: gradcheck: PASS
// CHECK: 0 case(s) failed

// INPUTS: a=2x3x4:f64 b=3x1:f64 c=4:f64 d=3x1:f64 s=:f64
func.func @add(%a: tensor<2x3x4xf64> {ds.input = "a"}, %b: tensor<3x1xf64> {ds.input = "b"},
               %c: tensor<4xf64> {ds.input = "c"}, %d: tensor<3x1xf64> {ds.input = "d"},
               %s: tensor<f64> {ds.input = "s"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w1 = ds.constant dense<W> : tensor<2x3x4xf64>
  %w2 = ds.constant dense<W> : tensor<3x4xf64>
  %w3 = ds.constant dense<W> : tensor<4xf64>
  %0 = ds.add %a, %b : (tensor<2x3x4xf64>, tensor<3x1xf64>) -> tensor<2x3x4xf64>
  %1 = ds.add %c, %d : (tensor<4xf64>, tensor<3x1xf64>) -> tensor<3x4xf64>
  %2 = ds.add %s, %c : (tensor<f64>, tensor<4xf64>) -> tensor<4xf64>
  %3 = ds.mul %0, %w1 : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %4 = ds.mul %1, %w2 : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %5 = ds.mul %2, %w3 : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  %6 = ds.reduce_sum %3 {axes = array<i64>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<f64>
  %7 = ds.reduce_sum %4 {axes = array<i64>, keepdims = false} : (tensor<3x4xf64>) -> tensor<f64>
  %8 = ds.reduce_sum %5 {axes = array<i64>, keepdims = false} : (tensor<4xf64>) -> tensor<f64>
  %9 = ds.add %6, %7 : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %10 = ds.add %9, %8 : (tensor<f64>, tensor<f64>) -> tensor<f64>
  return %10 : tensor<f64>
}

// -----

// INPUTS: a=2x3x4:f64 b=3x1:f64 c=4:f64 d=3x1:f64
func.func @sub(%a: tensor<2x3x4xf64> {ds.input = "a"}, %b: tensor<3x1xf64> {ds.input = "b"},
               %c: tensor<4xf64> {ds.input = "c"}, %d: tensor<3x1xf64> {ds.input = "d"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w1 = ds.constant dense<W> : tensor<2x3x4xf64>
  %w2 = ds.constant dense<W> : tensor<3x4xf64>
  %0 = ds.sub %a, %b : (tensor<2x3x4xf64>, tensor<3x1xf64>) -> tensor<2x3x4xf64>
  %1 = ds.sub %d, %c : (tensor<3x1xf64>, tensor<4xf64>) -> tensor<3x4xf64>
  %3 = ds.mul %0, %w1 : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %4 = ds.mul %1, %w2 : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %6 = ds.reduce_sum %3 {axes = array<i64>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<f64>
  %7 = ds.reduce_sum %4 {axes = array<i64>, keepdims = false} : (tensor<3x4xf64>) -> tensor<f64>
  %9 = ds.add %6, %7 : (tensor<f64>, tensor<f64>) -> tensor<f64>
  return %9 : tensor<f64>
}

// -----

// INPUTS: a=2x3x4:f64 b=3x1:f64 c=4:f64 d=3x1:f64
func.func @mul(%a: tensor<2x3x4xf64> {ds.input = "a"}, %b: tensor<3x1xf64> {ds.input = "b"},
               %c: tensor<4xf64> {ds.input = "c"}, %d: tensor<3x1xf64> {ds.input = "d"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w1 = ds.constant dense<W> : tensor<2x3x4xf64>
  %w2 = ds.constant dense<W> : tensor<3x4xf64>
  %0 = ds.mul %b, %a : (tensor<3x1xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %1 = ds.mul %c, %d : (tensor<4xf64>, tensor<3x1xf64>) -> tensor<3x4xf64>
  %3 = ds.mul %0, %w1 : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %4 = ds.mul %1, %w2 : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %6 = ds.reduce_sum %3 {axes = array<i64>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<f64>
  %7 = ds.reduce_sum %4 {axes = array<i64>, keepdims = false} : (tensor<3x4xf64>) -> tensor<f64>
  %9 = ds.add %6, %7 : (tensor<f64>, tensor<f64>) -> tensor<f64>
  return %9 : tensor<f64>
}

// -----

// INPUTS: a=2x3x4:f64 b=3x1:f64:0.5:2 c=4:f64 d=3x1:f64:-2:-0.5
func.func @div(%a: tensor<2x3x4xf64> {ds.input = "a"}, %b: tensor<3x1xf64> {ds.input = "b"},
               %c: tensor<4xf64> {ds.input = "c"}, %d: tensor<3x1xf64> {ds.input = "d"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w1 = ds.constant dense<W> : tensor<2x3x4xf64>
  %w2 = ds.constant dense<W> : tensor<3x4xf64>
  %0 = ds.div %a, %b : (tensor<2x3x4xf64>, tensor<3x1xf64>) -> tensor<2x3x4xf64>
  %1 = ds.div %c, %d : (tensor<4xf64>, tensor<3x1xf64>) -> tensor<3x4xf64>
  %3 = ds.mul %0, %w1 : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %4 = ds.mul %1, %w2 : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %6 = ds.reduce_sum %3 {axes = array<i64>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<f64>
  %7 = ds.reduce_sum %4 {axes = array<i64>, keepdims = false} : (tensor<3x4xf64>) -> tensor<f64>
  %9 = ds.add %6, %7 : (tensor<f64>, tensor<f64>) -> tensor<f64>
  return %9 : tensor<f64>
}

// -----

// INPUTS: a=2x3x4:f64:0.5:2 b=3x1:f64 c=4:f64 d=3x1:f64:0.5:2
func.func @pow(%a: tensor<2x3x4xf64> {ds.input = "a"}, %b: tensor<3x1xf64> {ds.input = "b"},
               %c: tensor<4xf64> {ds.input = "c"}, %d: tensor<3x1xf64> {ds.input = "d"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w1 = ds.constant dense<W> : tensor<2x3x4xf64>
  %w2 = ds.constant dense<W> : tensor<3x4xf64>
  %0 = ds.pow %a, %b : (tensor<2x3x4xf64>, tensor<3x1xf64>) -> tensor<2x3x4xf64>
  %1 = ds.pow %d, %c : (tensor<3x1xf64>, tensor<4xf64>) -> tensor<3x4xf64>
  %3 = ds.mul %0, %w1 : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %4 = ds.mul %1, %w2 : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %6 = ds.reduce_sum %3 {axes = array<i64>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<f64>
  %7 = ds.reduce_sum %4 {axes = array<i64>, keepdims = false} : (tensor<3x4xf64>) -> tensor<f64>
  %9 = ds.add %6, %7 : (tensor<f64>, tensor<f64>) -> tensor<f64>
  return %9 : tensor<f64>
}

// -----

// A constant exponent (x^2, x^0.5): only the base has a gradient.
// INPUTS: x=3x4:f64:0.5:2
func.func @pow_scalar_exponent(%x: tensor<3x4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x4xf64>
  %two = ds.constant dense<2.0> : tensor<f64>
  %half = ds.constant dense<0.5> : tensor<4xf64>
  %0 = ds.pow %x, %two : (tensor<3x4xf64>, tensor<f64>) -> tensor<3x4xf64>
  %1 = ds.pow %x, %half : (tensor<3x4xf64>, tensor<4xf64>) -> tensor<3x4xf64>
  %2 = ds.add %0, %1 : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %3 = ds.mul %2, %w : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %4 = ds.reduce_sum %3 {axes = array<i64>, keepdims = false} : (tensor<3x4xf64>) -> tensor<f64>
  return %4 : tensor<f64>
}

// -----

// INPUTS: a=2x3x4:f64 b=3x1:f64 c=4:f64 d=3x1:f64
func.func @max(%a: tensor<2x3x4xf64> {ds.input = "a"}, %b: tensor<3x1xf64> {ds.input = "b"},
               %c: tensor<4xf64> {ds.input = "c"}, %d: tensor<3x1xf64> {ds.input = "d"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w1 = ds.constant dense<W> : tensor<2x3x4xf64>
  %w2 = ds.constant dense<W> : tensor<3x4xf64>
  %0 = ds.max %a, %b : (tensor<2x3x4xf64>, tensor<3x1xf64>) -> tensor<2x3x4xf64>
  %1 = ds.max %d, %c : (tensor<3x1xf64>, tensor<4xf64>) -> tensor<3x4xf64>
  %3 = ds.mul %0, %w1 : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %4 = ds.mul %1, %w2 : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %6 = ds.reduce_sum %3 {axes = array<i64>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<f64>
  %7 = ds.reduce_sum %4 {axes = array<i64>, keepdims = false} : (tensor<3x4xf64>) -> tensor<f64>
  %9 = ds.add %6, %7 : (tensor<f64>, tensor<f64>) -> tensor<f64>
  return %9 : tensor<f64>
}

// -----

// INPUTS: a=2x3x4:f64 b=3x1:f64 c=4:f64 d=3x1:f64
func.func @min(%a: tensor<2x3x4xf64> {ds.input = "a"}, %b: tensor<3x1xf64> {ds.input = "b"},
               %c: tensor<4xf64> {ds.input = "c"}, %d: tensor<3x1xf64> {ds.input = "d"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w1 = ds.constant dense<W> : tensor<2x3x4xf64>
  %w2 = ds.constant dense<W> : tensor<3x4xf64>
  %0 = ds.min %a, %b : (tensor<2x3x4xf64>, tensor<3x1xf64>) -> tensor<2x3x4xf64>
  %1 = ds.min %d, %c : (tensor<3x1xf64>, tensor<4xf64>) -> tensor<3x4xf64>
  %3 = ds.mul %0, %w1 : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %4 = ds.mul %1, %w2 : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %6 = ds.reduce_sum %3 {axes = array<i64>, keepdims = false} : (tensor<2x3x4xf64>) -> tensor<f64>
  %7 = ds.reduce_sum %4 {axes = array<i64>, keepdims = false} : (tensor<3x4xf64>) -> tensor<f64>
  %9 = ds.add %6, %7 : (tensor<f64>, tensor<f64>) -> tensor<f64>
  return %9 : tensor<f64>
}

// -----

// Ties (a[1] == b[1], a[3] == b[3]): the gradient is split evenly, as torch.maximum and
// torch.minimum do, which is what central differences measure there.
// INPUTS: a=4:f64=1.0,2.0,-1.0,0.5 b=4:f64=0.0,2.0,3.0,0.5
func.func @max_min_ties(%a: tensor<4xf64> {ds.input = "a"}, %b: tensor<4xf64> {ds.input = "b"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w1 = ds.constant dense<W> : tensor<4xf64>
  %w2 = ds.constant dense<[0.25, -1.5, 2.0, 0.75]> : tensor<4xf64>
  %0 = ds.max %a, %b : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  %1 = ds.min %a, %b : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  %2 = ds.mul %0, %w1 : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  %3 = ds.mul %1, %w2 : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  %4 = ds.add %2, %3 : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  %5 = ds.reduce_sum %4 {axes = array<i64>, keepdims = false} : (tensor<4xf64>) -> tensor<f64>
  return %5 : tensor<f64>
}
