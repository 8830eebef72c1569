// Discardable `ds` attributes that tell the lowering to dsrt how to lower an op (set by
// the passes that decide it, verified by the ds dialect, read by --ds-convert-to-runtime).
#ifndef DS_DIALECT_DS_IR_DSLOWERINGATTRS_H
#define DS_DIALECT_DS_IR_DSLOWERINGATTRS_H

#include "llvm/ADT/StringRef.h"

namespace mlir::ds {
/// On a ds.concat (a unit attribute): lowered to copies into the result, each made as
/// soon as its operand is complete, so the result is alive from the first copy and an
/// operand used only here dies right after its copy (ZeRO's gradient buckets, like
/// DeepSpeed's contiguous IPG buffer).
constexpr llvm::StringLiteral kCopyInAttr = "ds.copy_in";
} // namespace mlir::ds

#endif // DS_DIALECT_DS_IR_DSLOWERINGATTRS_H
