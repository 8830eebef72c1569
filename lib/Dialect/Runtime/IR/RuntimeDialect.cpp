// Registration, verifiers and size helpers of the `dsrt` dialect.
#include "ds/Dialect/Runtime/IR/RuntimeDialect.h"
#include "ds/Dialect/DS/IR/DSOps.h"

using namespace mlir;
using namespace mlir::dsrt;

#include "ds/Dialect/Runtime/IR/RuntimeOpsDialect.cpp.inc"

void RuntimeDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "ds/Dialect/Runtime/IR/RuntimeOps.cpp.inc"
      >();
}

int64_t mlir::dsrt::getElementBytes(Type elementType) {
  if (elementType.isInteger(1))
    return 1;
  return (elementType.getIntOrFloatBitWidth() + 7) / 8;
}

int64_t mlir::dsrt::getByteSize(ShapedType type) {
  return type.getNumElements() * getElementBytes(type.getElementType());
}

LogicalResult AllocOp::verify() {
  if (auto offset = getOffsetAttr(); offset && offset.getInt() < 0)
    return emitOpError("offset must be non-negative, got ") << offset.getInt();
  return success();
}

LogicalResult ParamOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  Operation *target = symbolTable.lookupNearestSymbolFrom(*this, getNameAttr());
  RankedTensorType tensor;
  if (auto param = dyn_cast_or_null<ds::ParameterOp>(target))
    tensor = param.getStorageType();
  else if (auto state = dyn_cast_or_null<ds::StateOp>(target))
    tensor = state.getTensorType();
  else
    return emitOpError("'") << getName()
                            << "' does not name a ds.parameter or ds.state";
  auto memref = getBuffer().getType();
  if (tensor.getShape() != memref.getShape() ||
      tensor.getElementType() != memref.getElementType())
    return emitOpError("type ") << memref << " does not match the parameter's "
                                << tensor;
  return success();
}

LogicalResult ViewOp::verify() {
  auto from = getSource().getType(), to = getResult().getType();
  if (from.getElementType() != to.getElementType() ||
      from.getNumElements() != to.getNumElements())
    return emitOpError("cannot view ") << from << " as " << to;
  return success();
}

Value mlir::dsrt::getAliasRoot(Value v) {
  while (auto view = v.getDefiningOp<ViewOp>())
    v = view.getSource();
  return v;
}

LogicalResult KernelOp::verify() {
  static const llvm::StringLiteral streams[] = {"compute", "comm", "copy", "io",
                                                "host"};
  if (!llvm::is_contained(streams, getStream()))
    return emitOpError("unknown stream '") << getStream() << "'";
  if (getOutputs().empty())
    return emitOpError("needs at least one output buffer");
  return success();
}

#define GET_OP_CLASSES
#include "ds/Dialect/Runtime/IR/RuntimeOps.cpp.inc"
