// RUN: ds-opt %s --split-input-file --ds-fuse-attention | FileCheck %s

// Tests that nanoGPT's export (k transposed by one perm, scale as Mul, Where over a tril
// buffer with a -inf fill, Dropout of ratio 0) becomes one attention with a boolean mask that
// keeps where the buffer is nonzero, k taken from before its transpose.
// CHECK-LABEL: func.func @nanogpt
//  CHECK-SAME: (%[[Q:.+]]: tensor<2x4x8x16xf32>, %[[K:.+]]: tensor<2x8x4x16xf32>, %[[V:.+]]: tensor<2x4x8x16xf32>)
//       CHECK:   %[[EQ:.+]] = ds.equal
//       CHECK:   %[[NO:.+]] = ds.constant dense<false> : tensor<i1>
//       CHECK:   %[[KEEP:.+]] = ds.equal %[[EQ]], %[[NO]]
//       CHECK:   %[[KT:.+]] = ds.transpose %[[K]] {perm = array<i64: 0, 2, 1, 3>}
//       CHECK:   %[[O:.+]], %{{.+}} = ds.attention %[[Q]], %[[KT]], %[[V]] mask %[[KEEP]] {scale = 2.500000e-01 : f32}
//  CHECK-NEXT:   return %[[O]]
module {
ds.parameter @bias : tensor<1x1x8x8xf32> from "bias"
func.func @nanogpt(%q: tensor<2x4x8x16xf32>, %k: tensor<2x8x4x16xf32>, %v: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %kt = ds.transpose %k {perm = array<i64: 0, 2, 3, 1>} : (tensor<2x8x4x16xf32>) -> tensor<2x4x16x8xf32>
  %s = ds.matmul %q, %kt : (tensor<2x4x8x16xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x8x8xf32>
  %c = ds.constant dense<2.500000e-01> : tensor<f32>
  %ss = ds.mul %s, %c : (tensor<2x4x8x8xf32>, tensor<f32>) -> tensor<2x4x8x8xf32>
  %b = ds.param_ref @bias : tensor<1x1x8x8xf32>
  %zero = ds.constant dense<0.000000e+00> : tensor<f32>
  %masked = ds.equal %b, %zero : (tensor<1x1x8x8xf32>, tensor<f32>) -> tensor<1x1x8x8xi1>
  %ninf = ds.constant dense<0xFF800000> : tensor<f32>
  %w = ds.where %masked, %ninf, %ss : (tensor<1x1x8x8xi1>, tensor<f32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %p = ds.softmax %w {axis = 3 : i64} : tensor<2x4x8x8xf32>
  %pd, %pm = ds.dropout %p {ratio = 0.000000e+00 : f32, seed = 1 : i64} : (tensor<2x4x8x8xf32>) -> (tensor<2x4x8x8xf32>, tensor<2x4x8x8xi1>)
  %o = ds.matmul %pd, %v : (tensor<2x4x8x8xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}
}

// -----

// Tests that Hugging Face GPT-2's form (kᵀ as a last-two transpose, scale as Div by sqrt(d),
// torch.where(causal, w, finfo.min)) keeps the condition as is and uses k directly.
// CHECK-LABEL: func.func @gpt2
//  CHECK-SAME: (%[[Q:.+]]: tensor<2x4x8x16xf32>, %[[K:.+]]: tensor<2x4x8x16xf32>, %[[V:.+]]: tensor<2x4x8x16xf32>, %[[C:.+]]: tensor<1x1x8x8xi1>)
//   CHECK-NOT:   ds.transpose
//       CHECK:   ds.attention %[[Q]], %[[K]], %[[V]] mask %[[C]] {scale = 2.500000e-01 : f32}
//   CHECK-NOT:   ds.softmax
func.func @gpt2(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %causal: tensor<1x1x8x8xi1>) -> tensor<2x4x8x16xf32> {
  %kt = ds.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<2x4x8x16xf32>) -> tensor<2x4x16x8xf32>
  %s = ds.matmul %q, %kt : (tensor<2x4x8x16xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x8x8xf32>
  %d = ds.constant dense<4.000000e+00> : tensor<f32>
  %ss = ds.div %s, %d : (tensor<2x4x8x8xf32>, tensor<f32>) -> tensor<2x4x8x8xf32>
  %min = ds.constant dense<-3.40282347E+38> : tensor<f32>
  %w = ds.where %causal, %ss, %min : (tensor<1x1x8x8xi1>, tensor<2x4x8x8xf32>, tensor<f32>) -> tensor<2x4x8x8xf32>
  %p = ds.softmax %w {axis = 3 : i64} : tensor<2x4x8x8xf32>
  %o = ds.matmul %p, %v : (tensor<2x4x8x8xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// Tests that nn.MultiheadAttention's form (3-D [B*H, T, D], q scaled before the matmul,
// a constant causal additive mask of 0 / -inf) becomes causal = true with no mask operand.
// CHECK-LABEL: func.func @mha_causal
//       CHECK:   %[[O:.+]], %{{.+}} = ds.attention %arg0, %{{.+}}, %arg2 {causal = true, scale = 5.000000e-01 : f32}
//  CHECK-SAME:   (tensor<8x4x16xf32>, tensor<8x4x16xf32>, tensor<8x4x16xf32>) -> (tensor<8x4x16xf32>, tensor<8x4xf32>)
//  CHECK-NEXT:   return %[[O]]
func.func @mha_causal(%q: tensor<8x4x16xf32>, %kt: tensor<8x16x4xf32>, %v: tensor<8x4x16xf32>) -> tensor<8x4x16xf32> {
  %c = ds.constant dense<5.000000e-01> : tensor<f32>
  %qs = ds.mul %q, %c : (tensor<8x4x16xf32>, tensor<f32>) -> tensor<8x4x16xf32>
  %s = ds.matmul %qs, %kt : (tensor<8x4x16xf32>, tensor<8x16x4xf32>) -> tensor<8x4x4xf32>
  %m = ds.constant dense<[[0.0, 0xFF800000, 0xFF800000, 0xFF800000], [0.0, 0.0, 0xFF800000, 0xFF800000], [0.0, 0.0, 0.0, 0xFF800000], [0.0, 0.0, 0.0, 0.0]]> : tensor<4x4xf32>
  %w = ds.add %m, %s : (tensor<4x4xf32>, tensor<8x4x4xf32>) -> tensor<8x4x4xf32>
  %p = ds.softmax %w {axis = 2 : i64} : tensor<8x4x4xf32>
  %o = ds.matmul %p, %v : (tensor<8x4x4xf32>, tensor<8x4x16xf32>) -> tensor<8x4x16xf32>
  return %o : tensor<8x4x16xf32>
}

// -----

// Tests that a padding mask (additive, from constants) is kept as the mask operand, and
// that scales on q and k multiply into one scale.
// CHECK-LABEL: func.func @padding
//       CHECK:   ds.attention %arg0, %{{.+}}, %arg2 mask %{{.+}} {scale = 1.250000e-01 : f32}
//  CHECK-SAME:   tensor<2x1x1x4xf32>
func.func @padding(%q: tensor<2x4x4x16xf32>, %kt: tensor<2x4x16x4xf32>, %v: tensor<2x4x4x16xf32>) -> tensor<2x4x4x16xf32> {
  %c = ds.constant dense<5.000000e-01> : tensor<f32>
  %qs = ds.mul %q, %c : (tensor<2x4x4x16xf32>, tensor<f32>) -> tensor<2x4x4x16xf32>
  %ks = ds.mul %c, %kt : (tensor<f32>, tensor<2x4x16x4xf32>) -> tensor<2x4x16x4xf32>
  %s = ds.matmul %qs, %ks : (tensor<2x4x4x16xf32>, tensor<2x4x16x4xf32>) -> tensor<2x4x4x4xf32>
  %ss = ds.mul %s, %c : (tensor<2x4x4x4xf32>, tensor<f32>) -> tensor<2x4x4x4xf32>
  %pad = ds.constant dense<[[[[0.0, 0.0, 0.0, -1.0e+09]]], [[[0.0, 0.0, -1.0e+09, -1.0e+09]]]]> : tensor<2x1x1x4xf32>
  %w = ds.add %ss, %pad : (tensor<2x4x4x4xf32>, tensor<2x1x1x4xf32>) -> tensor<2x4x4x4xf32>
  %p = ds.softmax %w {axis = 3 : i64} : tensor<2x4x4x4xf32>
  %o = ds.matmul %p, %v : (tensor<2x4x4x4xf32>, tensor<2x4x4x16xf32>) -> tensor<2x4x4x16xf32>
  return %o : tensor<2x4x4x16xf32>
}

// -----

// Tests that dropout > 0 on the probabilities stays unfused (the fused kernel has no
// dropout stream equal to the unfused one).
// CHECK-LABEL: func.func @dropout
//   CHECK-NOT:   ds.attention
//       CHECK:   ds.softmax
func.func @dropout(%q: tensor<2x4x16xf32>, %kt: tensor<2x16x4xf32>, %v: tensor<2x4x16xf32>) -> tensor<2x4x16xf32> {
  %s = ds.matmul %q, %kt : (tensor<2x4x16xf32>, tensor<2x16x4xf32>) -> tensor<2x4x4xf32>
  %p = ds.softmax %s {axis = 2 : i64} : tensor<2x4x4xf32>
  %pd, %pm = ds.dropout %p {ratio = 1.000000e-01 : f32} : (tensor<2x4x4xf32>) -> (tensor<2x4x4xf32>, tensor<2x4x4xi1>)
  %o = ds.matmul %pd, %v : (tensor<2x4x4xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  return %o : tensor<2x4x16xf32>
}

// -----

// Tests that an additive mask with a differentiable path from a parameter (a learned bias)
// stays unfused: the fused op would drop its gradient.
// CHECK-LABEL: func.func @learned_bias
//   CHECK-NOT:   ds.attention
module {
ds.parameter @rel : tensor<4x4xf32> from "rel"
func.func @learned_bias(%q: tensor<2x4x16xf32>, %kt: tensor<2x16x4xf32>, %v: tensor<2x4x16xf32>) -> tensor<2x4x16xf32> {
  %s = ds.matmul %q, %kt : (tensor<2x4x16xf32>, tensor<2x16x4xf32>) -> tensor<2x4x4xf32>
  %r = ds.param_ref @rel : tensor<4x4xf32>
  %w = ds.add %s, %r : (tensor<2x4x4xf32>, tensor<4x4xf32>) -> tensor<2x4x4xf32>
  %p = ds.softmax %w {axis = 2 : i64} : tensor<2x4x4xf32>
  %o = ds.matmul %p, %v : (tensor<2x4x4xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  return %o : tensor<2x4x16xf32>
}
}

// -----

// Tests that a scale applied after an additive mask (it would scale the mask too), a softmax
// on another axis, and probabilities used twice stay unfused.
// CHECK-LABEL: func.func @unmatched
//   CHECK-NOT:   ds.attention
func.func @unmatched(%q: tensor<2x4x16xf32>, %kt: tensor<2x16x4xf32>, %v: tensor<2x4x16xf32>, %m: tensor<4x4xf32>) -> (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<2x4x4xf32>) {
  %s = ds.matmul %q, %kt : (tensor<2x4x16xf32>, tensor<2x16x4xf32>) -> tensor<2x4x4xf32>
  %c = ds.constant dense<[[0.0, -1.0e+09, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]> : tensor<4x4xf32>
  %w = ds.add %s, %c : (tensor<2x4x4xf32>, tensor<4x4xf32>) -> tensor<2x4x4xf32>
  %h = ds.constant dense<5.000000e-01> : tensor<f32>
  %ws = ds.mul %w, %h : (tensor<2x4x4xf32>, tensor<f32>) -> tensor<2x4x4xf32>
  %p = ds.softmax %ws {axis = 2 : i64} : tensor<2x4x4xf32>
  %o = ds.matmul %p, %v : (tensor<2x4x4xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  %p1 = ds.softmax %s {axis = 1 : i64} : tensor<2x4x4xf32>
  %o1 = ds.matmul %p1, %v : (tensor<2x4x4xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  %p2 = ds.softmax %s {axis = 2 : i64} : tensor<2x4x4xf32>
  %o2 = ds.matmul %p2, %v : (tensor<2x4x4xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  return %o, %o1, %p2 : tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<2x4x4xf32>
}

// -----

// Tests torch.baddbmm's form (the mask times beta = 1 added to the scores times alpha = 1)
// over an unsqueezed triu(-inf, diagonal=1), and a scale computed as Pow(16, 0.5) + 0 (Hugging
// Face GPT-2): causal = true and scale 1/4.
// CHECK-LABEL: func.func @baddbmm_causal
//       CHECK:   ds.attention %arg0, %{{.+}}, %arg2 {causal = true, scale = 2.500000e-01 : f32}
//   CHECK-NOT:   ds.trilu
func.func @baddbmm_causal(%q: tensor<8x4x16xf32>, %kt: tensor<8x16x4xf32>, %v: tensor<8x4x16xf32>) -> tensor<8x4x16xf32> {
  %ninf = ds.constant dense<0xFF800000> : tensor<4x4xf32>
  %triu = ds.trilu %ninf {k = 1 : i64, upper = true} : tensor<4x4xf32>
  %m = ds.unsqueeze %triu {axes = array<i64: 0>} : (tensor<4x4xf32>) -> tensor<1x4x4xf32>
  %s = ds.matmul %q, %kt : (tensor<8x4x16xf32>, tensor<8x16x4xf32>) -> tensor<8x4x4xf32>
  %sixteen = ds.constant dense<1.600000e+01> : tensor<f32>
  %half = ds.constant dense<5.000000e-01> : tensor<f32>
  %zero = ds.constant dense<0.000000e+00> : tensor<f32>
  %root = ds.pow %sixteen, %half : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %d = ds.add %zero, %root : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %ss = ds.div %s, %d : (tensor<8x4x4xf32>, tensor<f32>) -> tensor<8x4x4xf32>
  %one = ds.constant dense<1.000000e+00> : tensor<f32>
  %alpha = ds.mul %ss, %one : (tensor<8x4x4xf32>, tensor<f32>) -> tensor<8x4x4xf32>
  %beta = ds.mul %m, %one : (tensor<1x4x4xf32>, tensor<f32>) -> tensor<1x4x4xf32>
  %w = ds.add %alpha, %beta : (tensor<8x4x4xf32>, tensor<1x4x4xf32>) -> tensor<8x4x4xf32>
  %p = ds.softmax %w {axis = 2 : i64} : tensor<8x4x4xf32>
  %o = ds.matmul %p, %v : (tensor<8x4x4xf32>, tensor<8x4x16xf32>) -> tensor<8x4x16xf32>
  return %o : tensor<8x4x16xf32>
}

// -----

// Tests that Llama-style grouped-query heads (k and v [2, 2, 8, 16] unsqueezed, expanded 3
// times and reshaped to 6 heads) are read before the repetition: attention on 2 key-value
// heads for 6 query heads, no expand left.
// CHECK-LABEL: func.func @grouped_query
//   CHECK-DAG:   %[[K:.+]] = ds.reshape %{{.+}} : tensor<2x2x1x8x16xf32> to tensor<2x2x8x16xf32>
//   CHECK-DAG:   %[[V:.+]] = ds.reshape %{{.+}} : tensor<2x2x1x8x16xf32> to tensor<2x2x8x16xf32>
//       CHECK:   ds.attention %arg0, %[[K]], %[[V]] {causal = true, scale = 2.500000e-01 : f32} : (tensor<2x6x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>)
//   CHECK-NOT:   ds.expand
func.func @grouped_query(%q: tensor<2x6x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x6x8x16xf32> {
  %k1 = ds.unsqueeze %k {axes = array<i64: 2>} : (tensor<2x2x8x16xf32>) -> tensor<2x2x1x8x16xf32>
  %ke = ds.expand %k1 : tensor<2x2x1x8x16xf32> to tensor<2x2x3x8x16xf32>
  %kr = ds.reshape %ke : tensor<2x2x3x8x16xf32> to tensor<2x6x8x16xf32>
  %v1 = ds.unsqueeze %v {axes = array<i64: 2>} : (tensor<2x2x8x16xf32>) -> tensor<2x2x1x8x16xf32>
  %ve = ds.expand %v1 : tensor<2x2x1x8x16xf32> to tensor<2x2x3x8x16xf32>
  %vr = ds.reshape %ve : tensor<2x2x3x8x16xf32> to tensor<2x6x8x16xf32>
  %kt = ds.transpose %kr {perm = array<i64: 0, 1, 3, 2>} : (tensor<2x6x8x16xf32>) -> tensor<2x6x16x8xf32>
  %s = ds.matmul %q, %kt : (tensor<2x6x8x16xf32>, tensor<2x6x16x8xf32>) -> tensor<2x6x8x8xf32>
  %c = ds.constant dense<2.500000e-01> : tensor<f32>
  %ss = ds.mul %s, %c : (tensor<2x6x8x8xf32>, tensor<f32>) -> tensor<2x6x8x8xf32>
  %m = ds.constant dense<[[true, false, false, false, false, false, false, false], [true, true, false, false, false, false, false, false], [true, true, true, false, false, false, false, false], [true, true, true, true, false, false, false, false], [true, true, true, true, true, false, false, false], [true, true, true, true, true, true, false, false], [true, true, true, true, true, true, true, false], [true, true, true, true, true, true, true, true]]> : tensor<8x8xi1>
  %min = ds.constant dense<-3.40282347E+38> : tensor<f32>
  %w = ds.where %m, %ss, %min : (tensor<8x8xi1>, tensor<2x6x8x8xf32>, tensor<f32>) -> tensor<2x6x8x8xf32>
  %p = ds.softmax %w {axis = 3 : i64} : tensor<2x6x8x8xf32>
  %o = ds.matmul %p, %vr : (tensor<2x6x8x8xf32>, tensor<2x6x8x16xf32>) -> tensor<2x6x8x16xf32>
  return %o : tensor<2x6x8x16xf32>
}

// -----

// Tests OPT's form: 3-D [B*H, T, S] scores viewed as [B, H, T, S] for a [B, 1, T, S] mask
// of 0 / finfo.min, clamped by Max at finfo.min, viewed back for the softmax: the mask is
// broadcast to [B, H, T, S] and reshaped as the scores are, the clamp dropped.
// CHECK-LABEL: func.func @opt_clamp
//       CHECK:   %[[E:.+]] = ds.expand %{{.+}} : tensor<2x1x4x4xf32> to tensor<2x3x4x4xf32>
//       CHECK:   %[[M:.+]] = ds.reshape %[[E]] : tensor<2x3x4x4xf32> to tensor<6x4x4xf32>
//       CHECK:   ds.attention %arg0, %{{.+}}, %arg2 mask %[[M]] {scale = 1.000000e+00 : f32}
//   CHECK-NOT:   ds.max
//   CHECK-NOT:   ds.softmax
func.func @opt_clamp(%q: tensor<6x4x16xf32>, %kt: tensor<6x16x4xf32>, %v: tensor<6x4x16xf32>) -> tensor<6x4x16xf32> {
  %s = ds.matmul %q, %kt : (tensor<6x4x16xf32>, tensor<6x16x4xf32>) -> tensor<6x4x4xf32>
  %s4 = ds.reshape %s : tensor<6x4x4xf32> to tensor<2x3x4x4xf32>
  %m = ds.constant dense<[[[[0.0, -3.40282347E+38, -3.40282347E+38, -3.40282347E+38], [0.0, 0.0, -3.40282347E+38, -3.40282347E+38], [0.0, 0.0, 0.0, -3.40282347E+38], [0.0, 0.0, 0.0, 0.0]]], [[[0.0, 0.0, -3.40282347E+38, -3.40282347E+38], [0.0, 0.0, -3.40282347E+38, -3.40282347E+38], [0.0, 0.0, -3.40282347E+38, -3.40282347E+38], [0.0, 0.0, -3.40282347E+38, -3.40282347E+38]]]]> : tensor<2x1x4x4xf32>
  %w = ds.add %s4, %m : (tensor<2x3x4x4xf32>, tensor<2x1x4x4xf32>) -> tensor<2x3x4x4xf32>
  %min = ds.constant dense<-3.40282347E+38> : tensor<f32>
  %c = ds.max %w, %min : (tensor<2x3x4x4xf32>, tensor<f32>) -> tensor<2x3x4x4xf32>
  %c3 = ds.reshape %c : tensor<2x3x4x4xf32> to tensor<6x4x4xf32>
  %p = ds.softmax %c3 {axis = 2 : i64} : tensor<6x4x4xf32>
  %o = ds.matmul %p, %v : (tensor<6x4x4xf32>, tensor<6x4x16xf32>) -> tensor<6x4x16xf32>
  return %o : tensor<6x4x16xf32>
}

// -----

// Tests that a Max clamp over a mask of -inf stays unfused: the clamp turns -inf into a
// finite fill (fully masked rows become uniform instead of NaN), which the fused op would
// not do; so does a clamp at a value that is not a mask fill.
// CHECK-LABEL: func.func @clamp_unmatched
//   CHECK-NOT:   ds.attention
//       CHECK:   ds.softmax
//       CHECK:   ds.softmax
//   CHECK-NOT:   ds.attention
func.func @clamp_unmatched(%q: tensor<2x4x16xf32>, %kt: tensor<2x16x4xf32>, %v: tensor<2x4x16xf32>) -> (tensor<2x4x16xf32>, tensor<2x4x16xf32>) {
  %s = ds.matmul %q, %kt : (tensor<2x4x16xf32>, tensor<2x16x4xf32>) -> tensor<2x4x4xf32>
  %m = ds.constant dense<[0.0, 0.0, 0xFF800000, 0xFF800000]> : tensor<4xf32>
  %w = ds.add %s, %m : (tensor<2x4x4xf32>, tensor<4xf32>) -> tensor<2x4x4xf32>
  %min = ds.constant dense<-3.40282347E+38> : tensor<f32>
  %c = ds.max %w, %min : (tensor<2x4x4xf32>, tensor<f32>) -> tensor<2x4x4xf32>
  %p = ds.softmax %c {axis = 2 : i64} : tensor<2x4x4xf32>
  %o = ds.matmul %p, %v : (tensor<2x4x4xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  %s2 = ds.matmul %q, %kt : (tensor<2x4x16xf32>, tensor<2x16x4xf32>) -> tensor<2x4x4xf32>
  %zero = ds.constant dense<0.0> : tensor<f32>
  %c2 = ds.max %s2, %zero : (tensor<2x4x4xf32>, tensor<f32>) -> tensor<2x4x4xf32>
  %p2 = ds.softmax %c2 {axis = 2 : i64} : tensor<2x4x4xf32>
  %o2 = ds.matmul %p2, %v : (tensor<2x4x4xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  return %o, %o2 : tensor<2x4x16xf32>, tensor<2x4x16xf32>
}

// -----

// Tests that Hugging Face GPT-2's mask buffer, a parameter the importer found to hold
// torch.tril(ones) (ds.lower_triangular_ones), cropped to [T, S] by slices from 0 and
// compared with 0 for the masked positions, becomes causal = true with no mask operand:
// no mask tensor is computed and the buffer is not read.
// CHECK-LABEL: func.func @gpt2_tril_buffer
//   CHECK-NOT:   ds.param_ref
//   CHECK-NOT:   ds.equal
//       CHECK:   %[[O:.+]], %{{.+}} = ds.attention %arg0, %arg1, %arg2 {causal = true, scale = 2.500000e-01 : f32}
//  CHECK-NEXT:   return %[[O]]
module {
ds.parameter @bias : tensor<1x1x16x16xf32> from "bias" {ds.lower_triangular_ones}
func.func @gpt2_tril_buffer(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %kt = ds.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<2x4x8x16xf32>) -> tensor<2x4x16x8xf32>
  %s = ds.matmul %q, %kt : (tensor<2x4x8x16xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x8x8xf32>
  %c = ds.constant dense<4.000000e+00> : tensor<f32>
  %ss = ds.div %s, %c : (tensor<2x4x8x8xf32>, tensor<f32>) -> tensor<2x4x8x8xf32>
  %b = ds.param_ref @bias : tensor<1x1x16x16xf32>
  %b1 = ds.slice %b {ends = array<i64: 1, 1, 16, 16>, starts = array<i64: 0, 0, 0, 0>, steps = array<i64: 1, 1, 1, 1>} : (tensor<1x1x16x16xf32>) -> tensor<1x1x16x16xf32>
  %b2 = ds.slice %b1 {ends = array<i64: 1, 1, 8, 8>, starts = array<i64: 0, 0, 0, 0>, steps = array<i64: 1, 1, 1, 1>} : (tensor<1x1x16x16xf32>) -> tensor<1x1x8x8xf32>
  %zero = ds.constant dense<0.000000e+00> : tensor<f32>
  %masked = ds.equal %b2, %zero : (tensor<1x1x8x8xf32>, tensor<f32>) -> tensor<1x1x8x8xi1>
  %ninf = ds.constant dense<0xFF800000> : tensor<f32>
  %w = ds.where %masked, %ninf, %ss : (tensor<1x1x8x8xi1>, tensor<f32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %p = ds.softmax %w {axis = 3 : i64} : tensor<2x4x8x8xf32>
  %o = ds.matmul %p, %v : (tensor<2x4x8x8xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}
}

// -----

// Tests that the same buffer cast to a boolean that keeps the attended positions
// (where(bias.bool(), w, finfo.min)) is causal too, and that a buffer without the
// importer's mark (its data unknown to the pass) stays a mask operand.
// CHECK-LABEL: func.func @tril_buffer_cast
//       CHECK:   ds.attention %arg0, %arg1, %arg2 {causal = true, scale = 2.500000e-01 : f32}
// CHECK-LABEL: func.func @unmarked_buffer
//       CHECK:   ds.attention %arg0, %arg1, %arg2 mask %{{.+}} {scale = 2.500000e-01 : f32}
module {
ds.parameter @tril : tensor<1x1x8x8xf32> from "tril" {ds.lower_triangular_ones}
ds.parameter @other : tensor<1x1x8x8xf32> from "other"
func.func @tril_buffer_cast(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %kt = ds.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<2x4x8x16xf32>) -> tensor<2x4x16x8xf32>
  %s = ds.matmul %q, %kt : (tensor<2x4x8x16xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x8x8xf32>
  %c = ds.constant dense<2.500000e-01> : tensor<f32>
  %ss = ds.mul %s, %c : (tensor<2x4x8x8xf32>, tensor<f32>) -> tensor<2x4x8x8xf32>
  %b = ds.param_ref @tril : tensor<1x1x8x8xf32>
  %keep = ds.cast %b : tensor<1x1x8x8xf32> to tensor<1x1x8x8xi1>
  %min = ds.constant dense<-3.40282347E+38> : tensor<f32>
  %w = ds.where %keep, %ss, %min : (tensor<1x1x8x8xi1>, tensor<2x4x8x8xf32>, tensor<f32>) -> tensor<2x4x8x8xf32>
  %p = ds.softmax %w {axis = 3 : i64} : tensor<2x4x8x8xf32>
  %o = ds.matmul %p, %v : (tensor<2x4x8x8xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}
func.func @unmarked_buffer(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %kt = ds.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<2x4x8x16xf32>) -> tensor<2x4x16x8xf32>
  %s = ds.matmul %q, %kt : (tensor<2x4x8x16xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x8x8xf32>
  %c = ds.constant dense<2.500000e-01> : tensor<f32>
  %ss = ds.mul %s, %c : (tensor<2x4x8x8xf32>, tensor<f32>) -> tensor<2x4x8x8xf32>
  %b = ds.param_ref @other : tensor<1x1x8x8xf32>
  %keep = ds.cast %b : tensor<1x1x8x8xf32> to tensor<1x1x8x8xi1>
  %min = ds.constant dense<-3.40282347E+38> : tensor<f32>
  %w = ds.where %keep, %ss, %min : (tensor<1x1x8x8xi1>, tensor<2x4x8x8xf32>, tensor<f32>) -> tensor<2x4x8x8xf32>
  %p = ds.softmax %w {axis = 3 : i64} : tensor<2x4x8x8xf32>
  %o = ds.matmul %p, %v : (tensor<2x4x8x8xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}
}
