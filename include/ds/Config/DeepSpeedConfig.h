// Reading a DeepSpeed ds_config.json into the compiler's training options.
#ifndef DS_CONFIG_DEEPSPEEDCONFIG_H
#define DS_CONFIG_DEEPSPEEDCONFIG_H

#include "ds/Pipelines/Pipelines.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::ds {

/// What a ds_config.json says, with DeepSpeed's defaults filled in (REFERENCE.md §3-8).
struct DeepSpeedConfig {
  DeepSpeedConfig() {
    // DeepSpeed's stage3_param_persistence_threshold; the pass's own default (0) keeps
    // its lit tests small.
    zero.paramPersistenceThreshold = 100000;
  }

  // Batch (§7), resolved against the world size.
  std::optional<int64_t> trainBatchSize, microBatchSize, accumulationSteps;

  // Optimizer (§3), scheduler (§6), gradient_clipping and fp16 loss scaling (§5), read
  // straight into the train-step pass's options: their defaults (DeepSpeed's) are
  // written once, in Passes.td. The reader sets only the defaults that depend on
  // another key (Lamb's eps, WarmupDecayLR's warmup_max_lr).
  BuildTrainStepPassOptions trainStep;

  // Precision (§5).
  bool fp16 = false, bf16 = false;

  // zero_optimization (§8): stage3_param_persistence_threshold, reduce_bucket_size
  // (elements) and stage3_prefetch_bucket_size, into the ZeRO pass's options.
  int zeroStage = 0;
  PartitionForZeroPassOptions zero;
  /// Keys that were accepted but change nothing in the compiled program, with why.
  std::vector<std::string> ignoredKeys;
  /// Keys DeepSpeed does not know either (likely typos), one message each, naming the
  /// file and the key, with a "did you mean" when a known key is close.
  std::vector<std::string> warnings;

  /// Resolves train_batch_size / micro-batch / accumulation for `worldSize` ranks
  /// exactly as DeepSpeed's config does; fails with DeepSpeed's message.
  llvm::Error resolveBatch(int64_t worldSize);

  /// The training pipeline this config asks for at ZeRO `stage` on `worldSize` ranks
  /// (call resolveBatch first), also freezing the parameters `freeze` matches. Values
  /// the passes would derive (warmup_max_lr inherited from lr) are written explicitly.
  TrainingPipelineOptions getTrainingPipelineOptions(int64_t stage, int64_t worldSize,
                                                     llvm::StringRef freeze) const;
};

/// Parses `path`. Errors name the file and the key.
llvm::Expected<DeepSpeedConfig> readDeepSpeedConfig(llvm::StringRef path);
/// Parses JSON text; `path` only names it in errors.
llvm::Expected<DeepSpeedConfig> parseDeepSpeedConfig(llvm::StringRef text,
                                                     llvm::StringRef path);

} // namespace mlir::ds

#endif // DS_CONFIG_DEEPSPEEDCONFIG_H
