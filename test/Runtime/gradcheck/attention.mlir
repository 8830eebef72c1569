// Gradient checks (central differences, f64) of attention with respect to q, k and v: plain,
// causal with T != S, a boolean padding mask, an additive mask, and causal + mask over tiles
// (T = 70 > the CPU kernel's 64-row tiles, so dq, dk and dv cross tile boundaries), and
// grouped-query heads (4 query heads over 2 key-value heads).
// RUN: %python %S/Inputs/gradcheck.py %s %t ds-opt ds-translate ds-gradcheck | FileCheck %s
// CHECK: @attention_plain: gradcheck: PASS
// CHECK: @attention_causal_rect: gradcheck: PASS
// CHECK: @attention_bool_mask: gradcheck: PASS
// CHECK: @attention_additive_mask: gradcheck: PASS
// CHECK: @attention_tiles: gradcheck: PASS
// CHECK: @attention_grouped_query: gradcheck: PASS
// CHECK: 0 case(s) failed

// INPUTS: q=2x2x5x4:f64 k=2x2x6x4:f64 v=2x2x6x3:f64
func.func @attention_plain(%q: tensor<2x2x5x4xf64> {ds.input = "q"}, %k: tensor<2x2x6x4xf64> {ds.input = "k"}, %v: tensor<2x2x6x3xf64> {ds.input = "v"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x2x5x3xf64>
  %o, %lse = ds.attention %q, %k, %v {scale = 0.5 : f32} : (tensor<2x2x5x4xf64>, tensor<2x2x6x4xf64>, tensor<2x2x6x3xf64>) -> (tensor<2x2x5x3xf64>, tensor<2x2x5xf64>)
  %m = ds.mul %o, %w : (tensor<2x2x5x3xf64>, tensor<2x2x5x3xf64>) -> tensor<2x2x5x3xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x2x5x3xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: q=3x6x4:f64 k=3x8x4:f64 v=3x8x4:f64
func.func @attention_causal_rect(%q: tensor<3x6x4xf64> {ds.input = "q"}, %k: tensor<3x8x4xf64> {ds.input = "k"}, %v: tensor<3x8x4xf64> {ds.input = "v"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<3x6x4xf64>
  %o, %lse = ds.attention %q, %k, %v {scale = 0.5 : f32, causal = true} : (tensor<3x6x4xf64>, tensor<3x8x4xf64>, tensor<3x8x4xf64>) -> (tensor<3x6x4xf64>, tensor<3x6xf64>)
  %m = ds.mul %o, %w : (tensor<3x6x4xf64>, tensor<3x6x4xf64>) -> tensor<3x6x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<3x6x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: q=2x2x4x4:f64 k=2x2x5x4:f64 v=2x2x5x4:f64 keep=2x1x1x5:i1=1,1,1,0,0,1,1,1,1,0
func.func @attention_bool_mask(%q: tensor<2x2x4x4xf64> {ds.input = "q"}, %k: tensor<2x2x5x4xf64> {ds.input = "k"}, %v: tensor<2x2x5x4xf64> {ds.input = "v"}, %keep: tensor<2x1x1x5xi1> {ds.input = "keep"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x2x4x4xf64>
  %o, %lse = ds.attention %q, %k, %v mask %keep {scale = 0.5 : f32} : (tensor<2x2x4x4xf64>, tensor<2x2x5x4xf64>, tensor<2x2x5x4xf64>, tensor<2x1x1x5xi1>) -> (tensor<2x2x4x4xf64>, tensor<2x2x4xf64>)
  %m = ds.mul %o, %w : (tensor<2x2x4x4xf64>, tensor<2x2x4x4xf64>) -> tensor<2x2x4x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x2x4x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: q=2x5x4:f64 k=2x5x4:f64 v=2x5x4:f64
func.func @attention_additive_mask(%q: tensor<2x5x4xf64> {ds.input = "q"}, %k: tensor<2x5x4xf64> {ds.input = "k"}, %v: tensor<2x5x4xf64> {ds.input = "v"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x5x4xf64>
  %b = ds.constant dense<W> : tensor<5x5xf64>
  %o, %lse = ds.attention %q, %k, %v mask %b {scale = 0.25 : f32} : (tensor<2x5x4xf64>, tensor<2x5x4xf64>, tensor<2x5x4xf64>, tensor<5x5xf64>) -> (tensor<2x5x4xf64>, tensor<2x5xf64>)
  %m = ds.mul %o, %w : (tensor<2x5x4xf64>, tensor<2x5x4xf64>) -> tensor<2x5x4xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x5x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: q=1x70x2:f64 k=1x70x2:f64 v=1x70x2:f64 keep=70:i1
func.func @attention_tiles(%q: tensor<1x70x2xf64> {ds.input = "q"}, %k: tensor<1x70x2xf64> {ds.input = "k"}, %v: tensor<1x70x2xf64> {ds.input = "v"}, %keep: tensor<70xi1> {ds.input = "keep"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<1x70x2xf64>
  %o, %lse = ds.attention %q, %k, %v mask %keep {scale = 0.5 : f32, causal = true} : (tensor<1x70x2xf64>, tensor<1x70x2xf64>, tensor<1x70x2xf64>, tensor<70xi1>) -> (tensor<1x70x2xf64>, tensor<1x70xf64>)
  %m = ds.mul %o, %w : (tensor<1x70x2xf64>, tensor<1x70x2xf64>) -> tensor<1x70x2xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<1x70x2xf64>) -> tensor<f64>
  return %l : tensor<f64>
}

// -----

// INPUTS: q=2x4x5x3:f64 k=2x2x6x3:f64 v=2x2x6x2:f64
func.func @attention_grouped_query(%q: tensor<2x4x5x3xf64> {ds.input = "q"}, %k: tensor<2x2x6x3xf64> {ds.input = "k"}, %v: tensor<2x2x6x2xf64> {ds.input = "v"}) -> tensor<f64> attributes {ds.loss = 0 : i64} {
  %w = ds.constant dense<W> : tensor<2x4x5x2xf64>
  %o, %lse = ds.attention %q, %k, %v {scale = 0.5 : f32, causal = true} : (tensor<2x4x5x3xf64>, tensor<2x2x6x3xf64>, tensor<2x2x6x2xf64>) -> (tensor<2x4x5x2xf64>, tensor<2x4x5xf64>)
  %m = ds.mul %o, %w : (tensor<2x4x5x2xf64>, tensor<2x4x5x2xf64>) -> tensor<2x4x5x2xf64>
  %l = ds.reduce_sum %m {axes = array<i64>, keepdims = false} : (tensor<2x4x5x2xf64>) -> tensor<f64>
  return %l : tensor<f64>
}
