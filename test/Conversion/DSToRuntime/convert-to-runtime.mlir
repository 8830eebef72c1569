// RUN: ds-opt %s --split-input-file --ds-convert-to-runtime | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-convert-to-runtime=multi-tensor-grad-norm=false \
// RUN:   | FileCheck %s --check-prefix=EXPAND

// Tests that each ds op becomes an alloc for its result and a kernel that writes it,
// that parameters read their persistent buffers, and that signatures become memrefs.
// CHECK-LABEL: func.func @mlp
//  CHECK-SAME: (%[[X:.+]]: memref<8x16xf32> {ds.input = "x"}) -> (memref<8x4xf32> {ds.output = "y"})
//  CHECK-SAME: dsrt.role = #dsrt.role<inference>
//       CHECK:   %[[W:.+]] = dsrt.param @w : memref<16x4xf32>
//       CHECK:   %[[MM:.+]] = dsrt.alloc : memref<8x4xf32>
//  CHECK-NEXT:   dsrt.kernel "matmul" ins(%[[X]], %[[W]] : memref<8x16xf32>, memref<16x4xf32>) outs(%[[MM]] : memref<8x4xf32>)
//       CHECK:   %[[R:.+]] = dsrt.alloc : memref<8x4xf32>
//  CHECK-NEXT:   dsrt.kernel "relu" ins(%[[MM]] : memref<8x4xf32>) outs(%[[R]] : memref<8x4xf32>)
//       CHECK:   return %[[R]] : memref<8x4xf32>
ds.parameter @w : tensor<16x4xf32> from "w"
func.func @mlp(%x: tensor<8x16xf32> {ds.input = "x"}) -> (tensor<8x4xf32> {ds.output = "y"}) {
  %w = ds.param_ref @w : tensor<16x4xf32>
  %0 = ds.matmul %x, %w : (tensor<8x16xf32>, tensor<16x4xf32>) -> tensor<8x4xf32>
  %1 = ds.relu %0 : tensor<8x4xf32>
  return %1 : tensor<8x4xf32>
}

// -----

// Tests that defaulted attributes are spelled out for the runtime: the op's own defaults and,
// for attributes the op lacks (dropout's counter and training), the kernel catalogue's.
// CHECK-LABEL: func.func @defaults
//       CHECK: dsrt.kernel "gather" {{.*}} {attrs = {axis = 0 : i64}}
//       CHECK: dsrt.kernel "gemm" {{.*}} {attrs = {alpha = 1.000000e+00 : f32, beta = 1.000000e+00 : f32, bias_grad = "none", trans_a = false, trans_b = true}}
//       CHECK: dsrt.kernel "layer_norm" {{.*}} {attrs = {axis = 1 : i64, epsilon = 9.99999974E-6 : f32}}
//       CHECK: dsrt.kernel "gelu" {{.*}} {attrs = {approximate = "none"}}
//       CHECK: dsrt.kernel "reduce_mean" {{.*}} {attrs = {axes = array<i64: 1>, keepdims = true}}
//       CHECK: dsrt.kernel "dropout" {{.*}} outs(%{{.+}}, %{{.+}} : memref<4x8xf32>, memref<4x8xi1>) {attrs = {counter = 0 : i64, ratio = 1.000000e-01 : f32, seed = 0 : i64, training = true}}
//       CHECK: dsrt.kernel "softmax_cross_entropy_loss" {{.*}} {attrs = {ignore_index = -100 : i64, reduction = "mean"}}
//       CHECK: dsrt.kernel "trilu" {{.*}} {attrs = {k = 0 : i64, upper = false}}
//       CHECK: dsrt.kernel "constant" outs(%{{.+}} : memref<2xi64>) {attrs = {value = dense<[3, 4]> : tensor<2xi64>}}
func.func @defaults(%e: tensor<16x8xf32>, %ids: tensor<4xi64>, %b: tensor<8x8xf32>, %g: tensor<8xf32>) -> tensor<f32> {
  %0 = ds.gather %e, %ids : (tensor<16x8xf32>, tensor<4xi64>) -> tensor<4x8xf32>
  %1 = ds.gemm %0, %b {trans_b} : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %2 = ds.layer_norm %1, %g {axis = 1 : i64} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %3 = ds.gelu %2 : tensor<4x8xf32>
  %4 = ds.reduce_mean %3 {axes = array<i64: 1>} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %5:2 = ds.dropout %3 {ratio = 0.1 : f32} : (tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xi1>)
  %6 = ds.softmax_cross_entropy_loss %5#0, %ids {ignore_index = -100 : i64} : (tensor<4x8xf32>, tensor<4xi64>) -> tensor<f32>
  %7 = ds.trilu %b {upper = false} : tensor<8x8xf32>
  %8 = ds.constant dense<[3, 4]> : tensor<2xi64>
  return %6 : tensor<f32>
}

// -----

// Tests that module state becomes dsrt.global in place, keeping its memory space: a
// parameter names its initializer and is trainable unless frozen, a ZeRO-3 shard records
// the whole tensor's element count, a state keeps its kind for the memory report, and the
// loss scale is named on the module.
// CHECK: module attributes {dsrt.loss_scale = @loss_scale}
// CHECK-NEXT: dsrt.global trainable @w : memref<16x4xf32> from "w"{{$}}
// CHECK-NEXT: dsrt.global @mask : memref<4x4xf32> from "mask" in host{{$}}
// CHECK-NEXT: dsrt.global trainable @v : memref<6xf32> shard of 11 from "v"{{$}}
// CHECK-NEXT: dsrt.global @w.exp_avg : memref<16x4xf32> in nvme {ds.state_kind = #ds<state_kind exp_avg>}
// CHECK-NEXT: dsrt.global @loss_scale : memref<f32> {ds.state_kind = #ds<state_kind loss_scale>}
// CHECK-NOT: ds.parameter
// CHECK-NOT: ds.state
// CHECK-LABEL: func.func @step
//  CHECK-SAME: dsrt.role = #dsrt.role<apply_step>
//       CHECK: dsrt.kernel "mul"
//       CHECK: %[[M:.+]] = dsrt.param @w.exp_avg : memref<16x4xf32>
//  CHECK-NEXT: dsrt.kernel "copy" ins(%{{.+}} : memref<16x4xf32>) outs(%[[M]] : memref<16x4xf32>) on copy{{$}}
module {
ds.parameter @w : tensor<16x4xf32> from "w"
ds.parameter frozen @mask : tensor<4x4xf32> from "mask" in host
ds.parameter @v : tensor<11xf32> sharded 6 from "v"
ds.state exp_avg @w.exp_avg : tensor<16x4xf32> of @w in nvme
ds.state loss_scale @loss_scale : tensor<f32>
func.func @step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %m = ds.state_ref @w.exp_avg : tensor<16x4xf32>
  %s = ds.state_ref @loss_scale : tensor<f32>
  %0 = ds.mul %m, %m : (tensor<16x4xf32>, tensor<16x4xf32>) -> tensor<16x4xf32>
  ds.assign @w.exp_avg, %0 : tensor<16x4xf32>
  return
}
}

// -----

// Tests that the gradient norm becomes one grad_norm_sq kernel reading every gradient in
// its own dtype, and, with multi-tensor-grad-norm=false, the kernels that compute the same:
// a 16-bit gradient is cast to f32, each is squared and summed over all axes, and the sums
// are added in order.
// CHECK-LABEL: func.func @norm
//       CHECK: dsrt.kernel "grad_norm_sq" ins(%{{.+}}, %{{.+}} : memref<4xf32>, memref<8xf16>) outs(%{{.+}} : memref<f32>)
//   CHECK-NOT: dsrt.kernel
//       CHECK: return
// EXPAND-LABEL: func.func @norm
//       EXPAND: dsrt.kernel "mul" ins(%[[A:.+]], %[[A]] : memref<4xf32>, memref<4xf32>)
//       EXPAND: dsrt.kernel "reduce_sum" {{.*}} outs(%[[SA:.+]] : memref<f32>) {attrs = {axes = array<i64>, keepdims = false}}
//       EXPAND: dsrt.kernel "cast" ins(%{{.+}} : memref<8xf16>) outs(%[[B:.+]] : memref<8xf32>)
//       EXPAND: dsrt.kernel "mul" ins(%[[B]], %[[B]] : memref<8xf32>, memref<8xf32>)
//       EXPAND: dsrt.kernel "reduce_sum" {{.*}} outs(%[[SB:.+]] : memref<f32>)
//       EXPAND: dsrt.kernel "add" ins(%[[SA]], %[[SB]] : memref<f32>, memref<f32>)
//   EXPAND-NOT: grad_norm_sq
func.func @norm(%a: tensor<4xf32>, %b: tensor<8xf16>) -> tensor<f32> {
  %0 = ds.grad_norm_sq %a, %b : tensor<4xf32>, tensor<8xf16>
  return %0 : tensor<f32>
}

// -----

// Tests that enum attributes reach the runtime as the strings the plan has always had,
// and that collectives run on the comm stream.
// CHECK-LABEL: func.func @strings
//       CHECK: dsrt.kernel "gelu" {{.*}} {attrs = {approximate = "tanh"}}
//       CHECK: dsrt.kernel "nll_loss" {{.*}} {attrs = {reduction = "sum"}}
//       CHECK: dsrt.kernel "lr_schedule" {{.*}} {attrs = {{{.*}}schedule = "WarmupCosineLR", total_num_steps = 10 : i64{{.*}}}}
//       CHECK: dsrt.kernel "all_reduce" {{.*}} on comm {attrs = {reduction = "sum"}}
shard.grid @world(shape = 2)
func.func @strings(%x: tensor<4x8xf32>, %y: tensor<4xi64>, %k: tensor<i64>) -> (tensor<4x8xf32>, tensor<f32>, tensor<f32>, tensor<4x8xf32>) {
  %0 = ds.gelu %x approximate = tanh : tensor<4x8xf32>
  %1 = ds.nll_loss %0, %y reduction = sum : (tensor<4x8xf32>, tensor<4xi64>) -> tensor<f32>
  %2 = ds.lr_schedule WarmupCosineLR %k {lr = 1.0e-3 : f32, total_num_steps = 10 : i64} : tensor<f32>
  %3 = shard.all_reduce %x on @world grid_axes = [0] : tensor<4x8xf32> -> tensor<4x8xf32>
  return %0, %1, %2, %3 : tensor<4x8xf32>, tensor<f32>, tensor<f32>, tensor<4x8xf32>
}

// -----

// Tests that attention lowers to the catalogue's kernel with its defaults spelled out
// (causal false, dropout 0) and its two outputs allocated, lse in f32.
// CHECK-LABEL: func.func @attention
//       CHECK:   %[[O:.+]] = dsrt.alloc : memref<2x4x8xf32>
//       CHECK:   %[[L:.+]] = dsrt.alloc : memref<2x4xf32>
//       CHECK:   dsrt.kernel "attention" ins(%arg0, %arg0, %arg0, %arg1 : memref<2x4x8xf32>, memref<2x4x8xf32>, memref<2x4x8xf32>, memref<4x4xi1>) outs(%[[O]], %[[L]] : memref<2x4x8xf32>, memref<2x4xf32>) {attrs = {causal = false, dropout = 0.000000e+00 : f32, layout = "bhsd", scale = 2.500000e-01 : f32}}
func.func @attention(%q: tensor<2x4x8xf32> {ds.input = "q"}, %m: tensor<4x4xi1> {ds.input = "m"}) -> (tensor<2x4x8xf32> {ds.output = "o"}) {
  %o, %lse = ds.attention %q, %q, %q mask %m {scale = 0.25 : f32} : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<4x4xi1>) -> (tensor<2x4x8xf32>, tensor<2x4xf32>)
  return %o : tensor<2x4x8xf32>
}

// -----

// Tests that a concat marked ds.copy_in (ZeRO's gradient bucket) becomes one strided copy
// per operand into the result, each right after its operand is written, with the result
// allocated right before the first copy: %g1 dies at its copy, before %g2 is computed. Each
// operand's 2 rows land in its column block of the [2, 10] result (rank-major layout). The
// views the copies read move up with them: ZeRO makes its bucket's reshapes at the
// bucket's end (@copy_in_late_views).
// CHECK-LABEL: func.func @copy_in
//       CHECK:   %[[G1:.+]] = dsrt.alloc : memref<4x2xf32>
//  CHECK-NEXT:   dsrt.kernel "relu" ins(%{{.+}}) outs(%[[G1]] : memref<4x2xf32>)
//  CHECK-NEXT:   %[[B:.+]] = dsrt.alloc : memref<2x10xf32>
//  CHECK-NEXT:   %[[V1:.+]] = dsrt.view %[[G1]] : memref<4x2xf32> to memref<2x4xf32>
//  CHECK-NEXT:   dsrt.kernel "copy" ins(%[[V1]] : memref<2x4xf32>) outs(%[[B]] : memref<2x10xf32>) on copy {attrs = {count = 4 : i64, dst_offset = 0 : i64, dst_rank_stride = 0 : i64, dst_row_stride = 10 : i64, rows = 2 : i64, src_offset = 0 : i64, src_rank_stride = 0 : i64, src_row_stride = 4 : i64}}
//  CHECK-NEXT:   %[[G2:.+]] = dsrt.alloc : memref<12xf32>
//  CHECK-NEXT:   dsrt.kernel "exp" ins(%{{.+}}) outs(%[[G2]] : memref<12xf32>)
//  CHECK-NEXT:   %[[V2:.+]] = dsrt.view %[[G2]] : memref<12xf32> to memref<2x6xf32>
//  CHECK-NEXT:   dsrt.kernel "copy" ins(%[[V2]] : memref<2x6xf32>) outs(%[[B]] : memref<2x10xf32>) on copy {attrs = {count = 6 : i64, dst_offset = 4 : i64, dst_rank_stride = 0 : i64, dst_row_stride = 10 : i64, rows = 2 : i64, src_offset = 0 : i64, src_rank_stride = 0 : i64, src_row_stride = 6 : i64}}
//  CHECK-NEXT:   %[[N:.+]] = dsrt.alloc : memref<2x10xf32>
//  CHECK-NEXT:   dsrt.kernel "neg" ins(%[[B]] : memref<2x10xf32>) outs(%[[N]] : memref<2x10xf32>)
//   CHECK-NOT:   "concat"
func.func @copy_in(%x: tensor<4x2xf32>, %y: tensor<12xf32>) -> tensor<2x10xf32> {
  %g1 = ds.relu %x : tensor<4x2xf32>
  %r1 = ds.reshape %g1 : tensor<4x2xf32> to tensor<2x4xf32>
  %g2 = ds.exp %y : tensor<12xf32>
  %r2 = ds.reshape %g2 : tensor<12xf32> to tensor<2x6xf32>
  %b = ds.concat %r1, %r2 {axis = 1 : i64, ds.copy_in} : (tensor<2x4xf32>, tensor<2x6xf32>) -> tensor<2x10xf32>
  %n = ds.neg %b : tensor<2x10xf32>
  return %n : tensor<2x10xf32>
}

// CHECK-LABEL: func.func @copy_in_late_views
//       CHECK:   dsrt.kernel "relu"
//  CHECK-NEXT:   %[[B:.+]] = dsrt.alloc : memref<2x10xf32>
//  CHECK-NEXT:   %[[V1:.+]] = dsrt.view
//  CHECK-NEXT:   dsrt.kernel "copy" ins(%[[V1]] : memref<2x4xf32>) outs(%[[B]] : memref<2x10xf32>)
//  CHECK-NEXT:   %{{.+}} = dsrt.alloc : memref<12xf32>
//  CHECK-NEXT:   dsrt.kernel "exp"
//  CHECK-NEXT:   %[[V2:.+]] = dsrt.view
//  CHECK-NEXT:   dsrt.kernel "copy" ins(%[[V2]] : memref<2x6xf32>) outs(%[[B]] : memref<2x10xf32>)
func.func @copy_in_late_views(%x: tensor<4x2xf32>, %y: tensor<12xf32>) -> tensor<2x10xf32> {
  %g1 = ds.relu %x : tensor<4x2xf32>
  %g2 = ds.exp %y : tensor<12xf32>
  %r1 = ds.reshape %g1 : tensor<4x2xf32> to tensor<2x4xf32>
  %r2 = ds.reshape %g2 : tensor<12xf32> to tensor<2x6xf32>
  %b = ds.concat %r1, %r2 {axis = 1 : i64, ds.copy_in} : (tensor<2x4xf32>, tensor<2x6xf32>) -> tensor<2x10xf32>
  %n = ds.neg %b : tensor<2x10xf32>
  return %n : tensor<2x10xf32>
}

// -----

// Tests that a widening cast the program returns is made right before the return
// (mixed precision's f32 logits): cloned there when something earlier also reads it
// (the loss), so that the first f32 copy dies at its last reader, and moved there when
// only the return reads it; the bf16 input is what stays alive to the end. A narrowing
// cast is returned as it is.
// CHECK-LABEL: func.func @cast_outputs_at_return
//       CHECK:   %[[W:.+]] = dsrt.alloc : memref<4xf32>
//  CHECK-NEXT:   dsrt.kernel "cast" ins(%arg0 : memref<4xbf16>) outs(%[[W]] : memref<4xf32>)
//       CHECK:   dsrt.kernel "reduce_sum" ins(%[[W]] : memref<4xf32>)
//       CHECK:   %[[N:.+]] = dsrt.alloc : memref<4xbf16>
//  CHECK-NEXT:   dsrt.kernel "cast" ins(%arg1 : memref<4xf32>) outs(%[[N]] : memref<4xbf16>)
//       CHECK:   dsrt.kernel "neg"
//  CHECK-NEXT:   %[[R:.+]] = dsrt.alloc : memref<4xf32>
//  CHECK-NEXT:   dsrt.kernel "cast" ins(%arg0 : memref<4xbf16>) outs(%[[R]] : memref<4xf32>)
//  CHECK-NEXT:   %[[V:.+]] = dsrt.alloc : memref<4xf32>
//  CHECK-NEXT:   dsrt.kernel "cast" ins(%arg2 : memref<4xbf16>) outs(%[[V]] : memref<4xf32>)
//  CHECK-NEXT:   return %{{.+}}, %[[R]], %[[N]], %[[V]] :
func.func @cast_outputs_at_return(%x: tensor<4xbf16>, %y: tensor<4xf32>, %z: tensor<4xbf16>) -> (tensor<f32>, tensor<4xf32>, tensor<4xbf16>, tensor<4xf32>) {
  %w = ds.cast %x : tensor<4xbf16> to tensor<4xf32>
  %v = ds.cast %z : tensor<4xbf16> to tensor<4xf32>
  %s = ds.reduce_sum %w {axes = array<i64>, keepdims = false} : (tensor<4xf32>) -> tensor<f32>
  %n = ds.cast %y : tensor<4xf32> to tensor<4xbf16>
  %m = ds.neg %n : tensor<4xbf16>
  return %s, %w, %n, %v : tensor<f32>, tensor<4xf32>, tensor<4xbf16>, tensor<4xf32>
}

// -----

// Tests that a slice keeping every element and a dropout of ratio 0 whose mask nothing reads
// are views of their input (no kernel); a dropout whose mask is read, a dropout that drops,
// and a slice that drops elements keep their kernels.
// CHECK-LABEL: func.func @identity_views
//  CHECK-NEXT:   %[[S:.+]] = dsrt.view %arg0 : memref<4x8xf32> to memref<4x8xf32>
//  CHECK-NEXT:   %[[D:.+]] = dsrt.view %[[S]] : memref<4x8xf32> to memref<4x8xf32>
//       CHECK:   dsrt.kernel "dropout" ins(%[[D]]
//  CHECK-SAME:     ratio = 0.000000e+00
//       CHECK:   dsrt.kernel "dropout"
//  CHECK-SAME:     ratio = 5.000000e-01
//       CHECK:   dsrt.kernel "slice"
func.func @identity_views(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xi1>, tensor<4x8xf32>, tensor<4x4xf32>) {
  %0 = ds.slice %x {starts = array<i64: 0, 0>, ends = array<i64: 4, 8>, steps = array<i64: 1, 1>} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %1:2 = ds.dropout %0 {ratio = 0.0 : f32} : (tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xi1>)
  %2:2 = ds.dropout %1#0 {ratio = 0.0 : f32} : (tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xi1>)
  %3:2 = ds.dropout %1#0 {ratio = 0.5 : f32, seed = 1} : (tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xi1>)
  %4 = ds.slice %1#0 {starts = array<i64: 0, 0>, ends = array<i64: 4, 8>, steps = array<i64: 1, 2>} : (tensor<4x8xf32>) -> tensor<4x4xf32>
  return %2#0, %2#1, %3#0, %4 : tensor<4x8xf32>, tensor<4x8xi1>, tensor<4x8xf32>, tensor<4x4xf32>
}
