// RUN: not ds-opt %s --ds-plan-memory 2>&1 | FileCheck %s

// Tests that memory planning rejects a span whose globals it cannot lay out back to back.
// CHECK: global @b is placed at byte 64, not right after the span's previous global (byte 40): its size is not a multiple of the alignment (64)
dsrt.global @a : memref<10xf32>
dsrt.global @b : memref<16xf32>
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %s = dsrt.span [@a, @b] : memref<26xf32>
  dsrt.kernel "all_reduce" ins(%s : memref<26xf32>) outs(%s : memref<26xf32>) on comm {attrs = {reduction = "sum"}}
  return
}
