// RUN: ds-opt %s --split-input-file --ds-fuse-loss-grad | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-fuse-loss-grad | ds-opt --split-input-file | FileCheck %s

// Tests that the loss and its gradient become one kernel where the loss was: the seed's
// constant and the gradient's alloc move before it, and the kernel takes the loss's
// attributes.
// CHECK-LABEL: func.func @constant_seed
//       CHECK:   %[[L:.+]] = dsrt.alloc : memref<f32>
//  CHECK-NEXT:   %[[G:.+]] = dsrt.alloc : memref<f32>
//  CHECK-NEXT:   dsrt.kernel "constant" outs(%[[G]] : memref<f32>)
//  CHECK-NEXT:   %[[DS:.+]] = dsrt.alloc : memref<8x10xf32>
//  CHECK-NEXT:   dsrt.kernel "softmax_cross_entropy_loss_with_grad" ins(%[[G]], %arg0, %arg1 : memref<f32>, memref<8x10xf32>, memref<8xi64>) outs(%[[L]], %[[DS]] : memref<f32>, memref<8x10xf32>) {attrs = {ignore_index = -100 : i64, reduction = "mean"}}
//  CHECK-NEXT:   dsrt.alloc : memref<8x4xf32>
//  CHECK-NEXT:   dsrt.kernel "gemm" ins(%[[DS]]
//  CHECK-NEXT:   return %[[L]]
// CHECK-NOT: "softmax_cross_entropy_loss"
// CHECK-NOT: "softmax_cross_entropy_loss_grad"
func.func @constant_seed(%s: memref<8x10xf32>, %y: memref<8xi64>, %w: memref<10x4xf32>) -> memref<f32> attributes {dsrt.role = #dsrt.role<micro_step>} {
  %l = dsrt.alloc : memref<f32>
  dsrt.kernel "softmax_cross_entropy_loss" ins(%s, %y : memref<8x10xf32>, memref<8xi64>) outs(%l : memref<f32>) {attrs = {ignore_index = -100 : i64, reduction = "mean"}}
  %g = dsrt.alloc : memref<f32>
  dsrt.kernel "constant" outs(%g : memref<f32>) {attrs = {value = dense<1.000000e+00> : tensor<f32>}}
  %ds = dsrt.alloc : memref<8x10xf32>
  dsrt.kernel "softmax_cross_entropy_loss_grad" ins(%g, %s, %y : memref<f32>, memref<8x10xf32>, memref<8xi64>) outs(%ds : memref<8x10xf32>) {attrs = {ignore_index = -100 : i64, reduction = "mean"}}
  %dx = dsrt.alloc : memref<8x4xf32>
  dsrt.kernel "gemm" ins(%ds, %w : memref<8x10xf32>, memref<10x4xf32>) outs(%dx : memref<8x4xf32>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = false, trans_b = false}}
  return %l : memref<f32>
}

// -----

dsrt.global @loss_scale : memref<f32>

// Tests that mixed precision's seed, the loss-scale global read after the loss, and class
// weights are taken as they are: bf16 scores seen through views, an f32 loss.
// CHECK-LABEL: func.func @loss_scale_seed
//       CHECK:   %[[S:.+]] = dsrt.view %arg0 : memref<2x4x6xbf16> to memref<8x6xbf16>
//       CHECK:   %[[G:.+]] = dsrt.param @loss_scale : memref<f32>
//  CHECK-NEXT:   %[[DS:.+]] = dsrt.alloc : memref<8x6xbf16>
//  CHECK-NEXT:   dsrt.kernel "softmax_cross_entropy_loss_with_grad" ins(%[[G]], %[[S]], %arg1, %arg2 : memref<f32>, memref<8x6xbf16>, memref<8xi32>, memref<6xbf16>) outs(%{{.+}}, %[[DS]] : memref<f32>, memref<8x6xbf16>) {attrs = {reduction = "sum"}}
//   CHECK-NOT:   "softmax_cross_entropy_loss
//       CHECK:   return
func.func @loss_scale_seed(%s3: memref<2x4x6xbf16>, %y: memref<8xi32>, %cw: memref<6xbf16>) -> memref<8x6xbf16> attributes {dsrt.role = #dsrt.role<micro_step>} {
  %s = dsrt.view %s3 : memref<2x4x6xbf16> to memref<8x6xbf16>
  %l = dsrt.alloc : memref<f32>
  dsrt.kernel "softmax_cross_entropy_loss" ins(%s, %y, %cw : memref<8x6xbf16>, memref<8xi32>, memref<6xbf16>) outs(%l : memref<f32>) {attrs = {reduction = "sum"}}
  %g = dsrt.param @loss_scale : memref<f32>
  %s2 = dsrt.view %s3 : memref<2x4x6xbf16> to memref<8x6xbf16>
  %ds = dsrt.alloc : memref<8x6xbf16>
  dsrt.kernel "softmax_cross_entropy_loss_grad" ins(%g, %s2, %y, %cw : memref<f32>, memref<8x6xbf16>, memref<8xi32>, memref<6xbf16>) outs(%ds : memref<8x6xbf16>) {attrs = {reduction = "sum"}}
  return %ds : memref<8x6xbf16>
}

// -----

// Tests that reduction "none" fuses with a per-position g known before the loss, and that
// a kernel reading the loss in between stays where it is (the loss is written where it was).
// CHECK-LABEL: func.func @per_position
//       CHECK:   dsrt.kernel "softmax_cross_entropy_loss_with_grad" ins(%arg2, %arg0, %arg1 : memref<8xf32>, memref<8x10xf32>, memref<8xi64>) outs(%[[L:.+]], %{{.+}} : memref<8xf32>, memref<8x10xf32>) {attrs = {reduction = "none"}}
//  CHECK-NEXT:   %[[R:.+]] = dsrt.alloc : memref<f32>
//  CHECK-NEXT:   dsrt.kernel "reduce_sum" ins(%[[L]] : memref<8xf32>)
//   CHECK-NOT:   "softmax_cross_entropy_loss
func.func @per_position(%s: memref<8x10xf32>, %y: memref<8xi64>, %g: memref<8xf32>) -> (memref<f32>, memref<8x10xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %l = dsrt.alloc : memref<8xf32>
  dsrt.kernel "softmax_cross_entropy_loss" ins(%s, %y : memref<8x10xf32>, memref<8xi64>) outs(%l : memref<8xf32>) {attrs = {reduction = "none"}}
  %r = dsrt.alloc : memref<f32>
  dsrt.kernel "reduce_sum" ins(%l : memref<8xf32>) outs(%r : memref<f32>)
  %ds = dsrt.alloc : memref<8x10xf32>
  dsrt.kernel "softmax_cross_entropy_loss_grad" ins(%g, %s, %y : memref<8xf32>, memref<8x10xf32>, memref<8xi64>) outs(%ds : memref<8x10xf32>) {attrs = {reduction = "none"}}
  return %r, %ds : memref<f32>, memref<8x10xf32>
}

// -----

// Tests that a g computed from the loss (not known where the loss is) keeps both kernels.
// CHECK-LABEL: func.func @g_from_loss
//       CHECK:   "softmax_cross_entropy_loss"
//       CHECK:   "mul"
//       CHECK:   "softmax_cross_entropy_loss_grad"
func.func @g_from_loss(%s: memref<8x10xf32>, %y: memref<8xi64>) -> memref<8x10xf32> attributes {dsrt.role = #dsrt.role<micro_step>} {
  %l = dsrt.alloc : memref<f32>
  dsrt.kernel "softmax_cross_entropy_loss" ins(%s, %y : memref<8x10xf32>, memref<8xi64>) outs(%l : memref<f32>) {attrs = {reduction = "mean"}}
  %g = dsrt.alloc : memref<f32>
  dsrt.kernel "mul" ins(%l, %l : memref<f32>, memref<f32>) outs(%g : memref<f32>)
  %ds = dsrt.alloc : memref<8x10xf32>
  dsrt.kernel "softmax_cross_entropy_loss_grad" ins(%g, %s, %y : memref<f32>, memref<8x10xf32>, memref<8xi64>) outs(%ds : memref<8x10xf32>) {attrs = {reduction = "mean"}}
  return %ds : memref<8x10xf32>
}

// -----

// Tests that a kernel reading the seed's buffer before it is written keeps both kernels
// (the constant cannot move before the loss).
// CHECK-LABEL: func.func @seed_read_before_written
//       CHECK:   "softmax_cross_entropy_loss"
//       CHECK:   "softmax_cross_entropy_loss_grad"
func.func @seed_read_before_written(%s: memref<8x10xf32>, %y: memref<8xi64>, %g: memref<f32>, %o: memref<f32>) -> memref<8x10xf32> attributes {dsrt.role = #dsrt.role<micro_step>} {
  %l = dsrt.alloc : memref<f32>
  dsrt.kernel "softmax_cross_entropy_loss" ins(%s, %y : memref<8x10xf32>, memref<8xi64>) outs(%l : memref<f32>) {attrs = {reduction = "mean"}}
  dsrt.kernel "neg" ins(%g : memref<f32>) outs(%o : memref<f32>)
  dsrt.kernel "constant" outs(%g : memref<f32>) {attrs = {value = dense<1.000000e+00> : tensor<f32>}}
  %ds = dsrt.alloc : memref<8x10xf32>
  dsrt.kernel "softmax_cross_entropy_loss_grad" ins(%g, %s, %y : memref<f32>, memref<8x10xf32>, memref<8xi64>) outs(%ds : memref<8x10xf32>) {attrs = {reduction = "mean"}}
  return %ds : memref<8x10xf32>
}

// -----

// Tests that scores written between the two kernels keep both (the gradient reads other
// values than the loss did).
// CHECK-LABEL: func.func @scores_written_between
//       CHECK:   "softmax_cross_entropy_loss"
//       CHECK:   "softmax_cross_entropy_loss_grad"
func.func @scores_written_between(%s: memref<8x10xf32>, %y: memref<8xi64>, %g: memref<f32>) -> memref<8x10xf32> attributes {dsrt.role = #dsrt.role<micro_step>} {
  %l = dsrt.alloc : memref<f32>
  dsrt.kernel "softmax_cross_entropy_loss" ins(%s, %y : memref<8x10xf32>, memref<8xi64>) outs(%l : memref<f32>) {attrs = {reduction = "mean"}}
  dsrt.kernel "neg" ins(%s : memref<8x10xf32>) outs(%s : memref<8x10xf32>)
  %ds = dsrt.alloc : memref<8x10xf32>
  dsrt.kernel "softmax_cross_entropy_loss_grad" ins(%g, %s, %y : memref<f32>, memref<8x10xf32>, memref<8xi64>) outs(%ds : memref<8x10xf32>) {attrs = {reduction = "mean"}}
  return %ds : memref<8x10xf32>
}

// -----

// Tests that the gradient's buffer used between the two kernels keeps both (it cannot be
// written where the loss is).
// CHECK-LABEL: func.func @dscores_used_between
//       CHECK:   "softmax_cross_entropy_loss"
//       CHECK:   "softmax_cross_entropy_loss_grad"
func.func @dscores_used_between(%s: memref<8x10xf32>, %y: memref<8xi64>, %g: memref<f32>, %ds: memref<8x10xf32>, %o: memref<8x10xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %l = dsrt.alloc : memref<f32>
  dsrt.kernel "softmax_cross_entropy_loss" ins(%s, %y : memref<8x10xf32>, memref<8xi64>) outs(%l : memref<f32>) {attrs = {reduction = "mean"}}
  dsrt.kernel "neg" ins(%ds : memref<8x10xf32>) outs(%o : memref<8x10xf32>)
  dsrt.kernel "softmax_cross_entropy_loss_grad" ins(%g, %s, %y : memref<f32>, memref<8x10xf32>, memref<8xi64>) outs(%ds : memref<8x10xf32>) {attrs = {reduction = "mean"}}
  return
}

// -----

// Tests that a loss that also writes its log-probabilities, one with other attributes than
// its gradient's, and one over other labels each keep both kernels.
// CHECK-LABEL: func.func @not_the_same_loss
//   CHECK-NOT:   "softmax_cross_entropy_loss_with_grad"
func.func @not_the_same_loss(%s: memref<8x10xf32>, %y: memref<8xi64>, %y2: memref<8xi64>, %g: memref<f32>) -> (memref<8x10xf32>, memref<8x10xf32>, memref<8x10xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %l = dsrt.alloc : memref<f32>
  %lp = dsrt.alloc : memref<8x10xf32>
  dsrt.kernel "softmax_cross_entropy_loss" ins(%s, %y : memref<8x10xf32>, memref<8xi64>) outs(%l, %lp : memref<f32>, memref<8x10xf32>) {attrs = {reduction = "mean"}}
  %ds = dsrt.alloc : memref<8x10xf32>
  dsrt.kernel "softmax_cross_entropy_loss_grad" ins(%g, %s, %y : memref<f32>, memref<8x10xf32>, memref<8xi64>) outs(%ds : memref<8x10xf32>) {attrs = {reduction = "mean"}}
  %l2 = dsrt.alloc : memref<f32>
  dsrt.kernel "softmax_cross_entropy_loss" ins(%s, %y : memref<8x10xf32>, memref<8xi64>) outs(%l2 : memref<f32>) {attrs = {ignore_index = 0 : i64, reduction = "mean"}}
  %ds2 = dsrt.alloc : memref<8x10xf32>
  dsrt.kernel "softmax_cross_entropy_loss_grad" ins(%g, %s, %y : memref<f32>, memref<8x10xf32>, memref<8xi64>) outs(%ds2 : memref<8x10xf32>) {attrs = {reduction = "mean"}}
  %l3 = dsrt.alloc : memref<f32>
  dsrt.kernel "softmax_cross_entropy_loss" ins(%s, %y2 : memref<8x10xf32>, memref<8xi64>) outs(%l3 : memref<f32>) {attrs = {reduction = "mean"}}
  %ds3 = dsrt.alloc : memref<8x10xf32>
  dsrt.kernel "softmax_cross_entropy_loss_grad" ins(%g, %s, %y : memref<f32>, memref<8x10xf32>, memref<8xi64>) outs(%ds3 : memref<8x10xf32>) {attrs = {reduction = "mean"}}
  return %ds, %ds2, %ds3 : memref<8x10xf32>, memref<8x10xf32>, memref<8x10xf32>
}

// -----

// Tests that the gradient is written over the scores when the fused kernel is their last
// access: dscores's alloc becomes a view of the logits' alloc (no second logits-sized
// buffer), and the gemm that reads dscores reads those bytes.
// CHECK-LABEL: func.func @in_place
//       CHECK:   %[[Z:.+]] = dsrt.alloc : memref<2x4x10xf32>
//  CHECK-NEXT:   %[[DS:.+]] = dsrt.view %[[Z]] : memref<2x4x10xf32> to memref<8x10xf32>
//       CHECK:   dsrt.kernel "gemm"
//  CHECK-NEXT:   %[[S:.+]] = dsrt.view %[[Z]] : memref<2x4x10xf32> to memref<8x10xf32>
//       CHECK:   dsrt.kernel "softmax_cross_entropy_loss_with_grad" ins(%{{.+}}, %[[S]], %arg1 : memref<f32>, memref<8x10xf32>, memref<8xi64>) outs(%{{.+}}, %[[DS]] : memref<f32>, memref<8x10xf32>)
//  CHECK-NEXT:   %[[DX:.+]] = dsrt.alloc : memref<8x4xf32>
//  CHECK-NEXT:   dsrt.kernel "gemm" ins(%[[DS]], %arg2
//   CHECK-NOT:   dsrt.alloc : memref<8x10xf32>
func.func @in_place(%x: memref<8x4xf32>, %y: memref<8xi64>, %w: memref<4x10xf32>) -> memref<f32> attributes {dsrt.role = #dsrt.role<micro_step>} {
  %z = dsrt.alloc : memref<2x4x10xf32>
  %zm = dsrt.view %z : memref<2x4x10xf32> to memref<8x10xf32>
  dsrt.kernel "gemm" ins(%x, %w : memref<8x4xf32>, memref<4x10xf32>) outs(%zm : memref<8x10xf32>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = false, trans_b = false}}
  %s = dsrt.view %z : memref<2x4x10xf32> to memref<8x10xf32>
  %l = dsrt.alloc : memref<f32>
  dsrt.kernel "softmax_cross_entropy_loss" ins(%s, %y : memref<8x10xf32>, memref<8xi64>) outs(%l : memref<f32>) {attrs = {reduction = "mean"}}
  %g = dsrt.alloc : memref<f32>
  dsrt.kernel "constant" outs(%g : memref<f32>) {attrs = {value = dense<1.000000e+00> : tensor<f32>}}
  %ds = dsrt.alloc : memref<8x10xf32>
  dsrt.kernel "softmax_cross_entropy_loss_grad" ins(%g, %s, %y : memref<f32>, memref<8x10xf32>, memref<8xi64>) outs(%ds : memref<8x10xf32>) {attrs = {reduction = "mean"}}
  %dx = dsrt.alloc : memref<8x4xf32>
  dsrt.kernel "gemm" ins(%ds, %w : memref<8x10xf32>, memref<4x10xf32>) outs(%dx : memref<8x4xf32>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = false, trans_b = true}}
  return %l : memref<f32>
}

// -----

// Tests that the gradient gets a buffer of its own when the scores are read after the
// fused kernel (here by a kernel computing their row maxima).
// CHECK-LABEL: func.func @scores_read_later
//       CHECK:   %[[S:.+]] = dsrt.alloc : memref<8x10xf32>
//       CHECK:   %[[DS:.+]] = dsrt.alloc : memref<8x10xf32>
//  CHECK-NEXT:   dsrt.kernel "softmax_cross_entropy_loss_with_grad" ins(%{{.+}}, %[[S]], %arg1 : memref<f32>, memref<8x10xf32>, memref<8xi64>) outs(%{{.+}}, %[[DS]] : memref<f32>, memref<8x10xf32>)
//       CHECK:   dsrt.kernel "reduce_max" ins(%[[S]]
func.func @scores_read_later(%x: memref<8x4xf32>, %y: memref<8xi64>, %w: memref<4x10xf32>) -> (memref<f32>, memref<8xf32>) attributes {dsrt.role = #dsrt.role<micro_step>} {
  %s = dsrt.alloc : memref<8x10xf32>
  dsrt.kernel "gemm" ins(%x, %w : memref<8x4xf32>, memref<4x10xf32>) outs(%s : memref<8x10xf32>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = false, trans_b = false}}
  %l = dsrt.alloc : memref<f32>
  dsrt.kernel "softmax_cross_entropy_loss" ins(%s, %y : memref<8x10xf32>, memref<8xi64>) outs(%l : memref<f32>) {attrs = {reduction = "mean"}}
  %g = dsrt.alloc : memref<f32>
  dsrt.kernel "constant" outs(%g : memref<f32>) {attrs = {value = dense<1.000000e+00> : tensor<f32>}}
  %ds = dsrt.alloc : memref<8x10xf32>
  dsrt.kernel "softmax_cross_entropy_loss_grad" ins(%g, %s, %y : memref<f32>, memref<8x10xf32>, memref<8xi64>) outs(%ds : memref<8x10xf32>) {attrs = {reduction = "mean"}}
  %m = dsrt.alloc : memref<8xf32>
  dsrt.kernel "reduce_max" ins(%s : memref<8x10xf32>) outs(%m : memref<8xf32>) {attrs = {axes = array<i64: 1>, keepdims = false}}
  %dx = dsrt.alloc : memref<8x4xf32>
  dsrt.kernel "gemm" ins(%ds, %w : memref<8x10xf32>, memref<4x10xf32>) outs(%dx : memref<8x4xf32>) {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, trans_a = false, trans_b = true}}
  return %l, %m : memref<f32>, memref<8xf32>
}
