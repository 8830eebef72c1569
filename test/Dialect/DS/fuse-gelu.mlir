// RUN: ds-opt %s --split-input-file --ds-fuse-gelu | FileCheck %s

// Tests that nn.GELU as torch.onnx.export writes it before opset 20 (Div by √2, Erf, Add 1,
// Mul by x, Mul by 0.5) becomes one ds.gelu, and that the constants go with the chain.
// CHECK-LABEL: func.func @erf_div
//  CHECK-SAME: (%[[X:.+]]: tensor<2x8xf32>)
//  CHECK-NEXT:   %[[G:.+]] = ds.gelu %[[X]] : tensor<2x8xf32>
//  CHECK-NEXT:   return %[[G]]
func.func @erf_div(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %sqrt2 = ds.constant dense<1.41421354> : tensor<f32>
  %one = ds.constant dense<1.000000e+00> : tensor<f32>
  %half = ds.constant dense<5.000000e-01> : tensor<f32>
  %d = ds.div %x, %sqrt2 : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %e = ds.erf %d : tensor<2x8xf32>
  %a = ds.add %e, %one : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %m = ds.mul %x, %a : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %r = ds.mul %m, %half : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  return %r : tensor<2x8xf32>
}

// -----

// Tests the other association, 0.5 · x first, Mul by 1/√2, 1 + erf with the constant on
// the left, and that x keeps its other users.
// CHECK-LABEL: func.func @erf_mul_half_first
//  CHECK-SAME: (%[[X:.+]]: tensor<4xf32>)
//   CHECK-NOT:   ds.erf
//       CHECK:   %[[G:.+]] = ds.gelu %[[X]] : tensor<4xf32>
//       CHECK:   %[[S:.+]] = ds.add %[[G]], %[[X]]
//       CHECK:   return %[[S]]
func.func @erf_mul_half_first(%x: tensor<4xf32>) -> tensor<4xf32> {
  %r2 = ds.constant dense<0.707106769> : tensor<f32>
  %one = ds.constant dense<1.000000e+00> : tensor<f32>
  %half = ds.constant dense<5.000000e-01> : tensor<f32>
  %hx = ds.mul %half, %x : (tensor<f32>, tensor<4xf32>) -> tensor<4xf32>
  %d = ds.mul %x, %r2 : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %e = ds.erf %d : tensor<4xf32>
  %a = ds.add %one, %e : (tensor<f32>, tensor<4xf32>) -> tensor<4xf32>
  %r = ds.mul %hx, %a : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s = ds.add %r, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %s : tensor<4xf32>
}

// -----

// Tests Hugging Face's gelu_new: 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · Pow(x, 3)))),
// with √(2/π) left as Sqrt(2 / π) by the export.
// CHECK-LABEL: func.func @tanh_pow
//  CHECK-SAME: (%[[X:.+]]: tensor<2x3xf32>)
//  CHECK-NEXT:   %[[G:.+]] = ds.gelu %[[X]] approximate = tanh : tensor<2x3xf32>
//  CHECK-NEXT:   return %[[G]]
func.func @tanh_pow(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %three = ds.constant dense<3.000000e+00> : tensor<f32>
  %k = ds.constant dense<4.471500e-02> : tensor<f32>
  %two = ds.constant dense<2.000000e+00> : tensor<f32>
  %pi = ds.constant dense<3.14159274> : tensor<f32>
  %one = ds.constant dense<1.000000e+00> : tensor<f32>
  %half = ds.constant dense<5.000000e-01> : tensor<f32>
  %twopi = ds.div %two, %pi : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %c = ds.sqrt %twopi : tensor<f32>
  %hx = ds.mul %x, %half : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  %p = ds.pow %x, %three : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  %q = ds.mul %k, %p : (tensor<f32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %i = ds.add %x, %q : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %s = ds.mul %c, %i : (tensor<f32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %t = ds.tanh %s : tensor<2x3xf32>
  %a = ds.add %t, %one : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  %r = ds.mul %hx, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %r : tensor<2x3xf32>
}

// -----

// Tests the cube written x · x · x and the product (x · (1 + tanh)) · 0.5.
// CHECK-LABEL: func.func @tanh_cube
//  CHECK-NEXT:   %[[G:.+]] = ds.gelu %{{.+}} approximate = tanh : tensor<4xf32>
//  CHECK-NEXT:   return %[[G]]
func.func @tanh_cube(%x: tensor<4xf32>) -> tensor<4xf32> {
  %k = ds.constant dense<4.471500e-02> : tensor<f32>
  %c = ds.constant dense<0.797884583> : tensor<f32>
  %one = ds.constant dense<1.000000e+00> : tensor<f32>
  %half = ds.constant dense<5.000000e-01> : tensor<f32>
  %x2 = ds.mul %x, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %x3 = ds.mul %x2, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %q = ds.mul %x3, %k : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %i = ds.add %q, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s = ds.mul %i, %c : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %t = ds.tanh %s : tensor<4xf32>
  %a = ds.add %t, %one : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %m = ds.mul %x, %a : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %r = ds.mul %half, %m : (tensor<f32>, tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

// Tests what stays unfused: an intermediate with another user (1 + erf is returned too),
// √2 rounded to bf16 (another function), a product over another tensor, and a plain tanh.
// CHECK-LABEL: func.func @not_gelu
//   CHECK-NOT:   ds.gelu
//       CHECK:   return
func.func @not_gelu(%x: tensor<4xf32>, %y: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %sqrt2 = ds.constant dense<1.41421354> : tensor<f32>
  %sqrt2bf = ds.constant dense<1.4140625> : tensor<f32>
  %one = ds.constant dense<1.000000e+00> : tensor<f32>
  %half = ds.constant dense<5.000000e-01> : tensor<f32>
  %d = ds.div %x, %sqrt2 : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %e = ds.erf %d : tensor<4xf32>
  %a = ds.add %e, %one : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %m = ds.mul %x, %a : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %r = ds.mul %m, %half : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %d2 = ds.div %x, %sqrt2bf : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %e2 = ds.erf %d2 : tensor<4xf32>
  %a2 = ds.add %e2, %one : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %m2 = ds.mul %x, %a2 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %r2 = ds.mul %m2, %half : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %d3 = ds.div %x, %sqrt2 : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %e3 = ds.erf %d3 : tensor<4xf32>
  %a3 = ds.add %e3, %one : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %m3 = ds.mul %y, %a3 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %r3 = ds.mul %m3, %half : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %t = ds.tanh %x : tensor<4xf32>
  return %r, %a, %r2, %r3, %t : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}
