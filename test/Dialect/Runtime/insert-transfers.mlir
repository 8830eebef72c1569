// RUN: ds-opt %s --ds-convert-to-runtime --ds-insert-transfers="buffer-count=4 sub-group-size=8" --ds-plan-memory | FileCheck %s
// RUN: ds-opt %s --ds-convert-to-runtime --ds-insert-transfers="buffer-count=2 sub-group-size=8" | FileCheck %s --check-prefix=NOAHEAD
// RUN: ds-opt %s --ds-convert-to-runtime --ds-insert-transfers --ds-plan-memory | ds-translate --export-dsplan -o %t.dsplan

// An optimizer step over three parameters: @w's moments in host memory, @u's and @z's on
// NVMe (ZeRO-Offload and ZeRO-Infinity, as --ds-offload places them).

// Tests that the update of host state runs on the host stream: the device operands (the
// parameter, the gradient, the lr and step scalars) are copied device-to-host first, its
// results are host transients, the new parameter goes back to the device by a copy and
// the moments are written on the host.
// CHECK-LABEL: func.func @apply_step
//       CHECK: %[[P:.+]] = dsrt.alloc in host {offset = {{[0-9]+}} : i64} : memref<8xf32>
//       CHECK: dsrt.kernel "copy" ins(%{{.+}} : memref<8xf32>) outs(%[[WH:.+]] : memref<8xf32>) on copy
//       CHECK: dsrt.kernel "copy" ins(%{{.+}} : memref<8xf32>) outs(%[[GH:.+]] : memref<8xf32>) on copy
//       CHECK: dsrt.kernel "copy" ins(%{{.+}} : memref<f32>) outs(%[[LR:.+]] : memref<f32>) on copy
//       CHECK: dsrt.kernel "copy" ins(%{{.+}} : memref<i64>) outs(%[[T:.+]] : memref<i64>) on copy
//       CHECK: dsrt.kernel "adam_update" ins(%[[WH]], %[[GH]], %{{.+}}, %{{.+}}, %[[LR]], %[[T]] : {{.*}}) outs(%[[P]], {{.*}}) on host
//  CHECK-NEXT: %[[W:.+]] = dsrt.param @w
//  CHECK-NEXT: dsrt.kernel "copy" ins(%[[P]] : memref<8xf32>) outs(%[[W]] : memref<8xf32>) on copy
//  CHECK-NEXT: %[[M:.+]] = dsrt.param @w.exp_avg
//  CHECK-NEXT: dsrt.kernel "copy" ins(%{{.+}} : memref<8xf32>) outs(%[[M]] : memref<8xf32>) on host

// Tests that NVMe state is read by swap-ins into host transients and written by swap-outs
// from the host update's results, and that with 4 staging buffers (2 per update) @z's
// swap-ins are issued one sub-group ahead, before @u's update; the lr and step copies are
// made once for all updates.
//       CHECK: dsrt.kernel "swap_in" ins(%{{.+}} : memref<8xf32>) outs(%[[UM:.+]] : memref<8xf32>) on io
//       CHECK: dsrt.kernel "swap_in" ins(%{{.+}} : memref<8xf32>) outs(%[[UV:.+]] : memref<8xf32>) on io
//       CHECK: dsrt.kernel "swap_in" ins(%{{.+}} : memref<8xf32>) outs(%[[ZM:.+]] : memref<8xf32>) on io
//       CHECK: dsrt.kernel "swap_in" ins(%{{.+}} : memref<8xf32>) outs(%[[ZV:.+]] : memref<8xf32>) on io
//       CHECK: dsrt.kernel "adam_update" ins(%{{.+}}, %{{.+}}, %[[UM]], %[[UV]], %[[LR]], %[[T]] : {{.*}}) outs(%{{.+}}, %[[UM2:.+]], %[[UV2:.+]] : {{.*}}) on host
//       CHECK: dsrt.kernel "swap_out" ins(%[[UM2]] : memref<8xf32>) outs(%{{.+}} : memref<8xf32>) on io
//       CHECK: dsrt.kernel "swap_out" ins(%[[UV2]] : memref<8xf32>) outs(%{{.+}} : memref<8xf32>) on io
//       CHECK: dsrt.kernel "adam_update" ins(%{{.+}}, %{{.+}}, %[[ZM]], %[[ZV]], %[[LR]], %[[T]] : {{.*}}) on host
//       CHECK: dsrt.kernel "swap_out"
//       CHECK: dsrt.kernel "swap_out"

// Tests that with 2 staging buffers (one update's worth) nothing is read ahead: @z's
// swap-ins follow @u's update.
// NOAHEAD: "adam_update"
// NOAHEAD: "swap_in"
// NOAHEAD: "swap_in"
// NOAHEAD-NOT: "swap_in"
// NOAHEAD: "adam_update"
// NOAHEAD: "swap_in"
// NOAHEAD: "swap_in"
// NOAHEAD: "adam_update"
module attributes {ds.model_file = "m.onnx"} {
ds.parameter @w : tensor<8xf32> from "w"
ds.parameter @u : tensor<8xf32> from "u"
ds.parameter @z : tensor<8xf32> from "z"
ds.state grad @w.grad : tensor<8xf32> of @w
ds.state exp_avg @w.exp_avg : tensor<8xf32> of @w in host
ds.state exp_avg_sq @w.exp_avg_sq : tensor<8xf32> of @w in host
ds.state grad @u.grad : tensor<8xf32> of @u
ds.state exp_avg @u.exp_avg : tensor<8xf32> of @u in nvme
ds.state exp_avg_sq @u.exp_avg_sq : tensor<8xf32> of @u in nvme
ds.state grad @z.grad : tensor<8xf32> of @z
ds.state exp_avg @z.exp_avg : tensor<8xf32> of @z in nvme
ds.state exp_avg_sq @z.exp_avg_sq : tensor<8xf32> of @z in nvme
ds.state step @step : tensor<i64>
func.func @apply_step() attributes {dsrt.role = #dsrt.role<apply_step>} {
  %s = ds.state_ref @step : tensor<i64>
  %one = ds.constant dense<1> : tensor<i64>
  %t = ds.add %s, %one : (tensor<i64>, tensor<i64>) -> tensor<i64>
  %lr = ds.lr_schedule constant %s {lr = 1.000000e-03 : f32} : tensor<f32>
  %wp = ds.param_ref @w : tensor<8xf32>
  %wg = ds.state_ref @w.grad : tensor<8xf32>
  %wm = ds.state_ref @w.exp_avg : tensor<8xf32>
  %wv = ds.state_ref @w.exp_avg_sq : tensor<8xf32>
  %w1, %w2, %w3 = ds.adam_update %wp, %wg, %wm, %wv, %lr, %t {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32} : tensor<8xf32>
  ds.assign @w, %w1 : tensor<8xf32>
  ds.assign @w.exp_avg, %w2 : tensor<8xf32>
  ds.assign @w.exp_avg_sq, %w3 : tensor<8xf32>
  %up = ds.param_ref @u : tensor<8xf32>
  %ug = ds.state_ref @u.grad : tensor<8xf32>
  %um = ds.state_ref @u.exp_avg : tensor<8xf32>
  %uv = ds.state_ref @u.exp_avg_sq : tensor<8xf32>
  %u1, %u2, %u3 = ds.adam_update %up, %ug, %um, %uv, %lr, %t {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32} : tensor<8xf32>
  ds.assign @u, %u1 : tensor<8xf32>
  ds.assign @u.exp_avg, %u2 : tensor<8xf32>
  ds.assign @u.exp_avg_sq, %u3 : tensor<8xf32>
  %zp = ds.param_ref @z : tensor<8xf32>
  %zg = ds.state_ref @z.grad : tensor<8xf32>
  %zm = ds.state_ref @z.exp_avg : tensor<8xf32>
  %zv = ds.state_ref @z.exp_avg_sq : tensor<8xf32>
  %z1, %z2, %z3 = ds.adam_update %zp, %zg, %zm, %zv, %lr, %t {adam_w_mode = true, beta1 = 0.9 : f32, beta2 = 0.999 : f32, bias_correction = true, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32} : tensor<8xf32>
  ds.assign @z, %z1 : tensor<8xf32>
  ds.assign @z.exp_avg, %z2 : tensor<8xf32>
  ds.assign @z.exp_avg_sq, %z3 : tensor<8xf32>
  ds.assign @step, %t : tensor<i64>
  return
}
}
