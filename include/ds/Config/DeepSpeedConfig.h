// Reading a DeepSpeed ds_config.json into the compiler's training options.
#ifndef DS_CONFIG_DEEPSPEEDCONFIG_H
#define DS_CONFIG_DEEPSPEEDCONFIG_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::ds {

/// What a ds_config.json says, with DeepSpeed's defaults filled in (REFERENCE.md §3-8).
struct DeepSpeedConfig {
  // Batch (§7), resolved against the world size.
  std::optional<int64_t> trainBatchSize, microBatchSize, accumulationSteps;

  // Optimizer (§3): "adam" (Adam/AdamW), "lamb" or "sgd".
  std::string optimizer = "adam";
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.0;
  bool adamWMode = true, biasCorrection = true;
  double momentum = 0.0, dampening = 0.0;
  double minCoeff = 0.01, maxCoeff = 10.0; // Lamb
  bool nesterov = false;

  // Scheduler (§6).
  std::string scheduler = "constant";
  double warmupMinLr = 0.0, warmupMaxLr = -1.0; // negative: the optimizer's lr
  int64_t warmupNumSteps = 1000, totalNumSteps = 0;
  std::string warmupType = "log";
  double warmupMinRatio = 0.0, cosMinRatio = 1e-4;

  double gradientClipping = 1.0;

  // Precision (§5).
  bool fp16 = false, bf16 = false;
  double lossScale = 0.0; // 0: dynamic
  int64_t initialScalePower = 16, lossScaleWindow = 1000, hysteresis = 2;
  bool consecutiveHysteresis = false;
  double minLossScale = 1.0;

  // zero_optimization (§8).
  int zeroStage = 0;
  int64_t paramPersistenceThreshold = 100000; // stage3_param_persistence_threshold
  int64_t reduceBucketSize = 500000000;         // reduce_bucket_size (elements)
  int64_t prefetchBucketSize = 50000000;        // stage3_prefetch_bucket_size
  /// Keys that were accepted but change nothing in the compiled program, with why.
  std::vector<std::string> ignoredKeys;

  /// Resolves train_batch_size / micro-batch / accumulation for `worldSize` ranks
  /// exactly as DeepSpeed's config does; fails with DeepSpeed's message.
  llvm::Error resolveBatch(int64_t worldSize);
};

/// Parses `path`. Errors name the file and the key.
llvm::Expected<DeepSpeedConfig> readDeepSpeedConfig(llvm::StringRef path);
/// Parses JSON text; `path` only names it in errors.
llvm::Expected<DeepSpeedConfig> parseDeepSpeedConfig(llvm::StringRef text,
                                                     llvm::StringRef path);

} // namespace mlir::ds

#endif // DS_CONFIG_DEEPSPEEDCONFIG_H
