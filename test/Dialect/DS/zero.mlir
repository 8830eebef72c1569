// RUN: ds-opt %s --ds-autodiff --ds-build-train-step="gradient-clipping=1.0" --ds-zero="stage=0 world-size=2" | FileCheck %s --check-prefix=S0
// RUN: ds-opt %s --ds-autodiff --ds-build-train-step="gradient-clipping=1.0" --ds-zero="stage=1 world-size=2" | FileCheck %s --check-prefix=S1
// RUN: ds-opt %s --ds-autodiff --ds-build-train-step="gradient-clipping=1.0" --ds-zero="stage=2 world-size=2 reduce-bucket-size=1" | FileCheck %s --check-prefix=S2
// RUN: ds-opt %s --ds-autodiff --ds-build-train-step="gradient-clipping=1.0" --ds-zero="stage=2 world-size=2" | FileCheck %s --check-prefix=BUCKET
// RUN: ds-opt %s --ds-autodiff --ds-build-train-step="gradient-clipping=1.0" --ds-zero="stage=2 world-size=2 reduce-bucket-size=20 contiguous-gradients=true" | FileCheck %s --check-prefix=CAP
// RUN: ds-opt %s --ds-autodiff --ds-build-train-step="gradient-clipping=1.0" --ds-zero="stage=3 world-size=2 param-persistence-threshold=4 prefetch-bucket-size=1" | FileCheck %s --check-prefix=S3
// RUN: ds-opt %s --ds-autodiff --ds-build-train-step="gradient-clipping=1.0" --ds-zero="stage=3 world-size=2 param-persistence-threshold=4" | FileCheck %s --check-prefix=PREFETCH

// A two-layer network: @w1 [5x3] (15 elements: shards of 8, padded to 16) and @w2 [3x4].

// Tests that stage 0 keeps everything whole and averages the accumulated gradient over
// the 2 ranks right where the optimizer step reads it, back into the accumulator (an
// all_reduce with reduction average, in place once lowered): the step reads the
// accumulator, as at world 1, with no multiply of its own.
// S0: shard.grid @world(shape = 2)
// S0: ds.state grad @w1.grad : tensor<5x3xf32>
// S0-LABEL: func.func @micro_step
//  S0-NOT: shard.
// S0-LABEL: func.func @apply_step
//      S0: %[[G:.+]] = ds.state_ref @w1.grad : tensor<5x3xf32>
// S0-NEXT: %[[AVG:.+]] = shard.all_reduce %[[G]] on @world grid_axes = [0] reduction = average : tensor<5x3xf32> -> tensor<5x3xf32>
// S0-NEXT: ds.assign @w1.grad, %[[AVG]] : tensor<5x3xf32>
// S0-NEXT: %[[R:.+]] = ds.state_ref @w1.grad : tensor<5x3xf32>
//  S0-NOT: ds.mul %[[R]]
//      S0: ds.grad_norm_sq %[[R]],
//  S0-NOT: shard.all_reduce %{{.*}} : tensor<5x3xf32>

// Tests that stage 1 shards the optimizer state, all-reduces the whole accumulated
// gradient back into its accumulator at the step (ds-bucket-collectives then buckets
// these) and takes the rank's shard of the average, sums the clipping norm over ranks, updates the rank's slice of the
// fp32 parameter (its own master: no separate copy) and all-gathers the result.
// S1: ds.state grad @w1.grad : tensor<5x3xf32>
// S1-NOT: master
// S1: ds.state exp_avg @w1.exp_avg : tensor<8xf32>
// S1-LABEL: func.func @micro_step
//  S1-NOT: shard.
// S1-LABEL: func.func @apply_step
//      S1: %[[G:.+]] = ds.state_ref @w1.grad : tensor<5x3xf32>
// S1-NEXT: %[[SUM:.+]] = shard.all_reduce %[[G]] on @world grid_axes = [0] reduction = average : tensor<5x3xf32> -> tensor<5x3xf32>
// S1-NEXT: ds.assign @w1.grad, %[[SUM]] : tensor<5x3xf32>
// S1-NEXT: %[[R:.+]] = ds.state_ref @w1.grad : tensor<5x3xf32>
// S1-NEXT: %[[FLAT:.+]] = ds.reshape %[[R]] : tensor<5x3xf32> to tensor<15xf32>
//      S1: %[[PAD:.+]] = ds.concat %[[FLAT]], %{{.+}} {axis = 0 : i64} : (tensor<15xf32>, tensor<1xf32>) -> tensor<16xf32>
// S1-NEXT: %[[SHARD:.+]] = ds.rank_slice %[[PAD]] : tensor<16xf32> to tensor<8xf32>
//  S1-NOT: ds.mul %[[SHARD]]
//  S1-NOT: shard.reduce_scatter
//      S1: %[[LOCAL:.+]] = ds.grad_norm_sq %{{.+}}, %{{.+}} : tensor<8xf32>, tensor<6xf32>
// S1-NEXT: %[[NORMSQ:.+]] = shard.all_reduce %[[LOCAL]] on @world grid_axes = [0] : tensor<f32> -> tensor<f32>
// S1-NEXT: ds.sqrt %[[NORMSQ]]
//      S1: %[[P:.+]] = ds.param_ref @w1 : tensor<5x3xf32>
//      S1: %[[MINE:.+]] = ds.rank_slice %{{.+}} : tensor<16xf32> to tensor<8xf32>
//      S1: %[[NEW:.+]], %{{.+}}, %{{.+}} = ds.adam_update %[[MINE]], {{.*}} : tensor<8xf32>
// S1-NEXT: %[[ALL:.+]] = shard.all_gather %[[NEW]] on @world grid_axes = [0] gather_axis = 0 : tensor<8xf32> -> tensor<16xf32>
// S1-NEXT: %[[TRIM:.+]] = ds.slice %[[ALL]] {ends = array<i64: 15>, starts = array<i64: 0>, steps = array<i64: 1>}
// S1-NEXT: %[[WHOLE:.+]] = ds.reshape %[[TRIM]] : tensor<15xf32> to tensor<5x3xf32>
// S1-NEXT: ds.assign @w1, %[[WHOLE]] : tensor<5x3xf32>
// S1-NOT: func.func @init

// Tests that stage 2 reduce-scatters each micro-step's gradient as soon as it is
// complete (buckets of one tensor) and accumulates only the shard.
// S2: ds.state grad @w1.grad : tensor<8xf32>
// S2-LABEL: func.func @micro_step
//      S2: %[[DW:.+]] = ds.gemm %{{.+}}, %{{.+}} {trans_a} : (tensor<2x5xf32>, tensor<2x3xf32>) -> tensor<5x3xf32>
// S2-NEXT: %[[ACC:.+]] = ds.state_ref @w1.grad : tensor<8xf32>
//      S2: %[[RS:.+]] = shard.reduce_scatter %{{.+}} on @world grid_axes = [0] reduction = average scatter_axis = 0 : tensor<2x8xf32> -> tensor<1x8xf32>
// S2-NEXT: %[[MINE:.+]] = ds.reshape %[[RS]] : tensor<1x8xf32> to tensor<8xf32>
// S2-NEXT: %[[SUM:.+]] = ds.add %[[ACC]], %[[MINE]] : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
// S2-NEXT: ds.assign @w1.grad, %[[SUM]] : tensor<8xf32>
// S2-LABEL: func.func @apply_step
//  S2-NOT: shard.reduce_scatter

// Tests that with the default bucket (5e8 elements) the three gradients are reduced by
// one collective once the last is complete: each is laid out [ranks, shard] and the
// rows are concatenated, so rank r receives shard r of every tensor.
// BUCKET-LABEL: func.func @micro_step
//      BUCKET: %[[ROWS:.+]] = ds.concat %{{.+}}, %{{.+}}, %{{.+}} {axis = 1 : i64} : (tensor<2x2xf32>, tensor<2x6xf32>, tensor<2x8xf32>) -> tensor<2x16xf32>
// BUCKET-NEXT: %[[RS:.+]] = shard.reduce_scatter %[[ROWS]] on @world grid_axes = [0] reduction = average scatter_axis = 0 : tensor<2x16xf32> -> tensor<1x16xf32>
//      BUCKET: ds.split %{{.+}} {axis = 1 : i64, sizes = array<i64: 2, 6, 8>}
//      BUCKET: ds.assign @b.grad
//      BUCKET: ds.assign @w2.grad
//      BUCKET: ds.assign @w1.grad
//  BUCKET-NOT: shard.reduce_scatter
// BUCKET-LABEL: func.func @apply_step

// Tests that a bucket is closed before the next gradient would overflow it (DeepSpeed's
// rule): with 20 elements @b (4) and @w2 (12) share one and @w1 (15) goes alone, where
// closing only once a bucket holds 20 would have put all three in one; and that
// contiguous-gradients marks the concat of a bucket of several gradients ds.copy_in.
// CAP-LABEL: func.func @micro_step
//      CAP: ds.concat %{{.+}}, %{{.+}} {{.*}}ds.copy_in{{.*}} : (tensor<2x2xf32>, tensor<2x6xf32>) -> tensor<2x8xf32>
// CAP-NEXT: shard.reduce_scatter %{{.+}} : tensor<2x8xf32> -> tensor<1x8xf32>
//      CAP: ds.split %{{.+}} {axis = 1 : i64, sizes = array<i64: 2, 6>}
//      CAP: %[[W1:.+]] = ds.reshape %{{.+}} : tensor<16xf32> to tensor<2x8xf32>
// CAP-NEXT: shard.reduce_scatter %[[W1]] {{.*}} : tensor<2x8xf32> -> tensor<1x8xf32>
//  CAP-NOT: shard.reduce_scatter
// CAP-LABEL: func.func @apply_step

// Tests that stage 3 stores parameters above the threshold as shards, gathers @w2 right
// before its forward use and again right before its backward use (recomputing the
// views the backward pass reads), and keeps the small @b whole.
// S3: ds.parameter @w1 : tensor<5x3xf32> sharded 8 from "w1"
// S3: ds.parameter @w2 : tensor<3x4xf32> sharded 6 from "w2"
// S3: ds.parameter @b : tensor<4xf32> from "b"
// S3: ds.state exp_avg @b.exp_avg : tensor<2xf32>
// S3-LABEL: func.func @micro_step
//      S3: %[[W2:.+]] = ds.param_ref @w2 : tensor<6xf32>
//      S3: %[[FWD:.+]] = shard.all_gather %[[W2]] on @world grid_axes = [0] gather_axis = 0 : tensor<6xf32> -> tensor<12xf32>
// S3-NEXT: %[[FWDW:.+]] = ds.reshape %[[FWD]] : tensor<12xf32> to tensor<3x4xf32>
// S3-NEXT: ds.matmul %{{.+}}, %[[FWDW]]
//      S3: ds.softmax_cross_entropy_loss_grad
//      S3: %[[BWD:.+]] = shard.all_gather %[[W2]] on @world grid_axes = [0] gather_axis = 0 : tensor<6xf32> -> tensor<12xf32>
// S3-NEXT: %[[BWDW:.+]] = ds.reshape %[[BWD]] : tensor<12xf32> to tensor<3x4xf32>
// S3-NEXT: ds.gemm %{{.+}}, %[[BWDW]] {trans_b}
// S3-LABEL: func.func @apply_step
//      S3: ds.adam_update {{.*}} : tensor<6xf32>
// S3-NEXT: ds.assign @w2, %{{.+}} : tensor<6xf32>
module {
ds.parameter @w1 : tensor<5x3xf32> from "w1"
ds.parameter @w2 : tensor<3x4xf32> from "w2"
ds.parameter @b : tensor<4xf32> from "b"
func.func @forward(%x: tensor<2x5xf32> {ds.input = "x"}, %y: tensor<2xi64> {ds.input = "y"}) -> (tensor<f32> {ds.output = "loss"}) attributes {ds.loss = 0 : i64} {
  %w1 = ds.param_ref @w1 : tensor<5x3xf32>
  %w2 = ds.param_ref @w2 : tensor<3x4xf32>
  %b = ds.param_ref @b : tensor<4xf32>
  %h = ds.matmul %x, %w1 : (tensor<2x5xf32>, tensor<5x3xf32>) -> tensor<2x3xf32>
  %r = ds.tanh %h : tensor<2x3xf32>
  %o = ds.matmul %r, %w2 : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  %z = ds.add %o, %b : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %l = ds.softmax_cross_entropy_loss %z, %y : (tensor<2x4xf32>, tensor<2xi64>) -> tensor<f32>
  return %l : tensor<f32>
}
}

// Tests that with the default prefetch bucket both sharded parameters are gathered by
// one collective before the first forward use (prefetching @w2), rank-major: each rank
// contributes [shard of w1, shard of w2], and the backward pass re-gathers @w2 alone.
// PREFETCH-LABEL: func.func @micro_step
//       PREFETCH: %[[W1:.+]] = ds.param_ref @w1 : tensor<8xf32>
//       PREFETCH: %[[W2:.+]] = ds.param_ref @w2 : tensor<6xf32>
//       PREFETCH: %[[MINE:.+]] = ds.concat %[[W1]], %[[W2]] {axis = 0 : i64} : (tensor<8xf32>, tensor<6xf32>) -> tensor<14xf32>
//  PREFETCH-NEXT: %[[ALL:.+]] = shard.all_gather %[[MINE]] on @world grid_axes = [0] gather_axis = 0 : tensor<14xf32> -> tensor<28xf32>
//  PREFETCH-NEXT: %[[M:.+]] = ds.reshape %[[ALL]] : tensor<28xf32> to tensor<2x14xf32>
//  PREFETCH-NEXT: ds.split %[[M]] {axis = 1 : i64, sizes = array<i64: 8, 6>}
//       PREFETCH: ds.matmul %arg0
//       PREFETCH: ds.softmax_cross_entropy_loss_grad
//       PREFETCH: shard.all_gather %[[W2]] on @world grid_axes = [0] gather_axis = 0 : tensor<6xf32> -> tensor<12xf32>
