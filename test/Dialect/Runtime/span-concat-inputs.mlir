// RUN: ds-opt %s --split-input-file --ds-span-concat-inputs | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-span-concat-inputs --ds-plan-memory | FileCheck %s --check-prefix=PLAN

// Tests that a concat of whole globals (a stage-3 bucket's parameter shards) whose result
// only an all_gather reads becomes a span of the globals, which the all_gather reads in
// place, that the globals are declared one after another from the first one's place (the
// state between them moves behind), and that memory planning lays them out back to back.
// A later concat of the same globals in the same order (the backward pass's gather) reads
// the same span. A view of a whole global is that global.
//       CHECK: dsrt.global @a : memref<16xf32>
//  CHECK-NEXT: dsrt.global @b : memref<4x4xf32>
//  CHECK-NEXT: dsrt.global @c : memref<4xf32>
//  CHECK-NEXT: dsrt.global @a.exp_avg : memref<16xf32>
// CHECK-LABEL: func.func @micro_step
//   CHECK-NOT:   "concat"
//       CHECK:   %[[S:.+]] = dsrt.span [@a, @b, @c] : memref<36xf32>
//       CHECK:   dsrt.kernel "all_gather" ins(%[[S]] : memref<36xf32>) outs(%{{.+}} : memref<72xf32>) on comm
//   CHECK-NOT:   "concat"
//       CHECK:   %[[T:.+]] = dsrt.span [@a, @b, @c] : memref<36xf32>
//       CHECK:   dsrt.kernel "all_gather" ins(%[[T]] : memref<36xf32>) outs(%{{.+}} : memref<72xf32>) on comm
//   CHECK-NOT:   "concat"
// PLAN: dsrt.global @a : memref<16xf32> {offset = 0 : i64}
// PLAN: dsrt.global @b : memref<4x4xf32> {offset = 64 : i64}
// PLAN: dsrt.global @c : memref<4xf32> {offset = 128 : i64}
// PLAN: dsrt.global @a.exp_avg : memref<16xf32> {offset = 192 : i64}
dsrt.global @a : memref<16xf32>
dsrt.global @a.exp_avg : memref<16xf32>
dsrt.global @b : memref<4x4xf32>
dsrt.global @c : memref<4xf32>
func.func @micro_step() attributes {dsrt.role = #dsrt.role<micro_step>} {
  %a = dsrt.param @a : memref<16xf32>
  %b = dsrt.param @b : memref<4x4xf32>
  %bv = dsrt.view %b : memref<4x4xf32> to memref<16xf32>
  %c = dsrt.param @c : memref<4xf32>
  %x = dsrt.alloc : memref<36xf32>
  dsrt.kernel "concat" ins(%a, %bv, %c : memref<16xf32>, memref<16xf32>, memref<4xf32>) outs(%x : memref<36xf32>) {attrs = {axis = 0 : i64}}
  %g = dsrt.alloc : memref<72xf32>
  dsrt.kernel "all_gather" ins(%x : memref<36xf32>) outs(%g : memref<72xf32>) on comm {attrs = {axis = 0 : i64}}
  %y = dsrt.alloc : memref<36xf32>
  dsrt.kernel "concat" ins(%a, %bv, %c : memref<16xf32>, memref<16xf32>, memref<4xf32>) outs(%y : memref<36xf32>) {attrs = {axis = 0 : i64}}
  %h = dsrt.alloc : memref<72xf32>
  dsrt.kernel "all_gather" ins(%y : memref<36xf32>) outs(%h : memref<72xf32>) on comm {attrs = {axis = 0 : i64}}
  return
}

// -----

// Tests that the first concat's adjacencies win and that a global which does not fill whole
// alignment units (@d, 3 floats) ends a run: the first concat reads one span and a global;
// a later concat that lists the globals otherwise reads the run that agrees with them as a
// span (@b then @d) and the rest as they are (@e, whose place is taken after @b, and an
// input that is not a global); and a concat whose globals a kernel writes before its result
// is read keeps copying them, from one span input.
// CHECK-LABEL: func.func @micro_step
//       CHECK:   %[[ABD:.+]] = dsrt.span [@a, @b, @d] : memref<35xf32>
//  CHECK-NEXT:   dsrt.kernel "concat" ins(%[[ABD]], %{{.+}} : memref<35xf32>, memref<16xf32>) outs(%{{.+}} : memref<51xf32>)
//       CHECK:   %[[BD:.+]] = dsrt.span [@b, @d] : memref<19xf32>
//  CHECK-NEXT:   dsrt.kernel "concat" ins(%{{.+}}, %[[BD]], %{{.+}} : memref<16xf32>, memref<19xf32>, memref<8xf32>) outs(%{{.+}} : memref<43xf32>)
//       CHECK:   %[[AB:.+]] = dsrt.span [@a, @b] : memref<32xf32>
//  CHECK-NEXT:   dsrt.kernel "concat" ins(%[[AB]] : memref<32xf32>) outs(%[[X:.+]] : memref<32xf32>)
//       CHECK:   dsrt.kernel "fill"
//       CHECK:   dsrt.kernel "all_gather" ins(%[[X]] : memref<32xf32>)
dsrt.global @a : memref<16xf32>
dsrt.global @b : memref<16xf32>
dsrt.global @c : memref<16xf32>
dsrt.global @d : memref<3xf32>
dsrt.global @e : memref<16xf32>
func.func @micro_step(%t: memref<8xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %a = dsrt.param @a : memref<16xf32>
  %b = dsrt.param @b : memref<16xf32>
  %c = dsrt.param @c : memref<16xf32>
  %d = dsrt.param @d : memref<3xf32>
  %e = dsrt.param @e : memref<16xf32>
  %x = dsrt.alloc : memref<51xf32>
  dsrt.kernel "concat" ins(%a, %b, %d, %c : memref<16xf32>, memref<16xf32>, memref<3xf32>, memref<16xf32>) outs(%x : memref<51xf32>) {attrs = {axis = 0 : i64}}
  %g = dsrt.alloc : memref<102xf32>
  dsrt.kernel "all_gather" ins(%x : memref<51xf32>) outs(%g : memref<102xf32>) on comm {attrs = {axis = 0 : i64}}
  %y = dsrt.alloc : memref<43xf32>
  dsrt.kernel "concat" ins(%e, %b, %d, %t : memref<16xf32>, memref<16xf32>, memref<3xf32>, memref<8xf32>) outs(%y : memref<43xf32>) {attrs = {axis = 0 : i64}}
  %h = dsrt.alloc : memref<86xf32>
  dsrt.kernel "all_gather" ins(%y : memref<43xf32>) outs(%h : memref<86xf32>) on comm {attrs = {axis = 0 : i64}}
  %z = dsrt.alloc : memref<32xf32>
  dsrt.kernel "concat" ins(%a, %b : memref<16xf32>, memref<16xf32>) outs(%z : memref<32xf32>) {attrs = {axis = 0 : i64}}
  %a2 = dsrt.param @a : memref<16xf32>
  dsrt.kernel "fill" outs(%a2 : memref<16xf32>) {attrs = {value = 0.0 : f32}}
  %k = dsrt.alloc : memref<64xf32>
  dsrt.kernel "all_gather" ins(%z : memref<32xf32>) outs(%k : memref<64xf32>) on comm {attrs = {axis = 0 : i64}}
  return
}

// -----

// Tests that a concat whose inputs are not contiguous ranges of its result (a dim before
// the axis is not 1) and a concat of globals in host memory are left alone.
// CHECK-LABEL: func.func @micro_step
//   CHECK-NOT:   dsrt.span
//       CHECK:   dsrt.kernel "concat" ins(%{{.+}}, %{{.+}} : memref<2x8xf32>, memref<2x8xf32>)
//       CHECK:   dsrt.kernel "concat" ins(%{{.+}}, %{{.+}} : memref<16xf32>, memref<16xf32>)
dsrt.global @a : memref<2x8xf32>
dsrt.global @b : memref<2x8xf32>
dsrt.global @c : memref<16xf32> in host
dsrt.global @d : memref<16xf32> in host
func.func @micro_step() attributes {dsrt.role = #dsrt.role<micro_step>} {
  %a = dsrt.param @a : memref<2x8xf32>
  %b = dsrt.param @b : memref<2x8xf32>
  %x = dsrt.alloc : memref<2x16xf32>
  dsrt.kernel "concat" ins(%a, %b : memref<2x8xf32>, memref<2x8xf32>) outs(%x : memref<2x16xf32>) {attrs = {axis = 1 : i64}}
  %c = dsrt.param @c : memref<16xf32>
  %d = dsrt.param @d : memref<16xf32>
  %y = dsrt.alloc : memref<32xf32>
  dsrt.kernel "concat" ins(%c, %d : memref<16xf32>, memref<16xf32>) outs(%y : memref<32xf32>) {attrs = {axis = 0 : i64}}
  return
}
