// Registration of the `ds` dialect and verification of its discardable attributes.
#include "ds/Dialect/DS/IR/DSDialect.h"
#include "ds/Dialect/DS/IR/DSInterfaces.h"
#include "ds/Dialect/DS/IR/DSLoweringAttrs.h"
#include "ds/Dialect/DS/IR/DSOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::ds;

#include "ds/Dialect/DS/IR/DSInterfaces.cpp.inc"
#include "ds/Dialect/DS/IR/DSEnums.cpp.inc"
#include "ds/Dialect/DS/IR/DSOpsDialect.cpp.inc"
#define GET_ATTRDEF_CLASSES
#include "ds/Dialect/DS/IR/DSAttrs.cpp.inc"

void DSDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "ds/Dialect/DS/IR/DSAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "ds/Dialect/DS/IR/DSOps.cpp.inc"
      >();
}

LogicalResult DSDialect::verifyOperationAttribute(Operation *op,
                                                  NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == kModelFileAttr) {
    if (!isa<ModuleOp>(op))
      return op->emitError() << "'" << name << "' belongs on a module";
    if (!isa<StringAttr>(attr.getValue()))
      return op->emitError() << "'" << name << "' must be a string";
    return success();
  }
  if (name == kAccumulationAttr) {
    auto steps = dyn_cast<IntegerAttr>(attr.getValue());
    if (!isa<ModuleOp>(op) || !steps || steps.getInt() < 1)
      return op->emitError() << "'" << name
                             << "' must be a positive integer on a module";
    return success();
  }
  if (name == kStateKindAttr) {
    if (!isa<StateKindAttr>(attr.getValue()))
      return op->emitError() << "'" << name << "' must be a #ds.state_kind";
    return success();
  }
  if (name == kLossIndexAttr) {
    auto func = dyn_cast<func::FuncOp>(op);
    if (!func)
      return op->emitError() << "'" << name << "' belongs on a func.func";
    auto index = dyn_cast<IntegerAttr>(attr.getValue());
    if (!index)
      return op->emitError() << "'" << name << "' must be an integer";
    int64_t i = index.getInt();
    if (i < 0 || i >= (int64_t)func.getNumResults())
      return op->emitError() << "'" << name << "' = " << i
                             << " is not a result index of @"
                             << func.getSymName();
    auto type = dyn_cast<ShapedType>(func.getResultTypes()[i]);
    if (!type || !type.hasRank() || type.getRank() != 0 ||
        !isa<FloatType>(type.getElementType()))
      return op->emitError() << "loss result " << i << " of @"
                             << func.getSymName()
                             << " must be a float scalar tensor, got "
                             << func.getResultTypes()[i];
    return success();
  }
  if (name == kContentKeyAttr) {
    if (!isa<ParameterOp>(op) || !isa<StringAttr>(attr.getValue()))
      return op->emitError() << "'" << name << "' must be a string on a ds.parameter";
    return success();
  }
  if (name == kLowerTriangularOnesAttr) {
    if (!isa<ParameterOp>(op) || !isa<UnitAttr>(attr.getValue()))
      return op->emitError() << "'" << name << "' must be a unit attribute on a ds.parameter";
    return success();
  }
  if (name == kCopyInAttr) {
    if (!isa<ConcatOp>(op) || !isa<UnitAttr>(attr.getValue()))
      return op->emitError() << "'" << name << "' must be a unit attribute on a ds.concat";
    return success();
  }
  // ds.input / ds.output live on argument / result dictionaries and reach here only
  // when misplaced on an operation.
  return op->emitError() << "unknown ds attribute '" << name << "'";
}
