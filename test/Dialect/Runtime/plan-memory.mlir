// RUN: ds-opt %s --split-input-file --ds-plan-memory | FileCheck %s

// Tests that buffers whose lives do not overlap share arena space, that a kernel's output
// never shares bytes with its inputs, and that the peak counts what kernels touch.
// A chain x -> a -> b -> c -> d of five 1 KiB buffers needs 2 KiB: x is dead once a is
// written, so b takes its slot; a and c share the other. Globals are packed, aligned.
// CHECK: module attributes {dsrt.alignment = 64 : i64, dsrt.arena_bytes = 2048 : i64, dsrt.host_bytes = 0 : i64, dsrt.nvme_bytes = 0 : i64, dsrt.peak_bytes = 2048 : i64, dsrt.persistent_bytes = 1036 : i64}
// CHECK: dsrt.global trainable @p : memref<16x16xf32> from "p" {offset = 0 : i64}
// CHECK: dsrt.global trainable @q : memref<3xf32> from "q" {offset = 1024 : i64}
// CHECK-LABEL: func.func @chain
//  CHECK-SAME: {dsrt.offset = 0 : i64}
//       CHECK: dsrt.alloc {offset = 1024 : i64} : memref<256xf32>
//       CHECK: dsrt.alloc {offset = 0 : i64} : memref<256xf32>
//       CHECK: dsrt.alloc {offset = 1024 : i64} : memref<256xf32>
//       CHECK: dsrt.alloc {offset = 0 : i64} : memref<256xf32>
module {
dsrt.global trainable @p : memref<16x16xf32> from "p"
dsrt.global trainable @q : memref<3xf32> from "q"
func.func @chain(%x: memref<256xf32>) -> memref<256xf32> attributes {dsrt.role = #dsrt.role<inference>} {
  %a = dsrt.alloc : memref<256xf32>
  dsrt.kernel "neg" ins(%x : memref<256xf32>) outs(%a : memref<256xf32>)
  %b = dsrt.alloc : memref<256xf32>
  dsrt.kernel "neg" ins(%a : memref<256xf32>) outs(%b : memref<256xf32>)
  %c = dsrt.alloc : memref<256xf32>
  dsrt.kernel "neg" ins(%b : memref<256xf32>) outs(%c : memref<256xf32>)
  %d = dsrt.alloc : memref<256xf32>
  dsrt.kernel "neg" ins(%c : memref<256xf32>) outs(%d : memref<256xf32>)
  return %d : memref<256xf32>
}
}

// -----

// Tests that buffers alive at the same time never overlap (an unused input still gets a
// slot) and that alignment pads odd sizes; x is returned, so it lives to the end.
// CHECK: module attributes {dsrt.alignment = 64 : i64, dsrt.arena_bytes = 140 : i64, dsrt.host_bytes = 0 : i64, dsrt.nvme_bytes = 0 : i64, dsrt.peak_bytes = 140 : i64, dsrt.persistent_bytes = 0 : i64}
// CHECK-LABEL: func.func @fanout
//  CHECK-SAME: %{{.+}}: memref<3xf32> {dsrt.offset = 64 : i64}, %{{.+}}: memref<10xf32> {dsrt.offset = 0 : i64}
//       CHECK: dsrt.alloc {offset = 128 : i64} : memref<3xf32>
module {
func.func @fanout(%x: memref<3xf32>, %unused: memref<10xf32>) -> (memref<3xf32>, memref<3xf32>) attributes {dsrt.role = #dsrt.role<inference>} {
  %a = dsrt.alloc : memref<3xf32>
  dsrt.kernel "neg" ins(%x : memref<3xf32>) outs(%a : memref<3xf32>)
  return %a, %x : memref<3xf32>, memref<3xf32>
}
}

// -----

// Tests that each memory space is its own region: globals in host and nvme memory get
// offsets from 0 in their region, do not count toward the device's persistent region,
// and each region has its own size.
// CHECK: module attributes {dsrt.alignment = 64 : i64, dsrt.arena_bytes = 0 : i64, dsrt.host_bytes = 192 : i64, dsrt.nvme_bytes = 40 : i64, dsrt.peak_bytes = 0 : i64, dsrt.persistent_bytes = 80 : i64}
// CHECK: dsrt.global trainable @w : memref<16xf32> from "w" {offset = 0 : i64}
// CHECK: dsrt.global @w.exp_avg : memref<16xf32> in host {offset = 0 : i64}
// CHECK: dsrt.global @w.exp_avg_sq : memref<16xf32> in host {offset = 64 : i64}
// CHECK: dsrt.global @w.master : memref<16xf32> in host {offset = 128 : i64}
// CHECK: dsrt.global @w.grad : memref<4xf32> {offset = 64 : i64}
// CHECK: dsrt.global @v : memref<10xf32> in nvme {offset = 0 : i64}
module {
dsrt.global trainable @w : memref<16xf32> from "w"
dsrt.global @w.exp_avg : memref<16xf32> in host
dsrt.global @w.exp_avg_sq : memref<16xf32> in host
dsrt.global @w.master : memref<16xf32> in host
dsrt.global @w.grad : memref<4xf32>
dsrt.global @v : memref<10xf32> in nvme
}

// -----

// Tests that memory planning rejects an alignment that is not a power of two.
// RUN: not ds-opt %s --split-input-file --ds-plan-memory=alignment=48 2>&1 | FileCheck %s --check-prefix=ALIGN
// ALIGN: alignment must be a power of two, got 48
module {
}
