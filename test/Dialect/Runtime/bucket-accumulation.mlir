// RUN: ds-opt %s --split-input-file --ds-bucket-accumulation | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-bucket-accumulation --ds-plan-memory | FileCheck %s --check-prefix=PLAN

// Tests that the adds accumulating every piece of a split into its gradient global in place
// become one add over a span of the globals, at the split's place, reading the split's input
// (the split goes), that the globals are declared one after another in the pieces' order
// from the first one's place (the optimizer state before them stays before them), and
// that memory planning lays them out back to back.
//       CHECK: dsrt.global @a.exp_avg : memref<16xf32>
//  CHECK-NEXT: dsrt.global @b.grad : memref<4x4xf32>
//  CHECK-NEXT: dsrt.global @a.grad : memref<16xf32>
//  CHECK-NEXT: dsrt.global @c.grad : memref<4xf32>
// CHECK-LABEL: func.func @micro_step
//       CHECK:   dsrt.kernel "reduce_scatter"
//  CHECK-NEXT:   %[[S:.+]] = dsrt.span [@b.grad, @a.grad, @c.grad] : memref<36xf32>
//  CHECK-NEXT:   %[[V:.+]] = dsrt.view %{{.+}} : memref<1x36xf32> to memref<36xf32>
//  CHECK-NEXT:   dsrt.kernel "add" ins(%[[S]], %[[V]] : memref<36xf32>, memref<36xf32>) outs(%[[S]] : memref<36xf32>)
//  CHECK-NEXT:   return
// PLAN: dsrt.global @a.exp_avg : memref<16xf32> {offset = 0 : i64}
// PLAN: dsrt.global @b.grad : memref<4x4xf32> {offset = 64 : i64}
// PLAN: dsrt.global @a.grad : memref<16xf32> {offset = 128 : i64}
// PLAN: dsrt.global @c.grad : memref<4xf32> {offset = 192 : i64}
dsrt.global @a.grad : memref<16xf32>
dsrt.global @a.exp_avg : memref<16xf32>
dsrt.global @b.grad : memref<4x4xf32>
dsrt.global @c.grad : memref<4xf32>
func.func @micro_step(%g: memref<2x36xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %r = dsrt.alloc : memref<1x36xf32>
  dsrt.kernel "reduce_scatter" ins(%g : memref<2x36xf32>) outs(%r : memref<1x36xf32>) on comm {attrs = {axis = 0 : i64, reduction = "sum"}}
  %p0 = dsrt.alloc : memref<1x16xf32>
  %p1 = dsrt.alloc : memref<1x16xf32>
  %p2 = dsrt.alloc : memref<1x4xf32>
  dsrt.kernel "split" ins(%r : memref<1x36xf32>) outs(%p0, %p1, %p2 : memref<1x16xf32>, memref<1x16xf32>, memref<1x4xf32>) {attrs = {axis = 1 : i64, sizes = array<i64: 16, 16, 4>}}
  %v0 = dsrt.view %p0 : memref<1x16xf32> to memref<4x4xf32>
  %b = dsrt.param @b.grad : memref<4x4xf32>
  dsrt.kernel "add" ins(%b, %v0 : memref<4x4xf32>, memref<4x4xf32>) outs(%b : memref<4x4xf32>)
  %v1 = dsrt.view %p1 : memref<1x16xf32> to memref<16xf32>
  %a = dsrt.param @a.grad : memref<16xf32>
  %a2 = dsrt.param @a.grad : memref<16xf32>
  dsrt.kernel "add" ins(%a, %v1 : memref<16xf32>, memref<16xf32>) outs(%a2 : memref<16xf32>)
  %v2 = dsrt.view %p2 : memref<1x4xf32> to memref<4xf32>
  %c = dsrt.param @c.grad : memref<4xf32>
  dsrt.kernel "add" ins(%c, %v2 : memref<4xf32>, memref<4xf32>) outs(%c : memref<4xf32>)
  return
}

// -----

// Tests that a piece stays a piece of its own, ending the run, when its global does not
// fill whole alignment units (planning would leave a gap: @c.grad, 3 floats, ends the run
// it is in), when its add has the global first and the next piece's add the piece first
// (@d.grad then @e.grad), when a
// kernel between the split and its add reads its global, and when a kernel other than its
// add reads it; runs of one piece stay as they are. The split keeps those pieces and one
// piece per run of two or more, which its add reads through a view. With the piece first,
// the span's add reads the piece first too.
// CHECK-LABEL: func.func @micro_step
//       CHECK:   %[[R1:.+]] = dsrt.alloc : memref<1x19xf32>
//       CHECK:   %[[R2:.+]] = dsrt.alloc : memref<1x24xf32>
//       CHECK:   dsrt.kernel "split" ins(%{{.+}} : memref<1x75xf32>) outs(%[[R1]], %{{.+}}, %[[R2]], %{{.+}}, %{{.+}} : memref<1x19xf32>, memref<1x16xf32>, memref<1x24xf32>, memref<1x8xf32>, memref<1x8xf32>) {attrs = {axis = 1 : i64, sizes = array<i64: 19, 16, 24, 8, 8>}}
//  CHECK-NEXT:   %[[S1:.+]] = dsrt.span [@a.grad, @c.grad] : memref<19xf32>
//  CHECK-NEXT:   %[[V1:.+]] = dsrt.view %[[R1]] : memref<1x19xf32> to memref<19xf32>
//  CHECK-NEXT:   dsrt.kernel "add" ins(%[[S1]], %[[V1]] : memref<19xf32>, memref<19xf32>) outs(%[[S1]] : memref<19xf32>)
//  CHECK-NEXT:   %[[S2:.+]] = dsrt.span [@e.grad, @f.grad] : memref<24xf32>
//  CHECK-NEXT:   %[[V2:.+]] = dsrt.view %[[R2]] : memref<1x24xf32> to memref<24xf32>
//  CHECK-NEXT:   dsrt.kernel "add" ins(%[[V2]], %[[S2]] : memref<24xf32>, memref<24xf32>) outs(%[[S2]] : memref<24xf32>)
//   CHECK-NOT:   dsrt.span
//       CHECK:   dsrt.kernel "add" ins(%{{.+}}, %{{.+}} : memref<16xf32>, memref<16xf32>)
//       CHECK:   dsrt.kernel "copy" ins(%{{.+}} : memref<8xf32>)
//       CHECK:   dsrt.kernel "add" ins(%{{.+}}, %{{.+}} : memref<8xf32>, memref<8xf32>)
//       CHECK:   dsrt.kernel "add" ins(%{{.+}}, %{{.+}} : memref<8xf32>, memref<8xf32>)
//       CHECK:   dsrt.kernel "copy" ins(%{{.+}} : memref<1x8xf32>)
//   CHECK-NOT:   dsrt.span
dsrt.global @a.grad : memref<16xf32>
dsrt.global @c.grad : memref<3xf32>
dsrt.global @d.grad : memref<16xf32>
dsrt.global @e.grad : memref<16xf32>
dsrt.global @f.grad : memref<8xf32>
dsrt.global @g.grad : memref<8xf32>
dsrt.global @h.grad : memref<8xf32>
func.func @micro_step(%r: memref<1x75xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %pa = dsrt.alloc : memref<1x16xf32>
  %pc = dsrt.alloc : memref<1x3xf32>
  %pd = dsrt.alloc : memref<1x16xf32>
  %pe = dsrt.alloc : memref<1x16xf32>
  %pf = dsrt.alloc : memref<1x8xf32>
  %pg = dsrt.alloc : memref<1x8xf32>
  %ph = dsrt.alloc : memref<1x8xf32>
  dsrt.kernel "split" ins(%r : memref<1x75xf32>) outs(%pa, %pc, %pd, %pe, %pf, %pg, %ph : memref<1x16xf32>, memref<1x3xf32>, memref<1x16xf32>, memref<1x16xf32>, memref<1x8xf32>, memref<1x8xf32>, memref<1x8xf32>) {attrs = {axis = 1 : i64, sizes = array<i64: 16, 3, 16, 16, 8, 8, 8>}}
  %a = dsrt.param @a.grad : memref<16xf32>
  %va = dsrt.view %pa : memref<1x16xf32> to memref<16xf32>
  dsrt.kernel "add" ins(%a, %va : memref<16xf32>, memref<16xf32>) outs(%a : memref<16xf32>)
  %c = dsrt.param @c.grad : memref<3xf32>
  %vc = dsrt.view %pc : memref<1x3xf32> to memref<3xf32>
  dsrt.kernel "add" ins(%c, %vc : memref<3xf32>, memref<3xf32>) outs(%c : memref<3xf32>)
  %d = dsrt.param @d.grad : memref<16xf32>
  %vd = dsrt.view %pd : memref<1x16xf32> to memref<16xf32>
  dsrt.kernel "add" ins(%d, %vd : memref<16xf32>, memref<16xf32>) outs(%d : memref<16xf32>)
  %e = dsrt.param @e.grad : memref<16xf32>
  %ve = dsrt.view %pe : memref<1x16xf32> to memref<16xf32>
  dsrt.kernel "add" ins(%ve, %e : memref<16xf32>, memref<16xf32>) outs(%e : memref<16xf32>)
  %f = dsrt.param @f.grad : memref<8xf32>
  %vf = dsrt.view %pf : memref<1x8xf32> to memref<8xf32>
  dsrt.kernel "add" ins(%vf, %f : memref<8xf32>, memref<8xf32>) outs(%f : memref<8xf32>)
  %g = dsrt.param @g.grad : memref<8xf32>
  %t = dsrt.alloc : memref<8xf32>
  dsrt.kernel "copy" ins(%g : memref<8xf32>) outs(%t : memref<8xf32>)
  %vg = dsrt.view %pg : memref<1x8xf32> to memref<8xf32>
  dsrt.kernel "add" ins(%g, %vg : memref<8xf32>, memref<8xf32>) outs(%g : memref<8xf32>)
  %h = dsrt.param @h.grad : memref<8xf32>
  %vh = dsrt.view %ph : memref<1x8xf32> to memref<8xf32>
  dsrt.kernel "add" ins(%h, %vh : memref<8xf32>, memref<8xf32>) outs(%h : memref<8xf32>)
  %u = dsrt.alloc : memref<1x8xf32>
  dsrt.kernel "copy" ins(%ph : memref<1x8xf32>) outs(%u : memref<1x8xf32>)
  return
}

// -----

// Tests that a split whose pieces are not contiguous ranges of its input (a dim before the
// axis is not 1), an add that broadcasts, and an add into a global that is part of a span
// already are left alone.
// CHECK-LABEL: func.func @micro_step
//       CHECK:   dsrt.kernel "split" ins(%{{.+}} : memref<2x32xf32>)
//       CHECK:   dsrt.kernel "split" ins(%{{.+}} : memref<1x48xf32>) outs(%{{.+}}, %{{.+}}, %{{.+}} : memref<1x16xf32>, memref<1x16xf32>, memref<1x16xf32>)
//   CHECK-NOT:   dsrt.span
//       CHECK: func.func @apply_step
dsrt.global @a.grad : memref<16xf32>
dsrt.global @b.grad : memref<16xf32>
dsrt.global @c.grad : memref<16xf32>
dsrt.global @d.grad : memref<2x16xf32>
func.func @micro_step(%x: memref<2x32xf32>, %y: memref<1x48xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %p0 = dsrt.alloc : memref<2x16xf32>
  %p1 = dsrt.alloc : memref<2x16xf32>
  dsrt.kernel "split" ins(%x : memref<2x32xf32>) outs(%p0, %p1 : memref<2x16xf32>, memref<2x16xf32>) {attrs = {axis = 1 : i64, sizes = array<i64: 16, 16>}}
  %d = dsrt.param @d.grad : memref<2x16xf32>
  dsrt.kernel "add" ins(%d, %p0 : memref<2x16xf32>, memref<2x16xf32>) outs(%d : memref<2x16xf32>)
  %d2 = dsrt.param @d.grad : memref<2x16xf32>
  dsrt.kernel "add" ins(%d2, %p1 : memref<2x16xf32>, memref<2x16xf32>) outs(%d2 : memref<2x16xf32>)
  %q0 = dsrt.alloc : memref<1x16xf32>
  %q1 = dsrt.alloc : memref<1x16xf32>
  %q2 = dsrt.alloc : memref<1x16xf32>
  dsrt.kernel "split" ins(%y : memref<1x48xf32>) outs(%q0, %q1, %q2 : memref<1x16xf32>, memref<1x16xf32>, memref<1x16xf32>) {attrs = {axis = 1 : i64, sizes = array<i64: 16, 16, 16>}}
  %a = dsrt.param @a.grad : memref<16xf32>
  %v0 = dsrt.view %q0 : memref<1x16xf32> to memref<16xf32>
  dsrt.kernel "add" ins(%a, %v0 : memref<16xf32>, memref<16xf32>) outs(%a : memref<16xf32>)
  %d3 = dsrt.param @d.grad : memref<2x16xf32>
  dsrt.kernel "add" ins(%d3, %q1 : memref<2x16xf32>, memref<1x16xf32>) outs(%d3 : memref<2x16xf32>)
  %b = dsrt.param @b.grad : memref<16xf32>
  %v2 = dsrt.view %q2 : memref<1x16xf32> to memref<16xf32>
  dsrt.kernel "add" ins(%b, %v2 : memref<16xf32>, memref<16xf32>) outs(%b : memref<16xf32>)
  return
}
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %s = dsrt.span [@b.grad, @c.grad] : memref<32xf32>
  dsrt.kernel "all_reduce" ins(%s : memref<32xf32>) outs(%s : memref<32xf32>) on comm {attrs = {reduction = "sum"}}
  return
}
