// The training and lowering pipelines, and their registration for --pass-pipeline.
#include "ds/Pipelines/Pipelines.h"

#include "ds/Config/DeepSpeedConfig.h"
#include "ds/Conversion/Passes.h"
#include "ds/Dialect/Runtime/Transforms/Passes.h"
#include "ds/Target/Plan.h"

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace mlir::ds;

namespace {
/// Writes what the plan carries for ds-run alone (steps_per_print, the ZeRO stage, the
/// csv_monitor directory) as module attributes for the plan exporter.
struct SetPlanInfoPass : public PassWrapper<SetPlanInfoPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(SetPlanInfoPass)
  SetPlanInfoPass(const TrainingPipelineOptions &o)
      : stepsPerPrint(o.stepsPerPrint), stage(o.zero.stage),
        wallClockBreakdown(o.wallClockBreakdown), memoryBreakdown(o.memoryBreakdown),
        csvDir(o.csvMonitorDir),
        tensorboardDir(o.tensorboardDir),
        io(o.io) {}
  StringRef getArgument() const override { return "ds-set-plan-info"; }
  StringRef getDescription() const override {
    return "Records steps_per_print, the ZeRO stage and the monitor directories for the plan";
  }
  void runOnOperation() override {
    ModuleOp module = getOperation();
    Builder b(module.getContext());
    module->setAttr(kStepsPerPrintAttr, b.getI64IntegerAttr(stepsPerPrint));
    module->setAttr(kZeroStageAttr, b.getI64IntegerAttr(stage));
    if (wallClockBreakdown)
      module->setAttr(kWallClockBreakdownAttr, b.getUnitAttr());
    if (memoryBreakdown)
      module->setAttr(kMemoryBreakdownAttr, b.getUnitAttr());
    if (!csvDir.empty())
      module->setAttr(kCsvMonitorDirAttr, b.getStringAttr(csvDir));
    if (!tensorboardDir.empty())
      module->setAttr(kTensorboardDirAttr, b.getStringAttr(tensorboardDir));
    NamedAttrList ioAttrs;
    ioAttrs.set("nvme_path", b.getStringAttr(io.nvmePath));
    ioAttrs.set("pin_memory", b.getBoolAttr(io.pinMemory));
    ioAttrs.set("block_size", b.getI64IntegerAttr(io.blockSize));
    ioAttrs.set("queue_depth", b.getI64IntegerAttr(io.queueDepth));
    ioAttrs.set("thread_count", b.getI64IntegerAttr(io.threadCount));
    ioAttrs.set("single_submit", b.getBoolAttr(io.singleSubmit));
    ioAttrs.set("overlap_events", b.getBoolAttr(io.overlapEvents));
    module->setAttr(kIOAttr, ioAttrs.getDictionary(module.getContext()));
  }
  int64_t stepsPerPrint, stage;
  bool wallClockBreakdown, memoryBreakdown;
  std::string csvDir;
  std::string tensorboardDir;
  PlanIOOptions io;
};
} // namespace

void mlir::ds::buildTrainingPipeline(OpPassManager &pm,
                                     const TrainingPipelineOptions &options) {
  if (options.fuseAttention)
    pm.addPass(createFuseAttentionPass());
  if (options.fuseGelu)
    pm.addPass(createFuseGeluPass());
  pm.addPass(createMarkFrozenParametersPass(options.markFrozen));
  pm.addPass(createMergeIdenticalBuffersPass());
  if (options.mixedPrecision)
    pm.addPass(createApplyMixedPrecisionPass(*options.mixedPrecision));
  pm.addPass(createDifferentiateProgramPass());
  pm.addPass(createBuildTrainStepPass(options.trainStep));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // After CSE, which would merge the recomputed clones back into the forward ops; before
  // ZeRO, so that stage 3 gathers what the clones read in the backward pass.
  if (options.recompute.mode != "none")
    pm.addPass(createRecomputeActivationsPass(options.recompute));
  // After CSE: the stage-3 backward re-gathers must stay separate from the forward
  // gathers, or the parameters would stay gathered across the whole step.
  pm.addPass(createPartitionForZeroPass(options.zero));
  pm.addPass(createDropSingleRankCollectivesPass());
  pm.addPass(createPlaceOffloadedStatePass(options.offload));
  pm.addPass(std::make_unique<SetPlanInfoPass>(options));
}

void mlir::ds::buildInferencePipeline(OpPassManager &pm,
                                      const MarkFrozenParametersPassOptions &options,
                                      bool fuseAttention, bool fuseGelu) {
  if (fuseAttention)
    pm.addPass(createFuseAttentionPass());
  if (fuseGelu)
    pm.addPass(createFuseGeluPass());
  pm.addPass(createMarkFrozenParametersPass(options));
  // No ds-merge-identical-buffers here: inference freezes every parameter, so weights that
  // start out equal (BatchNorm's ones and zeros) would be merged, and --init-weights or a
  // checkpoint could no longer give them their trained values.
}

void mlir::ds::buildLoweringPipeline(OpPassManager &pm,
                                     const LoweringPipelineOptions &options) {
  pm.addPass(createCanonicalizerPass());
  if (options.inference)
    pm.addPass(createCSEPass());
  ConvertDSToRuntimePassOptions convert;
  convert.multiTensorGradNorm = options.multiTensorOptimizer;
  pm.addPass(createConvertDSToRuntimePass(convert));
  if (options.foldAttentionTransposes)
    pm.addPass(dsrt::createFoldAttentionTransposesPass());
  // After the transposes are folded: the packed kernels read layout bshd's rows.
  if (options.packAttentionQkv)
    pm.addPass(dsrt::createPackAttentionQkvPass());
  // Before the transfers: a weight read through gemm's trans flag is what moves to the
  // device, as in plans without offload (the same kernels, the same bits).
  if (options.fuseGemm) {
    dsrt::FuseGemmPassOptions gemm;
    gemm.adds = options.fuseGemmAdds;
    pm.addPass(dsrt::createFuseGemmPass(gemm));
  }
  if (options.foldAccumulation)
    pm.addPass(dsrt::createFoldAccumulationPass());
  pm.addPass(dsrt::createInsertTransfersPass(options.transfers));
  pm.addPass(dsrt::createElideStateCopiesPass());
  // After the elision: the reduce_sums then accumulate into the gradient globals in place.
  if (options.fuseGemm && options.fuseBiasGrad)
    pm.addPass(dsrt::createFuseBiasGradPass());
  if (options.fuseLossGrad)
    pm.addPass(dsrt::createFuseLossGradPass());
  if (options.multiTensorOptimizer)
    pm.addPass(dsrt::createGroupOptimizerUpdatesPass());
  if (options.fuseElementwise)
    pm.addPass(dsrt::createFuseElementwisePass());
  if (options.fuseElementwise && options.generateFusedKernels)
    pm.addPass(dsrt::createGenerateFusedKernelsPass());
  // Last before planning: the passes above see each global on its own, not spans.
  pm.addPass(dsrt::createSpanConcatInputsPass());
  pm.addPass(dsrt::createBucketAccumulationPass());
  pm.addPass(dsrt::createBucketCollectivesPass(options.bucketCollectives));
  // After the all-reduce buckets: their spans are what the zeroings can fill at once.
  pm.addPass(dsrt::createSpanZeroingPass());
  pm.addPass(dsrt::createPlanMemoryPass());
}

namespace {
/// `ds-training-pipeline{config=... zero-stage=... world-size=... freeze=...}`.
struct TrainingPipelineCLOptions : public PassPipelineOptions<TrainingPipelineCLOptions> {
  Option<std::string> config{*this, "config",
                             llvm::cl::desc("DeepSpeed ds_config.json (default: "
                                            "DeepSpeed's defaults)")};
  Option<int64_t> zeroStage{*this, "zero-stage",
                            llvm::cl::desc("ZeRO stage 0-3 (-1: the config's)"),
                            llvm::cl::init(-1)};
  Option<int64_t> worldSize{*this, "world-size", llvm::cl::desc("Data-parallel ranks"),
                            llvm::cl::init(1)};
  Option<std::string> freeze{
      *this, "freeze",
      llvm::cl::desc("Also freeze parameters whose name matches this regex")};
  Option<bool> fuseAttention{
      *this, "fuse-attention",
      llvm::cl::desc("Rewrite attention subgraphs into ds.attention (ds-fuse-attention)"),
      llvm::cl::init(true)};
  Option<bool> fuseGelu{
      *this, "fuse-gelu",
      llvm::cl::desc("Rewrite GELUs written out as elementwise ops into ds.gelu "
                     "(ds-fuse-gelu)"),
      llvm::cl::init(true)};
};

/// `ds-lowering-pipeline{inference=...}`.
struct LoweringPipelineCLOptions : public PassPipelineOptions<LoweringPipelineCLOptions> {
  Option<bool> inference{
      *this, "inference",
      llvm::cl::desc("The module is an inference program (after ds-mark-frozen)"),
      llvm::cl::init(false)};
  Option<int64_t> bufferCount{
      *this, "buffer-count",
      llvm::cl::desc("Staging buffers for NVMe optimizer state (offload_optimizer."
                     "buffer_count)"),
      llvm::cl::init(4)};
  Option<int64_t> subGroupSize{
      *this, "sub-group-size",
      llvm::cl::desc("Elements per sub-group of the offloaded optimizer step"),
      llvm::cl::init(1000000000)};
};

/// The training options `cl` asks for, reading its config; errors name the config file.
FailureOr<TrainingPipelineOptions>
getTrainingPipelineOptions(const TrainingPipelineCLOptions &cl,
                           function_ref<LogicalResult(const Twine &)> errorHandler) {
  DeepSpeedConfig config;
  if (!cl.config.empty()) {
    auto parsed = readDeepSpeedConfig(cl.config);
    if (!parsed) {
      (void)errorHandler("ds-training-pipeline: " + llvm::toString(parsed.takeError()));
      return failure();
    }
    config = std::move(*parsed);
  }
  if (cl.worldSize < 1) {
    (void)errorHandler("ds-training-pipeline: world-size must be at least 1, got " +
                       Twine(cl.worldSize));
    return failure();
  }
  if (config.trainBatchSize || config.microBatchSize)
    if (llvm::Error e = config.resolveBatch(cl.worldSize)) {
      (void)errorHandler("ds-training-pipeline: " + cl.config + ": " +
                         llvm::toString(std::move(e)));
      return failure();
    }
  int64_t stage = cl.zeroStage != -1 ? int64_t(cl.zeroStage) : config.zeroStage;
  if (stage < 0 || stage > 3) {
    (void)errorHandler("ds-training-pipeline: zero-stage must be 0, 1, 2 or 3, got " +
                       Twine(stage));
    return failure();
  }
  if (llvm::Error e = config.checkOffload(stage)) {
    (void)errorHandler("ds-training-pipeline: " + cl.config + ": " +
                       llvm::toString(std::move(e)));
    return failure();
  }
  return config.getTrainingPipelineOptions(stage, cl.worldSize, cl.freeze);
}
} // namespace

void mlir::ds::registerPipelines() {
  registerPassPipeline(
      "ds-training-pipeline",
      "Autodiff, the training step of a DeepSpeed config, and ZeRO partitioning "
      "(what ds-opt runs on an imported ONNX model)",
      [](OpPassManager &pm, StringRef optionsText,
         function_ref<LogicalResult(const Twine &)> errorHandler) {
        TrainingPipelineCLOptions cl;
        if (failed(cl.parseFromString(optionsText)))
          return failure();
        FailureOr<TrainingPipelineOptions> options =
            getTrainingPipelineOptions(cl, errorHandler);
        if (failed(options))
          return failure();
        options->fuseAttention = cl.fuseAttention;
        options->fuseGelu = cl.fuseGelu;
        buildTrainingPipeline(pm, *options);
        return success();
      },
      [](function_ref<void(const detail::PassOptions &)> optionsHandler) {
        optionsHandler(TrainingPipelineCLOptions());
      });
  PassPipelineRegistration<LoweringPipelineCLOptions>(
      "ds-lowering-pipeline",
      "Lowering to runtime kernels and the static memory plan (what ds-opt runs before "
      "writing a .dsplan)",
      [](OpPassManager &pm, const LoweringPipelineCLOptions &cl) {
        LoweringPipelineOptions options;
        options.inference = cl.inference;
        options.transfers.bufferCount = cl.bufferCount;
        options.transfers.subGroupSize = cl.subGroupSize;
        buildLoweringPipeline(pm, options);
      });
}
