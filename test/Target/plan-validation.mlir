// Tests that a plan failing the runtime's load-time checks (here a matmul whose operand
// shapes do not contract, which the dsrt verifier does not see) is rejected when it is
// exported, with the runtime's message, and that no plan file is written.
// RUN: rm -f %t.dsplan
// RUN: ds-opt --ds-plan-memory %s | not ds-translate --export-dsplan -o %t.dsplan 2>&1 | FileCheck %s
// RUN: not test -e %t.dsplan
// CHECK: error: the compiled plan fails the runtime's checks: program 'bad' instruction 0 (matmul
// CHECK-SAME: contraction dims differ

func.func @bad(%x: memref<4x8xf32> {ds.input = "x"}) -> (memref<4x4xf32> {ds.output = "y"})
    attributes {dsrt.role = #dsrt.role<inference>} {
  %y = dsrt.alloc : memref<4x4xf32>
  dsrt.kernel "matmul" ins(%x, %x : memref<4x8xf32>, memref<4x8xf32>) outs(%y : memref<4x4xf32>)
  return %y : memref<4x4xf32>
}
