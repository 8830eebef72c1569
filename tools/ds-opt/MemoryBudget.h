// Compiling to a device-memory budget (--memory-budget): the choices tried and the one
// taken.
#ifndef DS_OPT_MEMORYBUDGET_H
#define DS_OPT_MEMORYBUDGET_H

#include "ds/Config/DeepSpeedConfig.h"
#include "ds/Target/MemoryReport.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/Support/JSON.h"

#include <string>
#include <vector>

namespace mlir::ds {

/// Which offload devices --allow-offload permits.
struct AllowedOffload {
  bool cpu = false, nvme = false;
};

/// One compiled choice: what it changes and the device bytes per rank it planned.
struct BudgetAttempt {
  std::string choice;
  MemoryBreakdown memory;
  bool fits = false;
};

/// What the search tried, in order of cost, and which attempt it took (-1: none fits).
struct BudgetResult {
  int64_t budget = 0;
  std::vector<BudgetAttempt> attempts;
  int chosen = -1;
  DeepSpeedConfig config; ///< the chosen configuration (valid when chosen >= 0)
};

/// Compiles `base` with one choice applied and returns its per-rank breakdown.
using CompileForBudget =
    llvm::function_ref<FailureOr<MemoryBreakdown>(const DeepSpeedConfig &)>;

/// Tries, in order of cost, until the planned device total fits `budget`: no
/// recomputation; layer recomputation (then auto, keeping what the slack allows); smaller
/// reduce and prefetch buckets; optimizer offload to the host; parameter offload to the
/// host (stage 3); both on NVMe. Offload only where `allowed` (or the config) says so;
/// `fixedRecompute` keeps the config's recomputation. Fails only if a compile fails.
FailureOr<BudgetResult> searchMemoryBudget(const DeepSpeedConfig &base, int stage,
                                           int64_t budget, AllowedOffload allowed,
                                           bool fixedRecompute, CompileForBudget compile);

/// The refusal when nothing fits: the smallest device total reached, by which choice,
/// and what would make it fit.
std::string describeBudgetFailure(const BudgetResult &result, int stage, int world,
                                  AllowedOffload allowed);

/// The report's "budget" section, as text lines or as a JSON object.
void printBudgetText(const BudgetResult &result, llvm::raw_ostream &os);
void printBudgetJson(const BudgetResult &result, llvm::json::OStream &j);

/// "12.50 GiB"
std::string formatBytes(double bytes);

} // namespace mlir::ds

#endif // DS_OPT_MEMORYBUDGET_H
