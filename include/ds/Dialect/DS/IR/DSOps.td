// Op definitions of the `ds` dialect; semantics tabled in docs/ops.md.
#ifndef DS_OPS_TD
#define DS_OPS_TD

include "ds/Dialect/DS/IR/DSDialect.td"
include "ds/Dialect/DS/IR/DSEnums.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Parameters
//===----------------------------------------------------------------------===//

def DS_ParameterOp : DS_Op<"parameter", [Symbol]> {
  let summary = "A model parameter whose data lives in the model file";
  let description = [{
    Declares a float tensor of the model at module level. The data is not in the IR:
    `source` names the ONNX initializer it loads from, in the file named by the module's
    `ds.model_file` attribute. `frozen` parameters get no gradient and no optimizer state
    (buffers such as a causal mask, or what `--freeze` matched). `in` names the memory
    space each rank keeps it in: `device` (the default), `host` or `nvme`.

    ```mlir
    module attributes {ds.model_file = "models/mlp.onnx"} {
      ds.parameter @fc1.weight : tensor<32x16xf32> from "fc1.weight"
      ds.parameter frozen @mask : tensor<1x1x32x32xf32> from "bias" in host
    }
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       TypeAttrOf<DS_FloatTensor>:$type,
                       StrAttr:$source,
                       UnitAttr:$frozen,
                       OptionalAttr<I64Attr>:$shard_size,
                       DefaultValuedAttr<DS_MemorySpaceAttr,
                                         "::mlir::ds::MemorySpace::device">:$space);
  let assemblyFormat = [{
    (`frozen` $frozen^)? $sym_name `:` $type (`sharded` $shard_size^)? `from` $source
    (`in` `` $space^)? attr-dict
  }];
  let extraClassDeclaration = [{
    ::mlir::RankedTensorType getTensorType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getType());
    }
    /// What each rank stores: the whole tensor, or (ZeRO-3) its flat shard of
    /// `shard_size` elements: rank r holds elements [r*p, r*p + p) of the flattened,
    /// zero-padded tensor.
    ::mlir::RankedTensorType getStorageType() {
      if (auto p = getShardSize())
        return ::mlir::RankedTensorType::get({static_cast<int64_t>(*p)},
                                             getTensorType().getElementType());
      return getTensorType();
    }
  }];
}

def DS_RankSliceOp : DS_Op<"rank_slice", [Pure]> {
  let summary = "This rank's flat shard of a padded 1-D tensor";
  let description = [{
    The input holds world-size * size elements; rank r gets elements
    [r * size, (r + 1) * size). The result's length is `size`; when it is the input's
    (world size 1), the slice is the input and folds away.
    ```mlir
    %mine = ds.rank_slice %flat : tensor<16xf32> to tensor<4xf32>
    ```
  }];
  let arguments = (ins DS_Tensor:$input);
  let results = (outs DS_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def DS_ParamRefOp : DS_Op<"param_ref",
    [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "Reads a parameter's current value";
  let description = [{
    ```mlir
    %w = ds.param_ref @fc1.weight : tensor<32x16xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$name);
  let results = (outs DS_FloatTensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

class DS_BinaryOp<string mnemonic, list<Trait> traits = []>
    : DS_Op<mnemonic, !listconcat(traits,
        [Pure, InferTypeOpAdaptor])> {
  let arguments = (ins DS_NumericTensor:$lhs, DS_NumericTensor:$rhs);
  let results = (outs DS_NumericTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` functional-type(operands, results)
  }];
}

def DS_AddOp : DS_BinaryOp<"add", [Commutative]> {
  let summary = "Elementwise sum with broadcasting";
  let description = [{
    ```mlir
    %r = ds.add %a, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    ```
  }];
}
def DS_SubOp : DS_BinaryOp<"sub"> {
  let summary = "Elementwise difference with broadcasting";
  let description = [{
    ```mlir
    %r = ds.sub %a, %b : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    ```
  }];
}
def DS_MulOp : DS_BinaryOp<"mul", [Commutative]> {
  let summary = "Elementwise product with broadcasting";
  let description = [{
    ```mlir
    %r = ds.mul %a, %b : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    ```
  }];
}
def DS_DivOp : DS_BinaryOp<"div"> {
  let summary = "Elementwise quotient with broadcasting";
  let description = [{
    Integer division truncates toward zero.
    ```mlir
    %r = ds.div %a, %b : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    ```
  }];
}
def DS_PowOp : DS_BinaryOp<"pow"> {
  let summary = "Elementwise power with broadcasting";
  let description = [{
    ```mlir
    %r = ds.pow %a, %b : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
    ```
  }];
}

class DS_CompareOp<string mnemonic, list<Trait> traits = []>
    : DS_Op<mnemonic, !listconcat(traits,
        [Pure, InferTypeOpAdaptor])> {
  let arguments = (ins DS_Tensor:$lhs, DS_Tensor:$rhs);
  let results = (outs DS_BoolTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` functional-type(operands, results)
  }];
}

def DS_MaxOp : DS_BinaryOp<"max", [Commutative]> {
  let summary = "Elementwise maximum with broadcasting";
  let description = [{
    NaN if either operand is NaN (torch.maximum). The gradient goes to the larger
    operand, split evenly on ties.

    ```mlir
    %r = ds.max %a, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    ```
  }];
}
def DS_MinOp : DS_BinaryOp<"min", [Commutative]> {
  let summary = "Elementwise minimum with broadcasting";
  let description = [{
    NaN if either operand is NaN (torch.minimum). The gradient goes to the smaller
    operand, split evenly on ties.

    ```mlir
    %r = ds.min %a, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    ```
  }];
}

def DS_EqualOp : DS_CompareOp<"equal", [Commutative]> {
  let summary = "Elementwise equality, broadcasting, to i1";
  let description = [{
    ```mlir
    %r = ds.equal %a, %b : (tensor<4xi64>, tensor<i64>) -> tensor<4xi1>
    ```
  }];
}
def DS_LessOp : DS_CompareOp<"less"> {
  let summary = "Elementwise a < b, broadcasting, to i1";
  let description = [{
    ```mlir
    %r = ds.less %a, %b : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>
    ```
  }];
}
def DS_GreaterOp : DS_CompareOp<"greater"> {
  let summary = "Elementwise a > b, broadcasting, to i1";
  let description = [{
    ```mlir
    %r = ds.greater %a, %b : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>
    ```
  }];
}

def DS_WhereOp : DS_Op<"where",
    [Pure, InferTypeOpAdaptor]> {
  let summary = "Selects from two tensors by a condition, broadcasting all three";
  let description = [{
    ```mlir
    %r = ds.where %c, %x, %y : (tensor<1x1x4x4xi1>, tensor<f32>, tensor<2x3x4x4xf32>) -> tensor<2x3x4x4xf32>
    ```
  }];
  let arguments = (ins DS_BoolTensor:$condition, DS_Tensor:$on_true,
                       DS_Tensor:$on_false);
  let results = (outs DS_Tensor:$result);
  let assemblyFormat = [{
    $condition `,` $on_true `,` $on_false attr-dict `:` functional-type(operands, results)
  }];
}

class DS_UnaryOp<string mnemonic, Type operandType, list<Trait> traits = []>
    : DS_Op<mnemonic, !listconcat(traits,
        [Pure, SameOperandsAndResultType])> {
  let arguments = (ins operandType:$input);
  let results = (outs operandType:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def DS_NegOp : DS_UnaryOp<"neg", DS_NumericTensor> {
  let summary = "Elementwise negation";
  let description = "```mlir\n%r = ds.neg %x : tensor<4xf32>\n```";
}
def DS_SqrtOp : DS_UnaryOp<"sqrt", DS_FloatTensor> {
  let summary = "Elementwise square root";
  let description = "```mlir\n%r = ds.sqrt %x : tensor<4xf32>\n```";
}
def DS_ExpOp : DS_UnaryOp<"exp", DS_FloatTensor> {
  let summary = "Elementwise e^x";
  let description = "```mlir\n%r = ds.exp %x : tensor<4xf32>\n```";
}
def DS_LogOp : DS_UnaryOp<"log", DS_FloatTensor> {
  let summary = "Elementwise natural logarithm";
  let description = "```mlir\n%r = ds.log %x : tensor<4xf32>\n```";
}
def DS_TanhOp : DS_UnaryOp<"tanh", DS_FloatTensor> {
  let summary = "Elementwise hyperbolic tangent";
  let description = "```mlir\n%r = ds.tanh %x : tensor<4xf32>\n```";
}
def DS_SinOp : DS_UnaryOp<"sin", DS_FloatTensor> {
  let summary = "Elementwise sine (radians)";
  let description = "```mlir\n%r = ds.sin %x : tensor<4xf32>\n```";
}
def DS_CosOp : DS_UnaryOp<"cos", DS_FloatTensor> {
  let summary = "Elementwise cosine (radians)";
  let description = "```mlir\n%r = ds.cos %x : tensor<4xf32>\n```";
}
def DS_AbsOp : DS_UnaryOp<"abs", DS_FloatTensor> {
  let summary = "Elementwise absolute value";
  let description = "```mlir\n%r = ds.abs %x : tensor<4xf32>\n```";
}
def DS_ReciprocalOp : DS_UnaryOp<"reciprocal", DS_FloatTensor> {
  let summary = "Elementwise reciprocal 1/x";
  let description = "```mlir\n%r = ds.reciprocal %x : tensor<4xf32>\n```";
}
def DS_ErfOp : DS_UnaryOp<"erf", DS_FloatTensor> {
  let summary = "Elementwise error function";
  let description = "```mlir\n%r = ds.erf %x : tensor<4xf32>\n```";
}
def DS_ReluOp : DS_UnaryOp<"relu", DS_NumericTensor> {
  let summary = "Elementwise max(x, 0)";
  let description = "```mlir\n%r = ds.relu %x : tensor<4xf32>\n```";
}
def DS_SigmoidOp : DS_UnaryOp<"sigmoid", DS_FloatTensor> {
  let summary = "Elementwise 1 / (1 + e^-x)";
  let description = "```mlir\n%r = ds.sigmoid %x : tensor<4xf32>\n```";
}
def DS_IdentityOp : DS_UnaryOp<"identity", DS_Tensor> {
  let summary = "Returns its operand";
  let description = "```mlir\n%r = ds.identity %x : tensor<4xf32>\n```";
}

def DS_GeluOp : DS_Op<"gelu", [Pure, SameOperandsAndResultType]> {
  let summary = "Gaussian error linear unit";
  let description = [{
    `approximate` is `none` (the erf form, the default) or `tanh`.
    ```mlir
    %r = ds.gelu %x approximate = tanh : tensor<4xf32>
    ```
  }];
  let arguments = (ins DS_FloatTensor:$input,
                       DefaultValuedAttr<DS_GeluApproximationAttr,
                           "::mlir::ds::GeluApproximation::none">:$approximate);
  let results = (outs DS_FloatTensor:$result);
  let assemblyFormat = [{
    $input (`approximate` `=` `` $approximate^)? attr-dict `:` type($input)
  }];
}

def DS_CastOp : DS_Op<"cast", [Pure, SameOperandsAndResultShape]> {
  let summary = "Converts elements to the result's element type";
  let description = [{
    ```mlir
    %r = ds.cast %x : tensor<4xf32> to tensor<4xf16>
    ```
  }];
  let arguments = (ins DS_Tensor:$input);
  let results = (outs DS_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
}

//===----------------------------------------------------------------------===//
// Linear algebra and normalization
//===----------------------------------------------------------------------===//

def DS_MatMulOp : DS_Op<"matmul",
    [Pure, InferTypeOpAdaptor]> {
  let summary = "Matrix product with numpy semantics";
  let description = [{
    1-D operands are promoted (a to [1,K], b to [K,1]) and the added dim dropped from
    the result; leading batch dims broadcast.
    ```mlir
    %r = ds.matmul %a, %b : (tensor<2x4x8xf32>, tensor<8x16xf32>) -> tensor<2x4x16xf32>
    ```
  }];
  let arguments = (ins DS_NumericTensor:$lhs, DS_NumericTensor:$rhs);
  let results = (outs DS_NumericTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` functional-type(operands, results)
  }];
}

def DS_GemmOp : DS_Op<"gemm",
    [Pure, InferTypeOpAdaptor]> {
  let summary = "alpha * op(a) * op(b) + beta * c on 2-D operands";
  let description = [{
    `c` is optional and broadcasts to [M, N].
    ```mlir
    %r = ds.gemm %a, %b, %c {trans_b} : (tensor<4x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<4x16xf32>
    ```
  }];
  let arguments = (ins DS_FloatTensor:$a, DS_FloatTensor:$b,
                       Optional<DS_FloatTensor>:$c,
                       DefaultValuedAttr<F32Attr, "1.0">:$alpha,
                       DefaultValuedAttr<F32Attr, "1.0">:$beta,
                       UnitAttr:$trans_a, UnitAttr:$trans_b);
  let results = (outs DS_FloatTensor:$result);
  let assemblyFormat = [{
    $a `,` $b (`,` $c^)? attr-dict `:` functional-type(operands, results)
  }];
}

class DS_AxisOp<string mnemonic> : DS_Op<mnemonic,
    [Pure, SameOperandsAndResultType]> {
  let arguments = (ins DS_FloatTensor:$input, I64Attr:$axis);
  let results = (outs DS_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def DS_SoftmaxOp : DS_AxisOp<"softmax"> {
  let summary = "Softmax along one axis";
  let description = "```mlir\n%r = ds.softmax %x {axis = 1} : tensor<4x8xf32>\n```";
}
def DS_LogSoftmaxOp : DS_AxisOp<"log_softmax"> {
  let summary = "Log of softmax along one axis";
  let description = "```mlir\n%r = ds.log_softmax %x {axis = 1} : tensor<4x8xf32>\n```";
}

def DS_LayerNormOp : DS_Op<"layer_norm", [Pure]> {
  let summary = "Layer normalization over the trailing dims from `axis`";
  let description = [{
    (x - mean) / sqrt(var + epsilon) * scale + bias, with the biased variance over dims
    [axis, rank); `scale` and `bias` broadcast to x.shape[axis:].
    ```mlir
    %y = ds.layer_norm %x, %g, %b {axis = 2, epsilon = 1.0e-05 : f32} : (tensor<2x4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
    ```
  }];
  let arguments = (ins DS_FloatTensor:$input, DS_FloatTensor:$scale,
                       Optional<DS_FloatTensor>:$bias, I64Attr:$axis,
                       DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon);
  let results = (outs DS_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $scale (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def DS_AttentionOp : DS_Op<"attention", [Pure]> {
  let summary = "Scaled dot-product attention with an online softmax";
  let description = [{
    out = softmax(scale * q kᵀ + mask) v over the last axis, computed tile by tile without
    the [T, S] score matrix. q is [batch..., T, D], k [batch..., S, D], v [batch..., S, Dv]
    with equal batch dims (e.g. [B, H]) except that the last one of k and v may divide q's
    (grouped-query attention: [B, Hkv] keys, query head h reading key head h / (H / Hkv));
    out is [batch..., T, Dv] and `lse` the per-row
    log-sum-exp [batch..., T] in f32 (f64 for f64 operands), which is all the backward pass keeps besides out.
    `causal` masks key j > query i (top-left aligned, as torch.tril). `mask`, broadcast to
    [batch..., T, S], is additive (float, same type as q) or boolean (i1: true attends, as
    torch's boolean attn_mask); masked scores are -inf. A row with every key masked gives
    out = 0 and lse = -inf. `dropout` is the drop probability on the probabilities.
    ```mlir
    %o, %lse = ds.attention %q, %k, %v mask %m {scale = 2.500000e-01 : f32} : (tensor<4x4x32x16xf32>, tensor<4x4x32x16xf32>, tensor<4x4x32x16xf32>, tensor<1x1x32x32xi1>) -> (tensor<4x4x32x16xf32>, tensor<4x4x32xf32>)
    ```
  }];
  let arguments = (ins DS_FloatTensor:$query, DS_FloatTensor:$key, DS_FloatTensor:$value,
                       Optional<DS_Tensor>:$mask, F32Attr:$scale,
                       DefaultValuedAttr<BoolAttr, "false">:$causal,
                       DefaultValuedAttr<F32Attr, "0.0">:$dropout);
  let results = (outs DS_FloatTensor:$output, DS_FloatTensor:$lse);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`mask` $mask^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Shape and data movement
//===----------------------------------------------------------------------===//

def DS_ReshapeOp : DS_Op<"reshape", [Pure]> {
  let summary = "Reinterprets the elements in a new static shape";
  let description = [{
    ```mlir
    %r = ds.reshape %x : tensor<4x8xf32> to tensor<2x16xf32>
    ```
  }];
  let arguments = (ins DS_Tensor:$input);
  let results = (outs DS_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def DS_TransposeOp : DS_Op<"transpose",
    [Pure, InferTypeOpAdaptor]> {
  let summary = "Permutes the dims: result dim i is input dim perm[i]";
  let description = [{
    ```mlir
    %r = ds.transpose %x {perm = array<i64: 1, 0>} : (tensor<4x8xf32>) -> tensor<8x4xf32>
    ```
  }];
  let arguments = (ins DS_Tensor:$input, DenseI64ArrayAttr:$perm);
  let results = (outs DS_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DS_GatherOp : DS_Op<"gather",
    [Pure, InferTypeOpAdaptor]> {
  let summary = "Gathers slices of `data` along `axis` at `indices` (embedding lookup)";
  let description = [{
    Result shape: data.shape[:axis] + indices.shape + data.shape[axis+1:]. Negative
    indices count from the end of the axis.
    ```mlir
    %r = ds.gather %table, %ids {axis = 0} : (tensor<65x64xf32>, tensor<4x32xi64>) -> tensor<4x32x64xf32>
    ```
  }];
  let arguments = (ins DS_Tensor:$data, DS_IndexTensor:$indices,
                       DefaultValuedAttr<I64Attr, "0">:$axis);
  let results = (outs DS_Tensor:$result);
  let assemblyFormat = [{
    $data `,` $indices attr-dict `:` functional-type(operands, results)
  }];
}

def DS_SliceOp : DS_Op<"slice",
    [Pure, InferTypeOpAdaptor]> {
  let summary = "Strided slice with one static start, end and step per dim";
  let description = [{
    Starts and ends are already clamped: for step > 0, 0 <= start <= end <= dim; for
    step < 0, -1 <= end <= start < dim. Result dim i is
    max(0, ceil((end - start) / step)).
    ```mlir
    %r = ds.slice %x {starts = array<i64: 0, 2>, ends = array<i64: 4, 6>, steps = array<i64: 1, 1>} : (tensor<4x8xf32>) -> tensor<4x4xf32>
    ```
  }];
  let arguments = (ins DS_Tensor:$input, DenseI64ArrayAttr:$starts,
                       DenseI64ArrayAttr:$ends, DenseI64ArrayAttr:$steps);
  let results = (outs DS_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DS_SplitOp : DS_Op<"split",
    [Pure, InferTypeOpAdaptor]> {
  let summary = "Splits a tensor into consecutive pieces along an axis";
  let description = [{
    ```mlir
    %q, %k, %v = ds.split %x {axis = 2, sizes = array<i64: 64, 64, 64>} : (tensor<4x32x192xf32>) -> (tensor<4x32x64xf32>, tensor<4x32x64xf32>, tensor<4x32x64xf32>)
    ```
  }];
  let arguments = (ins DS_Tensor:$input, I64Attr:$axis,
                       DenseI64ArrayAttr:$sizes);
  let results = (outs Variadic<DS_Tensor>:$results);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DS_ConcatOp : DS_Op<"concat",
    [Pure, InferTypeOpAdaptor]> {
  let summary = "Concatenates tensors along an axis";
  let description = [{
    ```mlir
    %r = ds.concat %a, %b {axis = 0} : (tensor<2x8xf32>, tensor<3x8xf32>) -> tensor<5x8xf32>
    ```
  }];
  let arguments = (ins Variadic<DS_Tensor>:$inputs, I64Attr:$axis);
  let results = (outs DS_Tensor:$result);
  let assemblyFormat = "$inputs attr-dict `:` functional-type(operands, results)";
}

def DS_SqueezeOp : DS_Op<"squeeze",
    [Pure, InferTypeOpAdaptor]> {
  let summary = "Removes size-1 dims at `axes` (input dims)";
  let description = [{
    ```mlir
    %r = ds.squeeze %x {axes = array<i64: 1>} : (tensor<4x1x8xf32>) -> tensor<4x8xf32>
    ```
  }];
  let arguments = (ins DS_Tensor:$input, DenseI64ArrayAttr:$axes);
  let results = (outs DS_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DS_UnsqueezeOp : DS_Op<"unsqueeze",
    [Pure, InferTypeOpAdaptor]> {
  let summary = "Inserts size-1 dims at `axes` (result dims)";
  let description = [{
    ```mlir
    %r = ds.unsqueeze %x {axes = array<i64: 0, 2>} : (tensor<4x8xf32>) -> tensor<1x4x1x8xf32>
    ```
  }];
  let arguments = (ins DS_Tensor:$input, DenseI64ArrayAttr:$axes);
  let results = (outs DS_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DS_ExpandOp : DS_Op<"expand", [Pure]> {
  let summary = "Broadcasts a tensor to the result's shape";
  let description = [{
    The result shape is the broadcast of the input shape with the target shape.
    ```mlir
    %r = ds.expand %x : tensor<1x8xf32> to tensor<4x8xf32>
    ```
  }];
  let arguments = (ins DS_Tensor:$input);
  let results = (outs DS_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
  let hasVerifier = 1;
}

def DS_TriluOp : DS_Op<"trilu", [Pure, SameOperandsAndResultType]> {
  let summary = "Keeps the upper or lower triangle of the last two dims";
  let description = [{
    Upper keeps (i, j) with j - i >= k, lower keeps j - i <= k; the rest is zero.
    ```mlir
    %r = ds.trilu %x {upper = false, k = 0} : tensor<32x32xf32>
    ```
  }];
  let arguments = (ins DS_Tensor:$input, BoolAttr:$upper,
                       DefaultValuedAttr<I64Attr, "0">:$k);
  let results = (outs DS_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

class DS_ReduceOp<string mnemonic> : DS_Op<mnemonic,
    [Pure, InferTypeOpAdaptor]> {
  let arguments = (ins DS_NumericTensor:$input, DenseI64ArrayAttr:$axes,
                       DefaultValuedAttr<BoolAttr, "true">:$keepdims);
  let results = (outs DS_NumericTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DS_ReduceSumOp : DS_ReduceOp<"reduce_sum"> {
  let summary = "Sum over `axes` (all dims when empty)";
  let description = [{
    ```mlir
    %r = ds.reduce_sum %x {axes = array<i64: 1>, keepdims = false} : (tensor<4x8xf32>) -> tensor<4xf32>
    ```
  }];
}
def DS_ReduceMeanOp : DS_ReduceOp<"reduce_mean"> {
  let summary = "Mean over `axes` (all dims when empty)";
  let description = [{
    ```mlir
    %r = ds.reduce_mean %x {axes = array<i64: 1>} : (tensor<4x8xf32>) -> tensor<4x1xf32>
    ```
  }];
}
def DS_ReduceMaxOp : DS_ReduceOp<"reduce_max"> {
  let summary = "Maximum over `axes` (all dims when empty)";
  let description = [{
    ```mlir
    %r = ds.reduce_max %x {axes = array<i64>} : (tensor<4x8xf32>) -> tensor<1x1xf32>
    ```
  }];
}

//===----------------------------------------------------------------------===//
// Training-specific ops
//===----------------------------------------------------------------------===//

def DS_DropoutOp : DS_Op<"dropout",
    [InferTypeOpAdaptor]> {
  let summary = "Zeroes elements with probability `ratio`, scaling the rest";
  let description = [{
    result = input * mask / (1 - ratio), mask ~ Bernoulli(1 - ratio), drawn from a
    counter-based generator keyed by `seed`, the step and the element index.
    ```mlir
    %r, %mask = ds.dropout %x {ratio = 1.0e-01 : f32, seed = 0} : (tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xi1>)
    ```
  }];
  let arguments = (ins DS_FloatTensor:$input, F32Attr:$ratio,
                       DefaultValuedAttr<I64Attr, "0">:$seed);
  let results = (outs DS_FloatTensor:$result, DS_BoolTensor:$mask);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

// The loss has the scores' element type, or f32 over bf16/f16 scores (mixed precision's
// loss reads the 16-bit logits; its kernels compute in f32 either way).
class DS_LossOp<string mnemonic> : DS_Op<mnemonic,
    [Pure, InferTypeOpAdaptorWithIsCompatible]> {
  let arguments = (ins DS_FloatTensor:$input, DS_IndexTensor:$target,
                       Optional<DS_FloatTensor>:$weights,
                       DefaultValuedAttr<DS_LossReductionAttr,
                           "::mlir::ds::LossReduction::mean">:$reduction,
                       OptionalAttr<I64Attr>:$ignore_index);
  let results = (outs DS_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $target (`,` $weights^)? (`reduction` `=` `` $reduction^)? attr-dict `:`
    functional-type(operands, results)
  }];
}

def DS_SoftmaxCrossEntropyLossOp : DS_LossOp<"softmax_cross_entropy_loss"> {
  let summary = "Cross-entropy of softmax(scores) against class labels";
  let description = [{
    scores [N, C, d...], labels [N, d...], optional class weights [C]. `reduction` is
    `mean` (the default), `sum` or `none`; `mean` divides by the summed weights of the
    labels not equal to `ignore_index`.
    ```mlir
    %l = ds.softmax_cross_entropy_loss %s, %y reduction = sum {ignore_index = -100} : (tensor<8x10xf32>, tensor<8xi64>) -> tensor<f32>
    ```
  }];
}
def DS_NllLossOp : DS_LossOp<"nll_loss"> {
  let summary = "Negative log-likelihood of log-probabilities against class labels";
  let description = [{
    ```mlir
    %l = ds.nll_loss %lp, %y : (tensor<8x10xf32>, tensor<8xi64>) -> tensor<f32>
    ```
  }];
}

def DS_ConstantOp : DS_Op<"constant",
    [Pure, ConstantLike, InferTypeOpAdaptor]> {
  let summary = "A constant tensor";
  let description = [{
    ```mlir
    %c = ds.constant dense<[1, 2]> : tensor<2xi64>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs DS_Tensor:$result);
  let assemblyFormat = "$value attr-dict";
  let hasFolder = 1;
}

include "ds/Dialect/DS/IR/DSGradOps.td"
include "ds/Dialect/DS/IR/DSTrainingOps.td"
include "ds/Dialect/DS/IR/DSConvolutionOps.td"

#endif // DS_OPS_TD
