// RUN: ds-opt %s | FileCheck %s
// RUN: ds-opt %s | ds-opt | FileCheck %s
// RUN: ds-opt %s --mlir-print-op-generic | ds-opt | FileCheck %s

// Tests that parameters and their references round-trip.
// CHECK: module attributes {ds.model_file = "model.onnx"}
// CHECK: ds.parameter @w : tensor<8x16xf32> from "fc.weight"
// CHECK: ds.parameter frozen @"onnx::mask" : tensor<1x1x4x4xf32> from "onnx::mask"
module attributes {ds.model_file = "model.onnx"} {
ds.parameter @w : tensor<8x16xf32> from "fc.weight"
ds.parameter frozen @"onnx::mask" : tensor<1x1x4x4xf32> from "onnx::mask"

// CHECK-LABEL: func.func @params
// CHECK: ds.param_ref @w : tensor<8x16xf32>
// CHECK: ds.param_ref @"onnx::mask" : tensor<1x1x4x4xf32>
func.func @params() -> (tensor<8x16xf32>, tensor<1x1x4x4xf32>) {
  %0 = ds.param_ref @w : tensor<8x16xf32>
  %1 = ds.param_ref @"onnx::mask" : tensor<1x1x4x4xf32>
  return %0, %1 : tensor<8x16xf32>, tensor<1x1x4x4xf32>
}

// Tests that broadcasting binary and compare ops round-trip.
// CHECK-LABEL: func.func @binary
// CHECK: ds.add %{{.*}}, %{{.*}} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
// CHECK: ds.sub %{{.*}}, %{{.*}} : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
// CHECK: ds.mul %{{.*}}, %{{.*}} : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
// CHECK: ds.div %{{.*}}, %{{.*}} : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
// CHECK: ds.pow %{{.*}}, %{{.*}} : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
// CHECK: ds.max %{{.*}}, %{{.*}} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
// CHECK: ds.min %{{.*}}, %{{.*}} : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
// CHECK: ds.equal %{{.*}}, %{{.*}} : (tensor<4xi64>, tensor<i64>) -> tensor<4xi1>
// CHECK: ds.less %{{.*}}, %{{.*}} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xi1>
// CHECK: ds.greater %{{.*}}, %{{.*}} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xi1>
// CHECK: ds.where %{{.*}}, %{{.*}}, %{{.*}} : (tensor<4x8xi1>, tensor<f32>, tensor<4x8xf32>) -> tensor<4x8xf32>
func.func @binary(%a: tensor<4x8xf32>, %b: tensor<8xf32>, %c: tensor<4x1xf32>, %s: tensor<f32>, %i: tensor<4xi64>, %j: tensor<i64>) -> tensor<4x8xf32> {
  %0 = ds.add %a, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %1 = ds.sub %0, %c : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  %2 = ds.mul %1, %s : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %3 = ds.div %2, %s : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %p = ds.pow %3, %s : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %mx = ds.max %p, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %4 = ds.min %mx, %c : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  %5 = ds.equal %i, %j : (tensor<4xi64>, tensor<i64>) -> tensor<4xi1>
  %6 = ds.less %4, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xi1>
  %7 = ds.greater %4, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xi1>
  %8 = ds.where %6, %s, %4 : (tensor<4x8xi1>, tensor<f32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %8 : tensor<4x8xf32>
}

// Tests that unary ops, gelu and cast round-trip.
// CHECK-LABEL: func.func @unary
// CHECK: ds.neg %{{.*}} : tensor<4xf32>
// CHECK: ds.sqrt %{{.*}} : tensor<4xf32>
// CHECK: ds.exp %{{.*}} : tensor<4xf32>
// CHECK: ds.log %{{.*}} : tensor<4xf32>
// CHECK: ds.tanh %{{.*}} : tensor<4xf32>
// CHECK: ds.sin %{{.*}} : tensor<4xf32>
// CHECK: ds.cos %{{.*}} : tensor<4xf32>
// CHECK: ds.abs %{{.*}} : tensor<4xf32>
// CHECK: ds.reciprocal %{{.*}} : tensor<4xf32>
// CHECK: ds.erf %{{.*}} : tensor<4xf32>
// CHECK: ds.relu %{{.*}} : tensor<4xf32>
// CHECK: ds.sigmoid %{{.*}} : tensor<4xf32>
// CHECK: ds.identity %{{.*}} : tensor<4xf32>
// CHECK: ds.gelu %{{.*}} : tensor<4xf32>
// CHECK: ds.gelu %{{.*}} approximate = tanh : tensor<4xf32>
// CHECK: ds.cast %{{.*}} : tensor<4xf32> to tensor<4xbf16>
func.func @unary(%x: tensor<4xf32>) -> tensor<4xbf16> {
  %0 = ds.neg %x : tensor<4xf32>
  %1 = ds.sqrt %0 : tensor<4xf32>
  %2 = ds.exp %1 : tensor<4xf32>
  %3 = ds.log %2 : tensor<4xf32>
  %4 = ds.tanh %3 : tensor<4xf32>
  %s = ds.sin %4 : tensor<4xf32>
  %c = ds.cos %s : tensor<4xf32>
  %ab = ds.abs %c : tensor<4xf32>
  %rc = ds.reciprocal %ab : tensor<4xf32>
  %5 = ds.erf %rc : tensor<4xf32>
  %6 = ds.relu %5 : tensor<4xf32>
  %7 = ds.sigmoid %6 : tensor<4xf32>
  %8 = ds.identity %7 : tensor<4xf32>
  %9 = ds.gelu %8 : tensor<4xf32>
  %10 = ds.gelu %9 approximate = tanh : tensor<4xf32>
  %11 = ds.cast %10 : tensor<4xf32> to tensor<4xbf16>
  return %11 : tensor<4xbf16>
}

// Tests that matmul (with 1-D and batch broadcasting), gemm and normalization round-trip.
// CHECK-LABEL: func.func @linear
// CHECK: ds.matmul %{{.*}}, %{{.*}} : (tensor<2x4x8xf32>, tensor<8x16xf32>) -> tensor<2x4x16xf32>
// CHECK: ds.matmul %{{.*}}, %{{.*}} : (tensor<8xf32>, tensor<8x16xf32>) -> tensor<16xf32>
// CHECK: ds.gemm %{{.*}}, %{{.*}}, %{{.*}} {alpha = 5.000000e-01 : f32, trans_b} : (tensor<4x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<4x16xf32>
// CHECK: ds.gemm %{{.*}}, %{{.*}} {trans_a} : (tensor<8x4xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
// CHECK: ds.softmax %{{.*}} {axis = 2 : i64} : tensor<2x4x16xf32>
// CHECK: ds.log_softmax %{{.*}} {axis = 1 : i64} : tensor<4x16xf32>
// CHECK: ds.layer_norm %{{.*}}, %{{.*}}, %{{.*}} {axis = 2 : i64, epsilon = 2.500000e-01 : f32} : (tensor<2x4x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<2x4x16xf32>
// CHECK: ds.layer_norm %{{.*}}, %{{.*}} {axis = 1 : i64} : (tensor<2x4x16xf32>, tensor<4x16xf32>) -> tensor<2x4x16xf32>
func.func @linear(%a: tensor<2x4x8xf32>, %b: tensor<8x16xf32>, %v: tensor<8xf32>, %m: tensor<4x8xf32>, %n: tensor<16x8xf32>, %c: tensor<16xf32>, %t: tensor<8x4xf32>, %g: tensor<4x16xf32>) -> (tensor<2x4x16xf32>, tensor<16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<2x4x16xf32>) {
  %0 = ds.matmul %a, %b : (tensor<2x4x8xf32>, tensor<8x16xf32>) -> tensor<2x4x16xf32>
  %1 = ds.matmul %v, %b : (tensor<8xf32>, tensor<8x16xf32>) -> tensor<16xf32>
  %2 = ds.gemm %m, %n, %c {alpha = 0.5 : f32, trans_b} : (tensor<4x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  %3 = ds.gemm %t, %b {trans_a} : (tensor<8x4xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
  %4 = ds.softmax %0 {axis = 2 : i64} : tensor<2x4x16xf32>
  %5 = ds.log_softmax %3 {axis = 1 : i64} : tensor<4x16xf32>
  %6 = ds.layer_norm %4, %c, %c {axis = 2 : i64, epsilon = 0.25 : f32} : (tensor<2x4x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<2x4x16xf32>
  %7 = ds.layer_norm %6, %g {axis = 1 : i64} : (tensor<2x4x16xf32>, tensor<4x16xf32>) -> tensor<2x4x16xf32>
  return %0, %1, %2, %5, %3, %7 : tensor<2x4x16xf32>, tensor<16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<2x4x16xf32>
}

// Tests that attention (plain, causal, boolean and additive masks, grouped-query) and its
// gradient round-trip.
// CHECK-LABEL: func.func @attention
// CHECK: ds.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 2.500000e-01 : f32} : (tensor<2x4x8x16xf32>, tensor<2x4x6x16xf32>, tensor<2x4x6x32xf32>) -> (tensor<2x4x8x32xf32>, tensor<2x4x8xf32>)
// CHECK: ds.attention %{{.*}}, %{{.*}}, %{{.*}} mask %{{.*}} {causal = true, scale = 5.000000e-01 : f32} : (tensor<2x4x8x16xf32>, tensor<2x4x6x16xf32>, tensor<2x4x6x32xf32>, tensor<1x1x8x6xi1>) -> (tensor<2x4x8x32xf32>, tensor<2x4x8xf32>)
// CHECK: ds.attention %{{.*}}, %{{.*}}, %{{.*}} mask %{{.*}} {scale = 1.000000e+00 : f32} : (tensor<2x4x8x16xf32>, tensor<2x4x6x16xf32>, tensor<2x4x6x32xf32>, tensor<2x1x1x6xf32>) -> (tensor<2x4x8x32xf32>, tensor<2x4x8xf32>)
// CHECK: ds.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 2.500000e-01 : f32} : (tensor<2x4x8x16xf32>, tensor<2x2x6x16xf32>, tensor<2x2x6x32xf32>) -> (tensor<2x4x8x32xf32>, tensor<2x4x8xf32>)
// CHECK: ds.attention_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} mask %{{.*}} {causal = true, scale = 5.000000e-01 : f32} : (tensor<2x4x8x32xf32>, tensor<2x4x8x16xf32>, tensor<2x4x6x16xf32>, tensor<2x4x6x32xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8xf32>, tensor<1x1x8x6xi1>) -> (tensor<2x4x8x16xf32>, tensor<2x4x6x16xf32>, tensor<2x4x6x32xf32>)
func.func @attention(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x6x16xf32>, %v: tensor<2x4x6x32xf32>, %keep: tensor<1x1x8x6xi1>, %pad: tensor<2x1x1x6xf32>, %kg: tensor<2x2x6x16xf32>, %vg: tensor<2x2x6x32xf32>) -> (tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>, tensor<2x4x6x32xf32>) {
  %o0, %l0 = ds.attention %q, %k, %v {scale = 0.25 : f32} : (tensor<2x4x8x16xf32>, tensor<2x4x6x16xf32>, tensor<2x4x6x32xf32>) -> (tensor<2x4x8x32xf32>, tensor<2x4x8xf32>)
  %o1, %l1 = ds.attention %q, %k, %v mask %keep {scale = 0.5 : f32, causal = true} : (tensor<2x4x8x16xf32>, tensor<2x4x6x16xf32>, tensor<2x4x6x32xf32>, tensor<1x1x8x6xi1>) -> (tensor<2x4x8x32xf32>, tensor<2x4x8xf32>)
  %o2, %l2 = ds.attention %q, %k, %v mask %pad {scale = 1.0 : f32, dropout = 0.0 : f32} : (tensor<2x4x8x16xf32>, tensor<2x4x6x16xf32>, tensor<2x4x6x32xf32>, tensor<2x1x1x6xf32>) -> (tensor<2x4x8x32xf32>, tensor<2x4x8xf32>)
  %gq0, %gq1 = ds.attention %q, %kg, %vg {scale = 0.25 : f32} : (tensor<2x4x8x16xf32>, tensor<2x2x6x16xf32>, tensor<2x2x6x32xf32>) -> (tensor<2x4x8x32xf32>, tensor<2x4x8xf32>)
  %dq, %dk, %dv = ds.attention_grad %o0, %q, %k, %v, %o1, %l1 mask %keep {scale = 0.5 : f32, causal = true} : (tensor<2x4x8x32xf32>, tensor<2x4x8x16xf32>, tensor<2x4x6x16xf32>, tensor<2x4x6x32xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8xf32>, tensor<1x1x8x6xi1>) -> (tensor<2x4x8x16xf32>, tensor<2x4x6x16xf32>, tensor<2x4x6x32xf32>)
  return %o2, %o0, %dv : tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>, tensor<2x4x6x32xf32>
}

// Tests that shape and data-movement ops round-trip.
// CHECK-LABEL: func.func @shapes
// CHECK: ds.reshape %{{.*}} : tensor<4x8xf32> to tensor<2x16xf32>
// CHECK: ds.transpose %{{.*}} {perm = array<i64: 1, 0>} : (tensor<4x8xf32>) -> tensor<8x4xf32>
// CHECK: ds.gather %{{.*}}, %{{.*}} : (tensor<65x8xf32>, tensor<4x2xi64>) -> tensor<4x2x8xf32>
// CHECK: ds.slice %{{.*}} {ends = array<i64: 4, 6>, starts = array<i64: 0, 2>, steps = array<i64: 1, 2>} : (tensor<4x8xf32>) -> tensor<4x2xf32>
// CHECK: ds.slice %{{.*}} {ends = array<i64: -1>, starts = array<i64: 7>, steps = array<i64: -1>} : (tensor<8xf32>) -> tensor<8xf32>
// CHECK: ds.split %{{.*}} {axis = 1 : i64, sizes = array<i64: 2, 6>} : (tensor<4x8xf32>) -> (tensor<4x2xf32>, tensor<4x6xf32>)
// CHECK: ds.concat %{{.*}}, %{{.*}} {axis = 1 : i64} : (tensor<4x2xf32>, tensor<4x6xf32>) -> tensor<4x8xf32>
// CHECK: ds.unsqueeze %{{.*}} {axes = array<i64: 0, 2>} : (tensor<4x8xf32>) -> tensor<1x4x1x8xf32>
// CHECK: ds.squeeze %{{.*}} {axes = array<i64: 0, 2>} : (tensor<1x4x1x8xf32>) -> tensor<4x8xf32>
// CHECK: ds.expand %{{.*}} : tensor<1x8xf32> to tensor<3x4x8xf32>
// CHECK: ds.trilu %{{.*}} {k = 1 : i64, upper = true} : tensor<4x8xf32>
// CHECK: ds.constant dense<[1, 2]> : tensor<2xi64>
func.func @shapes(%x: tensor<4x8xf32>, %e: tensor<65x8xf32>, %ids: tensor<4x2xi64>, %v: tensor<8xf32>, %r: tensor<1x8xf32>) {
  %0 = ds.reshape %x : tensor<4x8xf32> to tensor<2x16xf32>
  %1 = ds.transpose %x {perm = array<i64: 1, 0>} : (tensor<4x8xf32>) -> tensor<8x4xf32>
  %2 = ds.gather %e, %ids {axis = 0 : i64} : (tensor<65x8xf32>, tensor<4x2xi64>) -> tensor<4x2x8xf32>
  %3 = ds.slice %x {starts = array<i64: 0, 2>, ends = array<i64: 4, 6>, steps = array<i64: 1, 2>} : (tensor<4x8xf32>) -> tensor<4x2xf32>
  %4 = ds.slice %v {starts = array<i64: 7>, ends = array<i64: -1>, steps = array<i64: -1>} : (tensor<8xf32>) -> tensor<8xf32>
  %5:2 = ds.split %x {axis = 1 : i64, sizes = array<i64: 2, 6>} : (tensor<4x8xf32>) -> (tensor<4x2xf32>, tensor<4x6xf32>)
  %6 = ds.concat %5#0, %5#1 {axis = 1 : i64} : (tensor<4x2xf32>, tensor<4x6xf32>) -> tensor<4x8xf32>
  %7 = ds.unsqueeze %6 {axes = array<i64: 0, 2>} : (tensor<4x8xf32>) -> tensor<1x4x1x8xf32>
  %8 = ds.squeeze %7 {axes = array<i64: 0, 2>} : (tensor<1x4x1x8xf32>) -> tensor<4x8xf32>
  %9 = ds.expand %r : tensor<1x8xf32> to tensor<3x4x8xf32>
  %10 = ds.trilu %8 {upper = true, k = 1 : i64} : tensor<4x8xf32>
  %11 = ds.constant dense<[1, 2]> : tensor<2xi64>
  return
}

// Tests that reductions, dropout and losses round-trip.
// CHECK-LABEL: func.func @training
// CHECK: ds.reduce_sum %{{.*}} {axes = array<i64: 1>, keepdims = false} : (tensor<4x8xf32>) -> tensor<4xf32>
// CHECK: ds.reduce_mean %{{.*}} {axes = array<i64: 1>} : (tensor<4x8xf32>) -> tensor<4x1xf32>
// CHECK: ds.reduce_max %{{.*}} {axes = array<i64>} : (tensor<4x8xf32>) -> tensor<1x1xf32>
// CHECK: ds.dropout %{{.*}} {ratio = 1.000000e-01 : f32, seed = 7 : i64} : (tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xi1>)
// CHECK: ds.softmax_cross_entropy_loss %{{.*}}, %{{.*}} {ignore_index = -100 : i64} : (tensor<4x8xf32>, tensor<4xi64>) -> tensor<f32>
// CHECK: ds.softmax_cross_entropy_loss %{{.*}}, %{{.*}}, %{{.*}} reduction = none : (tensor<4x8x3xf32>, tensor<4x3xi64>, tensor<8xf32>) -> tensor<4x3xf32>
// CHECK: ds.nll_loss %{{.*}}, %{{.*}} reduction = sum : (tensor<4x8xf32>, tensor<4xi64>) -> tensor<f32>
func.func @training(%x: tensor<4x8xf32>, %y: tensor<4xi64>, %s: tensor<4x8x3xf32>, %t: tensor<4x3xi64>, %w: tensor<8xf32>) -> tensor<f32> {
  %0 = ds.reduce_sum %x {axes = array<i64: 1>, keepdims = false} : (tensor<4x8xf32>) -> tensor<4xf32>
  %1 = ds.reduce_mean %x {axes = array<i64: 1>} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %2 = ds.reduce_max %x {axes = array<i64>} : (tensor<4x8xf32>) -> tensor<1x1xf32>
  %3:2 = ds.dropout %x {ratio = 0.1 : f32, seed = 7 : i64} : (tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xi1>)
  %4 = ds.softmax_cross_entropy_loss %3#0, %y {ignore_index = -100 : i64} : (tensor<4x8xf32>, tensor<4xi64>) -> tensor<f32>
  %5 = ds.softmax_cross_entropy_loss %s, %t, %w reduction = none : (tensor<4x8x3xf32>, tensor<4x3xi64>, tensor<8xf32>) -> tensor<4x3xf32>
  %6 = ds.log_softmax %x {axis = 1 : i64} : tensor<4x8xf32>
  %7 = ds.nll_loss %6, %y reduction = sum : (tensor<4x8xf32>, tensor<4xi64>) -> tensor<f32>
  return %4 : tensor<f32>
}

// Tests that the function-level attributes naming inputs, outputs and the loss round-trip.
// CHECK-LABEL: func.func @forward
// CHECK-SAME: %{{.*}}: tensor<4xf32> {ds.input = "x"}
// CHECK-SAME: -> (tensor<f32> {ds.output = "loss"})
// CHECK-SAME: attributes {ds.loss = 0 : i64}
func.func @forward(%x: tensor<4xf32> {ds.input = "x"}) -> (tensor<f32> {ds.output = "loss"}) attributes {ds.loss = 0 : i64} {
  %0 = ds.reduce_sum %x {axes = array<i64>, keepdims = false} : (tensor<4xf32>) -> tensor<f32>
  return %0 : tensor<f32>
}

// Tests that the backward ops round-trip.
// CHECK-LABEL: func.func @backward
// CHECK: ds.softmax_grad %{{.*}}, %{{.*}} {axis = 1 : i64} : tensor<4x8xf32>
// CHECK: ds.log_softmax_grad %{{.*}}, %{{.*}} {axis = 1 : i64} : tensor<4x8xf32>
// CHECK: ds.gelu_grad %{{.*}}, %{{.*}} approximate = tanh : tensor<4x8xf32>
// CHECK: ds.layer_norm_grad %{{.*}}, %{{.*}}, %{{.*}} {axis = 1 : i64} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>)
// CHECK: ds.gather_grad %{{.*}}, %{{.*}} {axis = 0 : i64} : (tensor<4x8xf32>, tensor<4xi64>) -> tensor<16x8xf32>
// CHECK: ds.slice_grad %{{.*}} {ends = array<i64: 4, 8>, starts = array<i64: 0, 0>, steps = array<i64: 1, 2>} : (tensor<4x4xf32>) -> tensor<4x8xf32>
// CHECK: ds.softmax_cross_entropy_loss_grad %{{.*}}, %{{.*}}, %{{.*}} {ignore_index = -100 : i64} : (tensor<f32>, tensor<4x8xf32>, tensor<4xi64>) -> tensor<4x8xf32>
// CHECK: ds.nll_loss_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} reduction = sum : (tensor<f32>, tensor<4x8xf32>, tensor<4xi64>, tensor<8xf32>) -> tensor<4x8xf32>
func.func @backward(%g: tensor<4x8xf32>, %y: tensor<4x8xf32>, %s: tensor<8xf32>, %ids: tensor<4xi64>, %h: tensor<4x4xf32>, %l: tensor<f32>) {
  %0 = ds.softmax_grad %g, %y {axis = 1 : i64} : tensor<4x8xf32>
  %1 = ds.log_softmax_grad %g, %y {axis = 1 : i64} : tensor<4x8xf32>
  %2 = ds.gelu_grad %g, %y approximate = tanh : tensor<4x8xf32>
  %3:3 = ds.layer_norm_grad %g, %y, %s {axis = 1 : i64} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>)
  %4 = ds.gather_grad %g, %ids {axis = 0 : i64} : (tensor<4x8xf32>, tensor<4xi64>) -> tensor<16x8xf32>
  %5 = ds.slice_grad %h {starts = array<i64: 0, 0>, ends = array<i64: 4, 8>, steps = array<i64: 1, 2>} : (tensor<4x4xf32>) -> tensor<4x8xf32>
  %6 = ds.softmax_cross_entropy_loss_grad %l, %g, %ids {ignore_index = -100 : i64} : (tensor<f32>, tensor<4x8xf32>, tensor<4xi64>) -> tensor<4x8xf32>
  %7 = ds.nll_loss_grad %l, %g, %ids, %s reduction = sum : (tensor<f32>, tensor<4x8xf32>, tensor<4xi64>, tensor<8xf32>) -> tensor<4x8xf32>
  return
}

// Tests that training state, optimizer updates, the scheduler, the loss scaler and the
// ZeRO helpers round-trip.
// CHECK: ds.parameter @z : tensor<3x3xf32> sharded 5 from "z"
// CHECK: ds.state exp_avg @w.exp_avg : tensor<8xf32> of @w
// CHECK-LABEL: func.func @optimizer
// CHECK: ds.state_ref @w.exp_avg : tensor<8xf32>
// CHECK: ds.all_finite %{{.*}}, %{{.*}} : tensor<8xf32>, tensor<f32>
// CHECK: ds.adam_update {{.*}} if %{{.*}} {adam_w_mode = true, {{.*}}} : tensor<8xf32>
// CHECK: ds.lamb_update {{.*}}max_coeff = 1.000000e+01 : f32{{.*}} : tensor<8xf32>
// CHECK: ds.sgd_update {{.*}}nesterov = true{{.*}} : tensor<8xf32>
// CHECK: ds.lr_schedule WarmupLR %{{.*}} {lr = 1.000000e-03 : f32, warmup_num_steps = 10 : i64} : tensor<f32>
// CHECK: ds.loss_scale_update %{{.*}}, %{{.*}}, %{{.*}} {{{.*}}zero = true} : tensor<3xi64>
// CHECK: ds.rank_slice %{{.*}} : tensor<16xf32> to tensor<8xf32>
// CHECK: ds.assign @w.exp_avg, %{{.*}} : tensor<8xf32>
// CHECK: ds.grad_norm_sq %{{.*}}, %{{.*}} : tensor<8xf32>, tensor<16xf16>
ds.parameter @z : tensor<3x3xf32> sharded 5 from "z"
ds.state exp_avg @w.exp_avg : tensor<8xf32> of @w
func.func @optimizer(%p: tensor<8xf32>, %g: tensor<8xf32>, %lr: tensor<f32>, %t: tensor<i64>, %c: tensor<3xi64>, %flat: tensor<16xf32>, %h: tensor<16xf16>) {
  %m = ds.state_ref @w.exp_avg : tensor<8xf32>
  %ok = ds.all_finite %g, %lr : tensor<8xf32>, tensor<f32>
  %0:3 = ds.adam_update %p, %g, %m, %m, %lr, %t if %ok {beta1 = 0.9 : f32, beta2 = 0.999 : f32, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32, adam_w_mode = true, bias_correction = true} : tensor<8xf32>
  %1:3 = ds.lamb_update %p, %g, %m, %m, %lr, %t {beta1 = 0.9 : f32, beta2 = 0.999 : f32, eps = 1.0e-6 : f32, weight_decay = 0.0 : f32, bias_correction = true, min_coeff = 0.01 : f32, max_coeff = 10.0 : f32} : tensor<8xf32>
  %2:2 = ds.sgd_update %p, %g, %m, %lr, %t {momentum = 0.9 : f32, dampening = 0.0 : f32, weight_decay = 0.0 : f32, nesterov = true} : tensor<8xf32>
  %3 = ds.lr_schedule WarmupLR %t {lr = 1.0e-3 : f32, warmup_num_steps = 10 : i64} : tensor<f32>
  %4:2 = ds.loss_scale_update %ok, %lr, %c {dynamic = true, scale_factor = 2.0 : f32, scale_window = 1000 : i64, hysteresis = 2 : i64, consecutive_hysteresis = false, min_scale = 1.0 : f32, zero = true} : tensor<3xi64>
  %5 = ds.rank_slice %flat : tensor<16xf32> to tensor<8xf32>
  ds.assign @w.exp_avg, %0#1 : tensor<8xf32>
  %6 = ds.grad_norm_sq %g, %h : tensor<8xf32>, tensor<16xf16>
  return
}
}

// Tests that every state kind, every lr schedule and the memory spaces of module state
// round-trip; the default space (device) is not printed.
// CHECK: ds.parameter @p : tensor<8xf32> from "p"{{$}}
// CHECK: ds.parameter frozen @q : tensor<8xf32> from "q" in host
// CHECK: ds.parameter @r : tensor<8xf32> sharded 4 from "r" in nvme
// CHECK: ds.state grad @p.grad : tensor<8xf32> of @p{{$}}
// CHECK: ds.state master @p.master : tensor<8xf32> of @p in host
// CHECK: ds.state exp_avg @p.exp_avg : tensor<8xf32> of @p in nvme
// CHECK: ds.state exp_avg_sq @p.exp_avg_sq : tensor<8xf32> of @p
// CHECK: ds.state momentum_buffer @p.momentum_buffer : tensor<8xf32> of @p
// CHECK: ds.state step @step : tensor<i64>
// CHECK: ds.state loss_scale @loss_scale : tensor<f32>
// CHECK: ds.state loss_scale_counters @loss_scale_counters : tensor<3xi64>
// CHECK-LABEL: func.func @schedules
// CHECK: ds.lr_schedule constant
// CHECK: ds.lr_schedule WarmupDecayLR
// CHECK: ds.lr_schedule WarmupCosineLR
module {
ds.parameter @p : tensor<8xf32> from "p" in device
ds.parameter frozen @q : tensor<8xf32> from "q" in host
ds.parameter @r : tensor<8xf32> sharded 4 from "r" in nvme
ds.state grad @p.grad : tensor<8xf32> of @p
ds.state master @p.master : tensor<8xf32> of @p in host
ds.state exp_avg @p.exp_avg : tensor<8xf32> of @p in nvme
ds.state exp_avg_sq @p.exp_avg_sq : tensor<8xf32> of @p
ds.state momentum_buffer @p.momentum_buffer : tensor<8xf32> of @p
ds.state step @step : tensor<i64>
ds.state loss_scale @loss_scale : tensor<f32>
ds.state loss_scale_counters @loss_scale_counters : tensor<3xi64>
func.func @schedules(%t: tensor<i64>) {
  %0 = ds.lr_schedule constant %t {lr = 1.0e-3 : f32} : tensor<f32>
  %1 = ds.lr_schedule WarmupDecayLR %t {lr = 1.0e-3 : f32, total_num_steps = 100 : i64} : tensor<f32>
  %2 = ds.lr_schedule WarmupCosineLR %t {lr = 1.0e-3 : f32, total_num_steps = 100 : i64} : tensor<f32>
  return
}
}
