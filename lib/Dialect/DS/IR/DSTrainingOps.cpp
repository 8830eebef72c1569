// Verifiers of the training-state and optimizer ops of the `ds` dialect.
#include "ds/Dialect/DS/IR/DSOps.h"

using namespace mlir;
using namespace mlir::ds;

/// The type of the parameter or state `name` refers to, or null.
static Type lookupStorageType(Operation *op, SymbolTableCollection &symbols,
                              FlatSymbolRefAttr name) {
  Operation *target = symbols.lookupNearestSymbolFrom(op, name);
  if (auto param = dyn_cast_or_null<ParameterOp>(target))
    return param.getStorageType();
  if (auto state = dyn_cast_or_null<StateOp>(target))
    return state.getType();
  return {};
}

LogicalResult StateRefOp::verifySymbolUses(SymbolTableCollection &symbols) {
  auto state = symbols.lookupNearestSymbolFrom<StateOp>(*this, getNameAttr());
  if (!state)
    return emitOpError("'") << getName() << "' does not name a ds.state";
  if (state.getType() != getResult().getType())
    return emitOpError("type ") << getResult().getType()
                                << " differs from the state's " << state.getType();
  return success();
}

LogicalResult AssignOp::verifySymbolUses(SymbolTableCollection &symbols) {
  Type type = lookupStorageType(*this, symbols, getTargetAttr());
  if (!type)
    return emitOpError("'") << getTarget()
                            << "' does not name a ds.parameter or ds.state";
  if (type != getValue().getType())
    return emitOpError("value type ") << getValue().getType()
                                      << " differs from the target's " << type;
  return success();
}

LogicalResult LrScheduleOp::verify() {
  LrSchedule s = getSchedule();
  if (getWarmupType() != "log" && getWarmupType() != "linear")
    return emitOpError("warmup_type must be \"log\" or \"linear\", got \"")
           << getWarmupType() << "\"";
  if ((s == LrSchedule::WarmupDecayLR || s == LrSchedule::WarmupCosineLR) &&
      getTotalNumSteps() <= 0)
    return emitOpError(stringifyLrSchedule(s)) << " needs total_num_steps > 0";
  return success();
}

LogicalResult GradNormSqOp::verify() {
  if (getGrads().empty())
    return emitOpError("needs at least one gradient");
  return success();
}

LogicalResult LossScaleUpdateOp::verify() {
  auto c = cast<RankedTensorType>(getCounters().getType());
  if (c.getRank() != 1 || c.getDimSize(0) != 3 ||
      getNewCounters().getType() != c)
    return emitOpError("counters must be tensor<3xi64>");
  if (getScaleWindow() < 1 || getHysteresis() < 1 ||
      getScaleFactor().convertToFloat() <= 1.0f || getMinScale().convertToFloat() <= 0)
    return emitOpError("needs scale_window >= 1, hysteresis >= 1, scale_factor > 1 "
                       "and min_scale > 0");
  return success();
}
