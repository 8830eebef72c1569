// RUN: ds-opt %s --ds-mixed-precision | FileCheck %s

// Tests that under bf16 attention computes on bf16 q, k, v and output but keeps its per-row
// log-sum-exp in f32 (the backward pass exponentiates it; bf16 would cost 2^-8 relative).
// CHECK-LABEL: func.func @forward
//       CHECK: ds.attention %{{.+}}, %{{.+}}, %{{.+}} {causal = true, scale = 2.500000e-01 : f32} : (tensor<2x4x8xbf16>, tensor<2x4x8xbf16>, tensor<2x4x8xbf16>) -> (tensor<2x4x8xbf16>, tensor<2x4xf32>)
module attributes {ds.model_file = "m.onnx"} {
ds.parameter @w : tensor<8x8xf32> from "w"
func.func @forward(%x: tensor<2x4x8xf32> {ds.input = "x"}) -> (tensor<f32> {ds.output = "loss"}) attributes {ds.loss = 0 : i64} {
  %w = ds.param_ref @w : tensor<8x8xf32>
  %q = ds.matmul %x, %w : (tensor<2x4x8xf32>, tensor<8x8xf32>) -> tensor<2x4x8xf32>
  %o, %lse = ds.attention %q, %q, %q {scale = 0.25 : f32, causal = true} : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> (tensor<2x4x8xf32>, tensor<2x4xf32>)
  %l = ds.reduce_sum %o {axes = array<i64>, keepdims = false} : (tensor<2x4x8xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
}
