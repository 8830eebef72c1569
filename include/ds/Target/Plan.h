// Export of a memory-planned dsrt module as a plan file for ds-run.
#ifndef DS_TARGET_PLAN_H
#define DS_TARGET_PLAN_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/raw_ostream.h"

#include <string>
#include <utility>

namespace mlir::ds {
/// Module attributes the training pipeline sets from the config for the plan (a prefix of
/// no dialect, so no verifier owns them): steps_per_print (ds-run's
/// step lines) and the ZeRO stage (ds-run's header line).
constexpr llvm::StringLiteral kStepsPerPrintAttr = "ds_plan.steps_per_print";
constexpr llvm::StringLiteral kZeroStageAttr = "ds_plan.zero_stage";
constexpr llvm::StringLiteral kCsvMonitorDirAttr = "ds_plan.csv_monitor_dir";
constexpr llvm::StringLiteral kTensorboardDirAttr = "ds_plan.tensorboard_dir";
/// The config's wall_clock_breakdown (a unit attribute: present when enabled).
constexpr llvm::StringLiteral kWallClockBreakdownAttr = "ds_plan.wall_clock_breakdown";
/// The config's memory_breakdown (a unit attribute: present when enabled).
constexpr llvm::StringLiteral kMemoryBreakdownAttr = "ds_plan.memory_breakdown";
/// NVMe and aio settings (a dictionary: nvme_path, pin_memory, block_size, queue_depth,
/// thread_count, single_submit, overlap_events), written when the config gives them.
constexpr llvm::StringLiteral kIOAttr = "ds_plan.io";

/// Writes `module` (after --ds-convert-to-runtime and --ds-plan-memory) as a plan:
/// the 8-byte magic, the payload's 8-byte checksum, then the serialized ds.plan.Plan
/// (runtime/proto/plan.proto). Errors name the offending op.
LogicalResult exportPlan(ModuleOp module, llvm::raw_ostream &os,
                         llvm::StringRef producer);

/// Exports `module`'s plan and writes its planned device memory per instruction to `path`
/// (runtime/include/ds/runtime/MemoryTimeline.h): an SVG chart titled `title` when `path`
/// ends in .svg, else CSV. Errors go to stderr.
LogicalResult writeMemoryTimeline(ModuleOp module, llvm::StringRef path,
                                  llvm::StringRef title);
/// The same for several compiled modules (e.g. one per ZeRO stage) drawn as one SVG: a
/// panel per module, headed by its heading, on one byte scale. `path` must end in .svg.
LogicalResult writeMemoryTimeline(llvm::ArrayRef<std::pair<ModuleOp, std::string>> panels,
                                  llvm::StringRef path, llvm::StringRef title);
/// Exports into `path` through a temporary file renamed into place, so an existing
/// plan is never left half-written.
LogicalResult writePlanFile(ModuleOp module, llvm::StringRef path,
                            llvm::StringRef producer);
/// Fails (printing one line) when `path` cannot become the plan file: its directory is
/// missing or takes no new file, or `path` is a directory. ds-opt checks before compiling.
LogicalResult checkPlanOutputPath(llvm::StringRef path);

/// Registers `--export-dsplan` with ds-translate.
void registerPlanExportTranslation();
} // namespace mlir::ds

#endif // DS_TARGET_PLAN_H
