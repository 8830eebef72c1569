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

// -----

// Tests that a stage-3 bucket at one rank (parameters concatenated, gathered, reshaped to
// [1, N] and split) reads each parameter directly once the gather is gone; a split whose
// sizes differ from the pieces' stays, and without a dropped collective nothing changes.
// CHECK-LABEL: func.func @bucket
//  CHECK-SAME:   (%[[A:.+]]: tensor<6xf32>, %[[B:.+]]: tensor<2xf32>)
//       CHECK:   %[[A2:.+]] = ds.reshape %[[A]] : tensor<6xf32> to tensor<1x6xf32>
//       CHECK:   %[[B2:.+]] = ds.reshape %[[B]] : tensor<2xf32> to tensor<1x2xf32>
//       CHECK:   %[[O:.+]]:2 = ds.split %{{.+}} {axis = 1 : i64, sizes = array<i64: 4, 4>}
//       CHECK:   return %[[A2]], %[[B2]], %[[O]]#0
shard.grid @world(shape = 1)
func.func @bucket(%a: tensor<6xf32>, %b: tensor<2xf32>) -> (tensor<1x6xf32>, tensor<1x2xf32>, tensor<1x4xf32>) {
  %c = ds.concat %a, %b {axis = 0 : i64} : (tensor<6xf32>, tensor<2xf32>) -> tensor<8xf32>
  %g = shard.all_gather %c on @world grid_axes = [0] gather_axis = 0 : tensor<8xf32> -> tensor<8xf32>
  %r = ds.reshape %g : tensor<8xf32> to tensor<1x8xf32>
  %s:2 = ds.split %r {axis = 1 : i64, sizes = array<i64: 6, 2>} : (tensor<1x8xf32>) -> (tensor<1x6xf32>, tensor<1x2xf32>)
  %o:2 = ds.split %r {axis = 1 : i64, sizes = array<i64: 4, 4>} : (tensor<1x8xf32>) -> (tensor<1x4xf32>, tensor<1x4xf32>)
  return %s#0, %s#1, %o#0 : tensor<1x6xf32>, tensor<1x2xf32>, tensor<1x4xf32>
}

// -----

// CHECK-LABEL: func.func @no_collective
//       CHECK:   ds.split
shard.grid @world(shape = 1)
func.func @no_collective(%a: tensor<6xf32>, %b: tensor<2xf32>) -> (tensor<6xf32>, tensor<2xf32>) {
  %c = ds.concat %a, %b {axis = 0 : i64} : (tensor<6xf32>, tensor<2xf32>) -> tensor<8xf32>
  %s:2 = ds.split %c {axis = 0 : i64, sizes = array<i64: 6, 2>} : (tensor<8xf32>) -> (tensor<6xf32>, tensor<2xf32>)
  return %s#0, %s#1 : tensor<6xf32>, tensor<2xf32>
}

// -----

// Tests a gradient bucket: [1, N] pieces concatenated along axis 1, reduce-scattered and
// split along axis 1.
// CHECK-LABEL: func.func @grad_bucket
//  CHECK-SAME:   (%[[A:.+]]: tensor<1x6xf32>, %[[B:.+]]: tensor<1x2xf32>)
//   CHECK-NOT:   ds.split
//       CHECK:   return %[[A]], %[[B]]
shard.grid @world(shape = 1)
func.func @grad_bucket(%a: tensor<1x6xf32>, %b: tensor<1x2xf32>) -> (tensor<1x6xf32>, tensor<1x2xf32>) {
  %c = ds.concat %a, %b {axis = 1 : i64} : (tensor<1x6xf32>, tensor<1x2xf32>) -> tensor<1x8xf32>
  %r = shard.reduce_scatter %c on @world grid_axes = [0] scatter_axis = 1 : tensor<1x8xf32> -> tensor<1x8xf32>
  %s:2 = ds.split %r {axis = 1 : i64, sizes = array<i64: 6, 2>} : (tensor<1x8xf32>) -> (tensor<1x6xf32>, tensor<1x2xf32>)
  return %s#0, %s#1 : tensor<1x6xf32>, tensor<1x2xf32>
}
