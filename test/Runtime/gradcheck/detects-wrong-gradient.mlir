// Tests that ds-gradcheck fails (non-zero exit, the offending elements named) on a plan whose
// gradient output is wrong, and reports a float input without a gradient output and bad usage.
// RUN: rm -rf %t && mkdir -p %t/data
// RUN: %python -c "import numpy as np; np.save('%t/data/x.npy', np.array([0.5, -1.0, 2.0])); np.save('%t/data/k.npy', np.array([1, 2, 3]))"
// RUN: ds-opt %s --ds-convert-to-runtime --ds-plan-memory | ds-translate --export-dsplan -o %t/wrong.dsplan
// RUN: not ds-gradcheck %t/wrong.dsplan --data %t/data | FileCheck %s --check-prefix=WRONG
// RUN: ds-opt %S/Inputs/nograd.mlir --ds-convert-to-runtime --ds-plan-memory | ds-translate --export-dsplan -o %t/nograd.dsplan
// RUN: not ds-gradcheck %t/nograd.dsplan --data %t/data 2>&1 | FileCheck %s --check-prefix=NOGRAD
// RUN: not ds-gradcheck %t/wrong.dsplan 2>&1 | FileCheck %s --check-prefix=USAGE
// RUN: not ds-gradcheck %t/wrong.dsplan --data %t/nowhere 2>&1 | FileCheck %s --check-prefix=NODATA

// loss = sum(x^3) with a "gradient" 3x instead of 3x^2: every element is off.
// WRONG: mismatch x[0]: analytic 1.5 numeric 0.7
// WRONG: mismatch x[1]: analytic -3 numeric 3
// WRONG: mismatch x[2]: analytic 6 numeric 12
// WRONG: input x f64[3]: 3 elements
// WRONG: gradcheck: FAIL (3 of 3 elements out of tolerance
func.func @wrong(%x: tensor<3xf64> {ds.input = "x"}, %k: tensor<3xi64> {ds.input = "k"})
    -> (tensor<f64> {ds.output = "loss"}, tensor<3xf64> {ds.output = "grad:x"})
    attributes {ds.loss = 0 : i64} {
  %three = ds.constant dense<3.0> : tensor<f64>
  %0 = ds.mul %x, %x : (tensor<3xf64>, tensor<3xf64>) -> tensor<3xf64>
  %1 = ds.mul %0, %x : (tensor<3xf64>, tensor<3xf64>) -> tensor<3xf64>
  %2 = ds.reduce_sum %1 {axes = array<i64>, keepdims = false} : (tensor<3xf64>) -> tensor<f64>
  %3 = ds.mul %x, %three : (tensor<3xf64>, tensor<f64>) -> tensor<3xf64>
  return %2, %3 : tensor<f64>, tensor<3xf64>
}

// NOGRAD: ds-gradcheck: {{.*}}nograd.dsplan: float input 'x' has no gradient output 'grad:x'
// USAGE: ds-gradcheck: --data DIR is required
// NODATA: ds-gradcheck: {{.*}}nowhere/x.npy
