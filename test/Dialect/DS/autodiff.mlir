// RUN: ds-opt %s --split-input-file --ds-autodiff --verify-diagnostics | FileCheck %s

// Tests that a linear layer gets dW = x^T g (one GEMM, transpose inside) and a bias gradient
// summed over the batch,
// that relu gates the gradient, and that a frozen parameter gets no gradient.
// CHECK-LABEL: func.func @linear
//  CHECK-SAME: -> (tensor<f32> {ds.output = "loss"}, tensor<4x3xf32> {ds.grad = @w, ds.output = "grad:w"}, tensor<3xf32> {ds.grad = @b, ds.output = "grad:b"})
//       CHECK: %[[LOSS:.+]] = ds.softmax_cross_entropy_loss %[[LOGITS:[^,]+]], %[[Y:[^ ]+]]
//       CHECK: %[[ONE:.+]] = ds.constant dense<1.000000e+00> : tensor<f32>
//       CHECK: %[[DL:.+]] = ds.softmax_cross_entropy_loss_grad %[[ONE]], %[[LOGITS]], %[[Y]]
//       CHECK: %[[POS:.+]] = ds.greater
//       CHECK: %[[DR:.+]] = ds.where %[[POS]], %[[DL]]
//       CHECK: %[[DB:.+]] = ds.reduce_sum %[[DR]] {axes = array<i64: 0>}
//       CHECK: %[[DBR:.+]] = ds.reshape %[[DB]] : tensor<1x3xf32> to tensor<3xf32>
//       CHECK: %[[DW:.+]] = ds.gemm %arg0, %[[DR]] {trans_a}
//       CHECK: return %[[LOSS]], %[[DW]], %[[DBR]]
module {
ds.parameter @w : tensor<4x3xf32> from "w"
ds.parameter @b : tensor<3xf32> from "b"
ds.parameter frozen @scale : tensor<3xf32> from "scale"
func.func @linear(%x: tensor<2x4xf32> {ds.input = "x"}, %y: tensor<2xi64> {ds.input = "y"}) -> (tensor<f32> {ds.output = "loss"}) attributes {ds.loss = 0 : i64} {
  %w = ds.param_ref @w : tensor<4x3xf32>
  %b = ds.param_ref @b : tensor<3xf32>
  %s = ds.param_ref @scale : tensor<3xf32>
  %0 = ds.matmul %x, %w : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %1 = ds.add %0, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %2 = ds.relu %1 : tensor<2x3xf32>
  %l = ds.softmax_cross_entropy_loss %2, %y : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<f32>
  return %l : tensor<f32>
}
}

// -----

// Tests that a tied weight (an embedding reused as the output projection) gets the sum
// of the gradients of both uses: the gather's scatter-add and the matmul's.
// CHECK-LABEL: func.func @tied
//       CHECK: %[[DMM:.+]] = ds.gemm %{{.+}}, %{{.+}} {trans_a} : (tensor<4x3xf32>, tensor<4x8xf32>) -> tensor<3x8xf32>
//       CHECK: %[[DT:.+]] = ds.transpose %[[DMM]] {perm = array<i64: 1, 0>} : (tensor<3x8xf32>) -> tensor<8x3xf32>
//       CHECK: %[[DG:.+]] = ds.gather_grad %{{.+}}, %arg0 {axis = 0 : i64} : (tensor<4x3xf32>, tensor<4xi64>) -> tensor<8x3xf32>
//       CHECK: %[[SUM:.+]] = ds.add %[[DT]], %[[DG]]
//       CHECK: return %{{.+}}, %[[SUM]] : tensor<f32>, tensor<8x3xf32>
module {
ds.parameter @emb : tensor<8x3xf32> from "emb"
func.func @tied(%ids: tensor<4xi64>, %y: tensor<4xi64>) -> tensor<f32> attributes {ds.loss = 0 : i64} {
  %e = ds.param_ref @emb : tensor<8x3xf32>
  %h = ds.gather %e, %ids : (tensor<8x3xf32>, tensor<4xi64>) -> tensor<4x3xf32>
  %et = ds.transpose %e {perm = array<i64: 1, 0>} : (tensor<8x3xf32>) -> tensor<3x8xf32>
  %logits = ds.matmul %h, %et : (tensor<4x3xf32>, tensor<3x8xf32>) -> tensor<4x8xf32>
  %l = ds.softmax_cross_entropy_loss %logits, %y : (tensor<4x8xf32>, tensor<4xi64>) -> tensor<f32>
  return %l : tensor<f32>
}
}

// -----

// Tests that with wrt-args the gradients of float arguments are returned too, and that a
// value used twice (x * x) accumulates both products.
// RUN: ds-opt %s --split-input-file --ds-autodiff=wrt-args --verify-diagnostics | FileCheck %s --check-prefix=ARGS
// ARGS-LABEL: func.func @square
//  ARGS-SAME: -> (tensor<f32>, tensor<3xf32> {ds.grad_of_input = "x", ds.output = "grad:x"})
//       ARGS: %[[G:[0-9]+]] = ds.expand
//       ARGS: %[[A:[0-9]+]] = ds.mul %[[G]], %arg0
//       ARGS: %[[B:[0-9]+]] = ds.mul %[[G]], %arg0
//       ARGS: %[[S:.+]] = ds.add %[[A]], %[[B]]
//       ARGS: return %{{.+}}, %[[S]]
module {
func.func @square(%x: tensor<3xf32> {ds.input = "x"}) -> tensor<f32> attributes {ds.loss = 0 : i64} {
  %0 = ds.mul %x, %x : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %1 = ds.reduce_sum %0 {axes = array<i64>, keepdims = false} : (tensor<3xf32>) -> tensor<f32>
  return %1 : tensor<f32>
}
}

// -----

// Tests that an op without a gradient rule on a parameter's path is an error naming it.
module {
ds.parameter @w : tensor<4xf32> from "w"
func.func @no_rule(%g: tensor<4xf32>) -> tensor<f32> attributes {ds.loss = 0 : i64} {
  %w = ds.param_ref @w : tensor<4xf32>
  // expected-error @+1 {{'ds.softmax_grad' has no gradient rule, but the gradient of a trainable parameter flows through it}}
  %0 = ds.softmax_grad %g, %w {axis = 0 : i64} : tensor<4xf32>
  %1 = ds.reduce_sum %0 {axes = array<i64>, keepdims = false} : (tensor<4xf32>) -> tensor<f32>
  return %1 : tensor<f32>
}
}

// -----

// Tests that integer paths (a mask from a comparison) carry no gradient.
// CHECK-LABEL: func.func @masked
//   CHECK-NOT: ds.equal {{.*}}ds.grad
//       CHECK: return %{{.+}}, %{{.+}} : tensor<f32>, tensor<4xf32>
module {
ds.parameter @w : tensor<4xf32> from "w"
func.func @masked(%x: tensor<4xf32>) -> tensor<f32> attributes {ds.loss = 0 : i64} {
  %w = ds.param_ref @w : tensor<4xf32>
  %zero = ds.constant dense<0.0> : tensor<f32>
  %c = ds.greater %w, %zero : (tensor<4xf32>, tensor<f32>) -> tensor<4xi1>
  %0 = ds.where %c, %x, %w : (tensor<4xi1>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %1 = ds.reduce_sum %0 {axes = array<i64>, keepdims = false} : (tensor<4xf32>) -> tensor<f32>
  return %1 : tensor<f32>
}
}

// -----

// Tests (with respect to the arguments) that attention's gradient is one attention_grad from the output, its log-sum-exp and
// the forward operands (mask and attributes carried over), and that the mask gets none.
// ARGS-LABEL: func.func @attention
//       ARGS: %[[O:.+]], %[[LSE:.+]] = ds.attention %arg0, %arg1, %arg2 mask %arg3 {causal = true, scale = 5.000000e-01 : f32}
//       ARGS: %{{.+}}, %{{.+}}, %{{.+}} = ds.attention_grad %{{.+}}, %arg0, %arg1, %arg2, %[[O]], %[[LSE]] mask %arg3 {causal = true, scale = 5.000000e-01 : f32}
//   ARGS-NOT: ds.softmax_grad
func.func @attention(%q: tensor<2x4x8xf32> {ds.input = "q"}, %k: tensor<2x4x8xf32> {ds.input = "k"}, %v: tensor<2x4x8xf32> {ds.input = "v"}, %m: tensor<4x4xi1> {ds.input = "m"}) -> (tensor<f32> {ds.output = "loss"}) attributes {ds.loss = 0 : i64} {
  %o, %lse = ds.attention %q, %k, %v mask %m {scale = 0.5 : f32, causal = true} : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<4x4xi1>) -> (tensor<2x4x8xf32>, tensor<2x4xf32>)
  %l = ds.reduce_sum %o {axes = array<i64>, keepdims = false} : (tensor<2x4x8xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// Tests that a dropout of ratio 0 passes its gradient through unchanged (no mask read, no
// multiply), while a dropout that drops multiplies by its mask.
// CHECK-LABEL: func.func @dropout_identity_gradient
//       CHECK: %[[DL:.+]] = ds.softmax_cross_entropy_loss_grad
//   CHECK-NOT: ds.cast
//       CHECK: %[[DW:.+]] = ds.gemm %arg0, %[[DL]] {trans_a}
//       CHECK: return %{{.+}}, %[[DW]]
module {
ds.parameter @w : tensor<4x3xf32> from "w"
func.func @dropout_identity_gradient(%x: tensor<2x4xf32> {ds.input = "x"}, %y: tensor<2xi64> {ds.input = "y"}) -> (tensor<f32> {ds.output = "loss"}) attributes {ds.loss = 0 : i64} {
  %w = ds.param_ref @w : tensor<4x3xf32>
  %0 = ds.matmul %x, %w : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %1:2 = ds.dropout %0 {ratio = 0.0 : f32} : (tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xi1>)
  %l = ds.softmax_cross_entropy_loss %1#0, %y : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<f32>
  return %l : tensor<f32>
}
}

// -----

// CHECK-LABEL: func.func @dropout_gradient
//       CHECK: ds.softmax_cross_entropy_loss_grad
//       CHECK: ds.cast %mask
//       CHECK: ds.mul
module {
ds.parameter @w : tensor<4x3xf32> from "w"
func.func @dropout_gradient(%x: tensor<2x4xf32> {ds.input = "x"}, %y: tensor<2xi64> {ds.input = "y"}) -> (tensor<f32> {ds.output = "loss"}) attributes {ds.loss = 0 : i64} {
  %w = ds.param_ref @w : tensor<4x3xf32>
  %0 = ds.matmul %x, %w : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %1:2 = ds.dropout %0 {ratio = 0.5 : f32} : (tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xi1>)
  %l = ds.softmax_cross_entropy_loss %1#0, %y : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<f32>
  return %l : tensor<f32>
}
}
