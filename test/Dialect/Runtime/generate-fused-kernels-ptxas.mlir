// REQUIRES: libdevice, ptxas
// RUN: ds-opt %s --ds-generate-fused-kernels="libdevice=%libdevice ptx-file=%t.ptx" -o /dev/null
// RUN: %ptxas -arch=sm_90 %t.ptx -o %t.cubin
// RUN: test -s %t.cubin
// RUN: FileCheck %s < %t.ptx

// Tests that ptxas assembles the generated PTX for sm_90: every op of the fused program's
// instruction set, over f32, bf16, f16 and i1, with broadcast (row, column, scalar) inputs.
// The interpreter's sqrtf and division are the correctly rounded ones.
// CHECK: .entry fused_0(
// CHECK-NOT: sqrt.approx
// CHECK-NOT: div.approx
// CHECK-NOT: div.full
func.func @every_op(%f: memref<2x3x4xf32>, %row: memref<4xf32>, %col: memref<2x1x1xf32>,
                    %s: memref<f32>, %m: memref<3x1xi1>, %b: memref<2x3x4xbf16>,
                    %h: memref<2x3x4xf16>, %out: memref<2x3x4xf32>, %ob: memref<2x3x4xbf16>,
                    %oh: memref<2x3x4xf16>, %om: memref<2x3x4xi1>) {
  // r5..: add sub mul div pow max min (f32), neg relu identity sqrt exp log tanh sin cos abs
  // reciprocal erf sigmoid gelu gelu_tanh gelu_grad gelu_grad_tanh, where, equal/less/greater
  // into where, const, and a cast.
  dsrt.kernel "fused_elementwise" ins(%f, %row, %col, %s, %m : memref<2x3x4xf32>, memref<4xf32>, memref<2x1x1xf32>, memref<f32>, memref<3x1xi1>) outs(%out : memref<2x3x4xf32>) {attrs = {program = array<i64:
    0, 1, 0, 1, 0,
    1, 1, 5, 2, 0,
    2, 1, 6, 3, 0,
    3, 1, 7, 1, 0,
    4, 1, 8, 3, 0,
    5, 1, 9, 2, 0,
    6, 1, 10, 0, 0,
    11, 1, 11, 0, 0,
    12, 1, 12, 0, 0,
    13, 1, 13, 0, 0,
    14, 1, 14, 0, 0,
    15, 1, 15, 0, 0,
    16, 1, 16, 0, 0,
    17, 1, 17, 0, 0,
    18, 1, 18, 0, 0,
    19, 1, 19, 0, 0,
    20, 1, 20, 0, 0,
    21, 1, 21, 0, 0,
    22, 1, 22, 0, 0,
    23, 1, 23, 0, 0,
    24, 1, 24, 0, 0,
    25, 1, 25, 0, 0,
    26, 1, 26, 0, 0,
    27, 1, 27, 1, 0,
    10, 1, 4, 28, 0,
    7, 7, 29, 0, 0,
    8, 7, 29, 1, 0,
    9, 7, 29, 2, 0,
    10, 1, 32, 29, 28,
    29, 1, 1065353216, 0, 0,
    0, 1, 33, 34, 0>}}
  dsrt.kernel "fused_elementwise" ins(%b, %h : memref<2x3x4xbf16>, memref<2x3x4xf16>) outs(%ob : memref<2x3x4xbf16>) {attrs = {program = array<i64: 28, 4, 1, 0, 0, 2, 4, 0, 2, 0>}}
  dsrt.kernel "fused_elementwise" ins(%h, %b : memref<2x3x4xf16>, memref<2x3x4xbf16>) outs(%oh : memref<2x3x4xf16>) {attrs = {program = array<i64: 28, 3, 1, 0, 0, 0, 3, 0, 2, 0>}}
  dsrt.kernel "fused_elementwise" ins(%f, %row : memref<2x3x4xf32>, memref<4xf32>) outs(%om : memref<2x3x4xi1>) {attrs = {program = array<i64: 8, 7, 0, 1, 0>}}
  return
}
