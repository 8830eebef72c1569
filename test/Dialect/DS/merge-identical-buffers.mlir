// RUN: ds-opt %s --split-input-file --ds-merge-identical-buffers | FileCheck %s

// Tests that frozen parameters with the same content key, type and space become one:
// every param_ref of a copy reads the first, and the copies are gone; a frozen buffer
// with other data, and a trainable parameter with the same data, stay.
// CHECK-LABEL: module
//   CHECK-DAG: ds.parameter frozen @h.0.mask : tensor<1x1x4x4xf32> from "h.0.mask"
//   CHECK-DAG: ds.parameter frozen @other : tensor<1x1x4x4xf32> from "other"
//   CHECK-DAG: ds.parameter @w : tensor<1x1x4x4xf32> from "w"
//   CHECK-DAG: ds.parameter @w2 : tensor<1x1x4x4xf32> from "w2"
//   CHECK-NOT: @h.1.mask
//   CHECK-NOT: @h.2.mask
//       CHECK: func.func @forward
//  CHECK-NEXT:   ds.param_ref @h.0.mask
//  CHECK-NEXT:   ds.param_ref @h.0.mask
//  CHECK-NEXT:   ds.param_ref @h.0.mask
//  CHECK-NEXT:   ds.param_ref @other
//  CHECK-NEXT:   ds.param_ref @w
//  CHECK-NEXT:   ds.param_ref @w2
ds.parameter frozen @h.0.mask : tensor<1x1x4x4xf32> from "h.0.mask" {ds.content = "raw:ab:64"}
ds.parameter frozen @h.1.mask : tensor<1x1x4x4xf32> from "h.1.mask" {ds.content = "raw:ab:64"}
ds.parameter frozen @h.2.mask : tensor<1x1x4x4xf32> from "h.2.mask" {ds.content = "raw:ab:64"}
ds.parameter frozen @other : tensor<1x1x4x4xf32> from "other" {ds.content = "raw:cd:64"}
ds.parameter @w : tensor<1x1x4x4xf32> from "w" {ds.content = "raw:ab:64"}
ds.parameter @w2 : tensor<1x1x4x4xf32> from "w2" {ds.content = "raw:ab:64"}
func.func @forward() -> (tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) {
  %0 = ds.param_ref @h.0.mask : tensor<1x1x4x4xf32>
  %1 = ds.param_ref @h.1.mask : tensor<1x1x4x4xf32>
  %2 = ds.param_ref @h.2.mask : tensor<1x1x4x4xf32>
  %3 = ds.param_ref @other : tensor<1x1x4x4xf32>
  %4 = ds.param_ref @w : tensor<1x1x4x4xf32>
  %5 = ds.param_ref @w2 : tensor<1x1x4x4xf32>
  return %0, %1, %2, %3, %4, %5 : tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>
}

// -----

// Tests that the same key with another type or memory space is other data, and that a
// parameter without a key (not imported) is never merged.
// CHECK-LABEL: module
//   CHECK-DAG: ds.parameter frozen @a : tensor<4xf32>
//   CHECK-DAG: ds.parameter frozen @b : tensor<2x2xf32>
//   CHECK-DAG: ds.parameter frozen @c : tensor<4xf32> from "c" in host
//   CHECK-DAG: ds.parameter frozen @d : tensor<4xf32>
//   CHECK-DAG: ds.parameter frozen @e : tensor<4xf32>
ds.parameter frozen @a : tensor<4xf32> from "a" {ds.content = "raw:ab:16"}
ds.parameter frozen @b : tensor<2x2xf32> from "b" {ds.content = "raw:ab:16"}
ds.parameter frozen @c : tensor<4xf32> from "c" in host {ds.content = "raw:ab:16"}
ds.parameter frozen @d : tensor<4xf32> from "d"
ds.parameter frozen @e : tensor<4xf32> from "e"
