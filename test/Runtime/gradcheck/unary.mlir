// Gradient checks (central differences, f64) of the elementwise unary ops, where, dropout with
// ratio 0 and cast.
// RUN: %python %S/Inputs/gradcheck.py %s %t ds-opt ds-translate ds-gradcheck | FileCheck %s
// CHECK: @neg: gradcheck: PASS
// CHECK: @sqrt: gradcheck: PASS
// CHECK: @exp: gradcheck: PASS
// CHECK: @log: gradcheck: PASS
// CHECK: @tanh: gradcheck: PASS
// CHECK: @sin: gradcheck: PASS
// CHECK: @cos: gradcheck: PASS
// CHECK: @abs: gradcheck: PASS
// CHECK: @reciprocal: gradcheck: PASS
// CHECK: @erf: gradcheck: PASS
// CHECK: @relu: gradcheck: PASS
// CHECK: @sigmoid: gradcheck: PASS
// CHECK: @identity: gradcheck: PASS
// CHECK: @gelu_erf: gradcheck: PASS
// CHECK: @gelu_tanh: gradcheck: PASS
// CHECK: @where: gradcheck: PASS
// CHECK: @dropout_ratio0: gradcheck: PASS
// CHECK: @cast_f32_roundtrip: gradcheck: PASS
// CHECK: 0 case(s) failed

// INPUTS: x=3x5:f64
func.func @neg(%x: tensor<3x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %0 = ds.neg %x : tensor<3x5xf64>
  %1 = ds.mul %0, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %2 = ds.reduce_sum %1 {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %2 : tensor<f64>
}

// -----

// INPUTS: x=3x5:f64:0.2:3
func.func @sqrt(%x: tensor<3x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %0 = ds.sqrt %x : tensor<3x5xf64>
  %1 = ds.mul %0, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %2 = ds.reduce_sum %1 {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %2 : tensor<f64>
}

// -----

// INPUTS: x=3x5:f64
func.func @exp(%x: tensor<3x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %0 = ds.exp %x : tensor<3x5xf64>
  %1 = ds.mul %0, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %2 = ds.reduce_sum %1 {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %2 : tensor<f64>
}

// -----

// INPUTS: x=3x5:f64:0.2:3
func.func @log(%x: tensor<3x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %0 = ds.log %x : tensor<3x5xf64>
  %1 = ds.mul %0, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %2 = ds.reduce_sum %1 {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %2 : tensor<f64>
}

// -----

// INPUTS: x=3x5:f64
func.func @tanh(%x: tensor<3x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %0 = ds.tanh %x : tensor<3x5xf64>
  %1 = ds.mul %0, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %2 = ds.reduce_sum %1 {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %2 : tensor<f64>
}

// -----

// INPUTS: x=3x5:f64
func.func @sin(%x: tensor<3x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %0 = ds.sin %x : tensor<3x5xf64>
  %1 = ds.mul %0, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %2 = ds.reduce_sum %1 {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %2 : tensor<f64>
}

// -----

// INPUTS: x=3x5:f64
func.func @cos(%x: tensor<3x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %0 = ds.cos %x : tensor<3x5xf64>
  %1 = ds.mul %0, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %2 = ds.reduce_sum %1 {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %2 : tensor<f64>
}

// -----

// Inputs away from 0, where |x| has no derivative.
// INPUTS: x=4:f64=-2.0,-0.5,0.75,3.0
func.func @abs(%x: tensor<4xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<4xf64>
  %0 = ds.abs %x : tensor<4xf64>
  %1 = ds.mul %0, %w : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  %2 = ds.reduce_sum %1 {axes = array<i64>, keepdims = false} : (tensor<4xf64>) -> tensor<f64>
  return %2 : tensor<f64>
}

// -----

// INPUTS: x=3x5:f64:0.5:2
func.func @reciprocal(%x: tensor<3x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %0 = ds.reciprocal %x : tensor<3x5xf64>
  %1 = ds.mul %0, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %2 = ds.reduce_sum %1 {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %2 : tensor<f64>
}

// -----

// INPUTS: x=3x5:f64
func.func @erf(%x: tensor<3x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %0 = ds.erf %x : tensor<3x5xf64>
  %1 = ds.mul %0, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %2 = ds.reduce_sum %1 {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %2 : tensor<f64>
}

// -----

// Values are kept away from the kink at 0 (|x| >= 0.1).
// INPUTS: x=3x5:f64=0.5,-0.3,1.2,-2,0.1,-0.1,0.7,-0.8,1.5,-1.5,2.2,-0.4,0.9,0.3,-1.1
func.func @relu(%x: tensor<3x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %0 = ds.relu %x : tensor<3x5xf64>
  %1 = ds.mul %0, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %2 = ds.reduce_sum %1 {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %2 : tensor<f64>
}

// -----

// INPUTS: x=3x5:f64
func.func @sigmoid(%x: tensor<3x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %0 = ds.sigmoid %x : tensor<3x5xf64>
  %1 = ds.mul %0, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %2 = ds.reduce_sum %1 {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %2 : tensor<f64>
}

// -----

// INPUTS: x=3x5:f64
func.func @identity(%x: tensor<3x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %0 = ds.identity %x : tensor<3x5xf64>
  %1 = ds.mul %0, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %2 = ds.reduce_sum %1 {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %2 : tensor<f64>
}

// -----

// INPUTS: x=3x5:f64:-4:4
func.func @gelu_erf(%x: tensor<3x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %0 = ds.gelu %x : tensor<3x5xf64>
  %1 = ds.mul %0, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %2 = ds.reduce_sum %1 {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %2 : tensor<f64>
}

// -----

// INPUTS: x=3x5:f64:-4:4
func.func @gelu_tanh(%x: tensor<3x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %0 = ds.gelu %x approximate = tanh : tensor<3x5xf64>
  %1 = ds.mul %0, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %2 = ds.reduce_sum %1 {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %2 : tensor<f64>
}

// -----

// where with a 3-way broadcast: an i1 input condition [3,1], x [3,4], y [4]; and a condition
// computed from x itself (x > 0 picks x, else y * x).
// INPUTS: c=3x1:i1 x=3x4:f64 y=4:f64
func.func @where(%c: tensor<3x1xi1> {ds.input = "c"}, %x: tensor<3x4xf64> {ds.input = "x"},
                 %y: tensor<4xf64> {ds.input = "y"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x4xf64>
  %zero = ds.constant dense<0.0> : tensor<f64>
  %0 = ds.where %c, %x, %y : (tensor<3x1xi1>, tensor<3x4xf64>, tensor<4xf64>) -> tensor<3x4xf64>
  %p = ds.greater %x, %zero : (tensor<3x4xf64>, tensor<f64>) -> tensor<3x4xi1>
  %xy = ds.mul %x, %y : (tensor<3x4xf64>, tensor<4xf64>) -> tensor<3x4xf64>
  %1 = ds.where %p, %x, %xy : (tensor<3x4xi1>, tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %2 = ds.add %0, %1 : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %3 = ds.mul %2, %w : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %4 = ds.reduce_sum %3 {axes = array<i64>, keepdims = false} : (tensor<3x4xf64>) -> tensor<f64>
  return %4 : tensor<f64>
}

// -----

// INPUTS: x=3x5:f64
func.func @dropout_ratio0(%x: tensor<3x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %0:2 = ds.dropout %x {ratio = 0.0 : f32, seed = 3 : i64} : (tensor<3x5xf64>) -> (tensor<3x5xf64>, tensor<3x5xi1>)
  %e = ds.exp %0#0 : tensor<3x5xf64>
  %1 = ds.mul %e, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %2 = ds.reduce_sum %1 {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %2 : tensor<f64>
}

// -----

// f64 -> f32 -> f64 rounds to f32: a larger step and a loose tolerance.
// GRADCHECK: --eps 1e-3 --rtol 1e-4 --atol 1e-5
// INPUTS: x=3x5:f64
func.func @cast_f32_roundtrip(%x: tensor<3x5xf64> {ds.input = "x"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x5xf64>
  %0 = ds.cast %x : tensor<3x5xf64> to tensor<3x5xf32>
  %1 = ds.cast %0 : tensor<3x5xf32> to tensor<3x5xf64>
  %2 = ds.mul %1, %w : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %3 = ds.reduce_sum %2 {axes = array<i64>, keepdims = false} : (tensor<3x5xf64>) -> tensor<f64>
  return %3 : tensor<f64>
}
