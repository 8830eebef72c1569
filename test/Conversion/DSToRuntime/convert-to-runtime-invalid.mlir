// RUN: ds-opt %s --split-input-file --ds-convert-to-runtime --verify-diagnostics
// RUN: not ds-opt %s --split-input-file --ds-convert-to-runtime=role=eval 2>&1 | FileCheck %s --check-prefix=ROLE

// ROLE: unknown program role 'eval' (inference, micro_step, apply_step, init)

// Tests that collectives run on a 1-D grid: the world.
shard.grid @g(shape = 2x2)
func.func @grid_2d(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{collectives need a 1-D grid of static size (the world), got @g}}
  %0 = shard.all_reduce %x on @g grid_axes = [0] : tensor<4xf32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Tests that all collectives of a module run on one world size.
shard.grid @a(shape = 2)
shard.grid @b(shape = 4)
func.func @two_worlds(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = shard.all_reduce %x on @a grid_axes = [0] : tensor<4xf32> -> tensor<4xf32>
  // expected-error @+1 {{grid @b has 4 ranks, but another grid has 2}}
  %1 = shard.all_reduce %0 on @b grid_axes = [0] : tensor<4xf32> -> tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

// Tests that a reduction the runtime has no kernel for is rejected.
shard.grid @world(shape = 2)
func.func @product(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{reduction 'product' has no runtime kernel (sum, max, min, average do)}}
  %0 = shard.all_reduce %x on @world grid_axes = [0] reduction = product : tensor<4xf32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Tests that a collective the runtime does not have is rejected by name.
shard.grid @world(shape = 2)
func.func @all_to_all(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{cannot lower 'shard.all_to_all' to runtime kernels}}
  %0 = shard.all_to_all %x on @world grid_axes = [0] split_axis = 0 concat_axis = 0 : tensor<4xf32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Tests that ops of other dialects have no runtime kernel.
func.func @foreign() -> tensor<4xf32> {
  // expected-error @+1 {{cannot lower 'arith.constant' to runtime kernels}}
  %0 = arith.constant dense<1.0> : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Tests that program arguments are ranked tensors (they become buffers).
// expected-error @+1 {{argument #0 of @scalar_arg is not a ranked tensor: 'f32'}}
func.func @scalar_arg(%x: f32) {
  return
}
