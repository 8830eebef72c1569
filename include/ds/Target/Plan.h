// Export of a memory-planned dsrt module as a plan file for ds-run.
#ifndef DS_TARGET_PLAN_H
#define DS_TARGET_PLAN_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::ds {
/// Writes `module` (after --ds-convert-to-runtime and --ds-plan-memory) as a plan:
/// the 8-byte magic, the payload's 8-byte checksum, then the serialized ds.plan.Plan
/// (runtime/proto/plan.proto). Errors name the offending op.
LogicalResult exportPlan(ModuleOp module, llvm::raw_ostream &os,
                         llvm::StringRef producer);

/// Exports into `path` through a temporary file renamed into place, so an existing
/// plan is never left half-written.
LogicalResult writePlanFile(ModuleOp module, llvm::StringRef path,
                            llvm::StringRef producer);

/// Registers `--export-dsplan` with ds-translate.
void registerPlanExportTranslation();
} // namespace mlir::ds

#endif // DS_TARGET_PLAN_H
