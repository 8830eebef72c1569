// RUN: ds-opt %s --ds-autodiff --ds-build-train-step --ds-zero="stage=3 world-size=2 param-persistence-threshold=4" --ds-offload="optimizer=cpu" | FileCheck %s --check-prefix=OPT
// RUN: ds-opt %s --ds-autodiff --ds-build-train-step --ds-zero="stage=3 world-size=2 param-persistence-threshold=4" --ds-offload="optimizer=nvme param=cpu" | FileCheck %s --check-prefix=PARAM
// RUN: ds-opt %s --ds-autodiff --ds-build-train-step --ds-zero="stage=3 world-size=2 param-persistence-threshold=4" --ds-offload="optimizer=cpu param=nvme max-in-cpu=8" | FileCheck %s --check-prefix=MAXCPU
// RUN: ds-opt %s --ds-autodiff --ds-build-train-step --ds-zero="stage=2 world-size=2" --ds-offload="optimizer=cpu ratio=0.5" | FileCheck %s --check-prefix=RATIO
// RUN: not ds-opt %s --ds-autodiff --ds-build-train-step --ds-zero="stage=2 world-size=2" --ds-offload="optimizer=disk" 2>&1 | FileCheck %s --check-prefix=BAD

// A two-layer network: @w1 [5x3] (15 elements: ZeRO-3 shards of 8) and @w2 [3x4] (12:
// shards of 6); @b [4] stays whole under a persistence threshold of 4.

// Tests that optimizer offload moves every optimizer state (the moments; fp32 needs no
// master) to the host, and leaves the gradient shards, the step counter and the
// parameters on the device.
// OPT: ds.parameter @w1 : tensor<5x3xf32> sharded 8 from "w1"{{$}}
// OPT: ds.state grad @w1.grad : tensor<8xf32> of @w1{{$}}
// OPT: ds.state exp_avg @w1.exp_avg : tensor<8xf32> of @w1 in host
// OPT: ds.state exp_avg_sq @w1.exp_avg_sq : tensor<8xf32> of @w1 in host
// OPT: ds.state exp_avg @b.exp_avg : tensor<2xf32> of @b in host
// OPT: ds.state step @step : tensor<i64>{{$}}

// Tests that parameter offload moves the stage-3 shards, not the parameter kept whole.
// PARAM: ds.parameter @w1 : tensor<5x3xf32> sharded 8 from "w1" in host
// PARAM: ds.parameter @w2 : tensor<3x4xf32> sharded 6 from "w2" in host
// PARAM: ds.parameter @b : tensor<4xf32> from "b"{{$}}
// PARAM: ds.state exp_avg @w1.exp_avg : tensor<8xf32> of @w1 in nvme

// Tests that with parameters on NVMe the first shards up to max_in_cpu elements stay in
// host memory (8: @w1's shard; @w2's would pass it).
// MAXCPU: ds.parameter @w1 : tensor<5x3xf32> sharded 8 from "w1" in host
// MAXCPU: ds.parameter @w2 : tensor<3x4xf32> sharded 6 from "w2" in nvme

// Tests that ratio offloads the optimizer state of the first parameters holding that
// fraction of the elements (15 of 31 <= 0.5 * 31; 27 > 15.5).
// RATIO: ds.state exp_avg @w1.exp_avg : tensor<8xf32> of @w1 in host
// RATIO: ds.state exp_avg @w2.exp_avg : tensor<6xf32> of @w2{{$}}
// RATIO: ds.state exp_avg @b.exp_avg : tensor<2xf32> of @b{{$}}

// Tests that an unknown device is an error naming both options.
// BAD: error: offload devices are none, cpu or nvme; got optimizer='disk', param='none'
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
