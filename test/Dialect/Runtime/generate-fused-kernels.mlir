// REQUIRES: libdevice
// RUN: ds-opt %s --split-input-file --ds-generate-fused-kernels="libdevice=%libdevice" | FileCheck %s
// RUN: ds-opt %s --ds-generate-fused-kernels="libdevice=%libdevice ptx-file=%t.ptx" -o /dev/null
// RUN: FileCheck %s --check-prefix=PTX < %t.ptx
// RUN: env -u CUDA_HOME -u CUDA_PATH not ds-opt %s --split-input-file --ds-generate-fused-kernels="libdevice=%t.missing.bc" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOLIB

// Tests that a missing libdevice is one clear error naming the file and the option.
// NOLIB: error: generated fused kernels: cannot read libdevice '{{.*}}missing.bc'
// NOLIB-SAME: pass its path with --ds-generate-fused-kernels="libdevice=..."
// NOLIB-NOT: see current operation

// Tests that every fused_elementwise kernel names an entry of the module's one PTX module,
// that kernels computing the same thing on the same shapes share an entry, and that the PTX
// targets sm_90 with one .entry per distinct kernel.
// CHECK: module attributes {dsrt.generated_chip = "sm_90", dsrt.generated_ptx = "
// CHECK-LABEL: func.func @two_layers
//       CHECK:   dsrt.kernel "fused_elementwise" {{.+}}dsrt.generated_entry = "fused_0"
//       CHECK:   dsrt.kernel "fused_elementwise" {{.+}}dsrt.generated_entry = "fused_0"
//       CHECK:   dsrt.kernel "fused_elementwise" {{.+}}dsrt.generated_entry = "fused_1"
// PTX: .target sm_90
// PTX: .visible .entry fused_0(
// The bf16 rounding is the hardware's round-to-nearest-even conversion.
// PTX: cvt.rn.bf16.f32
// PTX: .visible .entry fused_1(
// PTX-NOT: .entry
func.func @two_layers(%x: memref<4x8xbf16>, %bias: memref<8xbf16>, %y: memref<4x8xbf16>,
                      %o1: memref<4x8xbf16>, %o2: memref<4x8xbf16>, %o3: memref<4x8xf32>) {
  // (x + bias) * tanh(x + bias), twice, then gelu(y) cast to f32.
  dsrt.kernel "fused_elementwise" ins(%x, %bias : memref<4x8xbf16>, memref<8xbf16>) outs(%o1 : memref<4x8xbf16>) {attrs = {program = array<i64: 0, 4, 0, 1, 0, 17, 4, 2, 0, 0, 2, 4, 2, 3, 0>}}
  dsrt.kernel "fused_elementwise" ins(%y, %bias : memref<4x8xbf16>, memref<8xbf16>) outs(%o2 : memref<4x8xbf16>) {attrs = {program = array<i64: 0, 4, 0, 1, 0, 17, 4, 2, 0, 0, 2, 4, 2, 3, 0>}}
  dsrt.kernel "fused_elementwise" ins(%y : memref<4x8xbf16>) outs(%o3 : memref<4x8xf32>) {attrs = {program = array<i64: 24, 4, 0, 0, 0, 28, 1, 1, 0, 0>}}
  return
}

// -----

// Tests that a module without fused_elementwise kernels gains no generated code.
// CHECK-LABEL: func.func @none
//   CHECK-NOT:   dsrt.generated_entry
// CHECK-NOT: dsrt.generated_ptx
func.func @none(%x: memref<4xf32>, %y: memref<4xf32>) {
  dsrt.kernel "exp" ins(%x : memref<4xf32>) outs(%y : memref<4xf32>)
  return
}
