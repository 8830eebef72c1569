// RUN: ds-opt %s --split-input-file --ds-convert-to-runtime | FileCheck %s

// Tests that each ds op becomes an alloc for its result and a kernel that writes it,
// that parameters read their persistent buffers, and that signatures become memrefs.
// CHECK-LABEL: func.func @mlp
//  CHECK-SAME: (%[[X:.+]]: memref<8x16xf32> {ds.input = "x"}) -> (memref<8x4xf32> {ds.output = "y"})
//  CHECK-SAME: dsrt.role = "inference"
//       CHECK:   %[[W:.+]] = dsrt.param @w : memref<16x4xf32>
//       CHECK:   %[[MM:.+]] = dsrt.alloc : memref<8x4xf32>
//  CHECK-NEXT:   dsrt.kernel "matmul" ins(%[[X]], %[[W]] : memref<8x16xf32>, memref<16x4xf32>) outs(%[[MM]] : memref<8x4xf32>)
//       CHECK:   %[[R:.+]] = dsrt.alloc : memref<8x4xf32>
//  CHECK-NEXT:   dsrt.kernel "relu" ins(%[[MM]] : memref<8x4xf32>) outs(%[[R]] : memref<8x4xf32>)
//       CHECK:   return %[[R]] : memref<8x4xf32>
ds.parameter @w : tensor<16x4xf32> from "w"
func.func @mlp(%x: tensor<8x16xf32> {ds.input = "x"}) -> (tensor<8x4xf32> {ds.output = "y"}) {
  %w = ds.param_ref @w : tensor<16x4xf32>
  %0 = ds.matmul %x, %w : (tensor<8x16xf32>, tensor<16x4xf32>) -> tensor<8x4xf32>
  %1 = ds.relu %0 : tensor<8x4xf32>
  return %1 : tensor<8x4xf32>
}

// -----

// Tests that defaulted attributes are spelled out for the runtime.
// CHECK-LABEL: func.func @defaults
//       CHECK: dsrt.kernel "gather" {{.*}} {attrs = {axis = 0 : i64}}
//       CHECK: dsrt.kernel "gemm" {{.*}} {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = false, trans_b = true}}
//       CHECK: dsrt.kernel "layer_norm" {{.*}} {attrs = {axis = 1 : i64, epsilon = 9.99999974E-6 : f32}}
//       CHECK: dsrt.kernel "gelu" {{.*}} {attrs = {approximate = "none"}}
//       CHECK: dsrt.kernel "reduce_mean" {{.*}} {attrs = {axes = array<i64: 1>, keepdims = true}}
//       CHECK: dsrt.kernel "dropout" {{.*}} outs(%{{.+}}, %{{.+}} : memref<4x8xf32>, memref<4x8xi1>) {attrs = {ratio = 1.000000e-01 : f32, seed = 0 : i64}}
//       CHECK: dsrt.kernel "softmax_cross_entropy_loss" {{.*}} {attrs = {ignore_index = -100 : i64, reduction = "mean"}}
//       CHECK: dsrt.kernel "trilu" {{.*}} {attrs = {k = 0 : i64, upper = false}}
//       CHECK: dsrt.kernel "constant" outs(%{{.+}} : memref<2xi64>) {attrs = {value = dense<[3, 4]> : tensor<2xi64>}}
func.func @defaults(%e: tensor<16x8xf32>, %ids: tensor<4xi64>, %b: tensor<8x8xf32>, %g: tensor<8xf32>) -> tensor<f32> {
  %0 = ds.gather %e, %ids : (tensor<16x8xf32>, tensor<4xi64>) -> tensor<4x8xf32>
  %1 = ds.gemm %0, %b {trans_b} : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %2 = ds.layer_norm %1, %g {axis = 1 : i64} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %3 = ds.gelu %2 : tensor<4x8xf32>
  %4 = ds.reduce_mean %3 {axes = array<i64: 1>} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %5:2 = ds.dropout %3 {ratio = 0.1 : f32} : (tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xi1>)
  %6 = ds.softmax_cross_entropy_loss %5#0, %ids {ignore_index = -100 : i64} : (tensor<4x8xf32>, tensor<4xi64>) -> tensor<f32>
  %7 = ds.trilu %b {upper = false} : tensor<8x8xf32>
  %8 = ds.constant dense<[3, 4]> : tensor<2xi64>
  return %6 : tensor<f32>
}
