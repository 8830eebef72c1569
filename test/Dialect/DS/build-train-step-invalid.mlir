// RUN: ds-opt %s --split-input-file --ds-build-train-step --verify-diagnostics

// Tests that a function without parameter gradients cannot be trained.
module {
// expected-error @+1 {{@forward returns no parameter gradients: run --ds-autodiff first, and check that some parameter is trainable}}
func.func @forward(%x: tensor<f32>) -> tensor<f32> attributes {ds.loss = 0 : i64} {
  return %x : tensor<f32>
}
}

// -----

// Tests that training needs a loss.
// expected-error @+1 {{no function has a loss (ds.loss) to train}}
module {
func.func @forward(%x: tensor<f32>) -> tensor<f32> {
  return %x : tensor<f32>
}
}
