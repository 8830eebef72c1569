// RUN: ds-opt %s --split-input-file --ds-elide-state-copies | FileCheck %s

// Tests that an optimizer update writes the fp32 master and the moments in place, and the
// cast writes the 16-bit parameter: no copies into globals remain, and no transients.
// CHECK-LABEL: func.func @apply_step
//   CHECK-NOT:   dsrt.alloc
//       CHECK:   %[[P:.+]] = dsrt.param @w.master
//  CHECK-NEXT:   %[[G:.+]] = dsrt.param @w.grad
//  CHECK-NEXT:   %[[M:.+]] = dsrt.param @w.exp_avg
//  CHECK-NEXT:   %[[V:.+]] = dsrt.param @w.exp_avg_sq
//  CHECK-NEXT:   dsrt.param @lr
//  CHECK-NEXT:   dsrt.param @step
//  CHECK-NEXT:   %[[NP:.+]] = dsrt.param @w.master
//  CHECK-NEXT:   %[[NM:.+]] = dsrt.param @w.exp_avg
//  CHECK-NEXT:   %[[NV:.+]] = dsrt.param @w.exp_avg_sq
//  CHECK-NEXT:   dsrt.kernel "adam_update" ins(%[[P]], %[[G]], %[[M]], %[[V]], %{{.+}}, %{{.+}} : {{.*}}) outs(%[[NP]], %[[NM]], %[[NV]] :
//  CHECK-NEXT:   %[[W:.+]] = dsrt.param @w :
//  CHECK-NEXT:   dsrt.kernel "cast" ins(%[[NP]] : memref<8xf32>) outs(%[[W]] : memref<8xbf16>)
//  CHECK-NEXT:   return
dsrt.global trainable @w : memref<8xbf16> from "w"
dsrt.global @w.master : memref<8xf32>
dsrt.global @w.exp_avg : memref<8xf32>
dsrt.global @w.exp_avg_sq : memref<8xf32>
dsrt.global @w.grad : memref<8xf32>
dsrt.global @lr : memref<f32>
dsrt.global @step : memref<i64>
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %p = dsrt.param @w.master : memref<8xf32>
  %g = dsrt.param @w.grad : memref<8xf32>
  %m = dsrt.param @w.exp_avg : memref<8xf32>
  %v = dsrt.param @w.exp_avg_sq : memref<8xf32>
  %lr = dsrt.param @lr : memref<f32>
  %t = dsrt.param @step : memref<i64>
  %np = dsrt.alloc : memref<8xf32>
  %nm = dsrt.alloc : memref<8xf32>
  %nv = dsrt.alloc : memref<8xf32>
  dsrt.kernel "adam_update" ins(%p, %g, %m, %v, %lr, %t : memref<8xf32>, memref<8xf32>, memref<8xf32>, memref<8xf32>, memref<f32>, memref<i64>) outs(%np, %nm, %nv : memref<8xf32>, memref<8xf32>, memref<8xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  %p2 = dsrt.param @w.master : memref<8xf32>
  dsrt.kernel "copy" ins(%np : memref<8xf32>) outs(%p2 : memref<8xf32>) on copy
  %w16 = dsrt.alloc : memref<8xbf16>
  dsrt.kernel "cast" ins(%np : memref<8xf32>) outs(%w16 : memref<8xbf16>)
  %w = dsrt.param @w : memref<8xbf16>
  dsrt.kernel "copy" ins(%w16 : memref<8xbf16>) outs(%w : memref<8xbf16>) on copy
  %m2 = dsrt.param @w.exp_avg : memref<8xf32>
  dsrt.kernel "copy" ins(%nm : memref<8xf32>) outs(%m2 : memref<8xf32>) on copy
  %v2 = dsrt.param @w.exp_avg_sq : memref<8xf32>
  dsrt.kernel "copy" ins(%nv : memref<8xf32>) outs(%v2 : memref<8xf32>) on copy
  return
}

// -----

// Tests that the copy stays when the global's old value is read between the writer and
// the copy (writing in place would change what that reader sees), and when a kernel that
// may not run in place (matmul) reads the global it would write.
// CHECK-LABEL: func.func @old_value_read
//       CHECK:   dsrt.kernel "add"
//       CHECK:   dsrt.kernel "mul"
//       CHECK:   dsrt.kernel "copy"
// CHECK-LABEL: func.func @not_in_place
//       CHECK:   dsrt.kernel "matmul"
//       CHECK:   dsrt.kernel "copy"
dsrt.global @acc : memref<4xf32>
dsrt.global @m : memref<2x2xf32>
func.func @old_value_read(%d: memref<4xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %a = dsrt.param @acc : memref<4xf32>
  %s = dsrt.alloc : memref<4xf32>
  dsrt.kernel "add" ins(%a, %d : memref<4xf32>, memref<4xf32>) outs(%s : memref<4xf32>)
  %a1 = dsrt.param @acc : memref<4xf32>
  %o = dsrt.alloc : memref<4xf32>
  dsrt.kernel "mul" ins(%a1, %d : memref<4xf32>, memref<4xf32>) outs(%o : memref<4xf32>)
  %a2 = dsrt.param @acc : memref<4xf32>
  dsrt.kernel "copy" ins(%s : memref<4xf32>) outs(%a2 : memref<4xf32>) on copy
  return
}
func.func @not_in_place(%x: memref<2x2xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %m = dsrt.param @m : memref<2x2xf32>
  %r = dsrt.alloc : memref<2x2xf32>
  dsrt.kernel "matmul" ins(%m, %x : memref<2x2xf32>, memref<2x2xf32>) outs(%r : memref<2x2xf32>)
  %m2 = dsrt.param @m : memref<2x2xf32>
  dsrt.kernel "copy" ins(%r : memref<2x2xf32>) outs(%m2 : memref<2x2xf32>) on copy
  return
}

// -----

// Tests that the copy stays for host state (offload: the host copy is the transfer), for a
// copy of a piece (count/offset attributes), and for a transient also read through a view.
// CHECK-LABEL: func.func @kept
//   CHECK-COUNT-3: dsrt.kernel "copy"
dsrt.global @h : memref<4xf32> in host
dsrt.global @d : memref<4xf32>
dsrt.global @e : memref<4xf32>
func.func @kept(%x: memref<4xf32>) -> memref<2x2xf32> attributes {dsrt.role = #dsrt.role<micro_step>} {
  %s = dsrt.alloc : memref<4xf32>
  dsrt.kernel "neg" ins(%x : memref<4xf32>) outs(%s : memref<4xf32>)
  %h = dsrt.param @h : memref<4xf32>
  dsrt.kernel "copy" ins(%s : memref<4xf32>) outs(%h : memref<4xf32>) on copy
  %t = dsrt.alloc : memref<4xf32>
  dsrt.kernel "neg" ins(%x : memref<4xf32>) outs(%t : memref<4xf32>)
  %d = dsrt.param @d : memref<4xf32>
  dsrt.kernel "copy" ins(%t : memref<4xf32>) outs(%d : memref<4xf32>) on copy {attrs = {count = 2 : i64}}
  %u = dsrt.alloc : memref<4xf32>
  dsrt.kernel "neg" ins(%x : memref<4xf32>) outs(%u : memref<4xf32>)
  %e = dsrt.param @e : memref<4xf32>
  dsrt.kernel "copy" ins(%u : memref<4xf32>) outs(%e : memref<4xf32>) on copy
  %view = dsrt.view %u : memref<4xf32> to memref<2x2xf32>
  return %view : memref<2x2xf32>
}

// -----

// Tests that a copy reading a reshape of a transient (a stage-1/2 all-gather of the
// parameter's flat shards, viewed in the parameter's shape) is dropped too: the all-gather
// writes a view of the global, and neither the transient nor its view remains.
// CHECK-LABEL: func.func @apply_step
//   CHECK-NOT:   dsrt.alloc
//       CHECK:   %[[W:.+]] = dsrt.param @w : memref<4x3xf32>
//  CHECK-NEXT:   %[[V:.+]] = dsrt.view %[[W]] : memref<4x3xf32> to memref<12xf32>
//  CHECK-NEXT:   dsrt.kernel "all_gather" ins(%{{.+}} : memref<6xf32>) outs(%[[V]] : memref<12xf32>) on comm
//   CHECK-NOT:   "copy"
//       CHECK:   return
dsrt.global trainable @w : memref<4x3xf32> from "w"
dsrt.global @w.shard : memref<6xf32>
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %s = dsrt.param @w.shard : memref<6xf32>
  %full = dsrt.alloc : memref<12xf32>
  dsrt.kernel "all_gather" ins(%s : memref<6xf32>) outs(%full : memref<12xf32>) on comm {attrs = {axis = 0 : i64}}
  %v = dsrt.view %full : memref<12xf32> to memref<4x3xf32>
  %w = dsrt.param @w : memref<4x3xf32>
  dsrt.kernel "copy" ins(%v : memref<4x3xf32>) outs(%w : memref<4x3xf32>) on copy
  return
}

// -----

// Tests that the view case keeps the copy when the transient is read after it (the
// all-gathered value must stay what it was while the global changes), or when the view
// has another use.
// CHECK-LABEL: func.func @apply_step
//       CHECK:   dsrt.alloc
//       CHECK:   dsrt.kernel "copy"
//       CHECK:   dsrt.kernel "copy"
dsrt.global trainable @w : memref<4x3xf32> from "w"
dsrt.global @w.shard : memref<6xf32>
dsrt.global @out : memref<4x3xf32>
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %s = dsrt.param @w.shard : memref<6xf32>
  %full = dsrt.alloc : memref<12xf32>
  dsrt.kernel "all_gather" ins(%s : memref<6xf32>) outs(%full : memref<12xf32>) on comm {attrs = {axis = 0 : i64}}
  %v = dsrt.view %full : memref<12xf32> to memref<4x3xf32>
  %w = dsrt.param @w : memref<4x3xf32>
  dsrt.kernel "copy" ins(%v : memref<4x3xf32>) outs(%w : memref<4x3xf32>) on copy
  %o = dsrt.param @out : memref<4x3xf32>
  dsrt.kernel "copy" ins(%v : memref<4x3xf32>) outs(%o : memref<4x3xf32>) on copy
  return
}

// -----

// Tests a gradient accumulated by a gemm through matrix views of its flat global and of the
// transient (ZeRO-3 at one rank: the flat gradient is copied into its global at the end of
// the step): the gemm writes the global in place (c and the result the same view), the
// transient and the copy go.
// CHECK-LABEL: func.func @accumulate_through_views
//   CHECK-NOT:   dsrt.alloc
//       CHECK:   %[[G:.+]] = dsrt.param @flat.grad : memref<6xf32>
//       CHECK:   %[[O:.+]] = dsrt.param @flat.grad : memref<6xf32>
//       CHECK:   %[[GV:.+]] = dsrt.view %[[G]] : memref<6xf32> to memref<2x3xf32>
//       CHECK:   %[[OV:.+]] = dsrt.view %[[O]] : memref<6xf32> to memref<2x3xf32>
//       CHECK:   dsrt.kernel "gemm" ins(%{{.+}}, %{{.+}}, %[[GV]] : {{.*}}) outs(%[[OV]] : memref<2x3xf32>)
//   CHECK-NOT:   "copy"
//       CHECK:   return
// CHECK-LABEL: func.func @views_of_other_shapes
//       CHECK:   dsrt.alloc
//       CHECK:   dsrt.kernel "gemm"
//       CHECK:   dsrt.kernel "copy"
dsrt.global @flat.grad : memref<6xf32>
func.func @accumulate_through_views(%a: memref<2x4xf32>, %b: memref<4x3xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %g = dsrt.param @flat.grad : memref<6xf32>
  %t = dsrt.alloc : memref<6xf32>
  %gv = dsrt.view %g : memref<6xf32> to memref<2x3xf32>
  %tv = dsrt.view %t : memref<6xf32> to memref<2x3xf32>
  dsrt.kernel "gemm" ins(%a, %b, %gv : memref<2x4xf32>, memref<4x3xf32>, memref<2x3xf32>) outs(%tv : memref<2x3xf32>) {attrs = {alpha = 1.0 : f32, beta = 1.0 : f32, trans_a = false, trans_b = false}}
  %g2 = dsrt.param @flat.grad : memref<6xf32>
  dsrt.kernel "copy" ins(%t : memref<6xf32>) outs(%g2 : memref<6xf32>) on copy
  return
}
// The gemm reads the global as [3x2] (another element order than the [2x3] it writes): the
// copy stays.
func.func @views_of_other_shapes(%a: memref<2x4xf32>, %b: memref<4x3xf32>, %c: memref<3x2xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %g = dsrt.param @flat.grad : memref<6xf32>
  %t = dsrt.alloc : memref<6xf32>
  %gv = dsrt.view %g : memref<6xf32> to memref<3x2xf32>
  %tv = dsrt.view %t : memref<6xf32> to memref<2x3xf32>
  dsrt.kernel "gemm" ins(%a, %b, %gv : memref<2x4xf32>, memref<4x3xf32>, memref<3x2xf32>) outs(%tv : memref<2x3xf32>) {attrs = {alpha = 1.0 : f32, beta = 1.0 : f32, trans_a = false, trans_b = false}}
  %g2 = dsrt.param @flat.grad : memref<6xf32>
  dsrt.kernel "copy" ins(%t : memref<6xf32>) outs(%g2 : memref<6xf32>) on copy
  return
}
