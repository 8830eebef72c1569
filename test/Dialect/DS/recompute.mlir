// RUN: ds-opt %s --split-input-file --ds-recompute="mode=layer" | FileCheck %s
// RUN: ds-opt %s --split-input-file --ds-recompute="mode=none" | FileCheck %s --check-prefix=NONE
// RUN: ds-opt %s --split-input-file --ds-recompute="mode=auto keep-bytes=32" | FileCheck %s --check-prefix=AUTO
// RUN: ds-opt %s --split-input-file --ds-recompute="mode=auto keep-bytes=1000" | FileCheck %s --check-prefix=AUTOALL
// RUN: not ds-opt %s --split-input-file --ds-recompute="mode=most" 2>&1 | FileCheck %s --check-prefix=BAD

// Tests that layer mode keeps the residual stream (%x, %r1, %r2) and clones the rest of
// the forward pass the backward pass reads (%a, %b, %c, %d, the dropout and its mask)
// right before its first backward use, reading the checkpoints; the forward ops stay
// and the clone of the dropout keeps its seed (the same mask in the same run).
// CHECK-LABEL: func.func @residual
//       CHECK:   %[[W:.+]] = ds.param_ref @w
//       CHECK:   %[[A:.+]] = ds.matmul %[[X:.+]], %[[W]]
//       CHECK:   %[[B:.+]] = ds.relu %[[A]]
//       CHECK:   %[[R1:.+]] = ds.add %[[X]], %[[B]]
//       CHECK:   %[[C:.+]] = ds.matmul %[[R1]], %[[W]]
//       CHECK:   %[[D:.+]], %[[M:.+]] = ds.dropout %[[C]] {ratio = 5.000000e-01 : f32, seed = 3 : i64}
//       CHECK:   %[[R2:.+]] = ds.add %[[R1]], %[[D]]
//       CHECK:   %[[LOSS:.+]] = ds.softmax_cross_entropy_loss %[[R2]]
//  CHECK-NEXT:   %[[C2:.+]] = ds.matmul %[[R1]], %[[W]]
//  CHECK-NEXT:   %[[D2:.+]], %[[M2:.+]] = ds.dropout %[[C2]] {ratio = 5.000000e-01 : f32, seed = 3 : i64}
//  CHECK-NEXT:   %[[G1:.+]] = ds.mul %[[D2]], %[[C2]]
//  CHECK-NEXT:   %[[G2:.+]] = ds.cast %[[M2]]
//  CHECK-NEXT:   %[[A2:.+]] = ds.matmul %[[X]], %[[W]]
//  CHECK-NEXT:   %[[B2:.+]] = ds.relu %[[A2]]
//  CHECK-NEXT:   %[[G3:.+]] = ds.mul %[[B2]], %[[R1]]
//  CHECK-NEXT:   %[[G4:.+]] = ds.mul %[[R2]], %[[A2]]
//  CHECK-NEXT:   %[[G5:.+]] = ds.matmul %[[G4]], %[[W]]
//  CHECK-NEXT:   return %[[LOSS]], %[[G1]], %[[G2]], %[[G3]], %[[G5]]
// NONE-LABEL: func.func @residual
//       NONE:   ds.softmax_cross_entropy_loss
//  NONE-NEXT:   ds.mul %{{.+}}, %{{.+}} :
// Tests that auto keeps, within 32 bytes, the 32-byte product %c (the most FLOPs per
// byte) and recomputes the rest; with 1000 bytes it keeps everything.
// AUTO-LABEL: func.func @residual
//       AUTO:   %[[R1:.+]] = ds.add
//       AUTO:   %[[C:.+]] = ds.matmul %[[R1]]
//       AUTO:   ds.softmax_cross_entropy_loss
//  AUTO-NEXT:   %[[D2:.+]], %{{.+}} = ds.dropout %[[C]]
//  AUTO-NEXT:   ds.mul %[[D2]], %[[C]]
// AUTOALL-LABEL: func.func @residual
//       AUTOALL:   ds.softmax_cross_entropy_loss
//  AUTOALL-NEXT:   ds.mul %{{.+}}, %{{.+}} :
// BAD: ds-recompute: mode must be none, layer or auto, got 'most'
ds.parameter @w : tensor<4x4xf32> from "w"
func.func @residual(%x: tensor<2x4xf32>, %t: tensor<2xi64>) -> (tensor<f32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) attributes {ds.loss = 0 : i64} {
  %w = ds.param_ref @w : tensor<4x4xf32>
  %a = ds.matmul %x, %w : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  %b = ds.relu %a : tensor<2x4xf32>
  %r1 = ds.add %x, %b : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %c = ds.matmul %r1, %w : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  %d, %m = ds.dropout %c {ratio = 0.5 : f32, seed = 3 : i64} : (tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xi1>)
  %r2 = ds.add %r1, %d : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %loss = ds.softmax_cross_entropy_loss %r2, %t : (tensor<2x4xf32>, tensor<2xi64>) -> tensor<f32>
  %g1 = ds.mul %d, %c : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %g2 = ds.cast %m : tensor<2x4xi1> to tensor<2x4xf32>
  %g3 = ds.mul %b, %r1 : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %g4 = ds.mul %r2, %a : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %g5 = ds.matmul %g4, %w : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  return %loss, %g1, %g2, %g3, %g5 : tensor<f32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

// Tests that without a residual stream the activation inputs of parameter products are
// the checkpoints: %h is kept, the gelu-like %e between them recomputed from %g (the
// backward pass reads @w2 anyway, as a product's input gradient does).
// CHECK-LABEL: func.func @mlp
//       CHECK:   %[[H:.+]] = ds.relu
//       CHECK:   ds.softmax_cross_entropy_loss
//  CHECK-NEXT:   %[[G2:.+]] = ds.gemm %[[H]]
//  CHECK-NEXT:   %[[E2:.+]] = ds.exp %[[G2]]
//  CHECK-NEXT:   %[[G1:.+]] = ds.mul %[[E2]], %[[H]]
//  CHECK-NEXT:   ds.matmul %[[G1]], %{{.+}}
ds.parameter @w1 : tensor<4x4xf32> from "w1"
ds.parameter @w2 : tensor<4x4xf32> from "w2"
func.func @mlp(%x: tensor<2x4xf32>, %t: tensor<2xi64>) -> (tensor<f32>, tensor<2x4xf32>) attributes {ds.loss = 0 : i64} {
  %w1 = ds.param_ref @w1 : tensor<4x4xf32>
  %w2 = ds.param_ref @w2 : tensor<4x4xf32>
  %a = ds.gemm %x, %w1 : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  %h = ds.relu %a : tensor<2x4xf32>
  %g = ds.gemm %h, %w2 : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  %e = ds.exp %g : tensor<2x4xf32>
  %loss = ds.softmax_cross_entropy_loss %e, %t : (tensor<2x4xf32>, tensor<2xi64>) -> tensor<f32>
  %g1 = ds.mul %e, %h : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %g2 = ds.matmul %g1, %w2 : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  return %loss, %g2 : tensor<f32>, tensor<2x4xf32>
}

// -----

// Tests that a value whose recomputation reads a parameter the backward pass does not
// read (a first layer's weight: its input needs no gradient) is kept when the weight has
// at least the value's bytes: under ZeRO-3 recomputing it would gather the weight again
// only for that, raising the peak. A small bias read only by the recomputation is not
// reason enough: %s (and %u, from the kept %a) is recomputed.
// CHECK-LABEL: func.func @first_gemm
//       CHECK:   %[[A:.+]] = ds.gemm %{{.+}}, %{{.+}} :
//       CHECK:   ds.add %[[A]], %{{.+}} :
//       CHECK:   ds.softmax_cross_entropy_loss
//  CHECK-NEXT:   %[[U2:.+]] = ds.add %[[A]], %{{.+}} :
//  CHECK-NEXT:   %[[S2:.+]] = ds.exp %[[U2]]
//  CHECK-NEXT:   %[[G:.+]] = ds.mul %[[S2]], %[[A]]
//  CHECK-NEXT:   return
ds.parameter @w1 : tensor<8x4xf32> from "w1"
ds.parameter @b1 : tensor<4xf32> from "b1"
func.func @first_gemm(%x: tensor<2x8xf32>, %t: tensor<2xi64>) -> (tensor<f32>, tensor<2x4xf32>) attributes {ds.loss = 0 : i64} {
  %w1 = ds.param_ref @w1 : tensor<8x4xf32>
  %b1 = ds.param_ref @b1 : tensor<4xf32>
  %a = ds.gemm %x, %w1 : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
  %u = ds.add %a, %b1 : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %s = ds.exp %u : tensor<2x4xf32>
  %loss = ds.softmax_cross_entropy_loss %s, %t : (tensor<2x4xf32>, tensor<2xi64>) -> tensor<f32>
  %g = ds.mul %s, %a : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return %loss, %g : tensor<f32>, tensor<2x4xf32>
}
