// RUN: ds-opt %s --split-input-file --ds-bucket-collectives | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-bucket-collectives --ds-plan-memory | FileCheck %s --check-prefix=PLAN
// RUN: ds-opt %s --split-input-file --ds-bucket-collectives=bucket-size=40 | FileCheck %s --check-prefix=SMALL
// RUN: ds-opt %s --split-input-file --ds-bucket-collectives=gather-bucket-size=24 | FileCheck %s --check-prefix=GATHER

// Tests that in-place all-reduces of whole gradient globals become one all_reduce over a
// span at the first one's place, that the bucket's globals are declared one after another
// (the optimizer state between them moves behind), and that memory planning lays them out
// back to back. With a bucket size of 40 elements the third gradient starts a bucket of its
// own, and a bucket of one global stays a plain all_reduce.
//       CHECK: dsrt.global @a.grad : memref<16xf32>
//  CHECK-NEXT: dsrt.global @b.grad : memref<4x4xf32>
//  CHECK-NEXT: dsrt.global @c.grad : memref<10xf32>
//  CHECK-NEXT: dsrt.global @a.exp_avg : memref<16xf32>
// CHECK-LABEL: func.func @apply_step
//       CHECK:   %[[S:.+]] = dsrt.span [@a.grad, @b.grad, @c.grad] : memref<42xf32>
//  CHECK-NEXT:   dsrt.kernel "all_reduce" ins(%[[S]] : memref<42xf32>) outs(%[[S]] : memref<42xf32>) on comm {attrs = {reduction = "sum"}}
//   CHECK-NOT:   "all_reduce"
//       CHECK:   dsrt.kernel "mul"
//       CHECK:   return
// PLAN: dsrt.global @a.grad : memref<16xf32> {offset = 0 : i64}
// PLAN: dsrt.global @b.grad : memref<4x4xf32> {offset = 64 : i64}
// PLAN: dsrt.global @c.grad : memref<10xf32> {offset = 128 : i64}
// PLAN: dsrt.global @a.exp_avg : memref<16xf32> {offset = 192 : i64}
// SMALL-LABEL: func.func @apply_step
//       SMALL:   %[[S:.+]] = dsrt.span [@a.grad, @b.grad] : memref<32xf32>
//  SMALL-NEXT:   dsrt.kernel "all_reduce" ins(%[[S]] : memref<32xf32>) outs(%[[S]] : memref<32xf32>)
//  SMALL-NEXT:   dsrt.alloc
//  SMALL-NEXT:   dsrt.kernel "constant"
//  SMALL-NEXT:   dsrt.param @c.grad
//  SMALL-NEXT:   dsrt.param @c.grad
//  SMALL-NEXT:   dsrt.kernel "all_reduce" ins({{.*}} : memref<10xf32>)
dsrt.global @a.grad : memref<16xf32>
dsrt.global @a.exp_avg : memref<16xf32>
dsrt.global @b.grad : memref<4x4xf32>
dsrt.global @c.grad : memref<10xf32>
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %a = dsrt.param @a.grad : memref<16xf32>
  %a2 = dsrt.param @a.grad : memref<16xf32>
  dsrt.kernel "all_reduce" ins(%a : memref<16xf32>) outs(%a2 : memref<16xf32>) on comm {attrs = {reduction = "sum"}}
  %b = dsrt.param @b.grad : memref<4x4xf32>
  dsrt.kernel "all_reduce" ins(%b : memref<4x4xf32>) outs(%b : memref<4x4xf32>) on comm {attrs = {reduction = "sum"}}
  %k = dsrt.alloc : memref<f32>
  dsrt.kernel "constant" outs(%k : memref<f32>) {attrs = {value = dense<5.000000e-01> : tensor<f32>}}
  %c = dsrt.param @c.grad : memref<10xf32>
  %c2 = dsrt.param @c.grad : memref<10xf32>
  dsrt.kernel "all_reduce" ins(%c : memref<10xf32>) outs(%c2 : memref<10xf32>) on comm {attrs = {reduction = "sum"}}
  %m = dsrt.alloc : memref<16xf32>
  dsrt.kernel "mul" ins(%a, %k : memref<16xf32>, memref<f32>) outs(%m : memref<16xf32>)
  return
}

// -----

// Tests that an all-reduce stays out of the bucket when a kernel between the bucket's
// first all-reduce and it reads its global (it would see the sum too early), when its
// reduction differs, when its element type differs, and when the global before it does
// not fill whole alignment units (planning would leave a gap): each ends the bucket.
// CHECK-LABEL: func.func @apply_step
//       CHECK:   %[[S:.+]] = dsrt.span [@a.grad, @b.grad] : memref<32xf32>
//  CHECK-NEXT:   dsrt.kernel "all_reduce" ins(%[[S]]
//       CHECK:   dsrt.kernel "copy" ins(%{{.+}} : memref<8xf32>)
//       CHECK:   dsrt.kernel "all_reduce" ins(%{{.+}} : memref<8xf32>)
//       CHECK:   dsrt.kernel "all_reduce" ins(%{{.+}} : memref<4xf32>) {{.*}} {attrs = {reduction = "max"}}
//       CHECK:   dsrt.kernel "all_reduce" ins(%{{.+}} : memref<4xf64>)
//       CHECK:   %[[T:.+]] = dsrt.span [@f.grad, @g.grad] : memref<18xf32>
//       CHECK:   dsrt.kernel "all_reduce" ins(%{{.+}} : memref<3xf32>)
//   CHECK-NOT:   dsrt.span
dsrt.global @a.grad : memref<16xf32>
dsrt.global @b.grad : memref<16xf32>
dsrt.global @c.grad : memref<8xf32>
dsrt.global @d.grad : memref<4xf32>
dsrt.global @e.grad : memref<4xf64>
dsrt.global @f.grad : memref<16xf32>
dsrt.global @g.grad : memref<2xf32>
dsrt.global @h.grad : memref<3xf32>
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %a = dsrt.param @a.grad : memref<16xf32>
  dsrt.kernel "all_reduce" ins(%a : memref<16xf32>) outs(%a : memref<16xf32>) on comm {attrs = {reduction = "sum"}}
  %b = dsrt.param @b.grad : memref<16xf32>
  dsrt.kernel "all_reduce" ins(%b : memref<16xf32>) outs(%b : memref<16xf32>) on comm {attrs = {reduction = "sum"}}
  %c = dsrt.param @c.grad : memref<8xf32>
  %t = dsrt.alloc : memref<8xf32>
  dsrt.kernel "copy" ins(%c : memref<8xf32>) outs(%t : memref<8xf32>)
  dsrt.kernel "all_reduce" ins(%c : memref<8xf32>) outs(%c : memref<8xf32>) on comm {attrs = {reduction = "sum"}}
  %d = dsrt.param @d.grad : memref<4xf32>
  dsrt.kernel "all_reduce" ins(%d : memref<4xf32>) outs(%d : memref<4xf32>) on comm {attrs = {reduction = "max"}}
  %e = dsrt.param @e.grad : memref<4xf64>
  dsrt.kernel "all_reduce" ins(%e : memref<4xf64>) outs(%e : memref<4xf64>) on comm {attrs = {reduction = "sum"}}
  %f = dsrt.param @f.grad : memref<16xf32>
  dsrt.kernel "all_reduce" ins(%f : memref<16xf32>) outs(%f : memref<16xf32>) on comm {attrs = {reduction = "sum"}}
  %g = dsrt.param @g.grad : memref<2xf32>
  dsrt.kernel "all_reduce" ins(%g : memref<2xf32>) outs(%g : memref<2xf32>) on comm {attrs = {reduction = "sum"}}
  %h = dsrt.param @h.grad : memref<3xf32>
  dsrt.kernel "all_reduce" ins(%h : memref<3xf32>) outs(%h : memref<3xf32>) on comm {attrs = {reduction = "sum"}}
  return
}

// -----

// Tests that an all-reduce into another buffer, of part of a global (through a view), on
// a transient, or of an NVMe global is not bucketed.
// CHECK-LABEL: func.func @apply_step
//   CHECK-NOT:   dsrt.span
dsrt.global @a.grad : memref<16xf32>
dsrt.global @b.grad : memref<16xf32>
dsrt.global @c.grad : memref<16xf32> in nvme
dsrt.global @d.grad : memref<16xf32> in nvme
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %a = dsrt.param @a.grad : memref<16xf32>
  %t = dsrt.alloc : memref<16xf32>
  dsrt.kernel "all_reduce" ins(%a : memref<16xf32>) outs(%t : memref<16xf32>) on comm {attrs = {reduction = "sum"}}
  %b = dsrt.param @b.grad : memref<16xf32>
  %v = dsrt.view %b : memref<16xf32> to memref<4x4xf32>
  dsrt.kernel "all_reduce" ins(%v : memref<4x4xf32>) outs(%v : memref<4x4xf32>) on comm {attrs = {reduction = "sum"}}
  %u = dsrt.alloc : memref<16xf32>
  dsrt.kernel "all_reduce" ins(%u : memref<16xf32>) outs(%u : memref<16xf32>) on comm {attrs = {reduction = "sum"}}
  %c = dsrt.param @c.grad : memref<16xf32>
  dsrt.kernel "all_reduce" ins(%c : memref<16xf32>) outs(%c : memref<16xf32>) on comm {attrs = {reduction = "sum"}}
  %d = dsrt.param @d.grad : memref<16xf32>
  dsrt.kernel "all_reduce" ins(%d : memref<16xf32>) outs(%d : memref<16xf32>) on comm {attrs = {reduction = "sum"}}
  return
}

// -----

// Tests that with gather-bucket-size consecutive all_gathers of shard transients into whole
// globals (the working copies gathered behind the multi-tensor optimizer step) become one
// concat of the shards, one all_gather and one split of the [W, total] rows into the
// globals seen as [W, p_i]; that a gather which would overflow the bucket (24 gathered
// elements) starts the next one, and that a bucket of one stays a plain all_gather. Without
// the option nothing changes.
// GATHER-LABEL: func.func @apply_step
//       GATHER:   %[[M:.+]] = dsrt.alloc : memref<6xbf16>
//  GATHER-NEXT:   dsrt.kernel "concat" ins(%[[A:.+]], %[[B:.+]] : memref<4xbf16>, memref<2xbf16>) outs(%[[M]] : memref<6xbf16>) {attrs = {axis = 0 : i64}}
//  GATHER-NEXT:   %[[G:.+]] = dsrt.alloc : memref<12xbf16>
//  GATHER-NEXT:   dsrt.kernel "all_gather" ins(%[[M]] : memref<6xbf16>) outs(%[[G]] : memref<12xbf16>) on comm {attrs = {axis = 0 : i64}}
//  GATHER-NEXT:   %[[R:.+]] = dsrt.view %[[G]] : memref<12xbf16> to memref<2x6xbf16>
//  GATHER-NEXT:   %[[WA:.+]] = dsrt.view %{{.+}} : memref<8xbf16> to memref<2x4xbf16>
//  GATHER-NEXT:   %[[WB:.+]] = dsrt.view %{{.+}} : memref<4xbf16> to memref<2x2xbf16>
//  GATHER-NEXT:   dsrt.kernel "split" ins(%[[R]] : memref<2x6xbf16>) outs(%[[WA]], %[[WB]] : memref<2x4xbf16>, memref<2x2xbf16>) {attrs = {axis = 1 : i64, sizes = array<i64: 4, 2>}}
//  GATHER-NEXT:   dsrt.kernel "all_gather" ins(%{{.+}} : memref<8xbf16>) outs(%{{.+}} : memref<16xbf16>) on comm
//  GATHER-NEXT:   return
// CHECK-LABEL: func.func @apply_step
//       CHECK:   dsrt.kernel "fill"
//       CHECK:   dsrt.kernel "all_gather"
//  CHECK-NEXT:   dsrt.kernel "all_gather"
//  CHECK-NEXT:   dsrt.kernel "all_gather"
//   CHECK-NOT:   "concat"
dsrt.global trainable @a : memref<8xbf16> from "a"
dsrt.global trainable @b : memref<4xbf16> from "b"
dsrt.global trainable @c : memref<16xbf16> from "c"
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %as = dsrt.alloc : memref<4xbf16>
  %bs = dsrt.alloc : memref<2xbf16>
  %cs = dsrt.alloc : memref<8xbf16>
  dsrt.kernel "fill" outs(%as : memref<4xbf16>) {attrs = {value = 1.0 : f64}}
  dsrt.kernel "fill" outs(%bs : memref<2xbf16>) {attrs = {value = 1.0 : f64}}
  dsrt.kernel "fill" outs(%cs : memref<8xbf16>) {attrs = {value = 1.0 : f64}}
  %a = dsrt.param @a : memref<8xbf16>
  %b = dsrt.param @b : memref<4xbf16>
  %c = dsrt.param @c : memref<16xbf16>
  dsrt.kernel "all_gather" ins(%as : memref<4xbf16>) outs(%a : memref<8xbf16>) on comm {attrs = {axis = 0 : i64}}
  dsrt.kernel "all_gather" ins(%bs : memref<2xbf16>) outs(%b : memref<4xbf16>) on comm {attrs = {axis = 0 : i64}}
  dsrt.kernel "all_gather" ins(%cs : memref<8xbf16>) outs(%c : memref<16xbf16>) on comm {attrs = {axis = 0 : i64}}
  return
}
