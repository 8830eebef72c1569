// RUN: ds-opt %s --split-input-file --ds-drop-single-rank-collectives | FileCheck %s

// Tests that all-reduce, all-gather and reduce-scatter over a one-rank grid are gone and
// their results are their operands.
// CHECK-LABEL: func.func @one_rank
//  CHECK-SAME:   (%[[G:.+]]: tensor<4xf32>, %[[S:.+]]: tensor<8xf32>, %[[F:.+]]: tensor<f32>)
//   CHECK-NOT:   shard.
//       CHECK:   return %[[G]], %[[S]], %[[S]], %[[F]]
shard.grid @world(shape = 1)
func.func @one_rank(%g: tensor<4xf32>, %s: tensor<8xf32>, %f: tensor<f32>)
    -> (tensor<4xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>) {
  %0 = shard.all_reduce %g on @world grid_axes = [0] : tensor<4xf32> -> tensor<4xf32>
  %1 = shard.all_gather %s on @world grid_axes = [0] gather_axis = 0 : tensor<8xf32> -> tensor<8xf32>
  %2 = shard.reduce_scatter %s on @world grid_axes = [0] scatter_axis = 0 : tensor<8xf32> -> tensor<8xf32>
  %3 = shard.all_reduce %f on @world grid_axes = [0] reduction = min : tensor<f32> -> tensor<f32>
  return %0, %1, %2, %3 : tensor<4xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>
}

// -----

// Tests that collectives over two ranks stay.
// CHECK-LABEL: func.func @two_ranks
//       CHECK:   shard.all_reduce
//       CHECK:   shard.all_gather
//       CHECK:   shard.reduce_scatter
shard.grid @world(shape = 2)
func.func @two_ranks(%g: tensor<4xf32>, %s: tensor<8xf32>)
    -> (tensor<4xf32>, tensor<16xf32>, tensor<4xf32>) {
  %0 = shard.all_reduce %g on @world grid_axes = [0] : tensor<4xf32> -> tensor<4xf32>
  %1 = shard.all_gather %s on @world grid_axes = [0] gather_axis = 0 : tensor<8xf32> -> tensor<16xf32>
  %2 = shard.reduce_scatter %s on @world grid_axes = [0] scatter_axis = 0 : tensor<8xf32> -> tensor<4xf32>
  return %0, %1, %2 : tensor<4xf32>, tensor<16xf32>, tensor<4xf32>
}

// -----

// Tests that a one-rank all-reduce whose result type differs from its operand's (it
// accumulates in another element type) stays: dropping it would change the type.
// CHECK-LABEL: func.func @other_type
//       CHECK:   shard.all_reduce
shard.grid @world(shape = 1)
func.func @other_type(%g: tensor<4xbf16>) -> tensor<4xf32> {
  %0 = shard.all_reduce %g on @world grid_axes = [0] : tensor<4xbf16> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Tests that on a 2-D grid an axis of size 1 drops, and the axis holding two ranks stays.
// CHECK-LABEL: func.func @grid_2d
//       CHECK:   shard.all_reduce %{{.+}} on @grid grid_axes = [1]
//   CHECK-NOT:   shard.all_reduce
shard.grid @grid(shape = 1x2)
func.func @grid_2d(%g: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = shard.all_reduce %g on @grid grid_axes = [0] : tensor<4xf32> -> tensor<4xf32>
  %1 = shard.all_reduce %g on @grid grid_axes = [1] : tensor<4xf32> -> tensor<4xf32>
  return %0, %1 : tensor<4xf32>, tensor<4xf32>
}
