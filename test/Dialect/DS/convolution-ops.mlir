// RUN: ds-opt %s | FileCheck %s
// RUN: ds-opt %s | ds-opt | FileCheck %s
// RUN: ds-opt %s --mlir-print-op-generic | ds-opt | FileCheck %s

// Tests that conv (with and without bias, grouped, 1-D) and its gradients round-trip.
// CHECK-LABEL: func.func @conv
// CHECK: ds.conv %{{.*}}, %{{.*}}, %{{.*}} {dilations = array<i64: 1, 1>, group = 2 : i64, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : (tensor<2x4x8x8xf32>, tensor<6x2x3x3xf32>, tensor<6xf32>) -> tensor<2x6x4x4xf32>
// CHECK: ds.conv %{{.*}}, %{{.*}} {{.*}} : (tensor<2x4x9xf32>, tensor<3x4x3xf32>) -> tensor<2x3x7xf32>
// CHECK: ds.conv_grad_input %{{.*}}, %{{.*}} {{.*}} : (tensor<2x6x4x4xf32>, tensor<6x2x3x3xf32>) -> tensor<2x4x8x8xf32>
// CHECK: ds.conv_grad_filter %{{.*}}, %{{.*}} {{.*}} : (tensor<2x6x4x4xf32>, tensor<2x4x8x8xf32>) -> tensor<6x2x3x3xf32>
func.func @conv(%x: tensor<2x4x8x8xf32>, %w: tensor<6x2x3x3xf32>, %b: tensor<6xf32>, %x1: tensor<2x4x9xf32>, %w1: tensor<3x4x3xf32>) {
  %y = ds.conv %x, %w, %b {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 2 : i64} : (tensor<2x4x8x8xf32>, tensor<6x2x3x3xf32>, tensor<6xf32>) -> tensor<2x6x4x4xf32>
  %y1 = ds.conv %x1, %w1 {strides = array<i64: 1>, pads = array<i64: 0, 0>, dilations = array<i64: 1>} : (tensor<2x4x9xf32>, tensor<3x4x3xf32>) -> tensor<2x3x7xf32>
  %dx = ds.conv_grad_input %y, %w {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 2 : i64} : (tensor<2x6x4x4xf32>, tensor<6x2x3x3xf32>) -> tensor<2x4x8x8xf32>
  %dw = ds.conv_grad_filter %y, %x {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 2 : i64} : (tensor<2x6x4x4xf32>, tensor<2x4x8x8xf32>) -> tensor<6x2x3x3xf32>
  return
}

// Tests that batch_norm and batch_norm_grad round-trip.
// CHECK-LABEL: func.func @batch_norm
// CHECK: %[[Y:.+]], %[[M:.+]], %[[V:.+]] = ds.batch_norm %{{.*}}, %{{.*}}, %{{.*}} {epsilon = 1.000000e-03 : f32} : (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
// CHECK: ds.batch_norm_grad %[[Y]], %{{.*}}, %{{.*}}, %[[M]], %[[V]] : (
func.func @batch_norm(%x: tensor<2x4x8x8xf32>, %s: tensor<4xf32>, %b: tensor<4xf32>) {
  %y, %m, %v = ds.batch_norm %x, %s, %b {epsilon = 1.0e-03 : f32} : (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
  %dx, %ds, %db = ds.batch_norm_grad %y, %x, %s, %m, %v : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
  return
}

// Tests that the pooling ops and their gradients round-trip (ceil_mode, count_include_pad).
// CHECK-LABEL: func.func @pools
// CHECK: ds.max_pool %{{.*}} {{.*}}ceil_mode = true{{.*}} : (tensor<2x4x8x8xf32>) -> tensor<2x4x5x5xf32>
// CHECK: ds.max_pool_grad %{{.*}}, %{{.*}} {{.*}} : (tensor<2x4x5x5xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
// CHECK: ds.avg_pool %{{.*}} {{.*}}count_include_pad = true{{.*}} : (tensor<2x4x8x8xf32>) -> tensor<2x4x4x4xf32>
// CHECK: ds.avg_pool_grad %{{.*}} {{.*}} : (tensor<2x4x4x4xf32>) -> tensor<2x4x8x8xf32>
func.func @pools(%x: tensor<2x4x8x8xf32>) {
  %y = ds.max_pool %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, ceil_mode = true} : (tensor<2x4x8x8xf32>) -> tensor<2x4x5x5xf32>
  %dx = ds.max_pool_grad %y, %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, ceil_mode = true} : (tensor<2x4x5x5xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %a = ds.avg_pool %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, count_include_pad = true} : (tensor<2x4x8x8xf32>) -> tensor<2x4x4x4xf32>
  %da = ds.avg_pool_grad %a {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, count_include_pad = true} : (tensor<2x4x4x4xf32>) -> tensor<2x4x8x8xf32>
  return
}
