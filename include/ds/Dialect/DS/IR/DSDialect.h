// The `ds` dialect class.
#ifndef DS_DIALECT_DS_IR_DSDIALECT_H
#define DS_DIALECT_DS_IR_DSDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpImplementation.h"

#include "ds/Dialect/DS/IR/DSOpsDialect.h.inc"

#include "ds/Dialect/DS/IR/DSEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "ds/Dialect/DS/IR/DSAttrs.h.inc"

namespace mlir::ds {
/// Module attribute naming the ONNX file that parameters load from.
constexpr llvm::StringLiteral kModelFileAttr = "ds.model_file";
/// Module attribute: micro-steps per optimizer step (gradient_accumulation_steps).
constexpr llvm::StringLiteral kAccumulationAttr = "ds.gradient_accumulation_steps";
/// Attribute on a lowered global (dsrt.global): the kind of the ds.state it came from.
constexpr llvm::StringLiteral kStateKindAttr = "ds.state_kind";
/// Result attribute of a differentiated function: the parameter whose gradient the
/// result is (a symbol reference), or the input it differentiates (a name).
constexpr llvm::StringLiteral kGradOfAttr = "ds.grad";
constexpr llvm::StringLiteral kGradOfInputAttr = "ds.grad_of_input";
/// Function attribute: index of the result that is the training loss.
constexpr llvm::StringLiteral kLossIndexAttr = "ds.loss";
/// On a ds.parameter: what identifies its data (a hash of the bytes in the model, or the
/// external-data file range); parameters with equal keys and types hold equal data.
constexpr llvm::StringLiteral kContentKeyAttr = "ds.content";
/// Unit attribute on a ds.parameter whose data, found at import, is ones on and below the
/// diagonal of its last two dims and zeros above (leading dims all 1): a causal mask
/// buffer (GPT-2's `attn.bias`), which ds-fuse-attention turns into `causal`.
constexpr llvm::StringLiteral kLowerTriangularOnesAttr = "ds.lower_triangular_ones";
/// Argument / result attribute: the ONNX graph input or output name.
constexpr llvm::StringLiteral kInputNameAttr = "ds.input";
constexpr llvm::StringLiteral kOutputNameAttr = "ds.output";
} // namespace mlir::ds

#endif // DS_DIALECT_DS_IR_DSDIALECT_H
