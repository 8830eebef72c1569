// RUN: ds-opt %s --split-input-file --ds-span-zeroing | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-span-zeroing | ds-opt --split-input-file | FileCheck %s

// Tests that the zeroings of globals a span lists (a zero constant, then copies of its
// zeros, as --ds-elide-state-copies leaves them) become one fill of the span where the
// first zeroing was, and the transient of zeros only they copied from goes.
// CHECK-LABEL: func.func @zeroings
//       CHECK:   dsrt.kernel "all_reduce"
//  CHECK-NEXT:   %[[S:.+]] = dsrt.span [@a.grad, @b.grad, @c.grad] : memref<40xf32>
//  CHECK-NEXT:   dsrt.kernel "fill" outs(%[[S]] : memref<40xf32>) {attrs = {value = 0.000000e+00 : f32}}
//   CHECK-NOT:   "constant"
//   CHECK-NOT:   "copy"
//       CHECK:   return
dsrt.global @a.grad : memref<16xf32>
dsrt.global @b.grad : memref<16xf32>
dsrt.global @c.grad : memref<8xf32>
func.func @zeroings() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %s = dsrt.span [@a.grad, @b.grad, @c.grad] : memref<40xf32>
  dsrt.kernel "all_reduce" ins(%s : memref<40xf32>) outs(%s : memref<40xf32>) on comm {attrs = {reduction = "avg"}}
  %a = dsrt.param @a.grad : memref<16xf32>
  dsrt.kernel "constant" outs(%a : memref<16xf32>) {attrs = {value = dense<0.000000e+00> : tensor<16xf32>}}
  %b = dsrt.param @b.grad : memref<16xf32>
  dsrt.kernel "copy" ins(%a : memref<16xf32>) outs(%b : memref<16xf32>) on copy
  %z = dsrt.alloc : memref<8xf32>
  dsrt.kernel "fill" outs(%z : memref<8xf32>) {attrs = {value = 0.000000e+00 : f32}}
  %c = dsrt.param @c.grad : memref<8xf32>
  dsrt.kernel "copy" ins(%z : memref<8xf32>) outs(%c : memref<8xf32>) on copy
  return
}

// -----

// Tests that a global read before its own zeroing but after the run's first one ends the
// run there: @c.grad is read by the add, so @a.grad and @b.grad are filled where @a.grad's
// zeroing was and @c.grad and @d.grad where @c.grad's was; a read of @b.grad after its
// zeroing sees zeros either way; a global in no span (@e.grad) keeps its zeroing.
// CHECK-LABEL: func.func @read_between
//       CHECK:   %[[S1:.+]] = dsrt.span [@a.grad, @b.grad] : memref<32xf32>
//  CHECK-NEXT:   dsrt.kernel "fill" outs(%[[S1]] : memref<32xf32>)
//       CHECK:   dsrt.kernel "add"
//       CHECK:   dsrt.kernel "add"
//       CHECK:   %[[S2:.+]] = dsrt.span [@c.grad, @d.grad] : memref<24xf32>
//  CHECK-NEXT:   dsrt.kernel "fill" outs(%[[S2]] : memref<24xf32>)
//       CHECK:   dsrt.kernel "constant" outs(%{{.+}} : memref<4xbf16>)
//       CHECK:   return
dsrt.global @a.grad : memref<16xf32>
dsrt.global @b.grad : memref<16xf32>
dsrt.global @c.grad : memref<8xf32>
dsrt.global @d.grad : memref<16xf32>
dsrt.global @e.grad : memref<4xbf16>
dsrt.global @x : memref<16xf32>
dsrt.global @y : memref<8xf32>
func.func @read_between() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %s = dsrt.span [@a.grad, @b.grad, @c.grad, @d.grad] : memref<56xf32>
  dsrt.kernel "all_reduce" ins(%s : memref<56xf32>) outs(%s : memref<56xf32>) on comm {attrs = {reduction = "avg"}}
  %a = dsrt.param @a.grad : memref<16xf32>
  dsrt.kernel "constant" outs(%a : memref<16xf32>) {attrs = {value = dense<0.000000e+00> : tensor<16xf32>}}
  %b = dsrt.param @b.grad : memref<16xf32>
  dsrt.kernel "constant" outs(%b : memref<16xf32>) {attrs = {value = dense<0.000000e+00> : tensor<16xf32>}}
  %x = dsrt.param @x : memref<16xf32>
  dsrt.kernel "add" ins(%x, %b : memref<16xf32>, memref<16xf32>) outs(%x : memref<16xf32>)
  %c = dsrt.param @c.grad : memref<8xf32>
  %y = dsrt.param @y : memref<8xf32>
  dsrt.kernel "add" ins(%y, %c : memref<8xf32>, memref<8xf32>) outs(%y : memref<8xf32>)
  dsrt.kernel "fill" outs(%c : memref<8xf32>) {attrs = {value = 0.000000e+00 : f32}}
  %d = dsrt.param @d.grad : memref<16xf32>
  dsrt.kernel "fill" outs(%d : memref<16xf32>) {attrs = {value = 0.000000e+00 : f32}}
  %e = dsrt.param @e.grad : memref<4xbf16>
  dsrt.kernel "constant" outs(%e : memref<4xbf16>) {attrs = {value = dense<0.000000e+00> : tensor<4xbf16>}}
  return
}
