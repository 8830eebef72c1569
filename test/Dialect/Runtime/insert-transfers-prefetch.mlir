// RUN: ds-opt %s --ds-autodiff --ds-build-train-step --ds-zero="stage=3 world-size=2 param-persistence-threshold=4 prefetch-bucket-size=1" --ds-offload="optimizer=cpu param=nvme max-in-cpu=0" --ds-convert-to-runtime --ds-insert-transfers | FileCheck %s

// Tests that a stage-3 parameter shard offloaded to NVMe crosses to the device one
// all-gather ahead of its own: @w2's swap-in and host-to-device copy are issued before
// @w1's all-gather (prefetch buckets of one parameter), so they overlap it, and @w2's
// backward re-gather is fetched before @w2's forward gather.
// CHECK-LABEL: func.func @micro_step
//       CHECK: dsrt.kernel "swap_in" ins(%{{.+}} : memref<8xf32>) outs(%[[W1H:.+]] : memref<8xf32>) on io
//       CHECK: dsrt.kernel "copy" ins(%[[W1H]] : memref<8xf32>) outs(%[[W1D:.+]] : memref<8xf32>) on copy
//       CHECK: dsrt.kernel "swap_in" ins(%{{.+}} : memref<6xf32>) outs(%[[W2H:.+]] : memref<6xf32>) on io
//       CHECK: dsrt.kernel "copy" ins(%[[W2H]] : memref<6xf32>) outs(%[[W2D:.+]] : memref<6xf32>) on copy
//  CHECK-NEXT: dsrt.kernel "all_gather" ins(%[[W1D]] : memref<8xf32>)
//       CHECK: dsrt.kernel "swap_in" ins(%{{.+}} : memref<6xf32>) outs(%[[W2B:.+]] : memref<6xf32>) on io
//       CHECK: dsrt.kernel "all_gather" ins(%[[W2D]] : memref<6xf32>)
//       CHECK: dsrt.kernel "all_gather"
module {
ds.parameter @w1 : tensor<5x3xf32> from "w1"
ds.parameter @w2 : tensor<3x4xf32> from "w2"
ds.parameter @b : tensor<4xf32> from "b"
func.func @forward(%x: tensor<2x5xf32> {ds.input = "x"}, %y: tensor<2xi64> {ds.input = "y"}) -> (tensor<f32> {ds.output = "loss"}) attributes {ds.loss = 0 : i64} {
  %w1 = ds.param_ref @w1 : tensor<5x3xf32>
  %w2 = ds.param_ref @w2 : tensor<3x4xf32>
  %b = ds.param_ref @b : tensor<4xf32>
  %h = ds.matmul %x, %w1 : (tensor<2x5xf32>, tensor<5x3xf32>) -> tensor<2x3xf32>
  %r = ds.tanh %h : tensor<2x3xf32>
  %o = ds.matmul %r, %w2 : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  %z = ds.add %o, %b : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %l = ds.softmax_cross_entropy_loss %z, %y : (tensor<2x4xf32>, tensor<2xi64>) -> tensor<f32>
  return %l : tensor<f32>
}
}
