// RUN: ds-opt %s --split-input-file --ds-fold-attention-transposes | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-fold-attention-transposes | ds-opt --split-input-file | FileCheck %s

// Tests that a GPT-2 style attention (q, k, v split from one projection, each transposed
// to [B, H, S, D], the output transposed back) and its gradient (the output gradient
// transposed in, dq, dk, dv transposed out) read and write the [B, S, H, D] buffers
// directly with layout bshd; all eight transposes are gone.
// CHECK-LABEL: func.func @forward_and_backward
//       CHECK:   %[[QKV:.+]] = dsrt.alloc : memref<2x8x3x4x16xf32>
//   CHECK-NOT:   "transpose"
//       CHECK:   %[[Q:.+]] = dsrt.view %[[QS:.+]] : memref<2x8x64xf32> to memref<2x8x4x16xf32>
//   CHECK-NOT:   "transpose"
//       CHECK:   %[[K:.+]] = dsrt.view %[[KS:.+]] : memref<2x8x64xf32> to memref<2x8x4x16xf32>
//   CHECK-NOT:   "transpose"
//       CHECK:   %[[V:.+]] = dsrt.view %[[VS:.+]] : memref<2x8x64xf32> to memref<2x8x4x16xf32>
//   CHECK-NOT:   "transpose"
//       CHECK:   %[[O:.+]] = dsrt.alloc : memref<2x8x4x16xf32>
//   CHECK-NOT:   "transpose"
//       CHECK:   dsrt.kernel "attention" ins(%[[Q]], %[[K]], %[[V]] : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) outs(%[[O]], %[[LSE:.+]] : memref<2x8x4x16xf32>, memref<2x4x8xf32>)
//   CHECK-NOT:   "transpose"
//  CHECK-SAME:     layout = "bshd"
//       CHECK:   dsrt.kernel "copy" ins(%[[O]] :
//   CHECK-NOT:   "transpose"
//       CHECK:   %[[GS:.+]] = dsrt.alloc : memref<2x8x4x16xf32>
//   CHECK-NOT:   "transpose"
//       CHECK:   %[[DQ:.+]] = dsrt.alloc : memref<2x8x4x16xf32>
//   CHECK-NOT:   "transpose"
//       CHECK:   %[[DK:.+]] = dsrt.alloc : memref<2x8x4x16xf32>
//   CHECK-NOT:   "transpose"
//       CHECK:   %[[DV:.+]] = dsrt.alloc : memref<2x8x4x16xf32>
//   CHECK-NOT:   "transpose"
//       CHECK:   dsrt.kernel "attention_grad" ins(%[[GS]], %[[Q]], %[[K]], %[[V]], %[[O]], %[[LSE]] : {{.+}}) outs(%[[DQ]], %[[DK]], %[[DV]] :
//   CHECK-NOT:   "transpose"
//  CHECK-SAME:     layout = "bshd"
//       CHECK:   dsrt.kernel "concat" ins(%[[DQ]], %[[DK]], %[[DV]] :
//   CHECK-NOT:   "transpose"
//       CHECK:   return
func.func @forward_and_backward(%x: memref<2x8x192xf32>, %g: memref<2x8x4x16xf32>, %y: memref<2x8x4x16xf32>, %dx: memref<2x8x3x4x16xf32>) {
  %qkv = dsrt.alloc : memref<2x8x3x4x16xf32>
  %xv = dsrt.view %x : memref<2x8x192xf32> to memref<2x8x3x4x16xf32>
  dsrt.kernel "copy" ins(%xv : memref<2x8x3x4x16xf32>) outs(%qkv : memref<2x8x3x4x16xf32>)
  %qkvf = dsrt.view %qkv : memref<2x8x3x4x16xf32> to memref<2x8x192xf32>
  %qs = dsrt.alloc : memref<2x8x64xf32>
  %ks = dsrt.alloc : memref<2x8x64xf32>
  %vs = dsrt.alloc : memref<2x8x64xf32>
  dsrt.kernel "split" ins(%qkvf : memref<2x8x192xf32>) outs(%qs, %ks, %vs : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) {attrs = {axis = 2 : i64, sizes = array<i64: 64, 64, 64>}}
  %q4 = dsrt.view %qs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %k4 = dsrt.view %ks : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %v4 = dsrt.view %vs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %q = dsrt.alloc : memref<2x4x8x16xf32>
  dsrt.kernel "transpose" ins(%q4 : memref<2x8x4x16xf32>) outs(%q : memref<2x4x8x16xf32>) {attrs = {perm = array<i64: 0, 2, 1, 3>}}
  %k = dsrt.alloc : memref<2x4x8x16xf32>
  dsrt.kernel "transpose" ins(%k4 : memref<2x8x4x16xf32>) outs(%k : memref<2x4x8x16xf32>) {attrs = {perm = array<i64: 0, 2, 1, 3>}}
  %v = dsrt.alloc : memref<2x4x8x16xf32>
  dsrt.kernel "transpose" ins(%v4 : memref<2x8x4x16xf32>) outs(%v : memref<2x4x8x16xf32>) {attrs = {perm = array<i64: 0, 2, 1, 3>}}
  %o = dsrt.alloc : memref<2x4x8x16xf32>
  %lse = dsrt.alloc : memref<2x4x8xf32>
  dsrt.kernel "attention" ins(%q, %k, %v : memref<2x4x8x16xf32>, memref<2x4x8x16xf32>, memref<2x4x8x16xf32>) outs(%o, %lse : memref<2x4x8x16xf32>, memref<2x4x8xf32>) {attrs = {causal = true, dropout = 0.000000e+00 : f32, layout = "bhsd", scale = 2.500000e-01 : f32}}
  %ot = dsrt.alloc : memref<2x8x4x16xf32>
  dsrt.kernel "transpose" ins(%o : memref<2x4x8x16xf32>) outs(%ot : memref<2x8x4x16xf32>) {attrs = {perm = array<i64: 0, 2, 1, 3>}}
  dsrt.kernel "copy" ins(%ot : memref<2x8x4x16xf32>) outs(%y : memref<2x8x4x16xf32>)
  %gs = dsrt.alloc : memref<2x8x4x16xf32>
  dsrt.kernel "copy" ins(%g : memref<2x8x4x16xf32>) outs(%gs : memref<2x8x4x16xf32>)
  %gt = dsrt.alloc : memref<2x4x8x16xf32>
  dsrt.kernel "transpose" ins(%gs : memref<2x8x4x16xf32>) outs(%gt : memref<2x4x8x16xf32>) {attrs = {perm = array<i64: 0, 2, 1, 3>}}
  %dq = dsrt.alloc : memref<2x4x8x16xf32>
  %dk = dsrt.alloc : memref<2x4x8x16xf32>
  %dv = dsrt.alloc : memref<2x4x8x16xf32>
  dsrt.kernel "attention_grad" ins(%gt, %q, %k, %v, %o, %lse : memref<2x4x8x16xf32>, memref<2x4x8x16xf32>, memref<2x4x8x16xf32>, memref<2x4x8x16xf32>, memref<2x4x8x16xf32>, memref<2x4x8xf32>) outs(%dq, %dk, %dv : memref<2x4x8x16xf32>, memref<2x4x8x16xf32>, memref<2x4x8x16xf32>) {attrs = {causal = true, dropout = 0.000000e+00 : f32, scale = 2.500000e-01 : f32}}
  %dqt = dsrt.alloc : memref<2x8x4x16xf32>
  dsrt.kernel "transpose" ins(%dq : memref<2x4x8x16xf32>) outs(%dqt : memref<2x8x4x16xf32>) {attrs = {perm = array<i64: 0, 2, 1, 3>}}
  %dkt = dsrt.alloc : memref<2x8x4x16xf32>
  dsrt.kernel "transpose" ins(%dk : memref<2x4x8x16xf32>) outs(%dkt : memref<2x8x4x16xf32>) {attrs = {perm = array<i64: 0, 2, 1, 3>}}
  %dvt = dsrt.alloc : memref<2x8x4x16xf32>
  dsrt.kernel "transpose" ins(%dv : memref<2x4x8x16xf32>) outs(%dvt : memref<2x8x4x16xf32>) {attrs = {perm = array<i64: 0, 2, 1, 3>}}
  %dxv = dsrt.view %dx : memref<2x8x3x4x16xf32> to memref<2x8x12x16xf32>
  dsrt.kernel "concat" ins(%dqt, %dkt, %dvt : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) outs(%dxv : memref<2x8x12x16xf32>) {attrs = {axis = 2 : i64}}
  return
}

// -----

// Tests that attention in [B, H, S, D] given as such (no transposes around it) keeps the
// general layout.
// CHECK-LABEL: func.func @no_transposes
//       CHECK:   dsrt.kernel "attention"
//   CHECK-NOT:     layout
func.func @no_transposes(%q: memref<2x4x8x16xf32>, %o: memref<2x4x8x16xf32>) {
  %lse = dsrt.alloc : memref<2x4x8xf32>
  dsrt.kernel "attention" ins(%q, %q, %q : memref<2x4x8x16xf32>, memref<2x4x8x16xf32>, memref<2x4x8x16xf32>) outs(%o, %lse : memref<2x4x8x16xf32>, memref<2x4x8xf32>) {attrs = {causal = true, dropout = 0.000000e+00 : f32, scale = 2.500000e-01 : f32}}
  return
}

// -----

// Tests that a transposed query that another kernel also reads keeps the transposes
// (the [B, H, S, D] copy is needed anyway).
// CHECK-LABEL: func.func @query_read_elsewhere
//   CHECK-COUNT-4:   dsrt.kernel "transpose"
//   CHECK-NOT:     layout
func.func @query_read_elsewhere(%x: memref<2x8x4x16xf32>, %y: memref<2x8x4x16xf32>, %z: memref<2x4x8x16xf32>) {
  %xs = dsrt.alloc : memref<2x8x4x16xf32>
  dsrt.kernel "copy" ins(%x : memref<2x8x4x16xf32>) outs(%xs : memref<2x8x4x16xf32>)
  %q = dsrt.alloc : memref<2x4x8x16xf32>
  dsrt.kernel "transpose" ins(%xs : memref<2x8x4x16xf32>) outs(%q : memref<2x4x8x16xf32>) {attrs = {perm = array<i64: 0, 2, 1, 3>}}
  %k = dsrt.alloc : memref<2x4x8x16xf32>
  dsrt.kernel "transpose" ins(%xs : memref<2x8x4x16xf32>) outs(%k : memref<2x4x8x16xf32>) {attrs = {perm = array<i64: 0, 2, 1, 3>}}
  %v = dsrt.alloc : memref<2x4x8x16xf32>
  dsrt.kernel "transpose" ins(%xs : memref<2x8x4x16xf32>) outs(%v : memref<2x4x8x16xf32>) {attrs = {perm = array<i64: 0, 2, 1, 3>}}
  %o = dsrt.alloc : memref<2x4x8x16xf32>
  %lse = dsrt.alloc : memref<2x4x8xf32>
  dsrt.kernel "attention" ins(%q, %k, %v : memref<2x4x8x16xf32>, memref<2x4x8x16xf32>, memref<2x4x8x16xf32>) outs(%o, %lse : memref<2x4x8x16xf32>, memref<2x4x8xf32>) {attrs = {causal = false, dropout = 0.000000e+00 : f32, scale = 2.500000e-01 : f32}}
  %ot = dsrt.alloc : memref<2x8x4x16xf32>
  dsrt.kernel "transpose" ins(%o : memref<2x4x8x16xf32>) outs(%ot : memref<2x8x4x16xf32>) {attrs = {perm = array<i64: 0, 2, 1, 3>}}
  dsrt.kernel "copy" ins(%ot : memref<2x8x4x16xf32>) outs(%y : memref<2x8x4x16xf32>)
  dsrt.kernel "copy" ins(%q : memref<2x4x8x16xf32>) outs(%z : memref<2x4x8x16xf32>)
  return
}
