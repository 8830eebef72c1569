// The attributes a ds op's runtime kernel is given (what --ds-convert-to-runtime writes).
#ifndef DS_CONVERSION_RUNTIMEKERNELATTRS_H
#define DS_CONVERSION_RUNTIMEKERNELATTRS_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Operation.h"

namespace ds::rt {
struct KernelInfo;
} // namespace ds::rt

namespace mlir::ds {
/// The attributes of the kernel `info` that runs the ds op `op`: its attributes with
/// every defaulted one spelled out, enums as their plan strings, and the catalogue's
/// defaults for the rest, exactly as the lowering to dsrt.kernel sets them.
DictionaryAttr getRuntimeKernelAttrs(Operation *op, const ::ds::rt::KernelInfo &info);
} // namespace mlir::ds

#endif // DS_CONVERSION_RUNTIMEKERNELATTRS_H
