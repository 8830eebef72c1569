// Reading a DeepSpeed ds_config.json into the compiler's training options.
#ifndef DS_CONFIG_DEEPSPEEDCONFIG_H
#define DS_CONFIG_DEEPSPEEDCONFIG_H

#include "ds/Pipelines/Pipelines.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>
#include <set>
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
  /// zero_optimization.allgather_bucket_size (elements; DeepSpeed's default 5e8): the
  /// optimizer step's all-gathers of updated shards into their parameters go in buckets of
  /// at most this many gathered elements (one all_gather each, with a concat and a split).
  int64_t allgatherBucketSize = 500000000;
  /// zero_optimization.contiguous_gradients: whether each gradient is copied into its
  /// reduce bucket as soon as it is complete (sets zero.contiguousGradients). Unset,
  /// stages 2-3 are compiled both ways (compileChoosingGradientCopyIn, used by ds-opt and
  /// ds_opt.initialize) and the plan with the lower device total is kept.
  std::optional<bool> contiguousGradients;
  /// zero_optimization.offload_optimizer / offload_param (§8, §10): where the state
  /// lives and how it is staged.
  struct Offload {
    std::string device = "none"; ///< none, cpu or nvme
    std::string nvmePath;        ///< directory of the swap files (nvme)
    bool pinMemory = true;       ///< the host region is page-locked on CUDA
    int64_t bufferCount;         ///< staging buffers (read-ahead of NVMe sub-groups)
    int64_t bufferSize = 100000000; ///< offload_param: elements per staging buffer
    int64_t maxInCpu = 1000000000;  ///< offload_param nvme: elements kept in CPU memory
    bool pipelineRead = false, pipelineWrite = false;
    double ratio = 1.0; ///< offload_optimizer: the fraction of optimizer state offloaded
  };
  Offload offloadOptimizer{.bufferCount = 4}, offloadParam{.bufferCount = 5};
  /// zero_optimization.sub_group_size: elements per sub-group of the offloaded step.
  int64_t subGroupSize = 1000000000;
  /// The `aio` block: how ds-run drives the NVMe swap files (REFERENCE §8).
  PlanIOOptions aio;

  /// activation_checkpointing (REFERENCE §8): a block given asks for layer recomputation
  /// (--recompute overrides); its keys, each honoured, refused or ignored with the
  /// reason.
  struct ActivationCheckpointing {
    bool given = false;
    bool partitionActivations = false, cpuCheckpointing = false;
    bool contiguousMemoryOptimization = false, synchronizeCheckpointBoundary = false;
    bool profile = false;
    std::optional<int64_t> numberCheckpoints;
  };
  ActivationCheckpointing activationCheckpointing;
  /// The recomputation the training pipeline runs: none, or layer when the config has an
  /// activation_checkpointing block; ds-opt's --recompute sets it.
  RecomputeActivationsPassOptions recompute;

  /// steps_per_print: ds-run prints a step line every this many optimizer steps
  /// (DeepSpeed's default 10); carried in the plan.
  int64_t stepsPerPrint = 10;
  /// wall_clock_breakdown: ds-run times forward, backward, optimizer step and
  /// communication and prints them with each step line (carried in the plan).
  bool wallClockBreakdown = false;
  /// memory_breakdown: ds-run adds every rank's largest current and peak resident memory
  /// to each step line (carried in the plan).
  bool memoryBreakdown = false;

  /// csv_monitor, when enabled: output_path/job_name, where ds-run writes DeepSpeed's
  /// CSV files (carried in the plan). Empty: disabled.
  std::string csvMonitorDir;
  /// tensorboard, when enabled: output_path/job_name, where ds-run writes DeepSpeed's
  /// scalars as a TensorBoard event file (carried in the plan). Empty: disabled.
  std::string tensorboardDir;

  /// Every key the file gives, dotted ("zero_optimization.stage"): where a value came from.
  std::set<std::string> fileKeys;

  /// Keys that were accepted but change nothing in the compiled program, with why.
  std::vector<std::string> ignoredKeys;
  /// Keys DeepSpeed does not know either (likely typos), one message each, naming the
  /// file and the key, with a "did you mean" when a known key is close.
  std::vector<std::string> warnings;

  /// Resolves train_batch_size / micro-batch / accumulation for `worldSize` ranks
  /// exactly as DeepSpeed's config does; fails with DeepSpeed's message.
  llvm::Error resolveBatch(int64_t worldSize);

  /// The world size the batch keys imply when train_batch_size, the micro-batch and
  /// gradient_accumulation_steps are all given: train_batch_size / (micro x accumulation).
  /// nullopt when one is missing; an error (naming the keys) when they do not divide.
  llvm::Expected<std::optional<int64_t>> impliedWorldSize() const;

  /// The training pipeline this config asks for at ZeRO `stage` on `worldSize` ranks
  /// (call resolveBatch first), also freezing the parameters `freeze` matches. Values
  /// the passes would derive (warmup_max_lr inherited from lr) are written explicitly.
  TrainingPipelineOptions getTrainingPipelineOptions(int64_t stage, int64_t worldSize,
                                                     llvm::StringRef freeze) const;
  /// The offload transfers' options: buffer_count and sub_group_size.
  dsrt::InsertTransfersPassOptions getTransferOptions() const;
  /// The collectives' buckets: reduce_bucket_size for the gradient all-reduces,
  /// allgather_bucket_size for the optimizer step's all-gathers of updated shards.
  dsrt::BucketCollectivesPassOptions getBucketCollectivesOptions() const;
  /// DeepSpeed's stage rule for offload: offload_param needs stage 3 (optimizer offload
  /// works at every stage here, stage 0 included). The error names the key.
  llvm::Error checkOffload(int64_t stage) const;
};

/// 1000, not 1e+03: how config values print in messages and in --print-config.
std::string formatConfigNumber(double v);

/// Where ds-opt's command line set or derived what the config alone does not say.
struct ConfigOverrides {
  std::optional<int64_t> zeroStage; ///< --zero-stage
  std::optional<int64_t> worldSize; ///< --world-size
  bool worldSizeFromBatch = false;  ///< train_batch_size / (micro x accumulation)
  int64_t effectiveStage = 0, effectiveWorld = 1;
  bool batchDerived = false; ///< resolveBatch filled in the missing batch keys
  bool recompute = false;    ///< --recompute
};

/// `ds-opt --print-config`: every key ds-opt uses, its effective value, and whether it
/// came from the file, a flag, was derived from other keys, or is the default.
void printEffectiveConfig(const DeepSpeedConfig &config, llvm::StringRef path,
                          const DeepSpeedConfig &fileValues, const ConfigOverrides &o,
                          llvm::raw_ostream &os);

/// Parses `path`. Errors name the file and the key.
llvm::Expected<DeepSpeedConfig> readDeepSpeedConfig(llvm::StringRef path);
/// Parses JSON text; `path` only names it in errors.
llvm::Expected<DeepSpeedConfig> parseDeepSpeedConfig(llvm::StringRef text,
                                                     llvm::StringRef path);

} // namespace mlir::ds

#endif // DS_CONFIG_DEEPSPEEDCONFIG_H
