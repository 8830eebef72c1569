// The compiler's pass pipelines: training (autodiff, train step, ZeRO) and lowering.
#ifndef DS_PIPELINES_PIPELINES_H
#define DS_PIPELINES_PIPELINES_H

#include "ds/Dialect/DS/Transforms/Passes.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"

#include <optional>

namespace mlir::ds {

/// The `aio` block and the NVMe directory, which ds-run reads from the plan.
struct PlanIOOptions {
  std::string nvmePath;          ///< where each rank's swap file goes
  bool pinMemory = true;         ///< page-locked host region (CUDA)
  int64_t blockSize = 1048576;   ///< bytes per I/O request
  int64_t queueDepth = 8;        ///< requests in flight per swap file
  int64_t threadCount = 1;       ///< intra_op_parallelism (thread_count before it)
  bool singleSubmit = false;     ///< one submit call per request
  bool overlapEvents = true;     ///< keep the queue full while completions arrive
};

/// What the training pipeline runs with; a DeepSpeed config fills it
/// (DeepSpeedConfig::getTrainingPipelineOptions). Defaults are the passes' own.
struct TrainingPipelineOptions {
  /// Rewrite attention subgraphs into ds.attention first (`--fuse-attention`).
  bool fuseAttention = true;
  /// Rewrite GELUs written out as elementwise ops into ds.gelu (`--fuse-gelu`).
  bool fuseGelu = true;
  /// Which parameters are trainable (`--freeze`).
  MarkFrozenParametersPassOptions markFrozen;
  /// Set for fp16/bf16 mixed precision; absent trains in fp32.
  std::optional<ApplyMixedPrecisionPassOptions> mixedPrecision;
  /// Optimizer, scheduler, clipping, accumulation and loss scaling.
  BuildTrainStepPassOptions trainStep;
  /// Activation recomputation (`--recompute`, the config's activation_checkpointing).
  RecomputeActivationsPassOptions recompute;
  /// ZeRO stage, world size and bucket sizes.
  PartitionForZeroPassOptions zero;
  /// Where optimizer states and stage-3 parameter shards live (offload).
  PlaceOffloadedStatePassOptions offload;
  /// How ds-run reaches NVMe (carried in the plan).
  PlanIOOptions io;
  /// What the plan carries for ds-run only (module attributes the exporter writes):
  /// the config's steps_per_print and the csv_monitor and tensorboard directories
  /// (empty: disabled).
  int64_t stepsPerPrint = 10;
  /// The config's wall_clock_breakdown and memory_breakdown.
  bool wallClockBreakdown = false;
  bool memoryBreakdown = false;
  std::string csvMonitorDir;
  std::string tensorboardDir;
};

/// Appends attention and GELU fusion (when asked), mark-frozen, mixed precision (when asked),
/// autodiff, the train step and ZeRO partitioning: an imported forward program becomes a
/// partitioned training step.
void buildTrainingPipeline(OpPassManager &pm, const TrainingPipelineOptions &options);

/// Appends what an imported inference program (no loss) gets instead of the training
/// pipeline: attention and GELU fusion (unless asked not to), every parameter frozen.
void buildInferencePipeline(OpPassManager &pm,
                            const MarkFrozenParametersPassOptions &options,
                            bool fuseAttention = true, bool fuseGelu = true);

struct LoweringPipelineOptions {
  /// The module is an inference program (no training step): common subexpressions of
  /// the forward program are merged too.
  bool inference = false;
  /// Host kernels and transfers for offloaded state (no-op without any).
  dsrt::InsertTransfersPassOptions transfers;
  /// Chains of elementwise kernels become fused_elementwise kernels (`--fuse-elementwise`).
  bool fuseElementwise = true;
  /// With fuseElementwise: every fused_elementwise kernel also gets generated PTX, which the
  /// CUDA executor launches instead of the interpreter (`--generate-fused-kernels`).
  bool generateFusedKernels = false;
  /// Transposes, bias/residual adds and gradient accumulation folded into gemm kernels
  /// (`--fuse-gemm`).
  bool fuseGemm = true;
  /// With fuseGemm: adds folded into gemm's c too (`--fuse-gemm-adds`; the other folds
  /// compute the same bits, this one rounds once instead of twice).
  bool fuseGemmAdds = true;
  /// Attention kernels read and write [B, S, H, D] instead of transposing around them
  /// (--ds-fold-attention-transposes; off with `--fuse-attention=false`).
  bool foldAttentionTransposes = true;
  /// Attention kernels read q, k, v from the packed qkv projection and write one packed
  /// dqkv (--ds-pack-attention-qkv; `--pack-attention-qkv`; the same bits).
  bool packAttentionQkv = true;
  /// Bias and layer-norm parameter gradients accumulated by the kernels that compute them
  /// (`--fold-accumulation`; the same bits).
  bool foldAccumulation = true;
  /// Bias gradients computed by the weight-gradient gemm (its db output) and accumulated by
  /// multi_add kernels instead of reduce_sum kernels (`--fuse-bias-grad`; the same bits).
  bool fuseBiasGrad = true;
  /// The cross-entropy loss and its gradient computed by one kernel, which reads the
  /// scores once (`--fuse-loss-grad`; the same bits).
  bool fuseLossGrad = true;
  /// One grad_norm_sq kernel for the clipping norm and one multi_adam_update kernel per
  /// group of Adam updates (`--multi-tensor-optimizer`).
  bool multiTensorOptimizer = true;
  /// In-place all-reduces of whole globals (stage 0's gradients) in buckets over spans
  /// (--ds-bucket-collectives; bucket size: zero_optimization.reduce_bucket_size).
  dsrt::BucketCollectivesPassOptions bucketCollectives;
};

/// Appends the lowering to runtime kernels and the static memory plan: what a plan file
/// is written from.
void buildLoweringPipeline(OpPassManager &pm, const LoweringPipelineOptions &options);

/// Registers `ds-training-pipeline` and `ds-lowering-pipeline` for --pass-pipeline.
void registerPipelines();

} // namespace mlir::ds

#endif // DS_PIPELINES_PIPELINES_H
