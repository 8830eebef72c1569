// RUN: ds-opt %s --split-input-file --canonicalize | FileCheck %s

// Tests that a rank slice as long as its input (world size 1: the rank's shard is the whole
// tensor) folds away.
// CHECK-LABEL: func.func @rank_slice_whole
//  CHECK-SAME:   (%[[X:.+]]: tensor<8xf32>)
//   CHECK-NOT:   ds.rank_slice
//       CHECK:   return %[[X]]
func.func @rank_slice_whole(%x: tensor<8xf32>) -> tensor<8xf32> {
  %0 = ds.rank_slice %x : tensor<8xf32> to tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

// Tests that a rank slice of a shard (world size > 1) stays.
// CHECK-LABEL: func.func @rank_slice_shard
//       CHECK:   ds.rank_slice %{{.+}} : tensor<8xf32> to tensor<4xf32>
func.func @rank_slice_shard(%x: tensor<8xf32>) -> tensor<4xf32> {
  %0 = ds.rank_slice %x : tensor<8xf32> to tensor<4xf32>
  return %0 : tensor<4xf32>
}
