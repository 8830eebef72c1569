// RUN: ds-opt %s | FileCheck %s
// RUN: ds-opt %s | ds-opt | FileCheck %s
// RUN: ds-opt %s --mlir-print-op-generic | ds-opt | FileCheck %s

// Tests that the runtime ops round-trip: buffers, globals and their buffers, views and
// kernel calls on a stream with attributes.
// CHECK: dsrt.global trainable @w : memref<4x4xf32> from "w"{{$}}
// CHECK: dsrt.global @m : memref<16xf32>{{$}}
// CHECK-LABEL: func.func @program
//  CHECK-SAME: dsrt.role = #dsrt.role<micro_step>
//       CHECK: %[[W:.+]] = dsrt.param @w : memref<4x4xf32>
//       CHECK: %[[B:.+]] = dsrt.alloc {offset = 64 : i64} : memref<4x4xf32>
//       CHECK: dsrt.kernel "matmul" ins(%{{.+}}, %[[W]] : memref<4x4xf32>, memref<4x4xf32>) outs(%[[B]] : memref<4x4xf32>)
//       CHECK: %[[V:.+]] = dsrt.view %[[B]] : memref<4x4xf32> to memref<16xf32>
//       CHECK: dsrt.kernel "all_reduce" ins(%[[V]] : memref<16xf32>) outs(%{{.+}} : memref<16xf32>) on comm {attrs = {reduction = "sum"}}
//       CHECK: dsrt.kernel "fill" outs(%{{.+}} : memref<16xf32>) {attrs = {value = 0.000000e+00 : f64}}
dsrt.global trainable @w : memref<4x4xf32> from "w"
dsrt.global @m : memref<16xf32>
func.func @program(%x: memref<4x4xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %w = dsrt.param @w : memref<4x4xf32>
  %b = dsrt.alloc {offset = 64 : i64} : memref<4x4xf32>
  dsrt.kernel "matmul" ins(%x, %w : memref<4x4xf32>, memref<4x4xf32>) outs(%b : memref<4x4xf32>)
  %v = dsrt.view %b : memref<4x4xf32> to memref<16xf32>
  %m = dsrt.param @m : memref<16xf32>
  dsrt.kernel "all_reduce" ins(%v : memref<16xf32>) outs(%m : memref<16xf32>) on comm {attrs = {reduction = "sum"}}
  dsrt.kernel "fill" outs(%m : memref<16xf32>) {attrs = {value = 0.0 : f64}}
  return
}


// Tests that globals keep their memory space, initializer, shard and offset, and that
// every stream and program role round-trips.
// CHECK: dsrt.global @a : memref<4xf32> from "a" in host {offset = 0 : i64}
// CHECK: dsrt.global trainable @b : memref<3xf32> shard of 9 from "b" in nvme
// CHECK: dsrt.global @c : memref<4xf32>{{$}}
// CHECK-LABEL: func.func @init
//  CHECK-SAME: dsrt.role = #dsrt.role<init>
//       CHECK: dsrt.kernel "fill" outs(%{{.+}} : memref<4xf32>) on copy
//       CHECK: dsrt.kernel "fill" outs(%{{.+}} : memref<4xf32>) on io
//       CHECK: dsrt.kernel "fill" outs(%{{.+}} : memref<4xf32>) on host
//       CHECK: dsrt.kernel "fill" outs(%{{.+}} : memref<4xf32>) {attrs
// CHECK-LABEL: func.func @other
//  CHECK-SAME: dsrt.role = #dsrt.role<apply_step>
module {
dsrt.global @a : memref<4xf32> from "a" in host {offset = 0 : i64}
dsrt.global trainable @b : memref<3xf32> shard of 9 from "b" in nvme
dsrt.global @c : memref<4xf32> in device
func.func @init() attributes {dsrt.role = #dsrt.role<init>} {
  %c = dsrt.param @c : memref<4xf32>
  dsrt.kernel "fill" outs(%c : memref<4xf32>) on copy {attrs = {value = 0.0 : f64}}
  dsrt.kernel "fill" outs(%c : memref<4xf32>) on io {attrs = {value = 0.0 : f64}}
  dsrt.kernel "fill" outs(%c : memref<4xf32>) on host {attrs = {value = 0.0 : f64}}
  dsrt.kernel "fill" outs(%c : memref<4xf32>) on compute {attrs = {value = 0.0 : f64}}
  return
}
func.func @other() attributes {dsrt.role = #dsrt.role<apply_step>} {
  return
}
}
