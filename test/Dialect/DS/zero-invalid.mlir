// RUN: ds-opt %s --split-input-file --ds-zero="stage=1 world-size=2" --verify-diagnostics
// RUN: not ds-opt %s --split-input-file --ds-zero="stage=4" 2>&1 | FileCheck %s --check-prefix=STAGE
// RUN: not ds-opt %s --split-input-file --ds-zero="world-size=0" 2>&1 | FileCheck %s --check-prefix=WORLD

// STAGE: ZeRO stage must be 0, 1, 2 or 3, got 4
// WORLD: world size must be at least 1, got 0

// Tests that partitioning needs the programs of --ds-build-train-step.
// expected-error @+1 {{--ds-zero needs the micro_step and apply_step programs of --ds-build-train-step}}
module {
func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
}

// -----

// Tests that a micro-step alone is not enough: the optimizer step must be there too.
// expected-error @+1 {{--ds-zero needs the micro_step and apply_step programs of --ds-build-train-step}}
module {
func.func @micro_step(%x: tensor<4xf32>) -> tensor<4xf32> attributes {dsrt.role = #dsrt.role<micro_step>} {
  return %x : tensor<4xf32>
}
}

// -----

// Tests that programs are found by their typed role, not by their name or a string.
// expected-error @+1 {{--ds-zero needs the micro_step and apply_step programs of --ds-build-train-step}}
module {
func.func @micro_step() attributes {dsrt.role = #dsrt.role<micro_step>} {
  return
}
func.func @apply_step() attributes {dsrt.role = #dsrt.role<init>} {
  return
}
}
