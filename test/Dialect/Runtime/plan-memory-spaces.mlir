// RUN: ds-opt %s --ds-convert-to-runtime --ds-plan-memory | FileCheck %s
// RUN: ds-opt %s --ds-convert-to-runtime --ds-plan-memory | ds-translate --export-dsplan -o %t.dsplan
// RUN: tail -c +17 %t.dsplan | protoc --decode=ds.plan.Plan -I %ds_src_root/runtime/proto plan.proto | FileCheck %s --check-prefix=PLAN

// Tests that module state declared in host or nvme memory is planned in a region of its
// own: the device region (dsrt.persistent_bytes) holds only the device state, each region
// starts at offset 0 and has its own size (NVMe state at 4096-byte offsets, for O_DIRECT
// swaps); the plan places each buffer from its space
// (device: PERSISTENT, host: HOST, nvme: NVME) and records the region sizes.
// CHECK: module attributes {ds.model_file = "m.onnx", dsrt.alignment = 64 : i64, dsrt.arena_bytes = {{[0-9]+}} : i64, dsrt.host_bytes = 192 : i64, dsrt.loss_scale = @loss_scale, dsrt.nvme_bytes = 4104 : i64, dsrt.peak_bytes = {{[0-9]+}} : i64, dsrt.persistent_bytes = 68 : i64}
// CHECK: dsrt.global trainable @w : memref<4x4xf32> from "w" {offset = 0 : i64}
// CHECK: dsrt.global @w.grad : memref<4x4xf32> in host {{{.*}}offset = 0 : i64}
// CHECK: dsrt.global @w.exp_avg : memref<4x4xf32> in host {{{.*}}offset = 64 : i64}
// CHECK: dsrt.global @w.exp_avg_sq : memref<4x4xf32> in nvme {{{.*}}offset = 0 : i64}
// CHECK: dsrt.global @w.master : memref<4x4xf32> in host {{{.*}}offset = 128 : i64}
// CHECK: dsrt.global @loss_scale : memref<f32> {{{.*}}offset = 64 : i64}
// CHECK: dsrt.global @step : memref<i64> in nvme {{{.*}}offset = 4096 : i64}
// PLAN: persistent_bytes: 68
// PLAN: placement: PERSISTENT
// PLAN-NEXT: name: "w"
// PLAN: placement: HOST
// PLAN-NEXT: name: "w.grad"
// PLAN: placement: HOST
// PLAN-NEXT: offset: 64
// PLAN-NEXT: name: "w.exp_avg"
// PLAN: placement: NVME
// PLAN-NEXT: name: "w.exp_avg_sq"
// PLAN: placement: HOST
// PLAN-NEXT: offset: 128
// PLAN-NEXT: name: "w.master"
// PLAN: placement: PERSISTENT
// PLAN-NEXT: offset: 64
// PLAN-NEXT: name: "loss_scale"
// PLAN: placement: NVME
// PLAN-NEXT: offset: 4096
// PLAN-NEXT: name: "step"
// PLAN: placement: ARENA
// PLAN: loss_scale_buffer: 5
// PLAN-NEXT: host_bytes: 192
// PLAN-NEXT: nvme_bytes: 4104
module attributes {ds.model_file = "m.onnx"} {
ds.parameter @w : tensor<4x4xf32> from "w"
ds.state grad @w.grad : tensor<4x4xf32> of @w in host
ds.state exp_avg @w.exp_avg : tensor<4x4xf32> of @w in host
ds.state exp_avg_sq @w.exp_avg_sq : tensor<4x4xf32> of @w in nvme
ds.state master @w.master : tensor<4x4xf32> of @w in host
ds.state loss_scale @loss_scale : tensor<f32>
ds.state step @step : tensor<i64> in nvme
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %m = ds.state_ref @w.exp_avg : tensor<4x4xf32>
  %g = ds.state_ref @w.grad : tensor<4x4xf32>
  %0 = ds.add %m, %g : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
  ds.assign @w.exp_avg, %0 : tensor<4x4xf32>
  return
}
}
