// RUN: ds-opt %s --split-input-file --ds-fuse-bias-grad | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-fuse-bias-grad | ds-opt --split-input-file | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-fuse-bias-grad="group=false" | FileCheck %s --check-prefix=UNGROUPED

dsrt.global @b.grad : memref<3xbf16>
dsrt.global @w.grad : memref<3x5xbf16>

// Tests that a Linear layer's bias gradient (reduce_sum of the 3-D output gradient over
// batch and tokens, accumulated into the gradient global) becomes the db of the weight
// gradient's gemm, which contracts those tokens as op(a) = dyT: bias_grad "a", db a new
// transient, and its accumulation a multi_add at the end of the block.
// CHECK-LABEL: func.func @linear
//   CHECK-NOT:   "reduce_sum"
//       CHECK:   %[[DY:.+]] = dsrt.view %{{.+}} : memref<2x4x3xbf16> to memref<8x3xbf16>
//       CHECK:   dsrt.kernel "gemm" ins(%[[DY]], %arg1 : {{.+}}) outs(%{{.+}} : memref<8x5xbf16>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = false, trans_b = false}}
//       CHECK:   %[[DB:.+]] = dsrt.alloc : memref<3xbf16>
//  CHECK-NEXT:   dsrt.kernel "gemm" ins(%[[DY]], %{{.+}}, %{{.+}} : memref<8x3xbf16>, memref<8x5xbf16>, memref<3x5xbf16>) outs(%{{.+}}, %[[DB]] : memref<3x5xbf16>, memref<3xbf16>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, bias_grad = "a", trans_a = true, trans_b = false}}
//  CHECK-NEXT:   dsrt.kernel "multi_add" ins(%[[G:.+]], %[[DB]] : memref<3xbf16>, memref<3xbf16>) outs(%[[G2:.+]] : memref<3xbf16>)
//  CHECK-NEXT:   return
// UNGROUPED-LABEL: func.func @linear
//       UNGROUPED:   "gemm"{{.+}}bias_grad = "a"
//  UNGROUPED-NEXT:   "multi_add"
func.func @linear(%x: memref<2x4x5xbf16>, %w: memref<3x5xbf16>, %dy3: memref<2x4x3xbf16>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %g = dsrt.param @b.grad : memref<3xbf16>
  %g2 = dsrt.param @b.grad : memref<3xbf16>
  dsrt.kernel "reduce_sum" ins(%dy3, %g : memref<2x4x3xbf16>, memref<3xbf16>) outs(%g2 : memref<3xbf16>) {attrs = {axes = array<i64: 0, 1>, keepdims = false}}
  %dy = dsrt.view %dy3 : memref<2x4x3xbf16> to memref<8x3xbf16>
  %dx = dsrt.alloc : memref<8x5xbf16>
  dsrt.kernel "gemm" ins(%dy, %w : memref<8x3xbf16>, memref<3x5xbf16>) outs(%dx : memref<8x5xbf16>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = false, trans_b = false}}
  %x2 = dsrt.view %x : memref<2x4x5xbf16> to memref<8x5xbf16>
  %gw = dsrt.param @w.grad : memref<3x5xbf16>
  %gw2 = dsrt.param @w.grad : memref<3x5xbf16>
  dsrt.kernel "gemm" ins(%dy, %x2, %gw : memref<8x3xbf16>, memref<8x5xbf16>, memref<3x5xbf16>) outs(%gw2 : memref<3x5xbf16>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = true, trans_b = false}}
  return
}

// -----

dsrt.global @b.grad : memref<3xf32>
dsrt.global @w.grad : memref<5x3xf32>

// Tests that the other layout (weight [in, out]: dW = xT dy, dy as op(b) read [K, N]) gives
// bias_grad "b", and that a gemm before the reduce_sum is used as well (the accumulation
// stays at or after the reduce_sum).
// CHECK-LABEL: func.func @operand_b
//       CHECK:   %[[DB:.+]] = dsrt.alloc : memref<3xf32>
//  CHECK-NEXT:   dsrt.kernel "gemm" ins(%arg0, %arg1, %{{.+}} : memref<8x5xf32>, memref<8x3xf32>, memref<5x3xf32>) outs(%{{.+}}, %[[DB]] : memref<5x3xf32>, memref<3xf32>) {attrs = {{{.+}}bias_grad = "b", trans_a = true, trans_b = false}}
//   CHECK-NOT:   "reduce_sum"
//       CHECK:   dsrt.kernel "multi_add" ins(%{{.+}}, %[[DB]] : memref<3xf32>, memref<3xf32>)
func.func @operand_b(%x: memref<8x5xf32>, %dy: memref<8x3xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %gw = dsrt.param @w.grad : memref<5x3xf32>
  %gw2 = dsrt.param @w.grad : memref<5x3xf32>
  dsrt.kernel "gemm" ins(%x, %dy, %gw : memref<8x5xf32>, memref<8x3xf32>, memref<5x3xf32>) outs(%gw2 : memref<5x3xf32>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = true, trans_b = false}}
  %g = dsrt.param @b.grad : memref<3xf32>
  %g2 = dsrt.param @b.grad : memref<3xf32>
  dsrt.kernel "reduce_sum" ins(%dy, %g : memref<8x3xf32>, memref<3xf32>) outs(%g2 : memref<3xf32>) {attrs = {axes = array<i64: 0>, keepdims = false}}
  return
}

// -----

dsrt.global @b.grad : memref<3xf32>
dsrt.global @w.grad : memref<3x5xf32>

// Tests that a transposed output gradient (dyT [3, 8], the contraction its trailing dim,
// gemm reading it as op(a) = dyT without trans_a) reduced over its last axis is fused too.
// CHECK-LABEL: func.func @transposed
//       CHECK:   dsrt.kernel "gemm" {{.+}}bias_grad = "a", trans_a = false, trans_b = false
//  CHECK-NEXT:   dsrt.kernel "multi_add"
func.func @transposed(%x: memref<8x5xf32>, %dyt: memref<3x8xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %g = dsrt.param @b.grad : memref<3xf32>
  %g2 = dsrt.param @b.grad : memref<3xf32>
  dsrt.kernel "reduce_sum" ins(%dyt, %g : memref<3x8xf32>, memref<3xf32>) outs(%g2 : memref<3xf32>) {attrs = {axes = array<i64: 1>, keepdims = false}}
  %gw = dsrt.param @w.grad : memref<3x5xf32>
  %gw2 = dsrt.param @w.grad : memref<3x5xf32>
  dsrt.kernel "gemm" ins(%dyt, %x, %gw : memref<3x8xf32>, memref<8x5xf32>, memref<3x5xf32>) outs(%gw2 : memref<3x5xf32>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = false, trans_b = false}}
  return
}

// -----

// Tests that a reduce_sum without acc into a transient (ZeRO-2/3 at world > 1: the sum is
// reduce-scattered next; a copy stands for that) becomes the gemm's db
// written straight into that transient (a view), with no multi_add; its reader keeps reading
// it.
// CHECK-LABEL: func.func @no_acc_into_transient
//   CHECK-NOT:   "reduce_sum"
//       CHECK:   %[[S:.+]] = dsrt.alloc : memref<1x1x3xbf16>
//       CHECK:   %[[V:.+]] = dsrt.view %[[S]] : memref<1x1x3xbf16> to memref<3xbf16>
//  CHECK-NEXT:   dsrt.kernel "gemm" {{.+}}outs(%{{.+}}, %[[V]] : memref<3x5xbf16>, memref<3xbf16>) {attrs = {{{.+}}bias_grad = "a"
//  CHECK-NEXT:   dsrt.kernel "copy" ins(%[[S]] :
//   CHECK-NOT:   "multi_add"
func.func @no_acc_into_transient(%x: memref<2x4x5xbf16>, %dy3: memref<2x4x3xbf16>, %o: memref<1x1x3xbf16>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %s = dsrt.alloc : memref<1x1x3xbf16>
  dsrt.kernel "reduce_sum" ins(%dy3 : memref<2x4x3xbf16>) outs(%s : memref<1x1x3xbf16>) {attrs = {axes = array<i64: 0, 1>, keepdims = true}}
  %dy = dsrt.view %dy3 : memref<2x4x3xbf16> to memref<8x3xbf16>
  %x2 = dsrt.view %x : memref<2x4x5xbf16> to memref<8x5xbf16>
  %gw = dsrt.alloc : memref<3x5xbf16>
  dsrt.kernel "gemm" ins(%dy, %x2 : memref<8x3xbf16>, memref<8x5xbf16>) outs(%gw : memref<3x5xbf16>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = true, trans_b = false}}
  dsrt.kernel "copy" ins(%s : memref<1x1x3xbf16>) outs(%o : memref<1x1x3xbf16>)
  return
}

// -----

// Tests that a reduce_sum without acc is left alone when its result is read between it and
// the gemm (the gemm would write it too late).
// CHECK-LABEL: func.func @no_acc_read_between
//       CHECK:   "reduce_sum"
//   CHECK-NOT:   bias_grad
func.func @no_acc_read_between(%x: memref<8x5xbf16>, %dy: memref<8x3xbf16>, %o: memref<3xbf16>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %s = dsrt.alloc : memref<3xbf16>
  dsrt.kernel "reduce_sum" ins(%dy : memref<8x3xbf16>) outs(%s : memref<3xbf16>) {attrs = {axes = array<i64: 0>, keepdims = false}}
  dsrt.kernel "copy" ins(%s : memref<3xbf16>) outs(%o : memref<3xbf16>)
  %gw = dsrt.alloc : memref<3x5xbf16>
  dsrt.kernel "gemm" ins(%dy, %x : memref<8x3xbf16>, memref<8x5xbf16>) outs(%gw : memref<3x5xbf16>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = true, trans_b = false}}
  dsrt.kernel "copy" ins(%gw : memref<3x5xbf16>) outs(%gw : memref<3x5xbf16>)
  return
}

// -----

dsrt.global @b1.grad : memref<3xbf16>
dsrt.global @w1.grad : memref<3x5xbf16>
dsrt.global @b2.grad : memref<4xbf16>
dsrt.global @w2.grad : memref<4x5xbf16>

// Tests that accumulations whose windows overlap share one multi_add (here at the end of
// the block), in the order of their gemms.
// CHECK-LABEL: func.func @grouped
//       CHECK:   %[[DB1:.+]] = dsrt.alloc : memref<3xbf16>
//  CHECK-NEXT:   dsrt.kernel "gemm" {{.+}}outs(%{{.+}}, %[[DB1]] :
//       CHECK:   %[[DB2:.+]] = dsrt.alloc : memref<4xbf16>
//  CHECK-NEXT:   dsrt.kernel "gemm" {{.+}}outs(%{{.+}}, %[[DB2]] :
//  CHECK-NEXT:   dsrt.kernel "multi_add" ins(%{{.+}}, %[[DB1]], %{{.+}}, %[[DB2]] : memref<3xbf16>, memref<3xbf16>, memref<4xbf16>, memref<4xbf16>) outs(%{{.+}}, %{{.+}} : memref<3xbf16>, memref<4xbf16>)
//  CHECK-NEXT:   return
// UNGROUPED-LABEL: func.func @grouped
// UNGROUPED-COUNT-2: "multi_add"
func.func @grouped(%x: memref<8x5xbf16>, %dy1: memref<8x3xbf16>, %dy2: memref<8x4xbf16>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %g = dsrt.param @b1.grad : memref<3xbf16>
  dsrt.kernel "reduce_sum" ins(%dy1, %g : memref<8x3xbf16>, memref<3xbf16>) outs(%g : memref<3xbf16>) {attrs = {axes = array<i64: 0>, keepdims = false}}
  %gw = dsrt.param @w1.grad : memref<3x5xbf16>
  dsrt.kernel "gemm" ins(%dy1, %x, %gw : memref<8x3xbf16>, memref<8x5xbf16>, memref<3x5xbf16>) outs(%gw : memref<3x5xbf16>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = true, trans_b = false}}
  %h = dsrt.param @b2.grad : memref<4xbf16>
  dsrt.kernel "reduce_sum" ins(%dy2, %h : memref<8x4xbf16>, memref<4xbf16>) outs(%h : memref<4xbf16>) {attrs = {axes = array<i64: 0>, keepdims = false}}
  %hw = dsrt.param @w2.grad : memref<4x5xbf16>
  dsrt.kernel "gemm" ins(%dy2, %x, %hw : memref<8x4xbf16>, memref<8x5xbf16>, memref<4x5xbf16>) outs(%hw : memref<4x5xbf16>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = true, trans_b = false}}
  return
}

// -----

dsrt.global @b1.grad : memref<3xbf16>
dsrt.global @w1.grad : memref<3x5xbf16>
dsrt.global @b2.grad : memref<4xbf16>
dsrt.global @w2.grad : memref<4x5xbf16>

// Tests that an accumulation runs before the first kernel after its reduce_sum that reads
// the gradient (here its all-reduce), and that a later one whose gemm comes after that point
// gets a multi_add of its own.
// CHECK-LABEL: func.func @before_reader
//       CHECK:   dsrt.kernel "gemm" {{.+}}bias_grad = "a"
//  CHECK-NEXT:   dsrt.kernel "multi_add" ins({{.+}} : memref<3xbf16>, memref<3xbf16>)
//  CHECK-NEXT:   dsrt.kernel "all_reduce"
//       CHECK:   dsrt.kernel "gemm" {{.+}}bias_grad = "a"
//  CHECK-NEXT:   dsrt.kernel "multi_add" ins({{.+}} : memref<4xbf16>, memref<4xbf16>)
//  CHECK-NEXT:   return
func.func @before_reader(%x: memref<8x5xbf16>, %dy1: memref<8x3xbf16>, %dy2: memref<8x4xbf16>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %g = dsrt.param @b1.grad : memref<3xbf16>
  dsrt.kernel "reduce_sum" ins(%dy1, %g : memref<8x3xbf16>, memref<3xbf16>) outs(%g : memref<3xbf16>) {attrs = {axes = array<i64: 0>, keepdims = false}}
  %gw = dsrt.param @w1.grad : memref<3x5xbf16>
  dsrt.kernel "gemm" ins(%dy1, %x, %gw : memref<8x3xbf16>, memref<8x5xbf16>, memref<3x5xbf16>) outs(%gw : memref<3x5xbf16>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = true, trans_b = false}}
  dsrt.kernel "all_reduce" ins(%g : memref<3xbf16>) outs(%g : memref<3xbf16>) on comm {attrs = {reduction = "sum"}}
  %h = dsrt.param @b2.grad : memref<4xbf16>
  dsrt.kernel "reduce_sum" ins(%dy2, %h : memref<8x4xbf16>, memref<4xbf16>) outs(%h : memref<4xbf16>) {attrs = {axes = array<i64: 0>, keepdims = false}}
  %hw = dsrt.param @w2.grad : memref<4x5xbf16>
  dsrt.kernel "gemm" ins(%dy2, %x, %hw : memref<8x4xbf16>, memref<8x5xbf16>, memref<4x5xbf16>) outs(%hw : memref<4x5xbf16>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = true, trans_b = false}}
  return
}

// -----

dsrt.global @b.grad : memref<3xbf16>
dsrt.global @w.grad : memref<3x5xbf16>
dsrt.global @w2.grad : memref<3x5xbf16>

// Tests that one gradient accumulated twice (a bias used by two layers) gets two multi_adds
// in order, never two results on the same bytes in one kernel.
// CHECK-LABEL: func.func @same_gradient
//       CHECK:   "gemm"{{.+}}bias_grad = "a"
//  CHECK-NEXT:   "multi_add"
//       CHECK:   "gemm"{{.+}}bias_grad = "a"
//  CHECK-NEXT:   "multi_add"
func.func @same_gradient(%x: memref<8x5xbf16>, %dy1: memref<8x3xbf16>, %dy2: memref<8x3xbf16>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %g = dsrt.param @b.grad : memref<3xbf16>
  dsrt.kernel "reduce_sum" ins(%dy1, %g : memref<8x3xbf16>, memref<3xbf16>) outs(%g : memref<3xbf16>) {attrs = {axes = array<i64: 0>, keepdims = false}}
  %gw = dsrt.param @w.grad : memref<3x5xbf16>
  dsrt.kernel "gemm" ins(%dy1, %x, %gw : memref<8x3xbf16>, memref<8x5xbf16>, memref<3x5xbf16>) outs(%gw : memref<3x5xbf16>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = true, trans_b = false}}
  dsrt.kernel "reduce_sum" ins(%dy2, %g : memref<8x3xbf16>, memref<3xbf16>) outs(%g : memref<3xbf16>) {attrs = {axes = array<i64: 0>, keepdims = false}}
  %hw = dsrt.param @w2.grad : memref<3x5xbf16>
  dsrt.kernel "gemm" ins(%dy2, %x, %hw : memref<8x3xbf16>, memref<8x5xbf16>, memref<3x5xbf16>) outs(%hw : memref<3x5xbf16>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = true, trans_b = false}}
  return
}

// -----

dsrt.global @b.grad : memref<3xf32>
dsrt.global @r.grad : memref<8xf32>
dsrt.global @w.grad : memref<3x5xf32>

// Tests that reduce_sums that are not the gemm's contraction are left alone: the other dim
// of the reduced operand, and a reduction of another buffer.
// CHECK-LABEL: func.func @not_the_contraction
//   CHECK-NOT:   "multi_add"
//   CHECK-NOT:   bias_grad
//       CHECK:   "reduce_sum"
//       CHECK:   "reduce_sum"
//   CHECK-NOT:   bias_grad
func.func @not_the_contraction(%x: memref<8x5xf32>, %dy: memref<8x3xf32>, %other: memref<8x3xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %g = dsrt.param @b.grad : memref<3xf32>
  dsrt.kernel "reduce_sum" ins(%other, %g : memref<8x3xf32>, memref<3xf32>) outs(%g : memref<3xf32>) {attrs = {axes = array<i64: 0>, keepdims = false}}
  %r = dsrt.param @r.grad : memref<8xf32>
  dsrt.kernel "reduce_sum" ins(%dy, %r : memref<8x3xf32>, memref<8xf32>) outs(%r : memref<8xf32>) {attrs = {axes = array<i64: 1>, keepdims = false}}
  %gw = dsrt.param @w.grad : memref<3x5xf32>
  dsrt.kernel "gemm" ins(%dy, %x, %gw : memref<8x3xf32>, memref<8x5xf32>, memref<3x5xf32>) outs(%gw : memref<3x5xf32>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = true, trans_b = false}}
  return
}

// -----

dsrt.global @b.grad : memref<3xf32>
dsrt.global @w.grad : memref<3x5xf32>

// Tests that the fusion is refused when the output gradient is written between the
// reduce_sum and the gemm (the gemm would sum other values).
// CHECK-LABEL: func.func @dy_written_between
//       CHECK:   "reduce_sum"
//   CHECK-NOT:   bias_grad
func.func @dy_written_between(%x: memref<8x5xf32>, %dy: memref<8x3xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %g = dsrt.param @b.grad : memref<3xf32>
  dsrt.kernel "reduce_sum" ins(%dy, %g : memref<8x3xf32>, memref<3xf32>) outs(%g : memref<3xf32>) {attrs = {axes = array<i64: 0>, keepdims = false}}
  dsrt.kernel "relu" ins(%dy : memref<8x3xf32>) outs(%dy : memref<8x3xf32>)
  %gw = dsrt.param @w.grad : memref<3x5xf32>
  dsrt.kernel "gemm" ins(%dy, %x, %gw : memref<8x3xf32>, memref<8x5xf32>, memref<3x5xf32>) outs(%gw : memref<3x5xf32>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = true, trans_b = false}}
  return
}

// -----

dsrt.global @b.grad : memref<3xf32>
dsrt.global @w.grad : memref<3x5xf32>

// Tests that the fusion is refused when the gradient is read between the reduce_sum and a
// later gemm (the accumulation cannot move past that reader).
// CHECK-LABEL: func.func @grad_read_between
//       CHECK:   "reduce_sum"
//   CHECK-NOT:   bias_grad
func.func @grad_read_between(%x: memref<8x5xf32>, %dy: memref<8x3xf32>, %o: memref<3xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %g = dsrt.param @b.grad : memref<3xf32>
  dsrt.kernel "reduce_sum" ins(%dy, %g : memref<8x3xf32>, memref<3xf32>) outs(%g : memref<3xf32>) {attrs = {axes = array<i64: 0>, keepdims = false}}
  dsrt.kernel "copy" ins(%g : memref<3xf32>) outs(%o : memref<3xf32>)
  %gw = dsrt.param @w.grad : memref<3x5xf32>
  dsrt.kernel "gemm" ins(%dy, %x, %gw : memref<8x3xf32>, memref<8x5xf32>, memref<3x5xf32>) outs(%gw : memref<3x5xf32>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = true, trans_b = false}}
  return
}

// -----

dsrt.global @b.grad : memref<3xf32>
dsrt.global @w.grad : memref<3x5xf32>

// Tests that the fusion is refused for a gemm with alpha != 1, for a reduce_sum whose result
// is not its acc's bytes, and for a transient acc.
// CHECK-LABEL: func.func @refused
//   CHECK-NOT:   bias_grad
//   CHECK-NOT:   "multi_add"
func.func @refused(%x: memref<8x5xf32>, %dy: memref<8x3xf32>, %o: memref<3xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %g = dsrt.param @b.grad : memref<3xf32>
  dsrt.kernel "reduce_sum" ins(%dy, %g : memref<8x3xf32>, memref<3xf32>) outs(%o : memref<3xf32>) {attrs = {axes = array<i64: 0>, keepdims = false}}
  %t = dsrt.alloc : memref<3xf32>
  dsrt.kernel "reduce_sum" ins(%dy, %t : memref<8x3xf32>, memref<3xf32>) outs(%t : memref<3xf32>) {attrs = {axes = array<i64: 0>, keepdims = false}}
  dsrt.kernel "copy" ins(%t : memref<3xf32>) outs(%o : memref<3xf32>)
  %gw = dsrt.param @w.grad : memref<3x5xf32>
  dsrt.kernel "gemm" ins(%dy, %x, %gw : memref<8x3xf32>, memref<8x5xf32>, memref<3x5xf32>) outs(%gw : memref<3x5xf32>) {attrs = {alpha = 2.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = true, trans_b = false}}
  %g2 = dsrt.param @b.grad : memref<3xf32>
  dsrt.kernel "reduce_sum" ins(%dy, %g2 : memref<8x3xf32>, memref<3xf32>) outs(%g2 : memref<3xf32>) {attrs = {axes = array<i64: 0>, keepdims = false}}
  return
}
