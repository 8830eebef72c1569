// RUN: ds-opt %s --split-input-file --ds-fuse-gemm | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-fuse-gemm | ds-opt --split-input-file | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-fuse-gemm="matmuls=false transposes=false adds=false" | FileCheck %s --check-prefix=OFF
// RUN: ds-opt %s --split-input-file --ds-fuse-gemm="adds=false" | FileCheck %s --check-prefix=NOADD

// Tests that a Linear layer's forward (transpose of the [out, in] weight, matmul of a 3-D
// input, bias add) becomes one gemm over 2-D views reading the weight with trans_b and the
// bias as c; the transpose, the matmul and the add are gone.
// CHECK-LABEL: func.func @linear_forward
//  CHECK-NEXT:   %[[X:.+]] = dsrt.view %arg0 : memref<2x5x4xbf16> to memref<10x4xbf16>
//  CHECK-NEXT:   %[[Z:.+]] = dsrt.view %arg3 : memref<2x5x3xbf16> to memref<10x3xbf16>
//  CHECK-NEXT:   dsrt.kernel "gemm" ins(%[[X]], %arg1, %arg2 : memref<10x4xbf16>, memref<3x4xbf16>, memref<3xbf16>) outs(%[[Z]] : memref<10x3xbf16>)
//  CHECK-SAME:     {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = false, trans_b = true}}
//  CHECK-NEXT:   return
// OFF-LABEL: func.func @linear_forward
//       OFF:   dsrt.kernel "transpose"
//       OFF:   dsrt.kernel "matmul"
//       OFF:   dsrt.kernel "add"
// NOADD-LABEL: func.func @linear_forward
//       NOADD:   dsrt.kernel "gemm" ins(%{{.+}}, %arg1 : memref<10x4xbf16>, memref<3x4xbf16>) outs(%{{.+}} : memref<10x3xbf16>)
//  NOADD-SAME:     trans_b = true
//  NOADD-NEXT:   dsrt.kernel "add" ins(%arg2, %{{.+}} : memref<3xbf16>, memref<2x5x3xbf16>) outs(%arg3
func.func @linear_forward(%x: memref<2x5x4xbf16>, %w: memref<3x4xbf16>, %bias: memref<3xbf16>, %z: memref<2x5x3xbf16>) {
  %wt = dsrt.alloc : memref<4x3xbf16>
  dsrt.kernel "transpose" ins(%w : memref<3x4xbf16>) outs(%wt : memref<4x3xbf16>) {attrs = {perm = array<i64: 1, 0>}}
  %y = dsrt.alloc : memref<2x5x3xbf16>
  dsrt.kernel "matmul" ins(%x, %wt : memref<2x5x4xbf16>, memref<4x3xbf16>) outs(%y : memref<2x5x3xbf16>)
  dsrt.kernel "add" ins(%bias, %y : memref<3xbf16>, memref<2x5x3xbf16>) outs(%z : memref<2x5x3xbf16>)
  return
}

// -----

// Tests that the weight gradient of such a layer (x^T g, transposed to the weight's
// [out, in] layout, added to the gradient global) is one gemm g^T x that accumulates into
// the global in place.
// CHECK-LABEL: func.func @weight_gradient
//   CHECK-NOT:   dsrt.alloc
//       CHECK:   %[[G:.+]] = dsrt.param @w.grad : memref<3x4xf32>
//  CHECK-NEXT:   %[[G2:.+]] = dsrt.param @w.grad : memref<3x4xf32>
//  CHECK-NEXT:   dsrt.kernel "gemm" ins(%arg1, %arg0, %[[G]] : memref<10x3xf32>, memref<10x4xf32>, memref<3x4xf32>) outs(%[[G2]] : memref<3x4xf32>)
//  CHECK-SAME:     {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = true, trans_b = false}}
//  CHECK-NEXT:   return
// NOADD-LABEL: func.func @weight_gradient
//       NOADD:   dsrt.kernel "gemm" ins(%arg1, %arg0 : memref<10x3xf32>, memref<10x4xf32>) outs(%{{.+}} : memref<3x4xf32>)
//  NOADD-SAME:     trans_a = true, trans_b = false
//  NOADD-NEXT:   dsrt.param @w.grad
//  NOADD-NEXT:   dsrt.param @w.grad
//  NOADD-NEXT:   dsrt.kernel "add"
dsrt.global @w.grad : memref<3x4xf32>
func.func @weight_gradient(%x: memref<10x4xf32>, %g: memref<10x3xf32>) {
  %xg = dsrt.alloc : memref<4x3xf32>
  dsrt.kernel "gemm" ins(%x, %g : memref<10x4xf32>, memref<10x3xf32>) outs(%xg : memref<4x3xf32>) {attrs = {alpha = 1.0 : f32, beta = 1.0 : f32, trans_a = true, trans_b = false}}
  %t = dsrt.alloc : memref<3x4xf32>
  dsrt.kernel "transpose" ins(%xg : memref<4x3xf32>) outs(%t : memref<3x4xf32>) {attrs = {perm = array<i64: 1, 0>}}
  %acc = dsrt.param @w.grad : memref<3x4xf32>
  %new = dsrt.param @w.grad : memref<3x4xf32>
  dsrt.kernel "add" ins(%acc, %t : memref<3x4xf32>, memref<3x4xf32>) outs(%new : memref<3x4xf32>)
  return
}

// -----

// Tests that a transpose whose source is overwritten before the gemm reads it, and a
// product that another kernel also reads, are left alone (the matmul still becomes a gemm).
// CHECK-LABEL: func.func @not_folded
//       CHECK:   dsrt.kernel "transpose"
//       CHECK:   dsrt.kernel "fill" outs(%arg1
//       CHECK:   dsrt.kernel "gemm" ins(%arg0, %{{.+}} : memref<5x4xf32>, memref<4x3xf32>)
//  CHECK-SAME:     trans_a = false, trans_b = false
//       CHECK:   dsrt.kernel "add"
//       CHECK:   dsrt.kernel "neg"
func.func @not_folded(%x: memref<5x4xf32>, %w: memref<3x4xf32>, %bias: memref<3xf32>, %z: memref<5x3xf32>, %z2: memref<5x3xf32>) {
  %wt = dsrt.alloc : memref<4x3xf32>
  dsrt.kernel "transpose" ins(%w : memref<3x4xf32>) outs(%wt : memref<4x3xf32>) {attrs = {perm = array<i64: 1, 0>}}
  dsrt.kernel "fill" outs(%w : memref<3x4xf32>) {attrs = {value = 0.0 : f32}}
  %y = dsrt.alloc : memref<5x3xf32>
  dsrt.kernel "matmul" ins(%x, %wt : memref<5x4xf32>, memref<4x3xf32>) outs(%y : memref<5x3xf32>)
  dsrt.kernel "add" ins(%y, %bias : memref<5x3xf32>, memref<3xf32>) outs(%z : memref<5x3xf32>)
  dsrt.kernel "neg" ins(%y : memref<5x3xf32>) outs(%z2 : memref<5x3xf32>)
  return
}

// -----

// Tests that a residual of the product's shape becomes c as a whole matrix, and that an
// add that broadcasts along the columns (not a row bias) is left alone.
// CHECK-LABEL: func.func @residual
//       CHECK:   %[[R:.+]] = dsrt.view %arg2 : memref<2x3x4xf32> to memref<6x4xf32>
//       CHECK:   dsrt.kernel "gemm" ins(%{{.+}}, %arg1, %[[R]] : memref<6x5xf32>, memref<5x4xf32>, memref<6x4xf32>)
//  CHECK-SAME:     trans_a = false, trans_b = false
//       CHECK:   dsrt.kernel "gemm" ins(%{{.+}}, %arg1 : memref<6x5xf32>, memref<5x4xf32>)
//  CHECK-NEXT:   dsrt.kernel "add"
func.func @residual(%x: memref<2x3x5xf32>, %w: memref<5x4xf32>, %res: memref<2x3x4xf32>, %col: memref<2x3x1xf32>, %z: memref<2x3x4xf32>, %z2: memref<2x3x4xf32>) {
  %y = dsrt.alloc : memref<2x3x4xf32>
  dsrt.kernel "matmul" ins(%x, %w : memref<2x3x5xf32>, memref<5x4xf32>) outs(%y : memref<2x3x4xf32>)
  dsrt.kernel "add" ins(%y, %res : memref<2x3x4xf32>, memref<2x3x4xf32>) outs(%z : memref<2x3x4xf32>)
  %y2 = dsrt.alloc : memref<2x3x4xf32>
  dsrt.kernel "matmul" ins(%x, %w : memref<2x3x5xf32>, memref<5x4xf32>) outs(%y2 : memref<2x3x4xf32>)
  dsrt.kernel "add" ins(%y2, %col : memref<2x3x4xf32>, memref<2x3x1xf32>) outs(%z2 : memref<2x3x4xf32>)
  return
}
