// RUN: ds-opt %s --split-input-file --ds-pack-attention-qkv | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-pack-attention-qkv | ds-opt --split-input-file | FileCheck %s

// Tests that GPT-2's attention reads q, k, v from the packed projection and its gradient
// writes the packed dqkv: the split, the concat and the six parts are gone.
// CHECK-LABEL: func.func @gpt2_packed
//       CHECK:   %[[X:.+]] = dsrt.alloc : memref<2x8x192xf32>
//       CHECK:   %[[QKV:.+]] = dsrt.view %[[X]] : memref<2x8x192xf32> to memref<2x8x3x4x16xf32>
//   CHECK-NOT:   "split"
//       CHECK:   dsrt.kernel "packed_attention" ins(%[[QKV]] : memref<2x8x3x4x16xf32>) outs(%[[O:.+]], %[[LSE:.+]] : memref<2x8x4x16xf32>, memref<2x4x8xf32>) {attrs = {causal = true, scale = 2.500000e-01 : f32}}
//       CHECK:   %[[DX:.+]] = dsrt.alloc : memref<2x8x192xf32>
//       CHECK:   %[[DQKV:.+]] = dsrt.view %[[DX]] : memref<2x8x192xf32> to memref<2x8x3x4x16xf32>
//       CHECK:   dsrt.kernel "packed_attention_grad" ins(%{{.+}}, %[[QKV]], %[[O]], %[[LSE]] : memref<2x8x4x16xf32>, memref<2x8x3x4x16xf32>, memref<2x8x4x16xf32>, memref<2x4x8xf32>) outs(%[[DQKV]] : memref<2x8x3x4x16xf32>) {attrs = {causal = true, scale = 2.500000e-01 : f32}}
//   CHECK-NOT:   "concat"
//       CHECK:   dsrt.kernel "copy" ins(%[[DX]]
func.func @gpt2_packed(%in: memref<2x8x192xf32>, %g: memref<2x8x4x16xf32>) -> memref<2x8x192xf32> {
  %x = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "copy" ins(%in : memref<2x8x192xf32>) outs(%x : memref<2x8x192xf32>)
  %qs = dsrt.alloc : memref<2x8x64xf32>
  %ks = dsrt.alloc : memref<2x8x64xf32>
  %vs = dsrt.alloc : memref<2x8x64xf32>
  dsrt.kernel "split" ins(%x : memref<2x8x192xf32>) outs(%qs, %ks, %vs : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) {attrs = {axis = 2 : i64, sizes = array<i64: 64, 64, 64>}}
  %q = dsrt.view %qs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %k = dsrt.view %ks : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %v = dsrt.view %vs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %o = dsrt.alloc : memref<2x8x4x16xf32>
  %lse = dsrt.alloc : memref<2x4x8xf32>
  dsrt.kernel "attention" ins(%q, %k, %v : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) outs(%o, %lse : memref<2x8x4x16xf32>, memref<2x4x8xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32}}
  %dq = dsrt.alloc : memref<2x8x4x16xf32>
  %dk = dsrt.alloc : memref<2x8x4x16xf32>
  %dv = dsrt.alloc : memref<2x8x4x16xf32>
  dsrt.kernel "attention_grad" ins(%g, %q, %k, %v, %o, %lse : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x4x8xf32>) outs(%dq, %dk, %dv : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32}}
  %dq3 = dsrt.view %dq : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dk3 = dsrt.view %dk : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dv3 = dsrt.view %dv : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dx = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "concat" ins(%dq3, %dk3, %dv3 : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) outs(%dx : memref<2x8x192xf32>) {attrs = {axis = 2 : i64}}
  %r = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "copy" ins(%dx : memref<2x8x192xf32>) outs(%r : memref<2x8x192xf32>)
  return %r : memref<2x8x192xf32>
}

// -----

// Tests that a forward-only attention (inference) with a mask is packed, the mask kept.
// CHECK-LABEL: func.func @forward_only_masked
//   CHECK-NOT:   "split"
//       CHECK:   dsrt.kernel "packed_attention" ins(%{{.+}}, %arg2 : memref<2x8x3x4x16xf32>, memref<8x8xi1>)
//   CHECK-NOT:   "split"
func.func @forward_only_masked(%in: memref<2x8x192xf32>, %g: memref<2x8x4x16xf32>, %m: memref<8x8xi1>) -> memref<2x8x192xf32> {
  %x = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "copy" ins(%in : memref<2x8x192xf32>) outs(%x : memref<2x8x192xf32>)
  %qs = dsrt.alloc : memref<2x8x64xf32>
  %ks = dsrt.alloc : memref<2x8x64xf32>
  %vs = dsrt.alloc : memref<2x8x64xf32>
  dsrt.kernel "split" ins(%x : memref<2x8x192xf32>) outs(%qs, %ks, %vs : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) {attrs = {axis = 2 : i64, sizes = array<i64: 64, 64, 64>}}
  %q = dsrt.view %qs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %k = dsrt.view %ks : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %v = dsrt.view %vs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %o = dsrt.alloc : memref<2x8x4x16xf32>
  %lse = dsrt.alloc : memref<2x4x8xf32>
  dsrt.kernel "attention" ins(%q, %k, %v, %m : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<8x8xi1>) outs(%o, %lse : memref<2x8x4x16xf32>, memref<2x4x8xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32}}
  %r = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "copy" ins(%x : memref<2x8x192xf32>) outs(%r : memref<2x8x192xf32>)
  return %r : memref<2x8x192xf32>
}

// -----

// Tests that a split into unequal parts (grouped-query: k and v with fewer heads than q)
// is left as it is.
// CHECK-LABEL: func.func @unequal_parts
//       CHECK:   "split"
//       CHECK:   "attention"
func.func @unequal_parts(%x: memref<2x8x128xf32>) -> (memref<2x8x4x16xf32>, memref<2x4x8xf32>) {
  %qs = dsrt.alloc : memref<2x8x64xf32>
  %ks = dsrt.alloc : memref<2x8x32xf32>
  %vs = dsrt.alloc : memref<2x8x32xf32>
  dsrt.kernel "split" ins(%x : memref<2x8x128xf32>) outs(%qs, %ks, %vs : memref<2x8x64xf32>, memref<2x8x32xf32>, memref<2x8x32xf32>) {attrs = {axis = 2 : i64, sizes = array<i64: 64, 32, 32>}}
  %q = dsrt.view %qs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %k = dsrt.view %ks : memref<2x8x32xf32> to memref<2x8x2x16xf32>
  %v = dsrt.view %vs : memref<2x8x32xf32> to memref<2x8x2x16xf32>
  %o = dsrt.alloc : memref<2x8x4x16xf32>
  %lse = dsrt.alloc : memref<2x4x8xf32>
  dsrt.kernel "attention" ins(%q, %k, %v : memref<2x8x4x16xf32>, memref<2x8x2x16xf32>, memref<2x8x2x16xf32>) outs(%o, %lse : memref<2x8x4x16xf32>, memref<2x4x8xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32}}
  return %o, %lse : memref<2x8x4x16xf32>, memref<2x4x8xf32>
}

// -----

// Tests that parts taken in another order than q, k, v (k first) are left as they are.
// CHECK-LABEL: func.func @parts_out_of_order
//       CHECK:   "split"
//       CHECK:   "attention"
//       CHECK:   "concat"
func.func @parts_out_of_order(%in: memref<2x8x192xf32>, %g: memref<2x8x4x16xf32>) -> memref<2x8x192xf32> {
  %x = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "copy" ins(%in : memref<2x8x192xf32>) outs(%x : memref<2x8x192xf32>)
  %qs = dsrt.alloc : memref<2x8x64xf32>
  %ks = dsrt.alloc : memref<2x8x64xf32>
  %vs = dsrt.alloc : memref<2x8x64xf32>
  dsrt.kernel "split" ins(%x : memref<2x8x192xf32>) outs(%qs, %ks, %vs : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) {attrs = {axis = 2 : i64, sizes = array<i64: 64, 64, 64>}}
  %q = dsrt.view %qs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %k = dsrt.view %ks : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %v = dsrt.view %vs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %o = dsrt.alloc : memref<2x8x4x16xf32>
  %lse = dsrt.alloc : memref<2x4x8xf32>
  dsrt.kernel "attention" ins(%k, %q, %v : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) outs(%o, %lse : memref<2x8x4x16xf32>, memref<2x4x8xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32}}
  %dq = dsrt.alloc : memref<2x8x4x16xf32>
  %dk = dsrt.alloc : memref<2x8x4x16xf32>
  %dv = dsrt.alloc : memref<2x8x4x16xf32>
  dsrt.kernel "attention_grad" ins(%g, %k, %q, %v, %o, %lse : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x4x8xf32>) outs(%dq, %dk, %dv : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32}}
  %dq3 = dsrt.view %dq : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dk3 = dsrt.view %dk : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dv3 = dsrt.view %dv : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dx = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "concat" ins(%dq3, %dk3, %dv3 : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) outs(%dx : memref<2x8x192xf32>) {attrs = {axis = 2 : i64}}
  %r = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "copy" ins(%dx : memref<2x8x192xf32>) outs(%r : memref<2x8x192xf32>)
  return %r : memref<2x8x192xf32>
}

// -----

// Tests that a part read by another kernel keeps the split.
// CHECK-LABEL: func.func @part_read_elsewhere
//       CHECK:   "split"
//       CHECK:   "attention"
//       CHECK:   "concat"
func.func @part_read_elsewhere(%in: memref<2x8x192xf32>, %g: memref<2x8x4x16xf32>) -> memref<2x8x192xf32> {
  %x = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "copy" ins(%in : memref<2x8x192xf32>) outs(%x : memref<2x8x192xf32>)
  %qs = dsrt.alloc : memref<2x8x64xf32>
  %ks = dsrt.alloc : memref<2x8x64xf32>
  %vs = dsrt.alloc : memref<2x8x64xf32>
  dsrt.kernel "split" ins(%x : memref<2x8x192xf32>) outs(%qs, %ks, %vs : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) {attrs = {axis = 2 : i64, sizes = array<i64: 64, 64, 64>}}
  %q = dsrt.view %qs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %k = dsrt.view %ks : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %v = dsrt.view %vs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %c = dsrt.alloc : memref<2x8x64xf32>
  dsrt.kernel "copy" ins(%ks : memref<2x8x64xf32>) outs(%c : memref<2x8x64xf32>)
  %o = dsrt.alloc : memref<2x8x4x16xf32>
  %lse = dsrt.alloc : memref<2x4x8xf32>
  dsrt.kernel "attention" ins(%q, %k, %v : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) outs(%o, %lse : memref<2x8x4x16xf32>, memref<2x4x8xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32}}
  %dq = dsrt.alloc : memref<2x8x4x16xf32>
  %dk = dsrt.alloc : memref<2x8x4x16xf32>
  %dv = dsrt.alloc : memref<2x8x4x16xf32>
  dsrt.kernel "attention_grad" ins(%g, %q, %k, %v, %o, %lse : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x4x8xf32>) outs(%dq, %dk, %dv : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32}}
  %dq3 = dsrt.view %dq : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dk3 = dsrt.view %dk : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dv3 = dsrt.view %dv : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dx = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "concat" ins(%dq3, %dk3, %dv3 : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) outs(%dx : memref<2x8x192xf32>) {attrs = {axis = 2 : i64}}
  %r = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "copy" ins(%dx : memref<2x8x192xf32>) outs(%r : memref<2x8x192xf32>)
  return %r : memref<2x8x192xf32>
}

// -----

// Tests that a projection written between the forward and the gradient keeps the split
// (the grad would read the new values).
// CHECK-LABEL: func.func @projection_overwritten
//       CHECK:   "split"
//       CHECK:   "attention"
//       CHECK:   "concat"
func.func @projection_overwritten(%in: memref<2x8x192xf32>, %g: memref<2x8x4x16xf32>) -> memref<2x8x192xf32> {
  %x = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "copy" ins(%in : memref<2x8x192xf32>) outs(%x : memref<2x8x192xf32>)
  %qs = dsrt.alloc : memref<2x8x64xf32>
  %ks = dsrt.alloc : memref<2x8x64xf32>
  %vs = dsrt.alloc : memref<2x8x64xf32>
  dsrt.kernel "split" ins(%x : memref<2x8x192xf32>) outs(%qs, %ks, %vs : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) {attrs = {axis = 2 : i64, sizes = array<i64: 64, 64, 64>}}
  %q = dsrt.view %qs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %k = dsrt.view %ks : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %v = dsrt.view %vs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %o = dsrt.alloc : memref<2x8x4x16xf32>
  %lse = dsrt.alloc : memref<2x4x8xf32>
  dsrt.kernel "attention" ins(%q, %k, %v : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) outs(%o, %lse : memref<2x8x4x16xf32>, memref<2x4x8xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32}}
  dsrt.kernel "copy" ins(%in : memref<2x8x192xf32>) outs(%x : memref<2x8x192xf32>)
  %dq = dsrt.alloc : memref<2x8x4x16xf32>
  %dk = dsrt.alloc : memref<2x8x4x16xf32>
  %dv = dsrt.alloc : memref<2x8x4x16xf32>
  dsrt.kernel "attention_grad" ins(%g, %q, %k, %v, %o, %lse : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x4x8xf32>) outs(%dq, %dk, %dv : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32}}
  %dq3 = dsrt.view %dq : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dk3 = dsrt.view %dk : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dv3 = dsrt.view %dv : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dx = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "concat" ins(%dq3, %dk3, %dv3 : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) outs(%dx : memref<2x8x192xf32>) {attrs = {axis = 2 : i64}}
  %r = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "copy" ins(%dx : memref<2x8x192xf32>) outs(%r : memref<2x8x192xf32>)
  return %r : memref<2x8x192xf32>
}

// -----

// Tests that attention in layout bhsd (transposes not folded) is left as it is.
// CHECK-LABEL: func.func @layout_bhsd
//       CHECK:   "split"
//       CHECK:   "attention"
//       CHECK:   "concat"
func.func @layout_bhsd(%in: memref<2x8x192xf32>, %g: memref<2x8x4x16xf32>) -> memref<2x8x192xf32> {
  %x = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "copy" ins(%in : memref<2x8x192xf32>) outs(%x : memref<2x8x192xf32>)
  %qs = dsrt.alloc : memref<2x8x64xf32>
  %ks = dsrt.alloc : memref<2x8x64xf32>
  %vs = dsrt.alloc : memref<2x8x64xf32>
  dsrt.kernel "split" ins(%x : memref<2x8x192xf32>) outs(%qs, %ks, %vs : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) {attrs = {axis = 2 : i64, sizes = array<i64: 64, 64, 64>}}
  %q = dsrt.view %qs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %k = dsrt.view %ks : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %v = dsrt.view %vs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %o = dsrt.alloc : memref<2x8x4x16xf32>
  %lse = dsrt.alloc : memref<2x4x8xf32>
  dsrt.kernel "attention" ins(%q, %k, %v : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) outs(%o, %lse : memref<2x8x4x16xf32>, memref<2x4x8xf32>) {attrs = {causal = true, layout = "bhsd", scale = 2.500000e-01 : f32}}
  %dq = dsrt.alloc : memref<2x8x4x16xf32>
  %dk = dsrt.alloc : memref<2x8x4x16xf32>
  %dv = dsrt.alloc : memref<2x8x4x16xf32>
  dsrt.kernel "attention_grad" ins(%g, %q, %k, %v, %o, %lse : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x4x8xf32>) outs(%dq, %dk, %dv : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) {attrs = {causal = true, layout = "bhsd", scale = 2.500000e-01 : f32}}
  %dq3 = dsrt.view %dq : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dk3 = dsrt.view %dk : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dv3 = dsrt.view %dv : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dx = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "concat" ins(%dq3, %dk3, %dv3 : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) outs(%dx : memref<2x8x192xf32>) {attrs = {axis = 2 : i64}}
  %r = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "copy" ins(%dx : memref<2x8x192xf32>) outs(%r : memref<2x8x192xf32>)
  return %r : memref<2x8x192xf32>
}

// -----

// Tests that attention with dropout is left as it is.
// CHECK-LABEL: func.func @with_dropout
//       CHECK:   "split"
//       CHECK:   "attention"
//       CHECK:   "concat"
func.func @with_dropout(%in: memref<2x8x192xf32>, %g: memref<2x8x4x16xf32>) -> memref<2x8x192xf32> {
  %x = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "copy" ins(%in : memref<2x8x192xf32>) outs(%x : memref<2x8x192xf32>)
  %qs = dsrt.alloc : memref<2x8x64xf32>
  %ks = dsrt.alloc : memref<2x8x64xf32>
  %vs = dsrt.alloc : memref<2x8x64xf32>
  dsrt.kernel "split" ins(%x : memref<2x8x192xf32>) outs(%qs, %ks, %vs : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) {attrs = {axis = 2 : i64, sizes = array<i64: 64, 64, 64>}}
  %q = dsrt.view %qs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %k = dsrt.view %ks : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %v = dsrt.view %vs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %o = dsrt.alloc : memref<2x8x4x16xf32>
  %lse = dsrt.alloc : memref<2x4x8xf32>
  dsrt.kernel "attention" ins(%q, %k, %v : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) outs(%o, %lse : memref<2x8x4x16xf32>, memref<2x4x8xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32, dropout = 1.000000e-01 : f32}}
  %dq = dsrt.alloc : memref<2x8x4x16xf32>
  %dk = dsrt.alloc : memref<2x8x4x16xf32>
  %dv = dsrt.alloc : memref<2x8x4x16xf32>
  dsrt.kernel "attention_grad" ins(%g, %q, %k, %v, %o, %lse : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x4x8xf32>) outs(%dq, %dk, %dv : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32, dropout = 1.000000e-01 : f32}}
  %dq3 = dsrt.view %dq : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dk3 = dsrt.view %dk : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dv3 = dsrt.view %dv : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dx = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "concat" ins(%dq3, %dk3, %dv3 : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) outs(%dx : memref<2x8x192xf32>) {attrs = {axis = 2 : i64}}
  %r = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "copy" ins(%dx : memref<2x8x192xf32>) outs(%r : memref<2x8x192xf32>)
  return %r : memref<2x8x192xf32>
}

// -----

// Tests that gradients concatenated in another order (dk, dq, dv) leave the whole group
// as it is (the forward too: its grad reads the parts).
// CHECK-LABEL: func.func @concat_out_of_order
//       CHECK:   "split"
//       CHECK:   "attention"
//       CHECK:   "attention_grad"
//       CHECK:   "concat"
func.func @concat_out_of_order(%in: memref<2x8x192xf32>, %g: memref<2x8x4x16xf32>) -> memref<2x8x192xf32> {
  %x = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "copy" ins(%in : memref<2x8x192xf32>) outs(%x : memref<2x8x192xf32>)
  %qs = dsrt.alloc : memref<2x8x64xf32>
  %ks = dsrt.alloc : memref<2x8x64xf32>
  %vs = dsrt.alloc : memref<2x8x64xf32>
  dsrt.kernel "split" ins(%x : memref<2x8x192xf32>) outs(%qs, %ks, %vs : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) {attrs = {axis = 2 : i64, sizes = array<i64: 64, 64, 64>}}
  %q = dsrt.view %qs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %k = dsrt.view %ks : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %v = dsrt.view %vs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %o = dsrt.alloc : memref<2x8x4x16xf32>
  %lse = dsrt.alloc : memref<2x4x8xf32>
  dsrt.kernel "attention" ins(%q, %k, %v : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) outs(%o, %lse : memref<2x8x4x16xf32>, memref<2x4x8xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32}}
  %dq = dsrt.alloc : memref<2x8x4x16xf32>
  %dk = dsrt.alloc : memref<2x8x4x16xf32>
  %dv = dsrt.alloc : memref<2x8x4x16xf32>
  dsrt.kernel "attention_grad" ins(%g, %q, %k, %v, %o, %lse : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x4x8xf32>) outs(%dq, %dk, %dv : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32}}
  %dq3 = dsrt.view %dq : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dk3 = dsrt.view %dk : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dv3 = dsrt.view %dv : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dx = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "concat" ins(%dk3, %dq3, %dv3 : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) outs(%dx : memref<2x8x192xf32>) {attrs = {axis = 2 : i64}}
  %r = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "copy" ins(%dx : memref<2x8x192xf32>) outs(%r : memref<2x8x192xf32>)
  return %r : memref<2x8x192xf32>
}

// -----

// Tests that a gradient part read by another kernel keeps the concat (and the split).
// CHECK-LABEL: func.func @grad_part_read_elsewhere
//       CHECK:   "split"
//       CHECK:   "attention"
//       CHECK:   "attention_grad"
//       CHECK:   "concat"
func.func @grad_part_read_elsewhere(%in: memref<2x8x192xf32>, %g: memref<2x8x4x16xf32>) -> memref<2x8x192xf32> {
  %x = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "copy" ins(%in : memref<2x8x192xf32>) outs(%x : memref<2x8x192xf32>)
  %qs = dsrt.alloc : memref<2x8x64xf32>
  %ks = dsrt.alloc : memref<2x8x64xf32>
  %vs = dsrt.alloc : memref<2x8x64xf32>
  dsrt.kernel "split" ins(%x : memref<2x8x192xf32>) outs(%qs, %ks, %vs : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) {attrs = {axis = 2 : i64, sizes = array<i64: 64, 64, 64>}}
  %q = dsrt.view %qs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %k = dsrt.view %ks : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %v = dsrt.view %vs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %o = dsrt.alloc : memref<2x8x4x16xf32>
  %lse = dsrt.alloc : memref<2x4x8xf32>
  dsrt.kernel "attention" ins(%q, %k, %v : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) outs(%o, %lse : memref<2x8x4x16xf32>, memref<2x4x8xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32}}
  %dq = dsrt.alloc : memref<2x8x4x16xf32>
  %dk = dsrt.alloc : memref<2x8x4x16xf32>
  %dv = dsrt.alloc : memref<2x8x4x16xf32>
  dsrt.kernel "attention_grad" ins(%g, %q, %k, %v, %o, %lse : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x4x8xf32>) outs(%dq, %dk, %dv : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32}}
  %c = dsrt.alloc : memref<2x8x4x16xf32>
  dsrt.kernel "copy" ins(%dv : memref<2x8x4x16xf32>) outs(%c : memref<2x8x4x16xf32>)
  %dq3 = dsrt.view %dq : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dk3 = dsrt.view %dk : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dv3 = dsrt.view %dv : memref<2x8x4x16xf32> to memref<2x8x64xf32>
  %dx = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "concat" ins(%dq3, %dk3, %dv3 : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) outs(%dx : memref<2x8x192xf32>) {attrs = {axis = 2 : i64}}
  %r = dsrt.alloc : memref<2x8x192xf32>
  dsrt.kernel "copy" ins(%dx : memref<2x8x192xf32>) outs(%r : memref<2x8x192xf32>)
  return %r : memref<2x8x192xf32>
}

// -----

// Tests that a split along another axis than the last is left as it is.
// CHECK-LABEL: func.func @split_not_last_axis
//       CHECK:   "split"
//       CHECK:   "attention"
func.func @split_not_last_axis(%in: memref<2x24x64xf32>, %g: memref<2x8x4x16xf32>) -> memref<2x24x64xf32> {
  %x = dsrt.alloc : memref<2x24x64xf32>
  dsrt.kernel "copy" ins(%in : memref<2x24x64xf32>) outs(%x : memref<2x24x64xf32>)
  %qs = dsrt.alloc : memref<2x8x64xf32>
  %ks = dsrt.alloc : memref<2x8x64xf32>
  %vs = dsrt.alloc : memref<2x8x64xf32>
  dsrt.kernel "split" ins(%x : memref<2x24x64xf32>) outs(%qs, %ks, %vs : memref<2x8x64xf32>, memref<2x8x64xf32>, memref<2x8x64xf32>) {attrs = {axis = 1 : i64, sizes = array<i64: 8, 8, 8>}}
  %q = dsrt.view %qs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %k = dsrt.view %ks : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %v = dsrt.view %vs : memref<2x8x64xf32> to memref<2x8x4x16xf32>
  %o = dsrt.alloc : memref<2x8x4x16xf32>
  %lse = dsrt.alloc : memref<2x4x8xf32>
  dsrt.kernel "attention" ins(%q, %k, %v : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) outs(%o, %lse : memref<2x8x4x16xf32>, memref<2x4x8xf32>) {attrs = {causal = true, layout = "bshd", scale = 2.500000e-01 : f32}}
  %r = dsrt.alloc : memref<2x24x64xf32>
  dsrt.kernel "copy" ins(%x : memref<2x24x64xf32>) outs(%r : memref<2x24x64xf32>)
  return %r : memref<2x24x64xf32>
}
