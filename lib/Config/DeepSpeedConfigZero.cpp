// ds_config.json's memory sections: zero_optimization (with offload_param and
// offload_optimizer), aio and activation_checkpointing (ConfigReader.h).
#include "ConfigReader.h"

using namespace mlir::ds;
using namespace mlir::ds::detail;

llvm::Error ConfigReader::readOffload(const Object &o, llvm::StringRef scope, bool isParam,
                                      DeepSpeedConfig::Offload &out) {
  // DeepSpeedZeroOffloadParamConfig / DeepSpeedZeroOffloadOptimizerConfig (pydantic:
  // unknown keys are errors).
  llvm::Error unknown =
      isParam ? rejectUnknown(o, scope,
                              {"device", "nvme_path", "buffer_count", "buffer_size",
                               "max_in_cpu", "pin_memory"})
              : rejectUnknown(o, scope,
                              {"device", "nvme_path", "buffer_count", "pin_memory",
                               "pipeline_read", "pipeline_write", "fast_init", "ratio"});
  if (unknown)
    return unknown;
  if (llvm::Error e = readString(o, "device", scope, out.device))
    return e;
  if (out.device != "none" && out.device != "cpu" && out.device != "nvme")
    return error(scope + "device", "expected \"none\", \"cpu\" or \"nvme\", got \"" +
                                       out.device + "\"");
  for (auto [key, value] : {std::pair<const char *, bool *>{"pin_memory", &out.pinMemory},
                            {"pipeline_read", &out.pipelineRead},
                            {"pipeline_write", &out.pipelineWrite}})
    if (llvm::Error e = readBool(o, key, scope, *value))
      return e;
  bool fastInit = false;
  if (llvm::Error e = readBool(o, "fast_init", scope, fastInit))
    return e;
  if (llvm::Error e = readString(o, "nvme_path", scope, out.nvmePath))
    return e;
  if (out.device == "nvme" && out.nvmePath.empty())
    return error(scope + "nvme_path", "required when device is \"nvme\": the directory "
                                      "each rank's swap file goes in");
  for (auto [key, value] : {std::pair<const char *, int64_t *>{"buffer_count",
                                                               &out.bufferCount},
                            {"buffer_size", &out.bufferSize},
                            {"max_in_cpu", &out.maxInCpu}})
    if (llvm::Error e = readInt(o, key, scope, *value))
      return e;
  if (out.bufferCount < 1 || out.bufferSize < 1 || out.maxInCpu < 0)
    return error(scope + "buffer_count",
                 "buffer_count and buffer_size must be >= 1 and max_in_cpu >= 0");
  if (llvm::Error e = readNumber(o, "ratio", scope, out.ratio))
    return e;
  if (out.ratio < 0 || out.ratio > 1)
    return error(scope + "ratio", "must be in [0, 1], got " + formatConfigNumber(out.ratio));
  return llvm::Error::success();
}

llvm::Error ConfigReader::readAio(const Object &o, DeepSpeedConfig &c) {
  // A plain dict in DeepSpeed: unknown keys are ignored (warned about here).
  warnUnknown(o, "aio.",
              {"block_size", "queue_depth", "thread_count", "intra_op_parallelism",
               "single_submit", "overlap_events", "use_gds"},
              c);
  PlanIOOptions &io = c.aio;
  for (auto [key, value] :
       {std::pair<const char *, int64_t *>{"block_size", &io.blockSize},
        {"queue_depth", &io.queueDepth},
        {"thread_count", &io.threadCount},
        {"intra_op_parallelism", &io.threadCount}})
    if (llvm::Error e = readInt(o, key, "aio.", *value))
      return e;
  if (io.blockSize < 4096 || io.blockSize % 4096 != 0 || io.blockSize > (1 << 30))
    return error("aio.block_size", "must be a multiple of 4096 bytes up to 1 GiB, got " +
                                       llvm::Twine(io.blockSize));
  if (io.queueDepth < 1 || io.queueDepth > 4096 || io.threadCount < 1 ||
      io.threadCount > 256)
    return error("aio.queue_depth", "queue_depth must be in [1, 4096] and "
                                    "intra_op_parallelism (thread_count) in [1, 256]");
  for (auto [key, value] :
       {std::pair<const char *, bool *>{"single_submit", &io.singleSubmit},
        {"overlap_events", &io.overlapEvents}})
    if (llvm::Error e = readBool(o, key, "aio.", *value))
      return e;
  bool gds = false;
  if (llvm::Error e = readBool(o, "use_gds", "aio.", gds))
    return e;
  if (gds)
    return error("aio.use_gds", "GPUDirect Storage is not supported: swaps go through "
                                "the host region");
  return llvm::Error::success();
}

llvm::Error ConfigReader::readZero(const Object &o, DeepSpeedConfig &c) {
  const char *scope = "zero_optimization.";
  if (llvm::Error e = rejectUnknown(
          o, scope,
          {"stage", "contiguous_gradients", "reduce_scatter", "reduce_bucket_size",
           "use_multi_rank_bucket_allreduce", "allgather_partitions",
           "allgather_bucket_size", "overlap_comm", "load_from_fp32_weights",
           "elastic_checkpoint", "offload_param", "offload_optimizer",
           "sub_group_size", "cpu_offload_param", "cpu_offload_use_pin_memory",
           "cpu_offload", "prefetch_bucket_size", "stage3_prefetch_bucket_size",
           "param_persistence_threshold", "stage3_param_persistence_threshold",
           "model_persistence_threshold", "stage3_model_persistence_threshold",
           "max_live_parameters", "stage3_max_live_parameters",
           "max_reuse_distance", "stage3_max_reuse_distance",
           "gather_16bit_weights_on_model_save",
           "stage3_gather_16bit_weights_on_model_save",
           "stage3_gather_fp16_weights_on_model_save",
           "module_granularity_threshold", "use_all_reduce_for_fetch_params",
           "stage3_use_all_reduce_for_fetch_params", "ignore_unused_parameters",
           "legacy_stage1", "round_robin_gradients", "zero_hpz_partition_size",
           "zero_quantized_weights", "zero_quantized_nontrainable_weights",
           "zero_quantized_gradients", "zeropp_loco_param", "mics_shard_size",
           "mics_hierarchical_params_gather", "memory_efficient_linear",
           "pipeline_loading_checkpoint", "override_module_apply",
           "log_trace_cache_warnings"}))
    return e;
  int64_t stage = 0;
  if (llvm::Error e = readInt(o, "stage", scope, stage))
    return e;
  if (stage < 0 || stage > 3)
    return error("zero_optimization.stage", "expected 0, 1, 2 or 3");
  c.zeroStage = stage;
  if (llvm::Error e = readInt(o, "reduce_bucket_size", scope, c.zero.reduceBucketSize))
    return e;
  if (o.get("contiguous_gradients")) {
    bool contiguous = false;
    if (llvm::Error e = readBool(o, "contiguous_gradients", scope, contiguous))
      return e;
    c.contiguousGradients = contiguous;
    c.zero.contiguousGradients = contiguous;
  }
  for (llvm::StringRef key : {"stage3_prefetch_bucket_size", "prefetch_bucket_size"})
    if (llvm::Error e = readInt(o, key, scope, c.zero.prefetchBucketSize))
      return e;
  if (c.zero.prefetchBucketSize < 1)
    return error("zero_optimization.stage3_prefetch_bucket_size",
                 "must be at least 1, got " + llvm::Twine(c.zero.prefetchBucketSize));
  if (c.zero.reduceBucketSize < 1)
    return error("zero_optimization.reduce_bucket_size",
                 "must be at least 1, got " + llvm::Twine(c.zero.reduceBucketSize));
  if (llvm::Error e = readInt(o, "allgather_bucket_size", scope, c.allgatherBucketSize))
    return e;
  if (c.allgatherBucketSize < 1)
    return error("zero_optimization.allgather_bucket_size",
                 "must be at least 1, got " + llvm::Twine(c.allgatherBucketSize));
  for (llvm::StringRef key :
       {"stage3_param_persistence_threshold", "param_persistence_threshold"})
    if (llvm::Error e = readInt(o, key, scope, c.zero.paramPersistenceThreshold))
      return e;
  if (c.zero.paramPersistenceThreshold < 0)
    return error("zero_optimization.stage3_param_persistence_threshold",
                 "must be >= 0, got " + llvm::Twine(c.zero.paramPersistenceThreshold));
  for (llvm::StringRef key : {"offload_param", "offload_optimizer"}) {
    auto sub = readObject(o, key, scope);
    if (!sub)
      return sub.takeError();
    bool isParam = key == "offload_param";
    if (*sub)
      if (llvm::Error e = readOffload(**sub, (llvm::Twine(scope) + key + ".").str(),
                                      isParam,
                                      isParam ? c.offloadParam : c.offloadOptimizer))
        return e;
  }
  if (llvm::Error e = readInt(o, "sub_group_size", scope, c.subGroupSize))
    return e;
  if (c.subGroupSize < 1)
    return error("zero_optimization.sub_group_size",
                 "must be at least 1, got " + llvm::Twine(c.subGroupSize));
  const DeepSpeedConfig::Offload &opt = c.offloadOptimizer, &par = c.offloadParam;
  if (opt.device == "nvme" && par.device == "nvme" && opt.nvmePath != par.nvmePath)
    return error("zero_optimization.offload_param.nvme_path",
                 "differs from offload_optimizer.nvme_path ('" + par.nvmePath + "' vs '" +
                     opt.nvmePath + "'): each rank keeps one swap file; give both the "
                                    "same directory");
  if (opt.device != "none" || par.device != "none") {
    const DeepSpeedConfig::Offload &nvme = par.device == "nvme" ? par : opt;
    c.aio.nvmePath = nvme.nvmePath;
    c.aio.pinMemory = (opt.device == "none" || opt.pinMemory) &&
                      (par.device == "none" || par.pinMemory);
    // Keys that only tune DeepSpeed's run-time machinery.
    auto note = [&](const char *key, const char *why) {
      c.ignoredKeys.push_back((llvm::Twine(scope) + key + " (" + why + ")").str());
    };
    if (const Object *sub = o.getObject("offload_optimizer")) {
      if (sub->get("fast_init"))
        note("offload_optimizer.fast_init",
             "offloaded state starts zeroed in the swap file, which is fast already");
      if (sub->get("pipeline_read") || sub->get("pipeline_write"))
        note("offload_optimizer.pipeline_read/pipeline_write",
             "swaps are always on the io stream; buffer_count decides the read-ahead");
    }
  }
  static const llvm::StringLiteral used[] = {
      "stage", "stage3_param_persistence_threshold", "param_persistence_threshold",
      "reduce_scatter", "contiguous_gradients", "reduce_bucket_size",
      "allgather_bucket_size", "stage3_prefetch_bucket_size", "prefetch_bucket_size",
      "offload_param", "offload_optimizer", "sub_group_size"};
  for (const auto &kv : o) {
    llvm::StringRef key = kv.first;
    if (llvm::find(used, key) != std::end(used))
      continue;
    llvm::StringRef why =
        key.contains("offload")
            ? "DeepSpeed's legacy offload key: offload_optimizer and offload_param place "
              "the state"
        : key == "overlap_comm"
            ? "plans always put collectives on the comm stream with exact waits"
        : key.contains("max_live_parameters") || key.contains("max_reuse_distance")
            ? "gathered parameters are freed after their last use; the prefetch bucket "
              "bounds what is gathered ahead"
        : key == "allgather_partitions"
            ? "updated shards are always all-gathered (allgather_bucket_size buckets them)"
            : "no effect on the compiled program";
    c.ignoredKeys.push_back((llvm::Twine(scope) + key + " (" + why + ")").str());
  }
  return llvm::Error::success();
}

llvm::Error ConfigReader::readActivationCheckpointing(const Object &o,
                                                      DeepSpeedConfig &c) {
  const char *scope = "activation_checkpointing.";
  static const llvm::StringLiteral known[] = {
      "partition_activations",           "cpu_checkpointing",
      "contiguous_memory_optimization",  "number_checkpoints",
      "synchronize_checkpoint_boundary", "profile"};
  for (const auto &kv : o) { // DeepSpeed reads the block as a plain dict
    llvm::StringRef key = kv.first;
    if (llvm::find(known, key) == std::end(known))
      c.warnings.push_back((path + ": '" + scope + key +
                            "': unknown key, ignored (DeepSpeed ignores it too)")
                               .str());
  }
  DeepSpeedConfig::ActivationCheckpointing &a = c.activationCheckpointing;
  a.given = true;
  for (auto [key, out] :
       {std::pair<const char *, bool *>{"partition_activations", &a.partitionActivations},
        {"cpu_checkpointing", &a.cpuCheckpointing},
        {"contiguous_memory_optimization", &a.contiguousMemoryOptimization},
        {"synchronize_checkpoint_boundary", &a.synchronizeCheckpointBoundary},
        {"profile", &a.profile}})
    if (llvm::Error e = readBool(o, key, scope, *out))
      return e;
  if (llvm::Error e = readOptInt(o, "number_checkpoints", scope, a.numberCheckpoints))
    return e;
  if (a.numberCheckpoints && *a.numberCheckpoints < 1)
    return error("activation_checkpointing.number_checkpoints",
                 "must be a positive integer or null, got " +
                     llvm::Twine(*a.numberCheckpoints));
  if (a.cpuCheckpointing)
    return error("activation_checkpointing.cpu_checkpointing",
                 "checkpoints in host memory are not compiled yet: they stay on the "
                 "device; drop the key, and use --memory-budget with --allow-offload=cpu "
                 "to move optimizer state and parameters to the host instead");
  c.recompute.mode = "layer";
  auto note = [&](const char *key, const char *why) {
    if (o.get(key))
      c.ignoredKeys.push_back((llvm::Twine(scope) + key + " (" + why + ")").str());
  };
  note("partition_activations",
       "DeepSpeed splits checkpoints across model-parallel ranks; here every rank is a "
       "data-parallel rank whose checkpoints are its own micro-batch's");
  note("contiguous_memory_optimization",
       "the static memory plan already gives every checkpoint its arena offset");
  note("number_checkpoints", "the compiler finds the checkpoints (the residual stream)");
  note("synchronize_checkpoint_boundary",
       "the plan orders recomputation on the compute stream; nothing to synchronize");
  note("profile", "no effect on the compiled program");
  return llvm::Error::success();
}
