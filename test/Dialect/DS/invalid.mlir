// RUN: ds-opt %s -split-input-file -verify-diagnostics

// Tests that binary operands must have one element type.
func.func @add_element_types(%a: tensor<4xf32>, %b: tensor<4xf16>) {
  // expected-error @+2 {{operand element types differ: 'f32' vs 'f16'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.add %a, %b : (tensor<4xf32>, tensor<4xf16>) -> tensor<4xf32>
  return
}

// -----

// Tests that binary operands must broadcast.
func.func @mul_broadcast(%a: tensor<2x3xf32>, %b: tensor<4x3xf32>) {
  // expected-error @+2 {{operands are not broadcast-compatible: 2x3 vs 4x3}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.mul %a, %b : (tensor<2x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

// Tests that a binary result type must match the broadcast shape.
func.func @sub_result(%a: tensor<4x1xf32>, %b: tensor<8xf32>) {
  // expected-error @+2 {{inferred type(s) 'tensor<4x8xf32>' are incompatible with return type(s) of operation 'tensor<4x9xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.sub %a, %b : (tensor<4x1xf32>, tensor<8xf32>) -> tensor<4x9xf32>
  return
}

// -----

// Tests that comparisons produce i1.
func.func @less_result(%a: tensor<4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{result #0 must be ranked tensor of 1-bit signless integer values}}
  %0 = ds.less %a, %b : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

// Tests that compared operands must have one element type.
func.func @equal_types(%a: tensor<4xi64>, %b: tensor<4xi32>) {
  // expected-error @+2 {{operand element types differ: 'i64' vs 'i32'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.equal %a, %b : (tensor<4xi64>, tensor<4xi32>) -> tensor<4xi1>
  return
}

// -----

// Tests that where broadcasts all three operands.
func.func @where_broadcast(%c: tensor<3xi1>, %x: tensor<4xf32>, %y: tensor<4xf32>) {
  // expected-error @+2 {{operands are not broadcast-compatible: 3 vs 4 vs 4}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.where %c, %x, %y : (tensor<3xi1>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

// Tests that where's branches must have one element type.
func.func @where_types(%c: tensor<4xi1>, %x: tensor<4xf32>, %y: tensor<4xf64>) {
  // expected-error @+2 {{operand element types differ: 'f32' vs 'f64'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.where %c, %x, %y : (tensor<4xi1>, tensor<4xf32>, tensor<4xf64>) -> tensor<4xf32>
  return
}

// -----

// Tests that float-only unary ops reject integers.
func.func @sqrt_int(%x: tensor<4xi64>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit float or 64-bit float or 16-bit float or bfloat16 type values}}
  %0 = ds.sqrt %x : tensor<4xi64>
  return
}

// -----

// Tests that gelu's approximation is none or tanh.
func.func @gelu_approximate(%x: tensor<4xf32>) {
  // expected-error @+2 {{expected ::mlir::ds::GeluApproximation to be one of: none, tanh}}
  // expected-error @+1 {{failed to parse DS_GeluApproximationAttr}}
  %0 = ds.gelu %x approximate = fast : tensor<4xf32>
  return
}

// -----

// Tests that cast keeps the shape.
func.func @cast_shape(%x: tensor<4xf32>) {
  // expected-error @+1 {{requires the same shape for all operands and results}}
  %0 = ds.cast %x : tensor<4xf32> to tensor<5xf16>
  return
}

// -----

// Tests that matmul contracting dims must agree.
func.func @matmul_k(%a: tensor<4x8xf32>, %b: tensor<7x16xf32>) {
  // expected-error @+2 {{contracting dims differ: 4x8 times 7x16}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.matmul %a, %b : (tensor<4x8xf32>, tensor<7x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

// Tests that matmul batch dims must broadcast.
func.func @matmul_batch(%a: tensor<2x4x8xf32>, %b: tensor<3x8x16xf32>) {
  // expected-error @+2 {{batch dims are not broadcast-compatible: 2x4x8 vs 3x8x16}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.matmul %a, %b : (tensor<2x4x8xf32>, tensor<3x8x16xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

// Tests that matmul rejects scalars.
func.func @matmul_scalar(%a: tensor<f32>, %b: tensor<8xf32>) {
  // expected-error @+2 {{matmul operands must have rank >= 1}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.matmul %a, %b : (tensor<f32>, tensor<8xf32>) -> tensor<f32>
  return
}

// -----

// Tests that matmul operands must have one element type.
func.func @matmul_types(%a: tensor<4x8xf32>, %b: tensor<8x16xbf16>) {
  // expected-error @+2 {{operand element types differ: 'f32' vs 'bf16'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.matmul %a, %b : (tensor<4x8xf32>, tensor<8x16xbf16>) -> tensor<4x16xf32>
  return
}

// -----

// Tests that gemm needs 2-D operands.
func.func @gemm_rank(%a: tensor<2x4x8xf32>, %b: tensor<8x16xf32>) {
  // expected-error @+2 {{gemm operands a and b must be 2-D, got 2x4x8 and 8x16}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.gemm %a, %b : (tensor<2x4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

// Tests that gemm contracting dims respect the transposes.
func.func @gemm_k(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>) {
  // expected-error @+2 {{contracting dims differ: 8 vs 16}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.gemm %a, %b {trans_b} : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x8xf32>
  return
}

// -----

// Tests that gemm's c must broadcast to [M, N].
func.func @gemm_c(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>, %c: tensor<8xf32>) {
  // expected-error @+2 {{c of shape 8 does not broadcast to 4x16}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.gemm %a, %b, %c : (tensor<4x8xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<4x16xf32>
  return
}

// -----

// Tests that softmax's axis must be in range.
func.func @softmax_axis(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{'ds.softmax' op axis 2 is out of range for rank 2}}
  %0 = ds.softmax %x {axis = 2 : i64} : tensor<4x8xf32>
  return
}

// -----

// Tests that log_softmax's axis must be in range.
func.func @log_softmax_axis(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{'ds.log_softmax' op axis -1 is out of range for rank 2}}
  %0 = ds.log_softmax %x {axis = -1 : i64} : tensor<4x8xf32>
  return
}

// -----

// Tests that layer_norm's axis must be in range.
func.func @layer_norm_axis(%x: tensor<4x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{'ds.layer_norm' op axis 3 is out of range for rank 2}}
  %0 = ds.layer_norm %x, %g {axis = 3 : i64} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return
}

// -----

// Tests that layer_norm's scale must broadcast to the normalized dims.
func.func @layer_norm_scale(%x: tensor<4x8xf32>, %g: tensor<4xf32>) {
  // expected-error @+1 {{scale/bias of shape 4 does not broadcast to the normalized shape 8}}
  %0 = ds.layer_norm %x, %g {axis = 1 : i64} : (tensor<4x8xf32>, tensor<4xf32>) -> tensor<4x8xf32>
  return
}

// -----

// Tests that layer_norm's scale and bias share the input's element type.
func.func @layer_norm_types(%x: tensor<4x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf16>) {
  // expected-error @+1 {{scale and bias must have element type 'f32', got 'f16'}}
  %0 = ds.layer_norm %x, %g, %b {axis = 1 : i64} : (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf16>) -> tensor<4x8xf32>
  return
}

// -----

// Tests that layer_norm keeps the input type.
func.func @layer_norm_result(%x: tensor<4x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{result type 'tensor<4x8xf16>' must equal the input type 'tensor<4x8xf32>'}}
  %0 = ds.layer_norm %x, %g {axis = 1 : i64} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf16>
  return
}

// -----

// Tests that reshape keeps the element count.
func.func @reshape_count(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{cannot reshape 4x8 (32 elements) to 5x6 (30 elements)}}
  %0 = ds.reshape %x : tensor<4x8xf32> to tensor<5x6xf32>
  return
}

// -----

// Tests that reshape keeps the element type.
func.func @reshape_type(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{element type changes from 'f32' to 'f16'}}
  %0 = ds.reshape %x : tensor<4x8xf32> to tensor<32xf16>
  return
}

// -----

// Tests that transpose needs one perm entry per dim.
func.func @transpose_size(%x: tensor<4x8xf32>) {
  // expected-error @+2 {{perm has 3 entries for rank 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.transpose %x {perm = array<i64: 0, 1, 2>} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

// Tests that transpose's perm is a permutation.
func.func @transpose_repeat(%x: tensor<4x8xf32>) {
  // expected-error @+2 {{perm axis 0 is repeated}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.transpose %x {perm = array<i64: 0, 0>} : (tensor<4x8xf32>) -> tensor<4x4xf32>
  return
}

// -----

// Tests that gather's axis must be in range.
func.func @gather_axis(%x: tensor<4x8xf32>, %i: tensor<2xi64>) {
  // expected-error @+2 {{axis 2 is out of range for rank 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.gather %x, %i {axis = 2 : i64} : (tensor<4x8xf32>, tensor<2xi64>) -> tensor<4x2xf32>
  return
}

// -----

// Tests that gather's indices are integers.
func.func @gather_indices(%x: tensor<4x8xf32>, %i: tensor<2xf32>) {
  // expected-error @+1 {{operand #1 must be ranked tensor of 64-bit signless integer or 32-bit signless integer values}}
  %0 = ds.gather %x, %i : (tensor<4x8xf32>, tensor<2xf32>) -> tensor<2x8xf32>
  return
}

// -----

// Tests that slice needs one start, end and step per dim.
func.func @slice_count(%x: tensor<4x8xf32>) {
  // expected-error @+2 {{starts, ends and steps need one entry per dim (2), got 1, 2, 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.slice %x {starts = array<i64: 0>, ends = array<i64: 4, 8>, steps = array<i64: 1, 1>} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

// Tests that slice steps are non-zero.
func.func @slice_step(%x: tensor<4x8xf32>) {
  // expected-error @+2 {{step of dim 1 is zero}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.slice %x {starts = array<i64: 0, 0>, ends = array<i64: 4, 8>, steps = array<i64: 1, 0>} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

// Tests that slice bounds are clamped to the dims.
func.func @slice_bounds(%x: tensor<4x8xf32>) {
  // expected-error @+2 {{dim 1: start 0, end 9, step 1 are not clamped to the dim size 8}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.slice %x {starts = array<i64: 0, 0>, ends = array<i64: 4, 9>, steps = array<i64: 1, 1>} : (tensor<4x8xf32>) -> tensor<4x9xf32>
  return
}

// -----

// Tests that split sizes add up to the dim.
func.func @split_sizes(%x: tensor<4x8xf32>) {
  // expected-error @+2 {{split sizes add up to 7, but dim 1 has size 8}}
  // expected-error @+1 {{failed to infer returned types}}
  %0:2 = ds.split %x {axis = 1 : i64, sizes = array<i64: 3, 4>} : (tensor<4x8xf32>) -> (tensor<4x3xf32>, tensor<4x4xf32>)
  return
}

// -----

// Tests that split sizes are non-negative.
func.func @split_negative(%x: tensor<4x8xf32>) {
  // expected-error @+2 {{split size -1 is negative}}
  // expected-error @+1 {{failed to infer returned types}}
  %0:2 = ds.split %x {axis = 1 : i64, sizes = array<i64: 9, -1>} : (tensor<4x8xf32>) -> (tensor<4x9xf32>, tensor<4x1xf32>)
  return
}

// -----

// Tests that split's axis must be in range.
func.func @split_axis(%x: tensor<4x8xf32>) {
  // expected-error @+2 {{axis 2 is out of range for rank 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.split %x {axis = 2 : i64, sizes = array<i64: 8>} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

// Tests that concat inputs agree outside the axis.
func.func @concat_dims(%a: tensor<2x8xf32>, %b: tensor<3x7xf32>) {
  // expected-error @+2 {{inputs differ outside the concat axis: 2x8 vs 3x7}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.concat %a, %b {axis = 0 : i64} : (tensor<2x8xf32>, tensor<3x7xf32>) -> tensor<5x8xf32>
  return
}

// -----

// Tests that concat inputs share a rank.
func.func @concat_rank(%a: tensor<2x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+2 {{inputs differ in rank: 2x8 vs 8}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.concat %a, %b {axis = 0 : i64} : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<3x8xf32>
  return
}

// -----

// Tests that concat needs an input.
func.func @concat_empty() {
  // expected-error @+2 {{concat needs at least one input}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.concat {axis = 0 : i64} : () -> tensor<3x8xf32>
  return
}

// -----

// Tests that ds.copy_in (lower a concat to copies as its operands complete) is a unit
// attribute on a ds.concat only.
func.func @copy_in_not_concat(%a: tensor<8xf32>) {
  // expected-error @+1 {{'ds.copy_in' must be a unit attribute on a ds.concat}}
  %0 = ds.relu %a {ds.copy_in} : tensor<8xf32>
  return
}

// -----

func.func @copy_in_not_unit(%a: tensor<8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'ds.copy_in' must be a unit attribute on a ds.concat}}
  %0 = ds.concat %a, %b {axis = 0 : i64, ds.copy_in = 1 : i64} : (tensor<8xf32>, tensor<8xf32>) -> tensor<16xf32>
  return
}

// -----

// Tests that squeeze only removes size-1 dims.
func.func @squeeze_dim(%x: tensor<4x8xf32>) {
  // expected-error @+2 {{cannot squeeze dim 1 of size 8}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.squeeze %x {axes = array<i64: 1>} : (tensor<4x8xf32>) -> tensor<4xf32>
  return
}

// -----

// Tests that squeeze axes must be in range.
func.func @squeeze_axis(%x: tensor<4x1xf32>) {
  // expected-error @+2 {{squeeze axis 2 is out of range for rank 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.squeeze %x {axes = array<i64: 2>} : (tensor<4x1xf32>) -> tensor<4xf32>
  return
}

// -----

// Tests that unsqueeze axes are unique.
func.func @unsqueeze_repeat(%x: tensor<4xf32>) {
  // expected-error @+2 {{unsqueeze axis 0 is repeated}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.unsqueeze %x {axes = array<i64: 0, 0>} : (tensor<4xf32>) -> tensor<1x1x4xf32>
  return
}

// -----

// Tests that expand targets a broadcast of the input.
func.func @expand_shape(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{cannot expand 2x8 to 4x8}}
  %0 = ds.expand %x : tensor<2x8xf32> to tensor<4x8xf32>
  return
}

// -----

// Tests that expand keeps the element type.
func.func @expand_type(%x: tensor<1x8xf32>) {
  // expected-error @+1 {{element type changes from 'f32' to 'f64'}}
  %0 = ds.expand %x : tensor<1x8xf32> to tensor<4x8xf64>
  return
}

// -----

// Tests that trilu needs a matrix.
func.func @trilu_rank(%x: tensor<8xf32>) {
  // expected-error @+1 {{input must have rank >= 2, got 1}}
  %0 = ds.trilu %x {upper = true} : tensor<8xf32>
  return
}

// -----

// Tests that reduction axes must be in range.
func.func @reduce_axis(%x: tensor<4x8xf32>) {
  // expected-error @+2 {{reduction axis 2 is out of range for rank 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.reduce_sum %x {axes = array<i64: 2>} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

// Tests that reduction axes are unique.
func.func @reduce_repeat(%x: tensor<4x8xf32>) {
  // expected-error @+2 {{reduction axis 1 is repeated}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.reduce_mean %x {axes = array<i64: 1, 1>} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  return
}

// -----

// Tests that reduction results follow keepdims.
func.func @reduce_keepdims(%x: tensor<4x8xf32>) {
  // expected-error @+2 {{inferred type(s) 'tensor<4x1xf32>' are incompatible with return type(s) of operation 'tensor<4xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.reduce_max %x {axes = array<i64: 1>} : (tensor<4x8xf32>) -> tensor<4xf32>
  return
}

// -----

// Tests that the dropout ratio is a probability below 1.
func.func @dropout_ratio(%x: tensor<4xf32>) {
  // expected-error @+1 {{ratio must be in [0, 1), got 1}}
  %0:2 = ds.dropout %x {ratio = 1.0 : f32} : (tensor<4xf32>) -> (tensor<4xf32>, tensor<4xi1>)
  return
}

// -----

// Tests that loss labels match the scores' batch dims.
func.func @loss_labels(%s: tensor<4x8xf32>, %y: tensor<5xi64>) {
  // expected-error @+2 {{labels of shape 5 do not match scores of shape 4x8 (expected 4)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.softmax_cross_entropy_loss %s, %y : (tensor<4x8xf32>, tensor<5xi64>) -> tensor<f32>
  return
}

// -----

// Tests that loss scores have a class dim.
func.func @loss_rank(%s: tensor<4xf32>, %y: tensor<4xi64>) {
  // expected-error @+2 {{scores must be [N, C, d...], got 4}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.nll_loss %s, %y : (tensor<4xf32>, tensor<4xi64>) -> tensor<f32>
  return
}

// -----

// Tests that class weights have one entry per class.
func.func @loss_weights(%s: tensor<4x8xf32>, %y: tensor<4xi64>, %w: tensor<7xf32>) {
  // expected-error @+2 {{weights must be a [8] tensor of 'f32', got 'tensor<7xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = ds.nll_loss %s, %y, %w : (tensor<4x8xf32>, tensor<4xi64>, tensor<7xf32>) -> tensor<f32>
  return
}

// -----

// Tests that the loss reduction is one of the three ONNX modes.
func.func @loss_reduction(%s: tensor<4x8xf32>, %y: tensor<4xi64>) {
  // expected-error @+2 {{expected ::mlir::ds::LossReduction to be one of: mean, sum, none}}
  // expected-error @+1 {{failed to parse DS_LossReductionAttr}}
  %0 = ds.softmax_cross_entropy_loss %s, %y reduction = max : (tensor<4x8xf32>, tensor<4xi64>) -> tensor<f32>
  return
}

// -----

// Tests that a constant's result type is its value's type.
func.func @constant_type() {
  // expected-error @+2 {{inferred type(s) 'tensor<2xi64>' are incompatible with return type(s) of operation 'tensor<2xi32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = "ds.constant"() <{value = dense<[1, 2]> : tensor<2xi64>}> : () -> tensor<2xi32>
  return
}

// -----

// Tests that param_ref names a parameter.
func.func @param_missing() {
  // expected-error @+1 {{'missing' does not name a ds.parameter}}
  %0 = ds.param_ref @missing : tensor<4xf32>
  return
}

// -----

// Tests that param_ref has the parameter's type.
ds.parameter @w : tensor<4xf32> from "w"
func.func @param_type() {
  // expected-error @+1 {{type 'tensor<5xf32>' differs from the parameter's 'tensor<4xf32>'}}
  %0 = ds.param_ref @w : tensor<5xf32>
  return
}

// -----

// Tests that parameters are float tensors.
// expected-error @+1 {{attribute 'type' failed to satisfy constraint: type attribute of ranked tensor of 32-bit float or 64-bit float or 16-bit float or bfloat16 type values}}
ds.parameter @ids : tensor<4xi64> from "ids"

// -----

// Tests that ds.model_file is a string on a module.
// expected-error @+1 {{'ds.model_file' must be a string}}
module attributes {ds.model_file = 3 : i64} {
}

// -----

// Tests that ds.loss names a result.
// expected-error @+1 {{'ds.loss' = 1 is not a result index of @f}}
func.func @f(%x: tensor<f32>) -> tensor<f32> attributes {ds.loss = 1 : i64} {
  return %x : tensor<f32>
}

// -----

// Tests that the loss result is a float scalar.
// expected-error @+1 {{loss result 0 of @g must be a float scalar tensor, got 'tensor<4xf32>'}}
func.func @g(%x: tensor<4xf32>) -> tensor<4xf32> attributes {ds.loss = 0 : i64} {
  return %x : tensor<4xf32>
}

// -----

// Tests that unknown ds attributes are rejected.
// expected-error @+1 {{unknown ds attribute 'ds.bogus'}}
func.func @h() attributes {ds.bogus = 1 : i64} {
  return
}

// -----

// Tests that softmax_grad's axis must be in range.
func.func @softmax_grad_axis(%g: tensor<4x8xf32>) {
  // expected-error @+1 {{'ds.softmax_grad' op axis 2 is out of range for rank 2}}
  %0 = ds.softmax_grad %g, %g {axis = 2 : i64} : tensor<4x8xf32>
  return
}

// -----

// Tests that log_softmax_grad's axis must be in range.
func.func @log_softmax_grad_axis(%g: tensor<4x8xf32>) {
  // expected-error @+1 {{'ds.log_softmax_grad' op axis -1 is out of range for rank 2}}
  %0 = ds.log_softmax_grad %g, %g {axis = -1 : i64} : tensor<4x8xf32>
  return
}

// -----

// Tests that layer_norm_grad's scale has the normalized shape.
func.func @layer_norm_grad_scale(%g: tensor<4x8xf32>, %s: tensor<4xf32>) {
  // expected-error @+1 {{scale and its gradients must be 'tensor<8xf32>', got 'tensor<4xf32>'}}
  %0:3 = ds.layer_norm_grad %g, %g, %s {axis = 1 : i64} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> (tensor<4x8xf32>, tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

// Tests that layer_norm_grad's axis must be in range.
func.func @layer_norm_grad_axis(%g: tensor<4x8xf32>, %s: tensor<8xf32>) {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0:3 = ds.layer_norm_grad %g, %g, %s {axis = 2 : i64} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

// Tests that gather_grad's gradient is shaped like the gather it undoes.
func.func @gather_grad_shape(%g: tensor<3x8xf32>, %i: tensor<4xi64>) {
  // expected-error @+1 {{grad 'tensor<3x8xf32>' is not the gather result of 'tensor<16x8xf32>' at 'tensor<4xi64>'}}
  %0 = ds.gather_grad %g, %i {axis = 0 : i64} : (tensor<3x8xf32>, tensor<4xi64>) -> tensor<16x8xf32>
  return
}

// -----

// Tests that slice_grad's gradient is shaped like the slice it undoes.
func.func @slice_grad_shape(%g: tensor<4x3xf32>) {
  // expected-error @+1 {{grad 'tensor<4x3xf32>' is not the slice of 'tensor<4x8xf32>'}}
  %0 = ds.slice_grad %g {starts = array<i64: 0, 0>, ends = array<i64: 4, 8>, steps = array<i64: 1, 2>} : (tensor<4x3xf32>) -> tensor<4x8xf32>
  return
}

// -----

// Tests that slice_grad needs non-zero steps.
func.func @slice_grad_step(%g: tensor<4x4xf32>) {
  // expected-error @+1 {{step of dim 1 is zero}}
  %0 = ds.slice_grad %g {starts = array<i64: 0, 0>, ends = array<i64: 4, 8>, steps = array<i64: 1, 0>} : (tensor<4x4xf32>) -> tensor<4x8xf32>
  return
}

// -----

// Tests that a loss gradient for a mean loss takes a scalar.
func.func @loss_grad_reduction(%g: tensor<4xf32>, %s: tensor<4x8xf32>, %y: tensor<4xi64>) {
  // expected-error @+1 {{grad 'tensor<4xf32>' does not match reduction "mean"}}
  %0 = ds.softmax_cross_entropy_loss_grad %g, %s, %y : (tensor<4xf32>, tensor<4x8xf32>, tensor<4xi64>) -> tensor<4x8xf32>
  return
}

// -----

// Tests that a loss gradient has the scores' type.
func.func @loss_grad_result(%g: tensor<f32>, %s: tensor<4x8xf32>, %y: tensor<4xi64>) {
  // expected-error @+1 {{result must have the input type 'tensor<4x8xf32>'}}
  %0 = ds.nll_loss_grad %g, %s, %y : (tensor<f32>, tensor<4x8xf32>, tensor<4xi64>) -> tensor<4x4xf32>
  return
}

// -----

// Tests that state_ref names a ds.state.
ds.parameter @w : tensor<4xf32> from "w"
func.func @state_ref_param() {
  // expected-error @+1 {{'w' does not name a ds.state}}
  %0 = ds.state_ref @w : tensor<4xf32>
  return
}

// -----

// Tests that state_ref has the state's type.
ds.state exp_avg @m : tensor<4xf32>
func.func @state_ref_type() {
  // expected-error @+1 {{type 'tensor<5xf32>' differs from the state's 'tensor<4xf32>'}}
  %0 = ds.state_ref @m : tensor<5xf32>
  return
}

// -----

// Tests that assign targets a parameter or state.
func.func @assign_missing(%v: tensor<4xf32>) {
  // expected-error @+1 {{'nowhere' does not name a ds.parameter or ds.state}}
  ds.assign @nowhere, %v : tensor<4xf32>
  return
}

// -----

// Tests that assign writes the target's (storage) type: a sharded parameter takes its shard.
ds.parameter @w : tensor<3x3xf32> sharded 5 from "w"
func.func @assign_type(%v: tensor<3x3xf32>) {
  // expected-error @+1 {{value type 'tensor<3x3xf32>' differs from the target's 'tensor<5xf32>'}}
  ds.assign @w, %v : tensor<3x3xf32>
  return
}

// -----

// Tests that param_ref of a sharded parameter reads the shard.
ds.parameter @w : tensor<3x3xf32> sharded 5 from "w"
func.func @param_ref_shard() {
  // expected-error @+1 {{type 'tensor<3x3xf32>' differs from the parameter's shard type 'tensor<5xf32>'}}
  %0 = ds.param_ref @w : tensor<3x3xf32>
  return
}

// -----

// Tests that the scheduler is one DeepSpeed knows.
func.func @lr_schedule_kind(%k: tensor<i64>) {
  // expected-error @+2 {{expected ::mlir::ds::LrSchedule to be one of: constant, WarmupLR, WarmupDecayLR, WarmupCosineLR}}
  // expected-error @+1 {{failed to parse DS_LrScheduleAttr}}
  %0 = ds.lr_schedule OneCycle %k {lr = 1.0e-3 : f32} : tensor<f32>
  return
}

// -----

// Tests that the warmup type is log or linear.
func.func @lr_schedule_warmup(%k: tensor<i64>) {
  // expected-error @+1 {{warmup_type must be "log" or "linear", got "cubic"}}
  %0 = ds.lr_schedule WarmupLR %k {lr = 1.0e-3 : f32, warmup_type = "cubic"} : tensor<f32>
  return
}

// -----

// Tests that decaying schedules need their total step count.
func.func @lr_schedule_total(%k: tensor<i64>) {
  // expected-error @+1 {{WarmupDecayLR needs total_num_steps > 0}}
  %0 = ds.lr_schedule WarmupDecayLR %k {lr = 1.0e-3 : f32} : tensor<f32>
  return
}

// -----

// Tests that rank_slice takes a whole number of shards.
func.func @rank_slice_length(%x: tensor<10xf32>) {
  // expected-error @+1 {{input length 10 is not a multiple of the shard length 4}}
  %0 = ds.rank_slice %x : tensor<10xf32> to tensor<4xf32>
  return
}

// -----

// Tests that rank_slice works on 1-D tensors of one element type.
func.func @rank_slice_rank(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{input and result must be 1-D tensors of one element type}}
  %0 = ds.rank_slice %x : tensor<2x8xf32> to tensor<8xf32>
  return
}

// -----

// Tests that the loss scaler keeps three counters.
func.func @loss_scale_counters(%ok: tensor<f32>, %c: tensor<2xi64>) {
  // expected-error @+1 {{counters must be tensor<3xi64>}}
  %0:2 = ds.loss_scale_update %ok, %ok, %c {dynamic = true, scale_factor = 2.0 : f32, scale_window = 1000 : i64, hysteresis = 2 : i64, consecutive_hysteresis = false, min_scale = 1.0 : f32, zero = false} : tensor<2xi64>
  return
}

// -----

// Tests that the loss scaler's parameters are sane.
func.func @loss_scale_params(%ok: tensor<f32>, %c: tensor<3xi64>) {
  // expected-error @+1 {{needs scale_window >= 1, hysteresis >= 1, scale_factor > 1 and min_scale > 0}}
  %0:2 = ds.loss_scale_update %ok, %ok, %c {dynamic = true, scale_factor = 1.0 : f32, scale_window = 1000 : i64, hysteresis = 2 : i64, consecutive_hysteresis = false, min_scale = 1.0 : f32, zero = false} : tensor<3xi64>
  return
}

// -----

// Tests that ds.gradient_accumulation_steps is a positive integer on a module.
// expected-error @+1 {{'ds.gradient_accumulation_steps' must be a positive integer on a module}}
module attributes {ds.gradient_accumulation_steps = 0 : i64} {
}

// -----

// Tests that a state's kind is one the compiler knows.
// expected-error @+2 {{expected ::mlir::ds::StateKind to be one of: grad, master, exp_avg, exp_avg_sq, momentum_buffer, step, loss_scale, loss_scale_counters}}
// expected-error @+1 {{failed to parse DS_StateKindAttr}}
ds.state velocity @w.velocity : tensor<4xf32>

// -----

// Tests that a state's memory space is device, host or nvme.
module {
// expected-error @+1 {{expected ::mlir::ds::MemorySpace to be one of: device, host, nvme}}
ds.state grad @w.grad : tensor<4xf32> in disk
// expected-error @+1 {{failed to parse DS_MemorySpaceAttr}}
}

// -----

// Tests that a parameter's memory space is device, host or nvme.
module {
// expected-error @+1 {{expected ::mlir::ds::MemorySpace to be one of: device, host, nvme}}
ds.parameter @w : tensor<4xf32> from "w" in gpu
// expected-error @+1 {{failed to parse DS_MemorySpaceAttr}}
}

// -----

// Tests that the gradient norm needs at least one gradient.
func.func @grad_norm_sq_empty() {
  // expected-error @+1 {{'ds.grad_norm_sq' op needs at least one gradient}}
  %0 = "ds.grad_norm_sq"() : () -> tensor<f32>
  return
}

// -----

// Tests that the gradient norm is an f32 scalar.
func.func @grad_norm_sq_type(%g: tensor<4xf32>) {
  // expected-error @+1 {{'ds.grad_norm_sq' op result #0 must be 0D tensor of 32-bit float values}}
  %0 = "ds.grad_norm_sq"(%g) : (tensor<4xf32>) -> tensor<f64>
  return
}

// -----

// Tests that the gradient norm takes float gradients.
func.func @grad_norm_sq_int(%g: tensor<4xi64>) {
  // expected-error @+1 {{'ds.grad_norm_sq' op operand #0 must be variadic of ranked tensor of}}
  %0 = ds.grad_norm_sq %g : tensor<4xi64>
  return
}

// -----

// Tests that ds.state_kind holds a state kind.
// expected-error @+1 {{'ds.state_kind' must be a #ds.state_kind}}
module attributes {ds.state_kind = "grad"} {
}

// -----

// Tests that attention needs q of rank >= 3.
func.func @attention_rank(%q: tensor<8x16xf32>) {
  // expected-error @+1 {{query must have rank >= 3 ([batch..., T, D]), got 'tensor<8x16xf32>'}}
  %o, %l = ds.attention %q, %q, %q {scale = 1.0 : f32} : (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>) -> (tensor<8x16xf32>, tensor<8xf32>)
  return
}

// -----

// Tests that attention's q, k and v have one rank.
func.func @attention_ranks_differ(%q: tensor<2x8x16xf32>, %k: tensor<1x2x8x16xf32>) {
  // expected-error @+1 {{query, key and value must have the same rank}}
  %o, %l = ds.attention %q, %k, %q {scale = 1.0 : f32} : (tensor<2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8xf32>)
  return
}

// -----

// Tests that attention's q, k and v have one element type.
func.func @attention_element_types(%q: tensor<2x8x16xf32>, %k: tensor<2x8x16xf16>) {
  // expected-error @+1 {{query, key and value must have the same element type}}
  %o, %l = ds.attention %q, %k, %q {scale = 1.0 : f32} : (tensor<2x8x16xf32>, tensor<2x8x16xf16>, tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8xf32>)
  return
}

// -----

// Tests that attention's k and v have q's batch dims but for heads dividing q's.
func.func @attention_batch_dims(%q: tensor<2x8x16xf32>, %k: tensor<3x8x16xf32>) {
  // expected-error @+1 {{key and value must have the query's batch dims, the last (heads) dividing the query's}}
  %o, %l = ds.attention %q, %k, %k {scale = 1.0 : f32} : (tensor<2x8x16xf32>, tensor<3x8x16xf32>, tensor<3x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8xf32>)
  return
}

// -----

// Tests that attention's key head dim equals the query's.
func.func @attention_head_dim(%q: tensor<2x8x16xf32>, %k: tensor<2x8x8xf32>) {
  // expected-error @+1 {{key head dim 8 differs from the query's 16}}
  %o, %l = ds.attention %q, %k, %q {scale = 1.0 : f32} : (tensor<2x8x16xf32>, tensor<2x8x8xf32>, tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8xf32>)
  return
}

// -----

// Tests that attention's value length equals the key length.
func.func @attention_value_length(%q: tensor<2x8x16xf32>, %v: tensor<2x4x16xf32>) {
  // expected-error @+1 {{value length 4 differs from the key length 8}}
  %o, %l = ds.attention %q, %q, %v {scale = 1.0 : f32} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x4x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8xf32>)
  return
}

// -----

// Tests that attention's mask is i1 or the query's type.
func.func @attention_mask_type(%q: tensor<2x8x16xf32>, %m: tensor<8x8xi64>) {
  // expected-error @+1 {{mask must be i1 or the query's element type, got 'tensor<8x8xi64>'}}
  %o, %l = ds.attention %q, %q, %q mask %m {scale = 1.0 : f32} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<8x8xi64>) -> (tensor<2x8x16xf32>, tensor<2x8xf32>)
  return
}

// -----

// Tests that attention's mask broadcasts to the scores.
func.func @attention_mask_shape(%q: tensor<2x8x16xf32>, %m: tensor<8x4xi1>) {
  // expected-error @+1 {{mask 'tensor<8x4xi1>' does not broadcast to the scores' shape 'tensor<2x8x8xi1>'}}
  %o, %l = ds.attention %q, %q, %q mask %m {scale = 1.0 : f32} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<8x4xi1>) -> (tensor<2x8x16xf32>, tensor<2x8xf32>)
  return
}

// -----

// Tests that attention's scale is positive.
func.func @attention_scale(%q: tensor<2x8x16xf32>) {
  // expected-error @+1 {{scale must be positive and finite, got -1}}
  %o, %l = ds.attention %q, %q, %q {scale = -1.0 : f32} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8xf32>)
  return
}

// -----

// Tests that attention's dropout is a probability below 1.
func.func @attention_dropout(%q: tensor<2x8x16xf32>) {
  // expected-error @+1 {{dropout must be in [0, 1), got 1}}
  %o, %l = ds.attention %q, %q, %q {scale = 1.0 : f32, dropout = 1.0 : f32} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8xf32>)
  return
}

// -----

// Tests that attention's output has the query's rows and the value's width.
func.func @attention_output_type(%q: tensor<2x8x16xf32>) {
  // expected-error @+1 {{output must be 'tensor<2x8x16xf32>', got 'tensor<2x8x8xf32>'}}
  %o, %l = ds.attention %q, %q, %q {scale = 1.0 : f32} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> (tensor<2x8x8xf32>, tensor<2x8xf32>)
  return
}

// -----

// Tests that attention's log-sum-exp is f32 per query row.
func.func @attention_lse_type(%q: tensor<2x8x16xf32>) {
  // expected-error @+1 {{lse must be 'tensor<2x8xf32>', got 'tensor<2x8xf16>'}}
  %o, %l = ds.attention %q, %q, %q {scale = 1.0 : f32} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8xf16>)
  return
}

// -----

// Tests that attention_grad's grad has the output type.
func.func @attention_grad_grad_type(%q: tensor<2x8x16xf32>, %l: tensor<2x8xf32>, %g: tensor<2x8x8xf32>) {
  // expected-error @+1 {{grad must have the output type 'tensor<2x8x16xf32>'}}
  %a, %b, %c = ds.attention_grad %g, %q, %q, %q, %q, %l {scale = 1.0 : f32} : (tensor<2x8x8xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>)
  return
}

// -----

// Tests that attention_grad's gradients have their operands' types.
func.func @attention_grad_result_types(%q: tensor<2x8x16xf32>, %l: tensor<2x8xf32>) {
  // expected-error @+1 {{query, key and value gradients must have their operands' types}}
  %a, %b, %c = ds.attention_grad %q, %q, %q, %q, %q, %l {scale = 1.0 : f32} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x8xf32>, tensor<2x8x16xf32>)
  return
}

// -----

// Tests that a loss may be f32 over bf16/f16 scores (mixed precision), not narrower than its
// scores.
func.func @loss_widened(%s: tensor<2x3xbf16>, %y: tensor<2xi64>) -> tensor<f32> {
  %0 = ds.softmax_cross_entropy_loss %s, %y : (tensor<2x3xbf16>, tensor<2xi64>) -> tensor<f32>
  return %0 : tensor<f32>
}
func.func @loss_narrowed(%s: tensor<2x3xf32>, %y: tensor<2xi64>) -> tensor<bf16> {
  // expected-error @+2 {{'ds.softmax_cross_entropy_loss' op inferred type(s) 'tensor<f32>' are incompatible with return type(s) of operation 'tensor<bf16>'}}
  // expected-error @+1 {{'ds.softmax_cross_entropy_loss' op failed to infer returned types}}
  %0 = ds.softmax_cross_entropy_loss %s, %y : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<bf16>
  return %0 : tensor<bf16>
}

// -----

// Tests that f64 scores do not give an f32 loss (only 16-bit scores widen).
func.func @loss_f64_narrowed(%s: tensor<2x3xf64>, %y: tensor<2xi64>) -> tensor<f32> {
  // expected-error @+2 {{'ds.nll_loss' op inferred type(s) 'tensor<f64>' are incompatible with return type(s) of operation 'tensor<f32>'}}
  // expected-error @+1 {{'ds.nll_loss' op failed to infer returned types}}
  %0 = ds.nll_loss %s, %y : (tensor<2x3xf64>, tensor<2xi64>) -> tensor<f32>
  return %0 : tensor<f32>
}
