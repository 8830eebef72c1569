// RUN: ds-opt %s --split-input-file --ds-group-optimizer-updates | FileCheck %s

// Tests that two bf16 parameters' chains (gradient cast to f32, unscale and clip
// multiplies, adam_update in place, cast to the working copy, zeroing from a shared zero
// constant) become one multi_adam_update after the last of them, and that the casts,
// multiplies, copies, their transients and the unread zero constant are gone.
// CHECK-LABEL: func.func @apply_step
//       CHECK:   dsrt.kernel "lr_schedule"
//   CHECK-NOT:   dsrt.kernel "cast"
//   CHECK-NOT:   dsrt.kernel "mul"
//   CHECK-NOT:   dsrt.kernel "constant"
//   CHECK-NOT:   dsrt.kernel "copy"
//       CHECK:   dsrt.kernel "multi_adam_update" ins({{.*}} : memref<f32>, memref<i64>, memref<f32>, memref<f32>, memref<f32>, memref<8xf32>, memref<8xbf16>, memref<8xf32>, memref<8xf32>, memref<4xf32>, memref<4xbf16>, memref<4xf32>, memref<4xf32>)
//  CHECK-SAME:     outs({{.*}} : memref<8xf32>, memref<8xf32>, memref<8xf32>, memref<8xbf16>, memref<8xbf16>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xbf16>, memref<4xbf16>)
//  CHECK-SAME:     adam_w_mode = true
//  CHECK-SAME:     count = 2 : i64
//  CHECK-SAME:     finite = true
//  CHECK-SAME:     grad_scales = 2 : i64
//  CHECK-SAME:     working_copy = true
//  CHECK-SAME:     zero_grads = true
//  CHECK-NEXT:   dsrt.param @counters
//  CHECK-NEXT:   dsrt.kernel "loss_scale_update"
//  CHECK-NEXT:   return
dsrt.global trainable @a : memref<8xbf16> from "a"
dsrt.global @a.master : memref<8xf32>
dsrt.global @a.exp_avg : memref<8xf32>
dsrt.global @a.exp_avg_sq : memref<8xf32>
dsrt.global @a.grad : memref<8xbf16>
dsrt.global trainable @b : memref<4xbf16> from "b"
dsrt.global @b.master : memref<4xf32>
dsrt.global @b.exp_avg : memref<4xf32>
dsrt.global @b.exp_avg_sq : memref<4xf32>
dsrt.global @b.grad : memref<4xbf16>
dsrt.global @step : memref<i64>
dsrt.global @scale : memref<f32>
dsrt.global @counters : memref<3xi64>
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %st = dsrt.param @step : memref<i64>
  %lr = dsrt.alloc : memref<f32>
  dsrt.kernel "lr_schedule" ins(%st : memref<i64>) outs(%lr : memref<f32>) {attrs = {lr = 1.0e-3 : f32, schedule = "constant"}}
  %t = dsrt.alloc : memref<i64>
  dsrt.kernel "add" ins(%st, %st : memref<i64>, memref<i64>) outs(%t : memref<i64>)
  %ag0 = dsrt.param @a.grad : memref<8xbf16>
  %bg0 = dsrt.param @b.grad : memref<4xbf16>
  %fin = dsrt.alloc : memref<f32>
  dsrt.kernel "all_finite" ins(%ag0, %bg0 : memref<8xbf16>, memref<4xbf16>) outs(%fin : memref<f32>)
  %sc = dsrt.param @scale : memref<f32>
  %inv = dsrt.alloc : memref<f32>
  dsrt.kernel "reciprocal" ins(%sc : memref<f32>) outs(%inv : memref<f32>)
  %coef = dsrt.alloc : memref<f32>
  dsrt.kernel "grad_norm_sq" ins(%ag0, %bg0 : memref<8xbf16>, memref<4xbf16>) outs(%coef : memref<f32>)
  %z8 = dsrt.alloc : memref<8xbf16>
  dsrt.kernel "constant" outs(%z8 : memref<8xbf16>) {attrs = {value = dense<0.0> : tensor<8xbf16>}}

  %ag = dsrt.param @a.grad : memref<8xbf16>
  %ac = dsrt.alloc : memref<8xf32>
  dsrt.kernel "cast" ins(%ag : memref<8xbf16>) outs(%ac : memref<8xf32>)
  %au = dsrt.alloc : memref<8xf32>
  dsrt.kernel "mul" ins(%ac, %inv : memref<8xf32>, memref<f32>) outs(%au : memref<8xf32>)
  %ak = dsrt.alloc : memref<8xf32>
  dsrt.kernel "mul" ins(%au, %coef : memref<8xf32>, memref<f32>) outs(%ak : memref<8xf32>)
  %ap = dsrt.param @a.master : memref<8xf32>
  %am = dsrt.param @a.exp_avg : memref<8xf32>
  %av = dsrt.param @a.exp_avg_sq : memref<8xf32>
  %ap2 = dsrt.param @a.master : memref<8xf32>
  %am2 = dsrt.param @a.exp_avg : memref<8xf32>
  %av2 = dsrt.param @a.exp_avg_sq : memref<8xf32>
  dsrt.kernel "adam_update" ins(%ap, %ak, %am, %av, %lr, %t, %fin : memref<8xf32>, memref<8xf32>, memref<8xf32>, memref<8xf32>, memref<f32>, memref<i64>, memref<f32>) outs(%ap2, %am2, %av2 : memref<8xf32>, memref<8xf32>, memref<8xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  %aw = dsrt.param @a : memref<8xbf16>
  dsrt.kernel "cast" ins(%ap2 : memref<8xf32>) outs(%aw : memref<8xbf16>)
  %ag2 = dsrt.param @a.grad : memref<8xbf16>
  dsrt.kernel "copy" ins(%z8 : memref<8xbf16>) outs(%ag2 : memref<8xbf16>) on copy

  %bg = dsrt.param @b.grad : memref<4xbf16>
  %bc = dsrt.alloc : memref<4xf32>
  dsrt.kernel "cast" ins(%bg : memref<4xbf16>) outs(%bc : memref<4xf32>)
  %bu = dsrt.alloc : memref<4xf32>
  dsrt.kernel "mul" ins(%bc, %inv : memref<4xf32>, memref<f32>) outs(%bu : memref<4xf32>)
  %bk = dsrt.alloc : memref<4xf32>
  dsrt.kernel "mul" ins(%bu, %coef : memref<4xf32>, memref<f32>) outs(%bk : memref<4xf32>)
  %bp = dsrt.param @b.master : memref<4xf32>
  %bm = dsrt.param @b.exp_avg : memref<4xf32>
  %bv = dsrt.param @b.exp_avg_sq : memref<4xf32>
  dsrt.kernel "adam_update" ins(%bp, %bk, %bm, %bv, %lr, %t, %fin : memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<f32>, memref<i64>, memref<f32>) outs(%bp, %bm, %bv : memref<4xf32>, memref<4xf32>, memref<4xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  %bw = dsrt.param @b : memref<4xbf16>
  dsrt.kernel "cast" ins(%bp : memref<4xf32>) outs(%bw : memref<4xbf16>)
  %bg2 = dsrt.param @b.grad : memref<4xbf16>
  dsrt.kernel "fill" outs(%bg2 : memref<4xbf16>) {attrs = {value = 0.0 : f64}}

  %cnt = dsrt.param @counters : memref<3xi64>
  dsrt.kernel "loss_scale_update" ins(%fin, %sc, %cnt : memref<f32>, memref<f32>, memref<3xi64>) outs(%sc, %cnt : memref<f32>, memref<3xi64>)
  return
}

// -----

// Tests that f32 parameters updated straight from their f32 gradients form a group without
// working copies or scales, and that parameters with other hyper-parameters form a group of
// their own.
// CHECK-LABEL: func.func @apply_step
//       CHECK:   dsrt.kernel "multi_adam_update" ins({{.*}} : memref<f32>, memref<i64>, memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<3xf32>, memref<3xf32>, memref<3xf32>, memref<3xf32>)
//  CHECK-SAME:     count = 2 : i64
//  CHECK-SAME:     finite = false
//  CHECK-SAME:     grad_scales = 0 : i64
//  CHECK-SAME:     weight_decay = 0.000000e+00 : f32
//  CHECK-SAME:     working_copy = false
//  CHECK-SAME:     zero_grads = false
//  CHECK-NEXT:   dsrt.param @c
//       CHECK:   dsrt.kernel "multi_adam_update"
//  CHECK-SAME:     count = 1 : i64
//  CHECK-SAME:     weight_decay = 1.000000e-01 : f32
//   CHECK-NOT:   adam_update"
dsrt.global trainable @x : memref<2xf32> from "x"
dsrt.global @x.exp_avg : memref<2xf32>
dsrt.global @x.exp_avg_sq : memref<2xf32>
dsrt.global @x.grad : memref<2xf32>
dsrt.global trainable @y : memref<3xf32> from "y"
dsrt.global @y.exp_avg : memref<3xf32>
dsrt.global @y.exp_avg_sq : memref<3xf32>
dsrt.global @y.grad : memref<3xf32>
dsrt.global trainable @c : memref<2xf32> from "c"
dsrt.global @c.exp_avg : memref<2xf32>
dsrt.global @c.exp_avg_sq : memref<2xf32>
dsrt.global @c.grad : memref<2xf32>
dsrt.global @lr : memref<f32>
dsrt.global @step : memref<i64>
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %lr = dsrt.param @lr : memref<f32>
  %t = dsrt.param @step : memref<i64>
  %x = dsrt.param @x : memref<2xf32>
  %xg = dsrt.param @x.grad : memref<2xf32>
  %xm = dsrt.param @x.exp_avg : memref<2xf32>
  %xv = dsrt.param @x.exp_avg_sq : memref<2xf32>
  dsrt.kernel "adam_update" ins(%x, %xg, %xm, %xv, %lr, %t : memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<f32>, memref<i64>) outs(%x, %xm, %xv : memref<2xf32>, memref<2xf32>, memref<2xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  %y = dsrt.param @y : memref<3xf32>
  %yg = dsrt.param @y.grad : memref<3xf32>
  %ym = dsrt.param @y.exp_avg : memref<3xf32>
  %yv = dsrt.param @y.exp_avg_sq : memref<3xf32>
  dsrt.kernel "adam_update" ins(%y, %yg, %ym, %yv, %lr, %t : memref<3xf32>, memref<3xf32>, memref<3xf32>, memref<3xf32>, memref<f32>, memref<i64>) outs(%y, %ym, %yv : memref<3xf32>, memref<3xf32>, memref<3xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  %c = dsrt.param @c : memref<2xf32>
  %cg = dsrt.param @c.grad : memref<2xf32>
  %cm = dsrt.param @c.exp_avg : memref<2xf32>
  %cv = dsrt.param @c.exp_avg_sq : memref<2xf32>
  dsrt.kernel "adam_update" ins(%c, %cg, %cm, %cv, %lr, %t : memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<f32>, memref<i64>) outs(%c, %cm, %cv : memref<2xf32>, memref<2xf32>, memref<2xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.1 : f32}}
  return
}

// -----

// Tests that an update stays alone when a kernel outside the group reads its parameter
// between it and the group's position (moving the update would change what it reads), that
// the others still form a group, and that host-stream (offloaded) and lamb updates and
// programs other than apply_step are left alone.
// CHECK-LABEL: func.func @apply_step
//       CHECK:   dsrt.kernel "adam_update" ins({{.*}} : memref<2xf32>
//       CHECK:   dsrt.kernel "all_gather"
//       CHECK:   dsrt.kernel "adam_update" {{.+}} on host
//       CHECK:   dsrt.kernel "lamb_update"
//       CHECK:   dsrt.kernel "multi_adam_update"
//  CHECK-SAME:     count = 2 : i64
// CHECK-LABEL: func.func @micro_step
//       CHECK:   dsrt.kernel "adam_update"
dsrt.global trainable @x : memref<2xf32> from "x"
dsrt.global @x.exp_avg : memref<2xf32>
dsrt.global @x.exp_avg_sq : memref<2xf32>
dsrt.global @x.grad : memref<2xf32>
dsrt.global trainable @y : memref<2xf32> from "y"
dsrt.global @y.exp_avg : memref<2xf32>
dsrt.global @y.exp_avg_sq : memref<2xf32>
dsrt.global @y.grad : memref<2xf32>
dsrt.global trainable @z : memref<2xf32> from "z"
dsrt.global @z.exp_avg : memref<2xf32>
dsrt.global @z.exp_avg_sq : memref<2xf32>
dsrt.global @z.grad : memref<2xf32>
dsrt.global trainable @h : memref<2xf32> from "h" in host
dsrt.global @h.exp_avg : memref<2xf32> in host
dsrt.global @h.exp_avg_sq : memref<2xf32> in host
dsrt.global @h.grad : memref<2xf32> in host
dsrt.global @lr : memref<f32>
dsrt.global @step : memref<i64>
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %lr = dsrt.param @lr : memref<f32>
  %t = dsrt.param @step : memref<i64>
  %x = dsrt.param @x : memref<2xf32>
  %xg = dsrt.param @x.grad : memref<2xf32>
  %xm = dsrt.param @x.exp_avg : memref<2xf32>
  %xv = dsrt.param @x.exp_avg_sq : memref<2xf32>
  dsrt.kernel "adam_update" ins(%x, %xg, %xm, %xv, %lr, %t : memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<f32>, memref<i64>) outs(%x, %xm, %xv : memref<2xf32>, memref<2xf32>, memref<2xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  %gx = dsrt.alloc : memref<4xf32>
  dsrt.kernel "all_gather" ins(%x : memref<2xf32>) outs(%gx : memref<4xf32>) on comm {attrs = {axis = 0 : i64}}
  %y = dsrt.param @y : memref<2xf32>
  %yg = dsrt.param @y.grad : memref<2xf32>
  %ym = dsrt.param @y.exp_avg : memref<2xf32>
  %yv = dsrt.param @y.exp_avg_sq : memref<2xf32>
  dsrt.kernel "adam_update" ins(%y, %yg, %ym, %yv, %lr, %t : memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<f32>, memref<i64>) outs(%y, %ym, %yv : memref<2xf32>, memref<2xf32>, memref<2xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  %h = dsrt.param @h : memref<2xf32>
  %hg = dsrt.param @h.grad : memref<2xf32>
  %hm = dsrt.param @h.exp_avg : memref<2xf32>
  %hv = dsrt.param @h.exp_avg_sq : memref<2xf32>
  dsrt.kernel "adam_update" ins(%h, %hg, %hm, %hv, %lr, %t : memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<f32>, memref<i64>) outs(%h, %hm, %hv : memref<2xf32>, memref<2xf32>, memref<2xf32>) on host {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  %z = dsrt.param @z : memref<2xf32>
  %zg = dsrt.param @z.grad : memref<2xf32>
  %zm = dsrt.param @z.exp_avg : memref<2xf32>
  %zv = dsrt.param @z.exp_avg_sq : memref<2xf32>
  dsrt.kernel "lamb_update" ins(%z, %zg, %zm, %zv, %lr, %t : memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<f32>, memref<i64>) outs(%z, %zm, %zv : memref<2xf32>, memref<2xf32>, memref<2xf32>) {attrs = {beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  %x2 = dsrt.param @x : memref<2xf32>
  %x2g = dsrt.param @x.grad : memref<2xf32>
  %x2m = dsrt.param @x.exp_avg : memref<2xf32>
  %x2v = dsrt.param @x.exp_avg_sq : memref<2xf32>
  dsrt.kernel "adam_update" ins(%x2, %x2g, %x2m, %x2v, %lr, %t : memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<f32>, memref<i64>) outs(%x2, %x2m, %x2v : memref<2xf32>, memref<2xf32>, memref<2xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  return
}
func.func @micro_step() attributes {dsrt.role = #dsrt.role<micro_step>} {
  %lr = dsrt.param @lr : memref<f32>
  %t = dsrt.param @step : memref<i64>
  %y = dsrt.param @y : memref<2xf32>
  %yg = dsrt.param @y.grad : memref<2xf32>
  %ym = dsrt.param @y.exp_avg : memref<2xf32>
  %yv = dsrt.param @y.exp_avg_sq : memref<2xf32>
  dsrt.kernel "adam_update" ins(%y, %yg, %ym, %yv, %lr, %t : memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<f32>, memref<i64>) outs(%y, %ym, %yv : memref<2xf32>, memref<2xf32>, memref<2xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  return
}

// -----

// Tests that a gradient zeroed by a copy from another gradient that a zero constant wrote in
// place (what --ds-elide-state-copies makes of a shared zero constant) is zeroed by the group
// too, and that neither a scalar written between a member's first kernel and its first read
// of that scalar (the learning rate here) nor a read of its gradient before it writes the
// gradient (the clipping norm here) keeps it out.
// CHECK-LABEL: func.func @apply_step
//       CHECK:   dsrt.kernel "lr_schedule"
//   CHECK-NOT:   dsrt.kernel "c
//       CHECK:   dsrt.kernel "grad_norm_sq"
//   CHECK-NOT:   dsrt.kernel "c
//       CHECK:   dsrt.kernel "multi_adam_update"
//  CHECK-SAME:     count = 2 : i64
//  CHECK-SAME:     zero_grads = true
//  CHECK-NEXT:   return
dsrt.global trainable @a : memref<4xbf16> from "a"
dsrt.global @a.master : memref<4xf32>
dsrt.global @a.exp_avg : memref<4xf32>
dsrt.global @a.exp_avg_sq : memref<4xf32>
dsrt.global @a.grad : memref<4xbf16>
dsrt.global trainable @b : memref<4xbf16> from "b"
dsrt.global @b.master : memref<4xf32>
dsrt.global @b.exp_avg : memref<4xf32>
dsrt.global @b.exp_avg_sq : memref<4xf32>
dsrt.global @b.grad : memref<4xbf16>
dsrt.global @step : memref<i64>
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %t = dsrt.param @step : memref<i64>
  %ag = dsrt.param @a.grad : memref<4xbf16>
  %ac = dsrt.alloc : memref<4xf32>
  dsrt.kernel "cast" ins(%ag : memref<4xbf16>) outs(%ac : memref<4xf32>)
  %lr = dsrt.alloc : memref<f32>
  dsrt.kernel "lr_schedule" ins(%t : memref<i64>) outs(%lr : memref<f32>) {attrs = {lr = 1.0e-3 : f32, schedule = "constant"}}
  %norm = dsrt.alloc : memref<f32>
  dsrt.kernel "grad_norm_sq" ins(%ag : memref<4xbf16>) outs(%norm : memref<f32>)
  %ap = dsrt.param @a.master : memref<4xf32>
  %am = dsrt.param @a.exp_avg : memref<4xf32>
  %av = dsrt.param @a.exp_avg_sq : memref<4xf32>
  dsrt.kernel "adam_update" ins(%ap, %ac, %am, %av, %lr, %t : memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<f32>, memref<i64>) outs(%ap, %am, %av : memref<4xf32>, memref<4xf32>, memref<4xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  %aw = dsrt.param @a : memref<4xbf16>
  dsrt.kernel "cast" ins(%ap : memref<4xf32>) outs(%aw : memref<4xbf16>)
  %ag2 = dsrt.param @a.grad : memref<4xbf16>
  dsrt.kernel "constant" outs(%ag2 : memref<4xbf16>) {attrs = {value = dense<0.0> : tensor<4xbf16>}}
  %bg = dsrt.param @b.grad : memref<4xbf16>
  %bc = dsrt.alloc : memref<4xf32>
  dsrt.kernel "cast" ins(%bg : memref<4xbf16>) outs(%bc : memref<4xf32>)
  %bp = dsrt.param @b.master : memref<4xf32>
  %bm = dsrt.param @b.exp_avg : memref<4xf32>
  %bv = dsrt.param @b.exp_avg_sq : memref<4xf32>
  dsrt.kernel "adam_update" ins(%bp, %bc, %bm, %bv, %lr, %t : memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<f32>, memref<i64>) outs(%bp, %bm, %bv : memref<4xf32>, memref<4xf32>, memref<4xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  %bw = dsrt.param @b : memref<4xbf16>
  dsrt.kernel "cast" ins(%bp : memref<4xf32>) outs(%bw : memref<4xbf16>)
  %bg2 = dsrt.param @b.grad : memref<4xbf16>
  dsrt.kernel "copy" ins(%ag2 : memref<4xbf16>) outs(%bg2 : memref<4xbf16>) on copy
  return
}

// -----

// Tests that at ZeRO stage 3 (world 2) bf16 parameters kept whole on every rank, whose
// sharded masters are cast into transients that all_gather into the whole working copies,
// join the group: the multi-tensor kernel writes the transients, the gathers move behind
// it in program order, and no per-parameter adam_update or cast is left. A gradient read
// through a view of its global (another shape) is passed in the master's shape.
// CHECK-LABEL: func.func @apply_step
//   CHECK-NOT:   dsrt.kernel "cast"
//   CHECK-NOT:   dsrt.kernel "all_gather"
//       CHECK:   dsrt.kernel "multi_adam_update" ins({{.*}} : memref<f32>, memref<i64>, memref<4xf32>, memref<4xbf16>, memref<4xf32>, memref<4xf32>, memref<2xf32>, memref<2xbf16>, memref<2xf32>, memref<2xf32>)
//  CHECK-SAME:     outs(%{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %[[AW:[^,]+]], %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %[[BW:[^ ]+]] : memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xbf16>, memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<2xbf16>)
//  CHECK-SAME:     count = 2 : i64
//  CHECK-SAME:     working_copy = true
//  CHECK-NEXT:   dsrt.kernel "all_gather" ins(%[[AW]] : memref<4xbf16>) outs(%{{.+}} : memref<8xbf16>) on comm
//       CHECK:   dsrt.kernel "all_gather" ins(%[[BW]] : memref<2xbf16>) outs(%{{.+}} : memref<4xbf16>) on comm
//   CHECK-NOT:   dsrt.kernel "adam_update"
//   CHECK-NOT:   dsrt.kernel "cast"
dsrt.global trainable @a : memref<8xbf16> from "a"
dsrt.global @a.master : memref<4xf32>
dsrt.global @a.exp_avg : memref<4xf32>
dsrt.global @a.exp_avg_sq : memref<4xf32>
dsrt.global @a.grad : memref<2x2xbf16>
dsrt.global trainable @b : memref<4xbf16> from "b"
dsrt.global @b.master : memref<2xf32>
dsrt.global @b.exp_avg : memref<2xf32>
dsrt.global @b.exp_avg_sq : memref<2xf32>
dsrt.global @b.grad : memref<2xbf16>
dsrt.global @lr : memref<f32>
dsrt.global @step : memref<i64>
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %lr = dsrt.param @lr : memref<f32>
  %t = dsrt.param @step : memref<i64>
  %ag2 = dsrt.param @a.grad : memref<2x2xbf16>
  %ag = dsrt.view %ag2 : memref<2x2xbf16> to memref<4xbf16>
  %ac = dsrt.alloc : memref<4xf32>
  dsrt.kernel "cast" ins(%ag : memref<4xbf16>) outs(%ac : memref<4xf32>)
  %ap = dsrt.param @a.master : memref<4xf32>
  %am = dsrt.param @a.exp_avg : memref<4xf32>
  %av = dsrt.param @a.exp_avg_sq : memref<4xf32>
  dsrt.kernel "adam_update" ins(%ap, %ac, %am, %av, %lr, %t : memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<f32>, memref<i64>) outs(%ap, %am, %av : memref<4xf32>, memref<4xf32>, memref<4xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  %aws = dsrt.alloc : memref<4xbf16>
  dsrt.kernel "cast" ins(%ap : memref<4xf32>) outs(%aws : memref<4xbf16>)
  %aw = dsrt.param @a : memref<8xbf16>
  dsrt.kernel "all_gather" ins(%aws : memref<4xbf16>) outs(%aw : memref<8xbf16>) on comm {attrs = {axis = 0 : i64}}
  %bg = dsrt.param @b.grad : memref<2xbf16>
  %bc = dsrt.alloc : memref<2xf32>
  dsrt.kernel "cast" ins(%bg : memref<2xbf16>) outs(%bc : memref<2xf32>)
  %bp = dsrt.param @b.master : memref<2xf32>
  %bm = dsrt.param @b.exp_avg : memref<2xf32>
  %bv = dsrt.param @b.exp_avg_sq : memref<2xf32>
  dsrt.kernel "adam_update" ins(%bp, %bc, %bm, %bv, %lr, %t : memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<f32>, memref<i64>) outs(%bp, %bm, %bv : memref<2xf32>, memref<2xf32>, memref<2xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  %bws = dsrt.alloc : memref<2xbf16>
  dsrt.kernel "cast" ins(%bp : memref<2xf32>) outs(%bws : memref<2xbf16>)
  %bw = dsrt.param @b : memref<4xbf16>
  dsrt.kernel "all_gather" ins(%bws : memref<2xbf16>) outs(%bw : memref<4xbf16>) on comm {attrs = {axis = 0 : i64}}
  return
}

// -----

// Tests that f32 parameters without masters at ZeRO stages 1-3 (world 2) join the group:
// each rank's shard, copied out of the parameter by rank and updated into a transient that
// an all_gather writes back into the whole parameter, is updated in place in the copy's
// transient (the other one goes); the copies stay in place, the gathers move behind the
// group kernel (a 2-D parameter is gathered into through a view). The shards the group
// holds (24 bytes) stay within half of what the largest chain held (x: its two shards and
// its clipped gradient, 48 bytes), so one kernel takes both.
// CHECK-LABEL: func.func @apply_step
//       CHECK:   dsrt.kernel "copy" ins(%{{.+}} : memref<8xf32>) outs(%[[XS:.+]] : memref<4xf32>) on copy
//       CHECK:   dsrt.kernel "copy" ins(%{{.+}} : memref<4xf32>) outs(%[[YS:.+]] : memref<2xf32>) on copy
//   CHECK-NOT:   dsrt.kernel "all_gather"
//       CHECK:   dsrt.kernel "multi_adam_update" ins(%{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %[[XS]], %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %[[YS]], %{{[^,]+}}, %{{[^,]+}}, %{{[^ ]+}} :
//  CHECK-SAME:     outs(%[[XS]], %{{[^,]+}}, %{{[^,]+}}, %[[YS]], %{{[^,]+}}, %{{[^ ]+}} :
//  CHECK-SAME:     count = 2 : i64
//  CHECK-SAME:     grad_scales = 1 : i64
//  CHECK-NEXT:   dsrt.kernel "all_gather" ins(%[[XS]] : memref<4xf32>)
//       CHECK:   dsrt.kernel "all_gather" ins(%[[YS]] : memref<2xf32>)
//   CHECK-NOT:   dsrt.kernel "adam_update"
dsrt.global trainable @x : memref<2x4xf32> from "x"
dsrt.global @x.exp_avg : memref<4xf32>
dsrt.global @x.exp_avg_sq : memref<4xf32>
dsrt.global @x.grad : memref<4xf32>
dsrt.global trainable @y : memref<4xf32> from "y"
dsrt.global @y.exp_avg : memref<2xf32>
dsrt.global @y.exp_avg_sq : memref<2xf32>
dsrt.global @y.grad : memref<2xf32>
dsrt.global @lr : memref<f32>
dsrt.global @step : memref<i64>
dsrt.global @clip : memref<f32>
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %lr = dsrt.param @lr : memref<f32>
  %t = dsrt.param @step : memref<i64>
  %clip = dsrt.param @clip : memref<f32>
  %x2 = dsrt.param @x : memref<2x4xf32>
  %x = dsrt.view %x2 : memref<2x4xf32> to memref<8xf32>
  %xs = dsrt.alloc : memref<4xf32>
  dsrt.kernel "copy" ins(%x : memref<8xf32>) outs(%xs : memref<4xf32>) on copy {attrs = {count = 4 : i64, dst_offset = 0 : i64, dst_rank_stride = 0 : i64, dst_row_stride = 0 : i64, rows = 1 : i64, src_offset = 0 : i64, src_rank_stride = 4 : i64, src_row_stride = 0 : i64}}
  %xg0 = dsrt.param @x.grad : memref<4xf32>
  %xg = dsrt.alloc : memref<4xf32>
  dsrt.kernel "mul" ins(%xg0, %clip : memref<4xf32>, memref<f32>) outs(%xg : memref<4xf32>)
  %xm = dsrt.param @x.exp_avg : memref<4xf32>
  %xv = dsrt.param @x.exp_avg_sq : memref<4xf32>
  %xn = dsrt.alloc : memref<4xf32>
  dsrt.kernel "adam_update" ins(%xs, %xg, %xm, %xv, %lr, %t : memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<f32>, memref<i64>) outs(%xn, %xm, %xv : memref<4xf32>, memref<4xf32>, memref<4xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  %xw2 = dsrt.param @x : memref<2x4xf32>
  %xw = dsrt.view %xw2 : memref<2x4xf32> to memref<8xf32>
  dsrt.kernel "all_gather" ins(%xn : memref<4xf32>) outs(%xw : memref<8xf32>) on comm {attrs = {axis = 0 : i64}}
  %y = dsrt.param @y : memref<4xf32>
  %ys = dsrt.alloc : memref<2xf32>
  dsrt.kernel "copy" ins(%y : memref<4xf32>) outs(%ys : memref<2xf32>) on copy {attrs = {count = 2 : i64, dst_offset = 0 : i64, dst_rank_stride = 0 : i64, dst_row_stride = 0 : i64, rows = 1 : i64, src_offset = 0 : i64, src_rank_stride = 2 : i64, src_row_stride = 0 : i64}}
  %yg0 = dsrt.param @y.grad : memref<2xf32>
  %yg = dsrt.alloc : memref<2xf32>
  dsrt.kernel "mul" ins(%yg0, %clip : memref<2xf32>, memref<f32>) outs(%yg : memref<2xf32>)
  %ym = dsrt.param @y.exp_avg : memref<2xf32>
  %yv = dsrt.param @y.exp_avg_sq : memref<2xf32>
  %yn = dsrt.alloc : memref<2xf32>
  dsrt.kernel "adam_update" ins(%ys, %yg, %ym, %yv, %lr, %t : memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<2xf32>, memref<f32>, memref<i64>) outs(%yn, %ym, %yv : memref<2xf32>, memref<2xf32>, memref<2xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  %yw = dsrt.param @y : memref<4xf32>
  dsrt.kernel "all_gather" ins(%yn : memref<2xf32>) outs(%yw : memref<4xf32>) on comm {attrs = {axis = 0 : i64}}
  return
}

// -----

// Tests that an update whose gather is read before the group's place stays alone: moving
// the gather behind the group kernel would change what that reader sees.
// CHECK-LABEL: func.func @apply_step
//       CHECK:   dsrt.kernel "adam_update"
//  CHECK-NEXT:   dsrt.kernel "all_gather"
//       CHECK:   dsrt.kernel "copy"
//       CHECK:   dsrt.kernel "multi_adam_update"
//  CHECK-SAME:     count = 1 : i64
dsrt.global trainable @x : memref<8xf32> from "x"
dsrt.global @x.exp_avg : memref<4xf32>
dsrt.global @x.exp_avg_sq : memref<4xf32>
dsrt.global @x.grad : memref<4xf32>
dsrt.global trainable @y : memref<4xf32> from "y"
dsrt.global @y.exp_avg : memref<4xf32>
dsrt.global @y.exp_avg_sq : memref<4xf32>
dsrt.global @y.grad : memref<4xf32>
dsrt.global @snapshot : memref<8xf32>
dsrt.global @lr : memref<f32>
dsrt.global @step : memref<i64>
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %lr = dsrt.param @lr : memref<f32>
  %t = dsrt.param @step : memref<i64>
  %x = dsrt.param @x : memref<8xf32>
  %xs = dsrt.alloc : memref<4xf32>
  dsrt.kernel "copy" ins(%x : memref<8xf32>) outs(%xs : memref<4xf32>) on copy {attrs = {count = 4 : i64, dst_offset = 0 : i64, dst_rank_stride = 0 : i64, dst_row_stride = 0 : i64, rows = 1 : i64, src_offset = 0 : i64, src_rank_stride = 4 : i64, src_row_stride = 0 : i64}}
  %xg = dsrt.param @x.grad : memref<4xf32>
  %xm = dsrt.param @x.exp_avg : memref<4xf32>
  %xv = dsrt.param @x.exp_avg_sq : memref<4xf32>
  %xn = dsrt.alloc : memref<4xf32>
  dsrt.kernel "adam_update" ins(%xs, %xg, %xm, %xv, %lr, %t : memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<f32>, memref<i64>) outs(%xn, %xm, %xv : memref<4xf32>, memref<4xf32>, memref<4xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  dsrt.kernel "all_gather" ins(%xn : memref<4xf32>) outs(%x : memref<8xf32>) on comm {attrs = {axis = 0 : i64}}
  %s = dsrt.param @snapshot : memref<8xf32>
  dsrt.kernel "copy" ins(%x : memref<8xf32>) outs(%s : memref<8xf32>) on copy
  %y = dsrt.param @y : memref<4xf32>
  %yg = dsrt.param @y.grad : memref<4xf32>
  %ym = dsrt.param @y.exp_avg : memref<4xf32>
  %yv = dsrt.param @y.exp_avg_sq : memref<4xf32>
  dsrt.kernel "adam_update" ins(%y, %yg, %ym, %yv, %lr, %t : memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<f32>, memref<i64>) outs(%y, %ym, %yv : memref<4xf32>, memref<4xf32>, memref<4xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  return
}

// -----

// Tests that at ZeRO stage 1 (world 2) a gradient shard that a copy took out of the reduced
// gradient by rank, and that the overflow check reads too, stays where it is and is read by
// the group kernel; the cast is absorbed.
// CHECK-LABEL: func.func @apply_step
//       CHECK:   dsrt.kernel "copy" ins(%{{.+}} : memref<8xbf16>) outs(%[[GS:.+]] : memref<4xbf16>) on copy
//       CHECK:   dsrt.kernel "all_finite" ins(%[[GS]] : memref<4xbf16>)
//   CHECK-NOT:   dsrt.kernel "cast"
//       CHECK:   dsrt.kernel "multi_adam_update" ins(%{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %[[GS]], %{{[^,]+}}, %{{[^ ]+}} :
//  CHECK-SAME:     count = 1 : i64
//  CHECK-SAME:     zero_grads = false
//       CHECK:   dsrt.kernel "all_gather"
dsrt.global trainable @a : memref<8xbf16> from "a"
dsrt.global @a.master : memref<4xf32>
dsrt.global @a.exp_avg : memref<4xf32>
dsrt.global @a.exp_avg_sq : memref<4xf32>
dsrt.global @a.grad : memref<8xbf16>
dsrt.global @lr : memref<f32>
dsrt.global @step : memref<i64>
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %lr = dsrt.param @lr : memref<f32>
  %t = dsrt.param @step : memref<i64>
  %ag = dsrt.param @a.grad : memref<8xbf16>
  %gs = dsrt.alloc : memref<4xbf16>
  dsrt.kernel "copy" ins(%ag : memref<8xbf16>) outs(%gs : memref<4xbf16>) on copy {attrs = {count = 4 : i64, dst_offset = 0 : i64, dst_rank_stride = 0 : i64, dst_row_stride = 0 : i64, rows = 1 : i64, src_offset = 0 : i64, src_rank_stride = 4 : i64, src_row_stride = 0 : i64}}
  %fin = dsrt.alloc : memref<f32>
  dsrt.kernel "all_finite" ins(%gs : memref<4xbf16>) outs(%fin : memref<f32>)
  %ac = dsrt.alloc : memref<4xf32>
  dsrt.kernel "cast" ins(%gs : memref<4xbf16>) outs(%ac : memref<4xf32>)
  %ap = dsrt.param @a.master : memref<4xf32>
  %am = dsrt.param @a.exp_avg : memref<4xf32>
  %av = dsrt.param @a.exp_avg_sq : memref<4xf32>
  dsrt.kernel "adam_update" ins(%ap, %ac, %am, %av, %lr, %t : memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<f32>, memref<i64>) outs(%ap, %am, %av : memref<4xf32>, memref<4xf32>, memref<4xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  %aws = dsrt.alloc : memref<4xbf16>
  dsrt.kernel "cast" ins(%ap : memref<4xf32>) outs(%aws : memref<4xbf16>)
  %aw = dsrt.param @a : memref<8xbf16>
  dsrt.kernel "all_gather" ins(%aws : memref<4xbf16>) outs(%aw : memref<8xbf16>) on comm {attrs = {axis = 0 : i64}}
  return
}

// -----

// Tests that a group whose shard transients would outgrow half of what the largest member's
// own chain held (each f32 shard's copy and update transients: 32 bytes; the group would
// hold 16 bytes per member) is run as one kernel per member that fits, in program order,
// each followed by its gather.
// CHECK-LABEL: func.func @apply_step
//       CHECK:   dsrt.kernel "multi_adam_update"
//  CHECK-SAME:     count = 1 : i64
//  CHECK-NEXT:   dsrt.kernel "all_gather" ins(%{{.+}} : memref<4xf32>) outs(%{{.+}} : memref<8xf32>)
//       CHECK:   dsrt.kernel "multi_adam_update"
//  CHECK-SAME:     count = 1 : i64
//  CHECK-NEXT:   dsrt.kernel "all_gather" ins(%{{.+}} : memref<4xf32>) outs(%{{.+}} : memref<8xf32>)
//   CHECK-NOT:   "adam_update"
dsrt.global trainable @x : memref<8xf32> from "x"
dsrt.global @x.exp_avg : memref<4xf32>
dsrt.global @x.exp_avg_sq : memref<4xf32>
dsrt.global @x.grad : memref<4xf32>
dsrt.global trainable @y : memref<8xf32> from "y"
dsrt.global @y.exp_avg : memref<4xf32>
dsrt.global @y.exp_avg_sq : memref<4xf32>
dsrt.global @y.grad : memref<4xf32>
dsrt.global @lr : memref<f32>
dsrt.global @step : memref<i64>
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %lr = dsrt.param @lr : memref<f32>
  %t = dsrt.param @step : memref<i64>
  %x = dsrt.param @x : memref<8xf32>
  %xs = dsrt.alloc : memref<4xf32>
  dsrt.kernel "copy" ins(%x : memref<8xf32>) outs(%xs : memref<4xf32>) on copy {attrs = {count = 4 : i64, dst_offset = 0 : i64, dst_rank_stride = 0 : i64, dst_row_stride = 0 : i64, rows = 1 : i64, src_offset = 0 : i64, src_rank_stride = 4 : i64, src_row_stride = 0 : i64}}
  %xg = dsrt.param @x.grad : memref<4xf32>
  %xm = dsrt.param @x.exp_avg : memref<4xf32>
  %xv = dsrt.param @x.exp_avg_sq : memref<4xf32>
  %xn = dsrt.alloc : memref<4xf32>
  dsrt.kernel "adam_update" ins(%xs, %xg, %xm, %xv, %lr, %t : memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<f32>, memref<i64>) outs(%xn, %xm, %xv : memref<4xf32>, memref<4xf32>, memref<4xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  dsrt.kernel "all_gather" ins(%xn : memref<4xf32>) outs(%x : memref<8xf32>) on comm {attrs = {axis = 0 : i64}}
  %y = dsrt.param @y : memref<8xf32>
  %ys = dsrt.alloc : memref<4xf32>
  dsrt.kernel "copy" ins(%y : memref<8xf32>) outs(%ys : memref<4xf32>) on copy {attrs = {count = 4 : i64, dst_offset = 0 : i64, dst_rank_stride = 0 : i64, dst_row_stride = 0 : i64, rows = 1 : i64, src_offset = 0 : i64, src_rank_stride = 4 : i64, src_row_stride = 0 : i64}}
  %yg = dsrt.param @y.grad : memref<4xf32>
  %ym = dsrt.param @y.exp_avg : memref<4xf32>
  %yv = dsrt.param @y.exp_avg_sq : memref<4xf32>
  %yn = dsrt.alloc : memref<4xf32>
  dsrt.kernel "adam_update" ins(%ys, %yg, %ym, %yv, %lr, %t : memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<4xf32>, memref<f32>, memref<i64>) outs(%yn, %ym, %yv : memref<4xf32>, memref<4xf32>, memref<4xf32>) {attrs = {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32}}
  dsrt.kernel "all_gather" ins(%yn : memref<4xf32>) outs(%y : memref<8xf32>) on comm {attrs = {axis = 0 : i64}}
  return
}
