// Compiling to a device-memory budget: tries recomputation, buckets and offload in order
// of cost.
#include "MemoryBudget.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::ds;

std::string mlir::ds::formatBytes(double bytes) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return llvm::formatv(u == 0 ? "{0:F0} {1}" : "{0:F2} {1}", bytes, units[u]).str();
}

namespace {
/// The reduce and prefetch buckets of the smaller-buckets choice (elements): a tenth of
/// DeepSpeed's defaults, still large enough that collectives stay bandwidth-bound.
constexpr int64_t kSmallReduceBucket = 50000000, kSmallPrefetchBucket = 5000000;

class BudgetSearch {
public:
  BudgetSearch(const DeepSpeedConfig &base, int64_t budget, CompileForBudget compile)
      : compile(compile) {
    result.budget = budget;
    result.config = base;
  }

  /// Compiles `config` as `choice`; true when it fits (and is then taken).
  FailureOr<bool> attempt(const std::string &choice, const DeepSpeedConfig &config) {
    FailureOr<MemoryBreakdown> memory = compile(config);
    if (failed(memory))
      return failure();
    bool fits = memory->total() <= result.budget;
    result.attempts.push_back({choice, *memory, fits});
    if (fits) {
      result.chosen = int(result.attempts.size()) - 1;
      result.config = config;
    }
    return fits;
  }

  const MemoryBreakdown &last() const { return result.attempts.back().memory; }

  BudgetResult result;

private:
  CompileForBudget compile;
};
} // namespace

FailureOr<BudgetResult> mlir::ds::searchMemoryBudget(const DeepSpeedConfig &base,
                                                     int stage, int64_t budget,
                                                     AllowedOffload allowed,
                                                     bool fixedRecompute,
                                                     CompileForBudget compile) {
  BudgetSearch search(base, budget, compile);
  DeepSpeedConfig config = base;
  auto recomputeName = [](const DeepSpeedConfig &c) {
    return c.recompute.mode == "none" ? std::string("no recompute")
                                      : c.recompute.mode + " recompute";
  };
  // 1. Recomputation: none, layer, then auto with what layer leaves free.
  if (!fixedRecompute) {
    config.recompute.mode = "none";
    FailureOr<bool> fits = search.attempt("no recompute", config);
    if (failed(fits))
      return failure();
    if (*fits)
      return search.result;
    config.recompute.mode = "layer";
    fits = search.attempt("layer recompute", config);
    if (failed(fits))
      return failure();
    if (*fits) {
      int64_t slack = budget - search.last().total();
      DeepSpeedConfig autoConfig = config;
      autoConfig.recompute.mode = "auto";
      autoConfig.recompute.keepBytes = slack;
      BudgetResult layerTaken = search.result;
      if (slack > 0) {
        FailureOr<bool> autoFits = search.attempt(
            "auto recompute (keep " + formatBytes(double(slack)) + ")", autoConfig);
        if (failed(autoFits))
          return failure();
        if (!*autoFits) {
          // Auto's kept values did not fit after all: layer stays the choice.
          search.result.chosen = layerTaken.chosen;
          search.result.config = layerTaken.config;
        }
      }
      return search.result;
    }
  } else {
    FailureOr<bool> fits = search.attempt(recomputeName(config), config);
    if (failed(fits))
      return failure();
    if (*fits)
      return search.result;
  }
  std::string prefix = recomputeName(config);
  // 2. Smaller buckets: fewer bytes in flight per collective.
  if (config.zero.reduceBucketSize > kSmallReduceBucket ||
      (stage == 3 && config.zero.prefetchBucketSize > kSmallPrefetchBucket)) {
    config.zero.reduceBucketSize =
        std::min(config.zero.reduceBucketSize, kSmallReduceBucket);
    config.zero.prefetchBucketSize =
        std::min(config.zero.prefetchBucketSize, kSmallPrefetchBucket);
    prefix += llvm::formatv(", buckets reduce {0} / prefetch {1}",
                            config.zero.reduceBucketSize, config.zero.prefetchBucketSize)
                  .str();
    FailureOr<bool> fits = search.attempt(prefix, config);
    if (failed(fits))
      return failure();
    if (*fits)
      return search.result;
  }
  // 3. Offload, host first, then NVMe; the config's own offload devices count as allowed.
  bool cpu = allowed.cpu || base.offloadOptimizer.device == "cpu" ||
             base.offloadParam.device == "cpu";
  bool nvme = allowed.nvme || base.offloadOptimizer.device == "nvme" ||
              base.offloadParam.device == "nvme";
  auto tryOffload = [&](StringRef optimizer, StringRef param) -> FailureOr<bool> {
    if (config.offloadOptimizer.device == optimizer &&
        config.offloadParam.device == param)
      return false; // the configuration already tried
    config.offloadOptimizer.device = optimizer.str();
    config.offloadParam.device = param.str();
    if (optimizer == "nvme") {
      // One swap file per rank, in the directory the config names (checked by ds-opt).
      std::string dir = !base.offloadOptimizer.nvmePath.empty()
                            ? base.offloadOptimizer.nvmePath
                        : !base.offloadParam.nvmePath.empty() ? base.offloadParam.nvmePath
                                                              : base.aio.nvmePath;
      config.offloadOptimizer.nvmePath = config.offloadParam.nvmePath = dir;
      config.aio.nvmePath = dir;
    }
    std::string choice = prefix + ", offload_optimizer " + optimizer.str();
    if (param != "none")
      choice += ", offload_param " + param.str();
    return search.attempt(choice, config);
  };
  SmallVector<std::pair<StringRef, StringRef>> offloads;
  if (cpu) {
    offloads.push_back({"cpu", "none"});
    if (stage == 3)
      offloads.push_back({"cpu", "cpu"});
  }
  if (nvme) {
    offloads.push_back({"nvme", "none"});
    if (stage == 3)
      offloads.push_back({"nvme", "nvme"});
  }
  for (auto [optimizer, param] : offloads) {
    FailureOr<bool> fits = tryOffload(optimizer, param);
    if (failed(fits))
      return failure();
    if (*fits)
      return search.result;
  }
  return search.result;
}

std::string mlir::ds::describeBudgetFailure(const BudgetResult &result, int stage,
                                            int world, AllowedOffload allowed) {
  const BudgetAttempt *best = &result.attempts.front();
  for (const BudgetAttempt &a : result.attempts)
    if (a.memory.total() < best->memory.total())
      best = &a;
  const MemoryBreakdown &m = best->memory;
  std::string text = llvm::formatv(
      "--memory-budget={0}: no choice fits; the smallest device total reached is {1} "
      "({2} bytes, with {3}: model states {4}, frozen {5}, activations and transients "
      "{6})",
      formatBytes(double(result.budget)), formatBytes(double(m.total())), m.total(),
      best->choice, formatBytes(double(m.modelStates())), formatBytes(double(m.frozen)),
      formatBytes(double(m.arena)));
  std::vector<std::string> would;
  if (stage < 3)
    would.push_back("ZeRO stage 3 (--zero-stage=3)");
  if (m.modelStates() > 0 && world >= 1) {
    // Stage 3 divides the model states by the ranks; the arena stays.
    int64_t room = result.budget - m.frozen - m.arena;
    if (stage == 3 && room > 0) {
      double ranks = double(world) * double(m.modelStates()) / double(room);
      would.push_back(
          llvm::formatv("about {0} ranks (--world-size)", int64_t(ranks) + 1).str());
    }
  }
  if (!allowed.cpu)
    would.push_back("allowing offload (--allow-offload=cpu)");
  else if (!allowed.nvme)
    would.push_back("allowing NVMe offload (--allow-offload=cpu,nvme)");
  would.push_back("a budget of at least " + formatBytes(double(m.total())));
  text += "; to fit: ";
  for (size_t i = 0; i < would.size(); ++i)
    text += (i ? ", or " : "") + would[i];
  if (stage == 3 && result.budget <= m.frozen + m.arena)
    text += " (more ranks alone would not: the frozen buffers and the activations and "
            "transients exceed the budget by themselves)";
  return text;
}

void mlir::ds::printBudgetText(const BudgetResult &result, llvm::raw_ostream &os) {
  os << "\nMemory budget " << formatBytes(double(result.budget)) << " (" << result.budget
     << " bytes) per rank: choices tried in order of cost (device total per rank)\n";
  for (size_t i = 0; i < result.attempts.size(); ++i) {
    const BudgetAttempt &a = result.attempts[i];
    os << llvm::formatv("  {0} {1,12}  {2,-5} {3}\n", int(i) == result.chosen ? "*" : " ",
                        formatBytes(double(a.memory.total())), a.fits ? "fits" : "over",
                        a.choice);
  }
  if (result.chosen >= 0)
    os << "  chosen: " << result.attempts[result.chosen].choice
       << (result.chosen == 0 ? " (the cheapest choice fits)"
                              : " (the first choice in order of cost that fits; auto is "
                                "taken over layer when its kept activations still fit)")
       << "\n";
}

void mlir::ds::printBudgetJson(const BudgetResult &result, llvm::json::OStream &j) {
  j.attributeObject("budget", [&] {
    j.attribute("limit", result.budget);
    if (result.chosen >= 0)
      j.attribute("chosen", result.attempts[result.chosen].choice);
    else
      j.attribute("chosen", nullptr);
    j.attributeArray("tried", [&] {
      for (const BudgetAttempt &a : result.attempts)
        j.object([&] {
          j.attribute("choice", a.choice);
          j.attribute("device", a.memory.total());
          j.attribute("activations", a.memory.peak);
          j.attribute("host", a.memory.host);
          j.attribute("nvme", a.memory.nvme);
          j.attribute("fits", a.fits);
        });
    });
  });
}
