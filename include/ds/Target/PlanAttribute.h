// The plan encoding of one kernel attribute (what the plan export writes).
#ifndef DS_TARGET_PLANATTRIBUTE_H
#define DS_TARGET_PLANATTRIBUTE_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/Location.h"

#include "plan.pb.h"

namespace mlir::ds {
/// Encodes a kernel attribute as the plan does (ints, floats, strings, lists, dense
/// values); an attribute with no encoding is an error at `loc` naming `name`.
LogicalResult convertPlanAttribute(Attribute attr, ::ds::plan::Attribute &out,
                                   Location loc, llvm::StringRef name);
} // namespace mlir::ds

#endif // DS_TARGET_PLANATTRIBUTE_H
