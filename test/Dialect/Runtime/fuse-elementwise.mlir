// RUN: ds-opt %s --split-input-file --ds-fuse-elementwise | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-fuse-elementwise | ds-opt --split-input-file | FileCheck %s

// Tests that a GELU-like chain of kernels with a broadcast bias and scalar constants becomes
// one fused_elementwise kernel: the constant exact in bf16 (3.0) becomes a `const`
// instruction, the inexact one (0.044715, whose kernel rounds it) stays a kernel whose buffer
// is an input; every other intermediate transient is gone.
// CHECK-LABEL: func.func @gelu_chain
//  CHECK-NEXT:   %[[C:.+]] = dsrt.alloc : memref<bf16>
//  CHECK-NEXT:   dsrt.kernel "fill" outs(%[[C]] : memref<bf16>)
//  CHECK-NEXT:   dsrt.kernel "fused_elementwise" ins(%arg0, %arg1, %[[C]] : memref<4x8xbf16>, memref<8xbf16>, memref<bf16>) outs(%arg2 : memref<4x8xbf16>)
//  CHECK-SAME:     program = array<i64: 0, 4, 0, 1, 0, 29, 4, 1077936128, 0, 0, 4, 4, 3, 4, 0, 2, 4, 5, 2, 0, 0, 4, 3, 6, 0, 17, 4, 7, 0, 0, 2, 4, 3, 8, 0>
//  CHECK-NEXT:   return
func.func @gelu_chain(%x: memref<4x8xbf16>, %bias: memref<8xbf16>, %out: memref<4x8xbf16>) {
  %xb = dsrt.alloc : memref<4x8xbf16>
  dsrt.kernel "add" ins(%x, %bias : memref<4x8xbf16>, memref<8xbf16>) outs(%xb : memref<4x8xbf16>)
  %c3 = dsrt.alloc : memref<bf16>
  dsrt.kernel "constant" outs(%c3 : memref<bf16>) {attrs = {value = 3.0 : f32}}
  %x3 = dsrt.alloc : memref<4x8xbf16>
  dsrt.kernel "pow" ins(%xb, %c3 : memref<4x8xbf16>, memref<bf16>) outs(%x3 : memref<4x8xbf16>)
  %c = dsrt.alloc : memref<bf16>
  dsrt.kernel "fill" outs(%c : memref<bf16>) {attrs = {value = 0.044715 : f32}}
  %t1 = dsrt.alloc : memref<4x8xbf16>
  dsrt.kernel "mul" ins(%x3, %c : memref<4x8xbf16>, memref<bf16>) outs(%t1 : memref<4x8xbf16>)
  %x2 = dsrt.alloc : memref<4x8xbf16>
  dsrt.kernel "add" ins(%xb, %t1 : memref<4x8xbf16>, memref<4x8xbf16>) outs(%x2 : memref<4x8xbf16>)
  %th = dsrt.alloc : memref<4x8xbf16>
  dsrt.kernel "tanh" ins(%x2 : memref<4x8xbf16>) outs(%th : memref<4x8xbf16>)
  dsrt.kernel "mul" ins(%xb, %th : memref<4x8xbf16>, memref<4x8xbf16>) outs(%out : memref<4x8xbf16>)
  return
}

// -----

// Tests that a transient read twice is not fused (the kernels that read it would each need
// it), a cast stays apart from an f64 kernel, and the chain after the shared value fuses.
// CHECK-LABEL: func.func @shared_intermediate
//       CHECK:   %[[T:.+]] = dsrt.alloc : memref<16xf32>
//       CHECK:   dsrt.kernel "exp" ins(%arg0 : memref<16xf32>) outs(%[[T]] : memref<16xf32>)
//       CHECK:   dsrt.kernel "fused_elementwise" ins(%[[T]], %arg1 : memref<16xf32>, memref<16xf32>) outs(%arg2 : memref<16xf32>)
//  CHECK-SAME:     program = array<i64: 2, 1, 0, 1, 0, 11, 1, 2, 0, 0>
//       CHECK:   dsrt.kernel "add" ins(%[[T]], %arg1
//       CHECK:   dsrt.kernel "cast"
func.func @shared_intermediate(%x: memref<16xf32>, %y: memref<16xf32>, %out: memref<16xf32>, %out2: memref<16xf32>, %d: memref<16xf64>) {
  %t = dsrt.alloc : memref<16xf32>
  dsrt.kernel "exp" ins(%x : memref<16xf32>) outs(%t : memref<16xf32>)
  %u = dsrt.alloc : memref<16xf32>
  dsrt.kernel "mul" ins(%t, %y : memref<16xf32>, memref<16xf32>) outs(%u : memref<16xf32>)
  dsrt.kernel "neg" ins(%u : memref<16xf32>) outs(%out : memref<16xf32>)
  %v = dsrt.alloc : memref<16xf32>
  dsrt.kernel "add" ins(%t, %y : memref<16xf32>, memref<16xf32>) outs(%v : memref<16xf32>)
  dsrt.kernel "cast" ins(%v : memref<16xf32>) outs(%d : memref<16xf64>)
  return
}

// -----

// Tests that a producer is not moved past a kernel that overwrites what it reads: the
// gradient is zeroed between the cast that reads it and the multiply that uses the cast.
// CHECK-LABEL: func.func @write_after_read
//       CHECK:   dsrt.kernel "cast"
//       CHECK:   dsrt.kernel "fill"
//       CHECK:   dsrt.kernel "mul"
//   CHECK-NOT:   fused_elementwise
dsrt.global @w.grad : memref<16xbf16>
func.func @write_after_read(%s: memref<f32>, %out: memref<16xf32>) {
  %g = dsrt.param @w.grad : memref<16xbf16>
  %f = dsrt.alloc : memref<16xf32>
  dsrt.kernel "cast" ins(%g : memref<16xbf16>) outs(%f : memref<16xf32>)
  %g2 = dsrt.param @w.grad : memref<16xbf16>
  dsrt.kernel "fill" outs(%g2 : memref<16xbf16>) {attrs = {value = 0.0 : f32}}
  dsrt.kernel "mul" ins(%f, %s : memref<16xf32>, memref<f32>) outs(%out : memref<16xf32>)
  return
}

// -----

// Tests that a chain whose last kernel writes a global it also reads fuses (the whole
// buffer, element by element: in place), and that where, comparisons and a scalar-shaped
// input fuse too.
// CHECK-LABEL: func.func @in_place_update
//       CHECK:   %[[W:.+]] = dsrt.param @w :
//       CHECK:   %[[W2:.+]] = dsrt.param @w :
//       CHECK:   dsrt.kernel "fused_elementwise" ins(%[[W]], %arg0 : memref<16xf32>, memref<f32>) outs(%[[W2]] : memref<16xf32>)
//  CHECK-SAME:     program = array<i64: 9, 7, 0, 1, 0, 10, 1, 2, 0, 1>
dsrt.global @w : memref<16xf32>
func.func @in_place_update(%s: memref<f32>) {
  %w = dsrt.param @w : memref<16xf32>
  %m = dsrt.alloc : memref<16xi1>
  dsrt.kernel "greater" ins(%w, %s : memref<16xf32>, memref<f32>) outs(%m : memref<16xi1>)
  %w2 = dsrt.param @w : memref<16xf32>
  dsrt.kernel "where" ins(%m, %w, %s : memref<16xi1>, memref<16xf32>, memref<f32>) outs(%w2 : memref<16xf32>)
  return
}

// -----

// Tests that a transient the group reads several times (x * x, and again in the add) is one
// register of the program.
// CHECK-LABEL: func.func @square
//  CHECK-NEXT:   dsrt.kernel "fused_elementwise" ins(%arg0 : memref<16xbf16>) outs(%arg1 : memref<16xf32>)
//  CHECK-SAME:     program = array<i64: 28, 1, 0, 0, 0, 2, 1, 1, 1, 0, 0, 1, 2, 1, 0>
//  CHECK-NEXT:   return
func.func @square(%x: memref<16xbf16>, %out: memref<16xf32>) {
  %f = dsrt.alloc : memref<16xf32>
  dsrt.kernel "cast" ins(%x : memref<16xbf16>) outs(%f : memref<16xf32>)
  %sq = dsrt.alloc : memref<16xf32>
  dsrt.kernel "mul" ins(%f, %f : memref<16xf32>, memref<16xf32>) outs(%sq : memref<16xf32>)
  dsrt.kernel "add" ins(%sq, %f : memref<16xf32>, memref<16xf32>) outs(%out : memref<16xf32>)
  return
}

// -----

// Tests that an equal of two i1 operands (a mask compared with false) fuses with the
// comparison that produced its mask.
// CHECK-LABEL: func.func @mask_chain
//  CHECK-NEXT:   dsrt.kernel "fused_elementwise" ins(%arg0, %arg1, %arg2 : memref<4x4xbf16>, memref<bf16>, memref<i1>) outs(%arg3 : memref<4x4xi1>)
//  CHECK-NEXT:   return
func.func @mask_chain(%m: memref<4x4xbf16>, %zero: memref<bf16>, %false: memref<i1>, %out: memref<4x4xi1>) {
  %e = dsrt.alloc : memref<4x4xi1>
  dsrt.kernel "equal" ins(%m, %zero : memref<4x4xbf16>, memref<bf16>) outs(%e : memref<4x4xi1>)
  dsrt.kernel "equal" ins(%e, %false : memref<4x4xi1>, memref<i1>) outs(%out : memref<4x4xi1>)
  return
}
