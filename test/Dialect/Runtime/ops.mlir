// RUN: ds-opt %s | FileCheck %s
// RUN: ds-opt %s | ds-opt | FileCheck %s
// RUN: ds-opt %s --mlir-print-op-generic | ds-opt | FileCheck %s

// Tests that the runtime ops round-trip: buffers, parameter and state buffers, views and
// kernel calls on a stream with attributes.
// CHECK-LABEL: func.func @program
//  CHECK-SAME: dsrt.role = "micro_step"
//       CHECK: %[[W:.+]] = dsrt.param @w : memref<4x4xf32>
//       CHECK: %[[B:.+]] = dsrt.alloc {offset = 64 : i64} : memref<4x4xf32>
//       CHECK: dsrt.kernel "matmul" ins(%{{.+}}, %[[W]] : memref<4x4xf32>, memref<4x4xf32>) outs(%[[B]] : memref<4x4xf32>)
//       CHECK: %[[V:.+]] = dsrt.view %[[B]] : memref<4x4xf32> to memref<16xf32>
//       CHECK: dsrt.kernel "all_reduce" ins(%[[V]] : memref<16xf32>) outs(%{{.+}} : memref<16xf32>) {attrs = {reduction = "sum"}, stream = "comm"}
//       CHECK: dsrt.kernel "fill" outs(%{{.+}} : memref<16xf32>) {attrs = {value = 0.000000e+00 : f64}}
ds.parameter @w : tensor<4x4xf32> from "w"
ds.state @m : tensor<16xf32> {kind = "exp_avg"}
func.func @program(%x: memref<4x4xf32>) attributes {dsrt.role = "micro_step"} {
  %w = dsrt.param @w : memref<4x4xf32>
  %b = dsrt.alloc {offset = 64 : i64} : memref<4x4xf32>
  dsrt.kernel "matmul" ins(%x, %w : memref<4x4xf32>, memref<4x4xf32>) outs(%b : memref<4x4xf32>)
  %v = dsrt.view %b : memref<4x4xf32> to memref<16xf32>
  %m = dsrt.param @m : memref<16xf32>
  dsrt.kernel "all_reduce" ins(%v : memref<16xf32>) outs(%m : memref<16xf32>) {attrs = {reduction = "sum"}, stream = "comm"}
  dsrt.kernel "fill" outs(%m : memref<16xf32>) {attrs = {value = 0.0 : f64}}
  return
}
