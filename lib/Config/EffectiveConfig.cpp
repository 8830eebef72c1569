// Prints the effective configuration (`ds-opt --print-config`): every key, its value and source.
#include "ds/Config/DeepSpeedConfig.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir::ds;

void mlir::ds::printEffectiveConfig(const DeepSpeedConfig &c, llvm::StringRef path,
                                    const DeepSpeedConfig &file, const ConfigOverrides &o,
                                    llvm::raw_ostream &os) {
  // The defaults are the struct's (DeepSpeed's, from Passes.td); a key the file gives is
  // "file", one a flag sets "flag", one computed from other keys "derived".
  auto given = [&](std::initializer_list<llvm::StringRef> keys) {
    for (llvm::StringRef k : keys)
      if (c.fileKeys.count(k.str()))
        return true;
    return false;
  };
  std::string cfg = path.empty() ? std::string("(no --config)") : path.str();
  os << "Effective configuration (" << cfg << "; source: file, flag, derived, default)\n";
  auto row = [&](llvm::StringRef key, const std::string &value, llvm::StringRef source) {
    os << llvm::formatv("  {0,-46} {1,-14} {2}\n", key, value, source);
  };
  auto fromFile = [&](llvm::StringRef key,
                      std::initializer_list<llvm::StringRef> aliases = {}) {
    return given({key}) || given(aliases) ? "file" : "default";
  };
  auto num = [](double v) { return formatConfigNumber(v); };
  auto integer = [](int64_t v) { return std::to_string(v); };
  auto boolean = [](bool v) { return std::string(v ? "true" : "false"); };
  auto batch = [&](llvm::StringRef key, const std::optional<int64_t> &v,
                   const std::optional<int64_t> &inFile) {
    row(key, v ? integer(*v) : std::string("(unset)"),
        inFile ? "file" : v ? "derived" : "default");
  };
  batch("train_batch_size", c.trainBatchSize, file.trainBatchSize);
  batch("train_micro_batch_size_per_gpu", c.microBatchSize, file.microBatchSize);
  if (c.accumulationSteps)
    batch("gradient_accumulation_steps", c.accumulationSteps, file.accumulationSteps);
  else
    row("gradient_accumulation_steps", "1", "default");
  row("world_size (--world-size)", integer(o.effectiveWorld),
      o.worldSize ? "flag"
      : o.worldSizeFromBatch
          ? "derived (train_batch_size / (micro x accumulation))"
          : "default");
  row("steps_per_print", integer(c.stepsPerPrint), fromFile("steps_per_print"));
  row("wall_clock_breakdown", boolean(c.wallClockBreakdown), fromFile("wall_clock_breakdown"));
  row("memory_breakdown", boolean(c.memoryBreakdown), fromFile("memory_breakdown"));
  row("gradient_clipping", num(c.trainStep.gradientClipping),
      fromFile("gradient_clipping"));
  row("fp16.enabled", boolean(c.fp16), fromFile("fp16.enabled"));
  row("bf16.enabled", boolean(c.bf16), fromFile("bf16.enabled", {"bfloat16.enabled"}));
  const BuildTrainStepPassOptions &t = c.trainStep;
  if (c.fp16) {
    row("fp16.loss_scale", num(t.lossScale_), fromFile("fp16.loss_scale"));
    row("fp16.initial_scale_power", integer(t.initialScalePower),
        fromFile("fp16.initial_scale_power"));
    row("fp16.loss_scale_window", integer(t.lossScaleWindow),
        fromFile("fp16.loss_scale_window"));
    row("fp16.hysteresis", integer(t.hysteresis), fromFile("fp16.hysteresis"));
    row("fp16.consecutive_hysteresis", boolean(t.consecutiveHysteresis),
        fromFile("fp16.consecutive_hysteresis"));
    row("fp16.min_loss_scale", num(t.minLossScale), fromFile("fp16.min_loss_scale"));
  }
  row("optimizer.type", t.optimizer == "adam" ? (t.adamWMode ? "AdamW" : "Adam")
                        : t.optimizer == "lamb" ? "Lamb"
                                                : "SGD",
      fromFile("optimizer.type"));
  row("optimizer.params.lr", num(t.lr), fromFile("optimizer.params.lr"));
  row("optimizer.params.weight_decay", num(t.weightDecay),
      fromFile("optimizer.params.weight_decay"));
  if (t.optimizer == "sgd") {
    row("optimizer.params.momentum", num(t.momentum), fromFile("optimizer.params.momentum"));
    row("optimizer.params.dampening", num(t.dampening),
        fromFile("optimizer.params.dampening"));
    row("optimizer.params.nesterov", boolean(t.nesterov),
        fromFile("optimizer.params.nesterov"));
  } else {
    row("optimizer.params.betas", "[" + num(t.beta1) + ", " + num(t.beta2) + "]",
        fromFile("optimizer.params.betas"));
    row("optimizer.params.eps", num(t.eps), fromFile("optimizer.params.eps"));
    row("optimizer.params.bias_correction", boolean(t.biasCorrection),
        fromFile("optimizer.params.bias_correction"));
    if (t.optimizer == "adam")
      row("optimizer.params.adam_w_mode", boolean(t.adamWMode),
          given({"optimizer.params.adam_w_mode"}) ? "file"
          : given({"optimizer.type"})             ? "derived (optimizer.type)"
                                                  : "default");
    else {
      row("optimizer.params.min_coeff", num(t.minCoeff),
          fromFile("optimizer.params.min_coeff"));
      row("optimizer.params.max_coeff", num(t.maxCoeff),
          fromFile("optimizer.params.max_coeff"));
    }
  }
  row("scheduler.type", t.scheduler == "constant" ? "none (constant lr)" : t.scheduler,
      fromFile("scheduler.type"));
  if (t.scheduler != "constant") {
    bool cosine = t.scheduler == "WarmupCosineLR";
    if (!cosine) {
      row("scheduler.params.warmup_min_lr", num(t.warmupMinLr),
          fromFile("scheduler.params.warmup_min_lr"));
      double maxLr = t.warmupMaxLr < 0 ? t.lr : t.warmupMaxLr;
      row("scheduler.params.warmup_max_lr", num(maxLr),
          given({"scheduler.params.warmup_max_lr"}) ? "file"
          : t.warmupMaxLr < 0                       ? "derived (optimizer.params.lr)"
                                                    : "default");
    } else {
      row("scheduler.params.warmup_min_ratio", num(t.warmupMinRatio),
          fromFile("scheduler.params.warmup_min_ratio"));
      row("scheduler.params.cos_min_ratio", num(t.cosMinRatio),
          fromFile("scheduler.params.cos_min_ratio"));
    }
    row("scheduler.params.warmup_num_steps", integer(t.warmupNumSteps),
        fromFile("scheduler.params.warmup_num_steps"));
    row("scheduler.params.warmup_type", t.warmupType,
        fromFile("scheduler.params.warmup_type"));
    if (t.scheduler != "WarmupLR")
      row("scheduler.params.total_num_steps", integer(t.totalNumSteps),
          fromFile("scheduler.params.total_num_steps"));
  }
  row("zero_optimization.stage", integer(o.effectiveStage),
      o.zeroStage ? "flag (--zero-stage)" : fromFile("zero_optimization.stage"));
  row("zero_optimization.reduce_bucket_size", integer(c.zero.reduceBucketSize),
      fromFile("zero_optimization.reduce_bucket_size"));
  row("zero_optimization.allgather_bucket_size", integer(c.allgatherBucketSize),
      fromFile("zero_optimization.allgather_bucket_size"));
  row("zero_optimization.contiguous_gradients",
      !c.contiguousGradients ? "auto" : *c.contiguousGradients ? "true" : "false",
      c.contiguousGradients ? "file"
                            : "default (stages 2-3: compiled both ways, the lower arena "
                              "peak kept)");
  row("zero_optimization.stage3_prefetch_bucket_size", integer(c.zero.prefetchBucketSize),
      fromFile("zero_optimization.stage3_prefetch_bucket_size",
               {"zero_optimization.prefetch_bucket_size"}));
  row("zero_optimization.stage3_param_persistence_threshold",
      integer(c.zero.paramPersistenceThreshold),
      fromFile("zero_optimization.stage3_param_persistence_threshold",
               {"zero_optimization.param_persistence_threshold"}));
  for (auto [name, off] : {std::pair<const char *, const DeepSpeedConfig::Offload *>{
                               "offload_optimizer", &c.offloadOptimizer},
                           {"offload_param", &c.offloadParam}}) {
    std::string key = std::string("zero_optimization.") + name;
    row(key + ".device", off->device, fromFile(key + ".device"));
    if (off->device == "none")
      continue;
    if (off->device == "nvme")
      row(key + ".nvme_path", off->nvmePath, fromFile(key + ".nvme_path"));
    row(key + ".pin_memory", boolean(off->pinMemory), fromFile(key + ".pin_memory"));
    row(key + ".buffer_count", integer(off->bufferCount), fromFile(key + ".buffer_count"));
    if (off == &c.offloadOptimizer)
      row(key + ".ratio", num(off->ratio), fromFile(key + ".ratio"));
    else
      row(key + ".max_in_cpu", integer(off->maxInCpu), fromFile(key + ".max_in_cpu"));
  }
  row("zero_optimization.sub_group_size", integer(c.subGroupSize),
      fromFile("zero_optimization.sub_group_size"));
  if (c.offloadOptimizer.device == "nvme" || c.offloadParam.device == "nvme") {
    row("aio.block_size", integer(c.aio.blockSize), fromFile("aio.block_size"));
    row("aio.queue_depth", integer(c.aio.queueDepth), fromFile("aio.queue_depth"));
    row("aio.intra_op_parallelism", integer(c.aio.threadCount),
        fromFile("aio.intra_op_parallelism", {"aio.thread_count"}));
    row("aio.single_submit", boolean(c.aio.singleSubmit), fromFile("aio.single_submit"));
    row("aio.overlap_events", boolean(c.aio.overlapEvents), fromFile("aio.overlap_events"));
  }
  const DeepSpeedConfig::ActivationCheckpointing &a = c.activationCheckpointing;
  row("recompute (--recompute)", c.recompute.mode,
      o.recompute ? "flag"
      : a.given   ? "derived (activation_checkpointing)"
                  : "default");
  if (a.given) {
    for (auto [key, v] :
         {std::pair<const char *, bool>{"partition_activations", a.partitionActivations},
          {"cpu_checkpointing", a.cpuCheckpointing},
          {"contiguous_memory_optimization", a.contiguousMemoryOptimization},
          {"synchronize_checkpoint_boundary", a.synchronizeCheckpointBoundary},
          {"profile", a.profile}})
      row(std::string("activation_checkpointing.") + key, boolean(v),
          fromFile(std::string("activation_checkpointing.") + key));
    row("activation_checkpointing.number_checkpoints",
        a.numberCheckpoints ? integer(*a.numberCheckpoints) : std::string("null"),
        fromFile("activation_checkpointing.number_checkpoints"));
  }
  for (auto [section, dir] : {std::pair<std::string, const std::string *>{
                                  "csv_monitor", &c.csvMonitorDir},
                              {"tensorboard", &c.tensorboardDir}}) {
    row(section + ".enabled", boolean(!dir->empty()), fromFile(section + ".enabled"));
    if (!dir->empty())
      row(section + " directory", *dir, "derived (" + section + ".output_path/job_name)");
  }
  for (const std::string &k : c.ignoredKeys)
    os << "  ignored: " << k << "\n";
}
