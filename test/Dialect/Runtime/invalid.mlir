// RUN: ds-opt %s -split-input-file -verify-diagnostics

// Tests that arena offsets are non-negative.
func.func @alloc_offset() {
  // expected-error @+1 {{offset must be non-negative, got -64}}
  %0 = dsrt.alloc {offset = -64 : i64} : memref<4xf32>
  return
}

// -----

// Tests that dsrt.param names a parameter or state.
func.func @param_missing() {
  // expected-error @+1 {{'nothing' does not name a ds.parameter or ds.state}}
  %0 = dsrt.param @nothing : memref<4xf32>
  return
}

// -----

// Tests that a parameter's buffer has its storage type.
ds.parameter @w : tensor<4x4xf32> sharded 8 from "w"
func.func @param_type() {
  // expected-error @+1 {{type 'memref<4x4xf32>' does not match the parameter's 'tensor<8xf32>'}}
  %0 = dsrt.param @w : memref<4x4xf32>
  return
}

// -----

// Tests that kernels run on a known stream.
func.func @kernel_stream(%x: memref<4xf32>) {
  // expected-error @+1 {{unknown stream 'gpu0'}}
  dsrt.kernel "neg" ins(%x : memref<4xf32>) outs(%x : memref<4xf32>) {stream = "gpu0"}
  return
}

// -----

// Tests that kernels write at least one buffer.
func.func @kernel_outputs(%x: memref<4xf32>) {
  // expected-error @+1 {{needs at least one output buffer}}
  "dsrt.kernel"(%x) <{kernel = "barrier", operandSegmentSizes = array<i32: 1, 0>}> : (memref<4xf32>) -> ()
  return
}

// -----

// Tests that a view keeps the element type and count.
func.func @view_count(%x: memref<4x4xf32>) {
  // expected-error @+1 {{cannot view 'memref<4x4xf32>' as 'memref<15xf32>'}}
  %0 = dsrt.view %x : memref<4x4xf32> to memref<15xf32>
  return
}
