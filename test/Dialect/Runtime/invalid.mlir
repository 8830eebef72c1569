// RUN: ds-opt %s -split-input-file -verify-diagnostics

// Tests that arena offsets are non-negative.
func.func @alloc_offset() {
  // expected-error @+1 {{offset must be non-negative, got -64}}
  %0 = dsrt.alloc {offset = -64 : i64} : memref<4xf32>
  return
}

// -----

// Tests that dsrt.param names a dsrt.global.
func.func @param_missing() {
  // expected-error @+1 {{'nothing' does not name a dsrt.global}}
  %0 = dsrt.param @nothing : memref<4xf32>
  return
}

// -----

// Tests that a global's buffer has the global's type.
dsrt.global trainable @w : memref<8xf32> shard of 16 from "w"
func.func @param_type() {
  // expected-error @+1 {{type 'memref<4x4xf32>' does not match the global's 'memref<8xf32>'}}
  %0 = dsrt.param @w : memref<4x4xf32>
  return
}

// -----

// Tests that kernels run on a known stream.
func.func @kernel_stream(%x: memref<4xf32>) {
  // expected-error @+1 {{expected ::mlir::dsrt::Stream to be one of: compute, comm, copy, io, host}}
  dsrt.kernel "neg" ins(%x : memref<4xf32>) outs(%x : memref<4xf32>) on gpu0
  // expected-error @+1 {{failed to parse Runtime_StreamAttr}}
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

// -----

// Tests that only a parameter (a global with an initializer) is trainable.
// expected-error @+1 {{only a parameter (with an initializer, `from`) can be trainable or sharded}}
dsrt.global trainable @m : memref<4xf32>

// -----

// Tests that a shard is not larger than the tensor it is a shard of.
// expected-error @+1 {{a shard of 4 elements cannot hold 8 elements}}
dsrt.global trainable @w : memref<8xf32> shard of 4 from "w"

// -----

// Tests that a global's region offset is non-negative.
// expected-error @+1 {{offset must be non-negative, got -8}}
dsrt.global @m : memref<4xf32> in host {offset = -8 : i64}

// -----

// Tests that a global's memory space is device, host or nvme.
module {
// expected-error @+1 {{expected ::mlir::dsrt::MemorySpace to be one of: device, host, nvme}}
dsrt.global @m : memref<4xf32> in disk
// expected-error @+1 {{failed to parse Runtime_MemorySpaceAttr}}
}

// -----

// Tests that a program's role is one ds-run knows.
// expected-error @+2 {{expected ::mlir::dsrt::ProgramRole to be one of: inference, micro_step, apply_step, init}}
// expected-error @+1 {{failed to parse Runtime_ProgramRoleAttr}}
func.func @role_unknown() attributes {dsrt.role = #dsrt.role<eval>} {
  return
}

// -----

// Tests that dsrt.role is typed: a string is not a role.
// expected-error @+1 {{'dsrt.role' must be a #dsrt.role on a func.func}}
func.func @role_string() attributes {dsrt.role = "micro_step"} {
  return
}

// -----

// Tests that dsrt.loss_scale names a dsrt.global.
// expected-error @+1 {{'dsrt.loss_scale' = @nothing does not name a dsrt.global}}
module attributes {dsrt.loss_scale = @nothing} {
}

// -----

// Tests that the region sizes of memory planning are non-negative integers.
// expected-error @+1 {{'dsrt.host_bytes' must be a non-negative integer on a module}}
module attributes {dsrt.host_bytes = -1 : i64} {
}

// -----

// Tests that a kernel unknown to the kernel catalogue is rejected.
func.func @kernel_unknown(%x: memref<4xf32>) {
  // expected-error @+1 {{unknown kernel 'frobnicate': not in the kernel catalogue}}
  dsrt.kernel "frobnicate" ins(%x : memref<4xf32>) outs(%x : memref<4xf32>)
  return
}

// -----

// Tests that a kernel's operand count follows its catalogue roles.
func.func @kernel_arity(%x: memref<4xf32>) {
  // expected-error @+1 {{kernel 'add' takes 2 inputs, got 1}}
  dsrt.kernel "add" ins(%x : memref<4xf32>) outs(%x : memref<4xf32>)
  return
}

// -----

// Tests that an attribute of the wrong kind is rejected.
func.func @kernel_attr_kind(%x: memref<4x4xf32>, %y: memref<4x4xf32>) {
  // expected-error @+1 {{attribute 'perm' of kernel 'transpose' must be}}
  dsrt.kernel "transpose" ins(%x : memref<4x4xf32>) outs(%y : memref<4x4xf32>) {attrs = {perm = 1.5 : f64}}
  return
}

// -----

// Tests that an attribute the kernel does not take is rejected.
func.func @kernel_attr_unknown(%x: memref<4xf32>) {
  // expected-error @+1 {{kernel 'neg' takes no attribute 'alpha'}}
  dsrt.kernel "neg" ins(%x : memref<4xf32>) outs(%x : memref<4xf32>) {attrs = {alpha = 1.0 : f64}}
  return
}

// -----

// Tests that an enumerated attribute takes one of its spellings.
func.func @kernel_attr_value(%x: memref<4xf32>) {
  // expected-error @+1 {{attribute 'approximate' of kernel 'gelu' must be one of none|tanh, got 'erf'}}
  dsrt.kernel "gelu" ins(%x : memref<4xf32>) outs(%x : memref<4xf32>) {attrs = {approximate = "erf"}}
  return
}

// -----

// Tests that a required attribute must be present.
func.func @kernel_attr_required(%x: memref<4xf32>) {
  // expected-error @+1 {{kernel 'fill' needs attribute 'value'}}
  dsrt.kernel "fill" outs(%x : memref<4xf32>)
  return
}

// -----

// Tests that collectives run on the comm stream.
func.func @kernel_collective_stream(%x: memref<4xf32>) {
  // expected-error @+1 {{kernel 'all_reduce' cannot run on the 'compute' stream: collectives run on 'comm'}}
  dsrt.kernel "all_reduce" ins(%x : memref<4xf32>) outs(%x : memref<4xf32>) {attrs = {reduction = "sum"}}
  return
}

// -----

// Tests that only collectives run on the comm stream.
func.func @kernel_comm_stream(%x: memref<4xf32>) {
  // expected-error @+1 {{kernel 'neg' cannot run on the 'comm' stream: only collectives run on 'comm'}}
  dsrt.kernel "neg" ins(%x : memref<4xf32>) outs(%x : memref<4xf32>) on comm
  return
}

// -----

// Tests that a span's globals are declared one after another.
dsrt.global @a : memref<16xf32>
dsrt.global @b : memref<16xf32>
dsrt.global @c : memref<16xf32>
func.func @span_order() {
  // expected-error @+1 {{@c is not declared right after @a}}
  %0 = dsrt.span [@a, @c] : memref<32xf32>
  return
}

// -----

// Tests that a span holds its globals' elements, no more and no fewer.
dsrt.global @a : memref<16xf32>
dsrt.global @b : memref<4x4xf32>
func.func @span_count() {
  // expected-error @+1 {{the globals hold 32 elements, the buffer 30}}
  %0 = dsrt.span [@a, @b] : memref<30xf32>
  return
}

// -----

// Tests that a span's globals share its element type.
dsrt.global @a : memref<16xf32>
dsrt.global @b : memref<16xf64>
func.func @span_dtype() {
  // expected-error @+1 {{@b holds 'f64', not 'f32'}}
  %0 = dsrt.span [@a, @b] : memref<32xf32>
  return
}

// -----

// Tests that a span's globals share a memory space.
dsrt.global @a : memref<16xf32>
dsrt.global @b : memref<16xf32> in host
func.func @span_space() {
  // expected-error @+1 {{@b is in another memory space than @a}}
  %0 = dsrt.span [@a, @b] : memref<32xf32>
  return
}

// -----

// Tests that a span covers at least two globals, as a flat buffer.
dsrt.global @a : memref<16xf32>
func.func @span_one() {
  // expected-error @+1 {{needs at least two globals}}
  %0 = dsrt.span [@a] : memref<16xf32>
  return
}
